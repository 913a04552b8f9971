/** What the parent and the RPC server children of figure 3 agree on. */
import { toAddress } from "../../primitives/keys.ts";
import { ACCOUNT_BALANCE, plainAccountKey } from "./fixtures.ts";

/** Accounts in the real server's state. */
export const RPC_ACCOUNTS = 100_000;

/** Plain account i's address, and the balance every plain account has at genesis. */
export const rpcAccountAddress = (i: number): string => toAddress(plainAccountKey(i));
export const RPC_ACCOUNT_BALANCE = ACCOUNT_BALANCE.toString();

/** chain_getBlock (figure 3b): blocks in the block server's store, and signed transfers in each. */
export const RPC_BLOCKS = 200;
export const RPC_BLOCK_TXS = 20;

/** The real servers' per-client rate limit: on, as in the node, but out of one load client's reach. */
export const BENCH_RATE_LIMIT = { max: 1_000_000_000, timeWindowMs: 10_000 };
