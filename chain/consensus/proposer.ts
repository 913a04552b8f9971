/**
 * Weighted round-robin proposer selection (CometBFT's proposer-priority algorithm), pure and in
 * bigint so every node computes the same proposer.
 *
 * Each validator carries a priority. One "increment": every priority grows by its voting power,
 * the highest priority proposes (ties: the lower public key), and its priority drops by the
 * total power. Over time each validator proposes in proportion to its power.
 *
 * The state stores the priorities for height h at round 0 *before* selection; the proposer of
 * (h, r) is the one chosen by the (r+1)-th increment from them; after block h commits, the
 * stored priorities advance by exactly one increment (whatever round committed).
 */
import { compareBytes } from "../../primitives/bytes.ts";

export interface PowerAndPriority {
  readonly publicKey: Uint8Array;
  readonly power: bigint;
  readonly priority: bigint;
}

/** Priorities further apart than WINDOW * total power are scaled down (CometBFT's factor 2). */
const WINDOW = 2n;

function totalPower(vs: readonly PowerAndPriority[]): bigint {
  let t = 0n;
  for (const v of vs) t += v.power;
  return t;
}

/** Integer division rounding toward negative infinity (Go's big.Int Div for positive divisors). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Rescales priorities into the window and centres them on zero, as CometBFT does before incrementing. */
function normalize(priorities: bigint[], total: bigint): bigint[] {
  if (priorities.length === 0) return priorities;
  let max = priorities[0]!;
  let min = priorities[0]!;
  for (const p of priorities) {
    if (p > max) max = p;
    if (p < min) min = p;
  }
  const diffMax = WINDOW * total;
  let ps = priorities;
  if (diffMax > 0n && max - min > diffMax) {
    const ratio = (max - min + diffMax - 1n) / diffMax;
    ps = ps.map((p) => p / ratio); // truncation toward zero, as Go's int64 division
  }
  let sum = 0n;
  for (const p of ps) sum += p;
  const avg = floorDiv(sum, BigInt(ps.length));
  return ps.map((p) => p - avg);
}

/** One increment: returns the new priorities and the index of the validator selected. */
export function incrementPriorities(vs: readonly PowerAndPriority[]): { priorities: bigint[]; selected: number } {
  if (vs.length === 0) throw new RangeError("empty validator set");
  const total = totalPower(vs);
  const ps = normalize(vs.map((v) => v.priority), total).map((p, i) => p + vs[i]!.power);
  let best = 0;
  for (let i = 1; i < vs.length; i++) {
    const d = ps[i]! - ps[best]!;
    if (d > 0n || (d === 0n && compareBytes(vs[i]!.publicKey, vs[best]!.publicKey) < 0)) best = i;
  }
  ps[best] = ps[best]! - total;
  return { priorities: ps, selected: best };
}

/** Index of the proposer of round `round` for a set whose stored priorities are for round 0. */
export function proposerIndex(vs: readonly PowerAndPriority[], round: number): number {
  let cur: PowerAndPriority[] = [...vs];
  let selected = 0;
  for (let r = 0; r <= round; r++) {
    const step = incrementPriorities(cur);
    selected = step.selected;
    cur = cur.map((v, i) => ({ ...v, priority: step.priorities[i]! }));
  }
  return selected;
}

/** Priority for a validator joining a set of `total` power: behind everyone (CometBFT: -1.125 x total). */
export function joiningPriority(total: bigint): bigint {
  return -(total + total / 8n);
}
