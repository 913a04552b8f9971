/**
 * The authenticated state structure (docs/protocol.md section 2): a compact binary sparse Merkle
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

// ---- the paged tree: the same tree, one node record per position, read through a source ----
//
// A node lives at its position: depth d and the first d bits of the keyHashes below it. Its record
// (encoded by the functions below) holds what its hash is made of, so the root and proofs need only
// the records on one path, and an update reads and rewrites only the records on the changed paths.
// The shape and every hash are those of SparseMerkleTree above: the same set of (key, value) pairs
// gives the same root, whichever of the two holds it (test/unit/chain/smt.test.ts checks this).
//
// Records (kinds: 0 empty, 1 leaf, 2 internal):
//   leaf:     0x01 keyHash(32) valueHash(32) key
//   internal: 0x02 kinds(1: left | right << 2) leftHash(32) rightHash(32)

const KIND_EMPTY = 0;
const KIND_LEAF = 1;
const KIND_INTERNAL = 2;

/**
 * The position key of the node at `depth` on the path of `keyHash`: u16be(depth) and the first
 * `depth` bits of keyHash, padded with zero bits to whole bytes.
 */
export function nodePath(keyHash: Uint8Array, depth: number): Uint8Array {
  const n = (depth + 7) >> 3;
  const out = new Uint8Array(2 + n);
  out[0] = depth >> 8;
  out[1] = depth & 0xff;
  out.set(keyHash.subarray(0, n), 2);
  const rest = depth & 7;
  if (rest !== 0) out[1 + n] = out[1 + n]! & ((0xff << (8 - rest)) & 0xff);
  return out;
}

/** The position of the child (bit `side`) of the node at `depth` on keyHash's path. */
function childPath(keyHash: Uint8Array, depth: number, side: number): Uint8Array {
  const p = nodePath(keyHash, depth + 1);
  const byte = 2 + (depth >> 3);
  const mask = 0x80 >> (depth & 7);
  p[byte] = side === 1 ? p[byte]! | mask : p[byte]! & ~mask;
  return p;
}

/** Reads the record at a position (undefined: no node there). */
export type NodeSource = (path: Uint8Array) => Uint8Array | undefined;

class PLeaf {
  readonly keyHash: Uint8Array;
  readonly valueHash: Uint8Array;
  readonly key: Uint8Array;
  /** the depth whose record this is (-1: not stored yet) */
  readonly at: number;
  /** the stored record it was read from */
  raw: Uint8Array | undefined = undefined;
  h: Uint8Array | undefined = undefined;
  constructor(keyHash: Uint8Array, valueHash: Uint8Array, key: Uint8Array, at: number) {
    this.keyHash = keyHash;
    this.valueHash = valueHash;
    this.key = key;
    this.at = at;
  }
  hash(): Uint8Array {
    return (this.h ??= leafHash(this.keyHash, this.valueHash));
  }
}
class PInternal {
  readonly lk: number;
  readonly rk: number;
  readonly lh: Uint8Array;
  readonly rh: Uint8Array;
  readonly at: number;
  raw: Uint8Array | undefined = undefined;
  h: Uint8Array | undefined = undefined;
  constructor(lk: number, rk: number, lh: Uint8Array, rh: Uint8Array, at: number) {
    this.lk = lk;
    this.rk = rk;
    this.lh = lh;
    this.rh = rh;
    this.at = at;
  }
  hash(): Uint8Array {
    return (this.h ??= internalHash(this.lh, this.rh));
  }
}
/** A child not read: its kind and hash, from its parent's record. */
class PStub {
  readonly kind: number;
  readonly h: Uint8Array;
  readonly path: Uint8Array;
  readonly at: number;
  /** the node once read */
  resolved: PLeaf | PInternal | undefined = undefined;
  constructor(kind: number, h: Uint8Array, path: Uint8Array, at: number) {
    this.kind = kind;
    this.h = h;
    this.path = path;
    this.at = at;
  }
  hash(): Uint8Array {
    return this.h;
  }
}
type PNode = PLeaf | PInternal | PStub | null;

function encodeNode(n: PLeaf | PInternal): Uint8Array {
  if (n instanceof PLeaf) {
    const out = new Uint8Array(65 + n.key.length);
    out[0] = KIND_LEAF;
    out.set(n.keyHash, 1);
    out.set(n.valueHash, 33);
    out.set(n.key, 65);
    return out;
  }
  const out = new Uint8Array(66);
  out[0] = KIND_INTERNAL;
  out[1] = n.lk | (n.rk << 2);
  out.set(n.lh, 2);
  out.set(n.rh, 34);
  return out;
}

