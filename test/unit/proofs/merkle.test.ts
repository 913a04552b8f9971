/**
 * proofs/merkle.ts against RFC 6962.
 *
 * Pinned vectors: the standard 8-leaf certificate-transparency test data set, as published in
 * github.com/transparency-dev/merkle (testonly/constants.go: LeafInputs, NodeHashes, RootHashes;
 * proof/verify_test.go: inclusionProofs, and its corruption probes), which is the data set of
 * the original certificate-transparency and Trillian merkle tests. Only the data is copied.
 */
import t from "tap";
import { randomBytes } from "node:crypto";
import { fromHex, toHex } from "../../../primitives/bytes.ts";
import { sha256 } from "../../../primitives/hash.ts";
import {
  MerkleTree,
  auditPath,
  emptyRoot,
  leafHash,
  merkleRoot,
  nodeHash,
  rootFromAuditPath,
  rootFromLeafHashes,
  verifyAuditPath,
} from "../../../proofs/merkle.ts";

// ---- the published data set ----

const LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(fromHex);

/** NodeHashes()[level][index]: every complete subtree of the 8-leaf tree. */
const NODE_HASHES: string[][] = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/** RootHashes(): roots of the trees of the first n leaves, n = 0..8. */
const ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/** inclusionProofs (leaf is 1-based there; here `index` is the 0-based leaf index). */
const INCLUSION = [
  {
    index: 0,
    size: 8,
    path: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    path: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, path: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    path: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];

/** sha256SomeHash from the same file: a 32-byte value that is no node of these trees. */
const SOME_HASH = fromHex("abacaba000000000000000000000000000000000000000000060061e00123456");

const hexList = (l: Uint8Array[]) => l.map(toHex);

// ---- an independent reference: RFC 6962 section 2.1, written recursively as in the RFC ----

function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(new Uint8Array([0]), d[0]!);
  const k = largestPow2Below(d.length);
  return sha256(new Uint8Array([1]), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = largestPow2Below(d.length);
  return m < k ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))] : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}

