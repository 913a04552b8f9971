/**
 * Regenerable data: what a fake-storage attacker orders and "stores". Its chunks are a function of
 * their index (all zeros, or a PRG of a seed and the index), so the attacker answers a challenge by
 * regenerating the chunk and its RFC 6962 audit path, and keeps no byte of the data.
 *
 *   zeros   every chunk is chunkSize zero bytes (the last one shorter): a subtree's hash depends
 *           only on its size and on whether it holds the last chunk, so the root and any audit
 *           path take O(log n) hashes from a handful of memoized subtree hashes, whatever the size
 *           (the 2 TB of zeros cost nothing to "prove");
 *   prg     chunk i = SHA-256 expansion of (seed, i): nothing repeats, so each audit path
 *           regenerates the whole tree's leaves (O(n) hashing per challenge, no storage).
 */
import { u32be } from "../../../primitives/bytes.ts";
import { sha256 } from "../../../primitives/hash.ts";
import { leafHash, nodeHash } from "../../../proofs/merkle.ts";
import { challengeIndices, chunkCount, chunkLength, type ChunkProof } from "../../../proofs/storage.ts";
import type { Dataset, Prover } from "./world.ts";

/** The largest power of two below n (n >= 2). */
function split(n: bigint): bigint {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

export class RegenerableData implements Prover {
  readonly size: bigint;
  readonly chunkSize: number;
  readonly count: bigint;
  readonly root: Uint8Array;
  /** Subtree hashes by (size, holds the last chunk), only for uniform data (zeros). */
  readonly #memo: Map<string, Uint8Array> | undefined;
  readonly #chunk: (i: bigint) => Uint8Array;
  /** Chunks regenerated so far (the attacker's work). */
  regenerated = 0;

  private constructor(size: bigint, chunkSize: number, chunk: (i: bigint) => Uint8Array, uniform: boolean) {
    this.size = size;
    this.chunkSize = chunkSize;
    this.count = chunkCount(size, chunkSize);
    this.#chunk = chunk;
    this.#memo = uniform ? new Map() : undefined;
    this.root = this.#mth(0n, this.count);
  }

  static zeros(size: bigint, chunkSize: number): RegenerableData {
    const full = new Uint8Array(chunkSize);
    return new RegenerableData(size, chunkSize, (i) => (i === chunkCount(size, chunkSize) - 1n ? new Uint8Array(chunkLength(size, chunkSize, i)) : full), true);
  }

  static prg(seed: number, size: bigint, chunkSize: number): RegenerableData {
    return new RegenerableData(size, chunkSize, (i) => {
      const len = chunkLength(size, chunkSize, i);
      const out = new Uint8Array(len);
      for (let off = 0, j = 0; off < len; off += 32, j++) out.set(sha256(u32be(seed), u32be(Number(i)), u32be(j)).subarray(0, Math.min(32, len - off)), off);
      return out;
    }, false);
  }

  /** Chunk `i`, regenerated. */
  chunk(i: bigint): Uint8Array {
    this.regenerated++;
    return this.#chunk(i);
  }

  /** The whole data, materialized (what the client hands a provider that fetches it). */
  bytes(): Uint8Array {
    const out = new Uint8Array(Number(this.size));
    for (let i = 0n; i < this.count; i++) out.set(this.#chunk(i), Number(i) * this.chunkSize);
    return out;
  }

  /** RFC 6962 MTH of chunks [start, start + n). */
  #mth(start: bigint, n: bigint): Uint8Array {
    const key = this.#memo ? `${n}/${start + n === this.count}` : undefined;
    const hit = key ? this.#memo!.get(key) : undefined;
    if (hit) return hit;
    let h: Uint8Array;
    if (n === 1n) h = leafHash(this.chunk(start));
    else {
      const k = split(n);
      h = nodeHash(this.#mth(start, k), this.#mth(start + k, n - k));
    }
    if (key) this.#memo!.set(key, h);
    return h;
  }

  /** RFC 6962 PATH(m, D[start : start + n]), bottom-up. */
  #path(m: bigint, start: bigint, n: bigint): Uint8Array[] {
    if (n === 1n) return [];
    const k = split(n);
    return m < k ? [...this.#path(m, start, k), this.#mth(start + k, n - k)] : [...this.#path(m - k, start + k, n - k), this.#mth(start, k)];
  }

  prove(index: bigint): ChunkProof {
    return { index, chunk: this.chunk(index), path: this.#path(index, 0n, this.count) };
  }

  answer(seed: Uint8Array, dealId: Uint8Array, k: number): ChunkProof[] {
    return challengeIndices(seed, dealId, this.count, k).map((i) => this.prove(i));
  }

  /** The dataset a client orders: served (materialized) to the providers `serves` allows. */
  dataset(serves: (provider: Uint8Array) => boolean): Dataset {
    return {
      root: this.root, size: this.size, chunkSize: this.chunkSize,
      serve: (p) => (serves(p) ? this.bytes() : undefined),
      regenerate: () => this,
    };
  }
}
