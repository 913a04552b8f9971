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
 *
 * Each step also records the longest gap between two finalized blocks while it ran and drained
 * (blocks must keep finalizing under overload), the submissions the nodes refused with the typed
 * BUSY error (-32006) apart from any other error, and `lost`: transactions a node accepted that
 * were not finalized by the end of the step's wait (must be 0).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { toHex } from "../../primitives/bytes.ts";
import { generateKeyPair, toAddress, type KeyPair } from "../../primitives/keys.ts";
import { signTx, type SignedTx } from "../../chain/tx.ts";
import { readKeyFile } from "../../node/keyring.ts";
import { initNetwork, type LocalNetwork } from "../helpers/network.ts";
import { CLI, rpc, rpcListeningUrl, startProcess, waitFor, type ReadyProcess } from "../helpers/process.ts";
import { cpuUs, threadCpuUs, type ThreadCpu } from "./stats.ts";

export interface LoadStep {
  readonly offered: number;
  readonly sent: number;
  /** Refused with an error other than BUSY (or a failed request). */
  readonly rejected: number;
  /** Refused with the typed BUSY error (-32006). */
  readonly busy: number;
  readonly finalized: number;
  /**
   * Accepted (answered with a hash) and not finalized when the step's wait ended (15 s without a
   * newly finalized one): lost, or only late; a later step's count tells which.
   */
  readonly lost: number;
  readonly tps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Longest time between two finalized blocks from the step's first send to the end of its drain. */
  readonly maxBlockGapMs: number;
  /** CPU time (µs, all threads) per finalized transaction over the step, of all node processes together (Linux; NaN elsewhere). */
  readonly nodesCpuUsPerTx: number;
  /** The same for this process, the load generator. */
  readonly loadCpuUsPerTx: number;
  /**
   * CPU time (µs) per finalized transaction of one node (the mean of the nodes), by kind of
   * thread; NaN where /proc cannot tell (not Linux).
   */
  readonly nodeThreadsUsPerTx: ThreadCpu;
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
const BUSY = -32006;
const NONCE_TOO_HIGH = "MEMPOOL_NONCE_TOO_HIGH";
/** How long refused transactions are sent again after a step's last scheduled send. */
const DRAIN_MS = 30_000;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function startValidator(net: LocalNetwork, i: number): Promise<ReadyProcess> {
  const m = net.members[i]!;
  // as an operator runs it: no result checking (the e2e helper turns it on), the launchers' young
  // generation (npm start, the systemd unit, the Dockerfile), no RPC rate limit for the load generator
  const p = await startProcess(CLI, ["start", "--home", m.home, "--rpc-port", "0", "--p2p-listen", m.listen, "--rpc-rate-limit", "off", ...(process.env.BENCH_NODE_LOG_LEVEL ? ["--log-level", process.env.BENCH_NODE_LOG_LEVEL] : [])], rpcListeningUrl, {
    env: { CLOUDCOIN_RPC_CHECK_RESULTS: "0", NODE_OPTIONS: "--max-semi-space-size=32" },
    timeoutMs: 60_000,
  });
  m.proc = p;
  return p;
}

/**
 * Per transaction of the batch: accepted, busy, too far ahead of its sender's account nonce
 * (the mempool's nonce-gap bound: the earlier nonces must get in first), or another error.
 */
async function sendBatch(url: string, txs: readonly SignedTx[]): Promise<("ok" | "busy" | "gap" | { error: string })[]> {
  const body = JSON.stringify(txs.map((tx, i) => ({ jsonrpc: "2.0", id: i, method: "tx_send", params: { tx: toHex(tx.bytes) } })));
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  const out = (await res.json()) as { id: number; error?: { code: number; data?: { code?: unknown } } }[] | { error?: unknown };
  if (!Array.isArray(out)) return txs.map(() => ({ error: `HTTP ${res.status}` }));
  const by = new Map(out.map((r) => [r.id, r]));
  return txs.map((_, i) => {
    const r = by.get(i);
    if (r === undefined) return { error: "no answer" };
    if (r.error === undefined) return "ok";
    if (r.error.code === BUSY) return "busy";
    if (r.error.data?.code === NONCE_TOO_HIGH) return "gap";
    return { error: typeof r.error.data?.code === "string" ? r.error.data.code : String(r.error.code) };
  });
}

/** A running devnet with funded senders and a finalized-block feed, for load steps. */
export interface Devnet {
  readonly validators: number;
  readonly blockIntervalMs: number;
  step(rate: number, seconds: number, log: (s: string) => void): Promise<LoadStep>;
  stop(): Promise<void>;
}

export async function startDevnet(dir: string, opts: { validators: number; senders: number }, log: (s: string) => void): Promise<Devnet> {
  await mkdir(dir, { recursive: true });
  const net = await initNetwork(join(dir, "net"), opts.validators);
  const sockets: WebSocket[] = [];
  // a signal or an error exit of the benchmark must not leave node processes behind
  const killAll = (): void => {
    for (const m of net.members) m.proc?.child.kill("SIGKILL");
  };
  process.on("exit", killAll);
  const stop = async (): Promise<void> => {
    // BENCH_LOG_DIR=<dir>: keep each node's log there, to see what a step did to consensus
    const keep = process.env.BENCH_LOG_DIR;
    if (keep) {
      await mkdir(keep, { recursive: true });
      await Promise.all(net.members.map((m, i) => writeFile(join(keep, `node${i}.log`), (m.proc?.logs ?? []).join("\n"))));
    }
    for (const ws of sockets) ws.terminate();
    await net.stopAll();
    process.off("exit", killAll);
  };
  try {
    // every start settles before anything can throw, so the catch stops whatever did start
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
    const blockTimes: number[] = [];
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
      blockTimes.push(now);
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
      const answers = await sendBatch(urls[0]!, txs);
      if (answers.some((a) => a !== "ok")) throw new Error(`funding transfers refused: ${answers.join(",")}`);
      await waitFor("funding finalized", async () => (finalizedAt.has(toHex(txs.at(-1)!.hash)) ? true : undefined), 60_000, 50);
    }
    log(`  devnet: ${opts.validators} validators up, ${senders.length} senders funded; block interval ${blockIntervalMs} ms`);

    // Each sender signs its next nonce once; a transaction refused BUSY is sent again on that
    // sender's next turn (as a client retries), so every later nonce of it can execute.
    const nonces = senders.map(() => 0n);
    const retry: SignedTx[][] = senders.map(() => []);
    // signed before a step starts (presign), so that signing does not compete with the nodes
    const ahead: SignedTx[][] = senders.map(() => []);
    const signNext = (s: number): SignedTx =>
      signTx({ chainId, nonce: nonces[s]!++, fee: TX_FEE, op: { type: "transfer", to: senders[(s + 1) % senders.length]!.publicKey, amount: 1_000n } }, senders[s]!);
    const presign = (total: number): void => {
      const per = Math.ceil(total / senders.length) + 1;
      senders.forEach((_, s) => {
        while (ahead[s]!.length < per) ahead[s]!.push(signNext(s));
      });
    };
    // A refused transaction goes back in its sender's queue in nonce order, so that the sender's
    // lowest missing nonce is always the next one it sends (as a wallet resubmits its oldest first):
    // sent out of order, a sender under overload ran more than the mempool's nonce gap ahead.
    const requeue = (s: number, tx: SignedTx): void => {
      const q = retry[s]!;
      let i = q.length;
      while (i > 0 && q[i - 1]!.nonce > tx.nonce) i--;
      q.splice(i, 0, tx);
    };
    let turn = 0;
    const nextTxs = (n: number): { tx: SignedTx; s: number }[] => {
      const out: { tx: SignedTx; s: number }[] = [];
      for (let k = 0; k < n; k++, turn++) {
        const s = turn % senders.length;
        out.push({ tx: retry[s]!.shift() ?? ahead[s]!.shift() ?? signNext(s), s });
      }
      return out;
    };

    const step = async (rate: number, seconds: number, log: (s: string) => void): Promise<LoadStep> => {
      const total = rate * seconds;
      presign(total);
      const sentAt = new Map<string, number>();
      const accepted = new Set<string>();
      const perTick = Math.max(1, Math.round(rate / 10));
      let rejected = 0;
      let busy = 0;
      let gaps = 0;
      /** Other refusals by code: a transaction refused so is not sent again. */
      const errors = new Map<string, number>();
      const blocksBefore = blockTimes.length;
      const nodesCpu = (): number => procs.reduce((sum, p) => sum + (cpuUs(p.child.pid ?? -1) ?? Number.NaN), 0);
      const threadsCpu = (): ThreadCpu => procs.reduce<ThreadCpu>((sum, p) => {
        const t = threadCpuUs(p.child.pid ?? -1) ?? { main: Number.NaN, verify: Number.NaN, other: Number.NaN };
        return { main: sum.main + t.main, verify: sum.verify + t.verify, other: sum.other + t.other };
      }, { main: 0, verify: 0, other: 0 });
      const cpu0 = { nodes: nodesCpu(), load: process.cpuUsage(), threads: threadsCpu() };
      const start = performance.now();
      const pending: Promise<void>[] = [];
      const send = (tick: number, batch: { tx: SignedTx; s: number }[]): void => {
        const now = performance.now();
        for (const { tx } of batch) if (!sentAt.has(toHex(tx.hash))) sentAt.set(toHex(tx.hash), now);
        const url = urls[tick % urls.length]!;
        pending.push(sendBatch(url, batch.map((b) => b.tx)).then(
          (answers) => answers.forEach((a, i) => {
            const { tx, s } = batch[i]!;
            if (a === "ok") accepted.add(toHex(tx.hash));
            else if (a === "busy" || a === "gap") {
              if (a === "busy") busy++;
              else gaps++;
              requeue(s, tx);
            } else {
              rejected++;
              errors.set(a.error, (errors.get(a.error) ?? 0) + 1);
            }
          }),
          (e: unknown) => {
            rejected += batch.length;
            errors.set(String(e), (errors.get(String(e)) ?? 0) + batch.length);
          },
        ));
      };
      let tick = 0;
      for (let k = 0; k < total; tick++) {
        const wait = start + tick * 100 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const n = Math.min(perTick, total - k);
        k += n;
        // round-robin over the validators, in batches of at most 100 (the server's cap)
        for (let b = 0; b < n; b += 100) send(tick + b / 100, nextTxs(Math.min(100, n - b)));
      }
      await Promise.all(pending);
      // what was refused BUSY is sent again until taken, at most the step's rate, so that every
      // accepted transaction behind it can execute
      // (bounded: a sender whose earlier nonce was refused for good is refused for a nonce gap forever)
      const drainUntil = performance.now() + DRAIN_MS;
      for (let left = retry.reduce((a, r) => a + r.length, 0); left > 0 && performance.now() < drainUntil; left = retry.reduce((a, r) => a + r.length, 0), tick++) {
        const batch: { tx: SignedTx; s: number }[] = [];
        for (let s = 0; s < senders.length && batch.length < Math.min(100, perTick); s++) {
          const tx = retry[s]!.shift();
          if (tx) batch.push({ tx, s });
        }
        pending.length = 0;
        send(tick, batch);
        await Promise.all(pending);
        await new Promise((r) => setTimeout(r, 100));
      }
      // wait until every accepted tx is finalized, or nothing new is finalized for 15 s
      let last = -1;
      let lastChange = performance.now();
      for (;;) {
        let done = 0;
        for (const h of accepted) if (finalizedAt.has(h)) done++;
        if (done >= accepted.size) break;
        if (done !== last) {
          last = done;
          lastChange = performance.now();
        } else if (performance.now() - lastChange > 15_000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const end = performance.now();
      const loadCpu = process.cpuUsage(cpu0.load);
      const cpu = { nodes: nodesCpu() - cpu0.nodes, load: loadCpu.user + loadCpu.system, threads: threadsCpu() };
      // the steady window: from WARMUP_MS after the first send to the last scheduled send
      const windowFrom = start + WARMUP_MS;
      const windowTo = start + seconds * 1000;
      const latencies: number[] = [];
      let inWindow = 0;
      for (const h of accepted) {
        const f = finalizedAt.get(h);
        if (f === undefined) continue;
        latencies.push(f - sentAt.get(h)!);
        if (f >= windowFrom && f < windowTo) inWindow++;
      }
      latencies.sort((a, b) => a - b);
      // longest gap between finalized blocks over the step (its start and end count as edges)
      const times = [start, ...blockTimes.slice(blocksBefore).filter((t) => t <= end), end];
      let maxBlockGapMs = 0;
      for (let i = 1; i < times.length; i++) maxBlockGapMs = Math.max(maxBlockGapMs, times[i]! - times[i - 1]!);
      const result: LoadStep = {
        offered: rate, sent: total, rejected, busy, finalized: latencies.length, lost: accepted.size - latencies.length,
        tps: inWindow / ((windowTo - windowFrom) / 1000), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxBlockGapMs,
        nodesCpuUsPerTx: cpu.nodes / Math.max(1, latencies.length), loadCpuUsPerTx: cpu.load / Math.max(1, latencies.length),
        nodeThreadsUsPerTx: (() => {
          const per = (k: keyof ThreadCpu): number => (cpu.threads[k] - cpu0.threads[k]) / procs.length / Math.max(1, latencies.length);
          return { main: per("main"), verify: per("verify"), other: per("other") };
        })(),
      };
      log(`  offered ${rate} tx/s for ${seconds} s: ${result.finalized} finalized of ${accepted.size} accepted (${busy} BUSY and re-sent, ${gaps} refused for a nonce gap and re-sent, ${rejected} other errors${errors.size > 0 ? ` (${[...errors].map(([c, n]) => `${c} ${n}`).join(", ")})` : ""}, ${retry.reduce((a, r) => a + r.length, 0)} never taken, ${result.lost} not finalized yet), ${result.tps.toFixed(0)} tx/s, latency p50 ${result.p50Ms.toFixed(0)} ms p99 ${result.p99Ms.toFixed(0)} ms, longest block gap ${result.maxBlockGapMs.toFixed(0)} ms; CPU per finalized tx: nodes ${result.nodesCpuUsPerTx.toFixed(0)} µs (all ${procs.length}; one node: main thread ${result.nodeThreadsUsPerTx.main.toFixed(0)}, verify workers ${result.nodeThreadsUsPerTx.verify.toFixed(0)}, other threads ${result.nodeThreadsUsPerTx.other.toFixed(0)}), load generator ${result.loadCpuUsPerTx.toFixed(0)} µs`);
      return result;
    };
    return { validators: opts.validators, blockIntervalMs, step, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The ramp of the network bench: steps until one falls far behind; sustained = best step that kept up. */
export async function benchDevnet(dir: string, opts: { validators: number; senders: number; rates: readonly number[]; seconds: number }, log: (s: string) => void): Promise<DevnetFigures> {
  const devnet = await startDevnet(dir, opts, log);
  try {
    const steps: LoadStep[] = [];
    for (const rate of opts.rates) {
      const step = await devnet.step(rate, opts.seconds, log);
      steps.push(step);
      if (step.tps < rate * 0.5) break; // far past saturation: the next step only adds backlog
      await new Promise((r) => setTimeout(r, 2_000));
    }
    return { validators: opts.validators, steps, sustainedTps: sustainedOf(steps), blockIntervalMs: devnet.blockIntervalMs };
  } finally {
    await devnet.stop();
  }
}

/** The best finalized rate of a step that kept up: at least 90% of what it offered, nothing lost. */
export function sustainedOf(steps: readonly LoadStep[]): number {
  const kept = steps.filter((s) => s.lost === 0 && s.tps >= s.offered * 0.9);
  return kept.length > 0 ? Math.max(...kept.map((s) => s.tps)) : 0;
}
