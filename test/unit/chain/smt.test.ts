import assert from "node:assert/strict";
import fc from "fast-check";
import t from "tap";
import { compareBytes, equalBytes, toHex } from "../../../primitives/bytes.ts";
import { encode } from "../../../primitives/codec.ts";
import { CodecError } from "../../../primitives/errors.ts";
import { sha256, Tag, taggedHash } from "../../../primitives/hash.ts";
import {
  decodeStateProof,
  encodeStateProof,
  hashStateKey,
  nodePath,
  pagedKeys,
  pagedProve,
  pagedRoot,
  pagedUpdate,
  SparseMerkleTree,
  verifyStateProof,
  type StateProof,
} from "../../../chain/smt.ts";

// ---- helpers ----

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const ZERO = new Uint8Array(32);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = (i: number): Uint8Array => utf8(`account/${i}`);
const val = (i: number, gen = 0): Uint8Array => utf8(`balance ${i} gen ${gen}`);

/** Keys of many lengths, including empty and longer than the hasher's shared buffer (64 bytes). */
const POOL: Uint8Array[] = Array.from({ length: 40 }, (_, i) => (i === 0 ? new Uint8Array(0) : new Uint8Array(1 + ((i * 13) % 150)).fill(i)));

function build(n: number): SparseMerkleTree {
  return SparseMerkleTree.empty().update(Array.from({ length: n }, (_, i) => [key(i), val(i)] as const));
}

function bit(h: Uint8Array, depth: number): number {
  return (h[depth >> 3]! >> (7 - (depth & 7))) & 1;
}

/**
 * The root by its definition (docs/protocol.md section 2), computed from the set of pairs alone with hash.ts:
 * no leaf -> zeros, one leaf -> its leaf hash, else split on the next keyHash bit.
 */
function specRoot(pairs: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const leaves = [...pairs].map(([k, v]) => ({ kh: taggedHash(Tag.STATE_KEY, k), vh: sha256(v) }));
  const rec = (ls: typeof leaves, depth: number): Uint8Array => {
    if (ls.length === 0) return new Uint8Array(32);
    if (ls.length === 1) return taggedHash(Tag.STATE_LEAF, ls[0]!.kh, ls[0]!.vh);
    const left = rec(ls.filter((l) => bit(l.kh, depth) === 0), depth + 1);
    const right = rec(ls.filter((l) => bit(l.kh, depth) === 1), depth + 1);
    return taggedHash(Tag.STATE_NODE, left, right);
  };
  return rec(leaves, 0);
}

/** A reference map keyed by hex, applying changes one at a time. */
type Model = Map<string, [Uint8Array, Uint8Array]>;
function applyToModel(m: Model, changes: Iterable<readonly [Uint8Array, Uint8Array | null]>): Model {
  for (const [k, v] of changes) {
    if (v === null) m.delete(toHex(k));
    else m.set(toHex(k), [k, v]);
  }
  return m;
}

function byKeyHash(pairs: Iterable<[Uint8Array, Uint8Array]>): [Uint8Array, Uint8Array][] {
  return [...pairs].sort((a, b) => compareBytes(hashStateKey(a[0]), hashStateKey(b[0])));
}

function flipBit(b: Uint8Array, bitIndex = 0): Uint8Array {
  const c = new Uint8Array(b);
  c[bitIndex >> 3]! ^= 1 << (bitIndex & 7);
  return c;
}

function expectCodecError(t: Test, bytes: Uint8Array, what: string, code?: string): void {
  try {
    decodeStateProof(bytes);
    t.fail(`${what}: accepted`);
  } catch (e) {
    t.ok(e instanceof CodecError, `${what}: throws a CodecError`);
    const got = (e as CodecError).code;
    t.match(got, /^CODEC_/, `${what}: code ${got}`);
    if (code !== undefined) t.equal(got, code, `${what}: code is ${code}`);
  }
}

