/**
 * Vote sets for the Tendermint engine: the votes of one type (prevote or precommit) in one
 * round of one height, with their tallies by voting power. Pure and persistent: adding a vote
 * returns a new set and never touches the old one.
 *
 * Each validator counts once toward the "any value" totals (its first vote). A different vote
 * from the same validator for the same (height, round, type) is equivocation: it is reported
 * once, AND it counts toward the value it is for. Otherwise an equivocator that sends X to some
 * nodes and nil to others leaves the nodes that saw nil first unable to ever see the polka for X
 * that the others locked on, and the height stalls (found by test/sim). Counting both is safe
 * while less than 1/3 of the power is Byzantine: two values can both pass 2/3 only if more than
 * 1/3 of the power voted for both. At most MAX_VALUES_PER_VALIDATOR values count per validator.
 */
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import type { Vote } from "./types.ts";

/** Tally key of a voted value: the block hash in hex, or "nil" (not a hex string, so no clash). */
export type ValueKey = string;
export const NIL_KEY: ValueKey = "nil";

export function valueKey(blockHash: Uint8Array | null): ValueKey {
  return blockHash === null ? NIL_KEY : toHex(blockHash);
}

/** Distinct values one validator's votes count for in one set (bounds an equivocator's spam). */
export const MAX_VALUES_PER_VALIDATOR = 4;

export interface VoteSet {
  /** first vote by validator index; null where that validator has not voted (may be shorter than the set) */
  readonly votes: readonly (Vote | null)[];
  /** later votes of equivocators, each for a value none of that validator's earlier votes was for */
  readonly conflicting: readonly Vote[];
  /** number of votes held */
  readonly count: number;
  /** total power of the validators that voted, whatever for */
  readonly power: bigint;
  /** power per voted value; look up with `powerFor`, never iterate for an outcome */
  readonly byValue: Readonly<Record<ValueKey, bigint>>;
  /** the value holding more than 2/3 of the total power, once one does (at most one can) */
  readonly maj23: ValueKey | null;
  /** validators already reported for equivocation in this set, in report order */
  readonly equivocators: readonly number[];
}

export const emptyVoteSet: VoteSet = { votes: [], conflicting: [], count: 0, power: 0n, byValue: {}, maj23: null, equivocators: [] };

/** More than 2/3 of `total`: the Tendermint "2f+1", by voting power. */
export function twoThirds(power: bigint, total: bigint): boolean {
  return 3n * power > 2n * total;
}

/** More than 1/3 of `total`: the Tendermint "f+1", by voting power. */
export function oneThird(power: bigint, total: bigint): boolean {
  return 3n * power > total;
}

export function powerFor(set: VoteSet, key: ValueKey): bigint {
  return Object.hasOwn(set.byValue, key) ? set.byValue[key]! : 0n;
}

export function voteOf(set: VoteSet, validatorIndex: number): Vote | null {
  return set.votes[validatorIndex] ?? null;
}

function sameValue(a: Vote, b: Vote): boolean {
  return a.blockHash === null || b.blockHash === null ? a.blockHash === b.blockHash : equalBytes(a.blockHash, b.blockHash);
}

export type AddVoteOutcome =
  /** a first vote, or an equivocator's vote for a further value (already reported) */
  | { readonly kind: "added"; readonly set: VoteSet }
  /** the same vote again, or beyond MAX_VALUES_PER_VALIDATOR */
  | { readonly kind: "ignored" }
  /** first report of this validator's equivocation in this set: `first` is its first vote */
  | { readonly kind: "equivocation"; readonly set: VoteSet; readonly first: Vote };

/** Every vote in the set for `key` (one per validator), for building a commit. */
export function votesFor(set: VoteSet, key: ValueKey): Vote[] {
  const out: Vote[] = [];
  for (const v of set.votes) if (v !== null && valueKey(v.blockHash) === key) out.push(v);
  for (const v of set.conflicting) if (valueKey(v.blockHash) === key) out.push(v);
  return out.sort((a, b) => a.validatorIndex - b.validatorIndex);
}

/**
 * Adds `vote` (already checked to belong to this set: height, round, type, known index) from a
 * validator of `power` in a set whose total power is `total`.
 */
export function addVote(set: VoteSet, vote: Vote, power: bigint, total: bigint): AddVoteOutcome {
  const i = vote.validatorIndex;
  const first = voteOf(set, i);
  if (first !== null) {
    const earlier = set.conflicting.filter((c) => c.validatorIndex === i);
    if (sameValue(first, vote) || earlier.some((c) => sameValue(c, vote))) return { kind: "ignored" };
    if (1 + earlier.length >= MAX_VALUES_PER_VALIDATOR) return { kind: "ignored" };
    const key = valueKey(vote.blockHash);
    const forKey = powerFor(set, key) + power;
    const next: VoteSet = {
      ...set,
      conflicting: [...set.conflicting, vote],
      byValue: { ...set.byValue, [key]: forKey },
      maj23: set.maj23 ?? (twoThirds(forKey, total) ? key : null),
      equivocators: set.equivocators.includes(i) ? set.equivocators : [...set.equivocators, i],
    };
    return set.equivocators.includes(i) ? { kind: "added", set: next } : { kind: "equivocation", set: next, first };
  }
  const votes = Array.from({ length: Math.max(set.votes.length, i + 1) }, (_, j) => (j === i ? vote : (set.votes[j] ?? null)));
  const key = valueKey(vote.blockHash);
  const forKey = powerFor(set, key) + power;
  return {
    kind: "added",
    set: {
      votes,
      conflicting: set.conflicting,
      count: set.count + 1,
      power: set.power + power,
      byValue: { ...set.byValue, [key]: forKey },
      maj23: set.maj23 ?? (twoThirds(forKey, total) ? key : null),
      equivocators: set.equivocators,
    },
  };
}
