/**
 * Figure 2: the time to commit a block of N transfers on a state that already holds ~100k
 * accounts, in two parts measured separately:
 *
 *  - state root: `state.tree.update(changes)` + `.root()` on the state the node holds, which reads
 *    the store (chain/state.ts DiskTree): the changed paths' node records are read (through the
 *    store's cache, cold here: the store was just opened) and rewritten, hashing only those;
 *  - write: `BlockStore.commitBlock` — the block, commit, receipts, state changes, tx and
 *    account indexes, current-state records and the head in ONE atomic classic-level batch.
 *
 * Ceiling for the write: a raw classic-level chained batch carrying the same operations (the same
 * keys and values, prebuilt before the clock starts: the block's records, the state records, the
 * state tree's node records and the undo records of both), so `commitBlock / raw` is the price of
 * building the batch in JS on top of LevelDB's own cost. The warm-up repetition records the batch
 * commitBlock writes and checks that it is exactly these operations, in the same order. Both are
 * synced writes (a block reported final must survive a power loss). Before the clock, the records
 * the block changes are read through the state, as executing the block does on a node (so they are
 * in the store's cache).
 *
 * Every repetition writes to a fresh copy of a store holding the genesis state (~100k records,
 * settled in a table file), so the write meets a store of realistic size, like a running node.
 * The two alternate which goes first, and a full garbage collection runs before each timed part:
 * neither is charged for the other's garbage, nor for the state root's.
 *
 * CPU time (process.cpuUsage) counts LevelDB's threads too, so a background compaction that
 * happens to run during one of the two is charged to it: such repetitions take 2-4 times the
 * others. The medians and the median of the per-repetition ratios are the figures; min and max
 * show the spread.
 */
import { cp, rm } from "node:fs/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { encodeCommit, type Block, type Commit } from "../../chain/block.ts";
import { concatBytes, equalBytes, toHex, u32be, u64be, utf8 } from "../../primitives/bytes.ts";
import { encode, u64 } from "../../primitives/codec.ts";
import { BlockStore, DEFAULT_MAX_OPEN_FILES, StateCache } from "../../chain/store.ts";
import type { BlockResult } from "../../chain/transition.ts";
import { pagedUpdate } from "../../chain/smt.ts";
import { ChainState, encodeValidators } from "../../chain/state.ts";
import { txParticipants } from "../../chain/tx.ts";
import { BENCH_CHAIN_ID, buildChain, prng, signTransfers, type BenchWorld } from "./fixtures.ts";
import { median, timeMs, timeMsAsync } from "./stats.ts";

export interface CommitFigures {
  readonly txs: number;
  readonly reps: number;
  readonly changes: number;
  /** Operations in the batch (puts, and the deletion of the own-proposal record). */
  readonly ops: number;
  readonly blockBytes: number;
  /** Medians, ms. */
  readonly rootMs: number;
  readonly writeMs: number;
  readonly rawWriteMs: number;
  readonly totalMs: number;
  /** Median of per-repetition raw / commitBlock (1.0 = commitBlock costs no more than raw LevelDB). */
  readonly writeRatio: number;
  /**
   * The same from the CPU time this process spent (all its threads: the JS thread building the
   * batch, LevelDB's write on the thread pool), median ms and the median per-repetition ratio: on a
   * machine shared with other work, wall time also counts waiting for a core, CPU time much less.
   */
  readonly writeCpuMs: number;
  readonly rawCpuMs: number;
  readonly cpuRatio: number;
  readonly rootSamples: number[];
  readonly writeSamples: number[];
  readonly rawSamples: number[];
  readonly writeCpuSamples: number[];
  readonly rawCpuSamples: number[];
}

/** How BlockStore.open opens its database (chain/store.ts): the ceiling's database is opened the same way. */
const STORE_DB_OPTIONS = { compression: false, maxOpenFiles: DEFAULT_MAX_OPEN_FILES };

/** A batch operation: a put, or a deletion (value null). */
type Op = readonly [Uint8Array, Uint8Array | null];

/** A full garbage collection (V8's gc(), made available without --expose-gc). */
setFlagsFromString("--expose-gc");
const fullGc = runInNewContext("gc") as () => void;

