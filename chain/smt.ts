/**
 * The authenticated state structure (DESIGN.md section 4): a compact binary sparse Merkle
 * tree over 256-bit hashed keys, canonical in the way Diem's Jellyfish tree is.
 *
 * - A key is placed by its keyHash = H(STATE_KEY, key), read bit by bit from the most
 *   significant bit of byte 0: bit 0 chooses left, bit 1 chooses right.
 * - A subtree holding no leaf is Empty; a subtree holding exactly one leaf is that leaf,
 *   placed as high as possible; only a subtree holding two or more leaves is an Internal
 *   node. So the shape, and hence the root, is a function of the set of (key, value)
 *   pairs alone, never of the order of insertions or of deleted history.
 * - hash(Empty) = 32 zero bytes; hash(Leaf) = H(STATE_LEAF, keyHash, sha256(value));
 *   hash(Internal) = H(STATE_NODE, hash(left), hash(right)).
 *
 * The tree is persistent: `update` copies the paths it changes and returns a new tree, and
 * every older tree stays valid (the consensus layer executes proposals speculatively on a
 * snapshot). Nodes are immutable and cache their hash on first use, so the root after a
 * block hashes only the nodes the block changed.
 *
 * A key is identified by its keyHash: two different keys with the same keyHash (a SHA-256
 * collision) are treated as one. Pure: no I/O, no clock, no randomness.
 */
import { equalBytes } from "../primitives/bytes.ts";
import { asArray, asBytes, decode, encode, type CborValue } from "../primitives/codec.ts";
import { CodecError, CodecErrorCode } from "../primitives/errors.ts";
import { sha256, Tag, taggedHasher } from "../primitives/hash.ts";

const HASH_BYTES = 32;
/** keyHash has 256 bits, so no path (and no proof) is longer than 256 steps. */
const MAX_DEPTH = 256;
/** Generous bound on an encoded proof: 256 siblings of 34 bytes each plus a leaf and headers is ~8.8 KB. */
const MAX_PROOF_BYTES = 16 * 1024;
/** Never handed out (root() and prove() return copies), so never mutated. */
const EMPTY_HASH = new Uint8Array(HASH_BYTES);

// ---- hashing (hash.ts's taggedHasher: one-shot hashing over a reused buffer, no garbage) ----

type TaggedHashFn = (a: Uint8Array, b?: Uint8Array) => Uint8Array;

const keyHashOf: TaggedHashFn = taggedHasher(Tag.STATE_KEY);
const leafHash: TaggedHashFn = taggedHasher(Tag.STATE_LEAF);
const internalHash: TaggedHashFn = taggedHasher(Tag.STATE_NODE);
function valueHashOf(value: Uint8Array): Uint8Array {
  return sha256(value);
}

/** The position of `key` in the tree: taggedHash(Tag.STATE_KEY, key). */
export function hashStateKey(key: Uint8Array): Uint8Array {
  return new Uint8Array(keyHashOf(key));
}

/** Bit `depth` of a 32-byte hash, MSB-first. */
function bitAt(h: Uint8Array, depth: number): number {
  return (h[depth >> 3]! >> (7 - (depth & 7))) & 1;
}

// ---- nodes (Empty is `null`) ----

class Leaf {
  readonly keyHash: Uint8Array;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  private h: Uint8Array | undefined = undefined;
  constructor(keyHash: Uint8Array, key: Uint8Array, value: Uint8Array) {
    this.keyHash = keyHash;
    this.key = key;
    this.value = value;
  }
  hash(): Uint8Array {
    // The value hash is not kept: it is needed again only to prove another key absent.
    return (this.h ??= leafHash(this.keyHash, valueHashOf(this.value)));
  }
}

/** Holds at least two leaves below it (one child may be Empty if all of them are on the other side). */
class Internal {
  readonly left: Node;
  readonly right: Node;
  private h: Uint8Array | undefined = undefined;
  constructor(left: Node, right: Node) {
    this.left = left;
    this.right = right;
  }
  hash(): Uint8Array {
    return (this.h ??= internalHash(nodeHash(this.left), nodeHash(this.right)));
  }
}

type Node = Leaf | Internal | null;

function nodeHash(n: Node): Uint8Array {
  return n === null ? EMPTY_HASH : n.hash();
}

/**
 * The canonical node for a subtree whose two halves are `l` and `r` (each already canonical):
 * a lone leaf moves up, a subtree with nothing in it is Empty.
 */
function join(l: Node, r: Node): Node {
  if (l === null) {
    if (r === null || r instanceof Leaf) return r;
  } else if (r === null && l instanceof Leaf) {
    return l;
  }
  return new Internal(l, r);
}

// ---- batch update ----

