/**
 * Proof of bandwidth (docs/protocol.md sections 4, 6 and 7), run by the state transition.
 * Pure and deterministic: bigint arithmetic, sorted key lists, no clock. The pure rules (attestation
 * sign bytes, witness assignment, median, per-IP limit) are proofs/bandwidth.ts; the records ./records.ts.
 *
 *   boundary          at the end of the last block of epoch k, after its settlement (freezeSnapshot,
 *                     from modules/rewards endEpoch): the raw weights B_k (boundaryCandidates: every
 *                     active provider not banned in k+1, by collateral, plus every member of the
 *                     validator set, by power; a key banned as a witness in k+1 is left out) and the
 *                     active relays. The snapshot S_k keeps the keys in both B_{k-1} and B_k, each with
 *                     the minimum of its two weights, and the relays in both: an approximation of
 *                     "bonded for the whole of epoch k" that sees the two boundaries only (a key that
 *                     left and came back within k counts; stake added during k does not). B_{-1} is
 *                     empty, so S_0 is empty.
 *   assignment        at the end of the first block of epoch e (assignRelays, the beginEpoch hook):
 *                     the lookback. The seed is epoch e-1's: the chain seed after its last block
 *                     (this block's parent; kept in this module's records). The candidates and the
 *                     relays are S_{e-2}, frozen a whole epoch before that seed could be known: the
 *                     proposer of the last block of e-2, which can still move S_{e-2} (an exit), would
 *                     have to propose every block of e-1 to know it. (With the seed of e-1's first
 *                     block, a proposer of both the last block of e-2 and the first of e-1 knew the
 *                     seed while it could still remove weight, and each removal redraws every
 *                     relay.) The only lever left is not proposing the last block of e-1. Each
 *                     relay of S_{e-2} that is still active, and within params.maxRelaysPerIp of its
 *                     IP group (limitRelaysPerIp, by collateral then key; a relay with no /ip4 or /ip6
 *                     address gets none), gets assignWitnesses(seed_{e-1}, relay, S_{e-2},
 *                     params.witnessesPerRelay); the others get a RelayEpoch with no witnesses and the
 *                     reason. Records of epoch e - BANDWIDTH_RECORD_EPOCHS are deleted then.
 *   bandwidth.attest  [8, relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *                     carries one witness's signed attestation into a block; any account may send it
 *                     (and pays its fee). Accepted in blocks e*L+2 .. (e+1)*L for epoch e, once per
 *                     assigned witness (checkAttestation lists the rules in order). A failed probe is
 *                     attested with throughput 0; `bytes` is then the size the probe attempted, and
 *                     must meet params.minProbeBytes as a successful probe's downloaded bytes must.
 *   settlement        at the end of the last block of epoch e (settleBandwidthEpoch, from
 *                     modules/rewards endEpoch after the storage settlement), each relay assigned in
 *                     e, in key order, is judged only if it had at least params.attestQuorum
 *                     witnesses and attestations: credited = the lower median of the attested
 *                     throughputs, capped at its capacity; its reputation window gets (e, credited > 0
 *                     ? 1 : 0, 1) and a failed epoch bans it (recordServiceEpoch). A relay not judged
 *                     (over the per-IP limit, no IP, too few witnesses or attestations) gets a
 *                     bandwidthUnjudged event and nothing else: no credit, no ban, its record
 *                     untouched: the silence is the witnesses'. Credited relays that are active and
 *                     were not banned during e earn (10000 - witnessShareBps) of the bandwidth pool by
 *                     credited x reputation; each attestation of a judged relay within
 *                     params.witnessToleranceBps of its (uncapped) lower median earns its witness a
 *                     share of the witnessShareBps part (by paid attestations x witness reputation).
 *                     Every assigned witness of a relay with a quorum of witnesses owes one attestation:
 *                     its WitnessRecord gets (e, made, due) and the service law bans it from being a
 *                     candidate (1, 6, 144 epochs) when it missed one (witnessMiss event).
 *   double attestation  a witness that signed two different attestations for one relay and epoch
 *                     is punished once (duplicate-attestation evidence, ./evidence.ts):
 *                     params.attestSlashBps of its free provider collateral (active or exiting: an
 *                     exit keeps the collateral locked for EXIT_UNBONDING_EPOCHS, as long as the
 *                     evidence is accepted), of its stake and of its unbonding entries begun at or
 *                     after the epoch's first height is burned (punishDoubleAttestation).
 */
