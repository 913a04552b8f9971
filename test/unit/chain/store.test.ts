/**
 * chain/store.ts on a real classic-level database in a temp dir: what is committed is what is
 * read back (before and after a reopen), refused commits write nothing, a data directory of
 * another chain is refused, and a tampered state record is detected by loadState.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { concatBytes, equalBytes, readU64be, toHex } from "../../../primitives/bytes.ts";
import { decode, encode } from "../../../primitives/codec.ts";
import { VoteType, voteSignBytes, type Block, type Commit } from "../../../chain/block.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { ChainState, StateKey, decodeAccount, encodeAccount, type StateChange } from "../../../chain/state.ts";
import { BlockStore, StoreErrorCode, type AccountTxEntry, type TxLocation } from "../../../chain/store.ts";
import { buildBlock, type BuiltBlock } from "../../../chain/transition.ts";
import { signTx, txParticipants, type SignedTx } from "../../../chain/tx.ts";
import { devnetFaucetKey, devnetGenesis, devnetGenesisFile, devnetValidatorKey, insecureDevKey } from "../../../genesis/devnet.ts";
import { genesisState, validateAndComplete, type Genesis } from "../../../genesis/schema.ts";

const g = devnetGenesis();
const chainId = g.chainId;
const validator = devnetValidatorKey();
const faucet = devnetFaucetKey();
const alice = insecureDevKey("store-test-alice");
const bob = insecureDevKey("store-test-bob");
const carol = insecureDevKey("store-test-carol");
const nobody = insecureDevKey("store-test-nobody");

// Raw key prefixes of the layout documented at the top of chain/store.ts.
const RAW = { block: 0x42, hash: 0x48, commit: 0x4b, receipts: 0x52, changes: 0x43, tx: 0x54, account: 0x41, state: 0x53 } as const;

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-store-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const chainOf = (gen: Genesis) => ({ chainId: gen.chainId, genesisHash: gen.hash, genesisState: () => genesisState(gen) });
const openStore = (dir: string, gen: Genesis = g) => BlockStore.open(dir, chainOf(gen));
const genesisRoot = () => genesisState(g).root();

function commitFor(block: Block, key: KeyPair = validator): Commit {
  const h = block.header.height;
  return { height: h, round: 0, blockHash: block.hash, signatures: [{ validatorIndex: 0, signature: key.sign(voteSignBytes(chainId, VoteType.PRECOMMIT, h, 0, block.hash)) }] };
}

interface Committed {
  readonly block: Block;
  readonly commit: Commit;
  readonly built: BuiltBlock;
}

/** Builds valid blocks on a chain of its own; nothing touches a store until the caller commits. */
class ChainBuilder {
  state: ChainState;
  lastCommit: Commit | null = null;
  readonly nonces = new Map<string, bigint>();

  constructor(state: ChainState = genesisState(g)) {
    this.state = state;
  }

  tx(from: KeyPair, to: KeyPair, amount: bigint, nonce?: bigint): SignedTx {
    const id = toHex(from.publicKey);
    const n = nonce ?? this.nonces.get(id) ?? 0n;
    if (nonce === undefined) this.nonces.set(id, n + 1n);
    return signTx({ chainId, nonce: n, fee: 1000n, op: { type: "transfer", to: to.publicKey, amount } }, from);
  }

  /** Builds the next block on this builder's state and advances to it. `timeSkew` makes forks differ. */
  next(txs: SignedTx[], timeSkew = 0n): Committed {
    const h = this.state.meta().height + 1n;
    const built = buildBlock(this.state, txs, { chainId, params: g.params, proposer: validator, time: g.genesisTime + h * 1000n + timeSkew, lastCommit: this.lastCommit });
    const commit = commitFor(built.block);
    this.state = built.state;
    this.lastCommit = commit;
    return { block: built.block, commit, built };
  }
}

const hex = (b: Uint8Array) => toHex(b);
const changesHex = (cs: readonly StateChange[]) => cs.map(([k, v]) => [hex(k), v === null ? null : hex(v)]);
const receiptsPlain = (rs: BuiltBlock["receipts"]) => rs.map((r) => ({ txHash: hex(r.txHash), ok: r.ok, code: r.code, fee: r.fee }));
const commitPlain = (c: Commit) => ({ height: c.height, round: c.round, blockHash: hex(c.blockHash), signatures: c.signatures.map((s) => [s.validatorIndex, hex(s.signature)]) });
const entriesPlain = (es: readonly AccountTxEntry[]) => es.map((e) => `${e.height}/${e.index}/${hex(e.hash)}`);

