/** The payment-channel RPC methods (docs/protocol.md section 8; docs/rpc-guide.md). */
import { z } from "zod";
import { equalBytes, fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { fromAddress, verify } from "../../primitives/keys.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { address, decimal, hex32, MAX_PAGE, RpcAppErrorCode } from "../../rpc/methods.ts";
import { defineMethod, type MethodTable } from "../../rpc/table.ts";
import {
  CHANNEL_ID_LENGTH, channelStatus, checkVoucher, checkVoucherTerms, decodeVoucher, encodeVoucher, PaychError, PaychErrorCode, readChannel, voucherSignBytes,
  type Channel, type CheckVoucherOptions, type Voucher, type VoucherCheck,
} from "./paych.ts";
import { channelJson } from "./json.ts";
import { CHANNELS_BY_PAYEE, CHANNELS_BY_PAYER } from "./indexes.ts";

/** The node-local best voucher per channel (getBestVoucher reads memory only; ./vouchers.ts). */
export interface VoucherKeeper {
  getBestVoucher(channel: Uint8Array): Voucher | undefined;
  putBestVoucher(v: Voucher): Promise<boolean>;
}

declare module "../../rpc/context.ts" {
  interface RpcContext {
    /** The best voucher this node holds per payment channel (paych_submitVoucher, paych_redeem). */
    readonly vouchers: VoucherKeeper;
  }
}

const channelSchema = z.object({
  id: z.string(), payer: z.string(), payee: z.string(), deposit: decimal, redeemed: decimal, remaining: decimal, nonce: decimal,
  settleDelay: z.number(), closingAt: z.number(), state: z.enum(["open", "closing", "settled"]),
  bestVoucher: z.object({ amount: decimal, nonce: decimal }).optional(),
});
/** An encoded voucher (chain/paych.ts encodeVoucher) as hex; ~110 bytes for a real one. */
const voucherHex = z.string().regex(/^([0-9a-fA-F]{2})+$/, "must be hex bytes").max(1024);


/** The best stored voucher as checkVoucher options. */
function bestOf(v: Voucher | undefined): { bestNonce?: bigint; bestAmount?: bigint } {
  return v ? { bestNonce: v.nonce, bestAmount: v.amount } : {};
}


/** Most vouchers whose signature the RPC remembers as good (the oldest is forgotten first). */
export const VERIFIED_VOUCHERS_MAX = 4096;

/**
 * Vouchers whose payer signature was verified, keyed by chain id and the exact voucher bytes: a
 * payee's paid service calls paych_checkVoucher and then paych_submitVoucher with the same voucher,
 * and the second need not verify the signature again. Safe to remember: the bytes fix the channel,
 * and a channel's payer never changes. Bounded: insertion order, the oldest evicted.
 */
class VerifiedVouchers {
  readonly #keys = new Set<string>();
  has(key: string): boolean {
    return this.#keys.has(key);
  }
  add(key: string): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    if (this.#keys.size > VERIFIED_VOUCHERS_MAX) this.#keys.delete(this.#keys.values().next().value!);
  }
  get size(): number {
    return this.#keys.size;
  }
}
const verified = new VerifiedVouchers();
/** How many voucher signatures the RPC has verified (tests: a cached voucher is not verified again). */
export const voucherSignatureChecks = { count: 0 };

/**
 * checkVoucher for the RPC: the terms against the head state here, the signature (the expensive
 * part, checked last as in checkVoucher) through the context's verifier, off the event loop, unless
 * these exact voucher bytes were verified already.
 */
async function checkVoucherRpc(ctx: RpcContext, v: Voucher, opts?: CheckVoucherOptions): Promise<VoucherCheck & { channel: Channel }> {
  const check = checkVoucherTerms(readChannel(ctx.headState(), v.channel), v, opts);
  const { channel } = check;
  const key = `${ctx.chainId}:${toHex(encodeVoucher(v))}`;
  if (verified.has(key)) return check;
  const message = voucherSignBytes(ctx.chainId, v);
  voucherSignatureChecks.count++;
  const ok = ctx.verifier ? await ctx.verifier.verify(channel.payer, message, v.signature) : verify(channel.payer, message, v.signature);
  if (!ok) throw new PaychError(PaychErrorCode.BAD_SIGNATURE, "voucher not signed by the channel's payer");
  verified.add(key);
  return check;
}


export const paychMethods = {
  paych_get: defineMethod({
    description: "A payment channel at the head, with the best voucher this node holds for it. Null if unknown.",
    params: z.object({ channel: hex32 }),
    result: channelSchema.nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const id = fromHex(p.channel);
      const c = readChannel(ctx.headState(), id);
      return c ? channelJson(c, ctx.vouchers.getBestVoucher(id)) : null;
    },
  }),

  paych_list: defineMethod({
    description: `Payment channels of a payer or a payee (exactly one), in id order, at most ${MAX_PAGE} a page; pass nextCursor back as cursor.`,
    params: z
      .object({ payer: address.optional(), payee: address.optional(), cursor: hex32.optional(), limit: z.int().min(1).max(MAX_PAGE).default(20) })
      .refine((p) => (p.payer === undefined) !== (p.payee === undefined), "give exactly one of payer and payee"),
    result: z.object({ channels: z.array(channelSchema), nextCursor: z.string().nullable() }),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const ids = await ctx.store.listIndex(p.payer !== undefined ? CHANNELS_BY_PAYER : CHANNELS_BY_PAYEE, fromAddress(p.payer ?? p.payee!), {
        ...(p.cursor !== undefined ? { after: fromHex(p.cursor) } : {}),
        limit: p.limit,
        idLength: CHANNEL_ID_LENGTH,
      });
      const state = ctx.headState();
      const channels = [];
      for (const id of ids) {
        const c = readChannel(state, id);
        if (c) channels.push(channelJson(c, ctx.vouchers.getBestVoucher(id)));
      }
      const last = ids[ids.length - 1];
      return { channels, nextCursor: ids.length === p.limit && last ? toHex(last) : null };
    },
  }),

  paych_checkVoucher: defineMethod({
    description:
      "Checks a voucher (hex) off-chain against the head state and the best voucher this node holds: signature, deposit, nonce, monotonicity. " +
      "`payable` is what it adds over max(redeemed, best held amount). A bad voucher is error -32000 with data.code the PAYCH_* reason. No disk I/O. " +
      "`settleDelay`, `closingAt` (0 while open) and `state` tell a payee how long it has to redeem once the payer closes the channel.",
    params: z.object({ voucher: voucherHex }),
    result: z.object({
      ok: z.literal(true), channel: z.string(), amount: decimal, nonce: decimal, payable: decimal, remaining: decimal,
      settleDelay: z.number(), closingAt: z.number(), state: z.enum(["open", "closing", "settled"]),
    }),
    permission: "read",
    errors: Object.values(PaychErrorCode),
    handler: async (p, ctx: RpcContext) => {
      const v = decodeVoucher(fromHex(p.voucher));
      const { payable, remaining, channel } = await checkVoucherRpc(ctx, v, bestOf(ctx.vouchers.getBestVoucher(v.channel)));
      return {
        ok: true as const, channel: toHex(v.channel), amount: v.amount.toString(), nonce: v.nonce.toString(), payable: payable.toString(), remaining: remaining.toString(),
        settleDelay: Number(channel.settleDelay), closingAt: Number(channel.closingAt), state: channelStatus(channel),
      };
    },
  }),

  paych_submitVoucher: defineMethod({
    description:
      "Checks a voucher (hex) against the head state and keeps it if its nonce is above the best one held for its channel " +
      "(a signature paych_checkVoucher just verified for the same bytes is not verified again). " +
      "`stored` is false when it is not better (so submitting the same voucher twice is harmless).",
    params: z.object({ voucher: voucherHex }),
    result: z.object({ stored: z.boolean(), channel: z.string(), amount: decimal, nonce: decimal }),
    permission: "write",
    errors: Object.values(PaychErrorCode),
    handler: async (p, ctx: RpcContext) => {
      const v = decodeVoucher(fromHex(p.voucher));
      await checkVoucherRpc(ctx, v);
      const stored = await ctx.vouchers.putBestVoucher(v);
      return { stored, channel: toHex(v.channel), amount: v.amount.toString(), nonce: v.nonce.toString() };
    },
  }),

  paych_redeem: defineMethod({
    description: "Signs, with the node's service key, a paych.redeem of the best voucher held for the channel and submits it to the mempool.",
    params: z.object({ channel: hex32 }),
    result: z.object({ hash: z.string() }),
    permission: "sign",
    errors: [...Object.values(PaychErrorCode), RpcAppErrorCode.NO_SERVICE_KEY, RpcAppErrorCode.NO_VOUCHER],
    handler: (p, ctx: RpcContext) => {
      if (ctx.serviceAccount === null) throw new CodedError(RpcAppErrorCode.NO_SERVICE_KEY, "this node has no service key (start it with --service-key)");
      const id = fromHex(p.channel);
      const best = ctx.vouchers.getBestVoucher(id);
      if (!best) throw new CodedError(RpcAppErrorCode.NO_VOUCHER, "no voucher held for this channel");
      const channel = readChannel(ctx.headState(), id);
      // The chain's own rule, so a doomed transaction is not sent (e.g. already redeemed: PAYCH_STALE_NONCE).
      checkVoucher(ctx.chainId, channel, best);
      if (channel && !equalBytes(channel.payee, ctx.serviceAccount)) throw new PaychError(PaychErrorCode.NOT_PAYEE, "the service key is not the channel's payee");
      return { hash: toHex(ctx.submitServiceTx({ type: "paych.redeem", voucher: best }).hash) };
    },
  }),
} satisfies MethodTable<RpcContext>;

type PaychMethods = typeof paychMethods;
declare module "../../rpc/methods.ts" {
  interface Methods extends PaychMethods {}
}
