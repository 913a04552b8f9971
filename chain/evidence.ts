/**
 * Evidence of misbehaviour. Two kinds:
 *
 * Duplicate vote (DESIGN.md section 5): two votes signed by one validator for different blocks at
 * the same height, round and step ("double sign").
 *
 *   evidence = [kind = 1, voteA, voteB]
 *   vote     = [type, height, round, blockHash | null, validator(32), signature(64)]
 *
 * `signature` is the validator's signature over voteSignBytes(chainId, type, height, round,
 * blockHash ?? ZERO_HASH) (a nil vote signs the zero hash; the zero hash itself is never
 * written, nil is null). Canonical form: voteA's block hash sorts strictly before voteB's (nil
 * as the zero hash), so one equivocation has exactly one encoding.
 *
 * Duplicate attestation (DESIGN.md section 7): two attestations signed by one witness for the same
 * relay and epoch that report different measurements (bytes, throughput or latency).
 *
 *   evidence    = [kind = 2, attA, attB]
 *   attestation = [relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *
 * Canonical form: attestSignBytes(chainId, attA) sorts strictly before attB's. Its subject (what
 * is punished once) is (witness, relay, epoch); for the pool's and the age rules it counts as
 * happening at the epoch's first height.
 *
 * Two stages (STYLE.md point 4), both pure: `validateEvidenceBasic` (shape, the two conflict,
 * both signatures) needs no state; `verifyEvidence` adds the checks against the state a block
 * would include it on (age, registered offender, not yet punished). The node runs
 * `verifyEvidence` on gossiped evidence before pooling it; the transition runs it on every
 * evidence in a block, and a block with an invalid one is invalid.
 */
import { merkleRoot } from "../proofs/merkle.ts";
import { compareBytes, equalBytes } from "../primitives/bytes.ts";
import { asArray, asBytes, asU64, asUint, decode, encode, u64, type CborValue } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verify, type KeyPair } from "../primitives/keys.ts";
import type { ChainParams } from "./params.ts";
import { readKeyList, readValidatorInfo, StateKey, type StateReader } from "./state.ts";
import { isVoteType, voteSignBytes, type VoteType } from "./vote.ts";
import { epochOfHeight, firstHeightOfEpoch } from "./epoch.ts";
import { attestationFromValue, attestationValue } from "./bandwidth-records.ts";
import { BANDWIDTH_RECORD_EPOCHS, isAttestationPunished } from "./bandwidth.ts";
import { readProvider } from "./storage.ts";
import { ProviderStatus } from "./storage-records.ts";
import { attestSignBytes, measurementsDiffer, verifyAttestationSignature, type Attestation } from "../proofs/bandwidth.ts";

const ZERO_HASH = new Uint8Array(32);

/** A vote as evidence carries it: with the signer's public key instead of a set index. */
export interface SignedVote {
  readonly type: VoteType;
  readonly height: bigint;
  readonly round: number;
  /** null: a vote for nil */
  readonly blockHash: Uint8Array | null;
  readonly validator: Uint8Array;
  readonly signature: Uint8Array;
}

export interface DuplicateVoteEvidence {
  readonly kind: "duplicateVote";
  readonly voteA: SignedVote;
  readonly voteB: SignedVote;
}

/** Two different attestations by one witness for one relay and epoch; `a` is canonically first. */
export interface DuplicateAttestationEvidence {
  readonly kind: "duplicateAttestation";
  readonly a: Attestation;
  readonly b: Attestation;
}

/** Every kind of evidence a block can carry. */
export type Evidence = DuplicateVoteEvidence | DuplicateAttestationEvidence;

export const EvidenceKind = { DUPLICATE_VOTE: 1, DUPLICATE_ATTESTATION: 2 } as const;

/** Bound on one encoded evidence from a peer (a duplicate vote is about 300 bytes, a duplicate attestation about 400). */
export const MAX_EVIDENCE_BYTES = 4096;

