/**
 * The records of proof of bandwidth (docs/protocol.md section 6) and their codecs: the attestation's wire
 * form (shared by bandwidth.attest and duplicate-attestation evidence), a relay's record for an
 * epoch, and the marks of witnesses punished for relays without a record. chain/bandwidth.ts
 * executes on them. Pure.
 *
 * State layout (keys in chain/state.ts `StateKey`; the last BANDWIDTH_RECORD_EPOCHS epochs are kept):
 *   0x08 || epoch(8)               sorted list of the relays assigned witnesses in `epoch`
 *   0x08 || relay(32) || epoch(8)  RelayEpoch
 *   0x09 || epoch(8)               sorted list of relay(32) || witness(32): witnesses punished for a
 *                                  double attestation about a relay that has no RelayEpoch for `epoch`
 *   0x10 0x00 || epoch(8)          Snapshot frozen at the end of `epoch` (the lookback: used for epoch + 2)
 *   0x10 0x01 || epoch(8)          the seed of `epoch`: the chain seed after its last block (32 bytes; used for epoch + 1)
 *   0x10 0x02                      Boundary: the raw weights at the end of the last settled epoch
 *   0x11 || key(32)                WitnessRecord: a witness's service record and ban (any key, provider or not)
 */
import { asArray, asBytes, asU64, asUint, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";
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

/** 0x10 ...: the lookback records (snapshots, seeds, the last boundary). */
export const PREFIX_BANDWIDTH_LOOKBACK = 0x10;
/** 0x11 || key: a witness's service record. */
export const PREFIX_WITNESS = 0x11;
export const LookbackKey = {
  /** The candidate snapshot frozen at the end of `epoch`. */
  snapshot: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_BANDWIDTH_LOOKBACK, new Uint8Array([0]), u64be(epoch)),
  /** The seed of `epoch`: the chain seed after its last block (recorded at the first block of epoch + 1). */
  seed: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_BANDWIDTH_LOOKBACK, new Uint8Array([1]), u64be(epoch)),
  /** The raw candidate weights and relays at the end of the last settled epoch. */
  boundary: prefixedKey(PREFIX_BANDWIDTH_LOOKBACK, new Uint8Array([2])),
  witness: (key: Uint8Array): Uint8Array => prefixedKey(PREFIX_WITNESS, key),
} as const;

/** A key and its weight (stake, collateral) in a boundary or snapshot, sorted by key. */
export interface WeightEntry {
  readonly key: Uint8Array;
  readonly weight: bigint;
}

/**
 * The witness candidates and the relays to assign, at an epoch boundary (Boundary: the raw weights
 * at the end of `epoch`) or frozen for the lookback (Snapshot: a key's weight is the minimum of its
 * weights at the ends of epoch - 1 and `epoch`; a relay is in it if it was at both).
 */
export interface CandidateSet {
  readonly epoch: bigint;
  /** Sorted by key, weights positive. */
  readonly candidates: readonly WeightEntry[];
  /** Relay keys, sorted. */
  readonly relays: readonly Uint8Array[];
}

export function encodeCandidateSet(s: CandidateSet): Uint8Array {
  return encode([u64(s.epoch), s.candidates.map((c): CborValue => [c.key, u64(c.weight)]), [...s.relays]]);
}

export function decodeCandidateSet(b: Uint8Array, trusted = false): CandidateSet {
  const v = asArray(readBytes(b, trusted), "candidateSet", 3);
  return {
    epoch: asU64(v[0], "epoch"),
    candidates: asArray(v[1], "candidates").map((x) => {
      const e = asArray(x, "candidate", 2);
      return { key: asBytes(e[0], "key", PUBLIC_KEY_LENGTH), weight: asU64(e[1], "weight") };
    }),
    relays: asArray(v[2], "relays").map((k) => asBytes(k, "relay", PUBLIC_KEY_LENGTH)),
  };
}

/** One epoch of a witness's service: attestations made / assignments due. */
export interface WitnessServiceEntry {
  readonly epoch: bigint;
  readonly made: number;
  readonly due: number;
}

/** A witness's record: the service law (storage's recordServiceEpoch rule) applied to its assignments. */
export interface WitnessRecord {
  readonly key: Uint8Array;
  readonly bannedUntil: bigint;
  readonly strikes: number;
  readonly lastFailureEpoch: bigint;
  readonly reputation: readonly WitnessServiceEntry[];
}

export function encodeWitnessRecord(r: WitnessRecord): Uint8Array {
  return encode([u64(r.bannedUntil), r.strikes, u64(r.lastFailureEpoch), r.reputation.map((e): CborValue => [u64(e.epoch), e.made, e.due])]);
}

export function decodeWitnessRecord(key: Uint8Array, b: Uint8Array, trusted = false): WitnessRecord {
  const v = asArray(readBytes(b, trusted), "witness", 4);
  return {
    key,
    bannedUntil: asU64(v[0], "bannedUntil"),
    strikes: asUint(v[1], "strikes"),
    lastFailureEpoch: asU64(v[2], "lastFailureEpoch"),
    reputation: asArray(v[3], "reputation").map((x) => {
      const e = asArray(x, "entry", 3);
      return { epoch: asU64(e[0], "epoch"), made: asUint(e[1], "made"), due: asUint(e[2], "due") };
    }),
  };
}

/** Why a relay assigned in an epoch got no witnesses: none, over params.maxRelaysPerIp at its IP, or no /ip4 or /ip6 address. */
export const RelayLimit = { NONE: 0, IP_LIMIT: 1, NO_IP: 2 } as const;
export type RelayLimit = (typeof RelayLimit)[keyof typeof RelayLimit];

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
  /** RelayLimit: NONE, or why it got no witnesses (then it is not judged). */
  readonly limited: RelayLimit;
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
    r.limited,
  ]);
}

export function decodeRelayEpoch(relay: Uint8Array, b: Uint8Array, trusted = false): RelayEpoch {
  const v = asArray(readBytes(b, trusted), "relayEpoch", 6);
  const limited = asUint(v[5], "limited", 2) as RelayLimit;
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
    limited,
  };
}

// ---- punished marks (relay || witness, 64 bytes each, sorted) ----

export function encodeAttestMarks(marks: readonly Uint8Array[]): Uint8Array {
  return encode([...marks]);
}

export function decodeAttestMarks(b: Uint8Array, trusted = false): Uint8Array[] {
  return asArray(readBytes(b, trusted), "marks").map((k) => asBytes(k, "mark", 2 * PUBLIC_KEY_LENGTH));
}
