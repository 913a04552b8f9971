/**
 * Duplicate-vote evidence (docs/protocol.md section 3): two votes signed by one validator for different
 * blocks at the same height, round and step ("double sign").
 *
 *   evidence = [1, voteA, voteB]
 *   vote     = [type, height, round, blockHash | null, validator(32), signature(64)]
 *
 * `signature` is the validator's signature over voteSignBytes(chainId, type, height, round,
 * blockHash ?? ZERO_HASH) (a nil vote signs the zero hash; the zero hash itself is never written,
 * nil is null). Canonical form: voteA's block hash sorts strictly before voteB's (nil as the zero
 * hash), so one equivocation has exactly one encoding.
 */
import { compareBytes, equalBytes, toHex } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, asUint, u64, type CborValue } from "../../primitives/codec.ts";
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, toAddress, verify } from "../../primitives/keys.ts";
import { EvidenceError, EvidenceErrorCode } from "../../chain/evidence.ts";
import { defineEvidence } from "../../chain/registry.ts";
import type { StateReader } from "../../chain/state.ts";
import { isVoteType, voteSignBytesOf, type SignedVote } from "../../chain/vote.ts";
import { readValidatorInfo, wasInSetAt } from "./records.ts";
import { punishDoubleSign } from "./staking.ts";

const ZERO_HASH = new Uint8Array(32);

export interface DuplicateVoteEvidence {
  readonly kind: "duplicateVote";
  readonly voteA: SignedVote;
  readonly voteB: SignedVote;
}

declare module "../../chain/evidence.ts" {
  interface EvidenceMap {
    duplicateVote: DuplicateVoteEvidence;
  }
}

export const DUPLICATE_VOTE_CODE = 1;

export const DuplicateVoteErrorCode = {
  DIFFERENT_VALIDATORS: "EVIDENCE_DIFFERENT_VALIDATORS",
  DIFFERENT_HEIGHTS: "EVIDENCE_DIFFERENT_HEIGHTS",
  DIFFERENT_ROUNDS: "EVIDENCE_DIFFERENT_ROUNDS",
  DIFFERENT_TYPES: "EVIDENCE_DIFFERENT_TYPES",
  /** both votes are for the same block: no equivocation */
  SAME_BLOCK: "EVIDENCE_SAME_BLOCK",
  /** the signer is not a registered validator */
  UNKNOWN_VALIDATOR: "EVIDENCE_UNKNOWN_VALIDATOR",
  /** the signer is a registered validator, but was not in the set that signed that height */
  NOT_IN_SET: "EVIDENCE_NOT_IN_SET",
} as const;

function voteToCbor(v: SignedVote): CborValue {
  return [v.type, u64(v.height), v.round, v.blockHash, v.validator, v.signature];
}

function voteFromCbor(x: CborValue, field: string): SignedVote {
  const a = asArray(x, field, 6);
  const type = asUint(a[0], `${field}.type`, 0xff);
  if (!isVoteType(type)) throw new EvidenceError(EvidenceErrorCode.MALFORMED, `${field}: unknown vote type ${type}`);
  const blockHash = a[3] === null ? null : asBytes(a[3], `${field}.blockHash`, 32);
  return {
    type,
    height: asU64(a[1], `${field}.height`),
    round: asUint(a[2], `${field}.round`),
    blockHash,
    validator: asBytes(a[4], `${field}.validator`, PUBLIC_KEY_LENGTH),
    signature: asBytes(a[5], `${field}.signature`, SIGNATURE_LENGTH),
  };
}

/** Orders two conflicting votes into canonical duplicate-vote evidence. */
export function duplicateVoteEvidence(a: SignedVote, b: SignedVote): DuplicateVoteEvidence {
  return compareBytes(a.blockHash ?? ZERO_HASH, b.blockHash ?? ZERO_HASH) <= 0 ? { kind: "duplicateVote", voteA: a, voteB: b } : { kind: "duplicateVote", voteA: b, voteB: a };
}

/** Whether `validator` was already punished for double-signing (at any height: it is then tombstoned). */
export function isPunished(state: StateReader, validator: Uint8Array): boolean {
  return readValidatorInfo(state, validator)?.tombstoned === true;
}

function checkVoteShape(v: SignedVote, which: string): void {
  const bad = (why: string): never => {
    throw new EvidenceError(EvidenceErrorCode.MALFORMED, `vote ${which}: ${why}`, { vote: which });
  };
  if (!isVoteType(v.type)) bad(`unknown vote type ${String(v.type)}`);
  if (v.height < 1n) bad("height must be positive");
  if (!Number.isSafeInteger(v.round) || v.round < 0 || v.round > 0xffff_ffff) bad("round out of range");
  if (v.blockHash !== null && (v.blockHash.length !== 32 || equalBytes(v.blockHash, ZERO_HASH))) bad("block hash must be 32 bytes and not zero (nil is null)");
  if (v.validator.length !== PUBLIC_KEY_LENGTH) bad("validator key must be 32 bytes");
  if (v.signature.length !== SIGNATURE_LENGTH) bad("signature must be 64 bytes");
}

