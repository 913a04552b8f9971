/**
 * Duplicate-attestation evidence (docs/protocol.md section 6): two attestations signed by one witness for
 * the same relay and epoch that report different measurements (bytes, throughput or latency).
 *
 *   evidence    = [2, attA, attB]
 *   attestation = [relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *
 * Canonical form: attestSignBytes(chainId, attA) sorts strictly before attB's. Its subject (what
 * is punished once) is (witness, relay, epoch); for the pool's and the age rules it counts as
 * happening at the epoch's first height.
 */
import { compareBytes, equalBytes } from "../../primitives/bytes.ts";
import { asArray } from "../../primitives/codec.ts";
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from "../../primitives/keys.ts";
import { epochOfHeight, firstHeightOfEpoch } from "../../chain/epoch.ts";
import { EvidenceError, EvidenceErrorCode } from "../../chain/evidence.ts";
import { defineEvidence } from "../../chain/registry.ts";
import { attestSignBytes, measurementsDiffer, verifyAttestationSignature, type Attestation } from "../../proofs/bandwidth.ts";
import { readProvider } from "../storage/storage.ts";
import { ProviderStatus } from "../storage/records.ts";
import { candidateChanged } from "../staking/staking.ts";
import { BANDWIDTH_RECORD_EPOCHS, isAttestationPunished, punishDoubleAttestation, unbondingBegunSince } from "./bandwidth.ts";
import { attestationFromValue, attestationValue } from "./records.ts";
import { attestationJson } from "./json.ts";

/** Two different attestations by one witness for one relay and epoch; `a` is canonically first. */
export interface DuplicateAttestationEvidence {
  readonly kind: "duplicateAttestation";
  readonly a: Attestation;
  readonly b: Attestation;
}

declare module "../../chain/evidence.ts" {
  interface EvidenceMap {
    duplicateAttestation: DuplicateAttestationEvidence;
  }
}

export const DUPLICATE_ATTESTATION_CODE = 2;

export const DuplicateAttestationErrorCode = {
  DIFFERENT_WITNESSES: "EVIDENCE_DIFFERENT_WITNESSES",
  DIFFERENT_RELAYS: "EVIDENCE_DIFFERENT_RELAYS",
  DIFFERENT_EPOCHS: "EVIDENCE_DIFFERENT_EPOCHS",
  /** both attestations report the same bytes, throughput and latency: no equivocation */
  SAME_ATTESTATION: "EVIDENCE_SAME_ATTESTATION",
  /** the witness is neither a registered provider (active or exiting) nor an account with stake or stake unbonding since the epoch */
  UNKNOWN_WITNESS: "EVIDENCE_UNKNOWN_WITNESS",
} as const;

/** Orders two conflicting attestations into canonical duplicate-attestation evidence. */
export function duplicateAttestationEvidence(chainId: string, a: Attestation, b: Attestation): DuplicateAttestationEvidence {
  return compareBytes(attestSignBytes(chainId, a), attestSignBytes(chainId, b)) <= 0 ? { kind: "duplicateAttestation", a, b } : { kind: "duplicateAttestation", a: b, b: a };
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

export const duplicateAttestation = defineEvidence<DuplicateAttestationEvidence>({
  code: DUPLICATE_ATTESTATION_CODE,
  kind: "duplicateAttestation",
  encode: (ev) => [attestationValue(ev.a), attestationValue(ev.b)],
  decode: (a, v) => {
    asArray(v, "duplicateAttestation", 3);
    return { kind: "duplicateAttestation", a: attestationFromValue(a[1], "attA"), b: attestationFromValue(a[2], "attB") };
  },
  /** In this order: well-formed attestations; one witness, relay and epoch; different measurements; canonical order; both signatures. */
  validateBasic: (ev, chainId) => {
    const { a, b } = ev;
    checkAttestationShape(a, "A");
    checkAttestationShape(b, "B");
    if (!equalBytes(a.witness, b.witness)) throw new EvidenceError(DuplicateAttestationErrorCode.DIFFERENT_WITNESSES, "the attestations are by different witnesses");
    if (!equalBytes(a.relay, b.relay)) throw new EvidenceError(DuplicateAttestationErrorCode.DIFFERENT_RELAYS, "the attestations are about different relays");
    if (a.epoch !== b.epoch) throw new EvidenceError(DuplicateAttestationErrorCode.DIFFERENT_EPOCHS, `epochs ${a.epoch} and ${b.epoch} differ`);
    if (!measurementsDiffer(a, b)) throw new EvidenceError(DuplicateAttestationErrorCode.SAME_ATTESTATION, "both attestations report the same measurements");
    if (compareBytes(attestSignBytes(chainId, a), attestSignBytes(chainId, b)) >= 0) {
      throw new EvidenceError(EvidenceErrorCode.NOT_CANONICAL, "attestation A's sign bytes must sort before B's");
    }
    if (!verifyAttestationSignature(chainId, a)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "attestation A's signature does not verify", { attestation: "A" });
    if (!verifyAttestationSignature(chainId, b)) throw new EvidenceError(EvidenceErrorCode.BAD_SIGNATURE, "attestation B's signature does not verify", { attestation: "B" });
  },
  /**
   * The epoch's first height below the block's (FROM_FUTURE); the epoch at most
   * BANDWIDTH_RECORD_EPOCHS - 1 before the block's (TOO_OLD); the witness a registered provider that
   * has not exited (an exiting one's collateral stays locked that long), an account with stake, or
   * one with stake unbonding since the epoch's first height (UNKNOWN_WITNESS); not yet punished for that relay and epoch.
   */
  verify: (state, ev, params, height) => {
    const { witness, relay, epoch } = ev.a;
    const first = firstHeightOfEpoch(epoch, params.epochLength);
    if (first >= height) throw new EvidenceError(EvidenceErrorCode.FROM_FUTURE, `evidence about epoch ${epoch} (first height ${first}) in a block at ${height}`);
    const current = epochOfHeight(height, params.epochLength);
    if (epoch + BigInt(BANDWIDTH_RECORD_EPOCHS - 1) < current) {
      throw new EvidenceError(EvidenceErrorCode.TOO_OLD, `evidence about epoch ${epoch} is older than ${BANDWIDTH_RECORD_EPOCHS - 1} epochs before epoch ${current}`);
    }
    const provider = readProvider(state, witness);
    const isProvider = provider !== undefined && provider.status !== ProviderStatus.EXITED;
    const account = state.account(witness);
    const unbonding = account.unbonding.some((u) => unbondingBegunSince(u.releaseHeight, first, params));
    if (!isProvider && account.staked === 0n && !unbonding) {
      throw new EvidenceError(DuplicateAttestationErrorCode.UNKNOWN_WITNESS, "the witness is neither a registered provider nor a staker, and nothing of it unbonds since the epoch");
    }
    if (isAttestationPunished(state, witness, relay, epoch)) throw new EvidenceError(EvidenceErrorCode.ALREADY_PUNISHED, `the witness was already punished for this relay in epoch ${epoch}`);
  },
  subject: (ev, epochLength) => ({ offender: ev.a.witness, height: firstHeightOfEpoch(ev.a.epoch, epochLength) }),
  // a candidate whose stake shrank is settled at the end of the block (the staking module)
  apply: (w, ctx, ev) => {
    if (punishDoubleAttestation(w, ctx, ev) > 0n) candidateChanged(w, ctx, ev.a.witness);
  },
  json: (ev) => ({ a: attestationJson(ev.a), b: attestationJson(ev.b) }),
});
