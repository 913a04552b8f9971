/**
 * Integrity of chain/store.ts on real classic-level databases in temp dirs (issue #21): damage that
 * LevelDB itself lets through silently (garbage or truncation in the .log, CURRENT deleted, keys
 * without a chain record, records lost at a height) ends in a typed refusal naming the height, or,
 * with repair (`cloudcoin start --resync`), in a store cut back to its last good height that takes
 * the lost blocks again and ends on the same hashes. Never in a store with holes or a rolled-back
 * head that opens as if nothing happened.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { concatBytes, toHex, u64be } from "../../../primitives/bytes.ts";
import type { Block, Commit } from "../../../chain/block.ts";
import { BlockStore, HEAD_MARK_FILE, StoreErrorCode } from "../../../chain/store.ts";
import type { BuiltBlock } from "../../../chain/transition.ts";
import { genesisState, type Genesis } from "../../../genesis/schema.ts";
import { advance, newTestChain, testKey, txNext, type TestChain } from "../../helpers/chain.ts";

const RAW = { commit: 0x4b, state: 0x53, meta: 0x4d } as const;

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-integrity-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "chain");
}

const chainOf = (gen: Genesis) => ({ chainId: gen.chainId, genesisHash: gen.hash, genesisState: () => genesisState(gen) });

interface Made {
  readonly chain: TestChain;
  readonly blocks: { block: Block; commit: Commit; built: BuiltBlock }[];
}

/** A chain of `n` blocks with a few transfers each (so the .log spans many LevelDB blocks). */
function makeChain(n: number, txsPerBlock = 8): Made {
  const chain = newTestChain();
  const blocks: Made["blocks"] = [];
  for (let i = 0; i < n; i++) {
    const txs = Array.from({ length: txsPerBlock }, (_, j) => txNext(chain, chain.faucet, { type: "transfer", to: testKey(i * txsPerBlock + j).publicKey, amount: 1000n + BigInt(j) }));
    const built = advance(chain, txs);
    blocks.push({ block: built.block, commit: chain.lastCommit!, built });
  }
  return { chain, blocks };
}

async function commitAll(store: BlockStore, made: Made, from = 1n): Promise<void> {
  for (const b of made.blocks.slice(Number(from) - 1)) await store.commitBlock(b.block, b.commit, b.built);
}

/** Writes the chain into a new store at `dir` and closes it (LevelDB keeps the writes in its .log). */
async function storeOf(dir: string, made: Made): Promise<void> {
  const store = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await commitAll(store, made);
  await store.close();
}

function logFile(dir: string): string {
  const logs = fs.readdirSync(dir).filter((f) => f.endsWith(".log")).map((f) => path.join(dir, f));
  logs.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
  return logs[0]!;
}

/** Every block 1..head is there and links to its parent; the head state matches its header. */
async function assertWhole(t: Test, store: BlockStore, made: Made): Promise<void> {
  for (let h = 1n; h <= store.head.height; h++) {
    const b = await store.getBlock(h);
    t.equal(b && toHex(b.hash), toHex(made.blocks[Number(h) - 1]!.block.hash), `block ${h} is the chain's`);
    t.ok(await store.getCommit(h), `commit ${h}`);
  }
  t.equal(await store.getBlock(store.head.height + 1n), undefined, "nothing above the head");
  await store.loadState(() => genesisState(made.chain.genesis).root());
}

/** Repairs, then takes the lost blocks again (what block sync does) and ends on the same head. */
async function repairAndResync(t: Test, dir: string, made: Made): Promise<void> {
  const store = await BlockStore.open(dir, chainOf(made.chain.genesis), { repair: true });
  t.ok(store.repaired, "the store says it was repaired");
  t.ok(store.head.height < BigInt(made.blocks.length), `cut back to ${store.head.height}`);
  await assertWhole(t, store, made);
  await commitAll(store, made, store.head.height + 1n);
  t.equal(toHex(store.head.hash), toHex(made.blocks.at(-1)!.block.hash), "the same head after taking the lost blocks again");
  await store.close();
  const again = await BlockStore.open(dir, chainOf(made.chain.genesis), { check: "full" });
  t.equal(again.repaired, undefined, "a full check then passes with nothing to repair");
  await assertWhole(t, again, made);
  await again.close();
}

const made = makeChain(10);

