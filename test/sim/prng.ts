/**
 * The simulator's only source of randomness: xoshiro128** (Blackman and Vigna), seeded through
 * splitmix32 from a 32-bit seed and a label. No Math.random anywhere in test/sim: a run is a pure
 * function of its seed.
 *
 * `fork(label)` derives an independent stream, so that e.g. the network's draws do not shift when
 * a Byzantine node draws one more number: streams are keyed by (seed, label), not by call order.
 */

function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [s, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a over a string, to turn a label into 32 bits. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  readonly seed: number;
  readonly label: string;

  constructor(seed: number, label = "root") {
    this.seed = seed >>> 0;
    this.label = label;
    let st = (this.seed ^ hashLabel(label)) | 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, v] = splitmix32(st);
      st = next;
      out.push(v);
    }
    [this.#s0, this.#s1, this.#s2, this.#s3] = out as [number, number, number, number];
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** An independent stream for `label`, the same whatever was drawn from this one. */
  fork(label: string): Prng {
    return new Prng(this.seed, `${this.label}/${label}`);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`int(${n})`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p (p in [0, 1], resolved to 1/2^32). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.u32() < Math.floor(p * 0x1_0000_0000);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError("pick from an empty list");
    return xs[this.int(xs.length)]!;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** 32 random bytes (for made-up hashes). */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const x = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
