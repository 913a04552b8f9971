/**
 * Read views memoized per head state. A ChainState is immutable, so whatever is derived from
 * it (its height, its root in hex, an account's JSON) can be computed once and shared by every
 * request against that head; the memo goes with the state when a new head replaces it (WeakMap).
 */
import { toHex } from "../primitives/bytes.ts";
import { fromAddress } from "../primitives/keys.ts";
import type { ChainState } from "../chain/state.ts";
import { accountJson } from "./json.ts";
import { JsonText } from "./table.ts";

export type AccountView = ReturnType<typeof accountJson> & { readonly height: number; readonly stateRoot: string };

interface AccountEntry {
  readonly view: AccountView;
  /** Its JSON text, made the first time an answer needs it. */
  text: JsonText<AccountView> | undefined;
}

interface HeadView {
  readonly height: number;
  readonly stateRoot: string;
  readonly accounts: Map<string, AccountEntry>;
}

const MAX_CACHED_ACCOUNTS = 50_000;
const views = new WeakMap<ChainState, HeadView>();

export function headView(state: ChainState): HeadView {
  let v = views.get(state);
  if (!v) {
    v = { height: Number(state.meta().height), stateRoot: toHex(state.root()), accounts: new Map() };
    views.set(state, v);
  }
  return v;
}

/** An account's JSON at `state`, keyed by the address string the caller gave (already validated). */
export function accountView(state: ChainState, address: string): AccountView {
  return accountEntry(state, address).view;
}

/** The same as text, as state_getAccount answers it (serialized once per head and address). */
export function accountViewText(state: ChainState, address: string): JsonText<AccountView> {
  const e = accountEntry(state, address);
  return (e.text ??= new JsonText(JSON.stringify(e.view)));
}

function accountEntry(state: ChainState, address: string): AccountEntry {
  const v = headView(state);
  let e = v.accounts.get(address);
  if (!e) {
    const view: AccountView = { ...accountJson(address, state.account(fromAddress(address))), height: v.height, stateRoot: v.stateRoot };
    e = { view: Object.freeze(view), text: undefined };
    if (v.accounts.size >= MAX_CACHED_ACCOUNTS) v.accounts.clear();
    v.accounts.set(address, e);
  }
  return e;
}
