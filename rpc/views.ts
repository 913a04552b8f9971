/**
 * Read views memoized per head state. A ChainState is immutable, so whatever is derived from
 * it (its height, its root in hex, an account's JSON) can be computed once and shared by every
 * request against that head; the memo goes with the state when a new head replaces it (WeakMap).
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
  /** state_getAccount's answers, as text (the hot path). */
  readonly texts: Map<string, JsonText<AccountView>>;
  /** The same as objects, for answers that add to them (a proof). */
  readonly accounts: Map<string, AccountView>;
}

/**
 * Per head state, and small: it is for the accounts asked about again and again within one block
 * (a wallet polling its balance), whose answer is then one Map lookup. When full it starts over;
 * the store's record cache still holds what was read. A large one cost more than it saved under
 * reads of many different accounts: 50,000 entries per head, each kept past a young-generation
 * collection, made state_getAccount over 100,000 random accounts ~60% dearer in CPU (in-process,
 * over a store of 100,000 accounts), while 4,096 cost ~10% there and answer a hot set of 1,000
 * accounts as fast as 50,000 did.
 */
const MAX_CACHED_ACCOUNTS = 4096;
const views = new WeakMap<ChainState, HeadView>();

export function headView(state: ChainState): HeadView {
  let v = views.get(state);
  if (!v) {
    v = { height: Number(state.meta().height), stateRoot: toHex(state.root()), texts: new Map(), accounts: new Map() };
    views.set(state, v);
  }
  return v;
}

/** An account's JSON at `state`, keyed by the address string the caller gave (already validated). */
export function accountView(state: ChainState, address: string): AccountView {
  const v = headView(state);
  let view = v.accounts.get(address);
  if (view === undefined) {
    view = Object.freeze({ ...accountJson(address, state.account(fromAddress(address))), height: v.height, stateRoot: v.stateRoot });
    if (v.accounts.size >= MAX_CACHED_ACCOUNTS) v.accounts.clear();
    v.accounts.set(address, view);
  }
  return view;
}

/** The same as text, as state_getAccount answers it (made once per head and address). */
export function accountViewText(state: ChainState, address: string): JsonText<AccountView> {
  const v = headView(state);
  let text = v.texts.get(address);
  if (text === undefined) {
    text = new JsonText(accountText(address, state.account(fromAddress(address)), v));
    if (v.texts.size >= MAX_CACHED_ACCOUNTS) v.texts.clear();
    v.texts.set(address, text);
  }
  return text;
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
