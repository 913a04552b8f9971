/**
 * The genesis file (JSON) and its validate-and-complete step: the file is
 * checked once, completed into typed values (public keys, bigints, the genesis hash), and every
 * derived value is computed here and nowhere else.
 */
import "../modules/index.ts";
import { z } from "zod";
import { U64_MAX } from "../primitives/amount.ts";
import { encode, u64 } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { fromAddress, isAddress, toAddress } from "../primitives/keys.ts";
import type { ChainParams } from "../chain/params.ts";
import { ChainState, MAX_VALIDATOR_NAME_LENGTH, StateKey, encodeAccount, encodeMeta, encodeValidators, type Validator } from "../chain/state.ts";
import { genesisValidatorRecords } from "../modules/staking/staking.ts";
import { SparseMerkleTree } from "../chain/smt.ts";
import { encodeEpochRecord, genesisEpochRecord } from "../chain/epoch.ts";
import { MAX_CHALLENGES_PER_DEAL } from "../modules/storage/storage.ts";
import { BANDWIDTH_RECORD_EPOCHS, MAX_MIN_PROBE_BYTES, MAX_WITNESSES_PER_RELAY } from "../modules/bandwidth/bandwidth.ts";
import { isValidValidatorName } from "../modules/staking/index.ts";
import { MAX_SETTLE_DELAY } from "../modules/paych/paych.ts";
import { toHex } from "../primitives/bytes.ts";

const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;
// zod runs every check even after one fails, so the refinements guard their own BigInt().
const u64String = z
  .string()
  .regex(DECIMAL_RE, "must be a decimal string of base units")
  .refine((s) => !DECIMAL_RE.test(s) || BigInt(s) <= U64_MAX, "must fit in u64");
const address = z.string().refine(isAddress, "must be a bech32m address with prefix cc");
const blocks = z.int().min(1).max(10_000_000);
const bps = z.int().min(0).max(10_000);
const MAX_SETTLE_DELAY_PARAM = Number(MAX_SETTLE_DELAY);

/**
 * Bound on the genesis supply: validator powers sum to at most the supply, and proposer
 * priorities stay within about 3x the total power (chain/consensus/proposer.ts), so this keeps
 * every priority a CBOR integer (|p| < 2^64) with room to spare.
 */
export const MAX_GENESIS_SUPPLY = 1n << 62n;

export const genesisFileSchema = z.strictObject({
  chainId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,47}$/, "must be 2-48 chars of a-z, 0-9 and '-'"),
  genesisTime: z.iso.datetime({ offset: true }),
  validators: z
    .array(
      z.strictObject({
        name: z.string().max(MAX_VALIDATOR_NAME_LENGTH).refine(isValidValidatorName, `must be 1-${MAX_VALIDATOR_NAME_LENGTH} characters without control characters`),
        address,
        power: u64String.refine((s) => !DECIMAL_RE.test(s) || BigInt(s) > 0n, "must be positive"),
      }),
    )
    .min(1, "at least one validator is required")
    .max(1000),
  balances: z.array(z.strictObject({ address, amount: u64String })).max(1_000_000),
  params: z.strictObject({
    minTxFee: u64String,
    feeBurnBps: z.int().min(0).max(10_000),
    maxBlockTxs: z.int().min(1).max(100_000),
    maxBlockBytes: z.int().min(1024).max(64 * 1024 * 1024),
    blockIntervalMs: z.int().min(10).max(600_000),
    // >= 2: an epoch's first block fixes its challenge seed, proofs come in the blocks after it
    epochLength: z.int().min(2).max(1_000_000),
    unbondingBlocks: blocks,
    maxValidators: z.int().min(1).max(1000),
    minValidatorStake: u64String.refine((s) => !DECIMAL_RE.test(s) || BigInt(s) > 0n, "must be positive"),
    slashDoubleSignBps: z.int().min(0).max(10_000),
    jailBlocks: blocks,
    evidenceMaxAgeBlocks: blocks,
    downtimeWindow: z.int().min(1).max(10_000),
    downtimeMinSigned: z.int().min(0).max(10_000),
    downtimeJailBlocks: blocks,
    proposerBaseBps: bps,
    proposerBonusBps: bps,
    emissionPerEpoch: u64String,
    emissionDecayBps: bps,
    storageShareBps: bps,
    bandwidthShareBps: bps,
    validatorShareBps: bps,
    challengesPerDeal: z.int().min(1).max(MAX_CHALLENGES_PER_DEAL),
    maxDealEpochs: z.int().min(1).max(10_000_000),
    // >= 1: storage is backed by collateral, and the storage pool pays for collateral locked in proven deals
    collateralPerByte: u64String.refine((s) => !DECIMAL_RE.test(s) || BigInt(s) > 0n, "must be positive"),
    missSlashBps: bps,
    maxMissedProofs: z.int().min(1).max(1000),
    reputationWindowEpochs: z.int().min(1).max(1000),
    // >= 1: every deal and order pays a price (issue #15: self-dealing at price 0); per GiB, rounded up, so >= 1 a replica-epoch
    minStoragePrice: u64String.refine((s) => !DECIMAL_RE.test(s) || BigInt(s) > 0n, "must be positive"),
    placementWindowEpochs: z.int().min(1).max(1000),
    orderPlacementEpochs: z.int().min(1).max(1000),
    witnessesPerRelay: z.int().min(1).max(MAX_WITNESSES_PER_RELAY),
    attestQuorum: z.int().min(1).max(MAX_WITNESSES_PER_RELAY),
    minProbeBytes: z.int().min(1).max(MAX_MIN_PROBE_BYTES),
    attestSlashBps: bps,
    minSettleDelay: z.int().min(1).max(MAX_SETTLE_DELAY_PARAM),
    witnessShareBps: bps,
    witnessToleranceBps: bps,
    maxRelaysPerIp: z.int().min(1).max(1_000_000),
  }),
});
export type GenesisFile = z.input<typeof genesisFileSchema>;

