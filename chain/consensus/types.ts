/**
 * The consensus engine interface (docs/protocol.md section 3).
 *
 * An engine is a PURE state machine: `step(state, input) -> { state, effects }`. It never
 * reads a clock, a socket or a disk; the driver in node/ turns effects into I/O (timers,
 * block building, durable signing, gossip, the store) and feeds the outcomes back as inputs.
 * That is what makes a seeded deterministic simulation of many validators possible: the
 * simulator is just another driver.
 *
 * The inputs and effects are those of Tendermint ("The latest gossip on BFT consensus"):
 * tendermint.ts implements them; a one-validator network runs the same engine.
 */
import type { Block, Commit, VoteType } from "../block.ts";
import type { Validator } from "../state.ts";

export const Step = { PROPOSE: 1, PREVOTE: 2, PRECOMMIT: 3 } as const;
export type Step = (typeof Step)[keyof typeof Step];

export interface Vote {
  readonly type: VoteType;
  readonly height: bigint;
  readonly round: number;
  /** null is a vote for nil */
  readonly blockHash: Uint8Array | null;
  readonly validatorIndex: number;
  readonly signature: Uint8Array;
}

export interface Proposal {
  readonly height: bigint;
  readonly round: number;
  /** the proof-of-lock round, -1 if none */
  readonly polRound: number;
  readonly block: Block;
  readonly signature: Uint8Array;
}

/**
 * A validator as the engine sees it: power, public key, and its proposer priority for round 0 of
 * the height (proposer.ts; the state stores them that way), from which the engine computes the
 * proposer of every round.
 */
export type ConsensusValidator = Validator & { readonly priority: bigint };

export type ConsensusInput =
  /** Begin a height (at boot, and after the previous height committed and timeout_commit passed). */
  | { readonly type: "startHeight"; readonly height: bigint; readonly validators: readonly ConsensusValidator[]; readonly self: number | null }
  | { readonly type: "timeout"; readonly height: bigint; readonly round: number; readonly step: Step }
  | { readonly type: "proposal"; readonly proposal: Proposal }
  | { readonly type: "vote"; readonly vote: Vote }
  /** The outcome of a validateBlock effect. */
  | { readonly type: "blockValidated"; readonly height: bigint; readonly round: number; readonly blockHash: Uint8Array; readonly valid: boolean };

export type ConsensusEffect =
  | { readonly type: "scheduleTimeout"; readonly height: bigint; readonly round: number; readonly step: Step; readonly delayMs: number }
  /** Build a block for (height, round), sign the proposal durably, broadcast it and feed it back. */
  | { readonly type: "buildProposal"; readonly height: bigint; readonly round: number }
  /** Execute the block against the state and feed back blockValidated. */
  | { readonly type: "validateBlock"; readonly height: bigint; readonly round: number; readonly block: Block }
  /** Sign durably (never double-sign), broadcast, and feed the vote back. */
  | { readonly type: "castVote"; readonly voteType: VoteType; readonly height: bigint; readonly round: number; readonly blockHash: Uint8Array | null }
  /** The block is final: persist it with its commit, then start the next height. */
  | { readonly type: "commit"; readonly block: Block; readonly commit: Commit }
  /**
   * Re-propose a block this node already holds (the engine's validValue) at (height, round)
   * with proof-of-lock round `polRound`: sign the proposal durably, broadcast it and feed it
   * back as a `proposal` input.
   */
  | { readonly type: "signProposal"; readonly height: bigint; readonly round: number; readonly polRound: number; readonly block: Block }
  /**
   * Two different votes by one validator for the same (height, round, type), both as received
   * (signatures already checked by the driver). `first` is the one the engine counts. Emitted
   * once per (validator, round, type): gossip it and include it in a block.
   */
  | { readonly type: "evidence"; readonly first: Vote; readonly second: Vote };

export interface ConsensusMachine<S> {
  readonly name: string;
  initial(): S;
  step(state: S, input: ConsensusInput): { state: S; effects: ConsensusEffect[] };
  /** For consensus_getState and logs. */
  describe(state: S): { height: bigint; round: number; step: Step | null; votes: number };
}