// fast-check arbitraries: keys from a small pool (so overwrites and deletes hit), values
// possibly empty, null meaning delete.
const keyIdx = fc.integer({ min: 0, max: POOL.length - 1 });
const valueArb = fc.uint8Array({ maxLength: 40 });
const changeArb = fc.tuple(keyIdx, fc.option(valueArb, { nil: null, freq: 4 })).map(([i, v]) => [POOL[i]!, v] as const);
const batchesArb = fc.array(fc.array(changeArb, { maxLength: 12 }), { maxLength: 8 });

// ---- tests ----

t.test("empty tree: zero root, nothing stored, exclusion proof verifies", async (t) => {
  const e = SparseMerkleTree.empty();
  t.same(e.root(), ZERO);
  t.equal(e.size, 0);
  t.equal(e.get(key(1)), undefined);
  t.same([...e.entries()], []);
  const p = e.prove(key(1));
  t.same(p, { siblings: [], leaf: null });
  t.ok(verifyStateProof(ZERO, key(1), null, p));
  t.notOk(verifyStateProof(ZERO, key(1), val(1), p), "nothing is present in the empty tree");
  t.same(SparseMerkleTree.empty().update([]).root(), ZERO);
});

t.test("hashes are the ones the design specifies", async (t) => {
  // Keys of every interesting length, including past the hasher's shared buffer.
  for (const len of [0, 1, 32, 64, 65, 200, 5000]) {
    const k = new Uint8Array(len).fill(7);
    t.same(hashStateKey(k), taggedHash(Tag.STATE_KEY, k), `keyHash of a ${len}-byte key`);
  }
  const one = SparseMerkleTree.empty().update([[key(1), val(1)]]);
  t.same(one.root(), taggedHash(Tag.STATE_LEAF, taggedHash(Tag.STATE_KEY, key(1)), sha256(val(1))), "single leaf sits at the root");

  // Two keys whose keyHashes differ in the first bit: the root is H(node, left leaf, right leaf).
  let j = 2;
  while (bit(hashStateKey(key(j)), 0) === bit(hashStateKey(key(1)), 0)) j++;
  const [l, r] = bit(hashStateKey(key(1)), 0) === 0 ? [1, j] : [j, 1];
  const leafOf = (i: number) => taggedHash(Tag.STATE_LEAF, hashStateKey(key(i)), sha256(val(i)));
  const two = SparseMerkleTree.empty().update([[key(1), val(1)], [key(j), val(j)]]);
  t.same(two.root(), taggedHash(Tag.STATE_NODE, leafOf(l), leafOf(r)));

  const tree = build(300);
  t.same(tree.root(), specRoot(tree.entries()), "300 keys: root matches the reference definition");
  t.same(tree.root(), specRoot(Array.from({ length: 300 }, (_, i) => [key(i), val(i)] as const)));
});

t.test("get, size and entries reflect the contents", async (t) => {
  const tree = build(200);
  t.equal(tree.size, 200);
  for (let i = 0; i < 200; i++) t.same(tree.get(key(i)), val(i), `get key ${i}`);
  t.equal(tree.get(key(200)), undefined);
  const entries = [...tree.entries()];
  t.equal(entries.length, 200);
  t.same(entries, byKeyHash(Array.from({ length: 200 }, (_, i) => [key(i), val(i)] as [Uint8Array, Uint8Array])), "in keyHash order");
});

t.test("update: last change wins, no-ops leave the root alone", async (t) => {
  const base = build(50);
  const r0 = base.root();
  const twice = base.update([[key(3), val(3, 1)], [key(3), val(3, 2)], [key(60), val(60)], [key(60), null]]);
  t.same(twice.get(key(3)), val(3, 2), "later overwrite wins");
  t.equal(twice.get(key(60)), undefined, "later delete wins");
  t.equal(twice.size, 50);
  const delMissing = base.update([[key(999), null]]);
  t.same(delMissing.root(), r0, "deleting a missing key changes nothing");
  t.equal(delMissing.size, 50);
  t.same(base.update([[key(7), val(7)]]).root(), r0, "writing the same value changes nothing");
  t.same(base.update([]).root(), r0, "empty batch");
  function* gen(): Generator<[Uint8Array, Uint8Array | null]> {
    yield [key(1), null];
  }
  const viaGen = base.update(gen());
  t.equal(viaGen.size, 49, "any iterable of changes");
  t.equal(viaGen.get(key(1)), undefined);
});