export interface Genesis {
  readonly chainId: string;
  readonly genesisTime: bigint;
  readonly validators: readonly Validator[];
  readonly balances: readonly { readonly publicKey: Uint8Array; readonly amount: bigint }[];
  readonly params: ChainParams;
  readonly supply: bigint;
  /** H("cloudcoin/genesis/v1", canonical encoding of all of the above). */
  readonly hash: Uint8Array;
  readonly file: GenesisFile;
}

export const GenesisErrorCode = { INVALID: "GENESIS_INVALID" } as const;
export type GenesisErrorCode = (typeof GenesisErrorCode)[keyof typeof GenesisErrorCode];
export class GenesisError extends CodedError<GenesisErrorCode> {}

function fail(problems: string[]): never {
  throw new GenesisError(GenesisErrorCode.INVALID, `invalid genesis:\n  ${problems.join("\n  ")}`, { problems });
}

/** Validates a parsed genesis JSON value and completes it. Throws GenesisError listing every problem. */
export function validateAndComplete(input: unknown): Genesis {
  const parsed = genesisFileSchema.safeParse(input);
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`));
  }
  const f = parsed.data;
  const problems: string[] = [];
  const seenValidators = new Set<string>();
  f.validators.forEach((v, i) => {
    if (seenValidators.has(v.address)) problems.push(`validators.${i}.address: duplicate validator ${v.address}`);
    seenValidators.add(v.address);
  });
  const seenBalances = new Set<string>();
  f.balances.forEach((b, i) => {
    if (seenBalances.has(b.address)) problems.push(`balances.${i}.address: duplicate balance entry for ${b.address}`);
    seenBalances.add(b.address);
  });
  let supply = 0n;
  for (const v of f.validators) supply += BigInt(v.power);
  for (const b of f.balances) supply += BigInt(b.amount);
  if (supply > U64_MAX) problems.push(`total supply ${supply} does not fit in u64`);
  else if (supply > MAX_GENESIS_SUPPLY) problems.push(`total supply ${supply} exceeds ${MAX_GENESIS_SUPPLY} (2^62)`);
  const p = f.params;
  if (p.evidenceMaxAgeBlocks > p.unbondingBlocks) {
    problems.push(`params.evidenceMaxAgeBlocks: ${p.evidenceMaxAgeBlocks} exceeds unbondingBlocks ${p.unbondingBlocks} (stake would unbond before its evidence expires)`);
  }
  // Double-attestation evidence about epoch e is accepted through epoch e + BANDWIDTH_RECORD_EPOCHS - 1
  // and reaches stake unbonding since e began: that stake must not be released before then.
  const attestWindow = BigInt(BANDWIDTH_RECORD_EPOCHS) * BigInt(p.epochLength);
  if (BigInt(p.unbondingBlocks) < attestWindow) {
    problems.push(
      `params.unbondingBlocks: ${p.unbondingBlocks} is shorter than the ${BANDWIDTH_RECORD_EPOCHS} epochs (${attestWindow} blocks) in which double-attestation evidence is accepted: stake unstaked as an epoch begins would be released before evidence about that epoch expires`,
    );
  }
  if (p.downtimeMinSigned > p.downtimeWindow) problems.push(`params.downtimeMinSigned: ${p.downtimeMinSigned} exceeds downtimeWindow ${p.downtimeWindow}`);
  else if (3 * (p.downtimeWindow - p.downtimeMinSigned) <= p.downtimeWindow) {
    // proposers with under 1/3 of the power propose under a third of the blocks: their omissions alone must not jail anyone
    problems.push(`params.downtimeMinSigned: ${p.downtimeMinSigned} leaves ${p.downtimeWindow - p.downtimeMinSigned} misses of ${p.downtimeWindow}, must be above a third of downtimeWindow`);
  }
  if (p.proposerBaseBps + p.proposerBonusBps > 10_000) problems.push(`params: proposerBaseBps + proposerBonusBps is ${p.proposerBaseBps + p.proposerBonusBps}, must be at most 10000`);
  else if (p.proposerBonusBps <= 10_000 - p.proposerBaseBps - p.proposerBonusBps) {
    problems.push(`params.proposerBonusBps: ${p.proposerBonusBps} must be above the signers' share ${10_000 - p.proposerBaseBps - p.proposerBonusBps} (or leaving a signature out pays the proposer)`);
  }
  const shares = p.storageShareBps + p.bandwidthShareBps + p.validatorShareBps;
  if (shares !== 10_000) problems.push(`params: storageShareBps + bandwidthShareBps + validatorShareBps is ${shares}, must be 10000`);
  if (p.attestQuorum > p.witnessesPerRelay) problems.push(`params.attestQuorum: ${p.attestQuorum} exceeds witnessesPerRelay ${p.witnessesPerRelay}`);
  if (f.validators.length > p.maxValidators) problems.push(`validators: ${f.validators.length} validators exceed params.maxValidators ${p.maxValidators}`);
  f.validators.forEach((v, i) => {
    if (BigInt(v.power) < BigInt(p.minValidatorStake)) problems.push(`validators.${i}.power: below params.minValidatorStake ${p.minValidatorStake}`);
  });
  if (problems.length) fail(problems);

  const validators: Validator[] = f.validators.map((v) => ({ publicKey: fromAddress(v.address), power: BigInt(v.power), name: v.name, priority: 0n }));
  const balances = f.balances.map((b) => ({ publicKey: fromAddress(b.address), amount: BigInt(b.amount) }));
  const params: ChainParams = {
    minTxFee: BigInt(f.params.minTxFee),
    feeBurnBps: f.params.feeBurnBps,
    maxBlockTxs: f.params.maxBlockTxs,
    maxBlockBytes: f.params.maxBlockBytes,
    blockIntervalMs: f.params.blockIntervalMs,
    epochLength: f.params.epochLength,
    unbondingBlocks: p.unbondingBlocks,
    maxValidators: p.maxValidators,
    minValidatorStake: BigInt(p.minValidatorStake),
    slashDoubleSignBps: p.slashDoubleSignBps,
    jailBlocks: p.jailBlocks,
    evidenceMaxAgeBlocks: p.evidenceMaxAgeBlocks,
    downtimeWindow: p.downtimeWindow,
    downtimeMinSigned: p.downtimeMinSigned,
    downtimeJailBlocks: p.downtimeJailBlocks,
    proposerBaseBps: p.proposerBaseBps,
    proposerBonusBps: p.proposerBonusBps,
    emissionPerEpoch: BigInt(p.emissionPerEpoch),
    emissionDecayBps: p.emissionDecayBps,
    storageShareBps: p.storageShareBps,
    bandwidthShareBps: p.bandwidthShareBps,
    validatorShareBps: p.validatorShareBps,
    challengesPerDeal: p.challengesPerDeal,
    maxDealEpochs: p.maxDealEpochs,
    collateralPerByte: BigInt(p.collateralPerByte),
    missSlashBps: p.missSlashBps,
    maxMissedProofs: p.maxMissedProofs,
    reputationWindowEpochs: p.reputationWindowEpochs,
    minStoragePrice: BigInt(p.minStoragePrice),
    placementWindowEpochs: p.placementWindowEpochs,
    orderPlacementEpochs: p.orderPlacementEpochs,
    witnessesPerRelay: p.witnessesPerRelay,
    attestQuorum: p.attestQuorum,
    minProbeBytes: p.minProbeBytes,
    attestSlashBps: p.attestSlashBps,
    minSettleDelay: p.minSettleDelay,
    witnessShareBps: p.witnessShareBps,
    witnessToleranceBps: p.witnessToleranceBps,
    maxRelaysPerIp: p.maxRelaysPerIp,
  };
  const genesisTime = BigInt(Date.parse(f.genesisTime));
  const hash = taggedHash(
    Tag.GENESIS,
    encode([
      f.chainId,
      u64(genesisTime),
      encodeValidators(validators),
      balances.map((b) => [b.publicKey, u64(b.amount)]),
      [
        u64(params.minTxFee), params.feeBurnBps, params.maxBlockTxs, params.maxBlockBytes, params.blockIntervalMs, params.epochLength,
        params.unbondingBlocks, params.maxValidators, u64(params.minValidatorStake), params.slashDoubleSignBps, params.jailBlocks,
        params.evidenceMaxAgeBlocks, params.downtimeWindow, params.downtimeMinSigned, params.downtimeJailBlocks,
        u64(params.emissionPerEpoch), params.emissionDecayBps, params.storageShareBps, params.bandwidthShareBps, params.validatorShareBps,
        params.challengesPerDeal, params.maxDealEpochs, u64(params.collateralPerByte), params.missSlashBps, params.maxMissedProofs,
        params.reputationWindowEpochs, params.witnessesPerRelay, params.attestQuorum, params.minProbeBytes, params.attestSlashBps,
        params.proposerBaseBps, params.proposerBonusBps, params.minSettleDelay,
        params.witnessShareBps, params.witnessToleranceBps, params.maxRelaysPerIp,
        u64(params.minStoragePrice), params.placementWindowEpochs, params.orderPlacementEpochs,
      ],
    ]),
  );
  return { chainId: f.chainId, genesisTime, validators, balances, params, supply, hash, file: input as GenesisFile };
}

