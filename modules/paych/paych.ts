/**
 * Payment channels (docs/protocol.md section 8): unidirectional, as in Filecoin's payment-channel actor.
 *
 *   paych.open(payee, deposit, settleDelay)  the sender (payer) locks `deposit` in a new channel,
 *                                            id = H("cloudcoin/paych/v1", [payer, tx nonce])
 *   paych.fund(channel, amount)              the payer adds to the deposit of an open channel
 *   paych.redeem(voucher)                    the payee is paid voucher.amount - redeemed
 *   paych.close(channel)                     the payer starts the settle delay
 *   paych.withdraw(channel)                  the payer, from closingAt on, takes back the rest;
 *                                            the channel is then settled
 *
 * A voucher (channel, cumulative amount, nonce) is signed off-chain by the payer over
 * H("cloudcoin/voucher/v1", [chainId, channel, amount, nonce]). `checkVoucher` is the one rule a
 * voucher is judged by, on chain (paych.redeem) and off chain (RPC, service plugins). Pure: no I/O.
 */
import { AmountError, addU64 } from "../../primitives/amount.ts";
import { equalBytes } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, decode, encode, u64, type CborValue } from "../../primitives/codec.ts";
import { CodedError } from "../../primitives/errors.ts";
import { ExecError, ExecErrorCode, OpError, type BlockContext } from "../../chain/exec.ts";
import { Tag, taggedHash } from "../../primitives/hash.ts";
import { verify, type KeyPair, SIGNATURE_LENGTH } from "../../primitives/keys.ts";
import type { StateReader, StateWriter } from "../../chain/state.ts";
import { decodeChannel, encodeChannel, PaychKey, type Channel } from "./records.ts";
import type { SignedTx } from "../../chain/tx.ts";

export type { Channel } from "./records.ts";

export const CHANNEL_ID_LENGTH = 32;
/**
 * settleDelay of paych.open must lie in [MIN_SETTLE_DELAY, MAX_SETTLE_DELAY] blocks (stateless), and
 * be at least params.minSettleDelay (on execution: PAYCH_SETTLE_DELAY_TOO_SHORT).
 */
export const MIN_SETTLE_DELAY = 1n;
export const MAX_SETTLE_DELAY = 100_000n;
/** Largest encoded voucher decodeVoucher accepts (a real one is ~110 bytes). */
export const MAX_VOUCHER_BYTES = 256;

export const PaychErrorCode = {
  UNKNOWN_CHANNEL: "PAYCH_UNKNOWN_CHANNEL",
  /** The channel is settled (withdrawn). During the settle delay vouchers are still redeemable. */
  CLOSED: "PAYCH_CLOSED",
  BAD_SIGNATURE: "PAYCH_BAD_SIGNATURE",
  EXCEEDS_DEPOSIT: "PAYCH_EXCEEDS_DEPOSIT",
  STALE_NONCE: "PAYCH_STALE_NONCE",
  NOT_MONOTONIC: "PAYCH_NOT_MONOTONIC",
  MALFORMED: "PAYCH_MALFORMED",
  NOT_PAYER: "PAYCH_NOT_PAYER",
  NOT_PAYEE: "PAYCH_NOT_PAYEE",
  /** paych.withdraw on a channel that was never closed */
  NOT_CLOSED: "PAYCH_NOT_CLOSED",
  /** paych.withdraw before closingAt */
  SETTLE_DELAY: "PAYCH_SETTLE_DELAY",
  /** paych.close or paych.fund on a channel already closing */
  ALREADY_CLOSING: "PAYCH_ALREADY_CLOSING",
  /** paych.open with a settleDelay below params.minSettleDelay: the payee would have no time to redeem */
  SETTLE_DELAY_TOO_SHORT: "PAYCH_SETTLE_DELAY_TOO_SHORT",
} as const;
export type PaychErrorCode = (typeof PaychErrorCode)[keyof typeof PaychErrorCode];

/** A rejected voucher or a failed channel operation (on chain: the receipt code; fee and nonce consumed). */
export class PaychError extends OpError<PaychErrorCode> {}

export interface Voucher {
  readonly channel: Uint8Array;
  /** Cumulative: the total the payee may have been paid on the channel. */
  readonly amount: bigint;
  readonly nonce: bigint;
  readonly signature: Uint8Array;
}

export type UnsignedVoucher = Omit<Voucher, "signature">;

