/**
 * State snapshots (issue #20): the tree cut at a depth folds back to the root, a chunk's records
 * make exactly their manifest entry, and each way a peer can lie (a forged, missing or extra record,
 * a record under another prefix, records out of order, a wrong manifest entry, an offer whose
 * commit or set does not check, a set not traceable to genesis) is refused with its own code.
 */
import t from "tap";
import { concatBytes, u32be } from "../../../primitives/bytes.ts";
import { foldSubtrees, hashStateKey, pagedCut, pagedLeavesUnder, pagedUpdate, prefixOf, SparseMerkleTree, SubtreeKind, subtreeSummary } from "../../../chain/smt.ts";
import { bisectTrust, checkLightBlock, checkpointTrust, genesisTrust, StateSyncErrorCode, verifyChunk, verifyManifest, verifyOffer, vouches, type LightBlock, type Manifest, type RawOffer } from "../../../chain/snapshot.ts";
import { decodeBlock, encodeCommit, encodeHeader, type Commit } from "../../../chain/block.ts";
import type { SignedTx } from "../../../chain/tx.ts";
import { encodeValidators } from "../../../chain/state.ts";
import { genesisState } from "../../../genesis/schema.ts";
import { advance, newTestChain, testKey, tx, txNext } from "../../helpers/chain.ts";
import { pseudoRandomBytes } from "../../helpers/random.ts";

type Rec = [Uint8Array, Uint8Array];

function records(n: number, seed: number): Rec[] {
  const values = pseudoRandomBytes(8 * n, seed);
  return Array.from({ length: n }, (_, i) => [concatBytes(new Uint8Array([0x01]), u32be(i), u32be(seed)), values.slice(8 * i, 8 * i + 8)] as Rec);
}

/** The paged tree of `recs` in a Map, and its source. */
function paged(recs: readonly Rec[]): (p: Uint8Array) => Uint8Array | undefined {
  const nodes = new Map<string, Uint8Array>();
  const id = (p: Uint8Array) => Buffer.from(p).toString("hex");
  const source = (p: Uint8Array) => nodes.get(id(p));
  for (const [p, r] of pagedUpdate(source, recs).writes) {
    if (r === null) nodes.delete(id(p));
    else nodes.set(id(p), r);
  }
  return source;
}

/** The records of `recs` under prefix `index` at `depth`, in keyHash order. */
function chunkOf(recs: readonly Rec[], depth: number, index: number): Rec[] {
  return recs
    .map((r) => [hashStateKey(r[0]), r] as const)
    .filter(([kh]) => prefixOf(kh, depth) === index)
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .map(([, r]) => r);
}

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

t.test("the cut folds to the root, and each chunk makes its entry", async (t) => {
  for (const [n, seed] of [[0, 1], [1, 2], [2, 3], [37, 4], [600, 5]] as const) {
    const recs = records(n, seed);
    const root = SparseMerkleTree.empty().update(recs).root();
    const source = paged(recs);
    for (const depth of [1, 3, 8, 10]) {
      const cut = pagedCut(source, depth);
      t.same(foldSubtrees(depth, cut.kinds, cut.hashes), root, `n=${n} depth=${depth}: the fold is the root`);
      const m: Manifest = { depth, ...cut };
      verifyManifest(m, root);
      let seen = 0;
      for (let i = 0; i < 1 << depth; i++) {
        const want = chunkOf(recs, depth, i);
        const got = [...pagedLeavesUnder(source, depth, i)];
        if (got.length !== want.length || got.some((g, j) => Buffer.compare(g.key, want[j]![0]) !== 0)) t.fail(`n=${n} depth=${depth} chunk ${i}: the leaves under the prefix are not its records`);
        if ((want.length === 0) !== (cut.kinds[i] === SubtreeKind.EMPTY)) t.fail(`chunk ${i}: kind ${cut.kinds[i]} for ${want.length} records`);
        verifyChunk(m, i, want);
        seen += want.length;
      }
      t.equal(seen, n, `n=${n} depth=${depth}: every record is in exactly one chunk`);
    }
  }
});