import { isU64 } from "../../primitives/amount.ts";
import { compareBytes, concatBytes, equalBytes, toHex } from "../../primitives/bytes.ts";
import { epochOfHeight, firstHeightOfEpoch, isFirstBlockOfEpoch, readEpochRecord } from "../../chain/epoch.ts";
import { OpError, type BlockContext } from "../../chain/exec.ts";
import type { DuplicateAttestationEvidence } from "./evidence.ts";
import type { ChainParams } from "../../chain/params.ts";
import { encodeKeyList, readKeyList, readValidatorSet, StateKey, type StateReader, type StateWriter } from "../../chain/state.ts";
import { BandwidthKey, decodeCandidateSet, decodeWitnessRecord, encodeCandidateSet, encodeWitnessRecord, LookbackKey, RelayLimit, type CandidateSet, type WeightEntry, type WitnessRecord } from "./records.ts";
import { StorageKey } from "../storage/records.ts";
import { applyServiceLaw, freeCollateral, isBanned, listProviders, readProvider, recordServiceEpoch, reputationBps } from "../storage/storage.ts";
import { encodeProvider, ProviderKind, ProviderStatus, type Provider } from "../storage/records.ts";
import {
  decodeAttestMarks, decodeRelayEpoch, encodeAttestMarks, encodeRelayEpoch, type AttestationEntry, type RelayEpoch,
} from "./records.ts";
import {
  assignWitnesses, creditedThroughput, limitRelaysPerIp, lowerMedian, measurementsDiffer, verifyAttestationSignature, withinTolerance, type Attestation, type WitnessCandidate,
} from "../../proofs/bandwidth.ts";
import type { SignedTx } from "../../chain/tx.ts";

export {
  assignWitnesses, attestSignBytes, creditedThroughput, limitRelaysPerIp, lowerMedian, measurementsDiffer, relayIpGroup, signAttestation, verifyAttestationSignature,
  withinTolerance, type Attestation, type AttestationFields, type WitnessCandidate,
} from "../../proofs/bandwidth.ts";
export { attestationFromValue, attestationValue, RelayLimit, type AttestationEntry, type CandidateSet, type RelayEpoch, type WitnessRecord } from "./records.ts";

/** Epochs of RelayEpoch records kept: the current one and the three before it. */
export const BANDWIDTH_RECORD_EPOCHS = 4;
/** Bound on params.witnessesPerRelay. */
export const MAX_WITNESSES_PER_RELAY = 16;
/** Bound on params.minProbeBytes (1 GiB). */
export const MAX_MIN_PROBE_BYTES = 2 ** 30;

export const BandwidthErrorCode = {
  /** The attested relay is not a provider, exited, or is not of kind bandwidth. */
  RELAY_NOT_REGISTERED: "BANDWIDTH_RELAY_NOT_REGISTERED",
  /** An attestation for a past epoch: its window closed with that epoch's last block (e.g. a replay). */
  ATTEST_LATE: "BANDWIDTH_ATTEST_LATE",
  /** A future epoch, the current one in its first block (no assignment yet), or a relay not assigned in the epoch. */
  ATTEST_WRONG_EPOCH: "BANDWIDTH_ATTEST_WRONG_EPOCH",
  /** The witness is not one of the relay's assigned witnesses for the epoch. */
  NOT_ASSIGNED: "BANDWIDTH_NOT_ASSIGNED",
  /** The witness already attested the relay for the epoch (identical or not); data.existing is its index. */
  ATTEST_DUPLICATE: "BANDWIDTH_ATTEST_DUPLICATE",
  /** The probe downloaded fewer than params.minProbeBytes. */
  PROBE_TOO_SMALL: "BANDWIDTH_PROBE_TOO_SMALL",
  /** The attestation's signature is not the witness's over its fields. */
  BAD_SIGNATURE: "BANDWIDTH_BAD_SIGNATURE",
  /** The witness is not even a candidate of the snapshot the epoch's assignment came from. */
  WITNESS_NOT_IN_SNAPSHOT: "BANDWIDTH_WITNESS_NOT_IN_SNAPSHOT",
  /** The witness no longer holds bonded weight: neither an active provider (it exited) nor a staker. */
  WITNESS_UNBONDED: "BANDWIDTH_WITNESS_UNBONDED",
  /** The relay is over params.maxRelaysPerIp at its IP in this epoch: it got no witnesses. */
  RELAY_IP_LIMIT: "BANDWIDTH_RELAY_IP_LIMIT",
  /** The relay's multiaddr has no /ip4 or /ip6 address: it got no witnesses in this epoch. */
  RELAY_NO_IP: "BANDWIDTH_RELAY_NO_IP",
} as const;
export type BandwidthErrorCode = (typeof BandwidthErrorCode)[keyof typeof BandwidthErrorCode];