/** The channel a paych.open by `payer` with transaction nonce `openTxNonce` creates. */
export function channelId(payer: Uint8Array, openTxNonce: bigint): Uint8Array {
  return taggedHash(Tag.PAYCH, encode([payer, u64(openTxNonce)]));
}

/** What the payer signs. The chain id keeps a voucher for one chain worthless on any other. */
export function voucherSignBytes(chainId: string, v: UnsignedVoucher): Uint8Array {
  return taggedHash(Tag.VOUCHER, encode([chainId, v.channel, u64(v.amount), u64(v.nonce)]));
}

export function signVoucher(chainId: string, payerKey: KeyPair, v: UnsignedVoucher): Voucher {
  return { channel: v.channel, amount: v.amount, nonce: v.nonce, signature: payerKey.sign(voucherSignBytes(chainId, v)) };
}

/** The voucher as a CBOR value [channel, amount, nonce, signature] (also its form inside paych.redeem). */
export function voucherValue(v: Voucher): CborValue {
  return [v.channel, u64(v.amount), u64(v.nonce), v.signature];
}

/** Reads a voucher from a decoded CBOR value; throws CodecError for a wrong shape. */
export function voucherFromValue(value: CborValue | undefined): Voucher {
  const a = asArray(value, "voucher", 4);
  return {
    channel: asBytes(a[0], "voucher.channel", CHANNEL_ID_LENGTH),
    amount: asU64(a[1], "voucher.amount"),
    nonce: asU64(a[2], "voucher.nonce"),
    signature: asBytes(a[3], "voucher.signature", SIGNATURE_LENGTH),
  };
}

export function encodeVoucher(v: Voucher): Uint8Array {
  return encode(voucherValue(v));
}

/** Strict decoding (canonical CBOR, exact shape); PaychError(MALFORMED) otherwise. Checks no signature. */
export function decodeVoucher(bytes: Uint8Array): Voucher {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_VOUCHER_BYTES) throw new PaychError(PaychErrorCode.MALFORMED, "voucher too large");
  try {
    return voucherFromValue(decode(bytes, MAX_VOUCHER_BYTES));
  } catch (e) {
    if (e instanceof CodedError) throw new PaychError(PaychErrorCode.MALFORMED, `malformed voucher: ${e.message}`, { cause: e.code });
    throw e;
  }
}

export function readChannel(state: StateReader, id: Uint8Array): Channel | undefined {
  if (id.length !== CHANNEL_ID_LENGTH) return undefined;
  const b = state.get(PaychKey.channel(id));
  return b ? decodeChannel(id, b, true) : undefined;
}

export type ChannelStatus = "open" | "closing" | "settled";
export function channelStatus(c: Channel): ChannelStatus {
  return c.settled ? "settled" : c.closingAt === 0n ? "open" : "closing";
}

export interface CheckVoucherOptions {
  /** Nonce of the best voucher already held for the channel (off chain): not above it is stale. */
  readonly bestNonce?: bigint;
  /** Amount of that voucher: a voucher with a higher nonce must not be for less. */
  readonly bestAmount?: bigint;
}

export interface VoucherCheck {
  /** What redeeming it would pay beyond what is redeemed (and beyond the best known voucher). */
  readonly payable: bigint;
  /** What the payer can still promise on the channel after it: deposit - amount. */
  readonly remaining: bigint;
}

/**
 * The voucher rule (throws PaychError): the channel exists and is not settled; the amount is
 * within the deposit; the nonce is above the channel's (and the best known voucher's); the amount
 * does not go back below what was redeemed (or the best known voucher); the payer signed it.
 * The signature is checked last: it is the expensive check.
 */
export function checkVoucher(chainId: string, channel: Channel | undefined, v: Voucher, opts: CheckVoucherOptions = {}): VoucherCheck {
  const { channel: c, ...check } = checkVoucherTerms(channel, v, opts);
  if (!verify(c.payer, voucherSignBytes(chainId, v), v.signature)) throw new PaychError(PaychErrorCode.BAD_SIGNATURE, "voucher not signed by the channel's payer");
  return check;
}

/**
 * Every rule of `checkVoucher` except the signature, which the caller must then check against
 * `channel.payer` over `voucherSignBytes` (the RPC does it on a worker thread). Throws PaychError.
 */
