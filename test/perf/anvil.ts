/**
 * `npm run bench anvil`: a peer comparison against anvil (Foundry's local Ethereum node, from the
 * npm package `@foundry-rs/anvil`, whose binary comes in a per-platform package). It is not a
 * dependency of the node (a 44 MB binary no operator needs): the bench installs the pinned
 * version on first use into node_modules/.cache/cloudcoin-anvil and reuses it.
 *
 *   chain_getHead                             against anvil's eth_blockNumber
 *   state_getAccount, 100,000 random funded   against anvil's eth_getBalance, 100,000 random
 *   accounts of a 100,000-account genesis     addresses (unknown to it: a read of an empty account)
 *
 * Both are whole node processes on 127.0.0.1, ports chosen free: ours is `cloudcoin start` (a
 * one-validator chain producing its blocks, RPC rate limit off, results not re-checked, as an
 * operator runs it), anvil is the binary itself (`--silent`, not through its npm wrapper). The
 * load generator is autocannon in this process with identical settings for both (keep-alive,
 * CONNECTIONS connections, a warm-up not counted); repetitions alternate ours, anvil, ours,
 * anvil, ... and the ratio is taken per pair, so a slow drift of the shared machine cancels out.
 * Printed: min/median/max req/s of each side, the median ratio with its spread, the target and a
 * verdict, each server's CPU per request (Linux, from /proc), and the load average. Timings are
 * never asserted; a wrong answer, a non-2xx answer, a socket error or a timeout fails the run.
 *
 * Where the anvil binary cannot be had (an unsupported platform, no registry) it says so and exits
 * 0. ANVIL_BIN=/path/to/anvil uses another binary.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { freePortRange } from "../../node/ports.ts";
import { CLI, rpc, rpcListeningUrl, runCli, startProcess, waitFor, type ReadyProcess } from "../helpers/process.ts";
import { ACCOUNT_BALANCE } from "./fixtures.ts";
import { benchTempDir } from "./lifecycle.ts";
import { rpcAccountAddress } from "./rpc-shared.ts";
import { cpuUs, fmtInt, fmtRatio, median, table, verdict } from "./stats.ts";

const ACCOUNTS = 100_000;
const CONNECTIONS = 50;
const REPS = Number(process.env.ANVIL_BENCH_REPS ?? 5);
const SECONDS = Number(process.env.ANVIL_BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = 2;
const TARGET = 0.7;

// ---- the anvil binary ----

/** The version compared against, pinned so that figures of different runs compare. */
const ANVIL_VERSION = "1.7.1";
/** Where the bench installs it on first use (inside node_modules: never committed, gone with a clean install). */
const ANVIL_CACHE = fileURLToPath(new URL("../../node_modules/.cache/cloudcoin-anvil", import.meta.url));

