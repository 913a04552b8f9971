/**
 * Installing a state snapshot into a block store (issue #20), on real classic-level databases in temp
 * dirs: the installed state reaches the snapshot block's root and the store then takes the next
 * blocks like any other; it reopens with a base (rolling and full checks from there), refuses a
 * repair that would need the blocks below it, answers reads below it as pruned; and an install cut
 * short (a crash) is found at the next open, never taken for a state.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { concatBytes, toHex, u64be } from "../../../primitives/bytes.ts";
import { encode } from "../../../primitives/codec.ts";
import type { Block, Commit } from "../../../chain/block.ts";
import { BlockStore, StoreErrorCode } from "../../../chain/store.ts";
import type { BuiltBlock } from "../../../chain/transition.ts";
import { verifyChunk, verifyManifest, type Manifest } from "../../../chain/snapshot.ts";
import { hashStateKey, SubtreeKind } from "../../../chain/smt.ts";
import { genesisState, type Genesis } from "../../../genesis/schema.ts";
import { fundingChain, type TestChain } from "../../helpers/chain.ts";

function tmpDir(t: Test, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-statesync-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

const chainOf = (gen: Genesis) => ({ chainId: gen.chainId, genesisHash: gen.hash, genesisState: () => genesisState(gen) });

interface Made {
  readonly chain: TestChain;
  readonly blocks: { block: Block; commit: Commit; built: BuiltBlock }[];
}

const makeChain = (n: number, perBlock = 6): Made => fundingChain(n, perBlock);

/** The snapshot of `source` at `height`, as a client fetches it: manifest and every non-empty chunk, paged. */
function snapshotOf(source: BlockStore, height: bigint, depth: number, pageBytes: number): { manifest: Manifest; chunks: Map<number, [Uint8Array, Uint8Array][]> } {
  const manifest: Manifest = { depth, ...source.snapshotManifest(height, depth) };
  const chunks = new Map<number, [Uint8Array, Uint8Array][]>();
  for (let i = 0; i < 1 << depth; i++) {
    if (manifest.kinds[i] === SubtreeKind.EMPTY) continue;
    const records: [Uint8Array, Uint8Array][] = [];
    let after: Uint8Array | undefined;
    for (;;) {
      const page = source.snapshotChunk(height, depth, i, after, pageBytes);
      records.push(...page.records);
      if (!page.more) break;
      after = hashStateKey(records[records.length - 1]![0]);
    }
    chunks.set(i, records);
  }
  return { manifest, chunks };
}

async function sourceStore(t: Test, made: Made, history = 100): Promise<BlockStore> {
  const store = await BlockStore.open(tmpDir(t, "source"), chainOf(made.chain.genesis), { stateHistory: history });
  t.teardown(() => store.close());
  for (const b of made.blocks) await store.commitBlock(b.block, b.commit, b.built);
  return store;
}