/** A failed bandwidth.attest (the receipt code; fee and nonce consumed). */
export class BandwidthError extends OpError<BandwidthErrorCode> {}

export type BandwidthOp = Extract<SignedTx["op"], { type: "bandwidth.attest" }>;

function fail(code: BandwidthErrorCode, message: string, data?: Record<string, unknown>): never {
  throw new BandwidthError(code, message, data);
}

/** Stateless rules of bandwidth.attest (TX_INVALID_OPERATION in validateTxBasic); the reason, or undefined. */
export function invalidBandwidthOp(op: BandwidthOp): string | undefined {
  const a = op.attestation;
  // throughput 0 is a failed probe, attested too (docs/protocol.md section 6)
  if (a.bytes === 0n) return "bandwidth.attest bytes must be positive";
  return undefined;
}

// ---- reading (also for the RPC) ----

export function readRelayEpoch(state: StateReader, relay: Uint8Array, epoch: bigint): RelayEpoch | undefined {
  if (relay.length !== 32 || !isU64(epoch)) return undefined;
  const b = state.get(BandwidthKey.relayEpoch(relay, epoch));
  return b ? decodeRelayEpoch(relay, b, true) : undefined;
}

/** The relays assigned witnesses in `epoch` (one of the last BANDWIDTH_RECORD_EPOCHS), by relay key. */
export function listAssignments(state: StateReader, epoch: bigint): { relay: Uint8Array; witnesses: Uint8Array[] }[] {
  if (!isU64(epoch)) return [];
  return readKeyList(state, BandwidthKey.relaysOfEpoch(epoch)).map((relay) => ({ relay, witnesses: [...readRelayEpoch(state, relay, epoch)!.witnesses] }));
}

/** A stored attestation of a record as a full Attestation. */
export function attestationOf(record: RelayEpoch, e: AttestationEntry): Attestation {
  return { relay: record.relay, epoch: record.epoch, bytes: e.bytes, throughput: e.throughput, latency: e.latency, witness: e.witness, signature: e.signature };
}

/**
 * The attestation stored for `a`'s witness, relay and epoch if it reports different measurements
 * than `a`: with `a` it is a double attestation (chain/evidence.ts duplicateAttestationEvidence).
 */
export function conflictingAttestation(state: StateReader, a: Attestation): Attestation | undefined {
  const record = readRelayEpoch(state, a.relay, a.epoch);
  const stored = record?.attestations.find((e) => equalBytes(e.witness, a.witness));
  return record && stored && measurementsDiffer(stored, a) ? attestationOf(record, stored) : undefined;
}

/**
 * The raw candidate weights at the end of the current epoch (boundary B_k, see the module comment),
 * sorted by key, weights positive: active providers not banned in the next epoch by collateral, the
 * validator set by power (a key that is both gets the sum); keys banned as witnesses in the next
 * epoch are left out.
 */
