/**
 * Votes (docs/protocol.md section 3): what a validator signs for a prevote or a precommit. Kept apart
 * from block.ts so that evidence (which carries signed votes) and blocks (which carry evidence)
 * do not import each other.
 */
import { encode, u64 } from "../primitives/codec.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import type { KeyPair } from "../primitives/keys.ts";

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

const ZERO_HASH = new Uint8Array(32);

/** A vote as evidence and the engine's records carry it: with the signer's public key instead of a set index. */
export interface SignedVote {
  readonly type: VoteType;
  readonly height: bigint;
  readonly round: number;
  /** null: a vote for nil */
  readonly blockHash: Uint8Array | null;
  readonly validator: Uint8Array;
  readonly signature: Uint8Array;
}

export function voteSignBytesOf(chainId: string, v: Pick<SignedVote, "type" | "height" | "round" | "blockHash">): Uint8Array {
  return voteSignBytes(chainId, v.type, v.height, v.round, v.blockHash ?? ZERO_HASH);
}

/** Signs a vote with `key` (for tests, simulations and the engine's own records). */
export function signVote(chainId: string, key: KeyPair, v: Pick<SignedVote, "type" | "height" | "round" | "blockHash">): SignedVote {
  return { type: v.type, height: v.height, round: v.round, blockHash: v.blockHash, validator: key.publicKey, signature: key.sign(voteSignBytesOf(chainId, v)) };
}