t.test("a chunk with a record forged, missing, added or misplaced is refused with its code", async (t) => {
  const recs = records(400, 7);
  const root = SparseMerkleTree.empty().update(recs).root();
  const depth = 4;
  const m: Manifest = { depth, ...pagedCut(paged(recs), depth) };
  const index = prefixOf(hashStateKey(recs[0]![0]), depth);
  const chunk = chunkOf(recs, depth, index);
  t.ok(chunk.length >= 3, `chunk ${index} has ${chunk.length} records`);
  verifyChunk(m, index, chunk);

  const forged = chunk.map((r, i) => (i === 1 ? ([r[0], new Uint8Array([9, 9, 9])] as Rec) : r));
  t.equal(codeOf(() => verifyChunk(m, index, forged)), StateSyncErrorCode.CHUNK_MISMATCH, "a forged value");
  t.equal(codeOf(() => verifyChunk(m, index, chunk.slice(0, -1))), StateSyncErrorCode.CHUNK_MISMATCH, "a missing record");
  t.equal(codeOf(() => verifyChunk(m, index, [])), StateSyncErrorCode.CHUNK_MISMATCH, "every record missing");
  // an extra record that does belong under the prefix: a key of the same prefix not in the state
  let extra: Rec | undefined;
  for (let i = 0; extra === undefined; i++) {
    const k = concatBytes(new Uint8Array([0x02]), u32be(i));
    if (prefixOf(hashStateKey(k), depth) === index) extra = [k, new Uint8Array([1])];
  }
  const withExtra = [...chunk, extra].sort((a, b) => Buffer.compare(hashStateKey(a[0]), hashStateKey(b[0])));
  t.equal(codeOf(() => verifyChunk(m, index, withExtra)), StateSyncErrorCode.CHUNK_MISMATCH, "an extra record under the prefix");
  const other = recs.find((r) => prefixOf(hashStateKey(r[0]), depth) !== index)!;
  t.equal(codeOf(() => verifyChunk(m, index, [...chunk, other])), StateSyncErrorCode.CHUNK_OUT_OF_RANGE, "a record of another prefix");
  t.equal(codeOf(() => verifyChunk(m, index, [chunk[0]!, chunk[0]!, ...chunk.slice(1)])), StateSyncErrorCode.CHUNK_UNORDERED, "a record twice");
  t.equal(codeOf(() => verifyChunk(m, index, [...chunk].reverse())), StateSyncErrorCode.CHUNK_UNORDERED, "records out of order");

  // a wrong manifest entry: the fold no longer reaches the root
  const hashes = new Uint8Array(m.hashes);
  hashes[index * 32] = hashes[index * 32]! ^ 1;
  t.equal(codeOf(() => verifyManifest({ ...m, hashes }, root)), StateSyncErrorCode.MANIFEST_MISMATCH, "a changed entry hash");
  // a changed kind beside an empty sibling changes the fold (a leaf moves up, an internal node does not)
  const deep: Manifest = { depth: 10, ...pagedCut(paged(recs), 10) };
  const lone = [...deep.kinds.keys()].find((i) => deep.kinds[i] === SubtreeKind.LEAF && deep.kinds[i ^ 1] === SubtreeKind.EMPTY)!;
  t.ok(lone !== undefined, `entry ${lone} is a leaf beside an empty subtree`);
  const kinds = new Uint8Array(deep.kinds);
  kinds[lone] = SubtreeKind.INTERNAL;
  t.equal(codeOf(() => verifyManifest({ ...deep, kinds }, root)), StateSyncErrorCode.MANIFEST_MISMATCH, "a changed entry kind where it moves a leaf");
  // where it does not change the fold, it does not make the honest chunk fail either
  const paired = [...deep.kinds.keys()].find((i) => deep.kinds[i] === SubtreeKind.LEAF && deep.kinds[i ^ 1] !== SubtreeKind.EMPTY)!;
  const kinds2 = new Uint8Array(deep.kinds);
  kinds2[paired] = SubtreeKind.INTERNAL;
  verifyManifest({ ...deep, kinds: kinds2 }, root);
  verifyChunk({ ...deep, kinds: kinds2 }, paired, chunkOf(recs, 10, paired));
  t.pass("a kind byte that the fold ignores blames no chunk");
  const empty = m.kinds.findIndex((k) => k === SubtreeKind.EMPTY);
  if (empty >= 0) {
    const h2 = new Uint8Array(m.hashes);
    h2[empty * 32] = 1;
    t.equal(codeOf(() => verifyManifest({ ...m, hashes: h2 }, root)), StateSyncErrorCode.MANIFEST_MISMATCH, "an empty entry with a hash");
  }
  t.equal(codeOf(() => verifyManifest({ ...m, kinds: m.kinds.subarray(1) }, root)), StateSyncErrorCode.MANIFEST_MISMATCH, "an entry short");
  t.equal(codeOf(() => verifyManifest(m, new Uint8Array(32).fill(3))), StateSyncErrorCode.MANIFEST_MISMATCH, "another root");
  // the summary of a single record is that leaf, whatever the depth
  t.same(subtreeSummary(depth, [recs[0]!]).hash, SparseMerkleTree.empty().update([recs[0]!]).root());
});

