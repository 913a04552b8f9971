/** The staking module's RPC: a validator candidate's standing (registered, jailed, downtime). */
import { z } from "zod";
import { fromAddress } from "../../primitives/keys.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { address, decimal } from "../../rpc/methods.ts";
import { defineMethod, type MethodTable } from "../../rpc/table.ts";
import { readCandidates, readValidatorInfo } from "./records.ts";
import { equalBytes } from "../../primitives/bytes.ts";

export const stakingMethods = {
  staking_getValidator: defineMethod({
    description:
      "A validator candidate's standing at the head: null if the account never registered; else its name, stake, whether it is tombstoned (for double-signing: never again in the set), jailed and until " +
      "which height `validator.unjail` is refused, whether it is eligible for the set and in the current set, and its missed blocks in the downtime window.",
    params: z.object({ address }),
    result: z
      .object({
        address: z.string(), name: z.string(), staked: decimal, jailed: z.boolean(), tombstoned: z.boolean(), jailedUntil: z.number().nullable(), eligible: z.boolean(), inSet: z.boolean(),
        missed: z.number(), downtimeWindow: z.number(), downtimeMaxMissed: z.number(), height: z.number(),
      })
      .nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const key = fromAddress(p.address);
      const info = readValidatorInfo(state, key);
      if (!info) return null;
      return {
        address: p.address,
        name: info.name,
        staked: state.account(key).staked.toString(),
        jailed: info.jailed,
        tombstoned: info.tombstoned,
        jailedUntil: info.jailed ? Number(info.jailedUntil) : null,
        eligible: readCandidates(state).some((k) => equalBytes(k, key)),
        inSet: state.validators().some((v) => equalBytes(v.publicKey, key)),
        missed: info.missed,
        downtimeWindow: ctx.params.downtimeWindow,
        downtimeMaxMissed: ctx.params.downtimeWindow - ctx.params.downtimeMinSigned,
        height: Number(state.meta().height),
      };
    },
  }),
} satisfies MethodTable<RpcContext>;

type StakingMethods = typeof stakingMethods;
declare module "../../rpc/methods.ts" {
  interface Methods extends StakingMethods {}
}