t.test("a clean store opens; the rolling check records the verified height and a full check passes", async (t) => {
  const dir = tmpDir(t);
  await storeOf(dir, made);
  const s = await BlockStore.open(dir, chainOf(made.chain.genesis));
  t.equal(await s.verifiedHeight(), 10n);
  await assertWhole(t, s, made);
  await s.close();
  const full = await BlockStore.open(dir, chainOf(made.chain.genesis), { check: "full" });
  t.equal(full.head.height, 10n);
  await full.close();
});

/** Writes 4 KiB of garbage in the middle of the store's .log. */
function garble(dir: string): void {
  const log = logFile(dir);
  const size = fs.statSync(log).size;
  const fd = fs.openSync(log, "r+");
  fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 2));
  fs.closeSync(fd);
}

t.test("4 KiB of garbage in the middle of a .log of several LevelDB blocks: the holes are refused naming the first; repair cuts back and the chain is taken again", async (t) => {
  const dir = tmpDir(t);
  const long = makeChain(20);
  await storeOf(dir, long);
  t.ok(fs.statSync(logFile(dir)).size > 32 * 1024, "the log spans several 32 KiB blocks");
  garble(dir);
  const err = await BlockStore.open(dir, chainOf(long.chain.genesis)).then(
    () => null,
    (e: unknown) => e as { code: string; data: Record<string, string> },
  );
  t.equal(err?.code, StoreErrorCode.DAMAGED, "refused: LevelDB dropped records in the middle and kept the head");
  t.equal(err?.data.head, "20", "the head survived");
  const bad = Number(err?.data.height);
  t.ok(bad >= 2 && bad < 20, `names the first hole, height ${bad}`);
  t.equal(err?.data.good, String(bad - 1));
  await t.rejects(BlockStore.open(dir, chainOf(long.chain.genesis)), { code: StoreErrorCode.DAMAGED, data: { height: String(bad) } }, "refused again: the refusal does not consume the evidence");
  await t.rejects(BlockStore.open(dir, chainOf(long.chain.genesis), { check: "full" }), { code: StoreErrorCode.DAMAGED, data: { height: String(bad) } }, "the full check names the same height");
  await repairAndResync(t, dir, long);
});

t.test("4 KiB of garbage in a .log of one LevelDB block: everything after it is lost, a rollback, refused; repair keeps the prefix", async (t) => {
  const dir = tmpDir(t);
  // few small blocks: with their state tree nodes and undo records they fit one log block
  const small = makeChain(4, 1);
  await storeOf(dir, small);
  t.ok(fs.statSync(logFile(dir)).size < 32 * 1024, "one 32 KiB log block");
  garble(dir);
  await t.rejects(BlockStore.open(dir, chainOf(small.chain.genesis)), { code: StoreErrorCode.ROLLED_BACK, data: { recorded: "4" } });
  await repairAndResync(t, dir, small);
});

t.test("the .log truncated to half: the rollback is refused; repair keeps the good prefix and the chain is taken again", async (t) => {
  const dir = tmpDir(t);
  await storeOf(dir, made);
  const log = logFile(dir);
  fs.truncateSync(log, Math.floor(fs.statSync(log).size / 2));
  await t.rejects(BlockStore.open(dir, chainOf(made.chain.genesis)), { code: StoreErrorCode.ROLLED_BACK, data: { recorded: "10" } });
  await repairAndResync(t, dir, made);
});

t.test("CURRENT deleted after a compaction: refused before LevelDB opens it; repair moves it aside and starts over", async (t) => {
  const dir = tmpDir(t);
  await storeOf(dir, made);
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await raw.open();
  await raw.compactRange(new Uint8Array([0]), new Uint8Array([0xff]));
  await raw.close();
  t.ok(fs.readdirSync(dir).some((f) => f.endsWith(".ldb")), "tables written");
  fs.rmSync(path.join(dir, "CURRENT"));
  const before = fs.readdirSync(dir).sort();
  await t.rejects(BlockStore.open(dir, chainOf(made.chain.genesis)), { code: StoreErrorCode.UNRECOGNISED });
  t.same(fs.readdirSync(dir).sort(), before, "nothing in the directory was touched");
  const s = await BlockStore.open(dir, chainOf(made.chain.genesis), { repair: true });
  t.equal(s.head.height, 0n, "a new store");
  t.ok(s.repaired?.movedTo && fs.existsSync(s.repaired.movedTo), "the old directory is kept aside");
  t.same(fs.readdirSync(s.repaired!.movedTo!).sort(), before, "whole");
  await commitAll(s, made);
  t.equal(toHex(s.head.hash), toHex(made.blocks.at(-1)!.block.hash));
  await s.close();
});

