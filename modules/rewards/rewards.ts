/**
 * Emission (docs/protocol.md section 7), run by the state transition at the end of each epoch. Pure.
 *
 * Epoch e's reward R_e is in the epoch record (chain/epoch.ts): R_0 = params.emissionPerEpoch,
 * R_{e+1} = R_e * (10000 - params.emissionDecayBps) / 10000 (integer division). At the end of
 * the last block of epoch e, after the storage and bandwidth settlements (modules/storage,
 * modules/bandwidth), three pools of it are minted, each only to those who earned it, each split
 * pro rata with integer division (the remainder is not minted), each earner getting a `reward`
 * event:
 *   storage    S = R_e * storageShareBps / 10000 to storage providers for the collateral locked in
 *              the network deals (placed by the chain, modules/storage/orders.ts) they proved in e:
 *              S x proven bytes x collateralPerByte x reputation (bps) / (C x 10000), C the storage
 *              collateral of the snapshot frozen at the end of e - 1, each at most its own share of
 *              C; the whole of S only when every provider is full. Direct deals earn nothing here
 *              (their price only); banned providers earn nothing;
 *   bandwidth  B = R_e * bandwidthShareBps / 10000, of which B - W to bandwidth relays by credited
 *              throughput in e (the median of their witnesses' attestations) times reputation
 *              (bps), banned relays earning nothing, and W = B * witnessShareBps / 10000 to the
 *              witnesses (pool "witness") by their attestations within witnessToleranceBps of
 *              their relay's median times their witness reputation (modules/bandwidth);
 *   validator  R_e * validatorShareBps / 10000, as Cosmos' distribution module pays it, block by
 *              block (this module's beginBlock hook sees each block's lastCommit): each block of e
 *              that carries a commit has the pool P = validator pool / epochLength; its proposer
 *              earns P * (proposerBaseBps + proposerBonusBps * signedPower / totalPower) / 10000
 *              and each signer P * (10000 - proposerBaseBps - proposerBonusBps) * power /
 *              (10000 * totalPower), where totalPower is the power of the set that signed the
 *              parent (lastValidators) and signedPower the power of the precommits included.
 *              What a missing signature would have earned (its signer's share and the proposer's
 *              bonus for it) is not minted: leaving an honest precommit out costs the proposer
 *              proposerBonusBps of it, more than the signer loses (genesis requires it).
 * A pool with no earner (or zero total weight) mints nothing: coins exist only for service that
 * was proven. meta.minted grows by exactly the sum minted.
 */
import { addU64 } from "../../primitives/amount.ts";
import { compareBytes, toHex } from "../../primitives/bytes.ts";
import { epochOfHeight, readEpochRecord, writeEpochRecord } from "../../chain/epoch.ts";
import type { BlockContext } from "../../chain/exec.ts";
import type { ChainParams } from "../../chain/params.ts";
import { globalKey, type StateReader, type StateWriter, type Validator } from "../../chain/state.ts";
import { FULL_REPUTATION_BPS, settleStorageEpoch, type StorageSettlement } from "../storage/storage.ts";
import { freezeStorageSnapshot, settleOrders } from "../storage/orders.ts";
import { freezeSnapshot, settleBandwidthEpoch, type BandwidthEarner, type WitnessEarner } from "../bandwidth/bandwidth.ts";
import { decodeSignerTally, encodeSignerTally, type SignerEntry, type SignerTally } from "./records.ts";

export type { SignerTally, SignerEntry } from "./records.ts";

export type RewardPool = "storage" | "bandwidth" | "witness" | "validator";

export const RewardsKey = {
  /** What each validator earned so far in the current epoch's validator pool (SignerTally). */
  signers: globalKey("signers"),
} as const;

/** One earner of a pool: its weight in the split, and what the reward event reports. */
export interface PoolEarner {
  readonly to: Uint8Array;
  readonly weight: bigint;
  readonly basis: bigint;
  readonly reputationBps: number;
  /** The most it may get (the pool's cap on one earner), if any. */
  readonly cap?: bigint | undefined;
}

export interface RewardSchedule {
  readonly epoch: bigint;
  /** Minted this epoch if every pool is earned. */
  readonly reward: bigint;
  readonly storagePool: bigint;
  readonly bandwidthPool: bigint;
  readonly validatorPool: bigint;
  /** The next epoch's reward. */
  readonly nextReward: bigint;
}

export function poolsOf(reward: bigint, params: ChainParams): { storage: bigint; bandwidth: bigint; validator: bigint } {
  return {
    storage: (reward * BigInt(params.storageShareBps)) / 10_000n,
    bandwidth: (reward * BigInt(params.bandwidthShareBps)) / 10_000n,
    validator: (reward * BigInt(params.validatorShareBps)) / 10_000n,
  };
}

