/**
 * The state kept in the block store (chain/store.ts, chain/state.ts DiskTree): blocks executed on
 * it reach the same roots as on the in-memory tree, with a cache far too small to hold them; the
 * recent heights stay readable and provable and older ones are refused with a typed error; a state
 * a later block superseded (a stale head, a losing proposal) still reads its own records; a store
 * written before the tree was on disk gets its tree built once at open.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { readU64be, toHex, u64be } from "../../../primitives/bytes.ts";
import { VoteType, voteSignBytes, type Block, type Commit } from "../../../chain/block.ts";
import { verifyStateProof } from "../../../chain/smt.ts";
import { DiskTree, encodeAccount, StateKey, totalHeld, type ChainState } from "../../../chain/state.ts";
import { BlockStore, StoreErrorCode } from "../../../chain/store.ts";
import { applyBlock, buildBlock, type BuiltBlock } from "../../../chain/transition.ts";
import { signTx } from "../../../chain/tx.ts";
import { genesisState, type Genesis } from "../../../genesis/schema.ts";
import { advance, newTestChain, testKey, tx, txNext, type TestChain } from "../../helpers/chain.ts";

const RAW = { node: 0x4e, undo: 0x55, meta: 0x4d, state: 0x53 } as const;

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-state-disk-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "chain");
}
const chainOf = (gen: Genesis) => ({ chainId: gen.chainId, genesisHash: gen.hash, genesisState: () => genesisState(gen) });

interface Made {
  readonly chain: TestChain;
  readonly blocks: { block: Block; commit: Commit; built: BuiltBlock }[];
}
/** `n` blocks of transfers from the faucet to new accounts and between them (on the in-memory tree). */
function makeChain(n: number): Made {
  const chain = newTestChain();
  const blocks: Made["blocks"] = [];
  for (let i = 0; i < n; i++) {
    const nonce = chain.state.account(chain.faucet.publicKey).nonce;
    const txs = Array.from({ length: 4 }, (_, j) => tx(chain, chain.faucet, nonce + BigInt(j), { type: "transfer", to: testKey(i * 4 + j).publicKey, amount: 100_000n + BigInt(j) }));
    if (i > 0) txs.push(txNext(chain, testKey((i - 1) * 4), { type: "transfer", to: testKey(i).publicKey, amount: 7n }));
    const built = advance(chain, txs);
    if (built.rejected.length > 0) throw new Error(`block ${i + 1}: ${built.rejected[0]!.error.message}`);
    blocks.push({ block: built.block, commit: chain.lastCommit!, built });
  }
  return { chain, blocks };
}
const made = makeChain(12);
const gen = made.chain.genesis;
const keys = Array.from({ length: 48 }, (_, i) => testKey(i));

async function rawKeys(dir: string, prefix: number): Promise<Uint8Array[]> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    const out: Uint8Array[] = [];
    for await (const k of db.keys({ gte: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) out.push(k);
    return out;
  } finally {
    await db.close();
  }
}

