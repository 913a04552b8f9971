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
}

export const defaultChainParams: ChainParams = {
  minTxFee: 1_000n,
  feeBurnBps: 5_000,
  maxBlockTxs: 10_000,
  maxBlockBytes: 8 * 1024 * 1024,
  blockIntervalMs: 1_000,
  epochLength: 100,
};
