/**
 * Votes (DESIGN.md section 5): what a validator signs for a prevote or a precommit. Kept apart
 * from block.ts so that evidence (which carries signed votes) and blocks (which carry evidence)
 * do not import each other.
 */
import { encode, u64 } from "../primitives/codec.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";

export const VoteType = { PREVOTE: 1, PRECOMMIT: 2 } as const;
export type VoteType = (typeof VoteType)[keyof typeof VoteType];

export function isVoteType(n: number): n is VoteType {
  return n === VoteType.PREVOTE || n === VoteType.PRECOMMIT;
}

/**
 * What a validator signs for a vote: H("cloudcoin/vote/v1", [chainId, type, height, round, blockHash]).
 * A vote for nil signs the all-zero hash.
 */
export function voteSignBytes(chainId: string, type: VoteType, height: bigint, round: number, hash: Uint8Array): Uint8Array {
  return taggedHash(Tag.VOTE, encode([chainId, type, u64(height), round, hash]));
}
