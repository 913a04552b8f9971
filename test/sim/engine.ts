/**
 * The engines the simulator can run, all behind `ConsensusMachine<S>` (chain/consensus/types.ts):
 * the real Tendermint engine (the default), and a compact reference implementation kept in
 * test/sim as a second opinion (`--engine reference`).
 */
import type { ConsensusMachine } from "../../chain/consensus/types.ts";
import { createTendermintMachine, defaultTendermintConfig } from "../../chain/consensus/tendermint.ts";
import { createReferenceMachine, defaultReferenceConfig } from "./reference-engine.ts";

/** A machine with its state type erased, so that a world can hold any engine. */
export type AnyMachine = ConsensusMachine<unknown>;

export const ENGINES = ["tendermint", "reference", "reference-first-vote"] as const;
export type EngineName = (typeof ENGINES)[number];

export function engineByName(name: EngineName): AnyMachine {
  switch (name) {
    case "tendermint":
      return createTendermintMachine(defaultTendermintConfig) as AnyMachine;
    case "reference":
      return createReferenceMachine() as AnyMachine;
    // the reference without counting equivocators' further votes: the first vote wins, as in
    // chain/consensus/votes.ts; kept to show what that rule costs in liveness
    case "reference-first-vote":
      return createReferenceMachine({ ...defaultReferenceConfig, countConflictingVotes: false }) as AnyMachine;
  }
}
