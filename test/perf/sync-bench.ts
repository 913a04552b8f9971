/**
 * Block sync speed (issue 4): a node that is 10,000 blocks behind catches up from a peer over
 * real libp2p hosts on 127.0.0.1 (p2p/sync.ts BlockSync, the node's own path: verifyCommit
 * against the validator set it knows, applyBlock, then the atomic BlockStore.commitBlock).
 *
 * Ceiling, in the same run: the same blocks replayed from the serving store's bytes with the same
 * verify + apply + commit and no network. The ratio is what the sync protocol costs on top of
 * the work a node must do anyway.
 *
 * Both hosts run in this process (the serving side only reads stored bytes; the catching-up side
 * does all the work), so the figure is one core's worth of catching up.
 */
import { join } from "node:path";
import { generateKeyPair } from "@libp2p/crypto/keys";
import pino from "pino";
import { decodeBlock, decodeCommit, verifyCommit, type Block, type Commit } from "../../chain/block.ts";
import { BlockStore } from "../../chain/store.ts";
import { applyBlock, buildBlock } from "../../chain/transition.ts";
import { clearVerifiedTxCache } from "../../chain/tx.ts";
import type { ChainState } from "../../chain/state.ts";
import { genesisState } from "../../genesis/schema.ts";
import { P2PHost } from "../../p2p/host.ts";
import { BlockSync, storeBlockSource, syncHandler, syncProtocol } from "../../p2p/sync.ts";
import { BENCH_CHAIN_ID, buildWorld, commitFor, GENESIS_TIME_MS, prng, signTransfers, type BenchWorld } from "./fixtures.ts";

export interface SyncFigures {
  readonly blocks: number;
  readonly txs: number;
  readonly buildSeconds: number;
  /** Replay from stored bytes: decode + verifyCommit + applyBlock + commitBlock, no network. */
  readonly localBlocksPerSec: number;
  readonly localTxsPerSec: number;
  /** The same work fed by BlockSync over libp2p. */
  readonly syncBlocksPerSec: number;
  readonly syncTxsPerSec: number;
  readonly ratio: number;
  /** The local replay's time split by phase, in seconds: reading the stored bytes, decoding them,
   * verifying the commit, applyBlock (signatures, execution and the state root) and commitBlock. */
  readonly phases: { read: number; decode: number; verifyCommit: number; apply: number; commit: number };
  /** Local replay time / (apply + commit time alone): what the replay costs beyond the work any
   * node must do for a block (the bound: within 2x). */
  readonly replayOverPartsRatio: number;
  /** Largest number of blocks applied between two requests (memory bound: one batch). */
  readonly maxBatch: number;
}

const silent = pino({ level: "silent" });

async function openStore(path: string, world: BenchWorld): Promise<BlockStore> {
  return BlockStore.open(path, { chainId: BENCH_CHAIN_ID, genesisHash: world.genesis.hash, genesisState: () => genesisState(world.genesis) });
}

/** Builds `blocks` blocks of `txsPerBlock` transfers into a store at `path` (the serving node's data). */
async function buildSource(world: BenchWorld, path: string, blocks: number, txsPerBlock: number): Promise<BlockStore> {
  const store = await openStore(path, world);
  const rand = prng(7);
  const nonces = world.senders.map(() => 0n);
  let state: ChainState = world.state;
  let lastCommit: Commit | null = null;
  let next = 0;
  for (let b = 0; b < blocks; b++) {
    const items = Array.from({ length: txsPerBlock }, () => {
      const sender = next++ % world.senders.length;
      return { sender, nonce: nonces[sender]!++ };
    });
    const txs = signTransfers(world, items, rand);
    const height = state.meta().height + 1n;
    const built = buildBlock(state, txs, { chainId: BENCH_CHAIN_ID, params: world.params, proposer: world.validator, time: BigInt(GENESIS_TIME_MS) + height * 1000n, lastCommit });
    if (built.block.txs.length !== txs.length || built.receipts.some((r) => !r.ok)) throw new Error(`block ${height}: a valid transfer was left out or failed`);
    const commit = commitFor(world, built.block);
    await store.commitBlock(built.block, commit, built);
    state = built.state;
    lastCommit = commit;
  }
  return store;
}

/** The catching-up node's work for one block, the same as ConsensusDriver.applySynced minus consensus. */
function applier(world: BenchWorld, store: BlockStore) {
  let state: ChainState = world.state;
  return {
    height: () => state.meta().height,
    root: () => state.root(),
    async apply(block: Block, commit: Commit, time?: (phase: "verifyCommit" | "apply" | "commit", ms: number) => void): Promise<void> {
      const t0 = performance.now();
      verifyCommit(BENCH_CHAIN_ID, state.validators(), block.header.height, block.hash, commit);
      const t1 = performance.now();
      const result = applyBlock(state, block, world.params, BENCH_CHAIN_ID);
      const t2 = performance.now();
      await store.commitBlock(block, commit, result);
      const t3 = performance.now();
      state = result.state;
      time?.("verifyCommit", t1 - t0);
      time?.("apply", t2 - t1);
      time?.("commit", t3 - t2);
    },
  };
}