export function checkVoucherTerms(channel: Channel | undefined, v: Voucher, opts: CheckVoucherOptions = {}): VoucherCheck & { channel: Channel } {
  if (channel === undefined || !equalBytes(channel.id, v.channel)) throw new PaychError(PaychErrorCode.UNKNOWN_CHANNEL, "no such channel");
  if (channel.settled) throw new PaychError(PaychErrorCode.CLOSED, "the channel is settled");
  if (v.amount > channel.deposit) {
    throw new PaychError(PaychErrorCode.EXCEEDS_DEPOSIT, `voucher amount ${v.amount} exceeds the deposit ${channel.deposit}`, { deposit: channel.deposit.toString() });
  }
  if (v.nonce <= channel.nonce) throw new PaychError(PaychErrorCode.STALE_NONCE, `nonce ${v.nonce} not above the redeemed nonce ${channel.nonce}`, { nonce: channel.nonce.toString() });
  if (opts.bestNonce !== undefined && v.nonce <= opts.bestNonce) {
    throw new PaychError(PaychErrorCode.STALE_NONCE, `nonce ${v.nonce} not above the best voucher's nonce ${opts.bestNonce}`, { nonce: opts.bestNonce.toString() });
  }
  if (v.amount < channel.redeemed) throw new PaychError(PaychErrorCode.NOT_MONOTONIC, `amount ${v.amount} below the redeemed ${channel.redeemed}`);
  if (opts.bestAmount !== undefined && v.amount < opts.bestAmount) {
    throw new PaychError(PaychErrorCode.NOT_MONOTONIC, `amount ${v.amount} below the best voucher's amount ${opts.bestAmount}`);
  }
  const floor = opts.bestAmount !== undefined && opts.bestAmount > channel.redeemed ? opts.bestAmount : channel.redeemed;
  return { channel, payable: v.amount - floor, remaining: channel.deposit - v.amount };
}

/** Stateless rules of the channel operations (TX_INVALID_OPERATION in validateTxBasic); the reason, or undefined. */
export function invalidPaychOp(op: PaychOp): string | undefined {
  switch (op.type) {
    case "paych.open":
      if (op.deposit === 0n) return "paych.open deposit must be positive";
      if (op.settleDelay < MIN_SETTLE_DELAY || op.settleDelay > MAX_SETTLE_DELAY) return `paych.open settleDelay must be in [${MIN_SETTLE_DELAY}, ${MAX_SETTLE_DELAY}]`;
      return undefined;
    case "paych.fund":
      return op.amount === 0n ? "paych.fund amount must be positive" : undefined;
    default:
      return undefined;
  }
}

export type PaychOp = Extract<SignedTx["op"], { type: `paych.${string}` }>;

// ---- execution (chain/transition.ts calls this inside a checkpoint) ----

function writeChannel(w: StateWriter, c: Channel): void {
  w.set(PaychKey.channel(c.id), encodeChannel(c));
}

function overflow<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof AmountError) throw new ExecError(ExecErrorCode.AMOUNT_OVERFLOW, "amount would overflow");
    throw e;
  }
}

/** A channel that exists and is not settled, or PaychError. */
function liveChannel(w: StateWriter, id: Uint8Array): Channel {
  const c = readChannel(w, id);
  if (!c) throw new PaychError(PaychErrorCode.UNKNOWN_CHANNEL, "no such channel");
  if (c.settled) throw new PaychError(PaychErrorCode.CLOSED, "the channel is settled");
  return c;
}

function requirePayer(c: Channel, sender: Uint8Array): void {
  if (!equalBytes(c.payer, sender)) throw new PaychError(PaychErrorCode.NOT_PAYER, "only the channel's payer may do this");
}

/** The paych.redeem rule: the payee redeems a voucher of its live channel; what it pays. Throws PaychError. */
function checkRedeem(chainId: string, c: Channel, sender: Uint8Array, v: Voucher): VoucherCheck {
  if (!equalBytes(c.payee, sender)) throw new PaychError(PaychErrorCode.NOT_PAYEE, "only the channel's payee may redeem");
  return checkVoucher(chainId, c, v);
}

/**
 * What a paych.redeem by `tx.sender` would pay it now (0 if it would fail): the OpSpec's
 * feeFromPayout, so a payee with no balance can redeem and pay the fee from the payout (docs/protocol.md
 * section 8). Runs every check paych.redeem runs, the signature included. Reads only.
 */
