/**
 * Figure 3, measured server: the node's real JSON-RPC server (`startRpcServer`) with the real
 * method table, over a real state of RPC_ACCOUNTS funded accounts (built through the genesis
 * path). The store, mempool and the rest of the context are stubs: `state_getAccount` reads only
 * `headState()`, and a stub that is touched throws, so the benchmark would notice.
 *
 * Run by test/perf/rpc.ts as a child process: node --import tsx test/perf/rpc-real-server.ts
 */
import { serveForParent } from "./child.ts";
import { buildWorld } from "./fixtures.ts";
import { headOnlyStore, startBenchRpcServer } from "./rpc-bench-server.ts";
import { RPC_ACCOUNTS } from "./rpc-shared.ts";

serveForParent(async () => {
  const world = buildWorld({ senders: 0, totalAccounts: RPC_ACCOUNTS });
  const state = world.state;
  return startBenchRpcServer("state_getAccount", {
    chainId: world.genesis.chainId,
    genesisHash: world.genesis.hash,
    params: world.params,
    store: headOnlyStore("state_getAccount", { height: 0n, hash: world.genesis.hash }, 1n),
    headState: () => state,
  });
});