function decodeNode(b: Uint8Array, at: number): PLeaf | PInternal {
  let n: PLeaf | PInternal | undefined;
  if (b[0] === KIND_LEAF && b.length >= 65) n = new PLeaf(b.subarray(1, 33), b.subarray(33, 65), b.subarray(65), at);
  else if (b[0] === KIND_INTERNAL && b.length === 66) n = new PInternal(b[1]! & 3, b[1]! >> 2, b.subarray(2, 34), b.subarray(34, 66), at);
  if (n !== undefined) {
    n.raw = b;
    return n;
  }
  throw new Error(`malformed state tree node record (${b.length} bytes, kind ${b[0]})`);
}

function kindOf(n: PNode): number {
  if (n === null) return KIND_EMPTY;
  if (n instanceof PStub) return n.kind;
  return n instanceof PLeaf ? KIND_LEAF : KIND_INTERNAL;
}

/**
 * A changed position: its new record, or null to delete it; and the record it replaces when known
 * (null: there was none; undefined: not read, ask the source).
 */
export type NodeWrite = readonly [path: Uint8Array, record: Uint8Array | null, old?: Uint8Array | null];

const ROOT_PATH = nodePath(EMPTY_HASH, 0);

class Pager {
  readonly writes: NodeWrite[] = [];
  readonly source: NodeSource;
  constructor(source: NodeSource) {
    this.source = source;
  }

  load(path: Uint8Array, depth: number): PLeaf | PInternal {
    const b = this.source(path);
    if (b === undefined) throw new Error(`state tree node missing at depth ${depth}`);
    return decodeNode(b, depth);
  }

  /** The node itself if it is a stub of a leaf that must be lifted or read. */
  resolve(n: PNode): PLeaf | PInternal | null {
    return n instanceof PStub ? (n.resolved ??= this.load(n.path, n.at)) : n;
  }

  /** `apply` of SparseMerkleTree over records. Returns the canonical node of the position. */
  apply(node: PNode, depth: number, ch: readonly PChange[], lo: number, hi: number): PNode {
    if (lo === hi) return node;
    if (node instanceof PStub) node = this.resolve(node);
    if (node === null) {
      if (hi - lo === 1) {
        const c = ch[lo]!;
        return c.value === null ? null : new PLeaf(c.keyHash, valueHashOf(c.value), c.key, -1);
      }
      return this.split(null, null, null, depth, ch, lo, hi);
    }
    if (node instanceof PLeaf) {
      if (hi - lo === 1) {
        const c = ch[lo]!;
        if (equalBytes(c.keyHash, node.keyHash)) {
          if (c.value === null) return null;
          const vh = valueHashOf(c.value);
          return equalBytes(vh, node.valueHash) ? node : new PLeaf(node.keyHash, vh, c.key, -1);
        }
      }
      const right = bitAt(node.keyHash, depth) === 1;
      return this.split(null, right ? null : node, right ? node : null, depth, ch, lo, hi);
    }
    return this.split(node, null, null, depth, ch, lo, hi);
  }

  /** Children of an internal node (or of a leaf moving down, given as l/r) after the changes, joined. */
  split(parent: PInternal | null, l0: PNode, r0: PNode, depth: number, ch: readonly PChange[], lo: number, hi: number): PNode {
    const mid = splitAt(ch as unknown as Change[], lo, hi, depth);
    const kh = ch[lo]!.keyHash;
    const lp = childPath(kh, depth, 0);
    const rp = childPath(kh, depth, 1);
    let oldL = l0;
    let oldR = r0;
    if (parent !== null) {
      oldL = parent.lk === KIND_EMPTY ? null : lo < mid ? this.load(lp, depth + 1) : new PStub(parent.lk, parent.lh, lp, depth + 1);
      oldR = parent.rk === KIND_EMPTY ? null : mid < hi ? this.load(rp, depth + 1) : new PStub(parent.rk, parent.rh, rp, depth + 1);
    }
    let l = this.apply(oldL, depth + 1, ch, lo, mid);
    let r = this.apply(oldR, depth + 1, ch, mid, hi);
    if (parent !== null && l === oldL && r === oldR) return parent;
    // join: a lone leaf moves up, an empty subtree is Empty
    let res: PNode;
    if (l === null && (r === null || kindOf(r) === KIND_LEAF)) res = r = this.resolve(r);
    else if (r === null && kindOf(l) === KIND_LEAF) res = l = this.resolve(l);
    else res = new PInternal(kindOf(l), kindOf(r), nodeHash2(l), nodeHash2(r), -1);
    const internal = res instanceof PInternal;
    this.place(lp, depth + 1, oldL, internal ? l : null);
    this.place(rp, depth + 1, oldR, internal ? r : null);
    return res;
  }

