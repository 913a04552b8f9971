/**
 * The records of proof of bandwidth (DESIGN.md section 7) and their codecs: the attestation's wire
 * form (shared by bandwidth.attest and duplicate-attestation evidence), a relay's record for an
 * epoch, and the marks of witnesses punished for relays without a record. chain/bandwidth.ts
 * executes on them. Pure.
 *
 * State layout (keys in chain/state.ts `StateKey`; the last BANDWIDTH_RECORD_EPOCHS epochs are kept):
 *   0x08 || epoch(8)               sorted list of the relays assigned witnesses in `epoch`
 *   0x08 || relay(32) || epoch(8)  RelayEpoch
 *   0x09 || epoch(8)               sorted list of relay(32) || witness(32): witnesses punished for a
 *                                  double attestation about a relay that has no RelayEpoch for `epoch`
 */
import { asArray, asBytes, asU64, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from "../../primitives/keys.ts";
import type { Attestation } from "../../proofs/bandwidth.ts";
import { u64be } from "../../primitives/bytes.ts";
import { prefixedKey } from "../../chain/state.ts";

/** 0x08 || epoch(8): the sorted list of the relays assigned in that epoch; 0x08 || relay(32) || epoch(8): a RelayEpoch. */
export const PREFIX_BANDWIDTH = 0x08;
/** 0x09 || epoch(8): witnesses punished for a double attestation about a relay without a RelayEpoch. */
export const PREFIX_ATTEST_PUNISHED = 0x09;
export const BandwidthKey = {
  /** Public keys (sorted) of the relays assigned witnesses in `epoch`. */
  relaysOfEpoch: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_BANDWIDTH, u64be(epoch)),
  /** A relay's RelayEpoch record: its witnesses and attestations in `epoch`. */
  relayEpoch: (relay: Uint8Array, epoch: bigint): Uint8Array => prefixedKey(PREFIX_BANDWIDTH, relay, u64be(epoch)),
  /** relay || witness pairs (sorted) punished for a double attestation in `epoch` about a relay without a record. */
  attestPunished: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_ATTEST_PUNISHED, u64be(epoch)),
} as const;

/** An attestation as a relay's record holds it (relay and epoch are the record's). */
export interface AttestationEntry {
  readonly witness: Uint8Array;
  readonly bytes: bigint;
  readonly throughput: bigint;
  readonly latency: bigint;
  readonly signature: Uint8Array;
}

/** A relay's assignment and service in one epoch. */
export interface RelayEpoch {
  /** Not stored: part of the record's key. */
  readonly relay: Uint8Array;
  readonly epoch: bigint;
  /** The assigned witnesses, in draw order. */
  readonly witnesses: readonly Uint8Array[];
  /** Accepted attestations, in inclusion order; at most one per witness. */
  readonly attestations: readonly AttestationEntry[];
  /** Throughput credited at the epoch's settlement (0 when not credited); null before it, or when not judged. */
  readonly credited: bigint | null;
  /** Witnesses punished for a double attestation about this relay and epoch, sorted. */
  readonly punished: readonly Uint8Array[];
}

const readBytes = (b: Uint8Array, trusted: boolean): CborValue => (trusted ? decodeTrusted(b) : decode(b));

// ---- attestation (wire) ----

/** [relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)] */
export function attestationValue(a: Attestation): CborValue {
  return [a.relay, u64(a.epoch), u64(a.bytes), u64(a.throughput), u64(a.latency), a.witness, a.signature];
}

/** An attestation from a decoded CBOR value; throws CodecError for a wrong shape. */
export function attestationFromValue(value: CborValue | undefined, field: string): Attestation {
  const a = asArray(value, field, 7);
  return {
    relay: asBytes(a[0], `${field}.relay`, PUBLIC_KEY_LENGTH),
    epoch: asU64(a[1], `${field}.epoch`),
    bytes: asU64(a[2], `${field}.bytes`),
    throughput: asU64(a[3], `${field}.throughput`),
    latency: asU64(a[4], `${field}.latency`),
    witness: asBytes(a[5], `${field}.witness`, PUBLIC_KEY_LENGTH),
    signature: asBytes(a[6], `${field}.signature`, SIGNATURE_LENGTH),
  };
}

// ---- relay epoch ----

export function encodeRelayEpoch(r: RelayEpoch): Uint8Array {
  return encode([
    u64(r.epoch),
    [...r.witnesses],
    r.attestations.map((e): CborValue => [e.witness, u64(e.bytes), u64(e.throughput), u64(e.latency), e.signature]),
    r.credited === null ? null : u64(r.credited),
    [...r.punished],
  ]);
}

export function decodeRelayEpoch(relay: Uint8Array, b: Uint8Array, trusted = false): RelayEpoch {
  const v = asArray(readBytes(b, trusted), "relayEpoch", 5);
  return {
    relay,
    epoch: asU64(v[0], "epoch"),
    witnesses: asArray(v[1], "witnesses").map((k) => asBytes(k, "witness", PUBLIC_KEY_LENGTH)),
    attestations: asArray(v[2], "attestations").map((x) => {
      const e = asArray(x, "attestation", 5);
      return {
        witness: asBytes(e[0], "witness", PUBLIC_KEY_LENGTH),
        bytes: asU64(e[1], "bytes"),
        throughput: asU64(e[2], "throughput"),
        latency: asU64(e[3], "latency"),
        signature: asBytes(e[4], "signature", SIGNATURE_LENGTH),
      };
    }),
    credited: v[3] === null ? null : asU64(v[3], "credited"),
    punished: asArray(v[4], "punished").map((k) => asBytes(k, "punished", PUBLIC_KEY_LENGTH)),
  };
}

// ---- punished marks (relay || witness, 64 bytes each, sorted) ----

export function encodeAttestMarks(marks: readonly Uint8Array[]): Uint8Array {
  return encode([...marks]);
}

export function decodeAttestMarks(b: Uint8Array, trusted = false): Uint8Array[] {
  return asArray(readBytes(b, trusted), "marks").map((k) => asBytes(k, "mark", 2 * PUBLIC_KEY_LENGTH));
}