export function witnessCandidates(state: StateReader, params: ChainParams): WitnessCandidate[] {
  const next = readEpochRecord(state, params).epoch + 1n;
  // only looked up and summed; the result is sorted by key
  const weights = new Map<string, { key: Uint8Array; weight: bigint }>();
  const add = (key: Uint8Array, weight: bigint) => {
    const id = toHex(key);
    const c = weights.get(id);
    if (c) c.weight += weight;
    else weights.set(id, { key, weight });
  };
  for (const p of listProviders(state)) {
    if (p.status === ProviderStatus.ACTIVE && !isBanned(p, next)) add(p.key, p.collateral);
  }
  for (const v of readValidatorSet(state, StateKey.validators)) add(v.publicKey, v.power);
  return [...weights.values()]
    .filter((c) => c.weight > 0n && !isWitnessBanned(state, c.key, next))
    .sort((a, b) => compareBytes(a.key, b.key));
}

/** The active relays (any ban), by key: those a boundary records. */
function activeRelays(state: StateReader): Uint8Array[] {
  return listProviders(state).filter((p) => p.kind === ProviderKind.BANDWIDTH && p.status === ProviderStatus.ACTIVE).map((p) => p.key);
}

/** The snapshot frozen at the end of `epoch` (used for the assignment of epoch + 2), if kept. */
export function readSnapshot(state: StateReader, epoch: bigint): CandidateSet | undefined {
  if (epoch < 0n || !isU64(epoch)) return undefined;
  const b = state.get(LookbackKey.snapshot(epoch));
  return b ? decodeCandidateSet(b, true) : undefined;
}

/** The seed of `epoch` as this module keeps it (the chain seed after its last block, for the assignment of epoch + 1), if kept. */
export function readLookbackSeed(state: StateReader, epoch: bigint): Uint8Array | undefined {
  if (epoch < 0n || !isU64(epoch)) return undefined;
  return state.get(LookbackKey.seed(epoch));
}

/** Where epoch `epoch`'s assignment comes from: seed of epoch - 1 (after its last block), snapshot frozen at the end of epoch - 2. */
export function assignmentSource(epoch: bigint): { seedEpoch: bigint; snapshotEpoch: bigint } {
  return { seedEpoch: epoch - 1n, snapshotEpoch: epoch - 2n };
}

/** Minimum of two sorted weight lists, keys in both. */
function minWeights(a: readonly WeightEntry[], b: readonly WeightEntry[]): WeightEntry[] {
  const out: WeightEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareBytes(a[i]!.key, b[j]!.key);
    if (c < 0) i++;
    else if (c > 0) j++;
    else {
      const w = a[i]!.weight < b[j]!.weight ? a[i]!.weight : b[j]!.weight;
      if (w > 0n) out.push({ key: a[i]!.key, weight: w });
      i++;
      j++;
    }
  }
  return out;
}

/**
 * At the end of epoch `epoch`, after its settlement: records the boundary B_epoch and the snapshot
 * S_epoch = min(B_{epoch-1}, B_epoch) (see the module comment).
 */
export function freezeSnapshot(w: StateWriter, ctx: BlockContext, epoch: bigint): void {
  const candidates = witnessCandidates(w, ctx.params).map((c) => ({ key: c.key, weight: c.weight }));
  const relays = activeRelays(w);
  const b = w.get(LookbackKey.boundary);
  const prev = b ? decodeCandidateSet(b, true) : undefined;
  const previous = prev && prev.epoch + 1n === epoch ? prev : { epoch: epoch - 1n, candidates: [], relays: [] };
  const prevRelays = new Set(previous.relays.map(toHex));
  w.set(LookbackKey.snapshot(epoch), encodeCandidateSet({
    epoch,
    candidates: minWeights(previous.candidates, candidates),
    relays: relays.filter((r) => prevRelays.has(toHex(r))),
  }));
  w.set(LookbackKey.boundary, encodeCandidateSet({ epoch, candidates, relays }));
}

/** The witness record of `key` (an empty one if it never served). */
export function readWitnessRecord(state: StateReader, key: Uint8Array): WitnessRecord {
  const b = key.length === 32 ? state.get(LookbackKey.witness(key)) : undefined;
  return b ? decodeWitnessRecord(key, b, true) : { key, bannedUntil: 0n, strikes: 0, lastFailureEpoch: 0n, reputation: [] };
}

