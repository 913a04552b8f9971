/**
 * The rewards module (docs/protocol.md section 7): the epoch's emission, split into the storage,
 * bandwidth and validator pools and minted only to those who earned them. No ops; two hooks.
 */
import { z } from "zod";
import { toAddress } from "../../primitives/keys.ts";
import { defineEvent, type ModuleSpec } from "../../chain/registry.ts";
import { address, count, decimal } from "../json-schema.ts";
import { endEpoch, tallySignatures, type RewardPool } from "./rewards.ts";
import { rewardIndexes } from "./indexes.ts";

export type RewardEvent = {
  /**
   * End of epoch: minted to `to` from `pool`. `basis`: proven bytes (storage), credited throughput
   * (bandwidth), attestations within tolerance (witness) or signed blocks (validator); `reputationBps`: the provider's reputation (10000 for validators).
   */
  readonly kind: "reward"; readonly epoch: bigint; readonly to: Uint8Array; readonly amount: bigint; readonly pool: RewardPool;
  readonly basis: bigint; readonly reputationBps: number;
};

declare module "../../chain/exec.ts" {
  interface EventMap {
    reward: RewardEvent;
  }
}

export const rewards: ModuleSpec = {
  name: "rewards",
  ops: [],
  events: [
    defineEvent<RewardEvent>({
      kind: "reward",
      json: (e) => ({ epoch: Number(e.epoch), to: toAddress(e.to), amount: e.amount.toString(), pool: e.pool, basis: e.basis.toString(), reputationBps: e.reputationBps }),
      schema: z.object({
        kind: z.literal("reward"), epoch: count, to: address, amount: decimal, pool: z.enum(["storage", "bandwidth", "witness", "validator"]), basis: decimal,
        reputationBps: z.int().min(0).max(10_000),
      }),
    }),
  ],
  records: [],
  globals: ["signers"],
  indexes: rewardIndexes,
  errors: {},
  hooks: {
    // every signature in the commit a block carries (jailed signers' too) counts for the epoch's validator pool
    beginBlock: (w, ctx, lastCommit) => {
      if (lastCommit === null) return;
      const signed = new Set<number>();
      for (const s of lastCommit.signatures) signed.add(s.validatorIndex);
      tallySignatures(w, ctx, w.base.lastValidators(), signed);
    },
    endEpoch,
  },
};