/** Every account-index entry the committed blocks imply, per account, newest first. */
function expectedAccountIndex(chain: readonly Committed[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { block } of chain) {
    block.txs.forEach((tx, i) => {
      for (const who of txParticipants(tx)) {
        const k = hex(who);
        out.set(k, [...(out.get(k) ?? []), `${block.header.height}/${i}/${hex(tx.hash)}`]);
      }
    });
  }
  for (const v of out.values()) v.reverse();
  return out;
}

async function paginate(store: BlockStore, pk: Uint8Array, limit: number): Promise<AccountTxEntry[]> {
  const all: AccountTxEntry[] = [];
  let before: TxLocation | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await store.listAccountTxs(pk, before ? { before, limit } : { limit });
    if (page.length > limit) throw new Error(`page of ${page.length} > limit ${limit}`);
    if (page.length === 0) return all;
    all.push(...page);
    const last = page[page.length - 1]!;
    before = { height: last.height, index: last.index };
  }
  throw new Error("pagination does not terminate");
}

/** Checks every lookup of `store` against what was committed. */
async function checkStore(t: Test, store: BlockStore, chain: readonly Committed[], accounts: readonly KeyPair[]): Promise<void> {
  const last = chain[chain.length - 1]!;
  t.equal(store.head.height, last.block.header.height, "head height");
  t.equal(hex(store.head.hash), hex(last.block.hash), "head hash");

  const state = await store.loadState(genesisRoot);
  t.equal(hex(state.root()), hex(last.block.header.stateRoot), "loadState root == head block's stateRoot");
  t.equal(hex(state.root()), hex(last.built.state.root()), "loadState root == the built state's root");
  t.equal(hex(state.lastBlockHash), hex(last.block.hash), "loaded state is labelled with the head hash");
  for (const a of [faucet, validator, ...accounts]) {
    t.same(state.account(a.publicKey), last.built.state.account(a.publicKey), `account ${hex(a.publicKey).slice(0, 8)} as built`);
  }

  for (const { block, commit, built } of chain) {
    const h = block.header.height;
    const byHeight = await store.getBlock(h);
    t.ok(byHeight && equalBytes(byHeight.bytes, block.bytes), `block ${h} by height`);
    t.equal(byHeight && hex(byHeight.hash), hex(block.hash), `block ${h} hash`);
    const byHash = await store.getBlockByHash(block.hash);
    t.ok(byHash && equalBytes(byHash.bytes, block.bytes), `block ${h} by hash`);
    const storedCommit = await store.getCommit(h);
    t.same(storedCommit && commitPlain(storedCommit), commitPlain(commit), `commit ${h}`);
    const receipts = await store.getReceipts(h);
    t.same(receipts && receiptsPlain(receipts), receiptsPlain(built.receipts), `receipts ${h}`);
    t.equal(receipts?.length, block.txs.length, `one receipt per tx at ${h}`);
    const changes = await store.getStateChanges(h);
    t.same(changes && changesHex(changes), changesHex(built.changes), `state changes ${h}`);
    for (const [i, tx] of block.txs.entries()) {
      const st = await store.getTx(tx.hash);
      t.ok(st, `tx ${h}/${i} found`);
      if (!st) continue;
      t.equal(st.height, h);
      t.equal(st.index, i);
      t.equal(hex(st.tx.bytes), hex(tx.bytes));
      t.equal(hex(st.blockHash), hex(block.hash));
      t.equal(st.time, block.header.time);
      t.same(receiptsPlain([st.receipt]), receiptsPlain([built.receipts[i]!]), `receipt of tx ${h}/${i}`);
      t.same(await store.getTxLocation(tx.hash), { height: h, index: i });
    }
  }

  const expected = expectedAccountIndex(chain);
  for (const a of [faucet, validator, ...accounts, nobody]) {
    const want = expected.get(hex(a.publicKey)) ?? [];
    const all = await store.listAccountTxs(a.publicKey, { limit: 10_000 });
    t.same(entriesPlain(all), want, `account index of ${hex(a.publicKey).slice(0, 8)}, newest first`);
    for (const limit of [1, 2, 3, 5]) {
      t.same(entriesPlain(await paginate(store, a.publicKey, limit)), want, `pages of ${limit} give each entry exactly once`);
    }
    if (want.length > 2) {
      t.same(entriesPlain(await store.listAccountTxs(a.publicKey, { limit: 2 })), want.slice(0, 2), "limit caps the first page");
    }
  }

  // unknown lookups
  const h = last.block.header.height;
  const unknownHash = new Uint8Array(32).fill(0xab);
  t.equal(await store.getBlock(0n), undefined, "no block at height 0");
  t.equal(await store.getBlock(h + 1n), undefined, "no block above head");
  t.equal(await store.getBlock(1_000_000n), undefined);
  t.equal(await store.getBlockByHash(unknownHash), undefined);
  t.equal(await store.getBlockByHash(g.hash), undefined, "genesis hash is not a block");
  t.equal(await store.getCommit(0n), undefined);
  t.equal(await store.getCommit(h + 1n), undefined);
  t.equal(await store.getReceipts(h + 1n), undefined);
  t.equal(await store.getStateChanges(h + 1n), undefined);
  t.equal(await store.getTx(unknownHash), undefined);
  t.equal(await store.getTxLocation(unknownHash), undefined);
}

