/** The emission's RPC method (docs/protocol.md section 7; docs/rpc-guide.md): an epoch's reward, pools and mints. */
import { z } from "zod";
import { toAddress } from "../../primitives/keys.ts";
import { firstHeightOfEpoch, proofWindow, readEpochRecord } from "../../chain/epoch.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { decimal, u64Param as epochParam } from "../../rpc/methods.ts";
import { defineMethod, type MethodTable } from "../../rpc/table.ts";
import { poolsOf, rewardSchedule } from "./rewards.ts";
import { readEpochMints } from "./indexes.ts";
import { readEpochStoragePayments } from "../storage/indexes.ts";

const mintSchema = z.object({ to: z.string(), amount: decimal, pool: z.enum(["storage", "bandwidth", "witness", "validator"]), basis: decimal, reputationBps: z.number() });
/** `witness`: the part of `bandwidth` paid to witnesses (params.witnessShareBps of it). */
const poolsSchema = z.object({ storage: decimal, bandwidth: decimal, witness: decimal, validator: decimal });
const paidSchema = z.object({ deals: z.number(), amount: decimal });
/** Deal prices paid for the epoch: network deals (placed by the chain, the only ones the storage pool pays) and direct deals (price only). */
const storagePaymentsSchema = z.object({ network: paidSchema, direct: paidSchema });

const witnessPart = (bandwidthPool: bigint, ctx: RpcContext): bigint => (bandwidthPool * BigInt(ctx.params.witnessShareBps)) / 10_000n;

export const rewardsMethods = {
  rewards_getEpoch: defineMethod({
    description:
      "An epoch's emission: its reward and pools (storage, bandwidth, validator) and, once it ended, what was minted to whom and why " +
      "(pool, basis: proven bytes of network deals, credited throughput, paid attestations (pool witness: the witness payments) or signed blocks, reputation in bps), " +
      "and the deal prices paid for it, network deals (placed by the chain; only they earn the storage pool, each provider capped at its collateral share) apart from direct deals (price only). " +
      "status `current` for the epoch in progress (no mints yet); null for a future epoch.",
    params: z.object({ epoch: epochParam }),
    result: z
      .object({
        epoch: z.number(), status: z.enum(["ended", "current"]), reward: decimal, pools: poolsSchema, minted: decimal, endedAtHeight: z.number().nullable(),
        firstHeight: z.number(), lastHeight: z.number(), mints: z.array(mintSchema), storagePayments: storagePaymentsSchema.nullable(),
      })
      .nullable(),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const rec = readEpochRecord(state, ctx.params);
      const L = ctx.params.epochLength;
      const span = { firstHeight: Number(firstHeightOfEpoch(p.epoch, L)), lastHeight: Number(proofWindow(p.epoch, L).to) };
      if (p.epoch > rec.epoch) return null;
      if (p.epoch === rec.epoch) {
        const s = rewardSchedule(state, ctx.params);
        return {
          epoch: Number(p.epoch), status: "current" as const, reward: s.reward.toString(),
          pools: { storage: s.storagePool.toString(), bandwidth: s.bandwidthPool.toString(), witness: witnessPart(s.bandwidthPool, ctx).toString(), validator: s.validatorPool.toString() },
          minted: "0", endedAtHeight: null, ...span, mints: [], storagePayments: null,
        };
      }
      const r = await ctx.store.getEndedEpoch(p.epoch);
      if (!r) return null; // ended before this node kept the index (not on a chain it synced from genesis)
      const mints = await readEpochMints(ctx.store, p.epoch);
      const paid = await readEpochStoragePayments(ctx.store, p.epoch);
      const pools = poolsOf(r.reward, ctx.params);
      let minted = 0n;
      for (const m of mints) minted += m.amount;
      return {
        epoch: Number(p.epoch), status: "ended" as const, reward: r.reward.toString(),
        pools: { storage: pools.storage.toString(), bandwidth: pools.bandwidth.toString(), witness: witnessPart(pools.bandwidth, ctx).toString(), validator: pools.validator.toString() },
        minted: minted.toString(), endedAtHeight: Number(r.height), ...span,
        mints: mints.map((m) => ({ to: toAddress(m.to), amount: m.amount.toString(), pool: m.pool, basis: m.basis.toString(), reputationBps: m.reputationBps })),
        storagePayments: {
          network: { deals: paid.network.deals, amount: paid.network.amount.toString() },
          direct: { deals: paid.direct.deals, amount: paid.direct.amount.toString() },
        },
      };
    },
  }),
} satisfies MethodTable<RpcContext>;

type RewardsMethods = typeof rewardsMethods;
declare module "../../rpc/methods.ts" {
  interface Methods extends RewardsMethods {}
}