/** Parses genesis JSON text; a syntax error is a GenesisError too. */
export function parseGenesisJson(text: string): Genesis {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail([`not valid JSON: ${(e as Error).message}`]);
  }
  return validateAndComplete(value);
}

/**
 * The state at height 0: balances, validators' stakes, the counters, and the staking records:
 * every genesis validator is a registered candidate, and the three validator sets (last, current,
 * next) are the genesis validators in set order (power descending, then public key), priorities 0.
 * The epoch record starts the emission schedule (epoch 0, params.emissionPerEpoch, no seed yet).
 */
export function genesisState(g: Genesis): ChainState {
  const accounts = new Map<string, { publicKey: Uint8Array; balance: bigint; staked: bigint }>();
  const entry = (pk: Uint8Array) => {
    const id = toHex(pk);
    let a = accounts.get(id);
    if (!a) accounts.set(id, (a = { publicKey: pk, balance: 0n, staked: 0n }));
    return a;
  };
  for (const b of g.balances) entry(b.publicKey).balance += b.amount;
  for (const v of g.validators) entry(v.publicKey).staked += v.power;
  const changes: [Uint8Array, Uint8Array][] = [];
  for (const a of accounts.values()) {
    if (a.balance === 0n && a.staked === 0n) continue;
    changes.push([StateKey.account(a.publicKey), encodeAccount({ balance: a.balance, nonce: 0n, staked: a.staked, unbonding: [] })]);
  }
  changes.push(...genesisValidatorRecords(g.validators, g.params));
  changes.push([StateKey.epoch, encodeEpochRecord(genesisEpochRecord(g.params))]);
  changes.push([
    StateKey.meta,
    encodeMeta({ height: 0n, time: g.genesisTime, seed: g.hash, genesisSupply: g.supply, minted: 0n, burned: 0n }),
  ]);
  return new ChainState(SparseMerkleTree.empty().update(changes), g.hash);
}

export { toAddress };

/** The JSON form of chain parameters (amounts as decimal strings), e.g. to write a genesis file. */
export function paramsFile(p: ChainParams): GenesisFile["params"] {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(p)) out[k] = typeof v === "bigint" ? v.toString() : (v as number);
  return out as GenesisFile["params"];
}
