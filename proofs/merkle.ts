/**
 * RFC 6962 Merkle trees (docs/protocol.md section 5), so any tool that speaks RFC 6962 / RFC 9162
 * can check our roots and audit paths:
 *   leaf hash  = SHA-256(0x00 || leaf)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two < n.
 *
 * Building bottom-up, pairing neighbours and promoting an unpaired last node unchanged to the
 * next level, gives exactly that tree, so everything here is iterative (no recursion, whatever
 * the number of leaves). Audit paths are listed bottom-up (the leaf's sibling first), as in
 * RFC 6962 section 2.1.1 and the certificate-transparency test data.
 *
 * Pure: no I/O. Bulk hashing (building a tree) writes all hashes of a level into one contiguous
 * buffer and hashes through node:crypto's one-shot `hash` (about 4x faster than a `createHash`
 * object per node); the few hashes of a verification use `sha256` from primitives/hash.ts. Both are
 * the same SHA-256; test/unit/proofs/merkle.test.ts pins them against each other and against the
 * published RFC 6962 vectors.
 */
import { hash as oneShotHash } from "node:crypto";
import { equalBytes } from "../primitives/bytes.ts";
import { sha256 } from "../primitives/hash.ts";

export const HASH_LENGTH = 32;
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, leaf);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** The root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(): Uint8Array {
  return sha256();
}

// ---- bulk building over one contiguous buffer ----

/** Hashes `input` and writes the 32-byte digest at out[offset..offset+32). */
function hashInto(input: Buffer, out: Buffer, offset: number): void {
  // A "binary" (= latin1) string is one char per byte and cheaper to produce than a fresh Buffer.
  out.write(oneShotHash("sha256", input, "binary"), offset, HASH_LENGTH, "latin1");
}

/** Leaf hashes of `leaves`, packed into one buffer of leaves.length * 32 bytes. */
function packLeafHashes(leaves: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(leaves.length * HASH_LENGTH);
  let scratch = Buffer.allocUnsafe(1 + 64);
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i]!;
    if (scratch.length < 1 + leaf.length) scratch = Buffer.allocUnsafe(1 + leaf.length * 2);
    scratch[0] = 0x00;
    scratch.set(leaf, 1);
    hashInto(scratch.subarray(0, 1 + leaf.length), out, i * HASH_LENGTH);
  }
  return out;
}

function packHashes(hashes: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(hashes.length * HASH_LENGTH);
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i]!;
    if (h.length !== HASH_LENGTH) throw new RangeError(`leaf hash ${i} is ${h.length} bytes, expected ${HASH_LENGTH}`);
    out.set(h, i * HASH_LENGTH);
  }
  return out;
}

/**
 * Folds one level of `count` hashes held at src[0..count*32) into the next level, written at
 * dst[0..). `dst` may be `src` (in-place): node j reads slots 2j and 2j+1, which are >= j.
 * Returns the new count.
 */
function foldLevel(src: Buffer, count: number, dst: Buffer, scratch: Buffer): number {
  const pairs = count >>> 1;
  for (let j = 0; j < pairs; j++) {
    src.copy(scratch, 1, 2 * j * HASH_LENGTH, (2 * j + 2) * HASH_LENGTH);
    hashInto(scratch, dst, j * HASH_LENGTH);
  }
  if (count & 1) {
    // the unpaired last node is promoted unchanged
    src.copy(dst, pairs * HASH_LENGTH, (count - 1) * HASH_LENGTH, count * HASH_LENGTH);
    return pairs + 1;
  }
  return pairs;
}

function nodeScratch(): Buffer {
  const scratch = Buffer.allocUnsafe(1 + 2 * HASH_LENGTH);
  scratch[0] = 0x01;
  return scratch;
}

function rootOfPacked(level: Buffer, count: number): Uint8Array {
  if (count === 0) return emptyRoot();
  const scratch = nodeScratch();
  while (count > 1) count = foldLevel(level, count, level, scratch);
  return new Uint8Array(level.subarray(0, HASH_LENGTH));
}

/** RFC 6962 Merkle Tree Hash of `leaves` (empty list: SHA-256 of the empty string). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return rootOfPacked(packLeafHashes(leaves), leaves.length);
}

/** The same root, for callers that already hold the 32-byte leaf hashes. */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Uint8Array {
  return rootOfPacked(packHashes(hashes), hashes.length);
}

/**
 * A whole tree kept in memory (every level, about 2 * 32 bytes per leaf), for a prover that
 * answers several challenges against one data set without rebuilding it each time.
 */
export class MerkleTree {
  /** levels[0] holds the leaf hashes; the last level holds the root (none for an empty tree). */
  private readonly levels: Buffer[];
  private readonly counts: number[];
  readonly size: number;
  readonly root: Uint8Array;

  private constructor(leafLevel: Buffer, size: number) {
    this.size = size;
    this.levels = [leafLevel];
    this.counts = [size];
    const scratch = nodeScratch();
    let count = size;
    let level = leafLevel;
    while (count > 1) {
      const next = Buffer.allocUnsafe(Math.ceil(count / 2) * HASH_LENGTH);
      count = foldLevel(level, count, next, scratch);
      this.levels.push(next);
      this.counts.push(count);
      level = next;
    }
    this.root = size === 0 ? emptyRoot() : new Uint8Array(level.subarray(0, HASH_LENGTH));
  }

  static fromLeaves(leaves: readonly Uint8Array[]): MerkleTree {
    return new MerkleTree(packLeafHashes(leaves), leaves.length);
  }

