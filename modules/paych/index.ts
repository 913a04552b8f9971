/**
 * The payment-channel module (docs/protocol.md section 8). Rules in ./paych.ts; this file is what the
 * registry needs.
 *
 *   paych.open      [9, payee(32), deposit, settleDelay]
 *   paych.fund      [10, channel(32), amount]
 *   paych.redeem    [11, [channel(32), amount, nonce, signature(64)]]  (its fee may come from the payout)
 *   paych.close     [12, channel(32)]
 *   paych.withdraw  [13, channel(32)]
 */
import { toHex } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, u64 } from "../../primitives/codec.ts";
import { PUBLIC_KEY_LENGTH, toAddress } from "../../primitives/keys.ts";
import { ExecErrorCode } from "../../chain/exec.ts";
import { defineEvent, defineOp, type ModuleSpec, type OpSpec } from "../../chain/registry.ts";
import { z } from "zod";
import { address, count, decimal, hash } from "../json-schema.ts";
import { CHANNEL_ID_LENGTH, executePaychOp, invalidPaychOp, PaychErrorCode, redeemPayout, voucherFromValue, voucherValue, type Voucher } from "./paych.ts";
import { decodeChannel, PREFIX_CHANNEL } from "./records.ts";
import { voucherJson } from "./json.ts";
import { paychIndexes } from "./indexes.ts";
import { VOUCHER_SPACE } from "./vouchers.ts";

export interface PaychOpenOp { readonly type: "paych.open"; readonly payee: Uint8Array; readonly deposit: bigint; readonly settleDelay: bigint }
export interface PaychFundOp { readonly type: "paych.fund"; readonly channel: Uint8Array; readonly amount: bigint }
export interface PaychRedeemOp { readonly type: "paych.redeem"; readonly voucher: Voucher }
export interface PaychCloseOp { readonly type: "paych.close"; readonly channel: Uint8Array }
export interface PaychWithdrawOp { readonly type: "paych.withdraw"; readonly channel: Uint8Array }

export type PaychEvent =
  | {
      readonly kind: "paychOpen"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly payee: Uint8Array;
      readonly deposit: bigint; readonly settleDelay: bigint;
    }
  /** `deposit`: the channel's deposit after the fund. */
  | { readonly kind: "paychFund"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly amount: bigint; readonly deposit: bigint }
  /** `amount`: what this redeem paid; `redeemed`: the channel's cumulative total after it. */
  | {
      readonly kind: "paychRedeem"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payee: Uint8Array; readonly amount: bigint;
      readonly redeemed: bigint; readonly nonce: bigint;
    }
  | { readonly kind: "paychClose"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly closingAt: bigint }
  /** `amount`: the remainder returned to the payer; the channel is settled. */
  | { readonly kind: "paychWithdraw"; readonly txHash: Uint8Array; readonly channel: Uint8Array; readonly payer: Uint8Array; readonly amount: bigint };
type Ev<K extends PaychEvent["kind"]> = Extract<PaychEvent, { kind: K }>;

declare module "../../chain/tx.ts" {
  interface OpMap {
    "paych.open": PaychOpenOp;
    "paych.fund": PaychFundOp;
    "paych.redeem": PaychRedeemOp;
    "paych.close": PaychCloseOp;
    "paych.withdraw": PaychWithdrawOp;
  }
}
declare module "../../chain/exec.ts" {
  interface EventMap {
    paychOpen: Ev<"paychOpen">;
    paychFund: Ev<"paychFund">;
    paychRedeem: Ev<"paychRedeem">;
    paychClose: Ev<"paychClose">;
    paychWithdraw: Ev<"paychWithdraw">;
  }
}

export const PaychOpCode = { PAYCH_OPEN: 9, PAYCH_FUND: 10, PAYCH_REDEEM: 11, PAYCH_CLOSE: 12, PAYCH_WITHDRAW: 13 } as const;

type AnyPaychOp = PaychOpenOp | PaychFundOp | PaychRedeemOp | PaychCloseOp | PaychWithdrawOp;
/** The parts every channel op shares: execution, validation and no other participant. */
const common = {
  topic: "tx",
  validateBasic: (op: AnyPaychOp) => invalidPaychOp(op),
  execute: (w, ctx, tx) => executePaychOp(w, ctx, tx, tx.op, tx.chainId),
  participants: () => [],
} as const satisfies Partial<OpSpec<AnyPaychOp>>;

/** paych.close and paych.withdraw: [code, channel]. */
const channelOnly = <O extends PaychCloseOp | PaychWithdrawOp>(type: O["type"], code: number) =>
  defineOp<O>({
    ...common,
    code,
    type,
    encode: (op) => [op.channel],
    decode: (arr, v) => {
      asArray(v, type, 2);
      return { type, channel: asBytes(arr[1], `${type}.channel`, CHANNEL_ID_LENGTH) } as O;
    },
    json: (op) => ({ channel: toHex(op.channel) }),
  });

