/** What the parent and the RPC server children of figure 3 agree on. */
import { toAddress } from "../../chain/keys.ts";
import { ACCOUNT_BALANCE, plainAccountKey } from "./fixtures.ts";

/** Accounts in the real server's state. */
export const RPC_ACCOUNTS = 100_000;

/** Plain account i's address, and the balance every plain account has at genesis. */
export const rpcAccountAddress = (i: number): string => toAddress(plainAccountKey(i));
export const RPC_ACCOUNT_BALANCE = ACCOUNT_BALANCE.toString();
