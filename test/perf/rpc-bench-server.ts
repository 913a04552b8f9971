/**
 * The measured side of figures 3 and 3b: the node's real JSON-RPC server (`startRpcServer`) with
 * the real method table over a given store and head state. Everything else in the context is a
 * stub that throws if touched, so a benchmark that wanders off its path notices.
 */
import { createNodeMetrics } from "../../node/metrics.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { startRpcServer, type RpcServer } from "../../rpc/server.ts";
import { BENCH_RATE_LIMIT } from "./rpc-shared.ts";
import { methods } from "../../modules/rpc.ts";

export function notUsedBy(figure: string) {
  return (what: string) => (): never => {
    throw new Error(`${what} is not used by the ${figure} benchmark`);
  };
}

/** A store for a figure that reads only the head state: its head and base, and every read a stub that throws. */
export function headOnlyStore(figure: string, head: RpcContext["store"]["head"], base: bigint): RpcContext["store"] {
  const notUsed = notUsedBy(figure);
  return {
    head,
    base,
    recentBlock: notUsed("store.recentBlock"),
    getBlock: notUsed("store.getBlock"),
    getBlockByHash: notUsed("store.getBlockByHash"),
    getCommit: notUsed("store.getCommit"),
    getReceipts: notUsed("store.getReceipts"),
    getTx: notUsed("store.getTx"),
    listAccountTxs: notUsed("store.listAccountTxs"),
    getValidators: notUsed("store.getValidators"),
    listIndex: notUsed("store.listIndex"),
    readIndex: notUsed("store.readIndex"),
    getEndedEpoch: notUsed("store.getEndedEpoch"),
    stateAt: notUsed("store.stateAt"),
  };
}

export function startBenchRpcServer(
  figure: string,
  parts: Pick<RpcContext, "chainId" | "genesisHash" | "params" | "store" | "headState">,
): Promise<RpcServer> {
  const notUsed = notUsedBy(figure);
  const ctx: RpcContext = {
    ...parts,
    nodeVersion: "bench",
    evidencePool: { list: () => [] },
    consensusState: notUsed("consensusState"),
    mempool: { size: 0, bytes: 0, get: () => undefined },
    submitTx: notUsed("submitTx"),
    vouchers: { getBestVoucher: notUsed("vouchers.getBestVoucher"), putBestVoucher: notUsed("vouchers.putBestVoucher") },
    serviceAccount: null,
    submitServiceTx: notUsed("submitServiceTx"),
    status: notUsed("status"),
  };
  // As the node runs it: results are not re-validated outside tests (CLOUDCOIN_RPC_CHECK_RESULTS),
  // every call is observed by the node's metrics (latency histogram by method, error counter).
  // The per-client rate limit stays on (its cost is measured) but high enough that the one load
  // client never reaches it: the default (defaultRpcRateLimit) would answer 429 within a second.
  const metrics = createNodeMetrics({ mempool: ctx.mempool, now: () => Date.now() });
  return startRpcServer({ host: "127.0.0.1", port: 0, checkResults: false, rateLimit: BENCH_RATE_LIMIT, observe: metrics.observeRpc, metrics: metrics.registry }, methods, ctx);
}