export function isWitnessBanned(state: StateReader, key: Uint8Array, epoch: bigint): boolean {
  const b = state.get(LookbackKey.witness(key));
  return b !== undefined && isBanned(decodeWitnessRecord(key, b, true), epoch);
}

/** Whether `key` still holds bonded weight: an active provider (not exiting) or stake. */
export function isBonded(state: StateReader, key: Uint8Array): boolean {
  const p = readProvider(state, key);
  return (p !== undefined && p.status === ProviderStatus.ACTIVE) || state.account(key).staked > 0n;
}

/** Whether `witness` was already punished for a double attestation about `relay` in `epoch`. */
export function isAttestationPunished(state: StateReader, witness: Uint8Array, relay: Uint8Array, epoch: bigint): boolean {
  const record = readRelayEpoch(state, relay, epoch);
  if (record) return record.punished.some((k) => equalBytes(k, witness));
  const b = state.get(BandwidthKey.attestPunished(epoch));
  if (!b) return false;
  const mark = concatBytes(relay, witness);
  return decodeAttestMarks(b, true).some((m) => equalBytes(m, mark));
}

// ---- bandwidth.attest ----

/**
 * The rules of an attestation carried by a block at `height` on state `r` (the transition's, and
 * the RPC's early check on the head state with height = head + 1), in this order: the relay is an
 * active bandwidth relay; the epoch is the current one, past its first block, and the relay was
 * assigned in it; it got witnesses (not over its per-IP limit, it has an IP); the witness is a
 * candidate of the epoch's snapshot and one of its witnesses; the witness has not attested it yet;
 * the witness is still bonded; the probe was (or attempted) at least params.minProbeBytes; the
 * signature (the expensive check last). Returns the relay's record, or throws BandwidthError.
 */
export function checkAttestation(r: StateReader, a: Attestation, height: bigint, params: ChainParams, chainId: string): RelayEpoch {
  const relay = readProvider(r, a.relay);
  if (!relay || relay.status !== ProviderStatus.ACTIVE || relay.kind !== ProviderKind.BANDWIDTH) {
    fail(BandwidthErrorCode.RELAY_NOT_REGISTERED, "an attestation for a relay that is not an active bandwidth relay");
  }
  const current = epochOfHeight(height, params.epochLength);
  if (a.epoch < current) fail(BandwidthErrorCode.ATTEST_LATE, `the window of epoch ${a.epoch} closed; the current epoch is ${current}`, { epoch: current.toString() });
  if (a.epoch > current) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `epoch ${a.epoch} is in the future; the current epoch is ${current}`, { epoch: current.toString() });
  if (isFirstBlockOfEpoch(height, params.epochLength)) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `the witnesses of epoch ${a.epoch} are assigned at the end of its first block`);
  const record = readRelayEpoch(r, a.relay, a.epoch);
  if (!record) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `the relay was not assigned witnesses in epoch ${a.epoch}`);
  if (record.limited === RelayLimit.IP_LIMIT) fail(BandwidthErrorCode.RELAY_IP_LIMIT, `the relay is over the limit of ${params.maxRelaysPerIp} relays behind its IP in epoch ${a.epoch}`);
  if (record.limited === RelayLimit.NO_IP) fail(BandwidthErrorCode.RELAY_NO_IP, "the relay's multiaddr has no /ip4 or /ip6 address");
  if (!record.witnesses.some((k) => equalBytes(k, a.witness))) {
    const snapshot = readSnapshot(r, assignmentSource(a.epoch).snapshotEpoch);
    if (!snapshot?.candidates.some((c) => equalBytes(c.key, a.witness))) {
      fail(BandwidthErrorCode.WITNESS_NOT_IN_SNAPSHOT, `the witness is not a candidate of the snapshot of epoch ${assignmentSource(a.epoch).snapshotEpoch}`);
    }
    fail(BandwidthErrorCode.NOT_ASSIGNED, "the witness is not assigned to this relay in this epoch");
  }
  const existing = record.attestations.findIndex((e) => equalBytes(e.witness, a.witness));
  if (existing >= 0) fail(BandwidthErrorCode.ATTEST_DUPLICATE, "the witness already attested this relay in this epoch", { existing });
  if (!isBonded(r, a.witness)) fail(BandwidthErrorCode.WITNESS_UNBONDED, "the witness exited and holds no stake: its weight is no longer bonded");
  if (a.bytes < BigInt(params.minProbeBytes)) fail(BandwidthErrorCode.PROBE_TOO_SMALL, `a probe of ${a.bytes} bytes is below ${params.minProbeBytes}`, { minimum: params.minProbeBytes });
  if (!verifyAttestationSignature(chainId, a)) fail(BandwidthErrorCode.BAD_SIGNATURE, "the signature is not the witness's over this attestation");
  return record;
}