export async function benchSync(dir: string, opts: { blocks: number; txsPerBlock: number; senders: number }, log: (s: string) => void): Promise<SyncFigures> {
  const world = buildWorld({ senders: opts.senders, totalAccounts: opts.senders * 4 });
  const t0 = performance.now();
  const source = await buildSource(world, join(dir, "source"), opts.blocks, opts.txsPerBlock);
  const buildSeconds = (performance.now() - t0) / 1000;
  const txs = opts.blocks * opts.txsPerBlock;
  log(`  built ${opts.blocks} blocks (${txs} transfers) into the serving store in ${buildSeconds.toFixed(1)} s`);

  // ceiling: replay the stored bytes locally
  const localStore = await openStore(join(dir, "local"), world);
  const syncedStore = await openStore(join(dir, "synced"), world);
  const local = applier(world, localStore);
  // a node catching up has verified none of these transactions (building them filled the cache)
  clearVerifiedTxCache();
  const phases = { read: 0, decode: 0, verifyCommit: 0, apply: 0, commit: 0 };
  const t1 = performance.now();
  for (let h = 1n; h <= BigInt(opts.blocks); h++) {
    const p0 = performance.now();
    const [b, c] = await Promise.all([source.getBlockBytes(h), source.getCommitBytes(h)]);
    const p1 = performance.now();
    const block = decodeBlock(b!);
    const commit = decodeCommit(c!);
    const p2 = performance.now();
    await local.apply(block, commit, (name, ms) => (phases[name] += ms));
    phases.read += p1 - p0;
    phases.decode += p2 - p1;
  }
  const localSeconds = (performance.now() - t1) / 1000;
  const secs = { read: phases.read / 1000, decode: phases.decode / 1000, verifyCommit: phases.verifyCommit / 1000, apply: phases.apply / 1000, commit: phases.commit / 1000 };

  // the real thing: BlockSync over libp2p
  const server = await P2PHost.start({
    privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [], log: silent, topics: new Map(),
    protocols: new Map([[syncProtocol(BENCH_CHAIN_ID), syncHandler(storeBlockSource(source, world.genesis.hash))]]),
  });
  const me = await P2PHost.start({ privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [server.listenAddresses()[0]!], log: silent, topics: new Map(), protocols: new Map() });
  try {
    const deadline = Date.now() + 10_000;
    while (me.peers().length === 0) {
      if (Date.now() > deadline) throw new Error("the two hosts did not connect");
      await new Promise((r) => setTimeout(r, 20));
    }
    const target = applier(world, syncedStore);
    let batch = 0;
    let maxBatch = 0;
    const sync = new BlockSync({
      net: {
        connectedPeers: () => me.peers().map((p) => p.peerId),
        request: (p, proto, d, m) => {
          maxBatch = Math.max(maxBatch, batch);
          batch = 0;
          return me.request(p, proto, d, m);
        },
        penalize: (p, pts, r) => me.penalize(p, pts, r),
      },
      target: {
        headHeight: () => target.height(),
        applySynced: async (block, commit) => {
          await target.apply(block, commit);
          batch++;
        },
      },
      chainId: BENCH_CHAIN_ID, genesisHash: world.genesis.hash, log: silent,
    });
    clearVerifiedTxCache();
    const t2 = performance.now();
    await sync.initialSync(5_000);
    const syncSeconds = (performance.now() - t2) / 1000;
    if (target.height() !== BigInt(opts.blocks)) throw new Error(`sync stopped at ${target.height()} of ${opts.blocks}`);
    if (Buffer.compare(target.root(), local.root()) !== 0) throw new Error("synced state root differs from the replayed one");
    return {
      blocks: opts.blocks, txs, buildSeconds,
      localBlocksPerSec: opts.blocks / localSeconds, localTxsPerSec: txs / localSeconds,
      syncBlocksPerSec: opts.blocks / syncSeconds, syncTxsPerSec: txs / syncSeconds,
      ratio: localSeconds / syncSeconds, maxBatch,
      phases: secs, replayOverPartsRatio: localSeconds / (secs.apply + secs.commit),
    };
  } finally {
    await Promise.all([me.stop(), server.stop()]);
    await Promise.all([source.close(), localStore.close(), syncedStore.close()]);
  }
}

/** The figures of `benchSync` as the lines and table rows every entry point prints. */
export function syncReport(sync: SyncFigures): { lines: string[]; rows: string[][] } {
  const ph = sync.phases;
  const fmt = (s: number): string => `${s.toFixed(2)} s`;
  return {
    lines: [
      `  local replay (verify commit + apply + store, no network): ${Math.round(sync.localBlocksPerSec)} blocks/s, ${Math.round(sync.localTxsPerSec)} tx/s`,
      `    of which read ${fmt(ph.read)}, decode ${fmt(ph.decode)}, verify commit ${fmt(ph.verifyCommit)}, applyBlock (incl. signatures and root) ${fmt(ph.apply)}, commitBlock ${fmt(ph.commit)}`,
      `  block sync over libp2p:                                  ${Math.round(sync.syncBlocksPerSec)} blocks/s, ${Math.round(sync.syncTxsPerSec)} tx/s  (at most ${sync.maxBatch} blocks per request)`,
    ],
    rows: [
      ["4. block sync (blocks/s) vs local replay", String(Math.round(sync.syncBlocksPerSec)), String(Math.round(sync.localBlocksPerSec)), sync.ratio.toFixed(2), ">= 0.8"],
      ["4. local replay time vs apply + commit alone", fmt(ph.apply + ph.commit), fmt(sync.blocks / sync.localBlocksPerSec), (1 / sync.replayOverPartsRatio).toFixed(2), ">= 0.5 (within 2x)"],
    ],
  };
}
