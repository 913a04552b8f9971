/**
 * The node's Prometheus metrics, on a Registry of their own (never prom-client's global one,
 * so two nodes in one process, or a test, never share counters). Served as text at GET
 * /metrics on the RPC listener (rpc/server.ts `metrics` option).
 *
 * Everything is fed from outside: `recordCommit` from the driver's onCommit (with the block's
 * proof transactions from `proofSamples`), `observeRpc` from the dispatcher; mempool gauges are
 * read on each scrape.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface NodeMetricsDeps {
  /** Read on each scrape. */
  readonly mempool: { readonly size: number; readonly bytes: number };
  /** Wall clock in ms (finality latency is commit time minus the block's header time). */
  readonly now: () => number;
  /** Connected peers, read on each scrape (0 when absent). */
  readonly peers?: () => number;
}

/** What one committed block contributes. */
export interface CommitSample {
  height: bigint;
  /** The block's header time, ms since the epoch. */
  timeMs: bigint;
  /** The round the block was decided in; rounds above 0 are extra rounds. */
  round: number;
  txsOk: number;
  txsFailed: number;
  evidence: number;
  /** The block's storage proofs and bandwidth attestations with their outcome (proofSamples). */
  proofs?: readonly ProofSample[];
}

export type ProofKind = "storage" | "bandwidth";

/** One proof transaction of a finalized block: "ok", or the code of its failed receipt. */
export interface ProofSample {
  kind: ProofKind;
  outcome: string;
}

/**
 * Operation types counted as proofs. Matched as strings so that an operation chain/tx.ts does not
 * define yet ("bandwidth.attest") is counted as soon as it exists, without a change here.
 */
const PROOF_OPS: ReadonlyMap<string, ProofKind> = new Map([
  ["storage.proof", "storage"],
  ["bandwidth.attest", "bandwidth"],
]);

/** The proof transactions of a block (txs[i] has receipts[i]) with their outcome. Pure. */
export function proofSamples(txs: readonly { readonly op: { readonly type: string } }[], receipts: readonly { readonly ok: boolean; readonly code: string }[]): ProofSample[] {
  const out: ProofSample[] = [];
  txs.forEach((tx, i) => {
    const kind = PROOF_OPS.get(tx.op.type);
    if (kind === undefined) return;
    const r = receipts[i];
    out.push({ kind, outcome: r === undefined ? "unknown" : r.ok ? "ok" : r.code || "failed" });
  });
  return out;
}

export interface NodeMetrics {
  readonly registry: Registry;
  recordCommit(c: CommitSample): void;
  /** Matches DispatchOptions.observe / RpcServerOptions.observe. */
  observeRpc(method: string, seconds: number, ok: boolean, errorCode?: number): void;
  /** One gossip message judged by a topic validator. */
  recordGossip(topic: string, verdict: "accept" | "ignore" | "reject"): void;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createNodeMetrics(deps: NodeMetricsDeps): NodeMetrics {
  const registry = new Registry();
  const registers = [registry];
  const height = new Gauge({ name: "cloudcoin_chain_height", help: "Height of the latest finalized block", registers });
  const latency = new Histogram({
    name: "cloudcoin_finality_latency_seconds",
    help: "Time from a block's header time to its commit on this node",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const rounds = new Counter({
    name: "cloudcoin_consensus_rounds_total",
    help: "Extra consensus rounds: each block decided at round r > 0 adds r",
    registers,
  });
  new Gauge({
    name: "cloudcoin_mempool_txs",
    help: "Transactions in the mempool",
    registers,
    collect() {
      this.set(deps.mempool.size);
    },
  });
  new Gauge({
    name: "cloudcoin_mempool_bytes",
    help: "Encoded bytes of the transactions in the mempool",
    registers,
    collect() {
      this.set(deps.mempool.bytes);
    },
  });
  new Gauge({
    name: "cloudcoin_peers",
    help: "Connected libp2p peers",
    registers,
    collect() {
      this.set(deps.peers?.() ?? 0);
    },
  });
  const gossip = new Counter({
    name: "cloudcoin_gossip_messages_total",
    help: "Gossip messages by topic and validation verdict (reject: invalid, the sending peer penalized)",
    labelNames: ["topic", "verdict"] as const,
    registers,
  });
  const rpcDuration = new Histogram({
    name: "cloudcoin_rpc_request_duration_seconds",
    help: "JSON-RPC call duration by method (unknown names as (unknown), malformed requests as (invalid))",
    labelNames: ["method"] as const,
    buckets: RPC_BUCKETS,
    registers,
  });
  // Bounded: dispatch labels calls only with the table's names, (unknown) and (invalid).
  const rpcDurationByMethod = new Map<string, ReturnType<typeof rpcDuration.labels>>();
  const rpcErrors = new Counter({
    name: "cloudcoin_rpc_errors_total",
    help: "JSON-RPC error responses by error code",
    labelNames: ["code"] as const,
    registers,
  });
  const txs = new Counter({
    name: "cloudcoin_txs_total",
    help: "Finalized transactions by receipt result",
    labelNames: ["result"] as const,
    registers,
  });
  // Both series exist from the start, so rate() works before the first failure.
  txs.inc({ result: "ok" }, 0);
  txs.inc({ result: "failed" }, 0);
  const evidence = new Counter({ name: "cloudcoin_evidence_total", help: "Evidence included in finalized blocks", registers });
  const proofs = new Counter({
    name: "cloudcoin_proofs_total",
    help: "Storage proofs and bandwidth attestations in finalized blocks by kind and outcome (ok, or the failed receipt's code)",
    labelNames: ["kind", "outcome"] as const,
    registers,
  });
  for (const kind of PROOF_OPS.values()) proofs.inc({ kind, outcome: "ok" }, 0);

  return {
    registry,
    recordCommit(c) {
      height.set(Number(c.height));
      const seconds = (deps.now() - Number(c.timeMs)) / 1000;
      // A clock behind the proposer's would give a negative latency: not a sample.
      if (seconds >= 0) latency.observe(seconds);
      if (c.round > 0) rounds.inc(c.round);
      if (c.txsOk > 0) txs.inc({ result: "ok" }, c.txsOk);
      if (c.txsFailed > 0) txs.inc({ result: "failed" }, c.txsFailed);
      if (c.evidence > 0) evidence.inc(c.evidence);
      for (const p of c.proofs ?? []) proofs.inc({ kind: p.kind, outcome: p.outcome });
    },
    observeRpc(method, seconds, ok, errorCode) {
      // The labelled child per method, found once: observe({ method }) would hash the labels on every call.
      let child = rpcDurationByMethod.get(method);
      if (child === undefined) rpcDurationByMethod.set(method, (child = rpcDuration.labels({ method })));
      child.observe(seconds);
      if (!ok) rpcErrors.inc({ code: String(errorCode ?? "unknown") });
    },
    recordGossip(topic, verdict) {
      gossip.inc({ topic, verdict });
    },
  };
}