t.test("property: the root depends only on the final contents", async (t) => {
  const perm = fc.array(fc.nat(), { minLength: POOL.length, maxLength: POOL.length });
  fc.assert(
    fc.property(batchesArb, perm, (batches, order) => {
      let tree = SparseMerkleTree.empty();
      let oneByOne = SparseMerkleTree.empty();
      const model: Model = new Map();
      for (const batch of batches) {
        tree = tree.update(batch);
        for (const c of batch) oneByOne = oneByOne.update([c]);
        applyToModel(model, batch);
      }
      const root = tree.root();
      const pairs = [...model.values()];
      assert.deepEqual(root, specRoot(pairs), "matches the reference definition");
      assert.deepEqual(oneByOne.root(), root, "one change per update gives the same root");
      // The same set inserted fresh, in a shuffled order, one batch.
      const shuffled = pairs.map((p, i) => ({ p, w: order[i % order.length]! })).sort((a, b) => a.w - b.w).map((x) => x.p);
      assert.deepEqual(SparseMerkleTree.empty().update(shuffled).root(), root, "fresh insert in another order");
      assert.equal(tree.size, model.size);
      for (const k of POOL) assert.deepEqual(tree.get(k), model.get(toHex(k))?.[1], "get matches the model");
      assert.deepEqual([...tree.entries()], byKeyHash(pairs), "entries match the model");
    }),
    { numRuns: 150 },
  );
  t.pass("150 random histories");
});

t.test("property: deleting everything, in any batches, gives the empty root", async (t) => {
  const cuts = fc.array(fc.nat(), { maxLength: 4 });
  fc.assert(
    fc.property(batchesArb, cuts, (batches, cutPoints) => {
      let tree = SparseMerkleTree.empty();
      for (const b of batches) tree = tree.update(b);
      // Delete every pool key (present or not), split into batches at the given points.
      const dels = POOL.map((k) => [k, null] as const).reverse();
      const bounds = [0, ...cutPoints.map((c) => c % (dels.length + 1)).sort((a, b) => a - b), dels.length];
      for (let i = 0; i + 1 < bounds.length; i++) tree = tree.update(dels.slice(bounds[i], bounds[i + 1]));
      assert.deepEqual(tree.root(), ZERO);
      assert.equal(tree.size, 0);
      assert.deepEqual([...tree.entries()], []);
    }),
    { numRuns: 100 },
  );
  t.pass("100 random histories");
});

t.test("inclusion and exclusion proofs verify (both exclusion cases occur)", async (t) => {
  const tree = build(300);
  const root = tree.root();
  for (let i = 0; i < 300; i++) {
    const p = tree.prove(key(i));
    t.equal(p.leaf, null, "inclusion proofs carry no leaf");
    t.ok(p.siblings.length > 0 && p.siblings.length <= 256);
    t.ok(verifyStateProof(root, key(i), val(i), p), `inclusion of key ${i}`);
    t.notOk(verifyStateProof(root, key(i), null, p), `key ${i} is not absent`);
  }
  let emptySpot = 0;
  let otherLeaf = 0;
  for (let i = 300; i < 600; i++) {
    const p = tree.prove(key(i));
    if (p.leaf === null) emptySpot++;
    else {
      otherLeaf++;
      t.notOk(equalBytes(p.leaf.keyHash, hashStateKey(key(i))));
    }
    t.ok(verifyStateProof(root, key(i), null, p), `exclusion of key ${i}`);
    t.notOk(verifyStateProof(root, key(i), val(i), p), `key ${i} is not present`);
  }
  t.ok(emptySpot > 0, `exclusion via an empty spot occurred (${emptySpot})`);
  t.ok(otherLeaf > 0, `exclusion via another leaf occurred (${otherLeaf})`);
});

