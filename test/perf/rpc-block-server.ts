/**
 * Figure 3b, measured server: the node's real JSON-RPC server (`startRpcServer`) with the real
 * method table, serving `chain_getBlock` from a real BlockStore (classic-level, in a temp
 * directory) holding RPC_BLOCKS real blocks of RPC_BLOCK_TXS signed transfers each, built with
 * the real `buildBlock` and written with `commitBlock`. Only the store is read; every other part
 * of the context is a stub that throws if touched, so the benchmark would notice.
 *
 * Run by test/perf/rpc.ts as a child process: node --import tsx test/perf/rpc-block-server.ts [TMPDIR]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlockStore } from "../../chain/store.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { serveForParent } from "./child.ts";
import { BENCH_CHAIN_ID, buildChain, buildWorld, prng, signTransfers } from "./fixtures.ts";
import { startBenchRpcServer } from "./rpc-bench-server.ts";
import { RPC_BLOCK_TXS, RPC_BLOCKS } from "./rpc-shared.ts";

const SENDERS = 50;
const ACCOUNTS = 1_000;

serveForParent(async () => {
  const world = buildWorld({ senders: SENDERS, totalAccounts: ACCOUNTS });
  // Transfer j of the chain is sent by sender j mod SENDERS with nonce floor(j / SENDERS).
  const rand = prng(7);
  const txsPerBlock: SignedTx[][] = [];
  for (let b = 0; b < RPC_BLOCKS; b++) {
    const items = Array.from({ length: RPC_BLOCK_TXS }, (_, i) => {
      const j = b * RPC_BLOCK_TXS + i;
      return { sender: j % SENDERS, nonce: BigInt(Math.floor(j / SENDERS)) };
    });
    txsPerBlock.push(signTransfers(world, items, rand));
  }
  const chain = buildChain(world, world.state, txsPerBlock);

  // Under the parent's temp directory when it gives one (removed by the parent on any exit).
  const dir = await mkdtemp(join(process.argv[2] ?? tmpdir(), "blocks-"));
  const store = await BlockStore.open(join(dir, "chain"), { chainId: BENCH_CHAIN_ID, genesisHash: world.genesis.hash, genesisState: () => world.state });
  try {
    for (let i = 0; i < chain.blocks.length; i++) await store.commitBlock(chain.blocks[i]!, chain.commits[i]!, chain.results[i]!);
  } catch (e) {
    await store.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const head = chain.states[chain.states.length - 1]!;
  const server = await startBenchRpcServer("chain_getBlock", { chainId: BENCH_CHAIN_ID, genesisHash: world.genesis.hash, params: world.params, store, headState: () => head });
  return {
    port: server.port,
    close: async () => {
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