/**
 * The operations `commitBlock` issues for this block, in its order, per the layout documented in
 * chain/store.ts (prefix byte + big-endian height etc.), built in advance for the raw-batch
 * ceiling. The state changes of a transfer block are never deletions, so every state entry is a put.
 */
function commitOps(block: Block, commit: Commit, result: BlockResult, base: ClassicLevel<Uint8Array, Uint8Array>): Op[] {
  const k = (prefix: string, ...parts: Uint8Array[]) => concatBytes(utf8.encode(prefix), ...parts);
  const hb = u64be(block.header.height);
  const ops: Op[] = [
    [k("B", hb), block.bytes],
    [k("H", block.hash), hb],
    [k("K", hb), encodeCommit(commit)],
    [k("V", hb), encodeValidators(result.state.lastValidators())],
    [k("R", hb), encode(result.receipts.map((r) => [r.txHash, r.ok, r.code, u64(r.fee)]))],
    [k("C", hb), encode(result.changes.map(([key, v]) => [key, v]))],
  ];
  block.txs.forEach((tx, i) => {
    ops.push([k("T", tx.hash), concatBytes(hb, u32be(i))]);
    for (const who of txParticipants(tx)) ops.push([k("A", who, hb, u32be(i)), tx.hash]);
  });
  const undo = (dk: Uint8Array): Op => {
    const old = base.getSync(dk);
    return [k("U", hb, dk), old ?? new Uint8Array(0)];
  };
  for (const [key, v] of result.changes) {
    if (v === null) throw new Error("a transfer block should not delete state records");
    ops.push(undo(k("S", key)), [k("S", key), v]);
  }
  // the tree's node records the changes rewrite, computed as the store does over the stored tree
  for (const [path, r] of pagedUpdate((p) => base.getSync(k("N", p)), result.changes).writes) {
    if (r === null) throw new Error("a transfer block should not delete tree nodes");
    ops.push(undo(k("N", path)), [k("N", path), r]);
  }
  ops.push([k("M", utf8.encode("head")), encode([u64(block.header.height), block.hash])]);
  ops.push([k("M", utf8.encode("proposal")), null]);
  return ops;
}

/**
 * Runs `fn` with every classic-level chained batch recording its operations (copied), and returns
 * them: what commitBlock wrote, to check the raw ceiling against. Only in the warm-up repetition.
 */
async function recordBatches(probeDir: string, fn: () => Promise<void>): Promise<Op[]> {
  const probe = new ClassicLevel<Uint8Array, Uint8Array>(probeDir, { keyEncoding: "view", valueEncoding: "view" });
  await probe.open();
  type Put = (this: unknown, key: Uint8Array, value: Uint8Array, ...rest: unknown[]) => unknown;
  type Del = (this: unknown, key: Uint8Array, ...rest: unknown[]) => unknown;
  const proto = Object.getPrototypeOf(probe.batch()) as { put: Put; del: Del };
  await probe.close();
  const { put, del } = proto;
  const seen: Op[] = [];
  proto.put = function (this: unknown, key: Uint8Array, value: Uint8Array, ...rest: unknown[]) {
    seen.push([key.slice(), value.slice()]);
    return put.call(this, key, value, ...rest);
  };
  proto.del = function (this: unknown, key: Uint8Array, ...rest: unknown[]) {
    seen.push([key.slice(), null]);
    return del.call(this, key, ...rest);
  };
  try {
    await fn();
  } finally {
    proto.put = put;
    proto.del = del;
  }
  return seen;
}

/** Where two operation lists first differ, or undefined if they are the same. */
function firstDifference(a: readonly Op[], b: readonly Op[]): string | undefined {
  const show = (op: Op | undefined) => (op === undefined ? "nothing" : `${op[1] === null ? "del" : "put"} ${toHex(op[0]).slice(0, 40)}`);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined || !equalBytes(x[0], y[0]) || (x[1] === null) !== (y[1] === null) || (x[1] !== null && !equalBytes(x[1], y[1]!))) {
      return `operation ${i}: commitBlock ${show(x)}, ceiling ${show(y)}`;
    }
  }
  return undefined;
}

const CHAIN = (world: BenchWorld) => ({ chainId: BENCH_CHAIN_ID, genesisHash: world.genesis.hash, genesisState: () => world.state });