t.test("property: proofs from random trees verify, and only for the true claim", async (t) => {
  const contents = fc.uniqueArray(fc.tuple(keyIdx, valueArb), { selector: ([i]) => i, maxLength: 30 });
  fc.assert(
    fc.property(contents, (pairs) => {
      const tree = SparseMerkleTree.empty().update(pairs.map(([i, v]) => [POOL[i]!, v] as const));
      const root = tree.root();
      const present = new Map(pairs.map(([i, v]) => [i, v]));
      POOL.forEach((k, i) => {
        const p = tree.prove(k);
        const v = present.get(i);
        const bytes = encodeStateProof(p);
        const back = decodeStateProof(bytes);
        assert.deepEqual(encodeStateProof(back), bytes, "proof round-trips through CBOR");
        if (v !== undefined) {
          assert.ok(verifyStateProof(root, k, v, back), "inclusion");
          assert.ok(!verifyStateProof(root, k, null, back), "not absent");
          assert.ok(!verifyStateProof(root, k, utf8("other"), back), "not another value");
        } else {
          assert.ok(verifyStateProof(root, k, null, back), "exclusion");
          assert.ok(!verifyStateProof(root, k, new Uint8Array(0), back), "not present");
        }
      });
    }),
    { numRuns: 60 },
  );
  t.pass("60 random trees, every pool key proved");
});

t.test("long shared prefixes: deep paths prove and collapse correctly", async (t) => {
  // Birthday search over fixed keys for two keyHashes sharing many leading bits.
  const hashed = Array.from({ length: 4000 }, (_, i) => ({ k: key(i), kh: hashStateKey(key(i)) })).sort((a, b) =>
    compareBytes(a.kh, b.kh),
  );
  let best = { a: hashed[0]!, b: hashed[1]!, shared: -1 };
  for (let i = 0; i + 1 < hashed.length; i++) {
    let s = 0;
    while (s < 256 && bit(hashed[i]!.kh, s) === bit(hashed[i + 1]!.kh, s)) s++;
    if (s > best.shared) best = { a: hashed[i]!, b: hashed[i + 1]!, shared: s };
  }
  t.ok(best.shared >= 20, `found keys sharing ${best.shared} bits`);
  const { a, b, shared } = best;
  const tree = SparseMerkleTree.empty().update([[a.k, val(1)], [b.k, val(2)]]);
  t.same(tree.root(), specRoot([[a.k, val(1)], [b.k, val(2)]]));
  const p = tree.prove(a.k);
  t.equal(p.siblings.length, shared + 1, "the leaves sit just below their common prefix");
  t.ok(p.siblings.slice(1).every((s) => equalBytes(s, ZERO)), "every sibling above the split is empty");
  t.ok(verifyStateProof(tree.root(), a.k, val(1), p));
  const onlyA = tree.update([[b.k, null]]);
  t.same(onlyA.root(), taggedHash(Tag.STATE_LEAF, a.kh, sha256(val(1))), "deleting one lifts the other to the root");
  t.same(onlyA.prove(a.k).siblings, []);
  t.equal(onlyA.size, 1);
});

