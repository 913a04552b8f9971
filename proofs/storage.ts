/**
 * Proof of storage, the pure parts (docs/protocol.md section 5): chunking, deal roots, challenges and
 * the check of one challenged chunk. No I/O; the state transition (chain/storage.ts) and the
 * storage plugin (through the RPC) share these rules.
 *
 *   chunks      the data split into `chunkSize` bytes each, the last one possibly shorter;
 *               chunk count = ceil(size / chunkSize), size > 0. chunkSize is a power of two in
 *               [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]; a deal has at most MAX_CHUNK_COUNT chunks.
 *   deal root   the RFC 6962 Merkle root over the chunks (proofs/merkle.ts): leaf H(0x00 || chunk).
 *               `ChunkedRootBuilder` computes it from a stream in O(chunkSize + log n) memory.
 *   challenges  for epoch seed s, deal id d and i in 0..k-1:
 *                 index_i = u64be(first 8 bytes of H("cloudcoin/challenge/v1", cbor[s, d, i])) mod chunkCount
 *               (bigint arithmetic; indices may repeat for small deals).
 *   proof       for each challenge in order: the chunk and its audit path (bottom-up).
 */
import { readU64be } from "../primitives/bytes.ts";
import { encode, u64 } from "../primitives/codec.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { MerkleAccumulator, MerkleTree, merkleRoot, verifyAuditPath } from "./merkle.ts";

export const MIN_CHUNK_SIZE = 256;
export const MAX_CHUNK_SIZE = 65_536;
/** Most chunks a deal may have: 2^40 (a deal of 64 KiB chunks is then at most 64 PiB). */
export const MAX_CHUNK_COUNT = 1n << 40n;
/** Longest audit path of a tree of at most MAX_CHUNK_COUNT leaves. */
export const MAX_PATH_LENGTH = 40;

/** One answered challenge: chunk `index` of the deal's data and its RFC 6962 audit path. */
export interface ChunkProof {
  readonly index: bigint;
  readonly chunk: Uint8Array;
  readonly path: readonly Uint8Array[];
}

/** A power of two in [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]. */
export function isValidChunkSize(chunkSize: number | bigint): boolean {
  const n = BigInt(chunkSize);
  return n >= BigInt(MIN_CHUNK_SIZE) && n <= BigInt(MAX_CHUNK_SIZE) && (n & (n - 1n)) === 0n;
}

function checkShape(size: bigint, chunkSize: number | bigint): void {
  if (!isValidChunkSize(chunkSize)) throw new RangeError(`chunk size ${chunkSize} is not a power of two in [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}]`);
  if (size <= 0n) throw new RangeError("size must be positive");
}

/** ceil(size / chunkSize). RangeError for size 0 or an invalid chunk size (it does not bound the count). */
export function chunkCount(size: bigint, chunkSize: number | bigint): bigint {
  checkShape(size, chunkSize);
  const c = BigInt(chunkSize);
  return (size + c - 1n) / c;
}

/** Whether data of `size` bytes in chunks of `chunkSize` is a valid deal shape (size > 0, count <= 2^40). */
export function isValidDealShape(size: bigint, chunkSize: number | bigint): boolean {
  return isValidChunkSize(chunkSize) && size > 0n && chunkCount(size, chunkSize) <= MAX_CHUNK_COUNT;
}

/** The length chunk `index` must have: chunkSize, except the last chunk which holds the rest. */
export function chunkLength(size: bigint, chunkSize: number | bigint, index: bigint): number {
  const count = chunkCount(size, chunkSize);
  if (index < 0n || index >= count) throw new RangeError(`chunk ${index} outside ${count} chunks`);
  const c = BigInt(chunkSize);
  return Number(index === count - 1n ? size - (count - 1n) * c : c);
}

/** The chunks of `data` (views into it, no copy). RangeError for empty data or a bad chunk size. */
export function splitChunks(data: Uint8Array, chunkSize: number): Uint8Array[] {
  checkShape(BigInt(data.length), chunkSize);
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += chunkSize) out.push(data.subarray(off, Math.min(off + chunkSize, data.length)));
  return out;
}

/** The deal root of `data`: merkleRoot over its chunks. */
export function dealRoot(data: Uint8Array, chunkSize: number): Uint8Array {
  return merkleRoot(splitChunks(data, chunkSize));
}

/**
 * The deal root of data that arrives in pieces of any length (a file read in blocks): holds at
 * most one partial chunk plus O(log n) subtree roots. `digest()` may be called once the last
 * piece is in; it does not consume the builder.
 */
export class ChunkedRootBuilder {
  readonly chunkSize: number;
  readonly #acc = new MerkleAccumulator();
  readonly #partial: Uint8Array;
  #partialLength = 0;
  #size = 0n;

