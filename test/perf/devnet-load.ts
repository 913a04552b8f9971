/**
 * Sustained finalized transactions per second on a 4-validator devnet of real node processes on
 * 127.0.0.1 (`cloudcoin init` + `cloudcoin start`, the same as `npm run devnet`), with a load
 * generator in this process, and finality latency: from the moment a transaction is sent to the
 * moment the finalized block that carries it is announced on a WebSocket `finalizedBlocks`
 * subscription.
 *
 * Open-loop steps: each offers a fixed rate for `seconds`, spread over the validators' RPC
 * endpoints in JSON-RPC batches every 100 ms, from many funded senders (a sender's queue in the
 * mempool is bounded). Transactions are signed before each step so that signing does not compete
 * with the nodes for the two cores. Latency percentiles are over every finalized transaction of
 * the step. A step's throughput is what was finalized in its steady window (from 3 s after its
 * first send to its last send) per second: a network that keeps up finalizes about what is
 * offered, one that does not finalizes its capacity.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { toHex } from "../../primitives/bytes.ts";
import { generateKeyPair, toAddress, type KeyPair } from "../../primitives/keys.ts";
import { signTx, type SignedTx } from "../../chain/tx.ts";
import { readKeyFile } from "../../node/keyring.ts";
import { initNetwork, type LocalNetwork } from "../helpers/network.ts";
import { CLI, rpc, rpcListeningUrl, startProcess, waitFor, type ReadyProcess } from "../helpers/process.ts";

export interface LoadStep {
  readonly offered: number;
  readonly sent: number;
  readonly rejected: number;
  readonly finalized: number;
  readonly tps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface DevnetFigures {
  readonly validators: number;
  readonly steps: LoadStep[];
  /** The best step whose finalized rate kept up with at least 90% of its offered rate. */
  readonly sustainedTps: number;
  readonly blockIntervalMs: number;
}

const TX_FEE = 1_000n;
/** Finality takes a block or two: the first seconds of a step are not steady yet. */
const WARMUP_MS = 3_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function startValidator(net: LocalNetwork, i: number): Promise<ReadyProcess> {
  const m = net.members[i]!;
  // as an operator runs it: no result checking (the e2e helper turns it on), no RPC rate limit for the load generator
  const p = await startProcess(CLI, ["start", "--home", m.home, "--rpc-port", "0", "--p2p-listen", m.listen, "--rpc-rate-limit", "off"], rpcListeningUrl, { timeoutMs: 60_000 });
  m.proc = p;
  return p;
}

async function sendBatch(url: string, txs: readonly SignedTx[]): Promise<number> {
  const body = JSON.stringify(txs.map((tx, i) => ({ jsonrpc: "2.0", id: i, method: "tx_send", params: { tx: toHex(tx.bytes) } })));
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  const out = (await res.json()) as { error?: unknown }[] | { error?: unknown };
  if (!Array.isArray(out)) return txs.length;
  return out.filter((r) => r.error !== undefined).length;
}