async function withRawDb<T>(dir: string, fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Raw keys with one prefix byte, as hex of the rest. */
async function rawKeys(db: ClassicLevel<Uint8Array, Uint8Array>, prefix: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const k of db.keys({ gt: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) out.push(k.subarray(1));
  return out;
}

t.test("committed blocks read back the same, before and after reopening", async (t) => {
  const dir = tmpDir(t);
  const c = new ChainBuilder();
  const chain: Committed[] = [];
  const plan: SignedTx[][] = [
    [c.tx(faucet, alice, 5_000_000n), c.tx(faucet, bob, 3_000_000n), c.tx(faucet, carol, 1_000_000n)],
    [c.tx(alice, bob, 1000n), c.tx(bob, carol, 500n), c.tx(faucet, alice, 7n), c.tx(alice, alice, 1n)],
    [],
    // carol pays alice; alice tries to send more than she has: the op fails, fee and nonce consumed
    [c.tx(carol, alice, 100n), c.tx(alice, bob, 1_000_000_000_000n), c.tx(bob, alice, 42n)],
    [c.tx(faucet, bob, 11n), c.tx(faucet, carol, 12n), c.tx(faucet, alice, 13n), c.tx(alice, carol, 14n), c.tx(carol, bob, 15n)],
  ];
  const wrongNonce = c.tx(bob, alice, 1n, 99n);

  const store = await openStore(dir);
  t.equal(store.head.height, 0n, "fresh store is at height 0");
  t.equal(hex(store.head.hash), hex(g.hash), "fresh head is the genesis hash");
  t.equal(hex((await store.loadState(genesisRoot)).root()), hex(genesisRoot()), "fresh store holds the genesis state");

  for (const [i, txs] of plan.entries()) {
    const candidates = i === 3 ? [...txs, wrongNonce] : txs;
    const next = c.next(candidates);
    t.equal(next.block.txs.length, txs.length, `block ${i + 1} holds every planned tx`);
    await store.commitBlock(next.block, next.commit, next.built);
    chain.push(next);
  }
  const failed = chain[3]!.built.receipts[1]!;
  t.equal(failed.ok, false, "over-spend executes and fails");
  t.equal(failed.code, "INSUFFICIENT_BALANCE");

  const accounts = [alice, bob, carol];
  await t.test("in the same process", (t) => checkStore(t, store, chain, accounts));
  t.equal(await store.getTx(wrongNonce.hash), undefined, "a tx left out of every block is not found");
  await store.close();

  const reopened = await openStore(dir);
  t.teardown(() => reopened.close());
  // Kept decoded: what was committed in this process, and afterwards what was read.
  t.equal(store.recentBlock(2n), chain[1]!.block, "a block committed in this process is recent");
  t.equal(store.recentBlock(BigInt(chain.length + 1)), undefined, "a height past the head is not");
  t.equal(reopened.recentBlock(2n), undefined, "nothing is recent in a store just opened");
  await t.test("after reopening", (t) => checkStore(t, reopened, chain, accounts));
  t.equal(hex(reopened.recentBlock(2n)?.hash ?? new Uint8Array()), hex(chain[1]!.block.hash), "a block read is recent");

  // the self-transfer is indexed once for its only participant
  const self = chain[1]!.block.txs[3]!;
  const aliceEntries = await reopened.listAccountTxs(alice.publicKey, { limit: 100 });
  t.equal(aliceEntries.filter((e) => equalBytes(e.hash, self.hash)).length, 1, "self-transfer indexed once");

  // and the store keeps extending after the reopen
  const more = c.next([c.tx(bob, carol, 3n)]);
  await reopened.commitBlock(more.block, more.commit, more.built);
  chain.push(more);
  await t.test("after one more block", (t) => checkStore(t, reopened, chain, accounts));
});

t.test("a block that does not extend the head is refused and writes nothing", async (t) => {
  const dir = tmpDir(t);
  const store = await openStore(dir);
  const c = new ChainBuilder();
  const b1 = c.next([c.tx(faucet, alice, 1_000_000n)]);
  await store.commitBlock(b1.block, b1.commit, b1.built);
  const afterB1 = c.state;
  const b2 = c.next([c.tx(faucet, bob, 2_000_000n), c.tx(alice, bob, 10n)]);
  await store.commitBlock(b2.block, b2.commit, b2.built);
  const head = store.head;

  // a fork: 2' and 3' on top of block 1, with other transactions
  const fork = new ChainBuilder(afterB1);
  fork.lastCommit = b1.commit;
  fork.nonces.set(hex(faucet.publicKey), 1n);
  fork.nonces.set(hex(alice.publicKey), 0n);
  const f2 = fork.next([fork.tx(faucet, carol, 3_000_000n)], 500n);
  const f3 = fork.next([fork.tx(faucet, carol, 4n), fork.tx(alice, carol, 5n)]);
  t.not(hex(f2.block.hash), hex(b2.block.hash), "the fork differs");
  t.equal(f3.block.header.height, head.height + 1n, "3' has the next height but another parent");

  // block 4 of the real chain, skipping 3
  const b3 = c.next([c.tx(faucet, carol, 6n)]);
  const b4 = c.next([c.tx(faucet, carol, 7n)]);

  const refused = [
    ["the head block again", b2],
    ["block 1 again", b1],
    ["a sibling of the head", f2],
    ["a child of a sibling (right height, wrong parent)", f3],
    ["a block two above the head", b4],
  ] as const;
  for (const [what, x] of refused) {
    await t.rejects(store.commitBlock(x.block, x.commit, x.built), { name: "StoreError", code: StoreErrorCode.NOT_NEXT }, what);
    t.same(store.head, head, `head unchanged after ${what}`);
  }
  await store.close();

  const reopened = await openStore(dir);
  t.equal(reopened.head.height, 2n, "head unchanged after reopen");
  t.equal(hex(reopened.head.hash), hex(b2.block.hash));
  t.equal(hex((await reopened.loadState(genesisRoot)).root()), hex(b2.block.header.stateRoot), "state is block 2's");
  for (const x of [f2, f3, b4]) {
    t.equal(await reopened.getBlockByHash(x.block.hash), undefined, `refused block ${x.block.header.height} not found by hash`);
    for (const tx of x.block.txs) t.equal(await reopened.getTx(tx.hash), undefined, "refused block's tx not indexed");
  }
  t.same(entriesPlain(await reopened.listAccountTxs(carol.publicKey, { limit: 100 })), [], "carol's index untouched");
  await reopened.close();

  // nothing of the refused blocks reached the database, under any prefix
  await withRawDb(dir, async (db) => {
    const heights = (await rawKeys(db, RAW.block)).map((k) => readU64be(k));
    t.same(heights, [1n, 2n], "only blocks 1 and 2 are stored");
    for (const p of [RAW.commit, RAW.receipts, RAW.changes]) {
      t.same((await rawKeys(db, p)).map((k) => readU64be(k)), [1n, 2n], `only heights 1 and 2 under '${String.fromCharCode(p)}'`);
    }
    t.equal((await rawKeys(db, RAW.hash)).length, 2, "two hash index entries");
    t.equal((await rawKeys(db, RAW.tx)).length, 3, "three tx index entries");
  });

  // the store is not wedged: the real next block still commits
  const again = await openStore(dir);
  t.teardown(() => again.close());
  await again.commitBlock(b3.block, b3.commit, b3.built);
  await again.commitBlock(b4.block, b4.commit, b4.built);
  t.equal(again.head.height, 4n);
  t.equal(hex((await again.loadState(genesisRoot)).root()), hex(b4.block.header.stateRoot));
});

t.test("tx index: fixed-width values, and the CBOR values of a store written before are still read", async (t) => {
  const dir = tmpDir(t);
  const store = await openStore(dir);
  const c = new ChainBuilder();
  const b1 = c.next([c.tx(faucet, alice, 1n), c.tx(faucet, bob, 2n)]);
  await store.commitBlock(b1.block, b1.commit, b1.built);
  await store.close();
  const [first, second] = b1.block.txs;
  await withRawDb(dir, async (db) => {
    const v = await db.get(concatBytes(Uint8Array.of(RAW.tx), second!.hash));
    t.equal(v?.length, 12, "12 bytes: height and index");
    t.equal(readU64be(v!), 1n);
    // the first as an older store wrote it
    await db.put(concatBytes(Uint8Array.of(RAW.tx), first!.hash), encode([1, 0]));
  });
  const reopened = await openStore(dir);
  t.teardown(() => reopened.close());
  t.same(await reopened.getTxLocation(first!.hash), { height: 1n, index: 0 }, "the CBOR value");
  t.same(await reopened.getTxLocation(second!.hash), { height: 1n, index: 1 }, "the fixed-width value");
  t.equal(hex((await reopened.getTx(first!.hash))!.tx.bytes), hex(first!.bytes));
});

t.test("a data directory of another chain is refused", async (t) => {
  const dir = tmpDir(t);
  const store = await openStore(dir);
  const c = new ChainBuilder();
  const b1 = c.next([c.tx(faucet, alice, 1n)]);
  await store.commitBlock(b1.block, b1.commit, b1.built);
  await store.close();

  const otherTime = validateAndComplete({ ...devnetGenesisFile(), genesisTime: "2027-01-01T00:00:00.000Z" });
  t.equal(otherTime.chainId, g.chainId, "same chain id");
  t.not(hex(otherTime.hash), hex(g.hash), "another genesis");
  const otherId = validateAndComplete({ ...devnetGenesisFile(), chainId: "cloudcoin-other-7" });

  let genesisBuilt = 0;
  const counting = (gen: Genesis) => ({ ...chainOf(gen), genesisState: () => (genesisBuilt++, genesisState(gen)) });
  await t.rejects(BlockStore.open(dir, counting(otherTime)), { name: "StoreError", code: StoreErrorCode.WRONG_CHAIN }, "same id, other genesis");
  await t.rejects(BlockStore.open(dir, counting(otherId)), { name: "StoreError", code: StoreErrorCode.WRONG_CHAIN }, "other id");
  await t.rejects(BlockStore.open(dir, { chainId: "cloudcoin-other-7", genesisHash: g.hash, genesisState: () => genesisState(g) }), { code: StoreErrorCode.WRONG_CHAIN }, "other id, same genesis hash");
  t.equal(genesisBuilt, 0, "a refused open writes no genesis");

  // the refused opens closed the database (else this open would fail on the lock) and changed nothing
  const reopened = await openStore(dir);
  t.teardown(() => reopened.close());
  t.equal(reopened.head.height, 1n);
  t.equal(hex(reopened.head.hash), hex(b1.block.hash));
  t.equal(hex((await reopened.loadState(genesisRoot)).root()), hex(b1.block.header.stateRoot));
});

// The state is not read whole at start (its size must not set the start-up time): the default
// loadState checks the stored tree's root against the head, and the full one (verify-store) also
// rebuilds the root from every state record.
t.test("tampered state records make the full loadState fail instead of serving a wrong state", async (t) => {
  const dir = tmpDir(t);
  const store = await openStore(dir);
  const c = new ChainBuilder();
  for (let i = 0; i < 3; i++) {
    const b = c.next([c.tx(faucet, alice, 1_000_000n), c.tx(faucet, bob, 2n)]);
    await store.commitBlock(b.block, b.commit, b.built);
  }
  const root = hex(c.state.root());
  await store.close();

  const stateKey = (k: Uint8Array) => concatBytes(new Uint8Array([RAW.state]), k);
  const aliceKey = stateKey(StateKey.account(alice.publicKey));
  const aliceRecord = await withRawDb(dir, async (db) => db.get(aliceKey));
  t.ok(aliceRecord, "alice's record is stored under 'S'");
  const richer = encodeAccount({ ...decodeAccount(aliceRecord!), balance: decodeAccount(aliceRecord!).balance + 1n });

  const tamperings: [string, (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>][] = [
    ["a bogus extra record", (db) => db.put(stateKey(StateKey.account(nobody.publicKey)), encode([1, 2, 3]))],
    ["a garbage record", (db) => db.put(concatBytes(new Uint8Array([RAW.state]), new Uint8Array([7, 7, 7])), new Uint8Array([0xff]))],
    ["a well-formed record with a changed balance", (db) => db.put(aliceKey, richer)],
    ["a deleted record", (db) => db.del(aliceKey)],
  ];
  for (const [what, tamper] of tamperings) {
    await withRawDb(dir, tamper);
    const s = await openStore(dir);
    await t.rejects(s.loadState(genesisRoot, { full: true }), { name: "StoreError", code: StoreErrorCode.CORRUPT }, what);
    await s.close();
    // undo, and the same store loads again: the failure was the tampering
    await withRawDb(dir, async (db) => {
      const batch = db.batch().put(aliceKey, aliceRecord!);
      batch.del(stateKey(StateKey.account(nobody.publicKey))).del(concatBytes(new Uint8Array([RAW.state]), new Uint8Array([7, 7, 7])));
      await batch.write();
    });
    const ok = await openStore(dir);
    t.equal(hex((await ok.loadState(genesisRoot, { full: true })).root()), root, `loads again once ${what} is undone`);
    await ok.close();
  }
  t.ok(decode(richer), "the changed record is well-formed");
});

t.test("a tampered or missing root node of the state tree makes loadState fail", async (t) => {
  const dir = tmpDir(t);
  const store = await openStore(dir);
  const c = new ChainBuilder();
  const b = c.next([c.tx(faucet, alice, 1_000_000n)]);
  await store.commitBlock(b.block, b.commit, b.built);
  await store.close();
  const rootKey = new Uint8Array([0x4e, 0, 0]); // 'N', depth 0
  const rootRecord = await withRawDb(dir, async (db) => db.get(rootKey));
  t.ok(rootRecord, "the root node is stored under 'N'");
  const changed = new Uint8Array(rootRecord!);
  changed[40] = changed[40]! ^ 1;
  await withRawDb(dir, (db) => db.put(rootKey, changed));
  const s = await openStore(dir);
  await t.rejects(s.loadState(genesisRoot), { name: "StoreError", code: StoreErrorCode.CORRUPT }, "a changed root node");
  await s.close();
  await withRawDb(dir, (db) => db.put(rootKey, new Uint8Array([9, 9])));
  const s2 = await openStore(dir);
  await t.rejects(s2.loadState(genesisRoot), { name: "StoreError", code: StoreErrorCode.CORRUPT }, "a malformed root node");
  await s2.close();
  await withRawDb(dir, (db) => db.put(rootKey, rootRecord!));
  const ok = await openStore(dir);
  t.equal(hex((await ok.loadState(genesisRoot)).root()), hex(b.block.header.stateRoot), "loads again once undone");
  await ok.close();
});

t.test("a tampered genesis state is detected at height 0", async (t) => {
  const dir = tmpDir(t);
  await (await openStore(dir)).close();
  await withRawDb(dir, (db) => db.put(concatBytes(new Uint8Array([RAW.state]), StateKey.account(nobody.publicKey)), encodeAccount({ balance: 5n, nonce: 0n, staked: 0n, unbonding: [] })));
  const s = await openStore(dir);
  t.teardown(() => s.close());
  t.equal(s.head.height, 0n);
  await t.rejects(s.loadState(genesisRoot, { full: true }), { code: StoreErrorCode.CORRUPT });
});

