/**
 * Proof of bandwidth (DESIGN.md sections 7 and 8), run by the state transition. Pure and
 * deterministic: bigint arithmetic, sorted key lists, no clock. The pure rules (attestation sign
 * bytes, witness assignment, median) are proofs/bandwidth.ts; the records ./records.ts.
 *
 *   assignment        at the end of the first block of epoch e, once its seed is known
 *                     (assignRelays, the beginEpoch hook, after chain/epoch.ts recordEpochSeed): every relay (provider
 *                     of kind bandwidth, status active, registered before that block; banned relays
 *                     too: they can prove service but earn nothing) gets
 *                     assignWitnesses(seed, relay, witnessCandidates(state), params.witnessesPerRelay),
 *                     written as its RelayEpoch record; the candidates are computed once per block.
 *                     The records of epoch e - BANDWIDTH_RECORD_EPOCHS are deleted then.
 *   bandwidth.attest  [8, relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *                     carries one witness's signed attestation into a block; any account may send it
 *                     (and pays its fee). Accepted in blocks e*L+2 .. (e+1)*L for epoch e, once per
 *                     assigned witness (checkAttestation lists the rules in order).
 *   settlement        at the end of the last block of epoch e (settleBandwidthEpoch, from
 *                     modules/rewards endEpoch after the storage settlement), each relay assigned
 *                     in e, in key order, if it had at least params.attestQuorum witnesses (a relay
 *                     that could not get a quorum assigned is not judged): credited = the lower
 *                     median of the attested throughputs if at least attestQuorum attested, capped
 *                     at its capacity (bytes per second), else 0; its reputation window gets
 *                     (e, credited > 0 ? 1 : 0, 1) and a failed epoch bans it (recordServiceEpoch,
 *                     the storage rule). Credited relays that are active and were not banned during
 *                     e earn the bandwidth pool by credited x reputation (modules/rewards mints).
 *   double attestation  a witness that signed two different attestations for one relay and epoch
 *                     is punished once (duplicate-attestation evidence, ./evidence.ts):
 *                     params.attestSlashBps of its free provider collateral (never the part locked
 *                     in deals) and of its stake is burned (punishDoubleAttestation).
 *
 * Witness candidates (witnessCandidates): every provider of any kind that is active and not banned
 * in the current epoch, weighted by its collateral, and every member of the current validator set
 * (StateKey.validators), weighted by its power; a key that is both gets the sum.
 */
import { isU64 } from "../../primitives/amount.ts";
import { compareBytes, concatBytes, equalBytes, toHex } from "../../primitives/bytes.ts";
import { epochOfHeight, firstHeightOfEpoch, isFirstBlockOfEpoch, readEpochRecord } from "../../chain/epoch.ts";
import { OpError, type BlockContext } from "../../chain/exec.ts";
import type { DuplicateAttestationEvidence } from "./evidence.ts";
import type { ChainParams } from "../../chain/params.ts";
import { encodeKeyList, readKeyList, readValidatorSet, StateKey, type StateReader, type StateWriter } from "../../chain/state.ts";
import { BandwidthKey } from "./records.ts";
import { StorageKey } from "../storage/records.ts";
import { freeCollateral, isBanned, listProviders, readProvider, recordServiceEpoch, reputationBps } from "../storage/storage.ts";
import { encodeProvider, ProviderKind, ProviderStatus, type Provider } from "../storage/records.ts";
import {
  decodeAttestMarks, decodeRelayEpoch, encodeAttestMarks, encodeRelayEpoch, type AttestationEntry, type RelayEpoch,
} from "./records.ts";
import { assignWitnesses, creditedThroughput, measurementsDiffer, verifyAttestationSignature, type Attestation, type WitnessCandidate } from "../../proofs/bandwidth.ts";
import type { SignedTx } from "../../chain/tx.ts";