export async function benchDevnet(dir: string, opts: { validators: number; senders: number; rates: readonly number[]; seconds: number }, log: (s: string) => void): Promise<DevnetFigures> {
  await mkdir(dir, { recursive: true });
  const net = await initNetwork(join(dir, "net"), opts.validators);
  const sockets: WebSocket[] = [];
  // a signal or an error exit of the benchmark must not leave node processes behind
  const killAll = (): void => {
    for (const m of net.members) m.proc?.child.kill("SIGKILL");
  };
  process.on("exit", killAll);
  try {
    // every start settles before anything can throw, so `finally` stops whatever did start
    const started = await Promise.allSettled(net.members.map((_, i) => startValidator(net, i)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const procs = started.map((r) => (r as PromiseFulfilledResult<ReadyProcess>).value);
    const urls = procs.map((p) => p.url);
    await waitFor("the devnet finalizes", async () => ((await rpc(urls[0]!, "node_status")).result?.head.height >= 2 ? true : undefined), 60_000);
    const status = (await rpc(urls[0]!, "node_status")).result;
    const genesis = JSON.parse(await readFile(join(dir, "net", "genesis.json"), "utf8")) as { params: { blockIntervalMs: number } };
    const blockIntervalMs = genesis.params.blockIntervalMs;

    // finalized blocks, announced over WebSocket by node 0
    const finalizedAt = new Map<string, number>();
    const ws = new WebSocket(urls[0]!.replace(/^http/, "ws"));
    sockets.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("message", (data) => {
      const now = performance.now();
      const m = JSON.parse(data.toString()) as { method?: string; params?: { result?: { txs?: string[] } } };
      if (m.method !== "chain_subscription") return;
      for (const h of m.params?.result?.txs ?? []) finalizedAt.set(h, now);
    });
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribe", params: { topic: "finalizedBlocks" } }));

    // fund the senders from the faucet (at most 50 queued at a time: the mempool bounds a sender's queue)
    const faucet = await readKeyFile(net.faucetKeyPath);
    const senders: KeyPair[] = Array.from({ length: opts.senders }, () => generateKeyPair());
    const chainId = status.chainId as string;
    let faucetNonce = BigInt((await rpc(urls[0]!, "state_getAccount", { address: toAddress(faucet.publicKey) })).result.nonce);
    for (let i = 0; i < senders.length; i += 50) {
      const txs = senders.slice(i, i + 50).map((s) => signTx({ chainId, nonce: faucetNonce++, fee: TX_FEE, op: { type: "transfer", to: s.publicKey, amount: 1_000_000_000_000n } }, faucet));
      const rejected = await sendBatch(urls[0]!, txs);
      if (rejected > 0) throw new Error(`${rejected} funding transfers rejected`);
      await waitFor("funding finalized", async () => (finalizedAt.has(toHex(txs.at(-1)!.hash)) ? true : undefined), 60_000, 50);
    }
    log(`  devnet: ${opts.validators} validators up, ${senders.length} senders funded; block interval ${blockIntervalMs} ms`);

    const nonces = senders.map(() => 0n);
    const steps: LoadStep[] = [];
    for (const rate of opts.rates) {
      const total = rate * opts.seconds;
      // signed ahead, round-robin over the senders
      const txs: SignedTx[] = [];
      for (let k = 0; k < total; k++) {
        const s = k % senders.length;
        const to = senders[(s + 1) % senders.length]!.publicKey;
        txs.push(signTx({ chainId, nonce: nonces[s]!++, fee: TX_FEE, op: { type: "transfer", to, amount: 1_000n } }, senders[s]!));
      }
      const sentAt = new Map<string, number>();
      const perTick = Math.max(1, Math.round(rate / 10));
      let rejected = 0;
      const start = performance.now();
      const pending: Promise<void>[] = [];
      for (let tick = 0, k = 0; k < total; tick++) {
        const due = start + tick * 100;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const slice = txs.slice(k, k + perTick);
        k += slice.length;
        // round-robin over the validators, in batches of at most 100 (the server's cap)
        for (let b = 0; b < slice.length; b += 100) {
          const part = slice.slice(b, b + 100);
          const now = performance.now();
          for (const tx of part) sentAt.set(toHex(tx.hash), now);
          const url = urls[(tick + b / 100) % urls.length]!;
          pending.push(sendBatch(url, part).then((n) => void (rejected += n), () => void (rejected += part.length)));
        }
      }
      await Promise.all(pending);
      const sent = total - rejected;
      // wait until every accepted tx is finalized, or nothing new is finalized for 15 s
      let last = -1;
      let lastChange = performance.now();
      for (;;) {
        const done = [...sentAt.keys()].filter((h) => finalizedAt.has(h)).length;
        if (done >= sent) break;
        if (done !== last) {
          last = done;
          lastChange = performance.now();
        } else if (performance.now() - lastChange > 15_000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // the steady window: from WARMUP_MS after the first send to the last send
      const windowFrom = start + WARMUP_MS;
      const windowTo = start + opts.seconds * 1000;
      const latencies: number[] = [];
      let inWindow = 0;
      for (const [h, t] of sentAt) {
        const f = finalizedAt.get(h);
        if (f === undefined) continue;
        latencies.push(f - t);
        if (f >= windowFrom && f < windowTo) inWindow++;
      }
      latencies.sort((a, b) => a - b);
      const step: LoadStep = {
        offered: rate, sent: total, rejected, finalized: latencies.length,
        tps: inWindow / ((windowTo - windowFrom) / 1000), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
      };
      steps.push(step);
      log(`  offered ${rate} tx/s for ${opts.seconds} s: ${step.finalized}/${total} finalized (${rejected} rejected), ${step.tps.toFixed(0)} tx/s, latency p50 ${step.p50Ms.toFixed(0)} ms p99 ${step.p99Ms.toFixed(0)} ms`);
      if (step.finalized < total * 0.5) break; // far past saturation: the next step only adds backlog
      // let the backlog drain before the next step (nonces already used stay consumed)
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const kept = steps.filter((s) => s.finalized >= s.sent * 0.98 && s.tps >= s.offered * 0.9);
    const sustainedTps = kept.length > 0 ? Math.max(...kept.map((s) => s.tps)) : 0;
    return { validators: opts.validators, steps, sustainedTps, blockIntervalMs };
  } finally {
    for (const ws of sockets) ws.terminate();
    await net.stopAll();
    process.off("exit", killAll);
  }
}
