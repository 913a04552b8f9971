/**
 * Payment-channel voucher checks: `paych_checkVoucher` requests per second over HTTP against a
 * real node process, and the in-process `checkVoucher` rate against the raw ed25519 verify rate,
 * both measured in this run.
 *
 *   node --import tsx test/perf/paych.ts [--seconds N] [--connections C] [--json]
 *
 * The node (`cloudcoin start` on the embedded devnet, a fresh home, results not re-validated as
 * in production) runs in a child process so that it does not share an event loop with autocannon.
 * A channel from the devnet faucet is opened through JSON-RPC; the load rotates over VOUCHERS
 * distinct valid vouchers (checked, never submitted, so every request does the whole check,
 * signature included). Answers are verified before and after the load; any non-2xx, socket error,
 * timeout or JSON-RPC error answer fails the run. Target: >= 5,000 req/s at -c 50.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { toHex } from "../../primitives/bytes.ts";
import { generateKeyPair, toAddress, verify } from "../../primitives/keys.ts";
import { channelId, checkVoucher, encodeVoucher, signVoucher, voucherSignBytes, type Channel } from "../../modules/paych/paych.ts";
import { signTx } from "../../chain/tx.ts";
import { devnetFaucetKey } from "../../genesis/devnet.ts";
import { RpcClient } from "../../rpc/client.ts";

const CLI = fileURLToPath(new URL("../../node/cli.ts", import.meta.url));
const VOUCHERS = 1_000;
const TARGET = 5_000;

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "50" }, json: { type: "boolean", default: false } },
});
const log = (s: string) => {
  if (!args.json) console.log(s);
};

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

function startNode(home: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, "start", "--home", home, "--rpc-port", "0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--rpc-rate-limit", "off", "--log-level", "info"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, CLOUDCOIN_RPC_CHECK_RESULTS: "0" },
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
    live.delete(child);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error("node not listening after 60 s"))), 60_000);
    let buf = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const j = JSON.parse(line) as { msg?: string; url?: string };
          if (j.msg === "JSON-RPC listening" && j.url) {
            clearTimeout(timer);
            resolve({ url: j.url, stop });
          }
        } catch {
          // not JSON
        }
      }
      if (buf.length > 1 << 20) buf = "";
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error("node exited before listening"));
    });
  });
}

async function waitFinalized(rpc: RpcClient, hash: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await rpc.call("tx_get", { hash });
    if (r.status === "finalized") {
      if (!r.receipt?.ok) throw new Error(`tx ${hash} failed: ${r.receipt?.code}`);
      return;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`tx ${hash} not finalized`);
}

/** Calls fn for about `ms` milliseconds; returns calls per second. */
function rate(ms: number, fn: (i: number) => void): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 200; k++) fn(n++);
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "cloudcoin-bench-paych-"));
  let node: { url: string; stop(): Promise<void> } | undefined;
  try {
    // ---- in process: checkVoucher vs the raw verify it contains ----
    const payer = generateKeyPair();
    const chainId = "cloudcoin-bench";
    const channel: Channel = {
      id: channelId(payer.publicKey, 0n), payer: payer.publicKey, payee: generateKeyPair().publicKey,
      deposit: 1_000_000_000_000n, redeemed: 0n, nonce: 0n, settleDelay: 10n, closingAt: 0n, settled: false,
    };
    const local = Array.from({ length: VOUCHERS }, (_, i) => signVoucher(chainId, payer, { channel: channel.id, amount: BigInt(i + 1) * 1000n, nonce: BigInt(i + 1) }));
    const signBytes = local.map((v) => voucherSignBytes(chainId, v));
    rate(300, (i) => checkVoucher(chainId, channel, local[i % VOUCHERS]!)); // warm-up
    rate(300, (i) => verify(payer.publicKey, signBytes[i % VOUCHERS]!, local[i % VOUCHERS]!.signature));
    const checkRate = rate(2000, (i) => checkVoucher(chainId, channel, local[i % VOUCHERS]!));
    const verifyRate = rate(2000, (i) => verify(payer.publicKey, signBytes[i % VOUCHERS]!, local[i % VOUCHERS]!.signature));
    log(`in process: checkVoucher ${checkRate.toFixed(0)}/s, raw ed25519 verify ${verifyRate.toFixed(0)}/s, ratio ${(checkRate / verifyRate).toFixed(3)}`);

    // ---- over HTTP: a real node ----
    node = await startNode(home);
    const rpc = new RpcClient(node.url);
    const faucet = devnetFaucetKey();
    const [status, acct, chainParams] = await Promise.all([rpc.call("node_status", {}), rpc.call("state_getAccount", { address: toAddress(faucet.publicKey) }), rpc.call("chain_getParams", {})]);
    const nonce = BigInt(acct.nonce);
    const payee = generateKeyPair();
    // the chain's own minimum (a shorter delay is refused with PAYCH_SETTLE_DELAY_TOO_SHORT)
    const settleDelay = BigInt(chainParams.params["minSettleDelay"]!);
    const open = signTx({ chainId: status.chainId, nonce, fee: 1000n, op: { type: "paych.open", payee: payee.publicKey, deposit: 1_000_000_000_000n, settleDelay } }, faucet);
    await waitFinalized(rpc, (await rpc.call("tx_send", { tx: toHex(open.bytes) })).hash);
    const ch = channelId(faucet.publicKey, nonce);
    const vouchers = Array.from({ length: VOUCHERS }, (_, i) => toHex(encodeVoucher(signVoucher(status.chainId, faucet, { channel: ch, amount: BigInt(i + 1) * 1000n, nonce: BigInt(i + 1) }))));
    const bodies = vouchers.map((voucher, i) => JSON.stringify({ jsonrpc: "2.0", id: i, method: "paych_checkVoucher", params: { voucher } }));
    const check = async () => {
      for (const i of [0, 1, VOUCHERS - 1]) {
        const r = await rpc.call("paych_checkVoucher", { voucher: vouchers[i]! });
        if (!r.ok || r.channel !== toHex(ch) || r.amount !== String((i + 1) * 1000)) throw new Error(`wrong answer: ${JSON.stringify(r)}`);
      }
    };
    await check();
    const connections = Number(args.connections);
    const seconds = Number(args.seconds);
    const load = async (list: readonly string[]) => {
      let next = 0;
      const result = await autocannon({
        url: node!.url,
        connections,
        duration: seconds,
        warmup: { connections, duration: 2 },
        timeout: 10,
        method: "POST",
        headers: { "content-type": "application/json" },
        requests: [
          {
            setupRequest: (req) => {
              req.body = list[next++ % list.length]!;
              return req;
            },
          },
        ],
      });
      if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
        throw new Error(`under load: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
      }
      return result;
    };
    const result = await load(bodies);
    await check();
    // The same node and load on paych_get (no signature check): the HTTP + dispatch ceiling of this run.
    const getBodies = [JSON.stringify({ jsonrpc: "2.0", id: 1, method: "paych_get", params: { channel: toHex(ch) } })];
    const baseline = await load(getBodies);
    const baseRate = baseline.requests.average;
    const reqPerSec = result.requests.average;
    log(`HTTP: paych_checkVoucher ${reqPerSec.toFixed(0)} req/s (p99 ${result.latency.p99} ms) at -c ${connections} for ${seconds} s over ${VOUCHERS} vouchers; target >= ${TARGET}: ${reqPerSec >= TARGET ? "met" : "NOT MET"}`);
    log(`HTTP: paych_get (no signature) ${baseRate.toFixed(0)} req/s on the same node; checkVoucher / paych_get ${(reqPerSec / baseRate).toFixed(3)}`);
    log(`HTTP checkVoucher rate / in-process checkVoucher rate: ${(reqPerSec / checkRate).toFixed(3)}`);
    if (args.json) {
      console.log(JSON.stringify({ http: { reqPerSec, p99Ms: result.latency.p99, connections, seconds, vouchers: VOUCHERS, target: TARGET, met: reqPerSec >= TARGET, paychGetReqPerSec: baseRate }, inProcess: { checkVoucherPerSec: checkRate, verifyPerSec: verifyRate, ratio: checkRate / verifyRate } }));
    }
    if (reqPerSec < TARGET) process.exitCode = 1;
  } finally {
    await node?.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
