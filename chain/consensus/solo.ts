/**
 * The single-validator machine: Tendermint with one validator and nothing to wait for.
 * startHeight -> buildProposal -> proposal -> validateBlock -> blockValidated -> castVote
 * (precommit) -> vote -> commit. It refuses to run a validator set of more than one: it counts
 * voting power like the BFT engine and would never reach +2/3 alone.
 * Replaced by the Tendermint engine in the consensus issue, behind the same interface.
 */
import { equalBytes } from "../bytes.ts";
import { VoteType, type Block } from "../block.ts";
import type { Validator } from "../state.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type ConsensusMachine, type Vote } from "./types.ts";

export interface SoloState {
  readonly height: bigint;
  readonly round: number;
  readonly validators: readonly Validator[];
  readonly self: number | null;
  readonly proposal: Block | null;
  readonly precommits: readonly Vote[];
  readonly committed: boolean;
}

const none: ConsensusEffect[] = [];

export const soloMachine: ConsensusMachine<SoloState> = {
  name: "solo",
  initial: () => ({ height: 0n, round: 0, validators: [], self: null, proposal: null, precommits: [], committed: false }),

  describe: (s) => ({ height: s.height, round: s.round, step: s.committed ? null : s.proposal ? Step.PRECOMMIT : Step.PROPOSE, votes: s.precommits.length }),

  step(s: SoloState, input: ConsensusInput): { state: SoloState; effects: ConsensusEffect[] } {
    switch (input.type) {
      case "startHeight": {
        if (input.validators.length !== 1) throw new Error("the solo machine runs exactly one validator; start the BFT engine for more");
        const state: SoloState = { height: input.height, round: 0, validators: input.validators, self: input.self, proposal: null, precommits: [], committed: false };
        // Only the validator itself can propose; a non-validator node just follows.
        return { state, effects: input.self === 0 ? [{ type: "buildProposal", height: input.height, round: 0 }] : none };
      }
      case "proposal": {
        const p = input.proposal;
        if (p.height !== s.height || p.round !== s.round || s.proposal !== null || s.committed) return { state: s, effects: none };
        return { state: { ...s, proposal: p.block }, effects: [{ type: "validateBlock", height: p.height, round: p.round, block: p.block }] };
      }
      case "blockValidated": {
        if (input.height !== s.height || !s.proposal || !equalBytes(input.blockHash, s.proposal.hash)) return { state: s, effects: none };
        if (!input.valid) return { state: { ...s, proposal: null }, effects: none };
        if (s.self === null) return { state: s, effects: none };
        return { state: s, effects: [{ type: "castVote", voteType: VoteType.PRECOMMIT, height: s.height, round: s.round, blockHash: s.proposal.hash }] };
      }
      case "vote": {
        const v = input.vote;
        if (v.type !== VoteType.PRECOMMIT || v.height !== s.height || v.round !== s.round || s.committed || !s.proposal) return { state: s, effects: none };
        if (v.blockHash === null || !equalBytes(v.blockHash, s.proposal.hash)) return { state: s, effects: none };
        if (s.precommits.some((p) => p.validatorIndex === v.validatorIndex)) return { state: s, effects: none };
        const precommits = [...s.precommits, v];
        let total = 0n;
        let signed = 0n;
        s.validators.forEach((val, i) => {
          total += val.power;
          if (precommits.some((p) => p.validatorIndex === i)) signed += val.power;
        });
        if (signed * 3n <= total * 2n) return { state: { ...s, precommits }, effects: none };
        const commit = {
          height: s.height,
          round: s.round,
          blockHash: s.proposal.hash,
          signatures: precommits.map((p) => ({ validatorIndex: p.validatorIndex, signature: p.signature })),
        };
        return { state: { ...s, precommits, committed: true }, effects: [{ type: "commit", block: s.proposal, commit }] };
      }
      case "timeout":
        return { state: s, effects: none };
    }
  },
};