/**
 * A closed store holding the genesis state (~100k records), made once and copied for every
 * repetition. It is opened and closed twice so that LevelDB has moved the records from its log
 * into a table file: a copy then opens with an empty memtable, like a running node's store.
 */
async function makeTemplateStore(path: string, world: BenchWorld): Promise<void> {
  await (await BlockStore.open(path, CHAIN(world))).close(); // writes the genesis records
  await (await BlockStore.open(path, CHAIN(world))).close(); // recovers the log into a table
}

export async function benchCommit(world: BenchWorld, opts: { txs: number; reps: number; tmpDir: string; seed: number }, log: (s: string) => void): Promise<CommitFigures> {
  const { txs, reps, tmpDir } = opts;
  // Transfer j is sent by sender j mod S with nonce floor(j / S) (S = number of senders), to a
  // deterministic random recipient: with 2,000 senders, a 10,000-tx block has 5 txs per sender.
  const s = world.senders.length;
  const list = signTransfers(world, Array.from({ length: txs }, (_, j) => ({ sender: j % s, nonce: BigInt(Math.floor(j / s)) })), prng(opts.seed));
  const built = buildChain(world, world.state, [list]);
  const block = built.blocks[0]!;
  const commit = built.commits[0]!;
  const result = built.results[0]!;

  const template = join(tmpDir, `template-${txs}`);
  await makeTemplateStore(template, world);
  const base = new ClassicLevel<Uint8Array, Uint8Array>(template, { keyEncoding: "view", valueEncoding: "view" });
  await base.open();
  let ops: Op[];
  try {
    ops = commitOps(block, commit, result, base);
  } finally {
    await base.close();
  }

  const rootSamples: number[] = [];
  const writeSamples: number[] = [];
  const rawSamples: number[] = [];
  const writeCpu: number[] = [];
  const rawCpu: number[] = [];
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  /** commitBlock into a copy of the genesis store, of the state the node holds (read from the store). */
  const viaStore = async (rep: number): Promise<{ rootMs: number; ms: number; cpu: number }> => {
    const storeDir = join(tmpDir, `store-${txs}-${rep}`);
    await cp(template, storeDir, { recursive: true });
    const store = await BlockStore.open(storeDir, CHAIN(world));
    try {
      const disk = await store.loadState(() => world.state.root());
      // what executing the block does first: read the records it changes (into the store's cache)
      for (const [k] of result.changes) disk.get(k);
      let root: Uint8Array = new Uint8Array(0);
      let tree = disk.tree;
      const rootMs = timeMs(() => void (root = (tree = disk.tree.update(result.changes)).root()));
      if (!equalBytes(root, block.header.stateRoot)) throw new Error(`state root of the ${txs}-tx block differs from its header`);
      const onDisk = { ...result, state: new ChainState(tree, block.hash) };
      const write = () => store.commitBlock(block, commit, onDisk);
      let ms: number;
      let cpu: number;
      if (rep === 0) {
        // the warm-up: the ceiling must be exactly what commitBlock writes
        const written = await recordBatches(join(tmpDir, `probe-${txs}`), write);
        const diff = firstDifference(written, ops);
        if (diff !== undefined) throw new Error(`the raw ceiling is not commitBlock's batch: ${diff}`);
        ms = cpu = 0;
      } else {
        fullGc();
        const c0 = process.cpuUsage();
        ms = await timeMsAsync(write);
        cpu = cpuMs(c0);
      }
      const back = await store.getBlock(1n);
      if (store.head.height !== 1n || !back || !equalBytes(back.hash, block.hash)) throw new Error("commitBlock did not store the block");
      return { rootMs, ms, cpu };
    } finally {
      await store.close();
      await rm(storeDir, { recursive: true, force: true });
    }
  };
  /** The raw ceiling: the same operations, prebuilt, in one chained batch, on another copy. */
  const raw = async (rep: number): Promise<{ ms: number; cpu: number }> => {
    const rawDir = join(tmpDir, `raw-${txs}-${rep}`);
    await cp(template, rawDir, { recursive: true });
    const db = new ClassicLevel<Uint8Array, Uint8Array>(rawDir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open(STORE_DB_OPTIONS);
    try {
      fullGc();
      const c0 = process.cpuUsage();
      const ms = await timeMsAsync(async () => {
        const batch = db.batch();
        for (const [key, v] of ops) {
          if (v === null) batch.del(key);
          else batch.put(key, v);
        }
        await batch.write({ sync: true }); // as durable as commitBlock's
      });
      return { ms, cpu: cpuMs(c0) };
    } finally {
      await db.close();
      await rm(rawDir, { recursive: true, force: true });
    }
  };
  for (let rep = 0; rep <= reps; rep++) {
    // alternate which goes first: neither always meets the disk and the page cache the other left
    let w: Awaited<ReturnType<typeof viaStore>>;
    let r: Awaited<ReturnType<typeof raw>>;
    if (rep % 2 === 0) {
      w = await viaStore(rep);
      r = await raw(rep);
    } else {
      r = await raw(rep);
      w = await viaStore(rep);
    }
    if (rep === 0) {
      log(`  ${txs} txs: warm-up repetition done (commitBlock's batch checked against the ceiling's ${ops.length} operations)`);
      continue;
    }
    rootSamples.push(w.rootMs);
    writeSamples.push(w.ms);
    rawSamples.push(r.ms);
    writeCpu.push(w.cpu);
    rawCpu.push(r.cpu);
    log(`  ${txs} txs, repetition ${rep}/${reps}: root ${w.rootMs.toFixed(1)} ms, commitBlock ${w.ms.toFixed(1)} ms (CPU ${w.cpu.toFixed(1)}), raw batch ${r.ms.toFixed(1)} ms (CPU ${r.cpu.toFixed(1)}); raw / commitBlock ${(r.ms / w.ms).toFixed(2)} (CPU ${(r.cpu / w.cpu).toFixed(2)})`);
  }
  await rm(template, { recursive: true, force: true });
  const rootMs = median(rootSamples);
  const writeMs = median(writeSamples);
  return {
    txs,
    reps,
    changes: result.changes.length,
    ops: ops.length,
    blockBytes: block.bytes.length,
    rootMs,
    writeMs,
    rawWriteMs: median(rawSamples),
    totalMs: median(rootSamples.map((r, i) => r + writeSamples[i]!)),
    writeRatio: median(rawSamples.map((r, i) => r / writeSamples[i]!)),
    writeCpuMs: median(writeCpu),
    rawCpuMs: median(rawCpu),
    cpuRatio: median(rawCpu.map((r, i) => r / writeCpu[i]!)),
    rootSamples,
    writeSamples,
    rawSamples,
    writeCpuSamples: writeCpu,
    rawCpuSamples: rawCpu,
  };
}

/**
 * What updating the store's state cache after a block's commit costs (chain/store.ts StateCache):
 * a layer of `records` state records and `nodes` tree nodes put into the cache one entry at a time
 * (as commitBlock did), against kept as a generation (`adopt`, as it does now), on a cache of the
 * default size that has taken `blocks` such blocks before. Medians of CPU ms per block.
 */
export function benchCacheUpdate(opts: { records: number; nodes: number; blocks: number; reps: number }): { setMs: number; adoptMs: number } {
  const mk = (n: number, prefix: string, block: number): Map<string, Uint8Array | null> =>
    new Map(Array.from({ length: n }, (_, i) => [prefix + String.fromCharCode(i & 255, (i >> 8) & 255, (i >> 16) & 255, block & 255), new Uint8Array(66)] as [string, Uint8Array | null]));
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const set: number[] = [];
  const adopt: number[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    for (const mode of ["set", "adopt"] as const) {
      const layers = Array.from({ length: opts.blocks }, (_, b) => [mk(opts.records, "r", b), mk(opts.nodes, "n", b)] as const);
      const cache = new StateCache(64 * 1024 * 1024);
      const c0 = cpu();
      for (const [records, nodes] of layers) {
        if (mode === "adopt") cache.adopt(records, nodes);
        else {
          for (const [id, v] of records) cache.set(0, id, v);
          for (const [id, v] of nodes) cache.set(1, id, v);
        }
      }
      (mode === "set" ? set : adopt).push((cpu() - c0) / opts.blocks);
    }
  }
  return { setMs: median(set), adoptMs: median(adopt) };
}