t.test("blocks executed on the disk state: the in-memory chain's roots, history kept and pruned, stale states still right", async (t) => {
  const dir = tmpDir(t);
  // 2 KiB of cache: a handful of records, so nearly every read goes to LevelDB
  const store = await BlockStore.open(dir, chainOf(gen), { stateCacheBytes: 2048, stateHistory: 5 });
  let state = await store.loadState(() => genesisState(gen).root());
  t.ok(state.tree instanceof DiskTree, "the head state reads the store");
  const states: ChainState[] = [state];
  for (const b of made.blocks) {
    const h = b.block.header.height;
    const result = applyBlock(state, b.block, gen.params, gen.chainId); // throws on a wrong state root
    t.equal(toHex(result.state.root()), toHex(b.built.state.root()), `height ${h}: the in-memory tree's root`);
    await store.commitBlock(b.block, b.commit, result);
    t.equal((result.state.tree as DiskTree).version, h, `height ${h}: once committed, the state reads the store at ${h}`);
    state = result.state;
    states.push(state);
  }
  t.equal(store.stateFrom, 7n, "heights 7..12 kept (stateHistory 5)");

  // every state of a kept height, including the superseded ones, reads what the in-memory chain had
  for (let h = 7; h <= 12; h++) {
    const want = made.blocks[h - 1]!.built.state;
    const disk = states[h]!;
    const old = await store.stateAt(BigInt(h));
    t.equal(toHex(old.root()), toHex(made.blocks[h - 1]!.block.header.stateRoot), `stateAt(${h}) has its header's root`);
    for (const k of keys) {
      t.same(disk.account(k.publicKey), want.account(k.publicKey), `height ${h}, key ${keys.indexOf(k)}: the kept state object`);
      t.same(old.account(k.publicKey), want.account(k.publicKey));
    }
    t.same(old.meta(), want.meta());
    t.equal(totalHeld(old), old.meta().genesisSupply + old.meta().minted - old.meta().burned, `supply invariant at ${h}`);
    const k = StateKey.account(keys[h]!.publicKey);
    const proof = old.prove(k);
    t.ok(want.get(k), `key ${h} is funded at ${h}`);
    t.ok(verifyStateProof(made.blocks[h - 1]!.block.header.stateRoot, k, encodeAccount(want.account(keys[h]!.publicKey)), proof), `a proof at ${h} verifies against block ${h}'s state root`);
    t.same(proof, want.prove(k), "and is the in-memory tree's proof");
  }
  for (const h of [0n, 6n]) {
    await t.rejects(store.stateAt(h), { name: "StoreError", code: StoreErrorCode.STATE_PRUNED, data: { height: String(h), oldest: "7", head: "12" } }, `stateAt(${h}) is refused`);
  }
  await t.rejects(store.stateAt(13n), { code: StoreErrorCode.STATE_PRUNED }, "a height above the head is refused");
  t.throws(() => states[6]!.account(keys[0]!.publicKey), { name: "StoreError", code: StoreErrorCode.STATE_PRUNED }, "a state object of a pruned height refuses to read");
  t.same(states[12]!.account(keys[1]!.publicKey), made.chain.state.account(keys[1]!.publicKey), "the head reads through a cold cache");
  await store.close();

  const undoHeights = (await rawKeys(dir, RAW.undo)).map((k) => readU64be(k, 1));
  t.ok(undoHeights.length > 0 && undoHeights.every((h) => h > 7n), `undo records only for heights above 7 (${new Set(undoHeights).size} heights)`);

  // what a crash between a commit and its prune leaves: undo records below the kept range
  const leftovers = [3n, 7n].map((h) => Uint8Array.from([RAW.undo, ...u64be(h), RAW.state, 1, 2, 3]));
  {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    for (const k of leftovers) await db.put(k, new Uint8Array(0));
    await db.close();
  }
  const again = await BlockStore.open(dir, chainOf(gen), { stateHistory: 5 });
  t.equal(again.stateFrom, 7n, "the kept range survives a restart");
  const head = await again.loadState(() => genesisState(gen).root(), { full: true });
  t.equal(toHex(head.root()), toHex(made.chain.state.root()));
  t.equal(toHex((await again.stateAt(8n)).root()), toHex(made.blocks[7]!.block.header.stateRoot));
  await again.close();
  const afterOpen = (await rawKeys(dir, RAW.undo)).map((k) => readU64be(k, 1));
  t.ok(afterOpen.length > 0 && afterOpen.every((h) => h > 7n), "open removed the undo records a crash left below the kept range");
});

