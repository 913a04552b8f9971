/** Chain parameters, fixed by genesis (genesis/schema.ts validates them). */
export interface ChainParams {
  /** Minimum fee per transaction, base units. */
  readonly minTxFee: bigint;
  /** Share of every fee that is burned, in basis points (the rest goes to the proposer). */
  readonly feeBurnBps: number;
  readonly maxBlockTxs: number;
  readonly maxBlockBytes: number;
  /** Target time between blocks; the single-validator producer proposes at this interval. */
  readonly blockIntervalMs: number;
  readonly epochLength: number;

  // ---- staking and validator sets (DESIGN.md section 5) ----
  /** An `unstake` in block h is released to the balance at the end of block h + unbondingBlocks. */
  readonly unbondingBlocks: number;
  /** The set for h+2 is the top `maxValidators` eligible candidates by stake. */
  readonly maxValidators: number;
  /** Stake (base units) needed to register and to stay eligible for the set. */
  readonly minValidatorStake: bigint;
  /** Share of a double-signer's stake burned, in basis points. */
  readonly slashDoubleSignBps: number;
  /** Blocks a double-signer stays jailed before `validator.unjail` is accepted. */
  readonly jailBlocks: number;
  /** Evidence for height e is accepted in blocks e+1 .. e+evidenceMaxAgeBlocks (<= unbondingBlocks). */
  readonly evidenceMaxAgeBlocks: number;
  /** Downtime is counted over the last `downtimeWindow` blocks a validator was in the signing set. */
  readonly downtimeWindow: number;
  /** A validator that signed fewer than this many of its window's blocks is jailed (no slash). */
  readonly downtimeMinSigned: number;
  /** Blocks a validator jailed for downtime stays jailed. */
  readonly downtimeJailBlocks: number;
}

export const defaultChainParams: ChainParams = {
  minTxFee: 1_000n,
  feeBurnBps: 5_000,
  maxBlockTxs: 10_000,
  maxBlockBytes: 8 * 1024 * 1024,
  blockIntervalMs: 1_000,
  epochLength: 100,
  unbondingBlocks: 600,
  maxValidators: 100,
  minValidatorStake: 1_000_000_000_000n,
  slashDoubleSignBps: 500,
  jailBlocks: 600,
  evidenceMaxAgeBlocks: 500,
  downtimeWindow: 100,
  downtimeMinSigned: 50,
  downtimeJailBlocks: 60,
};
