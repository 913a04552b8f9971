/**
 * The block-store indexes of storage (chain/registry.ts IndexSpec): deals by client and provider,
 * fed by storageDeal events, orders by client, fed by storageOrder events, and the price payments
 * of each epoch, fed by storagePayment events:
 *   'J' epoch(8) seq(4) -> [deal, provider, amount, network]
 */
import { u32be, u64be } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, decode, encode, u64 } from "../../primitives/codec.ts";
import { defineIndex } from "../../chain/registry.ts";
import type { ChainEvent } from "../../chain/exec.ts";

type Deal = Extract<ChainEvent, { kind: "storageDeal" }>;
type Payment = Extract<ChainEvent, { kind: "storagePayment" }>;
type Order = Extract<ChainEvent, { kind: "storageOrder" }>;

/** 'J' epoch seq -> one price payment of a proven epoch */
export const STORAGE_PAYMENTS = 0x4a;

/** What an ended epoch paid in deal prices: network deals (placed by the chain; they earn the pool) and direct deals (price only). */
export interface EpochStoragePayments {
  readonly network: { deals: number; amount: bigint };
  readonly direct: { deals: number; amount: bigint };
}

/** The price payments of an ended epoch, summed by kind of deal, from a store's index. */
export async function readEpochStoragePayments(
  store: { readIndex(code: number, prefix: Uint8Array): Promise<[Uint8Array, Uint8Array][]> }, epoch: bigint,
): Promise<EpochStoragePayments> {
  const out = { network: { deals: 0, amount: 0n }, direct: { deals: 0, amount: 0n } };
  for (const [, b] of await store.readIndex(STORAGE_PAYMENTS, u64be(epoch))) {
    const v = asArray(decode(b), "storage payment", 4);
    asBytes(v[0], "deal", 32);
    const side = v[3] === true ? out.network : out.direct;
    side.deals++;
    side.amount += asU64(v[2], "amount");
  }
  return out;
}

/** 'D' client dealId -> empty */
export const DEALS_BY_CLIENT = 0x44;
/** 'E' provider dealId -> empty */
export const DEALS_BY_PROVIDER = 0x45;
/** 'O' client orderId -> empty */
export const ORDERS_BY_CLIENT = 0x4f;

export const storageIndexes = [
  defineIndex<Deal>({ code: DEALS_BY_CLIENT, name: "dealsByClient", kind: "storageDeal", entries: (e) => [{ key: [e.client, e.deal] }] }),
  defineIndex<Deal>({ code: DEALS_BY_PROVIDER, name: "dealsByProvider", kind: "storageDeal", entries: (e) => [{ key: [e.provider, e.deal] }] }),
  defineIndex<Order>({ code: ORDERS_BY_CLIENT, name: "ordersByClient", kind: "storageOrder", entries: (e) => [{ key: [e.client, e.order] }] }),
  defineIndex<Payment>({
    code: STORAGE_PAYMENTS,
    name: "storagePayments",
    kind: "storagePayment",
    entries: (e, seq) => [{ key: [u64be(e.epoch), u32be(seq)], value: encode([e.deal, e.provider, u64(e.amount), e.network]) }],
  }),
];