t.test("records without a chain record are never initialised as a new genesis", async (t) => {
  const dir = tmpDir(t);
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await raw.open();
  await raw.put(new Uint8Array([0x42, 0, 0, 0, 0, 0, 0, 0, 1]), new Uint8Array([1, 2, 3]));
  await raw.close();
  await t.rejects(BlockStore.open(dir, chainOf(made.chain.genesis)), { code: StoreErrorCode.UNRECOGNISED });

  const dir2 = tmpDir(t);
  await storeOf(dir2, made);
  const raw2 = new ClassicLevel<Uint8Array, Uint8Array>(dir2, { keyEncoding: "view", valueEncoding: "view" });
  await raw2.open();
  await raw2.del(concatBytes(new Uint8Array([RAW.meta]), new TextEncoder().encode("chain")));
  await raw2.close();
  await t.rejects(BlockStore.open(dir2, chainOf(made.chain.genesis)), { code: StoreErrorCode.UNRECOGNISED }, "a populated store that lost its chain record");
});

t.test("a record lost at a new height fails the rolling check; at an already verified height only the full check sees it", async (t) => {
  const dir = tmpDir(t);
  const half = { chain: made.chain, blocks: made.blocks.slice(0, 5) };
  await storeOf(dir, half);
  await (await BlockStore.open(dir, chainOf(made.chain.genesis))).close(); // verified up to 5
  const s = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await commitAll(s, made, 6n);
  await s.close();
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await raw.open();
  await raw.del(concatBytes(new Uint8Array([RAW.commit]), u64be(3n)));
  await raw.del(concatBytes(new Uint8Array([RAW.commit]), u64be(8n)));
  await raw.close();
  await t.rejects(BlockStore.open(dir, chainOf(made.chain.genesis)), { code: StoreErrorCode.DAMAGED, data: { height: "8", good: "7" } }, "the rolling check names height 8");
  await t.rejects(BlockStore.open(dir, chainOf(made.chain.genesis), { check: "full" }), { code: StoreErrorCode.DAMAGED, data: { height: "3" } }, "the full check names height 3");
  const r = await BlockStore.open(dir, chainOf(made.chain.genesis), { repair: true });
  t.equal(r.head.height, 2n, "cut back below the first bad height");
  t.equal(r.repaired?.to, 2n);
  await assertWhole(t, r, made);
  await commitAll(r, made, 3n);
  await r.close();
  const again = await BlockStore.open(dir, chainOf(made.chain.genesis), { check: "full" });
  t.equal(toHex(again.head.hash), toHex(made.blocks.at(-1)!.block.hash));
  await again.close();
});

t.test("a tampered state record: refused at load; repair rebuilds the state from the stored changes", async (t) => {
  const dir = tmpDir(t);
  await storeOf(dir, made);
  const raw = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await raw.open();
  for await (const k of raw.keys({ gt: new Uint8Array([RAW.state]), lt: new Uint8Array([RAW.state + 1]), limit: 1 })) await raw.del(k);
  await raw.close();
  const s = await BlockStore.open(dir, chainOf(made.chain.genesis));
  await t.rejects(s.loadState(() => genesisState(made.chain.genesis).root(), { full: true }), { code: StoreErrorCode.CORRUPT });
  await s.close();
  const r = await BlockStore.open(dir, chainOf(made.chain.genesis), { repair: true });
  t.equal(r.head.height, 10n, "nothing cut: every block is good");
  t.ok(r.repaired, "the state was rebuilt");
  await assertWhole(t, r, made);
  await r.close();
});

t.test("the head mark is written after every commit and never ahead of the database", async (t) => {
  const dir = tmpDir(t);
  await storeOf(dir, made);
  const mark = JSON.parse(fs.readFileSync(path.join(dir, HEAD_MARK_FILE), "utf8")) as { height: string; hash: string };
  t.equal(mark.height, "10");
  t.equal(mark.hash, toHex(made.blocks.at(-1)!.block.hash));
});