export function decayedReward(reward: bigint, params: ChainParams): bigint {
  return (reward * BigInt(10_000 - params.emissionDecayBps)) / 10_000n;
}

/** The current epoch's emission and its split. */
export function rewardSchedule(state: StateReader, params: ChainParams): RewardSchedule {
  const rec = readEpochRecord(state, params);
  const pools = poolsOf(rec.reward, params);
  return { epoch: rec.epoch, reward: rec.reward, storagePool: pools.storage, bandwidthPool: pools.bandwidth, validatorPool: pools.validator, nextReward: decayedReward(rec.reward, params) };
}

/** The signatures counted so far in the current epoch (empty at its start). */
export function readSignerTally(state: StateReader, epoch: bigint): SignerTally {
  const b = state.get(RewardsKey.signers);
  const t = b ? decodeSignerTally(b, true) : undefined;
  return t && t.epoch === epoch ? t : { epoch, entries: [] };
}

/** What one block's commit earns: the proposer's share and each signer's (by index in `signers`). */
export function commitRewards(
  pool: bigint, params: Pick<ChainParams, "proposerBaseBps" | "proposerBonusBps">, signers: readonly Validator[], signed: ReadonlySet<number>,
): { proposer: bigint; signers: Map<number, bigint> } {
  let total = 0n;
  let signedPower = 0n;
  signers.forEach((v, i) => {
    total += v.power;
    if (signed.has(i)) signedPower += v.power;
  });
  const out = new Map<number, bigint>();
  if (total === 0n || pool === 0n) return { proposer: 0n, signers: out };
  const base = BigInt(params.proposerBaseBps);
  const bonus = BigInt(params.proposerBonusBps);
  const proposer = (pool * (base * total + bonus * signedPower)) / (10_000n * total);
  const signerBps = 10_000n - base - bonus;
  signers.forEach((v, i) => {
    if (signed.has(i)) out.set(i, (pool * signerBps * v.power) / (10_000n * total));
  });
  return { proposer, signers: out };
}

/**
 * Counts one commit for the validator pool of the epoch of ctx.height: `signers` is the set that
 * signed the previous block, `signed` the indices in it whose precommits the block carries,
 * ctx.proposer the proposer that chose them (see the module comment for the split).
 */
export function tallySignatures(w: StateWriter, ctx: BlockContext, signers: readonly Validator[], signed: ReadonlySet<number>): void {
  const { params } = ctx;
  const epoch = epochOfHeight(ctx.height, params.epochLength);
  const pool = poolsOf(readEpochRecord(w, params).reward, params).validator / BigInt(params.epochLength);
  const earned = commitRewards(pool, params, signers, signed);
  // the map is only looked up; the record is written sorted by public key
  const byKey = new Map<string, SignerEntry>();
  for (const e of readSignerTally(w, epoch).entries) byKey.set(toHex(e.publicKey), e);
  const entry = (pk: Uint8Array): SignerEntry => byKey.get(toHex(pk)) ?? { publicKey: pk, blocks: 0, signing: 0n, proposed: 0, proposing: 0n };
  signers.forEach((v, index) => {
    if (!signed.has(index)) return;
    const e = entry(v.publicKey);
    byKey.set(toHex(v.publicKey), { ...e, blocks: e.blocks + 1, signing: e.signing + (earned.signers.get(index) ?? 0n) });
  });
  const p = entry(ctx.proposer);
  byKey.set(toHex(ctx.proposer), { ...p, proposed: p.proposed + 1, proposing: p.proposing + earned.proposer });
  const entries = [...byKey.values()].sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  w.set(RewardsKey.signers, encodeSignerTally({ epoch, entries }));
}

/**
 * Mints `amount` split by weight among `earners` (in their order): each gets amount x weight /
 * `denominator`, the sum of the weights unless given, at most its cap; returns what was minted.
 */
function mintPool(
  w: StateWriter, ctx: BlockContext, epoch: bigint, pool: RewardPool, amount: bigint, earners: readonly PoolEarner[], denominator?: bigint,
): bigint {
  let total = 0n;
  for (const e of earners) total += e.weight;
  if (denominator !== undefined) total = denominator;
  if (amount === 0n || total === 0n) return 0n;
  let minted = 0n;
  for (const e of earners) {
    const split = (amount * e.weight) / total;
    const share = e.cap !== undefined && e.cap < split ? e.cap : split;
    if (share === 0n) continue;
    const a = w.account(e.to);
    w.setAccount(e.to, { ...a, balance: addU64(a.balance, share) });
    minted += share;
    ctx.events.push({ kind: "reward", epoch, to: e.to, amount: share, pool, basis: e.basis, reputationBps: e.reputationBps });
  }
  return minted;
}

