/**
 * Weighted sampling without replacement from a seed: the draw behind the witness assignment
 * (proofs/bandwidth.ts) and the storage placement (proofs/storage.ts). Pure; anyone can recompute a
 * draw from the seed, the subject and the candidate list.
 *
 * Over candidates sorted by key with positive weights (total T, the excluded candidates' weights included):
 *   draw i = 0, 1, 2, ...: r_i = (H(tag, seed || subject || u32be(i)) as a 256-bit big-endian
 *   integer) mod T; the candidate whose cumulative-weight interval [prefix_{j-1}, prefix_j) holds
 *   r_i is chosen, unless it is excluded or already chosen (then the draw is skipped).
 * Because excluded candidates keep their weight in T, excluding some never moves where a draw
 * lands: it only skips them. So a party that can make its own keys excluded (the storage placement
 * excludes providers without room, say) gets no new draw by doing it.
 * Stops at n chosen. With at most n eligible candidates all of them are returned in key order
 * without drawing. After DRAWS_PER_SLOT*n + eligible draws (only reachable with extreme weight
 * skew) the rest is filled with the remaining eligible candidates by weight descending, then key
 * ascending. The result is in draw order.
 */
import { compareBytes, equalBytes, toHex, u32be } from "../primitives/bytes.ts";
import { taggedHash, type Tag } from "../primitives/hash.ts";

/** A candidate and its weight (stake, collateral). */
export interface WeightedKey {
  readonly key: Uint8Array;
  readonly weight: bigint;
}

/** Draws per chosen key before the fallback. */
export const DRAWS_PER_SLOT = 64;

/** The first index whose prefix sum exceeds r (prefix is strictly increasing, r < its last element). */
function upperBound(prefix: readonly bigint[], r: bigint): number {
  let lo = 0;
  let hi = prefix.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (prefix[mid]! > r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `n` keys of `candidates` drawn for `subject` with `seed` (see the module comment), in draw order.
 * `candidates` must be sorted by key, without duplicates, with positive weights (RangeError
 * otherwise). `excluded` is a key that may be among them, or a predicate over the candidates
 * (called once each, in order); an excluded candidate is never chosen but keeps its weight.
 */
export function weightedDraw(
  tag: Tag, seed: Uint8Array, subject: Uint8Array, candidates: readonly WeightedKey[], n: number,
  excluded?: Uint8Array | ((candidate: WeightedKey, index: number) => boolean),
): Uint8Array[] {
  let total = 0n;
  const prefix: bigint[] = [];
  const isExcluded: boolean[] = [];
  candidates.forEach((c, i) => {
    if (c.weight <= 0n) throw new RangeError(`candidate ${i} has weight ${c.weight}`);
    if (i > 0 && compareBytes(candidates[i - 1]!.key, c.key) >= 0) throw new RangeError("candidates must be sorted by key, without duplicates");
    total += c.weight;
    prefix.push(total);
  });
  candidates.forEach((c, i) => isExcluded.push(excluded === undefined ? false : excluded instanceof Uint8Array ? equalBytes(c.key, excluded) : excluded(c, i)));
  if (!Number.isSafeInteger(n) || n <= 0) return [];
  const eligible = isExcluded.filter((x) => !x).length;
  if (eligible <= n) return candidates.filter((_, i) => !isExcluded[i]).map((c) => c.key);

  // only looked up: the output order is the draw order
  const chosen = new Set<number>();
  const out: Uint8Array[] = [];
  const maxDraws = DRAWS_PER_SLOT * n + eligible;
  for (let counter = 0; out.length < n && counter < maxDraws; counter++) {
    const r = BigInt(`0x${toHex(taggedHash(tag, seed, subject, u32be(counter)))}`) % total;
    const i = upperBound(prefix, r);
    if (isExcluded[i] || chosen.has(i)) continue;
    chosen.add(i);
    out.push(candidates[i]!.key);
  }
  if (out.length < n) {
    const rest = candidates
      .filter((_, i) => !isExcluded[i] && !chosen.has(i))
      .sort((a, b) => (a.weight !== b.weight ? (a.weight > b.weight ? -1 : 1) : compareBytes(a.key, b.key)));
    for (const c of rest.slice(0, n - out.length)) out.push(c.key);
  }
  return out;
}
