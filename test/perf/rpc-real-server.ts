/**
 * Figure 3, measured server: the node's real JSON-RPC server (`startRpcServer`) with the real
 * method table, over a real state of RPC_ACCOUNTS funded accounts (built through the genesis
 * path). The store, mempool and the rest of the context are stubs: `state_getAccount` reads only
 * `headState()`, and a stub that is touched throws, so the benchmark would notice.
 *
 * Run by test/perf/rpc.ts as a child process: node --import tsx test/perf/rpc-real-server.ts
 */
import type { RpcContext } from "../../rpc/context.ts";
import { methods } from "../../rpc/methods.ts";
import { startRpcServer } from "../../rpc/server.ts";
import { serveForParent } from "./child.ts";
import { buildWorld } from "./fixtures.ts";
import { BENCH_RATE_LIMIT, RPC_ACCOUNTS } from "./rpc-shared.ts";

const notUsed = (what: string) => (): never => {
  throw new Error(`${what} is not used by the state_getAccount benchmark`);
};

serveForParent(async () => {
  const world = buildWorld({ senders: 0, totalAccounts: RPC_ACCOUNTS });
  const state = world.state;
  const ctx: RpcContext = {
    chainId: world.genesis.chainId,
    genesisHash: world.genesis.hash,
    nodeVersion: "bench",
    params: world.params,
    store: {
      head: { height: 0n, hash: world.genesis.hash },
      getBlock: notUsed("store.getBlock"),
      getBlockByHash: notUsed("store.getBlockByHash"),
      getCommit: notUsed("store.getCommit"),
      getReceipts: notUsed("store.getReceipts"),
      getTx: notUsed("store.getTx"),
      listAccountTxs: notUsed("store.listAccountTxs"),
      getValidators: notUsed("store.getValidators"),
      listChannels: notUsed("store.listChannels"),
      listDeals: notUsed("store.listDeals"),
      getEpochRewards: notUsed("store.getEpochRewards"),
    },
    evidencePool: { list: () => [] },
    consensusState: notUsed("consensusState"),
    headState: () => state,
    mempool: { size: 0, bytes: 0, get: () => undefined },
    submitTx: notUsed("submitTx"),
    vouchers: { getBestVoucher: notUsed("vouchers.getBestVoucher"), putBestVoucher: notUsed("vouchers.putBestVoucher") },
    serviceAccount: null,
    submitServiceTx: notUsed("submitServiceTx"),
    status: notUsed("status"),
  };
  // As the node runs it: results are not re-validated outside tests (CLOUDCOIN_RPC_CHECK_RESULTS).
  // The per-client rate limit stays on (its cost is measured) but high enough that the one load
  // client never reaches it: the default (defaultRpcRateLimit) would answer 429 within a second.
  return startRpcServer({ host: "127.0.0.1", port: 0, checkResults: false, rateLimit: BENCH_RATE_LIMIT }, methods, ctx);
});
