import t from "tap";
import { VoteType } from "../../chain/block.ts";
import { soloMachine, type SoloState } from "../../chain/consensus/solo.ts";
import type { ConsensusEffect, ConsensusInput } from "../../chain/consensus/types.ts";
import { build, newTestChain } from "../helpers/chain.ts";

function run(s: SoloState, input: ConsensusInput): [SoloState, ConsensusEffect[]] {
  const r = soloMachine.step(s, input);
  return [r.state, r.effects];
}

t.test("one validator: propose, validate, precommit, commit", async (t) => {
  const chain = newTestChain();
  const validators = chain.state.validators();
  const block = build(chain, []).block;
  let s = soloMachine.initial();
  let fx: ConsensusEffect[];
  [s, fx] = run(s, { type: "startHeight", height: 1n, validators, self: 0 });
  t.same(fx.map((e) => e.type), ["buildProposal"]);
  [s, fx] = run(s, { type: "proposal", proposal: { height: 1n, round: 0, polRound: -1, block, signature: new Uint8Array(64) } });
  t.same(fx.map((e) => e.type), ["validateBlock"]);
  // a second proposal for the same height is ignored
  t.same(run(s, { type: "proposal", proposal: { height: 1n, round: 0, polRound: -1, block, signature: new Uint8Array(64) } })[1], []);
  [s, fx] = run(s, { type: "blockValidated", height: 1n, round: 0, blockHash: block.hash, valid: true });
  t.match(fx, [{ type: "castVote", voteType: VoteType.PRECOMMIT, height: 1n }]);
  // a vote for another block does not commit
  t.same(run(s, { type: "vote", vote: { type: VoteType.PRECOMMIT, height: 1n, round: 0, blockHash: new Uint8Array(32), validatorIndex: 0, signature: new Uint8Array(64) } })[1], []);
  [s, fx] = run(s, { type: "vote", vote: { type: VoteType.PRECOMMIT, height: 1n, round: 0, blockHash: block.hash, validatorIndex: 0, signature: new Uint8Array(64).fill(9) } });
  t.equal(fx.length, 1);
  const commit = fx[0]!;
  t.equal(commit.type, "commit");
  if (commit.type === "commit") {
    t.same(commit.commit.blockHash, block.hash);
    t.same(commit.commit.signatures, [{ validatorIndex: 0, signature: new Uint8Array(64).fill(9) }]);
  }
  t.equal(soloMachine.describe(s).step, null, "committed");
});

t.test("an invalid proposal is dropped; a non-validator never proposes or votes", async (t) => {
  const chain = newTestChain();
  const validators = chain.state.validators();
  const block = build(chain, []).block;
  let [s, fx] = run(soloMachine.initial(), { type: "startHeight", height: 1n, validators, self: null });
  t.same(fx, []);
  [s, fx] = run(s, { type: "proposal", proposal: { height: 1n, round: 0, polRound: -1, block, signature: new Uint8Array(64) } });
  [s, fx] = run(s, { type: "blockValidated", height: 1n, round: 0, blockHash: block.hash, valid: true });
  t.same(fx, [], "a follower casts no vote");
  let [v] = run(soloMachine.initial(), { type: "startHeight", height: 1n, validators, self: 0 });
  [v] = run(v, { type: "proposal", proposal: { height: 1n, round: 0, polRound: -1, block, signature: new Uint8Array(64) } });
  [v, fx] = run(v, { type: "blockValidated", height: 1n, round: 0, blockHash: block.hash, valid: false });
  t.same(fx, []);
  t.equal(v.proposal, null);
  t.throws(() => run(soloMachine.initial(), { type: "startHeight", height: 1n, validators: [...validators, ...validators], self: 0 }));
});