/** Installs `source`'s state at `height` into a fresh store at `dir` and returns it. */
async function install(source: BlockStore, made: Made, dir: string, height: bigint): Promise<BlockStore> {
  const snap = snapshotOf(source, height, 6, 300);
  const { block, commit } = made.blocks[Number(height) - 1]!;
  verifyManifest(snap.manifest, block.header.stateRoot);
  const store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await store.beginStateSync(height);
  for (const [i, records] of snap.chunks) {
    verifyChunk(snap.manifest, i, records);
    await store.putSnapshotRecords(records);
  }
  await store.finishStateSync({ block, commit, validators: (await source.getValidators(height))! });
  return store;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

t.test("an installed snapshot reaches the block's root, takes the next blocks, and reopens with its base", async (t) => {
  const made = makeChain(14);
  const source = await sourceStore(t, made);
  const H = 9n;
  // pages smaller than a chunk: several pages per chunk, cut by keyHash
  const snap = snapshotOf(source, H, 6, 300);
  let records = 0;
  for (const c of snap.chunks.values()) records += c.length;
  const all: [Uint8Array, Uint8Array][] = [];
  for await (const r of (await source.stateAt(H)).tree.entries()) all.push(r);
  t.equal(records, all.length, "the chunks hold every record of the state at H");

  const dir = tmpDir(t, "target");
  let store = await install(source, made, dir, H);
  t.equal(store.head.height, H);
  t.equal(store.base, H);
  const state = await store.loadState(() => genesisState(made.chain.genesis).root());
  t.equal(toHex(state.root()), toHex(made.blocks[Number(H) - 1]!.block.header.stateRoot), "the installed state's root is block H's");
  // the next blocks commit over it (commitBlock checks each state root)
  for (const b of made.blocks.slice(Number(H))) await store.commitBlock(b.block, b.commit, b.built);
  t.equal(store.head.height, 14n);
  t.equal(toHex((await store.loadState(() => new Uint8Array(32))).root()), toHex(made.blocks[13]!.block.header.stateRoot), "and reaches the chain's root at the head");
  t.equal(await store.getBlock(H - 1n), undefined, "no block below the base");
  t.equal(await codeOf(store.checkHeights(1n, store.head.height, false)), StoreErrorCode.BLOCK_PRUNED, "a check from below the base is refused");
  t.equal(await codeOf(store.checkHeights(1n, store.head.height, true)), StoreErrorCode.CANNOT_REPLAY, "a replay from genesis is refused");
  await store.close();

  // the rolling check, the full check (from the base), a state check against the head root
  store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  t.equal(store.base, H, "the base survives a reopen");
  t.equal(store.head.height, 14n);
  await store.close();
  store = await BlockStore.open(dir, chainOf(made.chain.genesis), { check: "full" });
  await store.loadState(() => new Uint8Array(32), { full: true });
  t.equal(await store.verifiedHeight(), 14n);
  await store.close();

  // damage above the base: refused; a repair would need a replay from genesis, refused too
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  await db.put(concatBytes(new Uint8Array([0x4d]), new TextEncoder().encode("verified")), encode([Number(H)]));
  await db.del(concatBytes(new Uint8Array([0x4b]), u64be(12n)));
  await db.close();
  t.equal(await codeOf(BlockStore.open(dir, chainOf(made.chain.genesis))), StoreErrorCode.DAMAGED, "a lost commit above the base is found");
  t.equal(await codeOf(BlockStore.open(dir, chainOf(made.chain.genesis), { repair: true })), StoreErrorCode.CANNOT_REPLAY, "and a repair that needs the blocks below the base is refused");
});

t.test("state sync installs only into a fresh store", async (t) => {
  const made = makeChain(3);
  const source = await sourceStore(t, made);
  t.equal(await codeOf(source.beginStateSync(2n)), StoreErrorCode.NOT_FRESH);
  t.equal(source.stateSyncPending, undefined);
});

t.test("a state that does not reach the root is not committed", async (t) => {
  const made = makeChain(6);
  const source = await sourceStore(t, made);
  const snap = snapshotOf(source, 5n, 4, 1 << 20);
  const dir = tmpDir(t, "target");
  const store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await store.beginStateSync(5n);
  const chunks = [...snap.chunks.values()];
  for (const c of chunks.slice(1)) await store.putSnapshotRecords(c);
  const { block, commit } = made.blocks[4]!;
  t.equal(await codeOf(store.finishStateSync({ block, commit, validators: (await source.getValidators(5n))! })), StoreErrorCode.CORRUPT, "a chunk missing");
  t.equal(store.head.height, 0n, "the head did not move");
  t.equal(store.stateSyncPending, 5n, "the install is still marked unfinished");
  await store.close();
  t.equal(await codeOf(BlockStore.open(dir, chainOf(made.chain.genesis))), StoreErrorCode.STATE_SYNC_INCOMPLETE);
});

t.test("an install cut short is found at the next open: refused, redone, or reset to genesis", async (t) => {
  const made = makeChain(6);
  const source = await sourceStore(t, made);
  const snap = snapshotOf(source, 5n, 4, 1 << 20);
  const dir = tmpDir(t, "target");
  let store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await store.beginStateSync(5n);
  const chunks = [...snap.chunks.values()];
  await store.putSnapshotRecords(chunks[0]!);
  await store.close(); // as a crash: no finish

  t.equal(await codeOf(BlockStore.open(dir, chainOf(made.chain.genesis))), StoreErrorCode.STATE_SYNC_INCOMPLETE, "refused without --state-sync");

  // --state-sync: it opens, says so, and the install starts over
  store = await BlockStore.open(dir, chainOf(made.chain.genesis), { stateSync: true });
  t.equal(store.stateSyncPending, 5n);
  t.equal(store.head.height, 0n);
  await store.beginStateSync(5n);
  for (const c of chunks) await store.putSnapshotRecords(c);
  const { block, commit } = made.blocks[4]!;
  await store.finishStateSync({ block, commit, validators: (await source.getValidators(5n))! });
  t.equal(store.stateSyncPending, undefined);
  await store.close();
  store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  t.equal(store.head.height, 5n, "the redone install opens");
  await store.loadState(() => new Uint8Array(32), { full: true });
  await store.close();

  // --resync on an unfinished install: back to genesis
  const dir2 = tmpDir(t, "target2");
  store = await BlockStore.open(dir2, chainOf(made.chain.genesis));
  await store.beginStateSync(5n);
  await store.close();
  store = await BlockStore.open(dir2, chainOf(made.chain.genesis), { repair: true });
  t.ok(store.repaired, "says it was repaired");
  t.equal(store.head.height, 0n);
  t.equal(toHex((await store.loadState(() => genesisState(made.chain.genesis).root())).root()), toHex(genesisState(made.chain.genesis).root()), "the genesis state is back");
  for (const b of made.blocks) await store.commitBlock(b.block, b.commit, b.built);
  t.equal(store.head.height, 6n, "and it takes the chain from block 1");
  await store.close();
});

t.test("the state at a height no longer kept is not served", async (t) => {
  const made = makeChain(8);
  const source = await sourceStore(t, made, 3);
  t.equal(await codeOf(Promise.resolve().then(() => source.snapshotManifest(2n, 4))), StoreErrorCode.STATE_PRUNED);
  t.equal(await codeOf(Promise.resolve().then(() => source.snapshotChunk(2n, 4, 0, undefined, 1000))), StoreErrorCode.STATE_PRUNED);
  t.ok(source.snapshotManifest(6n, 4).kinds.length === 16, "a kept height is served");
});

t.test("a height pinned by a snapshot lease stays readable past stateHistory until the lease ends", async (t) => {
  const made = makeChain(12, 2);
  const store = await BlockStore.open(tmpDir(t, "pinned"), chainOf(made.chain.genesis), { stateHistory: 3 });
  t.teardown(() => store.close());
  for (const b of made.blocks.slice(0, 5)) await store.commitBlock(b.block, b.commit, b.built);
  store.pinState(4n, Date.now() + 60_000);
  store.pinState(1n, Date.now() + 60_000); // already pruned: ignored
  for (const b of made.blocks.slice(5, 10)) await store.commitBlock(b.block, b.commit, b.built);
  t.equal(store.stateFrom, 4n, "pruning stops at the pinned height");
  t.equal(toHex((await store.stateAt(4n)).root()), toHex(made.blocks[3]!.block.header.stateRoot), "its state is still read exactly");
  t.equal(store.snapshotManifest(4n, 4).kinds.length, 16);
  // the lease ends: the next commit prunes as usual
  store.pinState(4n, 0); // a shorter lease does not shorten a longer one
  t.equal(store.stateFrom, 4n);
  const later = await BlockStore.open(tmpDir(t, "lease"), chainOf(made.chain.genesis), { stateHistory: 3 });
  t.teardown(() => later.close());
  for (const b of made.blocks.slice(0, 5)) await later.commitBlock(b.block, b.commit, b.built);
  later.pinState(4n, Date.now() + 150);
  await later.commitBlock(made.blocks[5]!.block, made.blocks[5]!.commit, made.blocks[5]!.built);
  await later.commitBlock(made.blocks[6]!.block, made.blocks[6]!.commit, made.blocks[6]!.built);
  t.equal(later.stateFrom, 4n, "pinned while the lease lasts");
  await new Promise((r) => setTimeout(r, 200));
  await later.commitBlock(made.blocks[7]!.block, made.blocks[7]!.commit, made.blocks[7]!.built);
  t.equal(later.stateFrom, 5n, "pruned to head - stateHistory once it ended");
  t.equal(await codeOf(later.stateAt(4n)), StoreErrorCode.STATE_PRUNED);
});

t.test("a checkpoint: the store refuses another block at its height, at commit, at open and at a snapshot's install", async (t) => {
  const real = makeChain(6); // the history the operator trusts
  const fork = makeChain(6, 3); // the same genesis, other blocks from height 1
  t.not(toHex(real.blocks[2]!.block.hash), toHex(fork.blocks[2]!.block.hash), "the two histories differ at 3");
  const checkpoint = { height: 3n, hash: real.blocks[2]!.block.hash };

  // commit: the fork's block 3 is refused and nothing of it is written
  const dir = tmpDir(t, "forked");
  const store = await BlockStore.open(dir, chainOf(fork.chain.genesis), { checkpoint });
  for (const b of fork.blocks.slice(0, 2)) await store.commitBlock(b.block, b.commit, b.built);
  const b3 = fork.blocks[2]!;
  t.equal(await codeOf(store.commitBlock(b3.block, b3.commit, b3.built)), StoreErrorCode.CHECKPOINT_MISMATCH, "another block at the trusted height");
  t.equal(store.head.height, 2n, "the head stays");
  t.equal(await store.getBlock(3n), undefined, "nothing of it is stored");
  // the same store without the checkpoint takes it; reopened with it, the store is refused
  await store.close();
  const plain = await BlockStore.open(dir, chainOf(fork.chain.genesis));
  await plain.commitBlock(b3.block, b3.commit, b3.built);
  await plain.close();
  t.equal(await codeOf(BlockStore.open(dir, chainOf(fork.chain.genesis), { checkpoint })), StoreErrorCode.CHECKPOINT_MISMATCH, "a store that holds another block there is refused at open");

  // the trusted history passes the checkpoint, and a store below it opens
  const ok = await BlockStore.open(tmpDir(t, "real"), chainOf(real.chain.genesis), { checkpoint });
  t.teardown(() => ok.close());
  for (const b of real.blocks) await ok.commitBlock(b.block, b.commit, b.built);
  t.equal(ok.head.height, 6n, "the trusted block and those after it are committed");

  // a snapshot installed at the checkpoint's height must be of the trusted block
  const source = await sourceStore(t, fork);
  const snap = snapshotOf(source, 3n, 6, 300);
  const target = await BlockStore.open(tmpDir(t, "target"), chainOf(fork.chain.genesis), { checkpoint });
  t.teardown(() => target.close());
  await target.beginStateSync(3n);
  for (const records of snap.chunks.values()) await target.putSnapshotRecords(records);
  t.equal(await codeOf(target.finishStateSync({ block: b3.block, commit: b3.commit, validators: (await source.getValidators(3n))! })), StoreErrorCode.CHECKPOINT_MISMATCH, "a snapshot of another block at the trusted height");
  t.equal(target.head.height, 0n, "not installed");
});
