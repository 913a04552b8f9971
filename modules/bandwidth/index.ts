/**
 * The bandwidth module (docs/protocol.md section 6): witness assignment, attestations, crediting and
 * double-attestation evidence. Rules in ./bandwidth.ts; this file is what the registry needs.
 *
 *   bandwidth.attest  [8, relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *                     any sender; the witness's signature is what counts
 */
import { toHex } from "../../primitives/bytes.ts";
import { asArray } from "../../primitives/codec.ts";
import { toAddress } from "../../primitives/keys.ts";
import { defineEvent, defineOp, type ModuleSpec } from "../../chain/registry.ts";
import type { Attestation } from "../../proofs/bandwidth.ts";
import { z } from "zod";
import { address, count, decimal, hash } from "../json-schema.ts";
import { assignRelays, BandwidthErrorCode, conflictingAttestation, executeBandwidthOp, invalidBandwidthOp, type UnjudgedReason } from "./bandwidth.ts";
import { attestationFromValue, attestationValue, PREFIX_ATTEST_PUNISHED, PREFIX_BANDWIDTH, PREFIX_BANDWIDTH_LOOKBACK, PREFIX_WITNESS } from "./records.ts";
import { duplicateAttestation, duplicateAttestationEvidence, DuplicateAttestationErrorCode } from "./evidence.ts";
import { attestationJson } from "./json.ts";

export interface BandwidthAttestOp { readonly type: "bandwidth.attest"; readonly attestation: Attestation }

export type BandwidthEvent =
  /** End of an epoch's first block: `relay`'s witnesses for `epoch`, in draw order. */
  | { readonly kind: "bandwidthAssign"; readonly relay: Uint8Array; readonly epoch: bigint; readonly witnesses: readonly Uint8Array[] }
  /** bandwidth.attest: `witness`'s attestation of `relay` for `epoch` was accepted. */
  | { readonly kind: "bandwidthAttest"; readonly txHash: Uint8Array; readonly relay: Uint8Array; readonly epoch: bigint; readonly witness: Uint8Array; readonly throughput: bigint }
  /**
   * End of epoch: a judged relay's settlement; `attestations` accepted for it, `credited` throughput
   * (bytes per second; 0 = not credited, a failed epoch).
   */
  | { readonly kind: "bandwidthCredit"; readonly relay: Uint8Array; readonly epoch: bigint; readonly attestations: number; readonly credited: bigint }
  /**
   * End of epoch: a relay assigned in `epoch` that is not judged (no credit, no ban, its record
   * untouched); `reason`: over the per-IP limit, no IP address, fewer witnesses or attestations than the quorum.
   */
  | { readonly kind: "bandwidthUnjudged"; readonly relay: Uint8Array; readonly epoch: bigint; readonly attestations: number; readonly reason: UnjudgedReason }
  /**
   * End of epoch: `witness` attested `attested` of its `assigned` relays; a failed epoch for the
   * service law (`bannedUntil`: the first epoch it is a candidate again, 0 never banned; `strikes`).
   */
  | { readonly kind: "witnessMiss"; readonly witness: Uint8Array; readonly epoch: bigint; readonly attested: number; readonly assigned: number; readonly bannedUntil: bigint; readonly strikes: number }
  /** Duplicate-attestation evidence: `amount` burned from `witness`'s free collateral, stake and unbonding stake together. */
  | { readonly kind: "attestSlash"; readonly witness: Uint8Array; readonly relay: Uint8Array; readonly epoch: bigint; readonly amount: bigint };
type Ev<K extends BandwidthEvent["kind"]> = Extract<BandwidthEvent, { kind: K }>;

declare module "../../chain/tx.ts" {
  interface OpMap {
    "bandwidth.attest": BandwidthAttestOp;
  }
}
declare module "../../chain/exec.ts" {
  interface EventMap {
    bandwidthAssign: Ev<"bandwidthAssign">;
    bandwidthAttest: Ev<"bandwidthAttest">;
    bandwidthCredit: Ev<"bandwidthCredit">;
    attestSlash: Ev<"attestSlash">;
    bandwidthUnjudged: Ev<"bandwidthUnjudged">;
    witnessMiss: Ev<"witnessMiss">;
  }
}

export const BandwidthOpCode = { BANDWIDTH_ATTEST: 8 } as const;

