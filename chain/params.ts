/** Chain parameters, fixed by genesis (genesis/schema.ts validates them). */
export interface ChainParams {
  /** Minimum fee per transaction, base units. */
  readonly minTxFee: bigint;
  /** Share of every fee that is burned, in basis points (the rest goes to the proposer). */
  readonly feeBurnBps: number;
  readonly maxBlockTxs: number;
  readonly maxBlockBytes: number;
  /** Target time between blocks: a height starts this long after the previous one started, and at least a quarter of it after that one's commit (node/driver.ts nextHeightDelay). */
  readonly blockIntervalMs: number;
  /**
   * Blocks per epoch (>= 2). Epoch e is heights e*L+1 .. (e+1)*L; its challenge seed is the chain
   * seed after its first block, when the relays' witnesses are assigned; its storage proofs and
   * bandwidth attestations are accepted in blocks e*L+2 .. (e+1)*L; its settlement and minting run
   * at the end of its last block (chain/storage.ts, chain/bandwidth.ts, chain/rewards.ts).
   */
  readonly epochLength: number;

  // ---- staking and validator sets (docs/protocol.md section 3) ----
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
  /**
   * The validator pool of each block (the epoch's validator pool / epochLength) is split as Cosmos'
   * distribution module does: the proposer of the block gets proposerBaseBps + proposerBonusBps x
   * (power of the precommits it included / power of the set that signed); every signer gets
   * (10000 - proposerBaseBps - proposerBonusBps) x its power / the set's power. What a missing
   * signature would have earned is not minted. Genesis requires proposerBonusBps above the signers'
   * share, so leaving a signature out costs the proposer more than it costs the signer.
   */
  readonly proposerBaseBps: number;
  readonly proposerBonusBps: number;

  // ---- emission (docs/protocol.md section 7; chain/rewards.ts) ----
  /** Base units minted for epoch 0 if every pool is earned. */
  readonly emissionPerEpoch: bigint;
  /** reward(e+1) = reward(e) * (10000 - emissionDecayBps) / 10000, integer division. */
  readonly emissionDecayBps: number;
  /** The split of each epoch's reward; the three sum to 10000. A pool nobody earned is not minted. */
  readonly storageShareBps: number;
  readonly bandwidthShareBps: number;
  readonly validatorShareBps: number;

  // ---- proof of storage (docs/protocol.md sections 5 and 7; chain/storage.ts) ----
  /** Chunks challenged per deal and epoch (k); at most MAX_CHALLENGES_PER_DEAL so that a proof fits a transaction. */
  readonly challengesPerDeal: number;
  /** Longest deal, in epochs. */
  readonly maxDealEpochs: number;
  /** provider.register needs collateral >= capacity (bytes) * collateralPerByte (base units per byte). */
  readonly collateralPerByte: bigint;
  /** Share of a deal's original collateral moved to the client for each missed epoch, in basis points. */
  readonly missSlashBps: number;
  /** A deal ends (escrow refunded, collateral left unlocked) at its maxMissedProofs-th missed epoch. */
  readonly maxMissedProofs: number;
  /** Epochs over which a provider's reputation (proofs made / due) and its strike decay are counted. */
  readonly reputationWindowEpochs: number;
  /** Lowest price of a deal or of an order's replica per epoch, in base units per GiB (rounded up, so any deal of a positive size with a positive minimum pays at least 1). */
  readonly minStoragePrice: bigint;
  /** Epochs a placed provider has to fetch an order's data and accept, counting the epoch of the placement. */
  readonly placementWindowEpochs: number;
  /** Epochs in which an order's replicas are drawn (again, after a miss or a decline); then the order closes and what was never accepted is refunded. */
  readonly orderPlacementEpochs: number;

  // ---- proof of bandwidth (docs/protocol.md section 6; chain/bandwidth.ts) ----
  /** Witnesses the chain assigns to each relay every epoch (w), 1..16. */
  readonly witnessesPerRelay: number;
  /** Attestations by assigned witnesses a relay needs to be credited for an epoch, 1..witnessesPerRelay. */
  readonly attestQuorum: number;
  /** Fewest bytes a probe must have downloaded for its attestation to count, 1..2^30. */
  readonly minProbeBytes: number;
  /** Share of a double-attesting witness's free provider collateral and of its stake burned, in basis points. */
  readonly attestSlashBps: number;

  // ---- payment channels (docs/protocol.md section 8; modules/paych) ----
  /** Shortest settleDelay paych.open accepts (blocks): time for a payee to redeem after a close. */
  readonly minSettleDelay: number;
  // ---- bandwidth witnesses: pay, tolerance, relays per IP (issue #16; modules/bandwidth) ----
  /** Share of the bandwidth pool paid to witnesses whose attestation is within witnessToleranceBps of the relay's median, in basis points. */
  readonly witnessShareBps: number;
  /** How far (|throughput - median| * 10000 <= median * witnessToleranceBps) an attestation may be from the relay's lower median and still be paid. */
  readonly witnessToleranceBps: number;
  /** Most relays behind one IP address (IPv4 address, IPv6 /64) assigned witnesses and credited in an epoch (Tor's rule), >= 1. */
  readonly maxRelaysPerIp: number;
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
  // Cosmos' 1% base and a 50% bonus (above the signers' 49%: stripping a signature costs the proposer more than the signer)
  proposerBaseBps: 100,
  proposerBonusBps: 5_000,
  // 100 CLC per epoch (100 blocks), decaying by 0.01% an epoch; half to storage, 30% to bandwidth, 20% to validators
  emissionPerEpoch: 100_000_000_000n,
  emissionDecayBps: 1,
  storageShareBps: 5_000,
  bandwidthShareBps: 3_000,
  validatorShareBps: 2_000,
  challengesPerDeal: 4,
  maxDealEpochs: 100_000,
  // 1 base unit per byte: 1 GiB of capacity needs about 1.07 CLC of collateral
  collateralPerByte: 1n,
  missSlashBps: 1_000,
  maxMissedProofs: 3,
  reputationWindowEpochs: 24,
  // 0.000001 CLC per GiB and epoch at least; a placed provider has its placement's epoch to fetch and accept; an order is drawn for 4 epochs
  minStoragePrice: 1_000n,
  placementWindowEpochs: 1,
  orderPlacementEpochs: 4,
  // 4 of 7 witnesses; a probe downloads (or, failed, attempted) at least 1 MiB
  witnessesPerRelay: 7,
  attestQuorum: 4,
  minProbeBytes: 1_048_576,
  attestSlashBps: 1_000,
  // one epoch
  minSettleDelay: 100,
  // 10% of the bandwidth pool to witnesses within 20% of the median; 2 relays per IP, as Tor
  witnessShareBps: 1_000,
  witnessToleranceBps: 2_000,
  maxRelaysPerIp: 2,
};
