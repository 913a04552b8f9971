/**
 * What the operator is told when its own validator's standing changes between two finalized
 * states: tombstoned, jailed, or a block newly missed (node/node.ts logs what this returns after
 * every commit). Pure, so the rules are tested without a running chain.
 */
import type { ChainParams } from "../chain/params.ts";
import type { ValidatorInfo } from "../modules/staking/records.ts";

export interface StandingAlert {
  readonly level: "error" | "warn";
  readonly fields: Record<string, number>;
  readonly message: string;
}

export function standingAlert(
  before: ValidatorInfo | undefined,
  now: ValidatorInfo | undefined,
  params: Pick<ChainParams, "downtimeWindow" | "downtimeMinSigned">,
): StandingAlert | undefined {
  if (!now) return undefined;
  if (now.tombstoned && !before?.tombstoned) {
    return { level: "error", fields: {}, message: "this node's validator is TOMBSTONED for double-signing: it can never rejoin the set" };
  }
  if (now.jailed && !before?.jailed) {
    return {
      level: "error",
      fields: { until: Number(now.jailedUntil) },
      message: "this node's validator is JAILED and out of the set: send `cloudcoin tx unjail` once the jail height is reached",
    };
  }
  if (!now.jailed && now.missed > (before?.missed ?? 0)) {
    return {
      level: "warn",
      fields: { missed: now.missed, window: params.downtimeWindow, jailedAbove: params.downtimeWindow - params.downtimeMinSigned },
      message: "this node's validator missed signing a block",
    };
  }
  return undefined;
}