function writeRelayEpoch(w: StateWriter, r: RelayEpoch): void {
  w.set(BandwidthKey.relayEpoch(r.relay, r.epoch), encodeRelayEpoch(r));
}

function writeProvider(w: StateWriter, p: Provider): void {
  w.set(StorageKey.provider(p.key), encodeProvider(p));
}

/** Executes bandwidth.attest; throws BandwidthError (rolled back by the caller). */
export function executeBandwidthOp(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: BandwidthOp, chainId: string): void {
  const a = op.attestation;
  const record = checkAttestation(w, a, ctx.height, ctx.params, chainId);
  const entry: AttestationEntry = { witness: a.witness, bytes: a.bytes, throughput: a.throughput, latency: a.latency, signature: a.signature };
  writeRelayEpoch(w, { ...record, attestations: [...record.attestations, entry] });
  ctx.events.push({ kind: "bandwidthAttest", txHash: tx.hash, relay: a.relay, epoch: a.epoch, witness: a.witness, throughput: a.throughput });
}

// ---- assignment (end of an epoch's first block) ----

/** Deletes the records of `epoch`: its relays' RelayEpochs, its relay list, its punished marks, its snapshot and seed. */
function pruneEpoch(w: StateWriter, epoch: bigint): void {
  if (epoch < 0n) return;
  const listKey = BandwidthKey.relaysOfEpoch(epoch);
  for (const relay of readKeyList(w, listKey)) w.set(BandwidthKey.relayEpoch(relay, epoch), null);
  for (const key of [listKey, BandwidthKey.attestPunished(epoch), LookbackKey.snapshot(epoch), LookbackKey.seed(epoch)]) {
    if (w.get(key) !== undefined) w.set(key, null);
  }
}

/**
 * At the end of the first block of epoch e: keeps the seed of e - 1 (the chain seed after its last
 * block, this block's parent), assigns the relays of the snapshot S_{e-2} their witnesses with it
 * (see the module comment), and prunes the records that fell out of the last BANDWIDTH_RECORD_EPOCHS.
 */
export function assignRelays(w: StateWriter, ctx: BlockContext): void {
  const { params } = ctx;
  const epoch = epochOfHeight(ctx.height, params.epochLength);
  pruneEpoch(w, epoch - BigInt(BANDWIDTH_RECORD_EPOCHS));
  if (epoch === 0n) return;
  const source = assignmentSource(epoch);
  // the hooks run before this block's seed is recorded: the chain seed is still the parent's
  const previousSeed = w.meta().seed;
  w.set(LookbackKey.seed(source.seedEpoch), previousSeed);
  const snapshot = readSnapshot(w, source.snapshotEpoch);
  if (!snapshot) return;
  const relays = snapshot.relays.map((k) => readProvider(w, k)!).filter((p) => p.status === ProviderStatus.ACTIVE && p.kind === ProviderKind.BANDWIDTH);
  if (relays.length === 0) return;
  const limits = limitRelaysPerIp(relays, params.maxRelaysPerIp);
  relays.forEach((relay, i) => {
    const limit = limits[i]!;
    const limited = limit === "ipLimit" ? RelayLimit.IP_LIMIT : limit === "noIp" ? RelayLimit.NO_IP : RelayLimit.NONE;
    const witnesses = limited === RelayLimit.NONE ? assignWitnesses(previousSeed, relay.key, snapshot.candidates, params.witnessesPerRelay) : [];
    writeRelayEpoch(w, { relay: relay.key, epoch, witnesses, attestations: [], credited: null, punished: [], limited });
    ctx.events.push({ kind: "bandwidthAssign", relay: relay.key, epoch, witnesses });
  });
  // the snapshot's relays are in key order
  w.set(BandwidthKey.relaysOfEpoch(epoch), encodeKeyList(relays.map((p) => p.key)));
}