t.test("two proposals at one height: committing one leaves the other readable as it was", async (t) => {
  const dir = tmpDir(t);
  const chain = newTestChain();
  const store = await BlockStore.open(dir, chainOf(chain.genesis));
  const base = await store.loadState(() => genesisState(chain.genesis).root());
  const [x, y] = [testKey(100), testKey(101)];
  const proposal = (to: typeof x) =>
    buildBlock(base, [signTx({ chainId: chain.genesis.chainId, nonce: 0n, fee: 1000n, op: { type: "transfer", to: to.publicKey, amount: 5n } }, chain.faucet)], {
      chainId: chain.genesis.chainId,
      params: chain.genesis.params,
      proposer: chain.validator,
      time: chain.time + 1000n,
      lastCommit: null,
    });
  const a = proposal(x);
  const b = proposal(y);
  const rootB = toHex(b.state.root());
  const commit: Commit = { height: 1n, round: 0, blockHash: a.block.hash, signatures: [{ validatorIndex: 0, signature: chain.validator.sign(voteSignBytes(chain.genesis.chainId, VoteType.PRECOMMIT, 1n, 0, a.block.hash)) }] };
  await store.commitBlock(a.block, commit, a);
  t.equal(a.state.account(x.publicKey).balance, 5n, "the committed proposal reads its transfer from the store");
  t.equal(b.state.account(y.publicKey).balance, 5n, "the other proposal still reads its own transfer");
  t.equal(b.state.account(x.publicKey).balance, 0n, "and not the committed one's");
  t.equal(base.account(x.publicKey).balance, 0n, "the superseded head reads height 0");
  t.equal(toHex(b.state.root()), rootB);
  const inMemory = genesisState(chain.genesis).tree.update(b.changes);
  for (const k of [x, y, chain.faucet]) t.same(b.state.prove(StateKey.account(k.publicKey)), inMemory.prove(StateKey.account(k.publicKey)), "its proofs read the tree of height 0 under its own changes");
  await store.close();
});

t.test("a store with state records but no tree nodes (written before the tree was on disk) gets them built at open", async (t) => {
  const dir = tmpDir(t);
  const store = await BlockStore.open(dir, chainOf(gen));
  for (const b of made.blocks.slice(0, 4)) await store.commitBlock(b.block, b.commit, b.built);
  await store.close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  await db.clear({ gte: new Uint8Array([RAW.node]), lt: new Uint8Array([RAW.node + 1]) });
  await db.clear({ gte: new Uint8Array([RAW.undo]), lt: new Uint8Array([RAW.undo + 1]) });
  await db.close();
  const reopened = await BlockStore.open(dir, chainOf(gen));
  let state = await reopened.loadState(() => genesisState(gen).root());
  t.equal(toHex(state.root()), toHex(made.blocks[3]!.block.header.stateRoot), "the built tree has the head's root");
  t.equal(reopened.stateFrom, 4n, "only the head is readable");
  for (const b of made.blocks.slice(4, 6)) {
    const result = applyBlock(state, b.block, gen.params, gen.chainId);
    await reopened.commitBlock(b.block, b.commit, result);
    state = result.state;
  }
  t.equal(toHex(state.root()), toHex(made.blocks[5]!.block.header.stateRoot), "and blocks go on from it");
  await reopened.close();
});

t.test("reads of the previous head while a block's batch is being written see the previous head, never a mix", async (t) => {
  const dir = tmpDir(t);
  // no room in the cache: every read of the old head goes to LevelDB and the undo records
  const store = await BlockStore.open(dir, chainOf(gen), { stateCacheBytes: 0 });
  let state = await store.loadState(() => genesisState(gen).root());
  let reads = 0;
  for (const b of made.blocks) {
    const before = state;
    const want = keys.map((k) => before.account(k.publicKey));
    const result = applyBlock(state, b.block, gen.params, gen.chainId);
    let done = false;
    const writing = store.commitBlock(b.block, b.commit, result).then(() => void (done = true));
    // read on every turn of the event loop until the batch has landed and the head has moved
    while (!done) {
      keys.forEach((k, i) => {
        const got = before.account(k.publicKey);
        if (got.balance !== want[i]!.balance || got.nonce !== want[i]!.nonce) t.fail(`height ${b.block.header.height}: key ${i} read a value of another height`);
      });
      reads++;
      await new Promise((r) => setImmediate(r));
    }
    await writing;
    t.same(keys.map((k) => before.account(k.publicKey)), want, `height ${b.block.header.height}: the previous head still reads its own records`);
    state = result.state;
  }
  t.ok(reads > made.blocks.length, `${reads} rounds of reads during the writes`);
  await store.close();
});