t.test("an offer is trusted through the genesis set, or when more than 1/3 of it signed", async (t) => {
  const keys = [testKey(900), testKey(901), testKey(902), testKey(903)];
  const power = 1_000_000_000_000n;
  const chain = newTestChain({ validators: keys.map((key) => ({ key, power })) });
  for (let i = 0; i < 3; i++) advance(chain, [txNext(chain, chain.faucet, { type: "transfer", to: testKey(i).publicKey, amount: 5n })]);
  const built = advance(chain, []);
  const block = built.block;
  const commit = chain.lastCommit!;
  const set = chain.state.lastValidators();
  const raw: RawOffer = { height: block.header.height, block: block.bytes, commit: encodeCommit(commit), validators: encodeValidators(set), depth: 8 };
  const genesisSet = genesisTrust(genesisState(chain.genesis).validators());
  const ok = verifyOffer(chain.genesis.chainId, genesisSet, raw);
  t.equal(ok.trust, "genesis");
  t.equal(ok.height, block.header.height);

  const forgedCommit: Commit = { ...commit, signatures: commit.signatures.map((s, i) => (i === 0 ? { ...s, signature: new Uint8Array(64).fill(1) } : s)) };
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, commit: encodeCommit(forgedCommit) })), StateSyncErrorCode.BAD_OFFER, "a forged commit signature");
  const fewSigs: Commit = { ...commit, signatures: commit.signatures.slice(0, 2) };
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, commit: encodeCommit(fewSigs) })), StateSyncErrorCode.BAD_OFFER, "a commit of 2/4 of the power");
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, validators: encodeValidators(set.slice(1)) })), StateSyncErrorCode.BAD_OFFER, "a set that is not the header's");
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, height: raw.height + 1n })), StateSyncErrorCode.BAD_OFFER, "another height");
  t.equal(codeOf(() => verifyOffer("other-chain", genesisSet, raw)), StateSyncErrorCode.BAD_OFFER, "another chain");
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, block: raw.block.subarray(1) })), StateSyncErrorCode.BAD_OFFER, "undecodable block");
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, genesisSet, { ...raw, depth: 40 })), StateSyncErrorCode.BAD_OFFER, "depth out of range");

  // a trusted set that differs from the signing set: more than 1/3 of it signed, or not
  const stranger = (i: number) => ({ publicKey: testKey(950 + i).publicKey, power, name: `s${i}`, priority: 0n });
  const twoOfThree = genesisTrust([genesisSet.validators[0]!, genesisSet.validators[1]!, stranger(0)]);
  t.equal(verifyOffer(chain.genesis.chainId, twoOfThree, raw).trust, "skipping", "2/3 of a trusted set signed");
  const oneOfThree = genesisTrust([genesisSet.validators[0]!, stranger(0), stranger(1)]);
  t.equal(codeOf(() => verifyOffer(chain.genesis.chainId, oneOfThree, raw)), StateSyncErrorCode.UNTRUSTED, "exactly 1/3 of the trusted set is not enough");
});

