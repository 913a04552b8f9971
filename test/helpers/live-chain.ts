/**
 * A test chain that makes a block from its mempool every `blockMs`, stored in a real BlockStore
 * and served by the real JSON-RPC server on 127.0.0.1 (ephemeral port): for plugins and CLI
 * commands that talk to a node, in process, without consensus or p2p. Stopped at teardown.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Test } from "tap";
import { Mempool } from "../../chain/mempool.ts";
import { BlockStore } from "../../chain/store.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { genesisState } from "../../genesis/schema.ts";
import { RpcClient } from "../../rpc/client.ts";
import { startRpcServer } from "../../rpc/server.ts";
import { methods } from "../../modules/rpc.ts";
import { advance, newTestChain, type TestChain, type TestChainOptions } from "./chain.ts";
import { testRpcContext } from "./rpc-context.ts";

export interface LiveChain {
  chain: TestChain;
  rpcUrl: string;
  rpc: RpcClient;
  height: () => bigint;
}

export async function liveChain(t: Test, opts: TestChainOptions, blockMs: number): Promise<LiveChain> {
  const chain = newTestChain(opts);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-live-chain-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(dir, { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => chain.state.account(sender).nonce });
  const ctx = testRpcContext({ chain, store, mempool }, {
    status: () => ({ validator: null, consensus: { engine: "test", height: chain.state.meta().height + 1n, round: 0, step: null }, failure: null, startedAt: Date.now() }),
  });
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [], checkResults: true }, methods, ctx);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    if (stopped) return;
    running = (async () => {
      const txs = mempool.select({ maxTxs: 200, maxBytes: 1 << 20 });
      const built = advance(chain, txs);
      await store.commitBlock(built.block, chain.lastCommit!, built);
      for (const r of built.rejected) mempool.remove(r.tx.hash);
      mempool.onBlockCommitted(built.block.txs.map((x) => x.hash), txs.map((x) => x.sender));
    })().catch((e: unknown) => {
      t.fail(`block production: ${(e as Error).message}`);
    }).finally(() => {
      if (!stopped) timer = setTimeout(tick, blockMs);
    });
  };
  tick();
  t.teardown(async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
    await server.close();
    await store.close();
  });
  return { chain, rpcUrl: server.url, rpc: new RpcClient(server.url), height: () => chain.state.meta().height };
}
