/**
 * The bank module: plain transfers between accounts (docs/protocol.md section 2). Accounts themselves are
 * the kernel's (chain/state.ts), since every transaction pays its fee and nonce from one.
 *
 *   transfer   [0, to(32), amount]
 */
import { AmountError, addU64, subU64 } from "../../primitives/amount.ts";
import { toHex } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, u64 } from "../../primitives/codec.ts";
import { PUBLIC_KEY_LENGTH, toAddress } from "../../primitives/keys.ts";
import { ExecError, ExecErrorCode } from "../../chain/exec.ts";
import { defineEvent, defineOp, type ModuleSpec } from "../../chain/registry.ts";
import { z } from "zod";
import { address, decimal, hash } from "../json-schema.ts";

export interface TransferOp {
  readonly type: "transfer";
  readonly to: Uint8Array;
  readonly amount: bigint;
}
export interface TransferEvent {
  readonly kind: "transfer";
  readonly txHash: Uint8Array;
  readonly from: Uint8Array;
  readonly to: Uint8Array;
  readonly amount: bigint;
}

declare module "../../chain/tx.ts" {
  interface OpMap {
    transfer: TransferOp;
  }
}
declare module "../../chain/exec.ts" {
  interface EventMap {
    transfer: TransferEvent;
  }
}

export const BankOpCode = { TRANSFER: 0 } as const;

/** A credit that would overflow the recipient's u64 balance fails the op (never wraps). */
export function credit(balance: bigint, amount: bigint): bigint {
  try {
    return addU64(balance, amount);
  } catch (e) {
    if (e instanceof AmountError) throw new ExecError(ExecErrorCode.AMOUNT_OVERFLOW, "credit would overflow the recipient's balance");
    throw e;
  }
}

const transfer = defineOp<TransferOp>({
  code: BankOpCode.TRANSFER,
  type: "transfer",
  topic: "tx",
  encode: (op) => [op.to, u64(op.amount)],
  decode: (arr, v) => {
    asArray(v, "transfer", 3);
    return { type: "transfer", to: asBytes(arr[1], "transfer.to", PUBLIC_KEY_LENGTH), amount: asU64(arr[2], "transfer.amount") };
  },
  validateBasic: (op) => (op.amount === 0n ? "transfer amount must be positive" : undefined),
  execute: (w, ctx, tx) => {
    const { op } = tx;
    const from = w.account(tx.sender);
    if (from.balance < op.amount) throw new ExecError(ExecErrorCode.INSUFFICIENT_BALANCE, `balance ${from.balance} < amount ${op.amount}`);
    w.setAccount(tx.sender, { ...from, balance: subU64(from.balance, op.amount) });
    const to = w.account(op.to);
    w.setAccount(op.to, { ...to, balance: credit(to.balance, op.amount) });
    ctx.events.push({ kind: "transfer", txHash: tx.hash, from: tx.sender, to: op.to, amount: op.amount });
  },
  participants: (tx) => [tx.op.to],
  json: (op) => ({ to: toAddress(op.to), amount: op.amount.toString() }),
  debit: (op) => op.amount,
});

export const bank: ModuleSpec = {
  name: "bank",
  ops: [transfer],
  events: [
    defineEvent<TransferEvent>({
      kind: "transfer",
      json: (e) => ({ txHash: toHex(e.txHash), from: toAddress(e.from), to: toAddress(e.to), amount: e.amount.toString() }),
      schema: z.object({ kind: z.literal("transfer"), txHash: hash, from: address, to: address, amount: decimal }),
    }),
  ],
  records: [],
  errors: ExecErrorCode,
};
