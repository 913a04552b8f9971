/**
 * Read views of a head state. A ChainState is immutable, so what every answer against it shares
 * (its height, its root in hex) is computed once per state and goes with it when a new head replaces
 * it (WeakMap). An account's own answer is made on each call from the state's record (the store's
 * record cache keeps what was read): a per-head cache of answers by address churned under reads of
 * many different accounts (each miss inserted an entry that outlived young-generation collections
 * until the cache started over), costing state_getAccount over 100,000 random accounts ~15% of its
 * in-process CPU, for a saving only on an address asked again within the same block.
 */
import { toHex } from "../primitives/bytes.ts";
import { fromAddress } from "../primitives/keys.ts";
import type { Account, ChainState } from "../chain/state.ts";
import { accountJson } from "./json.ts";
import { JsonText } from "./table.ts";

export type AccountView = ReturnType<typeof accountJson> & { readonly height: number; readonly stateRoot: string };

interface HeadView {
  readonly height: number;
  readonly stateRoot: string;
}

const views = new WeakMap<ChainState, HeadView>();

export function headView(state: ChainState): HeadView {
  let v = views.get(state);
  if (!v) {
    v = { height: Number(state.meta().height), stateRoot: toHex(state.root()) };
    views.set(state, v);
  }
  return v;
}

/** An account's JSON at `state`, keyed by the address string the caller gave (already validated). */
export function accountView(state: ChainState, address: string): AccountView {
  const v = headView(state);
  return { ...accountJson(address, state.account(fromAddress(address))), height: v.height, stateRoot: v.stateRoot };
}

/** The same as text, as state_getAccount answers it. */
export function accountViewText(state: ChainState, address: string): JsonText<AccountView> {
  return new JsonText(accountText(address, state.account(fromAddress(address)), headView(state)));
}

/**
 * `JSON.stringify` of the AccountView of `a`, written directly: no view object, no generic
 * serializer walking it. The same keys in the same order with the same values (amounts as decimal
 * strings, heights as numbers); test/unit/rpc/views.test.ts compares the two on random accounts.
 */
export function accountText(address: string, a: Account, head: { readonly height: number; readonly stateRoot: string }): string {
  let unbonding = "";
  for (const u of a.unbonding) unbonding += `${unbonding === "" ? "" : ","}{"amount":"${u.amount}","releaseHeight":${JSON.stringify(Number(u.releaseHeight))}}`;
  return `{"address":${JSON.stringify(address)},"balance":"${a.balance}","nonce":"${a.nonce}","staked":"${a.staked}","unbonding":[${unbonding}],"height":${JSON.stringify(head.height)},"stateRoot":${JSON.stringify(head.stateRoot)}}`;
}