t.test("tampered proofs fail", async (t) => {
  const tree = build(300);
  const root = tree.root();
  let absentEmpty: Uint8Array | undefined;
  let absentLeaf: Uint8Array | undefined;
  for (let i = 300; absentEmpty === undefined || absentLeaf === undefined; i++) {
    if (tree.prove(key(i)).leaf === null) absentEmpty ??= key(i);
    else absentLeaf ??= key(i);
  }
  const cases: { name: string; k: Uint8Array; v: Uint8Array | null }[] = [
    { name: "inclusion", k: key(5), v: val(5) },
    { name: "exclusion (other leaf)", k: absentLeaf, v: null },
    { name: "exclusion (empty spot)", k: absentEmpty, v: null },
  ];
  const otherLeaf = { keyHash: hashStateKey(key(9)), valueHash: sha256(val(9)) };
  for (const { name, k, v } of cases) {
    const p = tree.prove(k);
    t.ok(verifyStateProof(root, k, v, p), `${name}: untampered proof verifies`);
    t.notOk(verifyStateProof(flipBit(root), k, v, p), `${name}: other root`);
    p.siblings.forEach((_, i) => {
      const siblings = p.siblings.map((s, j) => (j === i ? flipBit(s, 5) : s));
      t.notOk(verifyStateProof(root, k, v, { ...p, siblings }), `${name}: sibling ${i} flipped`);
    });
    t.notOk(verifyStateProof(root, k, v, { ...p, siblings: p.siblings.slice(1) }), `${name}: deepest sibling dropped`);
    t.notOk(verifyStateProof(root, k, v, { ...p, siblings: p.siblings.slice(0, -1) }), `${name}: top sibling dropped`);
    t.notOk(verifyStateProof(root, k, v, { ...p, siblings: [...p.siblings, ZERO] }), `${name}: sibling added on top`);
    t.notOk(verifyStateProof(root, k, v, { ...p, siblings: [ZERO, ...p.siblings] }), `${name}: sibling added below`);
    t.notOk(verifyStateProof(root, k, v, { ...p, leaf: otherLeaf }), `${name}: leaf swapped`);
    t.notOk(verifyStateProof(root, key(9), val(9), p), `${name}: proof used for another (present) key`);
    if (v !== null) {
      t.notOk(verifyStateProof(root, k, val(5, 1), p), `${name}: claims a different value`);
      t.notOk(verifyStateProof(root, k, null, p), `${name}: claims absent`);
      const own = { keyHash: hashStateKey(k), valueHash: sha256(v) };
      t.ok(verifyStateProof(root, k, v, { ...p, leaf: own }), `${name}: naming its own leaf is still fine`);
      t.notOk(verifyStateProof(root, k, null, { ...p, leaf: own }), `${name}: claims absent, showing its own leaf`);
    } else {
      t.notOk(verifyStateProof(root, k, utf8("x"), p), `${name}: claims present`);
      if (p.leaf !== null) {
        t.notOk(verifyStateProof(root, k, null, { ...p, leaf: null }), `${name}: leaf removed`);
        t.notOk(verifyStateProof(root, k, null, { ...p, leaf: { ...p.leaf, valueHash: flipBit(p.leaf.valueHash) } }), `${name}: leaf value changed`);
      }
    }
  }

  // A leaf off the queried key's path must be rejected even when the hashes chain up: the
  // root below is built by hand with a leaf whose first bit puts it on the other side.
  const q = key(1);
  const qBit = bit(hashStateKey(q), 0);
  const mkLeaf = (first: number) => {
    for (let i = 2; ; i++) {
      const kh = hashStateKey(key(i));
      if (bit(kh, 0) === first) return { keyHash: kh, valueHash: sha256(val(i)) };
    }
  };
  const handRoot = (lf: { keyHash: Uint8Array; valueHash: Uint8Array }) => {
    const lh = taggedHash(Tag.STATE_LEAF, lf.keyHash, lf.valueHash);
    return qBit === 0 ? taggedHash(Tag.STATE_NODE, lh, ZERO) : taggedHash(Tag.STATE_NODE, ZERO, lh);
  };
  const onPath = mkLeaf(qBit);
  const offPath = mkLeaf(1 - qBit);
  t.ok(verifyStateProof(handRoot(onPath), q, null, { siblings: [ZERO], leaf: onPath }), "control: a leaf on the path proves absence");
  t.notOk(verifyStateProof(handRoot(offPath), q, null, { siblings: [ZERO], leaf: offPath }), "a leaf off the path does not");
});

