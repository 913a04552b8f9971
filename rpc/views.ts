/**
 * Read views of a head state. A ChainState is immutable, so whatever is derived from it (its
 * height, its root in hex, an account's answer) can be computed once and shared by every request
 * against that head; the memo goes with the state when a new head replaces it (WeakMap).
 *
 * state_getAccount's answers are kept per head only for addresses asked about again (a wallet
 * polling its balance, an explorer's hot accounts): the first request for an address at a head
 * only notes it in a small set, which starts over when full. Keeping every answer churned under
 * reads of many different accounts (each miss inserted an entry that outlived young-generation
 * collections until the cache started over): ~15% of state_getAccount's in-process CPU over 100,000
 * random accounts, while an address asked again at the same head is answered from one lookup
 * (reading an account from an in-memory state tree costs ~6 µs).
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
  /** state_getAccount's answers, as text, for addresses asked about before at this head. */
  readonly texts: Map<string, JsonText<AccountView>>;
  /** Addresses asked about once at this head (recently): the next request for one keeps its answer. */
  readonly seen: Set<string>;
}

/** Answers kept per head; when full the cache starts over. */
const MAX_CACHED_ACCOUNTS = 4096;
/**
 * Addresses noted per head; when full the set starts over. Small, so that under reads of many
 * different accounts its entries mostly die young.
 */
const MAX_SEEN_ACCOUNTS = 1024;
const views = new WeakMap<ChainState, HeadView>();

export function headView(state: ChainState): HeadView {
  let v = views.get(state);
  if (!v) {
    v = { height: Number(state.meta().height), stateRoot: toHex(state.root()), texts: new Map(), seen: new Set() };
    views.set(state, v);
  }
  return v;
}

/** An account's JSON at `state`, keyed by the address string the caller gave (already validated). */
export function accountView(state: ChainState, address: string): AccountView {
  const v = headView(state);
  return { ...accountJson(address, state.account(fromAddress(address))), height: v.height, stateRoot: v.stateRoot };
}

/** The same as text, as state_getAccount answers it (kept per head for an address asked about again). */
export function accountViewText(state: ChainState, address: string): JsonText<AccountView> {
  const v = headView(state);
  let text = v.texts.get(address);
  if (text !== undefined) return text;
  text = new JsonText(accountText(address, state.account(fromAddress(address)), v));
  if (v.seen.has(address)) {
    if (v.texts.size >= MAX_CACHED_ACCOUNTS) v.texts.clear();
    v.texts.set(address, text);
  } else {
    if (v.seen.size >= MAX_SEEN_ACCOUNTS) v.seen.clear();
    v.seen.add(address);
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