function voteJson(v: SignedVote) {
  return { type: v.type, height: Number(v.height), round: v.round, blockHash: v.blockHash ? toHex(v.blockHash) : null, validator: toAddress(v.validator), signature: toHex(v.signature) };
}

export const duplicateVote = defineEvidence<DuplicateVoteEvidence>({
  code: DUPLICATE_VOTE_CODE,
  kind: "duplicateVote",
  encode: (ev) => [voteToCbor(ev.voteA), voteToCbor(ev.voteB)],
  decode: (a, v) => {
    asArray(v, "duplicateVote", 3);
    return { kind: "duplicateVote", voteA: voteFromCbor(a[1]!, "voteA"), voteB: voteFromCbor(a[2]!, "voteB") };
  },
  /**
   * In this order: well-formed votes; one validator, height, round and type; different blocks;
   * canonical order; then both signatures (the expensive part last).
   */
  validateBasic: (ev, chainId) => {
    const { voteA: a, voteB: b } = ev;
    checkVoteShape(a, "A");
    checkVoteShape(b, "B");
    // "two signed votes by one validator ... at the same height/round/step" (docs/protocol.md section 3)
    if (!equalBytes(a.validator, b.validator)) throw new EvidenceError(DuplicateVoteErrorCode.DIFFERENT_VALIDATORS, "the votes are by different validators");
    if (a.height !== b.height) throw new EvidenceError(DuplicateVoteErrorCode.DIFFERENT_HEIGHTS, `heights ${a.height} and ${b.height} differ`);
    if (a.round !== b.round) throw new EvidenceError(DuplicateVoteErrorCode.DIFFERENT_ROUNDS, `rounds ${a.round} and ${b.round} differ`);
    if (a.type !== b.type) throw new EvidenceError(DuplicateVoteErrorCode.DIFFERENT_TYPES, "a prevote and a precommit do not conflict");
    // "... for different blocks"
    const order = compareBytes(a.blockHash ?? ZERO_HASH, b.blockHash ?? ZERO_HASH);
    if (order === 0) throw new EvidenceError(DuplicateVoteErrorCode.SAME_BLOCK, "both votes are for the same block");
    if (order > 0) throw new EvidenceError(EvidenceErrorCode.NOT_CANONICAL, "voteA's block hash must sort before voteB's");
    // signed by that validator for this chain
    if (!verify(a.validator, voteSignBytesOf(chainId, a), a.signature)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "vote A's signature does not verify", { vote: "A" });
    if (!verify(b.validator, voteSignBytesOf(chainId, b), b.signature)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "vote B's signature does not verify", { vote: "B" });
  },
  /**
   * The votes' height below the block's and at most params.evidenceMaxAgeBlocks below it; the
   * signer a registered validator, not yet punished (tombstoned: one infraction per validator),
   * and a member of the set that signed that height (the set history, ./records.ts).
   */
  verify: (state, ev, params, height) => {
    const validator = ev.voteA.validator;
    const e = ev.voteA.height;
    if (e >= height) throw new EvidenceError(EvidenceErrorCode.FROM_FUTURE, `evidence for height ${e} in a block at ${height}`);
    if (height - e > BigInt(params.evidenceMaxAgeBlocks)) {
      throw new EvidenceError(EvidenceErrorCode.TOO_OLD, `evidence for height ${e} is older than ${params.evidenceMaxAgeBlocks} blocks at ${height}`);
    }
    if (readValidatorInfo(state, validator) === undefined) throw new EvidenceError(DuplicateVoteErrorCode.UNKNOWN_VALIDATOR, "the signer is not a registered validator");
    if (isPunished(state, validator)) throw new EvidenceError(EvidenceErrorCode.ALREADY_PUNISHED, "the validator was already punished for double-signing (tombstoned)");
    if (wasInSetAt(state, validator, e) !== true) throw new EvidenceError(DuplicateVoteErrorCode.NOT_IN_SET, `the signer was not in the validator set at height ${e}`);
  },
  subject: (ev) => ({ offender: ev.voteA.validator, height: ev.voteA.height }),
  apply: punishDoubleSign,
  json: (ev) => ({ voteA: voteJson(ev.voteA), voteB: voteJson(ev.voteB) }),
});
