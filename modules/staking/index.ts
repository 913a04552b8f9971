/**
 * The staking module (docs/protocol.md sections 2 and 3): stake, unbonding, validator candidates, the
 * validator sets, downtime, and double-sign evidence. The rules are in ./staking.ts; this file is
 * what the registry needs: ops, events, records, evidence and block hooks.
 *
 *   stake               [1, amount]          balance -> staked
 *   unstake             [2, amount]          staked -> unbonding, released after params.unbondingBlocks
 *   validator.register  [3, name]            the sender becomes a validator candidate
 *   validator.unjail    [14]                 once the jail time is over
 */
import { toHex } from "../../primitives/bytes.ts";
import { asArray, asString, asU64, u64 } from "../../primitives/codec.ts";
import { toAddress } from "../../primitives/keys.ts";
import { ExecErrorCode } from "../../chain/exec.ts";
import { defineEvent, defineOp, type ModuleSpec } from "../../chain/registry.ts";
import { MAX_VALIDATOR_NAME_LENGTH } from "../../chain/state.ts";
import { z } from "zod";
import { address, count, decimal, hash } from "../json-schema.ts";
import {
  executeStakingOp, queueUnbonding, releaseUnbonding, rotateValidatorSets, StakingErrorCode, trackDowntime,
} from "./staking.ts";
import { PREFIX_SET_HISTORY, PREFIX_UNBONDING_QUEUE, PREFIX_VALIDATOR } from "./records.ts";
import { duplicateVote, DuplicateVoteErrorCode } from "./evidence.ts";

export interface StakeOp { readonly type: "stake"; readonly amount: bigint }
export interface UnstakeOp { readonly type: "unstake"; readonly amount: bigint }
export interface ValidatorRegisterOp { readonly type: "validator.register"; readonly name: string }
export interface ValidatorUnjailOp { readonly type: "validator.unjail" }

/** Why a validator was jailed. */
export type JailReason = "doubleSign" | "downtime";

export type StakingEvent =
  | { readonly kind: "stake"; readonly txHash: Uint8Array; readonly account: Uint8Array; readonly amount: bigint }
  | { readonly kind: "unstake"; readonly txHash: Uint8Array; readonly account: Uint8Array; readonly amount: bigint; readonly releaseHeight: bigint }
  | { readonly kind: "validatorRegister"; readonly txHash: Uint8Array; readonly validator: Uint8Array; readonly name: string }
  | { readonly kind: "unjail"; readonly txHash: Uint8Array; readonly validator: Uint8Array }
  /** Unbonding entries that reached their release height moved back to the balance. */
  | { readonly kind: "unbonded"; readonly account: Uint8Array; readonly amount: bigint }
  /** Stake burned for double-signing at `evidenceHeight` (staked and unbonding together). */
  | { readonly kind: "slash"; readonly validator: Uint8Array; readonly amount: bigint; readonly evidenceHeight: bigint }
  /** `until`: the first height at which `validator.unjail` is accepted. */
  | { readonly kind: "jail"; readonly validator: Uint8Array; readonly until: bigint; readonly reason: JailReason };
type Ev<K extends StakingEvent["kind"]> = Extract<StakingEvent, { kind: K }>;

declare module "../../chain/tx.ts" {
  interface OpMap {
    stake: StakeOp;
    unstake: UnstakeOp;
    "validator.register": ValidatorRegisterOp;
    "validator.unjail": ValidatorUnjailOp;
  }
}
declare module "../../chain/exec.ts" {
  interface EventMap {
    stake: Ev<"stake">;
    unstake: Ev<"unstake">;
    validatorRegister: Ev<"validatorRegister">;
    unjail: Ev<"unjail">;
    unbonded: Ev<"unbonded">;
    slash: Ev<"slash">;
    jail: Ev<"jail">;
  }
}

export const StakingOpCode = { STAKE: 1, UNSTAKE: 2, VALIDATOR_REGISTER: 3, VALIDATOR_UNJAIL: 14 } as const;

/** Longest validator name a transaction may carry on the wire (validity is `isValidValidatorName`). */
const MAX_WIRE_NAME = 256;
// C0 controls, DEL and C1 controls: a name is shown in explorers and logs.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** A validator name: 1..MAX_VALIDATOR_NAME_LENGTH UTF-16 code units, no control characters. */
export function isValidValidatorName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_VALIDATOR_NAME_LENGTH && !CONTROL_RE.test(name);
}

const amountOp = <O extends StakeOp | UnstakeOp>(type: O["type"], code: number) =>
  defineOp<O>({
    code,
    type,
    topic: "tx",
    encode: (op) => [u64(op.amount)],
    decode: (arr, v) => {
      asArray(v, type, 2);
      return { type, amount: asU64(arr[1], `${type}.amount`) } as O;
    },
    validateBasic: (op) => (op.amount === 0n ? `${type} amount must be positive` : undefined),
    execute: (w, ctx, tx) => executeStakingOp(w, ctx, tx, tx.op),
    participants: () => [],
    json: (op) => ({ amount: op.amount.toString() }),
    // a stake leaves the balance; an unstake moves stake, not balance
    ...(type === "stake" ? { debit: (op: O) => op.amount } : {}),
  });