const ops = [
  defineOp<PaychOpenOp>({
    ...common,
    code: PaychOpCode.PAYCH_OPEN,
    type: "paych.open",
    encode: (op) => [op.payee, u64(op.deposit), u64(op.settleDelay)],
    decode: (arr, v) => {
      asArray(v, "paych.open", 4);
      return { type: "paych.open", payee: asBytes(arr[1], "paych.open.payee", PUBLIC_KEY_LENGTH), deposit: asU64(arr[2], "paych.open.deposit"), settleDelay: asU64(arr[3], "paych.open.settleDelay") };
    },
    participants: (tx) => [tx.op.payee],
    json: (op) => ({ payee: toAddress(op.payee), deposit: op.deposit.toString(), settleDelay: Number(op.settleDelay) }),
    debit: (op) => op.deposit,
  }),
  defineOp<PaychFundOp>({
    ...common,
    code: PaychOpCode.PAYCH_FUND,
    type: "paych.fund",
    encode: (op) => [op.channel, u64(op.amount)],
    decode: (arr, v) => {
      asArray(v, "paych.fund", 3);
      return { type: "paych.fund", channel: asBytes(arr[1], "paych.fund.channel", CHANNEL_ID_LENGTH), amount: asU64(arr[2], "paych.fund.amount") };
    },
    json: (op) => ({ channel: toHex(op.channel), amount: op.amount.toString() }),
    debit: (op) => op.amount,
  }),
  defineOp<PaychRedeemOp>({
    ...common,
    code: PaychOpCode.PAYCH_REDEEM,
    type: "paych.redeem",
    encode: (op) => [voucherValue(op.voucher)],
    decode: (arr, v) => {
      asArray(v, "paych.redeem", 2);
      return { type: "paych.redeem", voucher: voucherFromValue(arr[1]) };
    },
    json: (op) => ({ channel: toHex(op.voucher.channel), voucher: voucherJson(op.voucher) }),
    // a payee with no balance redeems: the fee comes from the payout
    feeFromPayout: (state, tx) => redeemPayout(state, tx, tx.op.voucher),
  }),
  channelOnly<PaychCloseOp>("paych.close", PaychOpCode.PAYCH_CLOSE),
  channelOnly<PaychWithdrawOp>("paych.withdraw", PaychOpCode.PAYCH_WITHDRAW),
];

const txHash = { txHash: hash };
const events = [
  defineEvent<Ev<"paychOpen">>({
    kind: "paychOpen",
    json: (e) => ({
      txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), payee: toAddress(e.payee), deposit: e.deposit.toString(), settleDelay: Number(e.settleDelay),
    }),
    schema: z.object({ kind: z.literal("paychOpen"), ...txHash, channel: hash, payer: address, payee: address, deposit: decimal, settleDelay: count }),
  }),
  defineEvent<Ev<"paychFund">>({
    kind: "paychFund",
    json: (e) => ({ txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), amount: e.amount.toString(), deposit: e.deposit.toString() }),
    schema: z.object({ kind: z.literal("paychFund"), ...txHash, channel: hash, payer: address, amount: decimal, deposit: decimal }),
  }),
  defineEvent<Ev<"paychRedeem">>({
    kind: "paychRedeem",
    json: (e) => ({
      txHash: toHex(e.txHash), channel: toHex(e.channel), payee: toAddress(e.payee), amount: e.amount.toString(), redeemed: e.redeemed.toString(), nonce: e.nonce.toString(),
    }),
    schema: z.object({ kind: z.literal("paychRedeem"), ...txHash, channel: hash, payee: address, amount: decimal, redeemed: decimal, nonce: decimal }),
  }),
  defineEvent<Ev<"paychClose">>({
    kind: "paychClose",
    json: (e) => ({ txHash: toHex(e.txHash), channel: toHex(e.channel), closingAt: Number(e.closingAt) }),
    schema: z.object({ kind: z.literal("paychClose"), ...txHash, channel: hash, closingAt: count }),
  }),
  defineEvent<Ev<"paychWithdraw">>({
    kind: "paychWithdraw",
    json: (e) => ({ txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), amount: e.amount.toString() }),
    schema: z.object({ kind: z.literal("paychWithdraw"), ...txHash, channel: hash, payer: address, amount: decimal }),
  }),
];

export const paych: ModuleSpec = {
  name: "paych",
  ops,
  events,
  records: [
    {
      prefix: PREFIX_CHANNEL,
      name: "channel",
      // escrow: deposit - redeemed until the channel is settled
      held: (key, value) => {
        if (key.length !== 1 + CHANNEL_ID_LENGTH) return 0n;
        const c = decodeChannel(key.subarray(1), value);
        return c.settled ? 0n : c.deposit - c.redeemed;
      },
    },
  ],
  indexes: paychIndexes,
  localSpaces: [{ code: VOUCHER_SPACE, name: "vouchers" }],
  errors: { INSUFFICIENT_BALANCE: ExecErrorCode.INSUFFICIENT_BALANCE, AMOUNT_OVERFLOW: ExecErrorCode.AMOUNT_OVERFLOW, ...PaychErrorCode },
};
