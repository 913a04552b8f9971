/**
 * What executing a block yields besides the new state: receipts, events, and the error an
 * operation fails with. Shared by the transition (chain/transition.ts) and the modules it runs;
 * re-exported from transition.ts.
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

/**
 * Events a block emits, by kind: the kernel's own (`fee`), and each module's, which it adds to this
 * map (`declare module "../../chain/exec.ts" { interface EventMap { transfer: TransferEvent } }`).
 * Order in a block: evidence, the beginBlock hooks, each transaction's events (its fee first),
 * then the endBlock, endEpoch, commitBlock and beginEpoch hooks, module by module in list order.
 * Events without `txHash` come from the block itself, not from a transaction.
 */
export interface EventMap {
  fee: { readonly kind: "fee"; readonly txHash: Uint8Array; readonly payer: Uint8Array; readonly burned: bigint; readonly toProposer: bigint };
}
export type ChainEvent = EventMap[keyof EventMap];

export const ExecErrorCode = {
  INSUFFICIENT_BALANCE: "INSUFFICIENT_BALANCE",
  AMOUNT_OVERFLOW: "AMOUNT_OVERFLOW",
} as const;
export type ExecErrorCode = (typeof ExecErrorCode)[keyof typeof ExecErrorCode];

/**
 * An operation that failed while executing: the fee and nonce stay consumed, the op's writes and
 * events are rolled back, and the receipt carries `code`. Every module's failure class extends it;
 * any other exception from an op is a bug and propagates.
 */
export class OpError<C extends string = string> extends CodedError<C> {}

/** The ledger's own failures, shared by every module that moves coins. */
export class ExecError extends OpError<ExecErrorCode> {}

/** Per-block execution context and accumulators, written once at the end of the block. */
export interface BlockContext {
  /** Height of the block being executed. */
  readonly height: bigint;
  readonly params: ChainParams;
  /** The block's proposer (the one that chose which precommits its lastCommit carries). */
  readonly proposer: Uint8Array;
  readonly events: ChainEvent[];
  burned: bigint;
  /** Minted by this block (the end-of-epoch rewards), added to meta.minted at the end of the block. */
  minted: bigint;
  toProposer: bigint;
  /** Per-block scratch of the modules, by module name (e.g. staking's validators touched in this block). */
  readonly scratch: Map<string, unknown>;
}

export function newBlockContext(height: bigint, params: ChainParams, proposer: Uint8Array): BlockContext {
  return { height, params, proposer, events: [], burned: 0n, minted: 0n, toProposer: 0n, scratch: new Map() };
}