export const EvidenceErrorCode = {
  MALFORMED: "EVIDENCE_MALFORMED",
  /** the votes are not in canonical order (voteA's block hash must sort first) */
  NOT_CANONICAL: "EVIDENCE_NOT_CANONICAL",
  DIFFERENT_VALIDATORS: "EVIDENCE_DIFFERENT_VALIDATORS",
  DIFFERENT_HEIGHTS: "EVIDENCE_DIFFERENT_HEIGHTS",
  DIFFERENT_ROUNDS: "EVIDENCE_DIFFERENT_ROUNDS",
  DIFFERENT_TYPES: "EVIDENCE_DIFFERENT_TYPES",
  /** both votes are for the same block: no equivocation */
  SAME_BLOCK: "EVIDENCE_SAME_BLOCK",
  BAD_SIGNATURE: "EVIDENCE_BAD_SIGNATURE",
  /** the votes' height is not below the including block's height */
  FROM_FUTURE: "EVIDENCE_FROM_FUTURE",
  /** more than params.evidenceMaxAgeBlocks below the including block's height */
  TOO_OLD: "EVIDENCE_TOO_OLD",
  /** the signer is not a registered validator */
  UNKNOWN_VALIDATOR: "EVIDENCE_UNKNOWN_VALIDATOR",
  /** the validator was already punished for that height, or the witness for that relay and epoch (evidence is included once) */
  ALREADY_PUNISHED: "EVIDENCE_ALREADY_PUNISHED",
  // duplicate attestations
  DIFFERENT_WITNESSES: "EVIDENCE_DIFFERENT_WITNESSES",
  DIFFERENT_RELAYS: "EVIDENCE_DIFFERENT_RELAYS",
  DIFFERENT_EPOCHS: "EVIDENCE_DIFFERENT_EPOCHS",
  /** both attestations report the same bytes, throughput and latency: no equivocation */
  SAME_ATTESTATION: "EVIDENCE_SAME_ATTESTATION",
  /** the witness is neither a registered provider (not exited) nor an account with stake */
  UNKNOWN_WITNESS: "EVIDENCE_UNKNOWN_WITNESS",
} as const;
export type EvidenceErrorCode = (typeof EvidenceErrorCode)[keyof typeof EvidenceErrorCode];
/** Invalid evidence; `data.index` is set when found inside a block (which is then invalid). */
export class EvidenceError extends CodedError<EvidenceErrorCode> {}

// ---- codec ----

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

export function evidenceToCbor(ev: Evidence): CborValue {
  switch (ev.kind) {
    case "duplicateVote":
      return [EvidenceKind.DUPLICATE_VOTE, voteToCbor(ev.voteA), voteToCbor(ev.voteB)];
    case "duplicateAttestation":
      return [EvidenceKind.DUPLICATE_ATTESTATION, attestationValue(ev.a), attestationValue(ev.b)];
  }
}

/** Shape only (the block decoder and `decodeEvidence` use it); throws CodecError or EvidenceError. */
export function evidenceFromCbor(v: CborValue): Evidence {
  const a = asArray(v, "evidence");
  const kind = asUint(a[0], "evidence.kind", 0xff);
  if (kind === EvidenceKind.DUPLICATE_ATTESTATION) {
    asArray(v, "duplicateAttestation", 3);
    return { kind: "duplicateAttestation", a: attestationFromValue(a[1], "attA"), b: attestationFromValue(a[2], "attB") };
  }
  if (kind !== EvidenceKind.DUPLICATE_VOTE) throw new EvidenceError(EvidenceErrorCode.MALFORMED, `unknown evidence kind ${kind}`);
  asArray(v, "duplicateVote", 3);
  return { kind: "duplicateVote", voteA: voteFromCbor(a[1]!, "voteA"), voteB: voteFromCbor(a[2]!, "voteB") };
}

export function encodeEvidence(ev: Evidence): Uint8Array {
  return encode(evidenceToCbor(ev));
}

/** Stateless decoding of evidence from a peer or a client; EvidenceError(MALFORMED) on any defect. */
export function decodeEvidence(bytes: Uint8Array): Evidence {
  try {
    return evidenceFromCbor(decode(bytes, MAX_EVIDENCE_BYTES));
  } catch (e) {
    if (e instanceof EvidenceError) throw e;
    if (e instanceof CodedError) throw new EvidenceError(EvidenceErrorCode.MALFORMED, `malformed evidence: ${e.message}`, { cause: e.code });
    throw e;
  }
}

/** H("cloudcoin/evidence/v1", encoding): the id an evidence pool deduplicates by. */
export function evidenceHash(ev: Evidence): Uint8Array {
  return taggedHash(Tag.EVIDENCE, encodeEvidence(ev));
}

/** The header's evidenceRoot: the RFC 6962 root over the encoded evidence, in block order. */
export function evidenceRoot(evidence: readonly Evidence[]): Uint8Array {
  return merkleRoot(evidence.map(encodeEvidence));
}

// ---- building ----

export function voteSignBytesOf(chainId: string, v: Pick<SignedVote, "type" | "height" | "round" | "blockHash">): Uint8Array {
  return voteSignBytes(chainId, v.type, v.height, v.round, v.blockHash ?? ZERO_HASH);
}