const attest = defineOp<BandwidthAttestOp>({
  code: BandwidthOpCode.BANDWIDTH_ATTEST,
  type: "bandwidth.attest",
  topic: "attestation",
  encode: (op) => attestationValue(op.attestation) as never[],
  decode: (arr, v) => {
    asArray(v, "bandwidth.attest", 8);
    return { type: "bandwidth.attest", attestation: attestationFromValue(arr.slice(1), "bandwidth.attest") };
  },
  validateBasic: invalidBandwidthOp,
  execute: (w, ctx, tx) => executeBandwidthOp(w, ctx, tx, tx.op, tx.chainId),
  // the witness and the relay: their history shows the attestation whoever carried it
  participants: (tx) => [tx.op.attestation.witness, tx.op.attestation.relay],
  json: (op) => ({ attestation: attestationJson(op.attestation) }),
});

const events = [
  defineEvent<Ev<"bandwidthAssign">>({
    kind: "bandwidthAssign",
    json: (e) => ({ relay: toAddress(e.relay), epoch: Number(e.epoch), witnesses: e.witnesses.map(toAddress) }),
    schema: z.object({ kind: z.literal("bandwidthAssign"), relay: address, epoch: count, witnesses: z.array(address) }),
  }),
  defineEvent<Ev<"bandwidthAttest">>({
    kind: "bandwidthAttest",
    json: (e) => ({ txHash: toHex(e.txHash), relay: toAddress(e.relay), epoch: Number(e.epoch), witness: toAddress(e.witness), throughput: e.throughput.toString() }),
    schema: z.object({ kind: z.literal("bandwidthAttest"), txHash: hash, relay: address, epoch: count, witness: address, throughput: decimal }),
  }),
  defineEvent<Ev<"bandwidthCredit">>({
    kind: "bandwidthCredit",
    json: (e) => ({ relay: toAddress(e.relay), epoch: Number(e.epoch), attestations: e.attestations, credited: e.credited.toString() }),
    schema: z.object({ kind: z.literal("bandwidthCredit"), relay: address, epoch: count, attestations: count, credited: decimal }),
  }),
  defineEvent<Ev<"bandwidthUnjudged">>({
    kind: "bandwidthUnjudged",
    json: (e) => ({ relay: toAddress(e.relay), epoch: Number(e.epoch), attestations: e.attestations, reason: e.reason }),
    schema: z.object({
      kind: z.literal("bandwidthUnjudged"), relay: address, epoch: count, attestations: count, reason: z.enum(["ipLimit", "noIp", "fewWitnesses", "fewAttestations"]),
    }),
  }),
  defineEvent<Ev<"witnessMiss">>({
    kind: "witnessMiss",
    json: (e) => ({ witness: toAddress(e.witness), epoch: Number(e.epoch), attested: e.attested, assigned: e.assigned, bannedUntil: Number(e.bannedUntil), strikes: e.strikes }),
    schema: z.object({ kind: z.literal("witnessMiss"), witness: address, epoch: count, attested: count, assigned: count, bannedUntil: count, strikes: count }),
  }),
  defineEvent<Ev<"attestSlash">>({
    kind: "attestSlash",
    json: (e) => ({ witness: toAddress(e.witness), relay: toAddress(e.relay), epoch: Number(e.epoch), amount: e.amount.toString() }),
    schema: z.object({ kind: z.literal("attestSlash"), witness: address, relay: address, epoch: count, amount: decimal }),
  }),
];

export const bandwidth: ModuleSpec = {
  name: "bandwidth",
  ops: [attest],
  events,
  records: [
    { prefix: PREFIX_BANDWIDTH, name: "relayEpoch" },
    { prefix: PREFIX_ATTEST_PUNISHED, name: "attestPunished" },
    { prefix: PREFIX_BANDWIDTH_LOOKBACK, name: "bandwidthLookback" },
    { prefix: PREFIX_WITNESS, name: "witnessRecord" },
  ],
  evidence: [duplicateAttestation],
  errors: { ...BandwidthErrorCode, ...DuplicateAttestationErrorCode },
  hooks: {
    beginEpoch: (w, ctx) => assignRelays(w, ctx),
  },
  // A bandwidth.attest refused as a duplicate, with other measurements than the stored one, is a double attestation.
  evidenceFrom: (block, receipts, after, chainId) => {
    const found = [];
    for (let i = 0; i < receipts.length; i++) {
      const op = block.txs[i]?.op;
      if (receipts[i]!.ok || receipts[i]!.code !== BandwidthErrorCode.ATTEST_DUPLICATE || op?.type !== "bandwidth.attest") continue;
      const stored = conflictingAttestation(after, op.attestation);
      if (stored) found.push(duplicateAttestationEvidence(chainId, stored, op.attestation));
    }
    return found;
  },
};