t.test("verifyStateProof returns false on garbage and never throws", async (t) => {
  const tree = build(20);
  const root = tree.root();
  const good = tree.prove(key(1));
  const h = new Uint8Array(32);
  const sparse: Uint8Array[] = [];
  sparse.length = 3;
  const cases: [string, unknown, unknown, unknown, unknown][] = [
    ["short root", root.subarray(0, 31), key(1), val(1), good],
    ["root not bytes", "00".repeat(32), key(1), val(1), good],
    ["key not bytes", root, "account/1", val(1), good],
    ["value not bytes", root, key(1), 5, good],
    ["value undefined", root, key(1), undefined, good],
    ["proof null", root, key(1), val(1), null],
    ["proof undefined", root, key(1), val(1), undefined],
    ["proof a string", root, key(1), val(1), "proof"],
    ["no siblings", root, key(1), val(1), { leaf: null }],
    ["siblings not an array", root, key(1), val(1), { siblings: h, leaf: null }],
    ["sibling short", root, key(1), val(1), { siblings: [...good.siblings.slice(1), new Uint8Array(31)], leaf: null }],
    ["sibling a string", root, key(1), val(1), { siblings: ["x"], leaf: null }],
    ["siblings with holes", root, key(1), null, { siblings: sparse, leaf: null }],
    ["257 siblings", root, key(1), null, { siblings: Array.from({ length: 257 }, () => h), leaf: null }],
    ["leaf undefined", root, key(1), null, { siblings: good.siblings }],
    ["leaf a number", root, key(1), null, { siblings: good.siblings, leaf: 3 }],
    ["leaf missing fields", root, key(1), null, { siblings: good.siblings, leaf: {} }],
    ["leaf short keyHash", root, key(1), null, { siblings: good.siblings, leaf: { keyHash: h.subarray(1), valueHash: h } }],
  ];
  for (const [name, r, k, v, p] of cases) {
    let result: boolean | undefined;
    t.doesNotThrow(() => {
      result = verifyStateProof(r as Uint8Array, k as Uint8Array, v as Uint8Array | null, p as StateProof);
    }, name);
    t.equal(result, false, `${name}: false`);
  }

  // More than 256 siblings is rejected even when the hashes chain up to the root. A key has
  // no bit 256, so the deepest sibling is tried on both sides.
  const kh = hashStateKey(key(1));
  const leaf = taggedHash(Tag.STATE_LEAF, kh, sha256(val(1)));
  const siblings = Array.from({ length: 257 }, (_, i) => new Uint8Array(32).fill(i & 0xff));
  /** Hashes `h` up through siblings whose depths are 255, 254, ..., 0. */
  const climb = (h: Uint8Array, sibs: Uint8Array[]): Uint8Array =>
    sibs.reduce((acc, s, i) => {
      const depth = sibs.length - 1 - i;
      return bit(kh, depth) === 0 ? taggedHash(Tag.STATE_NODE, acc, s) : taggedHash(Tag.STATE_NODE, s, acc);
    }, h);
  const top256 = siblings.slice(1);
  t.ok(verifyStateProof(climb(leaf, top256), key(1), val(1), { siblings: top256, leaf: null }), "control: 256 siblings verify");
  const withLeft = climb(taggedHash(Tag.STATE_NODE, leaf, siblings[0]!), top256);
  const withRight = climb(taggedHash(Tag.STATE_NODE, siblings[0]!, leaf), top256);
  t.notOk(verifyStateProof(withLeft, key(1), val(1), { siblings, leaf: null }), "257 siblings chaining to the root (leaf left)");
  t.notOk(verifyStateProof(withRight, key(1), val(1), { siblings, leaf: null }), "257 siblings chaining to the root (leaf right)");
});

