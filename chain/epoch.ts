/**
 * Epochs (docs/protocol.md sections 4, 5 and 7): arithmetic and the epoch record.
 * Pure.
 *
 * With L = params.epochLength (>= 2), epoch e is heights e*L+1 .. (e+1)*L (epoch 0 is 1..L).
 * The challenge seed of epoch e is the chain seed (meta.seed) after its first block, e*L+1, so it
 * is known from that height on and unknown to anyone before that block is produced. Storage
 * proofs for epoch e are accepted in blocks e*L+2 .. (e+1)*L (the proof window); there is no
 * grace period: at the end of block (e+1)*L the epoch is settled and paid (chain/storage.ts) and
 * its reward minted (chain/rewards.ts), and a proof for e is late from then on. Bandwidth follows
 * the same clock: the relays' witnesses for e are drawn from its seed at the end of block e*L+1,
 * their attestations are accepted in the proof window, and e's relays are credited at the end of
 * block (e+1)*L (chain/bandwidth.ts).
 *
 * The epoch record (StateKey.epoch) holds the current epoch, its emission and, from its first
 * block on, its seed. It is written at genesis (epoch 0, params.emissionPerEpoch, no seed).
 */
import type { ChainParams } from "./params.ts";
import { StateKey, type StateReader, type StateWriter } from "./state.ts";
import { asArray, asBytes, asU64, decode, decodeTrusted, encode, u64 } from "../primitives/codec.ts";

/** The emission schedule and the challenge seed, for the current epoch. */
export interface EpochRecord {
  readonly epoch: bigint;
  /** Base units the epoch mints if every pool is earned. */
  readonly reward: bigint;
  /** The chain seed after the epoch's first block; null before it. */
  readonly seed: Uint8Array | null;
}

export function encodeEpochRecord(r: EpochRecord): Uint8Array {
  return encode([u64(r.epoch), u64(r.reward), r.seed]);
}
export function decodeEpochRecord(b: Uint8Array, trusted = false): EpochRecord {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "epoch", 3);
  return { epoch: asU64(v[0], "epoch"), reward: asU64(v[1], "reward"), seed: v[2] === null ? null : asBytes(v[2], "seed", 32) };
}


/** The epoch of block `height` (>= 1); height 0 (genesis) counts as epoch 0. */
export function epochOfHeight(height: bigint, epochLength: number): bigint {
  return height <= 0n ? 0n : (height - 1n) / BigInt(epochLength);
}

export function firstHeightOfEpoch(epoch: bigint, epochLength: number): bigint {
  return epoch * BigInt(epochLength) + 1n;
}

export function lastHeightOfEpoch(epoch: bigint, epochLength: number): bigint {
  return (epoch + 1n) * BigInt(epochLength);
}

export function isFirstBlockOfEpoch(height: bigint, epochLength: number): boolean {
  return height >= 1n && (height - 1n) % BigInt(epochLength) === 0n;
}

export function isLastBlockOfEpoch(height: bigint, epochLength: number): boolean {
  return height >= 1n && height % BigInt(epochLength) === 0n;
}

/** Heights whose blocks accept storage proofs for `epoch`: from its second block to its last. */
export function proofWindow(epoch: bigint, epochLength: number): { readonly from: bigint; readonly to: bigint } {
  return { from: firstHeightOfEpoch(epoch, epochLength) + 1n, to: lastHeightOfEpoch(epoch, epochLength) };
}

/** The record at genesis. */
export function genesisEpochRecord(params: ChainParams): EpochRecord {
  return { epoch: 0n, reward: params.emissionPerEpoch, seed: null };
}

/** The current epoch record (the genesis one if the state has none). */
export function readEpochRecord(r: StateReader, params: ChainParams): EpochRecord {
  const b = r.get(StateKey.epoch);
  return b ? decodeEpochRecord(b, true) : genesisEpochRecord(params);
}

export function writeEpochRecord(w: StateWriter, record: EpochRecord): void {
  w.set(StateKey.epoch, encodeEpochRecord(record));
}

/**
 * The challenge seed of `epoch` if the state knows it: only the current epoch's, from its first
 * block on (earlier seeds are not kept: proofs for past epochs are late anyway).
 */
export function epochSeed(r: StateReader, epoch: bigint): Uint8Array | undefined {
  const b = r.get(StateKey.epoch);
  if (!b) return undefined;
  const rec = decodeEpochRecord(b, true);
  return rec.epoch === epoch && rec.seed !== null ? rec.seed : undefined;
}

/** At the end of an epoch's first block: its challenge seed is the chain seed after that block. */
export function recordEpochSeed(w: StateWriter, ctx: { readonly height: bigint; readonly params: ChainParams }, seed: Uint8Array): void {
  const rec = readEpochRecord(w, ctx.params);
  writeEpochRecord(w, { ...rec, epoch: epochOfHeight(ctx.height, ctx.params.epochLength), seed });
}
