/** The payment-channel record (0x07 || channel id) and its codec. */
import { asArray, asBool, asBytes, asU64, decode, decodeTrusted, encode, u64 } from "../../primitives/codec.ts";
import { prefixedKey } from "../../chain/state.ts";

export const PREFIX_CHANNEL = 0x07;
export const PaychKey = {
  /** A payment channel's record, by channel id. */
  channel: (id: Uint8Array): Uint8Array => prefixedKey(PREFIX_CHANNEL, id),
} as const;

/** If a state key is a payment-channel key, the channel id. */
export function channelOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_CHANNEL ? key.subarray(1) : undefined;
}

/**
 * A unidirectional payment channel (docs/protocol.md section 8; modules/paych/paych.ts executes its operations).
 * Escrow = deposit - redeemed until it is settled; the record stays after settlement, so that a
 * late voucher is rejected as closed rather than unknown.
 */
export interface Channel {
  /** Not stored: the key of the record. */
  readonly id: Uint8Array;
  readonly payer: Uint8Array;
  readonly payee: Uint8Array;
  readonly deposit: bigint;
  /** Cumulative amount paid to the payee. */
  readonly redeemed: bigint;
  /** Highest redeemed voucher nonce; 0 = none. */
  readonly nonce: bigint;
  /** Blocks between paych.close and the first height paych.withdraw is allowed. */
  readonly settleDelay: bigint;
  /** 0 = open; else the height from which paych.withdraw is allowed. */
  readonly closingAt: bigint;
  /** Withdrawn: the remainder went back to the payer; nothing more can happen on the channel. */
  readonly settled: boolean;
}


export function encodeChannel(c: Channel): Uint8Array {
  return encode([c.payer, c.payee, u64(c.deposit), u64(c.redeemed), u64(c.nonce), u64(c.settleDelay), u64(c.closingAt), c.settled]);
}
export function decodeChannel(id: Uint8Array, b: Uint8Array, trusted = false): Channel {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "channel", 8);
  return {
    id,
    payer: asBytes(v[0], "payer", 32),
    payee: asBytes(v[1], "payee", 32),
    deposit: asU64(v[2], "deposit"),
    redeemed: asU64(v[3], "redeemed"),
    nonce: asU64(v[4], "nonce"),
    settleDelay: asU64(v[5], "settleDelay"),
    closingAt: asU64(v[6], "closingAt"),
    settled: asBool(v[7], "settled"),
  };
}