/** ANVIL_BIN, an installed per-platform anvil package, the one the bench installed before, or one installed now; or why there is none. */
function findAnvil(): { bin: string } | { missing: string } {
  const fromEnv = process.env.ANVIL_BIN;
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(fromEnv) ? { bin: fromEnv } : { missing: `ANVIL_BIN=${fromEnv} does not exist` };
  const arch = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[process.arch];
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch ?? process.arch}`;
  const exe = process.platform === "win32" ? "anvil.exe" : "anvil";
  const resolve = (from: string): string | undefined => {
    try {
      const bin = createRequire(from).resolve(`${pkg}/bin/${exe}`);
      return existsSync(bin) ? bin : undefined;
    } catch {
      return undefined; // not installed there
    }
  };
  const cached = join(ANVIL_CACHE, "package.json");
  const found = resolve(import.meta.url) ?? resolve(cached);
  if (found) return { bin: found };
  console.log(`installing @foundry-rs/anvil@${ANVIL_VERSION} into ${ANVIL_CACHE} (first use) ...`);
  mkdirSync(ANVIL_CACHE, { recursive: true });
  if (!existsSync(cached)) writeFileSync(cached, JSON.stringify({ name: "cloudcoin-anvil-cache", private: true }));
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact", `@foundry-rs/anvil@${ANVIL_VERSION}`], {
    cwd: ANVIL_CACHE, stdio: ["ignore", "inherit", "inherit"], timeout: 600_000,
  });
  const installed = r.status === 0 ? resolve(cached) : undefined;
  return installed ? { bin: installed } : { missing: `@foundry-rs/anvil@${ANVIL_VERSION} could not be installed for ${process.platform}/${process.arch} (npm exited ${r.status ?? r.error?.message})` };
}

// ---- servers ----

interface Server {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startOurs(dir: string): Promise<Server> {
  const r = await runCli(["init", "--validators", "1", "--out", join(dir, "net"), "--chain-id", "anvil-bench-1", "--json"]);
  if (r.code !== 0) throw new Error(`cloudcoin init failed: ${r.stderr}`);
  const home = join(dir, "net", "node0");
  const genesisPath = join(home, "genesis.json");
  const genesis = JSON.parse(readFileSync(genesisPath, "utf8")) as { balances: { address: string; amount: string }[] };
  for (let i = 0; i < ACCOUNTS; i++) genesis.balances.push({ address: rpcAccountAddress(i), amount: ACCOUNT_BALANCE.toString() });
  writeFileSync(genesisPath, JSON.stringify(genesis));
  // As an operator runs it (results not re-checked against their schemas), with the per-client
  // rate limit off: the default would answer one load client 429 within a second.
  const p: ReadyProcess = await startProcess(
    CLI,
    ["start", "--home", home, "--rpc-port", "0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--rpc-rate-limit", "off"],
    rpcListeningUrl,
    // NODE_OPTIONS: the young generation every shipped launcher gives the node (package.json start,
    // the systemd unit, the Dockerfile; docs/operator-guide.md, Memory).
    { env: { CLOUDCOIN_RPC_CHECK_RESULTS: "0", NODE_OPTIONS: "--max-semi-space-size=32" }, timeoutMs: 180_000 },
  );
  await waitFor("a first block", async () => ((await rpc(p.url, "chain_getHead")).result?.height >= 1 ? true : undefined), 60_000);
  return { name: "cloudcoin", url: p.url, pid: p.child.pid!, stop: async () => void (await p.stop()) };
}

async function startAnvil(bin: string): Promise<Server> {
  const port = await freePortRange(1);
  const child: ChildProcess = spawn(bin, ["--host", "127.0.0.1", "--port", String(port), "--silent"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.on("exit", () => child.kill("SIGKILL"));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  };
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitFor("anvil to answer", async () => {
      if (child.exitCode !== null) throw new Error(`anvil exited with ${child.exitCode}: ${stderr}`);
      const r = await rpc(url, "eth_blockNumber", [], 2000).catch(() => undefined);
      return typeof r?.result === "string" ? true : undefined;
    }, 30_000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: "anvil", url, pid: child.pid!, stop };
}

// ---- requests ----

let seed = 0x2545f491;
const rand = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};

interface Workload {
  readonly label: string;
  readonly ours: { readonly method: string; readonly bodies: string[] };
  readonly anvil: { readonly method: string; readonly bodies: string[] };
}

function workloads(): Workload[] {
  const ids = Array.from({ length: ACCOUNTS }, () => rand(ACCOUNTS));
  const accounts = ids.map((i, k) => `{"jsonrpc":"2.0","id":${k},"method":"state_getAccount","params":{"address":"${rpcAccountAddress(i)}"}}`);
  const hex = () => Array.from({ length: 5 }, () => rand(0x1_0000_0000).toString(16).padStart(8, "0")).join("");
  const balances = Array.from({ length: ACCOUNTS }, (_, k) => `{"jsonrpc":"2.0","id":${k},"method":"eth_getBalance","params":["0x${hex()}","latest"]}`);
  return [
    {
      label: "head",
      ours: { method: "chain_getHead", bodies: [`{"jsonrpc":"2.0","id":1,"method":"chain_getHead","params":{}}`] },
      anvil: { method: "eth_blockNumber", bodies: [`{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}`] },
    },
    { label: `account (${fmtInt(ACCOUNTS)} random)`, ours: { method: "state_getAccount", bodies: accounts }, anvil: { method: "eth_getBalance", bodies: balances } },
  ];
}

/** A few answers checked before and after the load: the load itself counts only HTTP statuses. */
async function checkAnswers(server: Server, bodies: readonly string[]): Promise<void> {
  for (const body of [bodies[0]!, bodies[bodies.length >> 1]!, bodies[bodies.length - 1]!]) {
    const sent = JSON.parse(body) as { id: number; method: string; params: unknown };
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    const reply = JSON.parse(text) as { id?: unknown; result?: any };
    const r = reply.result;
    const ok =
      res.status === 200 && reply.id === sent.id &&
      (sent.method === "chain_getHead" ? typeof r?.height === "number" && r.height >= 1 && /^[0-9a-f]{64}$/.test(r.hash) :
        sent.method === "state_getAccount" ? r?.address === (sent.params as { address: string }).address && r.balance === ACCOUNT_BALANCE.toString() :
          sent.method === "eth_blockNumber" ? typeof r === "string" && /^0x[0-9a-f]+$/.test(r) :
            r === "0x0");
    if (!ok) throw new Error(`${server.name} gave a wrong answer to ${sent.method} (HTTP ${res.status}): ${text.slice(0, 300)}`);
  }
}

interface Sample {
  readonly reqPerSec: number;
  readonly p99Ms: number;
  readonly cpuUsPerReq: number | undefined;
}

async function load(server: Server, bodies: readonly string[]): Promise<Sample> {
  let next = 0;
  const run = async (seconds: number) => {
    const result = await autocannon({
      url: server.url,
      connections: CONNECTIONS,
      duration: seconds,
      timeout: 10,
      method: "POST",
      headers: { "content-type": "application/json" },
      requests: [{ setupRequest: (req) => ((req.body = bodies[next++ % bodies.length]!), req) }],
    });
    if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
      throw new Error(`${server.name} under load: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`);
    }
    if (result.requests.total === 0) throw new Error(`${server.name} answered no request`);
    return result;
  };
  await run(WARMUP_SECONDS);
  const before = cpuUs(server.pid);
  const result = await run(SECONDS);
  const after = cpuUs(server.pid);
  return {
    reqPerSec: result.requests.average,
    p99Ms: result.latency.p99,
    cpuUsPerReq: before !== undefined && after !== undefined ? (after - before) / result.requests.total : undefined,
  };
}

const describe = (s: Sample) => `${fmtInt(s.reqPerSec)} req/s (p99 ${s.p99Ms} ms${s.cpuUsPerReq !== undefined ? `, ${s.cpuUsPerReq.toFixed(0)} µs CPU/req` : ""})`;
const minMedMax = (xs: readonly number[]) => `${fmtInt(Math.min(...xs))} / ${fmtInt(median(xs))} / ${fmtInt(Math.max(...xs))}`;
const load3 = () => loadavg().map((x) => x.toFixed(2)).join(" ");

// ---- main ----

const anvil = findAnvil();
if ("missing" in anvil) {
  console.log(`anvil peer comparison SKIPPED: ${anvil.missing}.`);
  console.log("  The bench installs @foundry-rs/anvil (linux/darwin x64/arm64, win32 x64) from the npm registry on first use; or set ANVIL_BIN.");
  process.exit(0);
}

console.log(`Peer comparison against anvil (${anvil.bin}): autocannon, ${CONNECTIONS} connections, keep-alive, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s measured, ${REPS} alternating pairs`);
const loadBefore = load3();
console.log(`  load average before: ${loadBefore}`);
const dir = await benchTempDir("cloudcoin-anvil-bench-");
const servers: Server[] = [];
try {
  const started = await Promise.allSettled([startOurs(dir), startAnvil(anvil.bin)]);
  for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
  for (const s of started) if (s.status === "rejected") throw s.reason;
  const [ours, peer] = servers as [Server, Server];
  const version = (await rpc(peer.url, "web3_clientVersion", [])).result as string;
  console.log(`  cloudcoin ${ours.url} (${fmtInt(ACCOUNTS)} funded accounts in genesis), anvil ${peer.url} (${version})`);

  const rows: string[][] = [];
  for (const w of workloads()) {
    await checkAnswers(ours, w.ours.bodies);
    await checkAnswers(peer, w.anvil.bodies);
    const a: Sample[] = [];
    const b: Sample[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      a.push(await load(ours, w.ours.bodies));
      b.push(await load(peer, w.anvil.bodies));
      console.log(`  ${w.ours.method} / ${w.anvil.method} pair ${rep}/${REPS}: cloudcoin ${describe(a.at(-1)!)}, anvil ${describe(b.at(-1)!)}`);
    }
    await checkAnswers(ours, w.ours.bodies);
    await checkAnswers(peer, w.anvil.bodies);
    const ratios = a.map((x, i) => x.reqPerSec / b[i]!.reqPerSec);
    const ratio = median(ratios);
    const cpu = (xs: Sample[]) => (xs.every((x) => x.cpuUsPerReq !== undefined) ? median(xs.map((x) => x.cpuUsPerReq!)).toFixed(0) : "n/a");
    rows.push([
      `${w.ours.method} vs ${w.anvil.method}`,
      minMedMax(a.map((x) => x.reqPerSec)),
      minMedMax(b.map((x) => x.reqPerSec)),
      `${cpu(a)} / ${cpu(b)}`,
      `${fmtRatio(ratio)} (${fmtRatio(Math.min(...ratios))}..${fmtRatio(Math.max(...ratios))})`,
      `>= ${TARGET}`,
      verdict(ratio, TARGET),
    ]);
  }
  console.log("");
  console.log(table(["figure", "cloudcoin req/s min/med/max", "anvil req/s min/med/max", "CPU µs/req ours/anvil", "ratio (pairs)", "target", "verdict"], rows));
  console.log(`  load average before ${loadBefore}, after ${load3()} (2 shared cores: the load generator runs on the same cores as the server)`);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