export {
  assignWitnesses, attestSignBytes, creditedThroughput, lowerMedian, measurementsDiffer, signAttestation, verifyAttestationSignature,
  type Attestation, type AttestationFields, type WitnessCandidate,
} from "../../proofs/bandwidth.ts";
export { attestationFromValue, attestationValue, type AttestationEntry, type RelayEpoch } from "./records.ts";

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
  if (a.bytes === 0n) return "bandwidth.attest bytes must be positive";
  if (a.throughput === 0n) return "bandwidth.attest throughput must be positive";
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
 * The witness candidates of the current epoch (the epoch record's), sorted by key, weights
 * positive (see the module comment).
 */
export function witnessCandidates(state: StateReader, params: ChainParams): WitnessCandidate[] {
  const epoch = readEpochRecord(state, params).epoch;
  // only looked up and summed; the result is sorted by key
  const weights = new Map<string, { key: Uint8Array; weight: bigint }>();
  const add = (key: Uint8Array, weight: bigint) => {
    const id = toHex(key);
    const c = weights.get(id);
    if (c) c.weight += weight;
    else weights.set(id, { key, weight });
  };
  for (const p of listProviders(state)) {
    if (p.status === ProviderStatus.ACTIVE && !isBanned(p, epoch)) add(p.key, p.collateral);
  }
  for (const v of readValidatorSet(state, StateKey.validators)) add(v.publicKey, v.power);
  return [...weights.values()].filter((c) => c.weight > 0n).sort((a, b) => compareBytes(a.key, b.key));
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
 * the RPC's early check on the head state with height = head + 1), in this order: the relay is a
 * registered bandwidth relay; the epoch is the current one, past its first block, and the relay
 * was assigned in it; the witness is one of its witnesses; the witness has not attested it yet;
 * the probe was at least params.minProbeBytes; the signature (the expensive check last). Returns
 * the relay's record, or throws BandwidthError.
 */
export function checkAttestation(r: StateReader, a: Attestation, height: bigint, params: ChainParams, chainId: string): RelayEpoch {
  const relay = readProvider(r, a.relay);
  if (!relay || relay.status === ProviderStatus.EXITED || relay.kind !== ProviderKind.BANDWIDTH) {
    fail(BandwidthErrorCode.RELAY_NOT_REGISTERED, "an attestation for an unregistered relay");
  }
  const current = epochOfHeight(height, params.epochLength);
  if (a.epoch < current) fail(BandwidthErrorCode.ATTEST_LATE, `the window of epoch ${a.epoch} closed; the current epoch is ${current}`, { epoch: current.toString() });
  if (a.epoch > current) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `epoch ${a.epoch} is in the future; the current epoch is ${current}`, { epoch: current.toString() });
  if (isFirstBlockOfEpoch(height, params.epochLength)) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `the witnesses of epoch ${a.epoch} are assigned at the end of its first block`);
  const record = readRelayEpoch(r, a.relay, a.epoch);
  if (!record) fail(BandwidthErrorCode.ATTEST_WRONG_EPOCH, `the relay was not assigned witnesses in epoch ${a.epoch}`);
  if (!record.witnesses.some((k) => equalBytes(k, a.witness))) fail(BandwidthErrorCode.NOT_ASSIGNED, "the witness is not assigned to this relay in this epoch");
  const existing = record.attestations.findIndex((e) => equalBytes(e.witness, a.witness));
  if (existing >= 0) fail(BandwidthErrorCode.ATTEST_DUPLICATE, "the witness already attested this relay in this epoch", { existing });
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

/** Deletes the records of `epoch`: its relays' RelayEpochs, its relay list and its punished marks. */
function pruneEpoch(w: StateWriter, epoch: bigint): void {
  if (epoch < 0n) return;
  const listKey = BandwidthKey.relaysOfEpoch(epoch);
  for (const relay of readKeyList(w, listKey)) w.set(BandwidthKey.relayEpoch(relay, epoch), null);
  if (w.get(listKey) !== undefined) w.set(listKey, null);
  if (w.get(BandwidthKey.attestPunished(epoch)) !== undefined) w.set(BandwidthKey.attestPunished(epoch), null);
}

/**
 * At the end of the first block of an epoch, after its seed is recorded: assigns every relay its
 * witnesses for the epoch and prunes the records that fell out of the last BANDWIDTH_RECORD_EPOCHS.
 */
export function assignRelays(w: StateWriter, ctx: BlockContext, seed: Uint8Array): void {
  const { params } = ctx;
  const epoch = epochOfHeight(ctx.height, params.epochLength);
  pruneEpoch(w, epoch - BigInt(BANDWIDTH_RECORD_EPOCHS));
  const first = firstHeightOfEpoch(epoch, params.epochLength);
  const relays = listProviders(w).filter((p) => p.kind === ProviderKind.BANDWIDTH && p.status === ProviderStatus.ACTIVE && p.registeredAt < first);
  if (relays.length === 0) return;
  const candidates = witnessCandidates(w, params);
  for (const relay of relays) {
    const witnesses = assignWitnesses(seed, relay.key, candidates, params.witnessesPerRelay);
    writeRelayEpoch(w, { relay: relay.key, epoch, witnesses, attestations: [], credited: null, punished: [] });
    ctx.events.push({ kind: "bandwidthAssign", relay: relay.key, epoch, witnesses });
  }
  // listProviders is in key order
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

/** Settles the relays of `epoch` at the end of its last block (see the module comment); returns the bandwidth pool's earners in key order. */
export function settleBandwidthEpoch(w: StateWriter, ctx: BlockContext, epoch: bigint): BandwidthEarner[] {
  const { params } = ctx;
  const earners: BandwidthEarner[] = [];
  for (const key of readKeyList(w, BandwidthKey.relaysOfEpoch(epoch))) {
    const record = readRelayEpoch(w, key, epoch)!;
    if (record.witnesses.length < params.attestQuorum) continue;
    let p = readProvider(w, key)!;
    const credited = creditedThroughput(record.attestations.map((e) => e.throughput), params.attestQuorum, p.capacity);
    writeRelayEpoch(w, { ...record, credited });
    ctx.events.push({ kind: "bandwidthCredit", relay: key, epoch, attestations: record.attestations.length, credited });
    const bannedDuringEpoch = isBanned(p, epoch);
    p = recordServiceEpoch(p, ctx, epoch, credited > 0n ? 1 : 0, 1);
    writeProvider(w, p);
    if (credited > 0n && !bannedDuringEpoch && p.status === ProviderStatus.ACTIVE && p.kind === ProviderKind.BANDWIDTH) {
      earners.push({ relay: key, credited, reputationBps: reputationBps(p, epoch, params.reputationWindowEpochs) });
    }
  }
  return earners;
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
 * its free provider collateral (if it is a provider that has not exited) and of its stake, and
 * records (witness, relay, epoch) so the same equivocation is punished once. Returns the stake
 * burned (the caller settles a validator candidate whose stake changed).
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
  if (fromStake > 0n) w.setAccount(witness, { ...account, staked: account.staked - fromStake });
  ctx.burned += fromCollateral + fromStake;
  markPunished(w, witness, relay, epoch);
  ctx.events.push({ kind: "attestSlash", witness, relay, epoch, amount: fromCollateral + fromStake });
  return fromStake;
}