/** Signs a vote with `key` (for tests, simulations and the engine's own records). */
export function signVote(chainId: string, key: KeyPair, v: Pick<SignedVote, "type" | "height" | "round" | "blockHash">): SignedVote {
  return { type: v.type, height: v.height, round: v.round, blockHash: v.blockHash, validator: key.publicKey, signature: key.sign(voteSignBytesOf(chainId, v)) };
}

/** Orders two conflicting votes into canonical duplicate-vote evidence. */
export function duplicateVoteEvidence(a: SignedVote, b: SignedVote): DuplicateVoteEvidence {
  return compareBytes(a.blockHash ?? ZERO_HASH, b.blockHash ?? ZERO_HASH) <= 0 ? { kind: "duplicateVote", voteA: a, voteB: b } : { kind: "duplicateVote", voteA: b, voteB: a };
}

/** Orders two conflicting attestations into canonical duplicate-attestation evidence. */
export function duplicateAttestationEvidence(chainId: string, a: Attestation, b: Attestation): DuplicateAttestationEvidence {
  return compareBytes(attestSignBytes(chainId, a), attestSignBytes(chainId, b)) <= 0 ? { kind: "duplicateAttestation", a, b } : { kind: "duplicateAttestation", a: b, b: a };
}

/**
 * Who an evidence is about and the height it counts at: a double-signer and the votes' height, or
 * a double-attesting witness and the first height of the attestations' epoch (from which
 * attestations for it could be in blocks).
 */
export function evidenceSubject(ev: Evidence, epochLength: number): { offender: Uint8Array; height: bigint } {
  switch (ev.kind) {
    case "duplicateVote":
      return { offender: ev.voteA.validator, height: ev.voteA.height };
    case "duplicateAttestation":
      return { offender: ev.a.witness, height: firstHeightOfEpoch(ev.a.epoch, epochLength) };
  }
}

// ---- validation ----

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

function checkAttestationShape(x: Attestation, which: string): void {
  const bad = (why: string): never => {
    throw new EvidenceError(EvidenceErrorCode.MALFORMED, `attestation ${which}: ${why}`, { attestation: which });
  };
  if (x.relay.length !== PUBLIC_KEY_LENGTH) bad("relay key must be 32 bytes");
  if (x.witness.length !== PUBLIC_KEY_LENGTH) bad("witness key must be 32 bytes");
  if (x.signature.length !== SIGNATURE_LENGTH) bad("signature must be 64 bytes");
  for (const [name, n] of [["epoch", x.epoch], ["bytes", x.bytes], ["throughput", x.throughput], ["latency", x.latency]] as const) {
    if (n < 0n || n >= 1n << 64n) bad(`${name} out of range`);
  }
}

/**
 * Stateless checks of a duplicate attestation, in this order: well-formed attestations; one
 * witness, relay and epoch; different measurements; canonical order; both signatures.
 */
function validateAttestationEvidenceBasic(ev: DuplicateAttestationEvidence, chainId: string): void {
  const { a, b } = ev;
  checkAttestationShape(a, "A");
  checkAttestationShape(b, "B");
  if (!equalBytes(a.witness, b.witness)) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_WITNESSES, "the attestations are by different witnesses");
  if (!equalBytes(a.relay, b.relay)) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_RELAYS, "the attestations are about different relays");
  if (a.epoch !== b.epoch) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_EPOCHS, `epochs ${a.epoch} and ${b.epoch} differ`);
  if (!measurementsDiffer(a, b)) throw new EvidenceError(EvidenceErrorCode.SAME_ATTESTATION, "both attestations report the same measurements");
  if (compareBytes(attestSignBytes(chainId, a), attestSignBytes(chainId, b)) >= 0) {
    throw new EvidenceError(EvidenceErrorCode.NOT_CANONICAL, "attestation A's sign bytes must sort before B's");
  }
  if (!verifyAttestationSignature(chainId, a)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "attestation A's signature does not verify", { attestation: "A" });
  if (!verifyAttestationSignature(chainId, b)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "attestation B's signature does not verify", { attestation: "B" });
}

/**
 * Stateless checks. Duplicate vote, in this order: well-formed votes; one validator, height,
 * round and type; different blocks; canonical order; then both signatures (the expensive part
 * last). Duplicate attestation: see validateAttestationEvidenceBasic.
 */
