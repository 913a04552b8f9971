/**
 * What executing a block yields besides the new state: receipts, events, and the error an
 * operation fails with. Shared by the transition (chain/transition.ts) and the modules it runs
 * (chain/staking.ts); re-exported from transition.ts.
 */
import type { ChainParams } from "./params.ts";
import { CodedError } from "../primitives/errors.ts";

export interface Receipt {
  readonly txHash: Uint8Array;
  readonly ok: boolean;
  /** "" when ok, else the failure code (e.g. "INSUFFICIENT_BALANCE"). */
  readonly code: string;
  readonly fee: bigint;
}

/** Why a validator was jailed. */
export type JailReason = "doubleSign" | "downtime";

/**
 * Events a block emits, in execution order: evidence (slash, jail; attestSlash), downtime jails,
 * then each transaction's events, then end-of-block releases (unbonded), then at the last block of
 * an epoch its settlement (storagePayment, storageSlash, storageDealEnd by deal id; providerBan,
 * providerCollateralReturned by provider; then bandwidthCredit and providerBan by relay) and its
 * rewards (storage, bandwidth, then validator), and at the first block of an epoch its witness
 * assignment (bandwidthAssign by relay). Events without `txHash` come from the block itself, not
 * from a transaction.
 */
export type ChainEvent =
  | { readonly kind: "transfer"; readonly txHash: Uint8Array; readonly from: Uint8Array; readonly to: Uint8Array; readonly amount: bigint }
  | { readonly kind: "fee"; readonly txHash: Uint8Array; readonly payer: Uint8Array; readonly burned: bigint; readonly toProposer: bigint }
  | { readonly kind: "stake"; readonly txHash: Uint8Array; readonly account: Uint8Array; readonly amount: bigint }
  | { readonly kind: "unstake"; readonly txHash: Uint8Array; readonly account: Uint8Array; readonly amount: bigint; readonly releaseHeight: bigint }
  | { readonly kind: "validatorRegister"; readonly txHash: Uint8Array; readonly validator: Uint8Array; readonly name: string }
  | { readonly kind: "unjail"; readonly txHash: Uint8Array; readonly validator: Uint8Array }
  /** Unbonding entries that reached their release height moved back to the balance. */
  | { readonly kind: "unbonded"; readonly account: Uint8Array; readonly amount: bigint }
  /** Stake burned for double-signing at `evidenceHeight` (staked and unbonding together). */
  | { readonly kind: "slash"; readonly validator: Uint8Array; readonly amount: bigint; readonly evidenceHeight: bigint }
  /** `until`: the first height at which `validator.unjail` is accepted. */
  | { readonly kind: "jail"; readonly validator: Uint8Array; readonly until: bigint; readonly reason: JailReason }
  // payment channels (chain/paych.ts)
  | { readonly kind: "paychOpen"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly payee: Uint8Array; readonly deposit: bigint; readonly settleDelay: bigint }
  /** `deposit`: the channel's deposit after the fund. */
  | { readonly kind: "paychFund"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly amount: bigint; readonly deposit: bigint }
  /** `amount`: what this redeem paid; `redeemed`: the channel's cumulative total after it. */
  | { readonly kind: "paychRedeem"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payee: Uint8Array; readonly amount: bigint; readonly redeemed: bigint; readonly nonce: bigint }
  | { readonly kind: "paychClose"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly closingAt: bigint }
  /** `amount`: the remainder returned to the payer; the channel is settled. */
  | { readonly kind: "paychWithdraw"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly amount: bigint }
  // providers and storage deals (chain/storage.ts)
  | {
      readonly kind: "providerRegister"; readonly txHash: Uint8Array; readonly provider: Uint8Array; readonly providerKind: ProviderKindName;
      readonly collateral: bigint; readonly capacity: bigint; readonly multiaddr: string;
    }
  /** `returned`: collateral given back now (all of it when no deal is active, else 0 until the last one ends). */
  | { readonly kind: "providerExit"; readonly txHash: Uint8Array; readonly provider: Uint8Array; readonly returned: bigint; readonly activeDeals: number }
  /** An exiting provider's last deal ended at the end of `epoch`: its collateral went back to its balance. */
  | { readonly kind: "providerCollateralReturned"; readonly provider: Uint8Array; readonly epoch: bigint; readonly amount: bigint }
  /** A failed epoch: the provider is banned from `epoch` + 1 until (before) epoch `until`. */
  | { readonly kind: "providerBan"; readonly provider: Uint8Array; readonly epoch: bigint; readonly until: bigint; readonly strikes: number }
  | {
      readonly kind: "storageDeal"; readonly txHash: Uint8Array; readonly deal: Uint8Array; readonly client: Uint8Array; readonly provider: Uint8Array;
      readonly size: bigint; readonly escrow: bigint; readonly collateral: bigint; readonly startEpoch: bigint;
    }
  | { readonly kind: "storageProof"; readonly txHash: Uint8Array; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly epoch: bigint }
  /** End of epoch: a proven epoch's price moved from the deal's escrow to the provider. */
  | { readonly kind: "storagePayment"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly epoch: bigint; readonly amount: bigint }
  /** End of epoch: a missed epoch's slash moved from the deal's collateral to the client. */
  | {
      readonly kind: "storageSlash"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint;
      readonly amount: bigint; readonly misses: number;
    }
  /** End of epoch: the deal ended; `refunded` escrow went to the client, `unlocked` collateral back to the provider's free collateral. */
  | {
      readonly kind: "storageDealEnd"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint;
      readonly reason: "completed" | "failed"; readonly refunded: bigint; readonly unlocked: bigint;
    }
  // proof of bandwidth (chain/bandwidth.ts)
  /** End of an epoch's first block: `relay`'s witnesses for `epoch`, in draw order. */
  | { readonly kind: "bandwidthAssign"; readonly relay: Uint8Array; readonly epoch: bigint; readonly witnesses: readonly Uint8Array[] }
  /** bandwidth.attest: `witness`'s attestation of `relay` for `epoch` was accepted. */
  | { readonly kind: "bandwidthAttest"; readonly txHash: Uint8Array; readonly relay: Uint8Array; readonly epoch: bigint; readonly witness: Uint8Array; readonly throughput: bigint }
  /**
   * End of epoch: a judged relay's settlement; `attestations` accepted for it, `credited` throughput
   * (bytes per second; 0 = not credited, a failed epoch).
   */
  | { readonly kind: "bandwidthCredit"; readonly relay: Uint8Array; readonly epoch: bigint; readonly attestations: number; readonly credited: bigint }
  /** Duplicate-attestation evidence: `amount` burned from `witness`'s free collateral and stake together. */
  | { readonly kind: "attestSlash"; readonly witness: Uint8Array; readonly relay: Uint8Array; readonly epoch: bigint; readonly amount: bigint }
  /**
   * End of epoch: minted to `to` from `pool` (chain/rewards.ts). `basis`: proven bytes (storage),
   * credited throughput (bandwidth) or signed blocks (validator); `reputationBps`: the provider's
   * reputation (10000 for validators).
   */
  | {
      readonly kind: "reward"; readonly epoch: bigint; readonly to: Uint8Array; readonly amount: bigint; readonly pool: RewardPool;
      readonly basis: bigint; readonly reputationBps: number;
    };

