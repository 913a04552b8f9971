/** JSON forms of vouchers and channels for the RPC (rpc/json.ts conventions: hex, cc1 addresses, decimal strings). */
import { toHex } from "../../primitives/bytes.ts";
import { toAddress } from "../../primitives/keys.ts";
import { channelStatus, type Voucher } from "./paych.ts";
import type { Channel } from "./records.ts";

export interface VoucherJson {
  channel: string;
  amount: string;
  nonce: string;
  signature: string;
}

export function voucherJson(v: Voucher): VoucherJson {
  return { channel: toHex(v.channel), amount: v.amount.toString(), nonce: v.nonce.toString(), signature: toHex(v.signature) };
}

/** A channel at the head; `best` is the best voucher this node holds for it (payees only). */
export function channelJson(c: Channel, best?: Voucher) {
  return {
    id: toHex(c.id),
    payer: toAddress(c.payer),
    payee: toAddress(c.payee),
    deposit: c.deposit.toString(),
    redeemed: c.redeemed.toString(),
    remaining: (c.settled ? 0n : c.deposit - c.redeemed).toString(),
    nonce: c.nonce.toString(),
    settleDelay: Number(c.settleDelay),
    closingAt: Number(c.closingAt),
    state: channelStatus(c),
    ...(best ? { bestVoucher: { amount: best.amount.toString(), nonce: best.nonce.toString() } } : {}),
  };
}