t.test("trees are immutable: older versions are unchanged by updates", async (t) => {
  const old = build(100);
  const oldRoot = old.root();
  const oldProof = old.prove(key(3));
  const next = old.update([[key(3), val(3, 1)], [key(4), null], [key(500), val(500)]]);
  t.notSame(next.root(), oldRoot, "the new tree differs");
  t.same(next.get(key(3)), val(3, 1));
  t.equal(next.size, 100);
  t.same(old.root(), oldRoot, "old root unchanged");
  t.equal(old.size, 100);
  t.same(old.get(key(3)), val(3), "old value still there");
  t.same(old.get(key(4)), val(4), "deleted key still in the old tree");
  t.equal(old.get(key(500)), undefined, "inserted key not in the old tree");
  t.ok(verifyStateProof(oldRoot, key(3), val(3), old.prove(key(3))), "old tree still proves against its root");
  t.same(old.prove(key(3)), oldProof);
  t.same(old.root(), specRoot(Array.from({ length: 100 }, (_, i) => [key(i), val(i)] as const)));

  // The tree owns its bytes: mutating inputs or outputs afterwards changes nothing.
  const k = Buffer.from("shared-buffer-key");
  const v = Buffer.from("shared-buffer-value");
  const withBuf = old.update([[k, v]]);
  const rootBefore = withBuf.root();
  k.fill(0);
  v.fill(0);
  t.same(withBuf.get(utf8("shared-buffer-key")), utf8("shared-buffer-value"), "caller's buffers were copied");
  withBuf.root().fill(1);
  withBuf.prove(key(1)).siblings.forEach((s) => s.fill(1));
  // An exclusion proof names another key's leaf; scribbling on it must not reach that leaf.
  let excl = withBuf.prove(key(1000));
  for (let i = 1001; excl.leaf === null; i++) excl = withBuf.prove(key(i));
  const shown = excl.leaf.keyHash;
  const owner = Array.from({ length: 100 }, (_, i) => i).find((i) => equalBytes(hashStateKey(key(i)), shown));
  t.not(owner, undefined, "the proof's leaf is one of the tree's keys");
  excl.leaf.keyHash.fill(0);
  excl.leaf.valueHash.fill(0);
  t.same(withBuf.get(key(owner!)), val(owner!), "that key is still found");
  t.same(withBuf.root(), rootBefore, "mutating returned hashes does not reach the tree");
  t.same(withBuf.root(), specRoot(withBuf.entries()));
});

t.test("proof encoding round-trips to identical bytes", async (t) => {
  const tree = build(300);
  const samples: StateProof[] = [tree.prove(key(1)), SparseMerkleTree.empty().prove(key(1))];
  for (let i = 300; samples.length < 4; i++) {
    const p = tree.prove(key(i));
    if ((samples.length === 2 && p.leaf !== null) || (samples.length === 3 && p.leaf === null)) samples.push(p);
  }
  const max: StateProof = { siblings: Array.from({ length: 256 }, (_, i) => new Uint8Array(32).fill(i)), leaf: null };
  samples.push(max);
  for (const p of samples) {
    const bytes = encodeStateProof(p);
    const back = decodeStateProof(bytes);
    t.same(back, p, "same proof");
    t.same(encodeStateProof(back), bytes, "same bytes");
  }
  const root = tree.root();
  t.ok(verifyStateProof(root, key(1), val(1), decodeStateProof(encodeStateProof(tree.prove(key(1))))));
});

t.test("decodeStateProof rejects malformed input with a CodecError", async (t) => {
  const h = new Uint8Array(32);
  const good = encodeStateProof({ siblings: [h, h], leaf: { keyHash: h, valueHash: h } });
  expectCodecError(t, new Uint8Array(0), "empty input", "CODEC_MALFORMED");
  expectCodecError(t, Uint8Array.of(0xff), "not CBOR", "CODEC_MALFORMED");
  expectCodecError(t, good.subarray(0, good.length - 1), "truncated");
  expectCodecError(t, Uint8Array.of(...good, 0), "trailing byte");
  // Array of two elements whose length is written non-minimally (0x98 0x02 instead of 0x82).
  expectCodecError(t, Uint8Array.of(0x98, 0x02, ...good.subarray(1)), "non-canonical length");
  expectCodecError(t, encode([[h]]), "one element", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[h], null, null]), "three elements", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode(h), "not an array", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([h, null]), "siblings not an array", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[h, new Uint8Array(31)], null]), "short sibling", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[new Uint8Array(33)], null]), "long sibling", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([["x"], null]), "sibling a string", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[], 0]), "leaf a number", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[], [h]]), "leaf with one field", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([[], [h, new Uint8Array(3)]]), "leaf valueHash short", "CODEC_WRONG_SHAPE");
  expectCodecError(t, encode([Array.from({ length: 257 }, () => h), null]), "257 siblings", "CODEC_OUT_OF_RANGE");
  expectCodecError(t, new Uint8Array(20_000), "oversized input", "CODEC_TOO_LARGE");
});

// ---- the paged tree (one record per position, what the block store keeps) ----