interface Change {
  readonly keyHash: Uint8Array;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** Orders 32-byte hashes; written out because this runs n·log n times per block. */
function compareHashes(a: Change, b: Change): number {
  const x = a.keyHash;
  const y = b.keyHash;
  for (let i = 0; i < HASH_BYTES; i++) {
    const d = x[i]! - y[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * First index in [lo, hi) whose keyHash has bit `depth` set. All changes in the range share
 * their first `depth` bits and are sorted, so those with the bit clear come first.
 */
function splitAt(ch: readonly Change[], lo: number, hi: number, depth: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bitAt(ch[mid]!.keyHash, depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Counts leaves added minus leaves removed while a batch is applied. */
interface SizeDelta {
  n: number;
}

/**
 * Applies the sorted, duplicate-free changes ch[lo, hi) to `node`, the subtree at `depth`
 * whose path every one of those keyHashes shares, and returns the new canonical subtree.
 * Unchanged subtrees are returned as the same object, so their cached hashes are kept
 * and callers can tell "nothing changed" by identity.
 */
function apply(node: Node, depth: number, ch: readonly Change[], lo: number, hi: number, size: SizeDelta): Node {
  if (lo === hi) return node;
  if (node === null) {
    if (hi - lo === 1) {
      const c = ch[lo]!;
      if (c.value === null) return null; // deleting a missing key
      size.n++;
      return new Leaf(c.keyHash, c.key, c.value);
    }
  } else if (node instanceof Leaf) {
    if (hi - lo === 1) {
      const c = ch[lo]!;
      if (equalBytes(c.keyHash, node.keyHash)) {
        if (c.value === null) {
          size.n--;
          return null;
        }
        return equalBytes(c.value, node.value) ? node : new Leaf(node.keyHash, c.key, c.value);
      }
    }
    // The leaf and the changes go down together, as if the leaf sat one level lower, until
    // they part; join() lifts whatever single leaf is left back up.
    const mid = splitAt(ch, lo, hi, depth);
    const right = bitAt(node.keyHash, depth) === 1;
    const l = apply(right ? null : node, depth + 1, ch, lo, mid, size);
    const r = apply(right ? node : null, depth + 1, ch, mid, hi, size);
    return join(l, r);
  } else {
    const mid = splitAt(ch, lo, hi, depth);
    const l = apply(node.left, depth + 1, ch, lo, mid, size);
    const r = apply(node.right, depth + 1, ch, mid, hi, size);
    return l === node.left && r === node.right ? node : join(l, r);
  }
  // Empty node, several changes: build both halves from scratch.
  const mid = splitAt(ch, lo, hi, depth);
  return join(apply(null, depth + 1, ch, lo, mid, size), apply(null, depth + 1, ch, mid, hi, size));
}

// ---- the tree ----

export class SparseMerkleTree {
  readonly #root: Node;
  readonly #size: number;

  private constructor(root: Node, size: number) {
    this.#root = root;
    this.#size = size;
  }

  static readonly #EMPTY = new SparseMerkleTree(null, 0);

  /** The tree with no keys (one shared instance: trees are immutable). */
  static empty(): SparseMerkleTree {
    return SparseMerkleTree.#EMPTY;
  }

  /** Number of leaves (keys present). */
  get size(): number {
    return this.#size;
  }

  /** The 32-byte root hash; 32 zero bytes for the empty tree. Hashes only nodes not hashed before. */
  root(): Uint8Array {
    return new Uint8Array(nodeHash(this.#root));
  }

  /** The value stored under `key`. The returned array is shared with the tree: do not mutate it. */
  get(key: Uint8Array): Uint8Array | undefined {
    const kh = keyHashOf(key);
    let n = this.#root;
    for (let depth = 0; n instanceof Internal; depth++) n = bitAt(kh, depth) === 0 ? n.left : n.right;
    return n !== null && equalBytes(n.keyHash, kh) ? n.value : undefined;
  }

  /**
   * Applies changes (value null = delete; deleting a missing key is a no-op) and returns a
   * new tree; this tree is left as it was. If a key appears more than once, its last change
   * wins. Keys and values are copied, so the caller may reuse its buffers.
   *
   * One pass: the changes are sorted by keyHash and merged into the tree top-down, each
   * changed node built once (measured faster than applying them one by one, which copies
   * the upper levels of the tree once per change).
   */
  update(changes: Iterable<readonly [Uint8Array, Uint8Array | null]>): SparseMerkleTree {
    const list: Change[] = [];
    for (const [key, value] of changes) {
      list.push({ keyHash: keyHashOf(key), key: new Uint8Array(key), value: value === null ? null : new Uint8Array(value) });
    }
    if (list.length === 0) return this;
    list.sort(compareHashes); // stable, so among equal keyHashes the last change stays last
    let w = 0;
    for (let i = 0; i < list.length; i++) {
      const next = list[i + 1];
      if (next !== undefined && compareHashes(list[i]!, next) === 0) continue; // a later change overrides
      list[w++] = list[i]!;
    }
    list.length = w;
    const size: SizeDelta = { n: 0 };
    const root = apply(this.#root, 0, list, 0, list.length, size);
    return root === this.#root ? this : new SparseMerkleTree(root, this.#size + size.n);
  }

  /** An inclusion proof if `key` is present, else an exclusion proof. Verify with verifyStateProof. */
  prove(key: Uint8Array): StateProof {
    const kh = keyHashOf(key);
    const path: Uint8Array[] = []; // top-down; reversed below
    let n = this.#root;
    for (let depth = 0; n instanceof Internal; depth++) {
      if (bitAt(kh, depth) === 0) {
        path.push(nodeHash(n.right));
        n = n.left;
      } else {
        path.push(nodeHash(n.left));
        n = n.right;
      }
    }
    const siblings = path.reverse().map((h) => new Uint8Array(h));
    // An inclusion proof carries no leaf: the verifier recomputes it from key and value.
    const leaf = n === null || equalBytes(n.keyHash, kh) ? null : { keyHash: new Uint8Array(n.keyHash), valueHash: new Uint8Array(valueHashOf(n.value)) };
    return { siblings, leaf };
  }

  /** Every (key, value), in keyHash order. The arrays are shared with the tree: do not mutate them. */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    const stack: Node[] = [this.#root];
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      if (n instanceof Leaf) yield [n.key, n.value];
      else if (n !== null) stack.push(n.right, n.left);
    }
  }
}

// ---- proofs ----

export interface StateProof {
  /** sibling hashes from the leaf's level up to the root (index 0 = deepest sibling) */
  siblings: Uint8Array[];
  /** for exclusion: the leaf found where the key would be (a different key), or null if that spot is empty */
  leaf: { keyHash: Uint8Array; valueHash: Uint8Array } | null;
}

function isHash(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length === HASH_BYTES;
}

/** Whether a and b agree on their first `bits` bits. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}

/**
 * True iff `proof` shows that under `root`, `key` maps to `value` (value null: key is absent).
 * Never throws: any malformed argument gives false.
 *
 * The proof's siblings fix the depth d of the node on key's path that the proof ends at.
 * Inclusion: that node is the leaf (keyHash, sha256(value)). Exclusion: it is Empty, or a
 * leaf for a different keyHash that lies on the same path (shares the first d bits); a
 * subtree that is a single leaf holds no other key.
 */
export function verifyStateProof(root: Uint8Array, key: Uint8Array, value: Uint8Array | null, proof: StateProof): boolean {
  if (!isHash(root) || !(key instanceof Uint8Array) || !(value === null || value instanceof Uint8Array)) return false;
  if (typeof proof !== "object" || proof === null) return false;
  const { siblings, leaf } = proof;
  if (!Array.isArray(siblings) || siblings.length > MAX_DEPTH) return false;
  for (let i = 0; i < siblings.length; i++) if (!isHash(siblings[i])) return false; // not every(): it skips holes
  if (leaf !== null && (typeof leaf !== "object" || !isHash(leaf.keyHash) || !isHash(leaf.valueHash))) return false;

  const kh = keyHashOf(key);
  const depth = siblings.length;
  let h: Uint8Array;
  if (value !== null) {
    const vh = valueHashOf(value);
    if (leaf !== null && !(equalBytes(leaf.keyHash, kh) && equalBytes(leaf.valueHash, vh))) return false;
    h = leafHash(kh, vh);
  } else if (leaf === null) {
    h = EMPTY_HASH;
  } else {
    if (equalBytes(leaf.keyHash, kh) || !samePrefix(leaf.keyHash, kh, depth)) return false;
    h = leafHash(leaf.keyHash, leaf.valueHash);
  }
  for (let i = 0; i < depth; i++) {
    const s = siblings[i]!;
    h = bitAt(kh, depth - 1 - i) === 0 ? internalHash(h, s) : internalHash(s, h);
  }
  return equalBytes(h, root);
}

/** [siblings: bytes32[], leaf: null | [keyHash: bytes32, valueHash: bytes32]] */
export function encodeStateProof(p: StateProof): Uint8Array {
  const leaf: CborValue = p.leaf === null ? null : [p.leaf.keyHash, p.leaf.valueHash];
  return encode([p.siblings, leaf]);
}

/** Decodes canonical proof bytes or throws a CodecError. Does not check the proof against any root. */
export function decodeStateProof(b: Uint8Array): StateProof {
  const [rawSiblings, rawLeaf] = asArray(decode(b, MAX_PROOF_BYTES), "stateProof", 2);
  const list = asArray(rawSiblings, "stateProof.siblings");
  if (list.length > MAX_DEPTH) {
    throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `stateProof.siblings: ${list.length} exceeds ${MAX_DEPTH}`);
  }
  const siblings = list.map((s, i) => asBytes(s, `stateProof.siblings[${i}]`, HASH_BYTES));
  let leaf: StateProof["leaf"] = null;
  if (rawLeaf !== null) {
    const [keyHash, valueHash] = asArray(rawLeaf, "stateProof.leaf", 2);
    leaf = { keyHash: asBytes(keyHash, "stateProof.leaf.keyHash", HASH_BYTES), valueHash: asBytes(valueHash, "stateProof.leaf.valueHash", HASH_BYTES) };
  }
  return { siblings, leaf };
}