const ops = [
  amountOp<StakeOp>("stake", StakingOpCode.STAKE),
  amountOp<UnstakeOp>("unstake", StakingOpCode.UNSTAKE),
  defineOp<ValidatorRegisterOp>({
    code: StakingOpCode.VALIDATOR_REGISTER,
    type: "validator.register",
    topic: "tx",
    encode: (op) => [op.name],
    decode: (arr, v) => {
      asArray(v, "validator.register", 2);
      return { type: "validator.register", name: asString(arr[1], "validator.register.name", MAX_WIRE_NAME) };
    },
    validateBasic: (op) =>
      isValidValidatorName(op.name) ? undefined : `validator name must be 1-${MAX_VALIDATOR_NAME_LENGTH} characters without control characters`,
    execute: (w, ctx, tx) => executeStakingOp(w, ctx, tx, tx.op),
    participants: () => [],
    json: (op) => ({ name: op.name }),
  }),
  defineOp<ValidatorUnjailOp>({
    code: StakingOpCode.VALIDATOR_UNJAIL,
    type: "validator.unjail",
    topic: "tx",
    encode: () => [],
    decode: (_arr, v) => {
      asArray(v, "validator.unjail", 1);
      return { type: "validator.unjail" };
    },
    validateBasic: () => undefined,
    execute: (w, ctx, tx) => executeStakingOp(w, ctx, tx, tx.op),
    participants: () => [],
    json: () => ({}),
  }),
];

const txHash = { txHash: hash };
const events = [
  defineEvent<Ev<"stake">>({
    kind: "stake",
    json: (e) => ({ txHash: toHex(e.txHash), account: toAddress(e.account), amount: e.amount.toString() }),
    schema: z.object({ kind: z.literal("stake"), ...txHash, account: address, amount: decimal }),
  }),
  defineEvent<Ev<"unstake">>({
    kind: "unstake",
    json: (e) => ({ txHash: toHex(e.txHash), account: toAddress(e.account), amount: e.amount.toString(), releaseHeight: Number(e.releaseHeight) }),
    schema: z.object({ kind: z.literal("unstake"), ...txHash, account: address, amount: decimal, releaseHeight: count }),
  }),
  defineEvent<Ev<"validatorRegister">>({
    kind: "validatorRegister",
    json: (e) => ({ txHash: toHex(e.txHash), validator: toAddress(e.validator), name: e.name }),
    schema: z.object({ kind: z.literal("validatorRegister"), ...txHash, validator: address, name: z.string() }),
  }),
  defineEvent<Ev<"unjail">>({
    kind: "unjail",
    json: (e) => ({ txHash: toHex(e.txHash), validator: toAddress(e.validator) }),
    schema: z.object({ kind: z.literal("unjail"), ...txHash, validator: address }),
  }),
  defineEvent<Ev<"unbonded">>({
    kind: "unbonded",
    json: (e) => ({ account: toAddress(e.account), amount: e.amount.toString() }),
    schema: z.object({ kind: z.literal("unbonded"), account: address, amount: decimal }),
  }),
  defineEvent<Ev<"slash">>({
    kind: "slash",
    json: (e) => ({ validator: toAddress(e.validator), amount: e.amount.toString(), evidenceHeight: Number(e.evidenceHeight) }),
    schema: z.object({ kind: z.literal("slash"), validator: address, amount: decimal, evidenceHeight: count }),
  }),
  defineEvent<Ev<"jail">>({
    kind: "jail",
    json: (e) => ({ validator: toAddress(e.validator), until: Number(e.until), reason: e.reason }),
    schema: z.object({ kind: z.literal("jail"), validator: address, until: count, reason: z.enum(["doubleSign", "downtime"]) }),
  }),
];

export const staking: ModuleSpec = {
  name: "staking",
  ops,
  events,
  records: [
    { prefix: PREFIX_VALIDATOR, name: "validator" },
    { prefix: PREFIX_UNBONDING_QUEUE, name: "unbondingQueue" },
    { prefix: PREFIX_SET_HISTORY, name: "setHistory" },
  ],
  globals: ["candidates", "setChanges"],
  evidence: [duplicateVote],
  errors: { INSUFFICIENT_BALANCE: ExecErrorCode.INSUFFICIENT_BALANCE, AMOUNT_OVERFLOW: ExecErrorCode.AMOUNT_OVERFLOW, ...StakingErrorCode, ...DuplicateVoteErrorCode },
  hooks: {
    beginBlock: (w, ctx, lastCommit) => {
      if (lastCommit !== null) trackDowntime(w, ctx, w.base.lastValidators(), lastCommit);
    },
    endBlock: (w, ctx) => {
      queueUnbonding(w, ctx);
      releaseUnbonding(w, ctx);
    },
    commitBlock: rotateValidatorSets,
  },
};
