/**
 * The block-store index of minted rewards (chain/registry.ts IndexSpec), fed by `reward` events:
 *   'I' epoch(8) seq(4) -> [to, amount, pool, basis, reputationBps]
 * `seq` is the event's position in the block that ended the epoch, so the entries read back in
 * event order.
 */
import { u32be, u64be } from "../../primitives/bytes.ts";
import { asArray, asBytes, asU64, asUint, decode, encode, u64 } from "../../primitives/codec.ts";
import { defineIndex } from "../../chain/registry.ts";
import type { ChainEvent } from "../../chain/exec.ts";
import type { RewardPool } from "./rewards.ts";

export const REWARD_MINTS = 0x49;
// the stored code is the index: new pools go at the end
const REWARD_POOLS: readonly RewardPool[] = ["storage", "bandwidth", "validator", "witness"];

/** One mint of an ended epoch (a `reward` event). */
export interface EpochMint {
  readonly to: Uint8Array;
  readonly amount: bigint;
  readonly pool: RewardPool;
  readonly basis: bigint;
  readonly reputationBps: number;
}

type Reward = Extract<ChainEvent, { kind: "reward" }>;

export const rewardIndexes = [
  defineIndex<Reward>({
    code: REWARD_MINTS,
    name: "mints",
    kind: "reward",
    entries: (e, seq) => [
      { key: [u64be(e.epoch), u32be(seq)], value: encode([e.to, u64(e.amount), REWARD_POOLS.indexOf(e.pool), u64(e.basis), e.reputationBps]) },
    ],
  }),
];

/** The mints of an ended epoch, in event order, from a store's index. */
export async function readEpochMints(store: { readIndex(code: number, prefix: Uint8Array): Promise<[Uint8Array, Uint8Array][]> }, epoch: bigint): Promise<EpochMint[]> {
  return (await store.readIndex(REWARD_MINTS, u64be(epoch))).map(([, b]) => {
    const m = asArray(decode(b), "mint", 5);
    const pool = REWARD_POOLS[asUint(m[2], "pool", REWARD_POOLS.length - 1)]!;
    return { to: asBytes(m[0], "to", 32), amount: asU64(m[1], "amount"), pool, basis: asU64(m[3], "basis"), reputationBps: asUint(m[4], "reputationBps") };
  });
}