t.test("bisection: a set that replaced the genesis set is traced through the headers between", async (t) => {
  const CLC = 1_000_000_000n;
  const P = 1_000n * CLC;
  const old = [testKey(910), testKey(911), testKey(912), testKey(913)];
  const fresh = [testKey(920), testKey(921), testKey(922), testKey(923)];
  const chain = newTestChain({ validators: old.map((key) => ({ key, power: P })), balances: fresh.map((key) => ({ key, amount: 10n * P })) });
  chain.keys.push(...fresh);
  const light = new Map<bigint, LightBlock>();
  const step = (txs: SignedTx[] = []) => {
    const built = advance(chain, txs);
    light.set(built.block.header.height, { height: built.block.header.height, hash: built.block.hash, commit: chain.lastCommit!, validators: chain.state.lastValidators() });
  };
  step(fresh.flatMap((k) => [tx(chain, k, 0n, { type: "stake", amount: P }), tx(chain, k, 1n, { type: "validator.register", name: "fresh" })])); // 1: 8 validators from 3
  step(); // 2
  step(); // 3
  step(old.map((k) => txNext(chain, k, { type: "unstake", amount: P }))); // 4: the old ones leave at 6
  for (let i = 0; i < 6; i++) step(); // 5..10
  const at = (h: bigint) => light.get(h)!;
  t.equal(at(3n).validators.length, 8, "height 3 is signed by old and new together");
  t.equal(at(10n).validators.length, 4, "height 10 by the new ones alone");
  const genesisSet = genesisState(chain.genesis).validators();
  t.notOk(vouches(genesisSet, at(10n)), "the genesis set does not vouch for height 10");

  const asked: bigint[] = [];
  const fetch = async (h: bigint) => {
    asked.push(h);
    return light.get(h) ?? null;
  };
  const r = await bisectTrust(genesisTrust(genesisSet), at(10n), fetch);
  t.equal(r.fetched, asked.length);
  t.ok(asked.length >= 1 && asked.every((h) => h > 0n && h < 10n), `headers fetched between: ${asked.join(", ")}`);
  // each fetched header must itself check: the light block of a real chain does
  const raw = { header: encodeHeader(decodeBlock(advance(chain, []).block.bytes).header), commit: encodeCommit(chain.lastCommit!), validators: encodeValidators(chain.state.lastValidators()) };
  const h11 = checkLightBlock(chain.genesis.chainId, 11n, raw);
  t.equal(h11.height, 11n);
  t.equal(codeOf(() => checkLightBlock(chain.genesis.chainId, 11n, { ...raw, validators: encodeValidators(genesisSet) })), StateSyncErrorCode.BAD_OFFER, "a light block with another set");
  t.equal(codeOf(() => checkLightBlock(chain.genesis.chainId, 12n, raw)), StateSyncErrorCode.BAD_OFFER, "a light block of another height");

  // a peer that cannot serve the headers between: untrusted
  await t.rejects(bisectTrust(genesisTrust(genesisSet), at(10n), async () => null), { code: StateSyncErrorCode.UNTRUSTED });
  t.same(asked, [5n], "one header, halfway, bridges the change");
  // a gap no header bridges: every header between signed by the new set alone (the whole set
  // changed from one height to the next): bisection narrows down to heights 0..1 and gives up
  const asked2: bigint[] = [];
  await t.rejects(
    bisectTrust(genesisTrust(genesisSet), at(10n), async (h) => {
      asked2.push(h);
      return { ...at(10n), height: h };
    }),
    { code: StateSyncErrorCode.UNTRUSTED },
    "headers that never vouch",
  );
  t.same(asked2, [5n, 2n, 1n], "halving down to the adjacent height");
  await t.rejects(bisectTrust(genesisTrust(genesisSet), at(10n), async () => at(3n)), { code: StateSyncErrorCode.BAD_OFFER }, "a header of another height than asked");
});