  /** Records what is now at a position: nothing to do if it is the record already there. */
  place(path: Uint8Array, depth: number, old: PNode, now: PNode): void {
    const stored = old !== null && old.at === depth;
    const was = !stored ? null : old instanceof PStub ? old.resolved?.raw : old.raw;
    if (now === null) {
      if (stored) this.writes.push([path, null, was]);
    } else if (now.at !== depth) {
      this.writes.push([path, encodeNode(now as PLeaf | PInternal), was]);
    }
  }
}

function nodeHash2(n: PNode): Uint8Array {
  return n === null ? EMPTY_HASH : n.hash();
}

interface PChange extends Change {}

/** The root hash of the paged tree in `source` (32 zero bytes when it is empty). */
export function pagedRoot(source: NodeSource): Uint8Array {
  const b = source(ROOT_PATH);
  return b === undefined ? new Uint8Array(HASH_BYTES) : new Uint8Array(decodeNode(b, 0).hash());
}

/**
 * Applies changes (as SparseMerkleTree.update: null deletes, the last change of a key wins) to the
 * paged tree in `source`, which is not modified: returns the new root and the record writes that
 * turn the old tree into the new one, in no particular order (each position at most once).
 */
export function pagedUpdate(source: NodeSource, changes: Iterable<readonly [Uint8Array, Uint8Array | null]>): { root: Uint8Array; writes: NodeWrite[] } {
  const list: PChange[] = [];
  for (const [key, value] of changes) list.push({ keyHash: keyHashOf(key), key: new Uint8Array(key), value: value === null ? null : new Uint8Array(value) });
  const pager = new Pager(source);
  const rb = source(ROOT_PATH);
  const old = rb === undefined ? null : decodeNode(rb, 0);
  if (list.length === 0) return { root: new Uint8Array(nodeHash2(old)), writes: [] };
  list.sort(compareHashes);
  let w = 0;
  for (let i = 0; i < list.length; i++) {
    const next = list[i + 1];
    if (next !== undefined && compareHashes(list[i]!, next) === 0) continue;
    list[w++] = list[i]!;
  }
  list.length = w;
  const res = pager.resolve(pager.apply(old, 0, list, 0, list.length));
  pager.place(ROOT_PATH, 0, old, res);
  return { root: new Uint8Array(nodeHash2(res)), writes: pager.writes };
}

/** SparseMerkleTree.prove over the paged tree. */
export function pagedProve(source: NodeSource, key: Uint8Array): StateProof {
  const kh = keyHashOf(key);
  const path: Uint8Array[] = [];
  const rb = source(ROOT_PATH);
  let n: PLeaf | PInternal | null = rb === undefined ? null : decodeNode(rb, 0);
  for (let depth = 0; n instanceof PInternal; depth++) {
    const side = bitAt(kh, depth);
    path.push(side === 0 ? n.rh : n.lh);
    const kind = side === 0 ? n.lk : n.rk;
    if (kind === KIND_EMPTY) {
      n = null;
      break;
    }
    const p = childPath(kh, depth, side);
    const b = source(p);
    if (b === undefined) throw new Error(`state tree node missing at depth ${depth + 1}`);
    n = decodeNode(b, depth + 1);
  }
  const siblings = path.reverse().map((h) => new Uint8Array(h));
  const leaf = n === null || equalBytes(n.keyHash, kh) ? null : { keyHash: new Uint8Array(n.keyHash), valueHash: new Uint8Array(n.valueHash) };
  return { siblings, leaf };
}