function randomLeaves(n: number): Uint8Array[] {
  // distinct, varied lengths (0..40 bytes), with an index prefix so no two are equal
  return Array.from({ length: n }, (_, i) => {
    const body = randomBytes(i % 41);
    const b = new Uint8Array(4 + body.length);
    new DataView(b.buffer).setUint32(0, i);
    b.set(body, 4);
    return b;
  });
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = new Uint8Array(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

// ---- tests ----

t.test("RFC 6962 vectors: roots of every prefix size 0..8", async (t) => {
  for (let n = 0; n <= 8; n++) {
    const leaves = LEAF_INPUTS.slice(0, n);
    t.equal(toHex(merkleRoot(leaves)), ROOTS[n], `merkleRoot, size ${n}`);
    t.equal(toHex(rootFromLeafHashes(leaves.map(leafHash))), ROOTS[n], `rootFromLeafHashes, size ${n}`);
    t.equal(toHex(MerkleTree.fromLeaves(leaves).root), ROOTS[n], `MerkleTree, size ${n}`);
  }
  t.equal(toHex(emptyRoot()), ROOTS[0], "empty root is SHA-256 of the empty string");
});

t.test("RFC 6962 vectors: leaf and node hashes of every complete subtree", async (t) => {
  t.same(hexList(LEAF_INPUTS.map(leafHash)), NODE_HASHES[0], "leaf hashes");
  for (let level = 1; level < NODE_HASHES.length; level++) {
    const below = NODE_HASHES[level - 1]!.map(fromHex);
    const got = NODE_HASHES[level]!.map((_, j) => toHex(nodeHash(below[2 * j]!, below[2 * j + 1]!)));
    t.same(got, NODE_HASHES[level], `node hashes of level ${level}`);
  }
});

t.test("RFC 6962 vectors: published inclusion proofs", async (t) => {
  for (const v of INCLUSION) {
    const leaves = LEAF_INPUTS.slice(0, v.size);
    const root = fromHex(ROOTS[v.size]!);
    const path = v.path.map(fromHex);
    t.same(hexList(auditPath(leaves, v.index)), v.path, `auditPath(${v.index}) in size ${v.size}`);
    t.equal(verifyAuditPath(root, v.index, v.size, leaves[v.index]!, path), true, `verifies: ${v.index} of ${v.size}`);
  }
});

t.test("RFC 6962 vectors: every path of the 8-leaf tree, read off the NodeHashes table", async (t) => {
  const root = fromHex(ROOTS[8]!);
  for (let i = 0; i < 8; i++) {
    const expected = [NODE_HASHES[0]![i ^ 1]!, NODE_HASHES[1]![(i >> 1) ^ 1]!, NODE_HASHES[2]![(i >> 2) ^ 1]!];
    const path = auditPath(LEAF_INPUTS, i);
    t.same(hexList(path), expected, `path of leaf ${i}`);
    t.ok(verifyAuditPath(root, i, 8, LEAF_INPUTS[i]!, path), `leaf ${i} verifies`);
  }
});

t.test("RFC 6962 vectors: the corruption probes of verify_test.go all fail", async (t) => {
  for (const v of INCLUSION) {
    const leaf = LEAF_INPUTS[v.index]!;
    const root = fromHex(ROOTS[v.size]!);
    const path = v.path.map(fromHex);
    const i = v.index;
    const n = v.size;
    const probes: [string, number, number, Uint8Array, Uint8Array, Uint8Array[]][] = [
      ["index - 1", i - 1, n, root, leaf, path],
      ["index + 1", i + 1, n, root, leaf, path],
      ["index ^ 2", i ^ 2, n, root, leaf, path],
      ["size * 2", i, n * 2, root, leaf, path],
      ["size / 2", i, Math.floor(n / 2), root, leaf, path],
      ["wrong leaf", i, n, root, new TextEncoder().encode("WrongLeaf"), path],
      ["empty root", i, n, fromHex(ROOTS[0]!), leaf, path],
      ["random root", i, n, SOME_HASH, leaf, path],
      ["trailing garbage", i, n, root, leaf, [...path, new Uint8Array(0)]],
      ["trailing root", i, n, root, leaf, [...path, root]],
      ["preceding garbage", i, n, root, leaf, [new Uint8Array(0), ...path]],
      ["preceding root", i, n, root, leaf, [root, ...path]],
    ];
    path.forEach((_, k) => {
      const wrong = [...path];
      wrong[k] = new Uint8Array(wrong[k]!);
      wrong[k]![0]! ^= 8;
      probes.push([`modified path[${k}] bit 3`, i, n, root, leaf, wrong]);
    });
    if (path.length > 0) probes.push(["removed component", i, n, root, leaf, path.slice(0, -1)]);
    if (path.length > 1) probes.push(["inserted component", i, n, root, leaf, [path[0]!, SOME_HASH, ...path.slice(1)]]);
    for (const [desc, pi, pn, proot, pleaf, ppath] of probes) {
      t.equal(verifyAuditPath(proot, pi, pn, pleaf, ppath), false, `${i} of ${n}: ${desc}`);
    }
  }
});

t.test("single-entry tree: root is the leaf hash, path is empty", async (t) => {
  const data = new TextEncoder().encode("data");
  const h = leafHash(data);
  t.same(merkleRoot([data]), h);
  t.same(auditPath([data], 0), []);
  t.equal(verifyAuditPath(h, 0, 1, data, []), true);
  t.equal(verifyAuditPath(new Uint8Array(0), 0, 1, data, []), false, "empty root");
  t.equal(verifyAuditPath(h, 0, 1, new TextEncoder().encode("datb"), []), false, "other data");
  // TestVerifyInclusion probes: (index, size) in {(0,0), (0,1), (1,0), (2,1)} against garbage roots
  for (const [i, n] of [[0, 0], [0, 1], [1, 0], [2, 1]] as const) {
    t.equal(verifyAuditPath(fromHex(ROOTS[0]!), i, n, data, []), false, `probe ${i}:${n} empty-tree root`);
    t.equal(verifyAuditPath(SOME_HASH, i, n, data, []), false, `probe ${i}:${n} some hash`);
  }
});

t.test("round trip: every index of random trees of sizes 1..70 verifies; tampering fails", async (t) => {
  let checked = 0;
  const failures: string[] = [];
  for (let n = 1; n <= 70; n++) {
    const leaves = randomLeaves(n);
    const root = merkleRoot(leaves);
    const tree = MerkleTree.fromLeaves(leaves);
    if (toHex(root) !== toHex(refMth(leaves))) failures.push(`size ${n}: root differs from the recursive RFC definition`);
    if (toHex(tree.root) !== toHex(root)) failures.push(`size ${n}: MerkleTree root differs`);
    if (toHex(rootFromLeafHashes(leaves.map(leafHash))) !== toHex(root)) failures.push(`size ${n}: rootFromLeafHashes differs`);
    for (let i = 0; i < n; i++) {
      const path = tree.auditPath(i);
      const leaf = leaves[i]!;
      const fail = (what: string) => failures.push(`size ${n} index ${i}: ${what}`);
      if (hexList(path).join() !== hexList(refPath(i, leaves)).join()) fail("path differs from the recursive RFC PATH");
      if (hexList(auditPath(leaves, i)).join() !== hexList(path).join()) fail("auditPath() differs from MerkleTree");
      if (!verifyAuditPath(root, i, n, leaf, path)) fail("valid path rejected");
      checked++;
      // tampered path: every bit position class of every element, removal, extension, swap
      for (let k = 0; k < path.length; k++) {
        for (const bit of [0, 7, 100, 255]) {
          const p = [...path];
          p[k] = flipBit(p[k]!, bit);
          if (verifyAuditPath(root, i, n, leaf, p)) fail(`path[${k}] bit ${bit} flipped accepted`);
        }
        if (verifyAuditPath(root, i, n, leaf, path.filter((_, x) => x !== k))) fail(`path[${k}] removed accepted`);
      }
      if (verifyAuditPath(root, i, n, leaf, [...path, SOME_HASH])) fail("extended path accepted");
      if (verifyAuditPath(root, i, n, leaf, [SOME_HASH, ...path])) fail("prefixed path accepted");
      if (path.length > 1 && verifyAuditPath(root, i, n, leaf, [path[1]!, path[0]!, ...path.slice(2)])) fail("swapped path accepted");
      // tampered leaf
      if (verifyAuditPath(root, i, n, flipBit(leaf.length > 0 ? leaf : new Uint8Array(1), 0), path)) fail("tampered leaf accepted");
      if (verifyAuditPath(root, i, n, new Uint8Array([...leaf, 0]), path)) fail("extended leaf accepted");
      if (verifyAuditPath(root, i, n, leafHash(leaf), path)) fail("leaf hash given as leaf data accepted");
      // every other index of the same tree
      for (let j = 0; j < n; j++) if (j !== i && verifyAuditPath(root, j, n, leaf, path)) fail(`accepted as index ${j}`);
      // indices past the end, including the aliases i + 2^h that the bit walk alone cannot tell apart
      const pow = 2 ** Math.ceil(Math.log2(n));
      for (const j of [n, n + 1, i + pow, i + 2 * pow, i + 4 * pow]) {
        if (verifyAuditPath(root, j, n, leaf, path)) fail(`accepted as out-of-range index ${j}`);
      }
      // wrong sizes: out of range, and the ones that change the height of the tree
      for (const m of [0, i, n * 2, Math.floor(n / 2), -1, 2 ** 53]) {
        if (m !== n && verifyAuditPath(root, i, m, leaf, path)) fail(`accepted with size ${m}`);
      }
      // wrong root
      if (verifyAuditPath(flipBit(root, 3), i, n, leaf, path)) fail("tampered root accepted");
    }
  }
  t.same(failures, [], "no failures");
  t.equal(checked, (70 * 71) / 2, "checked every index of every size");
});

t.test("the tree size is bound only by the root, so it must come from the deal, not the prover", async (t) => {
  // Pinned RFC 6962 behaviour: leaf 0 of a 5-leaf tree has the same path shape (three right
  // siblings) in a 6-leaf tree, so the 5-leaf path verifies against the 5-leaf root with size 6.
  const leaves = LEAF_INPUTS.slice(0, 5);
  const root5 = merkleRoot(leaves);
  const path = auditPath(leaves, 0);
  t.equal(verifyAuditPath(root5, 0, 5, leaves[0]!, path), true);
  t.equal(verifyAuditPath(root5, 0, 6, leaves[0]!, path), true, "same shape, same root");
  t.equal(verifyAuditPath(root5, 0, 4, leaves[0]!, path), false, "a different shape fails");
  t.equal(verifyAuditPath(root5, 4, 5, leaves[4]!, auditPath(leaves, 4)), true);
  t.equal(verifyAuditPath(root5, 4, 6, leaves[4]!, auditPath(leaves, 4)), false, "the last leaf is pinned to its size");
});

t.test("verifyAuditPath never throws on garbage", async (t) => {
  const leaves = randomLeaves(9);
  const root = merkleRoot(leaves);
  const path = auditPath(leaves, 3);
  const leaf = leaves[3]!;
  const any = (x: unknown) => x as never;
  const cases: [string, () => boolean][] = [
    ["index NaN", () => verifyAuditPath(root, NaN, 9, leaf, path)],
    ["index 3.5", () => verifyAuditPath(root, 3.5, 9, leaf, path)],
    ["index Infinity", () => verifyAuditPath(root, Infinity, 9, leaf, path)],
    ["index as string", () => verifyAuditPath(root, any("3"), 9, leaf, path)],
    ["index as bigint", () => verifyAuditPath(root, any(3n), 9, leaf, path)],
    ["size 9.5", () => verifyAuditPath(root, 3, 9.5, leaf, path)],
    ["size 2^60", () => verifyAuditPath(root, 3, 2 ** 60, leaf, path)],
    ["size -9", () => verifyAuditPath(root, 3, -9, leaf, path)],
    ["root null", () => verifyAuditPath(any(null), 3, 9, leaf, path)],
    ["root 31 bytes", () => verifyAuditPath(root.subarray(0, 31), 3, 9, leaf, path)],
    ["root 33 bytes", () => verifyAuditPath(new Uint8Array([...root, 0]), 3, 9, leaf, path)],
    ["root as hex string", () => verifyAuditPath(any(toHex(root)), 3, 9, leaf, path)],
    ["leaf null", () => verifyAuditPath(root, 3, 9, any(null), path)],
    ["leaf as string", () => verifyAuditPath(root, 3, 9, any("leaf"), path)],
    ["path null", () => verifyAuditPath(root, 3, 9, leaf, any(null))],
    ["path object", () => verifyAuditPath(root, 3, 9, leaf, any({ length: 4 }))],
    ["path with a null", () => verifyAuditPath(root, 3, 9, leaf, any([path[0], null, path[2], path[3]]))],
    ["path with a string", () => verifyAuditPath(root, 3, 9, leaf, any([path[0], "x", path[2], path[3]]))],
    ["path with a 31-byte hash", () => verifyAuditPath(root, 3, 9, leaf, [path[0]!, path[1]!.subarray(1), path[2]!, path[3]!])],
    ["path of 65 hashes", () => verifyAuditPath(root, 3, 9, leaf, Array.from({ length: 65 }, () => root))],
    ["path of 10^5 hashes", () => verifyAuditPath(root, 3, 9, leaf, Array.from({ length: 100_000 }, () => root))],
  ];
  for (const [desc, f] of cases) {
    let r: boolean | string;
    try {
      r = f();
    } catch (e) {
      r = `threw ${(e as Error).message}`;
    }
    t.equal(r, false, desc);
  }
  t.equal(verifyAuditPath(root, 3, 9, leaf, path), true, "and the untampered call still verifies");
  t.equal(rootFromAuditPath(3, 9, leafHash(leaf), path)?.length, 32, "rootFromAuditPath gives the root");
  t.equal(rootFromAuditPath(3, 9, leaf, path), undefined, "rootFromAuditPath wants a 32-byte leaf hash");
});

t.test("producer APIs reject bad input with RangeError", async (t) => {
  const leaves = randomLeaves(5);
  t.throws(() => auditPath(leaves, 5), RangeError);
  t.throws(() => auditPath(leaves, -1), RangeError);
  t.throws(() => auditPath(leaves, 1.5), RangeError);
  t.throws(() => auditPath([], 0), RangeError);
  t.throws(() => MerkleTree.fromLeaves(leaves).auditPath(5), RangeError);
  t.throws(() => rootFromLeafHashes([new Uint8Array(31)]), RangeError);
});

t.test("large leaves and a 1,000,000-leaf tree (no deep recursion)", async (t) => {
  // leaves bigger than the internal scratch buffer, mixed with small ones
  const big = [randomBytes(100_000), randomBytes(3), randomBytes(70_000), new Uint8Array(0), randomBytes(1 << 20)].map((b) => new Uint8Array(b));
  t.equal(toHex(merkleRoot(big)), toHex(refMth(big)), "mixed sizes agree with the recursive definition");

  // 10^6 identical leaves: the root depends only on the size, so a memoised recursion over the
  // O(log n) distinct subtree sizes is an independent reference.
  const n = 1_000_000;
  const chunk = new Uint8Array(32).fill(0xab);
  const leaves = new Array<Uint8Array>(n).fill(chunk);
  const memo = new Map<number, Uint8Array>();
  const ref = (m: number): Uint8Array => {
    let r = memo.get(m);
    if (r === undefined) {
      const k = largestPow2Below(m);
      r = m === 1 ? leafHash(chunk) : nodeHash(ref(k), ref(m - k));
      memo.set(m, r);
    }
    return r;
  };
  const t0 = performance.now();
  const root = merkleRoot(leaves);
  const ms = performance.now() - t0;
  t.equal(toHex(root), toHex(ref(n)), "root of 10^6 leaves");
  t.comment(`merkleRoot of 10^6 32-byte leaves: ${ms.toFixed(0)} ms`);
  const tree = MerkleTree.fromLeafHashes(new Array<Uint8Array>(4097).fill(leafHash(chunk)));
  t.ok(verifyAuditPath(tree.root, 4096, 4097, chunk, tree.auditPath(4096)), "last leaf of 4097 verifies");
  t.equal(tree.auditPath(4096).length, 1, "the last leaf of 2^12 + 1 has a one-hash path");
});