/** A paged tree in a Map: applies pagedUpdate's writes, as the store's batch does. */
class MapPages {
  readonly m = new Map<string, Uint8Array>();
  readonly source = (p: Uint8Array): Uint8Array | undefined => this.m.get(toHex(p));
  apply(changes: readonly (readonly [Uint8Array, Uint8Array | null])[]): Uint8Array {
    const { root, writes } = pagedUpdate(this.source, changes);
    const seen = new Set<string>();
    for (const [p, r, old] of writes) {
      const id = toHex(p);
      if (old !== undefined) assert.equal(old === null ? undefined : toHex(old), this.m.has(id) ? toHex(this.m.get(id)!) : undefined, "the replaced record it reports is the stored one");
      assert.ok(!seen.has(id), "a position is written at most once per update");
      seen.add(id);
      if (r === null) {
        assert.ok(this.m.has(id), "only a stored record is deleted");
        this.m.delete(id);
      } else this.m.set(id, r);
    }
    assert.equal(toHex(pagedRoot(this.source)), toHex(root), "the written records give the returned root");
    return root;
  }
}

/** Records reachable from the root record, following the child kinds of internal records. */
function reachable(source: (p: Uint8Array) => Uint8Array | undefined): number {
  let n = 0;
  const stack: [Uint8Array, number][] = [[new Uint8Array(32), 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [prefix, depth] = top;
    const r = source(nodePath(prefix, depth));
    if (depth === 0 && r === undefined) return 0; // the empty tree
    assert.ok(r, "a record the parent names is stored");
    n++;
    if (r[0] !== 2) continue;
    for (const side of [0, 1]) {
      if (((r[1]! >> (2 * side)) & 3) === 0) continue;
      const child = new Uint8Array(prefix);
      if (side === 1) child[depth >> 3] = child[depth >> 3]! | (0x80 >> (depth & 7));
      stack.push([child, depth + 1]);
    }
  }
  return n;
}

t.test("property: the paged tree gives SparseMerkleTree's roots, proofs and keys, and no stale records", async (t) => {
  const change = fc.tuple(fc.integer({ min: 0, max: 39 }), fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }));
  fc.assert(
    fc.property(fc.array(fc.array(change, { maxLength: 25 }), { maxLength: 8 }), (batches) => {
      let tree = SparseMerkleTree.empty();
      const pages = new MapPages();
      for (const batch of batches) {
        const changes = batch.map(([k, v]) => [POOL[k]!, v === null ? null : val(k, v)] as const);
        tree = tree.update(changes);
        assert.equal(toHex(pages.apply(changes)), toHex(tree.root()));
        for (const k of POOL.slice(0, 12)) assert.deepEqual(pagedProve(pages.source, k), tree.prove(k));
        assert.deepEqual([...pagedKeys(pages.source)].map(toHex).sort(), [...tree.entries()].map(([k]) => toHex(k)).sort());
        // no stale records: every stored record is reachable from the root
        assert.equal(pages.m.size, reachable(pages.source));
      }
    }),
    { numRuns: 300 },
  );
  t.pass("300 random histories agree");
});

t.test("paged tree: a deep pair of leaves, split and collapsed, matches the in-memory tree", async (t) => {
  // keys whose keyHashes share a long prefix are rare; find two that share 12 bits
  const byPrefix = new Map<number, Uint8Array>();
  let pair: [Uint8Array, Uint8Array] | undefined;
  for (let i = 0; pair === undefined; i++) {
    const k = utf8(`deep/${i}`);
    const h = hashStateKey(k);
    const p = (h[0]! << 4) | (h[1]! >> 4);
    const other = byPrefix.get(p);
    if (other) pair = [other, k];
    else byPrefix.set(p, k);
  }
  const pages = new MapPages();
  let tree = SparseMerkleTree.empty();
  for (const changes of [[[pair[0], val(1)]], [[pair[1], val(2)]], [[key(5), val(5)]], [[pair[0], null]], [[pair[1], null], [key(6), val(6)]], [[key(5), null], [key(6), null]]] as const) {
    tree = tree.update(changes);
    t.equal(toHex(pages.apply(changes)), toHex(tree.root()));
  }
  t.equal(pages.m.size, 0, "nothing left once every key is deleted");
});