// ---- settlement (end of an epoch's last block) ----

/** A relay's share basis in the bandwidth pool of an epoch. */
export interface BandwidthEarner {
  readonly relay: Uint8Array;
  /** Credited throughput, bytes per second. */
  readonly credited: bigint;
  readonly reputationBps: number;
}

/** A witness's share basis in the witness part of the bandwidth pool. */
export interface WitnessEarner {
  readonly witness: Uint8Array;
  /** Its attestations within params.witnessToleranceBps of their relay's median. */
  readonly paid: number;
  readonly reputationBps: number;
}

/** Why a relay was not judged (bandwidthUnjudged.reason). */
export type UnjudgedReason = "ipLimit" | "noIp" | "fewWitnesses" | "fewAttestations";

/** Why the relay of `record` is not judged, or undefined if it is (see the module comment). */
export function unjudgedReason(record: RelayEpoch, params: ChainParams): UnjudgedReason | undefined {
  if (record.limited === RelayLimit.IP_LIMIT) return "ipLimit";
  if (record.limited === RelayLimit.NO_IP) return "noIp";
  if (record.witnesses.length < params.attestQuorum) return "fewWitnesses";
  if (record.attestations.length < params.attestQuorum) return "fewAttestations";
  return undefined;
}

interface WitnessDue {
  readonly witness: Uint8Array;
  made: number;
  due: number;
  paid: number;
}

/**
 * Settles the relays of `epoch` at the end of its last block (see the module comment); returns the
 * bandwidth pool's relay earners and witness earners, each in key order.
 */
export function settleBandwidthEpoch(w: StateWriter, ctx: BlockContext, epoch: bigint): { relays: BandwidthEarner[]; witnesses: WitnessEarner[] } {
  const { params } = ctx;
  const earners: BandwidthEarner[] = [];
  // only looked up; processed in key order below
  const dues = new Map<string, WitnessDue>();
  const due = (k: Uint8Array): WitnessDue => {
    const id = toHex(k);
    let d = dues.get(id);
    if (!d) dues.set(id, (d = { witness: k, made: 0, due: 0, paid: 0 }));
    return d;
  };
  for (const key of readKeyList(w, BandwidthKey.relaysOfEpoch(epoch))) {
    const record = readRelayEpoch(w, key, epoch)!;
    const reason = unjudgedReason(record, params);
    if (record.limited === RelayLimit.NONE && record.witnesses.length >= params.attestQuorum) {
      // every assigned witness owes one attestation, whether or not the relay is judged
      for (const k of record.witnesses) due(k).due++;
      for (const e of record.attestations) due(e.witness).made++;
    }
    if (reason !== undefined) {
      ctx.events.push({ kind: "bandwidthUnjudged", relay: key, epoch, attestations: record.attestations.length, reason });
      continue;
    }
    let p = readProvider(w, key)!;
    const median = lowerMedian(record.attestations.map((e) => e.throughput));
    const credited = creditedThroughput(record.attestations.map((e) => e.throughput), params.attestQuorum, p.capacity);
    for (const e of record.attestations) {
      if (withinTolerance(e.throughput, median, params.witnessToleranceBps) && !record.punished.some((k) => equalBytes(k, e.witness))) due(e.witness).paid++;
    }
    writeRelayEpoch(w, { ...record, credited });
    ctx.events.push({ kind: "bandwidthCredit", relay: key, epoch, attestations: record.attestations.length, credited });
    const bannedDuringEpoch = isBanned(p, epoch);
    p = recordServiceEpoch(p, ctx, epoch, credited > 0n ? 1 : 0, 1);
    writeProvider(w, p);
    if (credited > 0n && !bannedDuringEpoch && p.status === ProviderStatus.ACTIVE && p.kind === ProviderKind.BANDWIDTH) {
      earners.push({ relay: key, credited, reputationBps: reputationBps(p, epoch, params.reputationWindowEpochs) });
    }
  }
  const witnesses: WitnessEarner[] = [];
  for (const d of [...dues.values()].sort((a, b) => compareBytes(a.witness, b.witness))) {
    const before = readWitnessRecord(w, d.witness);
    const bannedDuringEpoch = isBanned(before, epoch);
    const { next, ban } = applyServiceLaw(before, params.reputationWindowEpochs, epoch, d.made, d.due);
    w.set(LookbackKey.witness(d.witness), encodeWitnessRecord(next));
    if (d.made < d.due) {
      ctx.events.push({ kind: "witnessMiss", witness: d.witness, epoch, attested: d.made, assigned: d.due, bannedUntil: ban?.until ?? next.bannedUntil, strikes: next.strikes });
    }
    if (d.paid > 0 && !bannedDuringEpoch) witnesses.push({ witness: d.witness, paid: d.paid, reputationBps: reputationBps(next, epoch, params.reputationWindowEpochs) });
  }
  return { relays: earners, witnesses };
}