  static fromLeafHashes(hashes: readonly Uint8Array[]): MerkleTree {
    return new MerkleTree(packHashes(hashes), hashes.length);
  }

  /** The audit path of leaf `index`, bottom-up. Throws RangeError for an index outside the tree. */
  auditPath(index: number): Uint8Array[] {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`leaf index ${index} outside a tree of ${this.size} leaves`);
    }
    const path: Uint8Array[] = [];
    let i = index;
    for (let l = 0; l < this.levels.length - 1; l++) {
      const sibling = i ^ 1; // i < 2^32 here: a level of 2^32 hashes would not fit in memory
      if (sibling < this.counts[l]!) {
        const at = sibling * HASH_LENGTH;
        path.push(new Uint8Array(this.levels[l]!.subarray(at, at + HASH_LENGTH)));
      }
      i >>>= 1;
    }
    return path;
  }
}

/** The audit path (RFC 6962 PATH) of `leaves[index]`, bottom-up. Throws RangeError for a bad index. */
export function auditPath(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`leaf index ${index} outside a tree of ${leaves.length} leaves`);
  }
  return MerkleTree.fromLeaves(leaves).auditPath(index);
}

/**
 * The root implied by an audit path (RFC 9162 section 2.1.3.2), or undefined if the path cannot
 * belong to leaf `index` of a tree of `treeSize` leaves (wrong length, bad sizes, bad hashes).
 * Never throws.
 */
export function rootFromAuditPath(
  index: number,
  treeSize: number,
  leafHashValue: Uint8Array,
  path: readonly Uint8Array[],
): Uint8Array | undefined {
  try {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize)) return undefined;
    if (index < 0 || index >= treeSize) return undefined;
    if (!(leafHashValue instanceof Uint8Array) || leafHashValue.length !== HASH_LENGTH) return undefined;
    if (!Array.isArray(path) || path.length > 64) return undefined;
    // Division instead of bit operators: sizes may exceed 2^32.
    let fn = index;
    let sn = treeSize - 1;
    let r = leafHashValue;
    for (const p of path) {
      if (!(p instanceof Uint8Array) || p.length !== HASH_LENGTH) return undefined;
      if (sn === 0) return undefined; // path longer than the tree is high
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        if (fn % 2 === 0) {
          // fn is a promoted last node: climb until it is a right child (or the root)
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) return undefined; // path too short
    return r;
  } catch {
    return undefined;
  }
}

/**
 * True iff `path` proves that `leafData` is leaf `index` of the tree of `treeSize` leaves with
 * root `root`. Never throws; false for garbage, out-of-range index or size, or any mismatch.
 */
export function verifyAuditPath(
  root: Uint8Array,
  index: number,
  treeSize: number,
  leafData: Uint8Array,
  path: readonly Uint8Array[],
): boolean {
  try {
    if (!(root instanceof Uint8Array) || root.length !== HASH_LENGTH) return false;
    if (!(leafData instanceof Uint8Array)) return false;
    const computed = rootFromAuditPath(index, treeSize, leafHash(leafData), path);
    return computed !== undefined && equalBytes(computed, root);
  } catch {
    return false;
  }
}

/**
 * RFC 6962 root built incrementally, one leaf at a time, in O(log n) memory: the tree of n leaves
 * is the perfect subtrees of the binary decomposition of n (largest first) joined right to left,
 * so only the root of each of those subtrees is kept. Appending a leaf pushes its hash and merges
 * equal-sized subtrees, like a binary counter. For computing the root of a large file while
 * reading it (proofs/storage.ts `ChunkedRootBuilder`); `root()` gives the same bytes as
 * `merkleRoot` over the same leaves.
 */
export class MerkleAccumulator {
  /** Roots of the perfect subtrees, largest (leftmost) first. */
  readonly #stack: Uint8Array[] = [];
  /** Leaf count of each subtree on the stack (powers of two, strictly decreasing). */
  readonly #sizes: number[] = [];
  #count = 0;

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#count;
  }

  /** Appends a leaf (its data; the leaf hash SHA-256(0x00 || leaf) is taken here). */
  push(leaf: Uint8Array): void {
    this.pushLeafHash(leafHash(leaf));
  }

  /** Appends a leaf by its 32-byte leaf hash. */
  pushLeafHash(hash: Uint8Array): void {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_LENGTH) throw new RangeError(`leaf hash is not ${HASH_LENGTH} bytes`);
    if (this.#count >= Number.MAX_SAFE_INTEGER) throw new RangeError("too many leaves");
    let node = hash;
    let size = 1;
    while (this.#sizes.length > 0 && this.#sizes[this.#sizes.length - 1] === size) {
      node = nodeHash(this.#stack.pop()!, node);
      this.#sizes.pop();
      size *= 2;
    }
    this.#stack.push(node);
    this.#sizes.push(size);
    this.#count++;
  }

  /** An independent copy (O(log n)). */
  clone(): MerkleAccumulator {
    const c = new MerkleAccumulator();
    c.#stack.push(...this.#stack);
    c.#sizes.push(...this.#sizes);
    c.#count = this.#count;
    return c;
  }

  /** The RFC 6962 root of the leaves appended so far (the empty root for none). Does not consume. */
  root(): Uint8Array {
    if (this.#stack.length === 0) return emptyRoot();
    let r = this.#stack[this.#stack.length - 1]!;
    for (let i = this.#stack.length - 2; i >= 0; i--) r = nodeHash(this.#stack[i]!, r);
    return r;
  }
}