export type ProviderKindName = "storage" | "bandwidth";
export type RewardPool = "storage" | "bandwidth" | "validator";

export const ExecErrorCode = {
  INSUFFICIENT_BALANCE: "INSUFFICIENT_BALANCE",
  AMOUNT_OVERFLOW: "AMOUNT_OVERFLOW",
  /** unstake of more than the account has staked */
  INSUFFICIENT_STAKE: "INSUFFICIENT_STAKE",
  /** validator.register with staked below params.minValidatorStake */
  BELOW_MIN_STAKE: "BELOW_MIN_STAKE",
  ALREADY_REGISTERED: "ALREADY_REGISTERED",
  /** validator.unjail from an account that never registered */
  NOT_A_VALIDATOR: "NOT_A_VALIDATOR",
  NOT_JAILED: "NOT_JAILED",
  /** validator.unjail before the jail time is over */
  STILL_JAILED: "STILL_JAILED",
  /** unstake when the account already has MAX_UNBONDING_ENTRIES pending release heights */
  TOO_MANY_UNBONDING: "TOO_MANY_UNBONDING",
} as const;
export type ExecErrorCode = (typeof ExecErrorCode)[keyof typeof ExecErrorCode];
/** An operation that failed while executing: the fee and nonce stay consumed. */
export class ExecError extends CodedError<ExecErrorCode> {}

/** Per-block execution context and accumulators, written once at the end of the block. */
export interface BlockContext {
  /** Height of the block being executed. */
  readonly height: bigint;
  readonly params: ChainParams;
  readonly events: ChainEvent[];
  burned: bigint;
  /** Minted by this block (the end-of-epoch rewards), added to meta.minted at the end of the block. */
  minted: bigint;
  toProposer: bigint;
  /**
   * Registered validators whose stake or status changed in this block (by hex key). At the end of
   * the block their eligibility is settled and the set for h+2 recomputed. Both are pure functions
   * of the final state, so an entry left by an operation that was then rolled back costs time,
   * never a different result.
   */
  readonly touchedValidators: Map<string, Uint8Array>;
  /**
   * Accounts that unstaked in this block: all their entries release at the same height, so the
   * queue record for it is written once, at the end of the block. An entry left by a rolled-back
   * unstake is harmless (the release finds nothing due for that account).
   */
  readonly unbondingQueued: Map<string, Uint8Array>;
}

export function newBlockContext(height: bigint, params: ChainParams): BlockContext {
  return { height, params, events: [], burned: 0n, minted: 0n, toProposer: 0n, touchedValidators: new Map(), unbondingQueued: new Map() };
}
