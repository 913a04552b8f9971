/**
 * `npm run devnet -- --validators N [--nodes K] [--dir DIR] [--params JSON]`: a local network of
 * real node processes on 127.0.0.1, each with its own data directory, RPC port and libp2p port,
 * from a fresh genesis (`cloudcoin init`). Prints the endpoints; Ctrl-C (or SIGTERM) stops every
 * node and removes the network's directory unless --dir was given.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePortRange } from "./ports.ts";
import { negativeNumbersAsValues } from "../common/args.ts";

/** bin/cloudcoin.js: the compiled CLI when dist/ is current, the sources through tsx otherwise (from node/ or dist/node/). */
const CLI = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../bin/cloudcoin.js" : "../../bin/cloudcoin.js", import.meta.url));
const USAGE = "usage: npm run devnet -- --validators N [--nodes K] [--dir DIR] [--params JSON] [--log-level LEVEL]";

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: negativeNumbersAsValues(process.argv.slice(2)),
    options: {
      validators: { type: "string", default: "4" }, nodes: { type: "string", default: "0" }, dir: { type: "string" },
      params: { type: "string" }, "log-level": { type: "string", default: "warn" }, help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return void console.log(USAGE);
  const n = Number(values.validators);
  const full = Number(values.nodes);
  if (!Number.isInteger(n) || n < 1 || n > 50 || !Number.isInteger(full) || full < 0 || full > 50) throw new Error(`--validators must be 1-50 and --nodes 0-50\n${USAGE}`);
  const ownDir = values.dir === undefined;
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), "cloudcoin-devnet-"));
  const total = n + full;
  const rpcBase = await freePortRange(total);
  const p2pBase = await freePortRange(total);
  const init = await run([CLI, "init", "--validators", String(n), "--nodes", String(full), "--out", join(dir, "net"), "--chain-id", "cloudcoin-localnet-1",
    "--rpc-base-port", String(rpcBase), "--p2p-base-port", String(p2pBase), "--json", ...(values.params ? ["--params", values.params] : [])]);
  const info = JSON.parse(init) as { chainId: string; faucet: string; nodes: { home: string; rpc: string; p2p: string; validator: string | null }[] };

  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping all nodes...");
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
      c.once("exit", () => (clearTimeout(timer), resolve()));
      c.kill("SIGTERM");
    })));
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  for (const [i, node] of info.nodes.entries()) {
    const child = spawn(process.execPath, [CLI, "start", "--home", node.home, "--log-level", values["log-level"]!], { stdio: ["ignore", "pipe", "pipe"] });
    const tag = `[node${i}] `;
    const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WriteStream) => {
      let buf = "";
      stream.on("data", (c: Buffer) => {
        buf += c.toString("utf8");
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          to.write(tag + buf.slice(0, nl) + "\n");
          buf = buf.slice(nl + 1);
        }
      });
    };
    relay(child.stdout!, process.stdout);
    relay(child.stderr!, process.stderr);
    child.once("exit", (code, signal) => {
      if (!stopping) console.error(`${tag}exited (${signal ?? code}); the others keep running`);
    });
    children.push(child);
  }
  console.log(`devnet ${info.chainId}: ${n} validator(s), ${full} full node(s), data in ${dir}${ownDir ? " (removed on exit)" : ""}`);
  console.log(`faucet key: ${join(dir, "net", "keys", "faucet.json")} (${info.faucet})`);
  for (const [i, node] of info.nodes.entries()) {
    console.log(`  node${i}  ${node.validator ? "validator" : "full node"}  rpc ${node.rpc}  p2p ${node.p2p}  home ${node.home}`);
  }
  console.log("Ctrl-C stops them all. Every 5 s: each node's finalized height.");
  // One status line every 5 s, so a running network shows it is finalizing (logs are at --log-level, warn by default).
  let last: { at: number; height: number } | undefined;
  const ticker = setInterval(async () => {
    const heights = await Promise.all(info.nodes.map(async (node) => {
      try {
        const res = await fetch(node.rpc, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_getHead" }), signal: AbortSignal.timeout(2_000) });
        return ((await res.json()) as { result?: { height: number } }).result?.height ?? null;
      } catch {
        return null;
      }
    }));
    const top = Math.max(...heights.map((h) => h ?? 0));
    const now = Date.now();
    const rate = last && now > last.at ? ((top - last.height) * 1000) / (now - last.at) : undefined;
    last = { at: now, height: top };
    const shown = heights.map((h, i) => `node${i} ${h ?? "down"}`).join("  ");
    console.log(`[devnet] finalized heights: ${shown}${rate !== undefined ? `  (${rate.toFixed(2)} blocks/s)` : ""}`);
  }, 5_000);
  ticker.unref();
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    c.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.slice(0, 2).join(" ")} exited with ${code}`))));
  });
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