export function redeemPayout(state: StateReader, tx: SignedTx, voucher: Voucher): bigint {
  const c = readChannel(state, voucher.channel);
  if (!c || c.settled) return 0n;
  try {
    return checkRedeem(tx.chainId, c, tx.sender, voucher).payable;
  } catch (e) {
    if (e instanceof PaychError) return 0n;
    throw e;
  }
}

/** Executes a channel operation for `tx.sender`; throws PaychError or ExecError (rolled back by the caller). */
export function executePaychOp(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: PaychOp, chainId: string): void {
  const sender = tx.sender;
  const { height, events } = ctx;
  switch (op.type) {
    case "paych.open": {
      const min = BigInt(ctx.params.minSettleDelay);
      if (op.settleDelay < min) throw new PaychError(PaychErrorCode.SETTLE_DELAY_TOO_SHORT, `settleDelay ${op.settleDelay} is below the minimum ${min}`, { minimum: min.toString() });
      const a = w.account(sender);
      if (a.balance < op.deposit) throw new ExecError(ExecErrorCode.INSUFFICIENT_BALANCE, `balance ${a.balance} < deposit ${op.deposit}`);
      const id = channelId(sender, tx.nonce);
      w.setAccount(sender, { ...a, balance: a.balance - op.deposit });
      writeChannel(w, { id, payer: sender, payee: op.payee, deposit: op.deposit, redeemed: 0n, nonce: 0n, settleDelay: op.settleDelay, closingAt: 0n, settled: false });
      events.push({ kind: "paychOpen", txHash: tx.hash, channel: id, payer: sender, payee: op.payee, deposit: op.deposit, settleDelay: op.settleDelay });
      return;
    }
    case "paych.fund": {
      const c = liveChannel(w, op.channel);
      requirePayer(c, sender);
      if (c.closingAt !== 0n) throw new PaychError(PaychErrorCode.ALREADY_CLOSING, "the channel is closing");
      const a = w.account(sender);
      if (a.balance < op.amount) throw new ExecError(ExecErrorCode.INSUFFICIENT_BALANCE, `balance ${a.balance} < amount ${op.amount}`);
      const deposit = overflow(() => addU64(c.deposit, op.amount));
      w.setAccount(sender, { ...a, balance: a.balance - op.amount });
      writeChannel(w, { ...c, deposit });
      events.push({ kind: "paychFund", txHash: tx.hash, channel: c.id, payer: sender, amount: op.amount, deposit });
      return;
    }
    case "paych.redeem": {
      const v = op.voucher;
      const c = liveChannel(w, v.channel);
      const { payable } = checkRedeem(chainId, c, sender, v);
      const to = w.account(sender);
      const balance = overflow(() => addU64(to.balance, payable));
      w.setAccount(sender, { ...to, balance });
      writeChannel(w, { ...c, redeemed: v.amount, nonce: v.nonce });
      events.push({ kind: "paychRedeem", txHash: tx.hash, channel: c.id, payee: sender, amount: payable, redeemed: v.amount, nonce: v.nonce });
      return;
    }
    case "paych.close": {
      const c = liveChannel(w, op.channel);
      requirePayer(c, sender);
      if (c.closingAt !== 0n) throw new PaychError(PaychErrorCode.ALREADY_CLOSING, `the channel is already closing (withdraw from height ${c.closingAt})`);
      const closingAt = height + c.settleDelay;
      writeChannel(w, { ...c, closingAt });
      events.push({ kind: "paychClose", txHash: tx.hash, channel: c.id, closingAt });
      return;
    }
    case "paych.withdraw": {
      const c = liveChannel(w, op.channel);
      requirePayer(c, sender);
      if (c.closingAt === 0n) throw new PaychError(PaychErrorCode.NOT_CLOSED, "the channel is not closed");
      if (height < c.closingAt) throw new PaychError(PaychErrorCode.SETTLE_DELAY, `withdraw is allowed from height ${c.closingAt}`, { closingAt: c.closingAt.toString() });
      const amount = c.deposit - c.redeemed;
      const a = w.account(sender);
      w.setAccount(sender, { ...a, balance: overflow(() => addU64(a.balance, amount)) });
      writeChannel(w, { ...c, settled: true });
      events.push({ kind: "paychWithdraw", txHash: tx.hash, channel: c.id, payer: sender, amount });
      return;
    }
  }
}