/** Every key of the paged tree, in keyHash order (a depth-first walk of the records). */
export function* pagedKeys(source: NodeSource): IterableIterator<Uint8Array> {
  const rb = source(ROOT_PATH);
  if (rb === undefined) return;
  const stack: [PLeaf | PInternal, Uint8Array, number][] = [[decodeNode(rb, 0), new Uint8Array(HASH_BYTES), 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [n, prefix, depth] = top;
    if (n instanceof PLeaf) {
      yield new Uint8Array(n.key);
      continue;
    }
    for (const side of [1, 0]) {
      const kind = side === 0 ? n.lk : n.rk;
      if (kind === KIND_EMPTY) continue;
      const p = childPath(prefix, depth, side);
      const b = source(p);
      if (b === undefined) throw new Error(`state tree node missing at depth ${depth + 1}`);
      const childPrefix = new Uint8Array(prefix);
      if (side === 1) childPrefix[depth >> 3] = childPrefix[depth >> 3]! | (0x80 >> (depth & 7));
      stack.push([decodeNode(b, depth + 1), childPrefix, depth + 1]);
    }
  }
}

// ---- subtrees at a fixed depth: the state snapshot's manifest and chunks (p2p/state-sync.ts) ----
//
// Cut the tree at depth D: the 2^D positions at depth D, each the canonical subtree of the keys
// whose keyHash starts with that D-bit prefix (Empty, a single Leaf, or an Internal node). Folding
// the 2^D summaries pairwise with the tree's own rule (two Empties give Empty, a Leaf beside an
// Empty moves up, anything else is an Internal node) gives the root. A subtree's summary is a
// function of its records alone, so a snapshot chunk (the records under one prefix) is checked
// against its manifest entry, and the manifest against a header's state root.

/** Deepest cut a manifest may use (2^16 entries). */
export const MAX_CUT_DEPTH = 16;

/** A subtree's kind and hash (hash of Empty: 32 zero bytes). */
export interface SubtreeSummary {
  readonly kind: number;
  readonly hash: Uint8Array;
}
export const SubtreeKind = { EMPTY: KIND_EMPTY, LEAF: KIND_LEAF, INTERNAL: KIND_INTERNAL } as const;

/** Whether the first `depth` bits of keyHash are `index` (depth <= MAX_CUT_DEPTH). */
export function hasPrefix(keyHash: Uint8Array, depth: number, index: number): boolean {
  return prefixOf(keyHash, depth) === index;
}

/** The first `depth` bits of a keyHash as a number (depth <= MAX_CUT_DEPTH). */
export function prefixOf(keyHash: Uint8Array, depth: number): number {
  if (depth === 0) return 0;
  const top = (keyHash[0]! << 16) | (keyHash[1]! << 8) | keyHash[2]!;
  return top >>> (24 - depth);
}

/**
 * The canonical subtree at `depth` holding exactly `records` (every keyHash must share its first
 * `depth` bits; keys must be distinct: the caller checks both). Its kind and hash. `keyHashes`:
 * the records' keyHashes when the caller has them already (hashStateKey of each key, in order).
 */
export function subtreeSummary(depth: number, records: readonly (readonly [Uint8Array, Uint8Array])[], keyHashes?: readonly Uint8Array[]): SubtreeSummary {
  const list: Change[] = records.map(([key, value], i) => ({ keyHash: keyHashes?.[i] ?? keyHashOf(key), key, value }));
  list.sort(compareHashes);
  const node = apply(null, depth, list, 0, list.length, { n: 0 });
  return { kind: node === null ? KIND_EMPTY : node instanceof Leaf ? KIND_LEAF : KIND_INTERNAL, hash: new Uint8Array(nodeHash(node)) };
}

/**
 * Folds the 2^depth summaries at `depth` (kinds: one byte each; hashes: 32 bytes each, in prefix
 * order) up to the root, with the canonical rule. Returns the root hash.
 */
export function foldSubtrees(depth: number, kinds: Uint8Array, hashes: Uint8Array): Uint8Array {
  let k = kinds;
  let h = hashes;
  for (let d = depth; d > 0; d--) {
    const n = k.length >> 1;
    const nk = new Uint8Array(n);
    const nh = new Uint8Array(n * HASH_BYTES);
    for (let i = 0; i < n; i++) {
      const lk = k[2 * i]!;
      const rk = k[2 * i + 1]!;
      const lh = h.subarray(2 * i * HASH_BYTES, (2 * i + 1) * HASH_BYTES);
      const rh = h.subarray((2 * i + 1) * HASH_BYTES, (2 * i + 2) * HASH_BYTES);
      if (lk === KIND_EMPTY && (rk === KIND_EMPTY || rk === KIND_LEAF)) {
        nk[i] = rk;
        nh.set(rh, i * HASH_BYTES);
      } else if (rk === KIND_EMPTY && lk === KIND_LEAF) {
        nk[i] = lk;
        nh.set(lh, i * HASH_BYTES);
      } else {
        nk[i] = KIND_INTERNAL;
        nh.set(internalHash(lh, rh), i * HASH_BYTES);
      }
    }
    k = nk;
    h = nh;
  }
  return new Uint8Array(h.subarray(0, HASH_BYTES));
}

/** The position of the node at `depth` whose keyHashes start with the `depth` bits of `index`. */
function cutPath(depth: number, index: number): Uint8Array {
  const kh = new Uint8Array(HASH_BYTES);
  const v = depth === 0 ? 0 : index << (24 - depth);
  kh[0] = (v >>> 16) & 0xff;
  kh[1] = (v >>> 8) & 0xff;
  kh[2] = v & 0xff;
  return nodePath(kh, depth);
}

/**
 * The summaries of the paged tree in `source` cut at `depth` (foldSubtrees of them is its root):
 * reads only the records above the cut. `kinds` one byte per prefix, `hashes` 32 bytes per prefix.
 */
export function pagedCut(source: NodeSource, depth: number): { kinds: Uint8Array; hashes: Uint8Array } {
  if (!Number.isInteger(depth) || depth < 0 || depth > MAX_CUT_DEPTH) throw new RangeError(`cut depth ${depth} is outside 0..${MAX_CUT_DEPTH}`);
  const kinds = new Uint8Array(1 << depth);
  const hashes = new Uint8Array((1 << depth) * HASH_BYTES);
  const rb = source(ROOT_PATH);
  if (rb === undefined) return { kinds, hashes };
  const visit = (n: PLeaf | PInternal, d: number, index: number): void => {
    if (n instanceof PLeaf) {
      const at = prefixOf(n.keyHash, depth);
      kinds[at] = KIND_LEAF;
      hashes.set(n.hash(), at * HASH_BYTES);
      return;
    }
    if (d === depth) {
      kinds[index] = KIND_INTERNAL;
      hashes.set(n.hash(), index * HASH_BYTES);
      return;
    }
    for (const side of [0, 1]) {
      const kind = side === 0 ? n.lk : n.rk;
      if (kind === KIND_EMPTY) continue;
      const child = index * 2 + side;
      if (d + 1 === depth) {
        kinds[child] = kind;
        hashes.set(side === 0 ? n.lh : n.rh, child * HASH_BYTES);
        continue;
      }
      const b = source(cutPath(d + 1, child));
      if (b === undefined) throw new Error(`state tree node missing at depth ${d + 1}`);
      visit(decodeNode(b, d + 1), d + 1, child);
    }
  };
  visit(decodeNode(rb, 0), 0, 0);
  return { kinds, hashes };
}

/**
 * The leaves of the paged tree in `source` whose keyHash starts with the `depth` bits of `index`,
 * in keyHash order: keyHash and key (the value is the state record of the key).
 */
export function* pagedLeavesUnder(source: NodeSource, depth: number, index: number): IterableIterator<{ keyHash: Uint8Array; key: Uint8Array }> {
  if (!Number.isInteger(depth) || depth < 0 || depth > MAX_CUT_DEPTH) throw new RangeError(`cut depth ${depth} is outside 0..${MAX_CUT_DEPTH}`);
  const rb = source(ROOT_PATH);
  if (rb === undefined) return;
  let n: PLeaf | PInternal = decodeNode(rb, 0);
  // down the prefix's path to the cut (or to a leaf above it)
  for (let d = 0; d < depth && n instanceof PInternal; d++) {
    const side = (index >>> (depth - 1 - d)) & 1;
    if ((side === 0 ? n.lk : n.rk) === KIND_EMPTY) return;
    const b = source(cutPath(d + 1, index >>> (depth - 1 - d)));
    if (b === undefined) throw new Error(`state tree node missing at depth ${d + 1}`);
    n = decodeNode(b, d + 1);
  }
  if (n instanceof PLeaf) {
    if (hasPrefix(n.keyHash, depth, index)) yield { keyHash: new Uint8Array(n.keyHash), key: new Uint8Array(n.key) };
    return;
  }
  // depth-first, left before right, below the cut
  const stack: [PLeaf | PInternal, Uint8Array, number][] = [[n, cutPath(depth, index).subarray(2), depth]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, prefixBytes, d] = top;
    if (node instanceof PLeaf) {
      yield { keyHash: new Uint8Array(node.keyHash), key: new Uint8Array(node.key) };
      continue;
    }
    const prefix = new Uint8Array(HASH_BYTES);
    prefix.set(prefixBytes);
    for (const side of [1, 0]) {
      if ((side === 0 ? node.lk : node.rk) === KIND_EMPTY) continue;
      const p = childPath(prefix, d, side);
      const b = source(p);
      if (b === undefined) throw new Error(`state tree node missing at depth ${d + 1}`);
      stack.push([decodeNode(b, d + 1), p.subarray(2), d + 1]);
    }
  }
}