export function validateEvidenceBasic(ev: Evidence, chainId: string): void {
  if (ev.kind === "duplicateAttestation") return validateAttestationEvidenceBasic(ev, chainId);
  const { voteA: a, voteB: b } = ev;
  checkVoteShape(a, "A");
  checkVoteShape(b, "B");
  // "two signed votes by one validator ... at the same height/round/step" (DESIGN.md section 5)
  if (!equalBytes(a.validator, b.validator)) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_VALIDATORS, "the votes are by different validators");
  if (a.height !== b.height) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_HEIGHTS, `heights ${a.height} and ${b.height} differ`);
  if (a.round !== b.round) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_ROUNDS, `rounds ${a.round} and ${b.round} differ`);
  if (a.type !== b.type) throw new EvidenceError(EvidenceErrorCode.DIFFERENT_TYPES, "a prevote and a precommit do not conflict");
  // "... for different blocks"
  const order = compareBytes(a.blockHash ?? ZERO_HASH, b.blockHash ?? ZERO_HASH);
  if (order === 0) throw new EvidenceError(EvidenceErrorCode.SAME_BLOCK, "both votes are for the same block");
  if (order > 0) throw new EvidenceError(EvidenceErrorCode.NOT_CANONICAL, "voteA's block hash must sort before voteB's");
  // signed by that validator for this chain
  if (!verify(a.validator, voteSignBytesOf(chainId, a), a.signature)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "vote A's signature does not verify", { vote: "A" });
  if (!verify(b.validator, voteSignBytesOf(chainId, b), b.signature)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "vote B's signature does not verify", { vote: "B" });
}

/**
 * Full validity of `ev` for inclusion in the block at `height` on top of `state`: the stateless
 * checks, then for a duplicate vote: height below the block's and at most
 * params.evidenceMaxAgeBlocks below it; the signer is a registered validator; it was not yet
 * punished for that height. For a duplicate attestation: the epoch's first height below the
 * block's (FROM_FUTURE); the epoch at most BANDWIDTH_RECORD_EPOCHS - 1 before the block's
 * (TOO_OLD); the witness is a registered provider that has not exited or an account with stake
 * (UNKNOWN_WITNESS); not yet punished for that relay and epoch. Throws EvidenceError. For gossip,
 * pass the head state and `head height + 1`.
 */
export function verifyEvidence(state: StateReader, ev: Evidence, chainId: string, params: ChainParams, height: bigint): void {
  validateEvidenceBasic(ev, chainId);
  if (ev.kind === "duplicateAttestation") return verifyAttestationEvidence(state, ev, params, height);
  const { offender: validator, height: e } = evidenceSubject(ev, params.epochLength);
  if (e >= height) throw new EvidenceError(EvidenceErrorCode.FROM_FUTURE, `evidence for height ${e} in a block at ${height}`);
  if (height - e > BigInt(params.evidenceMaxAgeBlocks)) {
    throw new EvidenceError(EvidenceErrorCode.TOO_OLD, `evidence for height ${e} is older than ${params.evidenceMaxAgeBlocks} blocks at ${height}`);
  }
  if (readValidatorInfo(state, validator) === undefined) throw new EvidenceError(EvidenceErrorCode.UNKNOWN_VALIDATOR, "the signer is not a registered validator");
  if (isPunished(state, validator, e)) throw new EvidenceError(EvidenceErrorCode.ALREADY_PUNISHED, `the validator was already punished for height ${e}`);
}

function verifyAttestationEvidence(state: StateReader, ev: DuplicateAttestationEvidence, params: ChainParams, height: bigint): void {
  const { witness, relay, epoch } = ev.a;
  const first = firstHeightOfEpoch(epoch, params.epochLength);
  if (first >= height) throw new EvidenceError(EvidenceErrorCode.FROM_FUTURE, `evidence about epoch ${epoch} (first height ${first}) in a block at ${height}`);
  const current = epochOfHeight(height, params.epochLength);
  if (epoch + BigInt(BANDWIDTH_RECORD_EPOCHS - 1) < current) {
    throw new EvidenceError(EvidenceErrorCode.TOO_OLD, `evidence about epoch ${epoch} is older than ${BANDWIDTH_RECORD_EPOCHS - 1} epochs before epoch ${current}`);
  }
  const provider = readProvider(state, witness);
  const isProvider = provider !== undefined && provider.status !== ProviderStatus.EXITED;
  if (!isProvider && state.account(witness).staked === 0n) throw new EvidenceError(EvidenceErrorCode.UNKNOWN_WITNESS, "the witness is neither a registered provider nor a staker");
  if (isAttestationPunished(state, witness, relay, epoch)) throw new EvidenceError(EvidenceErrorCode.ALREADY_PUNISHED, `the witness was already punished for this relay in epoch ${epoch}`);
}

/** Whether `validator` was already punished for double-signing at `height`. */
export function isPunished(state: StateReader, validator: Uint8Array, height: bigint): boolean {
  return readKeyList(state, StateKey.punished(height)).some((k) => equalBytes(k, validator));
}
