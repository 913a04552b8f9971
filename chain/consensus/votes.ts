/**
 * Vote sets for the Tendermint engine: the votes of one type (prevote or precommit) in one
 * round of one height, with their tallies by voting power. Pure and persistent: adding a vote
 * returns a new set and never touches the old one.
 *
 * Each validator counts once: its first vote is kept; a second, different vote for the same
 * (height, round, type) is equivocation, reported once per validator and never counted.
 */
import { equalBytes, toHex } from "../bytes.ts";
import type { Vote } from "./types.ts";

/** Tally key of a voted value: the block hash in hex, or "nil" (not a hex string, so no clash). */
export type ValueKey = string;
export const NIL_KEY: ValueKey = "nil";

export function valueKey(blockHash: Uint8Array | null): ValueKey {
  return blockHash === null ? NIL_KEY : toHex(blockHash);
}

export interface VoteSet {
  /** by validator index; null where that validator has not voted (may be shorter than the set) */
  readonly votes: readonly (Vote | null)[];
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

export const emptyVoteSet: VoteSet = { votes: [], count: 0, power: 0n, byValue: {}, maj23: null, equivocators: [] };

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
  | { readonly kind: "added"; readonly set: VoteSet }
  /** the same vote again, or a further conflicting vote from an equivocator already reported */
  | { readonly kind: "ignored" }
  /** first report of this validator's equivocation in this set: `first` is the vote kept */
  | { readonly kind: "equivocation"; readonly set: VoteSet; readonly first: Vote };

/**
 * Adds `vote` (already checked to belong to this set: height, round, type, known index) from a
 * validator of `power` in a set whose total power is `total`.
 */
export function addVote(set: VoteSet, vote: Vote, power: bigint, total: bigint): AddVoteOutcome {
  const i = vote.validatorIndex;
  const first = voteOf(set, i);
  if (first !== null) {
    if (sameValue(first, vote) || set.equivocators.includes(i)) return { kind: "ignored" };
    return { kind: "equivocation", set: { ...set, equivocators: [...set.equivocators, i] }, first };
  }
  const votes = Array.from({ length: Math.max(set.votes.length, i + 1) }, (_, j) => (j === i ? vote : (set.votes[j] ?? null)));
  const key = valueKey(vote.blockHash);
  const forKey = powerFor(set, key) + power;
  return {
    kind: "added",
    set: {
      votes,
      count: set.count + 1,
      power: set.power + power,
      byValue: { ...set.byValue, [key]: forKey },
      maj23: set.maj23 ?? (twoThirds(forKey, total) ? key : null),
      equivocators: set.equivocators,
    },
  };
}