/** Mints what each validator earned in the epoch (its signing and proposing shares, already amounts). */
function mintValidatorPool(w: StateWriter, ctx: BlockContext, epoch: bigint, entries: readonly SignerEntry[]): bigint {
  let minted = 0n;
  for (const e of entries) {
    const amount = e.signing + e.proposing;
    if (amount === 0n) continue;
    const a = w.account(e.publicKey);
    w.setAccount(e.publicKey, { ...a, balance: addU64(a.balance, amount) });
    minted += amount;
    ctx.events.push({ kind: "reward", epoch, to: e.publicKey, amount, pool: "validator", basis: BigInt(e.blocks), reputationBps: FULL_REPUTATION_BPS });
  }
  return minted;
}

/**
 * The storage pool pays for collateral locked in proven network deals, as a share of all the
 * storage collateral of the snapshot frozen at the end of the previous epoch: provider i earns
 * pool x (proven network bytes_i x collateralPerByte) x reputation_i / (C x 10000), at most its own
 * share of C. A full network mints the whole pool; bytes that nobody placed (a client serving its
 * data only to its own provider) neither raise that provider above its collateral share nor dilute
 * what the others earn. Nothing is minted without a snapshot.
 */
function storagePoolEarners(settlement: StorageSettlement, amount: bigint, params: ChainParams): { earners: PoolEarner[]; denominator: bigint } {
  const basis = settlement.capBasis;
  if (basis === undefined || basis.total === 0n) return { earners: [], denominator: 0n };
  const earners = settlement.earners.map((e) => ({
    to: e.provider, weight: e.provenBytes * params.collateralPerByte * BigInt(e.reputationBps), basis: e.provenBytes, reputationBps: e.reputationBps,
    cap: (amount * (basis.collateral.get(toHex(e.provider)) ?? 0n)) / basis.total,
  }));
  return { earners, denominator: basis.total * BigInt(FULL_REPUTATION_BPS) };
}

/** docs/protocol.md section 6: credited throughput x uptime (the reputation). */
function bandwidthPoolEarners(earners: readonly BandwidthEarner[]): PoolEarner[] {
  return earners.map((e) => ({ to: e.relay, weight: e.credited * BigInt(e.reputationBps), basis: e.credited, reputationBps: e.reputationBps }));
}

/** docs/protocol.md section 6: attestations within tolerance of the median x the witness's reputation. */
function witnessPoolEarners(earners: readonly WitnessEarner[]): PoolEarner[] {
  return earners.map((e) => ({ to: e.witness, weight: BigInt(e.paid) * BigInt(e.reputationBps), basis: BigInt(e.paid), reputationBps: e.reputationBps }));
}

/**
 * The end of an epoch, run at the end of its last block: the storage settlement, the bandwidth
 * settlement, the pools, the bandwidth lookback snapshot, then the next epoch's record (decayed reward, seed unknown until
 * its first block).
 */
export function endEpoch(w: StateWriter, ctx: BlockContext, epoch: bigint): void {
  const { params } = ctx;
  const rec = readEpochRecord(w, params);
  const pools = poolsOf(rec.reward, params);
  const missedPlacements = settleOrders(w, ctx, epoch);
  const storage = settleStorageEpoch(w, ctx, epoch, missedPlacements);
  const bandwidth = settleBandwidthEpoch(w, ctx, epoch);
  const storageEarners = storagePoolEarners(storage, pools.storage, params);
  let minted = mintPool(w, ctx, epoch, "storage", pools.storage, storageEarners.earners, storageEarners.denominator);
  const witnessPart = (pools.bandwidth * BigInt(params.witnessShareBps)) / 10_000n;
  minted += mintPool(w, ctx, epoch, "bandwidth", pools.bandwidth - witnessPart, bandwidthPoolEarners(bandwidth.relays));
  minted += mintPool(w, ctx, epoch, "witness", witnessPart, witnessPoolEarners(bandwidth.witnesses));
  // after the settlement (its bans count): the lookback snapshot for epoch + 2
  freezeSnapshot(w, ctx, epoch);
  freezeStorageSnapshot(w, epoch);
  minted += mintValidatorPool(w, ctx, epoch, readSignerTally(w, epoch).entries);
  if (w.get(RewardsKey.signers) !== undefined) w.set(RewardsKey.signers, null);
  ctx.minted += minted;
  writeEpochRecord(w, { epoch: epoch + 1n, reward: decayedReward(rec.reward, params), seed: null });
}