  constructor(chunkSize: number) {
    if (!isValidChunkSize(chunkSize)) throw new RangeError(`chunk size ${chunkSize} is not a power of two in [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}]`);
    this.chunkSize = chunkSize;
    this.#partial = new Uint8Array(chunkSize);
  }

  update(bytes: Uint8Array): this {
    let off = 0;
    // whole chunks straight from the input when nothing is pending
    if (this.#partialLength === 0) {
      while (bytes.length - off >= this.chunkSize) {
        this.#acc.push(bytes.subarray(off, off + this.chunkSize));
        off += this.chunkSize;
      }
    }
    while (off < bytes.length) {
      const take = Math.min(this.chunkSize - this.#partialLength, bytes.length - off);
      this.#partial.set(bytes.subarray(off, off + take), this.#partialLength);
      this.#partialLength += take;
      off += take;
      if (this.#partialLength === this.chunkSize) {
        this.#acc.push(this.#partial);
        this.#partialLength = 0;
      }
    }
    this.#size += BigInt(bytes.length);
    return this;
  }

  /** Bytes taken so far. */
  get size(): bigint {
    return this.#size;
  }

  /** The root, size and chunk count of everything taken. RangeError if nothing was taken. */
  digest(): { root: Uint8Array; size: bigint; chunkCount: bigint } {
    if (this.#size === 0n) throw new RangeError("no data");
    // the short last chunk is appended to a copy, so that the builder itself can go on
    const root = this.#partialLength > 0 ? rootWithExtraLeaf(this.#acc, this.#partial.subarray(0, this.#partialLength)) : this.#acc.root();
    return { root, size: this.#size, chunkCount: chunkCount(this.#size, this.chunkSize) };
  }
}

/** Root of `acc`'s leaves followed by `leaf`, leaving `acc` unchanged (used once, at digest). */
function rootWithExtraLeaf(acc: MerkleAccumulator, leaf: Uint8Array): Uint8Array {
  const copy = acc.clone();
  copy.push(leaf);
  return copy.root();
}

/** The k challenged chunk indices of a deal in the epoch with seed `epochSeed`. */
export function challengeIndices(epochSeed: Uint8Array, dealId: Uint8Array, chunkCountValue: bigint, k: number): bigint[] {
  if (chunkCountValue <= 0n) throw new RangeError("chunk count must be positive");
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError("k must be a non-negative integer");
  const out: bigint[] = [];
  for (let i = 0; i < k; i++) {
    const h = taggedHash(Tag.CHALLENGE, encode([epochSeed, dealId, u64(BigInt(i))]));
    out.push(readU64be(h, 0) % chunkCountValue);
  }
  return out;
}

/**
 * True iff `path` proves `chunk` is chunk `index` of the data with deal root `root` and
 * `chunkCountValue` chunks. The chunk count must come from the deal, never from the prover.
 * Does not check the chunk's length (see `chunkLength`). Never throws.
 */
export function verifyStorageProof(root: Uint8Array, chunkCountValue: bigint, index: bigint, chunk: Uint8Array, path: readonly Uint8Array[]): boolean {
  if (typeof chunkCountValue !== "bigint" || typeof index !== "bigint") return false;
  if (chunkCountValue <= 0n || chunkCountValue > MAX_CHUNK_COUNT || index < 0n || index >= chunkCountValue) return false;
  if (!Array.isArray(path) || path.length > MAX_PATH_LENGTH) return false;
  return verifyAuditPath(root, Number(index), Number(chunkCountValue), chunk, path);
}

/**
 * A prover over data held in memory (tests, small files): keeps the whole tree (about 64 bytes
 * per chunk) to answer challenges without rebuilding it.
 */
export class StorageProver {
  readonly chunks: readonly Uint8Array[];
  readonly chunkSize: number;
  readonly size: bigint;
  readonly root: Uint8Array;
  readonly #tree: MerkleTree;

  constructor(data: Uint8Array, chunkSize: number) {
    this.chunks = splitChunks(data, chunkSize);
    this.chunkSize = chunkSize;
    this.size = BigInt(data.length);
    this.#tree = MerkleTree.fromLeaves(this.chunks);
    this.root = this.#tree.root;
  }

  get chunkCount(): bigint {
    return BigInt(this.chunks.length);
  }

  prove(index: bigint): ChunkProof {
    const i = Number(index);
    return { index, chunk: this.chunks[i]!, path: this.#tree.auditPath(i) };
  }

  /** The answers to the challenges of `epochSeed` for deal `dealId`, in challenge order. */
  answer(epochSeed: Uint8Array, dealId: Uint8Array, k: number): ChunkProof[] {
    return challengeIndices(epochSeed, dealId, this.chunkCount, k).map((i) => this.prove(i));
  }
}