t.test("a checkpoint refuses a long-range fork that the genesis set alone would trust", async (t) => {
  const CLC = 1_000_000_000n;
  const P = 1_000n * CLC;
  const old = [testKey(930), testKey(931), testKey(932), testKey(933)];
  const fresh = [testKey(940), testKey(941), testKey(942), testKey(943)];
  const opts = { validators: old.map((key) => ({ key, power: P })), balances: fresh.map((key) => ({ key, amount: 10n * P })) };
  // the real chain: the genesis validators hand over to new ones and leave (heights 1..10)
  const chain = newTestChain(opts);
  chain.keys.push(...fresh);
  const light = new Map<bigint, LightBlock>();
  const offers = new Map<bigint, RawOffer>();
  const step = (txs: SignedTx[] = []) => {
    const built = advance(chain, txs);
    const h = built.block.header.height;
    light.set(h, { height: h, hash: built.block.hash, commit: chain.lastCommit!, validators: chain.state.lastValidators() });
    offers.set(h, { height: h, block: built.block.bytes, commit: encodeCommit(chain.lastCommit!), validators: encodeValidators(chain.state.lastValidators()), depth: 8 });
  };
  step(fresh.flatMap((k) => [tx(chain, k, 0n, { type: "stake", amount: P }), tx(chain, k, 1n, { type: "validator.register", name: "fresh" })]));
  step();
  step();
  step(old.map((k) => txNext(chain, k, { type: "unstake", amount: P })));
  for (let i = 0; i < 6; i++) step();
  // the fork: the same genesis, and the departed genesis keys keep signing their own history
  const fork = newTestChain(opts);
  let forkOffer: RawOffer | undefined;
  for (let i = 0; i < 10; i++) {
    const built = advance(fork, []);
    forkOffer = { height: built.block.header.height, block: built.block.bytes, commit: encodeCommit(fork.lastCommit!), validators: encodeValidators(fork.state.lastValidators()), depth: 8 };
  }
  const chainId = chain.genesis.chainId;
  const genesis = genesisTrust(genesisState(chain.genesis).validators());
  t.equal(verifyOffer(chainId, genesis, forkOffer!).trust, "genesis", "from genesis alone, the fork's height 10 is trusted: the attack a checkpoint stops");
  t.not(Buffer.from(verifyOffer(chainId, genesis, forkOffer!).block.hash).toString("hex"), Buffer.from(light.get(10n)!.hash).toString("hex"), "the fork is another block at 10");

  // a checkpoint at 8 (after the genesis keys left), from a source the operator trusts
  const cp = checkpointTrust({ height: 8n, hash: light.get(8n)!.hash }, light.get(8n)!);
  t.equal(cp.height, 8n);
  t.equal(codeOf(() => verifyOffer(chainId, cp, forkOffer!)), StateSyncErrorCode.UNTRUSTED, "the fork is refused from the checkpoint");
  t.equal(verifyOffer(chainId, cp, offers.get(10n)!).trust, "skipping", "the real height 10 is trusted from the checkpoint");
  t.equal(verifyOffer(chainId, cp, offers.get(8n)!).trust, "checkpoint", "the checkpoint's own block");
  t.equal(codeOf(() => verifyOffer(chainId, cp, offers.get(7n)!)), StateSyncErrorCode.UNTRUSTED, "an offer below the checkpoint");
  t.equal(codeOf(() => verifyOffer(chainId, { ...cp, hash: light.get(9n)!.hash }, offers.get(8n)!)), StateSyncErrorCode.TRUST_MISMATCH, "another block at the checkpoint's height");
  t.equal(codeOf(() => checkpointTrust({ height: 8n, hash: light.get(9n)!.hash }, light.get(8n)!)), StateSyncErrorCode.TRUST_MISMATCH, "a peer's block at the checkpoint's height that is not the trusted one");
  t.equal(codeOf(() => checkpointTrust({ height: 9n, hash: light.get(8n)!.hash }, light.get(8n)!)), StateSyncErrorCode.TRUST_MISMATCH, "a light block of another height");

  // bisection starts at the checkpoint: it fetches only headers above it, and never goes below
  const cp2 = checkpointTrust({ height: 2n, hash: light.get(2n)!.hash }, light.get(2n)!);
  const asked: bigint[] = [];
  const r = await bisectTrust(cp2, light.get(10n)!, async (h) => {
    asked.push(h);
    return light.get(h) ?? null;
  });
  t.ok(r.fetched >= 1 && asked.every((h) => h > 2n && h < 10n), `headers fetched between the checkpoint and the target: ${asked.join(", ")}`);
  await t.rejects(bisectTrust(cp, light.get(7n)!, async (h) => light.get(h) ?? null), { code: StateSyncErrorCode.UNTRUSTED }, "a target below the checkpoint is never bisected");
});
