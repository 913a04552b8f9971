/**
 * Evidence of misbehaviour: the kernel's part. A block carries a list of evidence, each
 *
 *   evidence = [code, ...args]
 *
 * whose kind is a module's `EvidenceSpec` (chain/registry.ts): duplicate votes (double signing,
 * modules/staking/evidence.ts) and duplicate attestations (modules/bandwidth/evidence.ts). This
 * file holds what is common: the codec by code, the hash and root, the two validation stages
 * (`validateEvidenceBasic` needs no state, `verifyEvidence` adds the checks
 * against the state a block would include it on), and `applyEvidence`, which verifies and then
 * punishes. The node runs `verifyEvidence` on gossiped evidence before pooling it; the transition
 * runs `applyEvidence` on every evidence in a block, and a block with an invalid one is invalid.
 */
import { merkleRoot } from "../proofs/merkle.ts";
import { asArray, asUint, decode, encode, type CborValue } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import type { BlockContext } from "./exec.ts";
import type { ChainParams } from "./params.ts";
import { registry, type EvidenceSpec } from "./registry.ts";
import type { StateReader, StateWriter } from "./state.ts";

/**
 * Evidence kinds, by name: empty here; each module adds its own
 * (`declare module "../../chain/evidence.ts" { interface EvidenceMap { duplicateVote: ... } }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface EvidenceMap {}

/** Every kind of evidence a block can carry. */
export type Evidence = EvidenceMap[keyof EvidenceMap];

/** Bound on one encoded evidence from a peer (a duplicate vote is about 300 bytes, a duplicate attestation about 400). */
export const MAX_EVIDENCE_BYTES = 4096;

/** The codes every kind shares; each module adds its own (same class, its own code object). */
export const EvidenceErrorCode = {
  MALFORMED: "EVIDENCE_MALFORMED",
  /** the two halves are not in canonical order */
  NOT_CANONICAL: "EVIDENCE_NOT_CANONICAL",
  BAD_SIGNATURE: "EVIDENCE_BAD_SIGNATURE",
  /** the fault's height is not below the including block's height */
  FROM_FUTURE: "EVIDENCE_FROM_FUTURE",
  /** older than the kind's evidence window */
  TOO_OLD: "EVIDENCE_TOO_OLD",
  /** the offender was already punished for this fault (evidence is included once) */
  ALREADY_PUNISHED: "EVIDENCE_ALREADY_PUNISHED",
} as const;
export type EvidenceErrorCode = (typeof EvidenceErrorCode)[keyof typeof EvidenceErrorCode];
/** Invalid evidence; `data.index` is set when found inside a block (which is then invalid). */
export class EvidenceError<C extends string = string> extends CodedError<C> {}

/**
 * Failures of the stateless stage (decoding, validateBasic): the evidence is bad whoever relays
 * it, so gossip penalizes the peer; a failure against the state (too old, already punished) may
 * be an honest race and is only ignored.
 */
const statelessFailures = new WeakSet<Error>();
function stateless<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CodedError) statelessFailures.add(e);
    throw e;
  }
}
/** Whether `e` came from decoding or validateBasic (the evidence itself is invalid), not from the state. */
export function isStatelessEvidenceFailure(e: unknown): boolean {
  return e instanceof Error && statelessFailures.has(e);
}

function specOf(ev: Evidence): EvidenceSpec {
  const spec = registry().evidence(ev.kind);
  if (spec === undefined) throw new TypeError(`evidence kind ${String(ev.kind)} is not registered`);
  return spec;
}

// ---- codec ----

export function evidenceToCbor(ev: Evidence): CborValue {
  const spec = specOf(ev);
  return [spec.code, ...spec.encode(ev)];
}

/** Shape only (the block decoder and `decodeEvidence` use it); throws CodecError or EvidenceError. */
export function evidenceFromCbor(v: CborValue): Evidence {
  const a = asArray(v, "evidence");
  const code = asUint(a[0], "evidence.kind", 0xff);
  const spec = registry().evidenceByCode(code);
  if (spec === undefined) throw new EvidenceError(EvidenceErrorCode.MALFORMED, `unknown evidence kind ${code}`);
  return spec.decode(a, v);
}

export function encodeEvidence(ev: Evidence): Uint8Array {
  return encode(evidenceToCbor(ev));
}

/** Stateless decoding of evidence from a peer or a client; EvidenceError(MALFORMED) on any defect. */
export function decodeEvidence(bytes: Uint8Array): Evidence {
  return stateless(() => {
    try {
      return evidenceFromCbor(decode(bytes, MAX_EVIDENCE_BYTES));
    } catch (e) {
      if (e instanceof EvidenceError) throw e;
      if (e instanceof CodedError) throw new EvidenceError(EvidenceErrorCode.MALFORMED, `malformed evidence: ${e.message}`, { cause: e.code });
      throw e;
    }
  });
}

/** H("cloudcoin/evidence/v1", encoding): the id an evidence pool deduplicates by. */
export function evidenceHash(ev: Evidence): Uint8Array {
  return taggedHash(Tag.EVIDENCE, encodeEvidence(ev));
}

/** The header's evidenceRoot: the RFC 6962 root over the encoded evidence, in block order. */
export function evidenceRoot(evidence: readonly Evidence[]): Uint8Array {
  return merkleRoot(evidence.map(encodeEvidence));
}

/** Who an evidence is about and the height it counts at (for the pool's and the age rules). */
export function evidenceSubject(ev: Evidence, epochLength: number): { offender: Uint8Array; height: bigint } {
  return specOf(ev).subject(ev, epochLength);
}

// ---- validation ----

/** The kind's stateless checks (shape, a real conflict, canonical order, signatures last); throws EvidenceError. */
export function validateEvidenceBasic(ev: Evidence, chainId: string): void {
  stateless(() => specOf(ev).validateBasic(ev, chainId));
}

/**
 * Full validity of `ev` for inclusion in the block at `height` on top of `state`: the stateless
 * checks, then the kind's checks against the state (age, a known offender, not yet punished).
 * Throws EvidenceError. For gossip, pass the head state and `head height + 1`.
 */
export function verifyEvidence(state: StateReader, ev: Evidence, chainId: string, params: ChainParams, height: bigint): void {
  const spec = specOf(ev);
  stateless(() => spec.validateBasic(ev, chainId));
  spec.verify(state, ev, params, height);
}

/** Verifies `ev` for this block (EvidenceError if invalid; nothing written then) and punishes the offender. */
export function applyEvidence(w: StateWriter, ctx: BlockContext, ev: Evidence, chainId: string): void {
  verifyEvidence(w, ev, chainId, ctx.params, ctx.height);
  specOf(ev).apply(w, ctx, ev);
}