// ---- double attestation (chain/staking.ts applyEvidence, after verifyEvidence) ----

function markPunished(w: StateWriter, witness: Uint8Array, relay: Uint8Array, epoch: bigint): void {
  const record = readRelayEpoch(w, relay, epoch);
  if (record) {
    writeRelayEpoch(w, { ...record, punished: [...record.punished, witness].sort(compareBytes) });
    return;
  }
  const key = BandwidthKey.attestPunished(epoch);
  const b = w.get(key);
  const marks = b ? decodeAttestMarks(b, true) : [];
  w.set(key, encodeAttestMarks([...marks, concatBytes(relay, witness)].sort(compareBytes)));
}

/**
 * Punishes the witness of verified duplicate-attestation evidence: burns params.attestSlashBps of
 * its free provider collateral (active or exiting: an exiting provider's collateral stays locked
 * while the evidence is accepted), of its stake and of its unbonding entries begun at or after the
 * epoch's first height (so neither provider.exit nor unstake escapes it), and records (witness,
 * relay, epoch) so the same equivocation is punished once. Returns the stake burned (the caller
 * settles a validator candidate whose stake changed).
 */
export function punishDoubleAttestation(w: StateWriter, ctx: BlockContext, ev: DuplicateAttestationEvidence): bigint {
  const { witness, relay, epoch } = ev.a;
  const bps = BigInt(ctx.params.attestSlashBps);
  let fromCollateral = 0n;
  const p = readProvider(w, witness);
  if (p && p.status !== ProviderStatus.EXITED) {
    fromCollateral = (freeCollateral(p) * bps) / 10_000n;
    if (fromCollateral > 0n) writeProvider(w, { ...p, collateral: p.collateral - fromCollateral });
  }
  const account = w.account(witness);
  const fromStake = (account.staked * bps) / 10_000n;
  const infraction = firstHeightOfEpoch(epoch, ctx.params.epochLength);
  let fromUnbonding = 0n;
  const unbonding = account.unbonding
    .map((u) => {
      if (!unbondingBegunSince(u.releaseHeight, infraction, ctx.params)) return u;
      const cut = (u.amount * bps) / 10_000n;
      fromUnbonding += cut;
      return { amount: u.amount - cut, releaseHeight: u.releaseHeight };
    })
    .filter((u) => u.amount > 0n);
  if (fromStake > 0n || fromUnbonding > 0n) w.setAccount(witness, { ...account, staked: account.staked - fromStake, unbonding });
  const amount = fromCollateral + fromStake + fromUnbonding;
  ctx.burned += amount;
  markPunished(w, witness, relay, epoch);
  ctx.events.push({ kind: "attestSlash", witness, relay, epoch, amount });
  return fromStake;
}

/** Whether an unbonding entry released at `releaseHeight` was begun at or after `height` (it was bonded then). */
export function unbondingBegunSince(releaseHeight: bigint, height: bigint, params: ChainParams): boolean {
  return releaseHeight - BigInt(params.unbondingBlocks) >= height;
}
