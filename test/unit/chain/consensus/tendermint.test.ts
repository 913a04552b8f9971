/**
 * The Tendermint engine (chain/consensus/tendermint.ts), driven by hand as a pure machine: each
 * test feeds inputs and checks the exact effects, the way a driver would see them.
 * Equal-power sets of 4 use keys 1..4 and zero priorities, so the proposer of round r is r mod 4.
 */
import fc from "fast-check";
import t from "tap";
import { VoteType, type Block } from "../../../../chain/block.ts";
import { toHex } from "../../../../primitives/bytes.ts";
import { proposerIndex } from "../../../../chain/consensus/proposer.ts";
import { createTendermintMachine, defaultTendermintConfig, inspect, type TendermintConfig, type TendermintState } from "../../../../chain/consensus/tendermint.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type ConsensusValidator, type Vote } from "../../../../chain/consensus/types.ts";
import { MAX_VALUES_PER_VALIDATOR, addVote, emptyVoteSet, valueKey, votesFor } from "../../../../chain/consensus/votes.ts";

const machine = createTendermintMachine(defaultTendermintConfig);
const H = 1n;
const { PREVOTE, PRECOMMIT } = VoteType;

const vals = (powers: number[]): ConsensusValidator[] =>
  powers.map((p, i) => ({ publicKey: new Uint8Array(32).fill(i + 1), power: BigInt(p), name: `v${i}`, priority: 0n }));
const EQ4 = vals([1, 1, 1, 1]);

/** A block is data to the engine: only its hash is read. Tags make distinct hashes. */
function block(tag: number, height = H): Block {
  const hash = new Uint8Array(32).fill(tag);
  const partial: Partial<Block> = { header: { height } as Block["header"], headerBytes: new Uint8Array([tag]), hash, txs: [], lastCommit: null, bytes: new Uint8Array([tag]) };
  return partial as Block;
}
const B = block(0xb0);
const C = block(0xc0);

function sig(...parts: number[]): Uint8Array {
  const s = new Uint8Array(64);
  parts.forEach((p, i) => (s[i] = p & 0xff));
  return s;
}
function mkVote(type: VoteType, round: number, b: Block | null, i: number, height = H): Vote {
  return { type, height, round, blockHash: b === null ? null : b.hash, validatorIndex: i, signature: sig(i, round, type, b === null ? 0 : b.hash[0]!) };
}
const pv = (round: number, b: Block | null, i: number, height = H): ConsensusInput => ({ type: "vote", vote: mkVote(PREVOTE, round, b, i, height) });
const pc = (round: number, b: Block | null, i: number, height = H): ConsensusInput => ({ type: "vote", vote: mkVote(PRECOMMIT, round, b, i, height) });
const proposal = (round: number, b: Block, polRound = -1, height = H): ConsensusInput => ({
  type: "proposal",
  proposal: { height, round, polRound, block: b, signature: sig(0xee, round, polRound + 1) },
});
const validated = (b: Block, valid = true, round = 0, height = H): ConsensusInput => ({ type: "blockValidated", height, round, blockHash: b.hash, valid });
const timeout = (round: number, step: Step, height = H): ConsensusInput => ({ type: "timeout", height, round, step });
const start = (validators: readonly ConsensusValidator[], self: number | null, height = H): ConsensusInput => ({ type: "startHeight", height, validators, self });

const castVote = (voteType: VoteType, round: number, b: Block | null): ConsensusEffect => ({ type: "castVote", voteType, height: H, round, blockHash: b === null ? null : b.hash });
const sched = (round: number, step: Step, delayMs: number): ConsensusEffect => ({ type: "scheduleTimeout", height: H, round, step, delayMs });

/** A hand-driven node: `feed` steps the machine and returns the effects of those inputs. */
class Node {
  s: TendermintState;
  readonly m: typeof machine;
  /** the effects of the startHeight */
  readonly started: ConsensusEffect[];
  constructor(validators: readonly ConsensusValidator[], self: number | null, m = machine) {
    this.m = m;
    const r = m.step(m.initial(), start(validators, self));
    this.s = r.state;
    this.started = r.effects;
  }
  feed(...inputs: ConsensusInput[]): ConsensusEffect[] {
    const out: ConsensusEffect[] = [];
    for (const input of inputs) {
      const r = this.m.step(this.s, input);
      this.s = r.state;
      out.push(...r.effects);
    }
    return out;
  }
}

/** Round 0 with 4 equal validators: `self` has prevoted B and, after the polka, precommitted B. */
function lockedOnBAtRound0(self: number): Node {
  const n = new Node(EQ4, self);
  n.feed(proposal(0, B), validated(B));
  n.feed(...[0, 1, 2, 3].filter((i) => i !== self).map((i) => pv(0, B, i)));
  return n;
}

t.test("one validator: startHeight to commit with no timeout", async (t) => {
  const m = machine;
  const effects: ConsensusEffect[] = [];
  const stepIn = (s: TendermintState, input: ConsensusInput): TendermintState => {
    const r = m.step(s, input);
    effects.push(...r.effects);
    return r.state;
  };
  let s = stepIn(m.initial(), start(vals([10]), 0));
  t.same(effects, [{ type: "buildProposal", height: H, round: 0 }]);
  s = stepIn(s, proposal(0, B));
  t.same(effects.slice(1), [{ type: "validateBlock", height: H, round: 0, block: B }]);
  s = stepIn(s, validated(B));
  t.same(effects.slice(2), [castVote(PREVOTE, 0, B)]);
  s = stepIn(s, pv(0, B, 0));
  t.same(effects.slice(3), [castVote(PRECOMMIT, 0, B)]);
  s = stepIn(s, pc(0, B, 0));
  t.same(effects.slice(4), [{ type: "commit", block: B, commit: { height: H, round: 0, blockHash: B.hash, signatures: [{ validatorIndex: 0, signature: mkVote(PRECOMMIT, 0, B, 0).signature }] } }]);
  t.equal(effects.length, 5, "and nothing else: no timeout scheduled");
  t.same(m.describe(s), { height: H, round: 0, step: null, votes: 2 });
});

t.test("four equal validators, each as self: the happy path commits B at round 0", async (t) => {
  for (const self of [0, 1, 2, 3]) {
    const n = new Node(EQ4, self);
    t.same(n.started, self === 0 ? [{ type: "buildProposal", height: H, round: 0 }] : [sched(0, Step.PROPOSE, 1000)], `self ${self}: start`);
    t.same(n.feed(proposal(0, B)), [{ type: "validateBlock", height: H, round: 0, block: B }]);
    t.same(n.feed(validated(B)), [castVote(PREVOTE, 0, B)], `self ${self}: prevote B`);
    const prevoteFx = [0, 1, 2, 3].map((i) => n.feed(pv(0, B, i)));
    t.same(prevoteFx, [[], [], [castVote(PRECOMMIT, 0, B)], []], `self ${self}: precommit on the third prevote, once`);
    const precommitFx = [3, 1, 0, 2].map((i) => n.feed(pc(0, B, i)));
    t.same(precommitFx[0], []);
    t.same(precommitFx[1], []);
    t.same(precommitFx[2], [
      {
        type: "commit",
        block: B,
        commit: { height: H, round: 0, blockHash: B.hash, signatures: [0, 1, 3].map((i) => ({ validatorIndex: i, signature: mkVote(PRECOMMIT, 0, B, i).signature })) },
      },
    ], `self ${self}: commit on the third precommit, signatures sorted by index`);
    t.same(precommitFx[3], [], "the fourth precommit after the decision does nothing");
    const view = inspect(n.s);
    t.equal(view.step, "decided");
    t.equal(view.lockedRound, 0);
    t.equal(view.lockedBlock, toHex(B.hash));
  }
});

t.test("unequal powers: +2/3 and +1/3 are counted by voting power", async (t) => {
  const vs = vals([5, 1, 1, 1]); // total 8: 2f+1 needs > 16/3, i.e. 6; f+1 needs > 8/3, i.e. 3
  t.equal(proposerIndex(vs, 0), 0);
  const n = new Node(vs, 1);
  n.feed(proposal(0, B));
  t.same(n.feed(validated(B)), [castVote(PREVOTE, 0, B)]);
  t.same(n.feed(pv(0, B, 0)), [], "5 of 8 is not +2/3");
  t.same(n.feed(pv(0, B, 1)), [castVote(PRECOMMIT, 0, B)], "6 of 8 is");

  const few = new Node(vs, 1);
  t.same(few.feed(pv(0, B, 1), pv(0, B, 2), pv(0, B, 3)), [], "three validators holding 3 of 8 are neither a polka nor 2f+1 of anything");
  t.same(few.feed(pv(2, null, 2), pc(2, null, 3)), [], "2 of 8 in round 2 is not f+1");
  t.equal(few.s.round, 0);

  const big = new Node(vs, 2);
  const fx = big.feed(pv(2, null, 0));
  t.equal(big.s.round, 2, "one validator holding 5 of 8 is f+1 alone");
  t.equal(proposerIndex(vs, 2), 1, "weighted round robin: 0, 0, then 1");
  t.same(fx, [sched(2, Step.PROPOSE, 2000)]);
  t.same(new Node(vs, 1).feed(pv(2, null, 0)), [{ type: "buildProposal", height: H, round: 2 }], "the proposer of round 2 builds on skipping to it");
});

t.test("propose timeout: prevote nil; stale or mismatched timeouts do nothing", async (t) => {
  const n = new Node(EQ4, 1);
  const s0 = n.s;
  t.same(n.feed(timeout(0, Step.PREVOTE)), [], "not in step prevote");
  t.same(n.feed(timeout(0, Step.PRECOMMIT, 2n)), [], "another height");
  t.same(n.feed(timeout(1, Step.PROPOSE)), [], "another round");
  t.equal(n.s, s0, "state untouched by ignored timeouts");
  t.same(n.feed(timeout(0, Step.PROPOSE)), [castVote(PREVOTE, 0, null)]);
  t.same(n.feed(timeout(0, Step.PROPOSE)), [], "only once");
  t.same(n.feed(proposal(0, B), validated(B)), [{ type: "validateBlock", height: H, round: 0, block: B }], "a late proposal is validated but not prevoted");
});

t.test("nil polka: precommit nil; mixed prevotes: timeout prevote, then precommit nil", async (t) => {
  const n = new Node(EQ4, 1);
  n.feed(timeout(0, Step.PROPOSE));
  t.same(n.feed(pv(0, null, 0), pv(0, null, 2)), []);
  t.same(n.feed(pv(0, null, 3)), [castVote(PRECOMMIT, 0, null)], "+2/3 prevotes for nil");

  const m = new Node(EQ4, 1);
  m.feed(proposal(0, B), validated(B));
  t.same(m.feed(pv(0, B, 0), pv(0, null, 2)), []);
  t.same(m.feed(pv(0, C, 3)), [sched(0, Step.PREVOTE, 500)], "+2/3 prevotes of mixed values");
  t.same(m.feed(pv(0, null, 1)), [], "timeout prevote scheduled once per round");
  t.same(m.feed(timeout(0, Step.PREVOTE)), [castVote(PRECOMMIT, 0, null)]);
  t.same(m.feed(timeout(0, Step.PREVOTE)), [], "only once");
});

t.test("precommit timeout starts the next round: the proposer builds, the others wait longer", async (t) => {
  for (const self of [1, 2]) {
    const n = new Node(EQ4, self);
    n.feed(timeout(0, Step.PROPOSE));
    t.same(n.feed(pc(0, null, 0), pc(0, B, 2)), []);
    t.same(n.feed(pc(0, null, 3)), [sched(0, Step.PRECOMMIT, 500)], "+2/3 precommits of mixed values");
    t.same(n.feed(pc(0, null, 1)), [], "scheduled once");
    t.same(n.feed(timeout(0, Step.PRECOMMIT)), self === 1 ? [{ type: "buildProposal", height: H, round: 1 }] : [sched(1, Step.PROPOSE, 1500)]);
    t.same(machine.describe(n.s), { height: H, round: 1, step: Step.PROPOSE, votes: 4 });
    t.same(n.feed(timeout(0, Step.PRECOMMIT)), [], "a timeout of the old round does nothing");
  }
});

t.test("timeouts grow linearly with the round, from the config", async (t) => {
  const config: TendermintConfig = { ...defaultTendermintConfig, timeoutPropose: 100, timeoutProposeDelta: 10, timeoutPrevote: 50, timeoutPrevoteDelta: 5, timeoutPrecommit: 70, timeoutPrecommitDelta: 7 };
  const m = createTendermintMachine(config);
  const n = new Node(EQ4, null, m); // a follower: never the proposer, so every round waits for one
  const delays: number[] = [];
  const take = (fx: ConsensusEffect[]) => {
    for (const e of fx) if (e.type === "scheduleTimeout") delays.push(e.delayMs);
  };
  take(n.started);
  for (let r = 0; r < 3; r++) {
    take(n.feed(timeout(r, Step.PROPOSE)));
    take(n.feed(pv(r, B, 0), pv(r, null, 1), pv(r, C, 2)));
    take(n.feed(timeout(r, Step.PREVOTE)));
    take(n.feed(pc(r, B, 0), pc(r, null, 1), pc(r, C, 2)));
    take(n.feed(timeout(r, Step.PRECOMMIT)));
  }
  t.same(delays, [100, 50, 70, 110, 55, 77, 120, 60, 84, 130]);
  t.same(new Node(EQ4, 3).feed(timeout(0, Step.PROPOSE), pc(2, null, 0), pc(2, null, 1)), [castVote(PREVOTE, 0, null), sched(2, Step.PROPOSE, 2000)], "defaults: 1000 + 2 x 500");
  t.throws(() => createTendermintMachine({ ...defaultTendermintConfig, timeoutPrevote: 0.5 }), RangeError, "no fractional milliseconds");
});

t.test("lock: a validator locked on B prevotes nil for another value later, and B again", async (t) => {
  const n = lockedOnBAtRound0(2);
  t.equal(inspect(n.s).lockedRound, 0);
  t.equal(inspect(n.s).lockedBlock, toHex(B.hash));
  n.feed(pc(0, null, 0), pc(0, null, 1), pc(0, null, 3));
  t.same(n.feed(timeout(0, Step.PRECOMMIT)), [sched(1, Step.PROPOSE, 1500)]);
  t.same(n.feed(proposal(1, C)), [{ type: "validateBlock", height: H, round: 1, block: C }, castVote(PREVOTE, 1, null)], "locked on B: C is prevoted nil without waiting for validation");
  t.same(n.feed(validated(C)), [], "nothing more once C is found valid");

  // control: an unlocked validator in the same position prevotes C
  const free = new Node(EQ4, 2);
  free.feed(timeout(0, Step.PROPOSE), pc(0, null, 0), pc(0, null, 1), pc(0, null, 3), timeout(0, Step.PRECOMMIT), proposal(1, C));
  t.same(free.feed(validated(C)), [castVote(PREVOTE, 1, C)]);

  // the same locked validator, offered B again with no proof of lock: lockedValue = v
  const again = lockedOnBAtRound0(2);
  again.feed(pc(0, null, 0), pc(0, null, 1), pc(0, null, 3), timeout(0, Step.PRECOMMIT));
  t.same(again.feed(proposal(1, B)), [castVote(PREVOTE, 1, B)], "B was validated already: no second validateBlock");
});

t.test("unlock: a proposal whose polRound >= lockedRound with its polka is prevoted; one below is not", async (t) => {
  // Locked on B at round 0, then round 2 proposes C with a polka for C in round 1.
  const n = lockedOnBAtRound0(3);
  n.feed(pc(0, null, 0), pc(0, null, 1), pc(0, null, 2), timeout(0, Step.PRECOMMIT));
  t.same(n.feed(proposal(1, C), validated(C, true, 1)), [{ type: "validateBlock", height: H, round: 1, block: C }, castVote(PREVOTE, 1, null)]);
  t.same(n.feed(proposal(2, C, 1)), [], "a proposal for round 2 is held; one sender is not f+1");
  t.same(n.feed(pv(2, C, 0)), [sched(2, Step.PROPOSE, 2000)], "the proposer of round 2 and validator 0: f+1, skip to round 2");
  t.same(n.feed(pv(1, C, 0), pv(1, C, 1)), [], "no polka for C in round 1 yet: wait");
  t.same(n.feed(pv(1, C, 2)), [castVote(PREVOTE, 2, C)], "polka for C at round 1 >= lockedRound 0: prevote C");
  t.same(n.feed(pv(2, C, 1), pv(2, C, 2)), [castVote(PRECOMMIT, 2, C)], "a polka for C in round 2: relock on C");
  t.same([inspect(n.s).lockedRound, inspect(n.s).lockedBlock], [2, toHex(C.hash)]);

  // Locked on B at round 1, then round 2 proposes C with a polka for C in round 0: refused.
  const m = new Node(EQ4, 3);
  m.feed(timeout(0, Step.PROPOSE), proposal(1, B), pv(1, B, 0));
  t.equal(m.s.round, 1, "skipped to round 1");
  t.same(m.feed(validated(B, true, 1)), [castVote(PREVOTE, 1, B)]);
  t.same(m.feed(pv(1, B, 3)), [], "its own prevote, fed back: 2 of 4");
  t.same(m.feed(pv(1, B, 2)), [castVote(PRECOMMIT, 1, B)]);
  t.equal(inspect(m.s).lockedRound, 1);
  m.feed(proposal(2, C, 0), pv(2, null, 0));
  t.equal(m.s.round, 2);
  t.same(m.feed(pv(0, C, 0), pv(0, C, 1)), []);
  t.same(m.feed(pv(0, C, 2)), [castVote(PREVOTE, 2, null)], "polka at round 0 < lockedRound 1 for another value: prevote nil");
});

t.test("validValue: a later proposer re-proposes it with its polRound (signProposal)", async (t) => {
  // locked and valid: self 1 proposes round 1
  const n = lockedOnBAtRound0(1);
  n.feed(pc(0, null, 0), pc(0, null, 2), pc(0, null, 3));
  t.same(n.feed(timeout(0, Step.PRECOMMIT)), [{ type: "signProposal", height: H, round: 1, polRound: 0, block: B }]);
  t.same(n.feed(proposal(1, B, 0)), [castVote(PREVOTE, 1, B)], "its own re-proposal, fed back, is prevoted");

  // valid but not locked: the polka completes after self already precommitted nil (step >= prevote)
  const m = new Node(EQ4, 1);
  m.feed(timeout(0, Step.PROPOSE), pv(0, null, 1), pv(0, B, 0));
  t.same(m.feed(pv(0, B, 2)), [sched(0, Step.PREVOTE, 500)]);
  t.same(m.feed(timeout(0, Step.PREVOTE)), [castVote(PRECOMMIT, 0, null)]);
  t.same(m.feed(proposal(0, B), validated(B)), [{ type: "validateBlock", height: H, round: 0, block: B }]);
  const before = inspect(m.s);
  t.same([before.validRound, before.validBlock], [-1, null]);
  t.same(m.feed(pv(0, B, 3)), [], "polka for B while in precommit: no vote");
  const view = inspect(m.s);
  t.same([view.lockedRound, view.lockedBlock, view.validRound, view.validBlock], [-1, null, 0, toHex(B.hash)]);
  m.feed(pc(0, null, 0), pc(0, null, 2), pc(0, null, 3));
  t.same(m.feed(timeout(0, Step.PRECOMMIT)), [{ type: "signProposal", height: H, round: 1, polRound: 0, block: B }]);
});

t.test("round skip on f+1 messages of a higher round; distinct senders only; bounded window", async (t) => {
  const n = new Node(EQ4, 1);
  t.same(n.feed(pv(3, null, 2), pc(3, null, 2)), [], "one validator twice is still 1/4");
  t.same(n.feed(pc(3, B, 3)), [sched(3, Step.PROPOSE, 2500)], "two validators: 2/4 > 1/3, skip to round 3");
  t.equal(n.s.round, 3);
  t.same(n.feed(pv(2, null, 0), pv(2, null, 3)), [], "no skip backwards");

  const far = new Node(EQ4, 1);
  const s0 = far.s;
  t.same(far.feed(pv(11, null, 2), pv(11, null, 3), pc(11, null, 0)), [], "beyond round + 10: dropped");
  t.equal(far.s, s0);
  t.same(far.feed(pv(10, null, 2), pv(10, null, 3)), [sched(10, Step.PROPOSE, 6000)], "round + 10 is kept");
  t.equal(far.s.round, 10);

  // The proposer's own proposal counts as a message of its round.
  const p = new Node(EQ4, 0);
  t.same(p.feed(proposal(2, C)), [{ type: "validateBlock", height: H, round: 2, block: C }], "the proposal of round 2 alone is 1/4");
  t.same(p.feed(pv(2, C, 3)), [sched(2, Step.PROPOSE, 2000)], "with a vote from another validator: f+1");
});

t.test("threshold boundaries: exactly 1/3 is not f+1, exactly 2/3 is not 2f+1", async (t) => {
  const vs = vals([2, 1, 1, 1, 1]); // total 6
  const n = new Node(vs, 1);
  t.same(n.feed(pv(2, null, 0)), [], "2 of 6 is exactly 1/3: no skip");
  t.equal(n.s.round, 0);
  const fx = n.feed(pv(2, null, 2));
  t.equal(n.s.round, 2, "3 of 6 skips");
  t.equal(fx.length, 1);

  const m = new Node(vs, 1);
  m.feed(proposal(0, B), validated(B));
  t.same(m.feed(pv(0, B, 0), pv(0, B, 2), pv(0, B, 3)), [], "4 of 6 is exactly 2/3: no polka, no 2f+1");
  t.same(m.feed(pv(0, B, 4)), [castVote(PRECOMMIT, 0, B)], "5 of 6 is a polka");
});

t.test("equivocation: evidence once per (validator, round, type); a conflicting vote counts for its own value", async (t) => {
  const n = new Node(EQ4, 1);
  n.feed(timeout(0, Step.PROPOSE));
  const first = mkVote(PREVOTE, 0, B, 2);
  t.same(n.feed({ type: "vote", vote: first }), []);
  t.same(n.feed(pv(0, B, 2)), [], "the same vote again is a duplicate, not evidence");
  t.same(n.feed(pv(0, null, 2)), [{ type: "evidence", first, second: mkVote(PREVOTE, 0, null, 2) }], "reported, and counted for nil");
  t.same(n.feed(pv(0, C, 2)), [], "reported once; a third value counts for C");
  t.same(n.feed(pv(0, null, 2)), [], "the same conflicting vote again is a duplicate");
  // 2's nil vote counts (test/sim found that dropping it can stall a height): 2 + 0 + 3 is a nil polka
  t.same(n.feed(pv(0, null, 0)), []);
  t.same(n.feed(pv(0, null, 3)), [castVote(PRECOMMIT, 0, null)], "3 of 4 for nil, counting the equivocator's nil vote");
  const round0 = inspect(n.s).rounds[0]!;
  const values = Object.fromEntries(round0.prevotes.byValue.map((v) => [v.blockHash ?? "nil", v.power]));
  t.same(values, { nil: "3", [toHex(B.hash)]: "1", [toHex(C.hash)]: "1" });
  t.same(round0.prevotes.voters, [0, 2, 3], "each validator once among the voters");
  t.equal(round0.prevotes.power, "3", "and once in the any-value total");
  // another type and another round are separate
  const pcFirst = mkVote(PRECOMMIT, 0, B, 2);
  t.same(n.feed({ type: "vote", vote: pcFirst }), []);
  t.same(n.feed(pc(0, C, 2)), [{ type: "evidence", first: pcFirst, second: mkVote(PRECOMMIT, 0, C, 2) }]);
  t.same(n.feed(pv(1, C, 2)), [], "a different vote in another round is not equivocation");
});

t.test("an equivocator's votes count for at most MAX_VALUES_PER_VALIDATOR values", async (t) => {
  let set = emptyVoteSet;
  const hashes = [0, 1, 2, 3, 4, 5].map((i) => new Uint8Array(32).fill(i + 1));
  const outcomes = hashes.map((h) => {
    const out = addVote(set, { type: PREVOTE, height: 1n, round: 0, blockHash: h, validatorIndex: 0, signature: new Uint8Array(64) }, 1n, 4n);
    if (out.kind !== "ignored") set = out.set;
    return out.kind;
  });
  t.same(outcomes, ["added", "equivocation", "added", "added", "ignored", "ignored"]);
  t.equal(MAX_VALUES_PER_VALIDATOR, 4);
  t.equal(set.power, 1n, "counted once in the any-value total");
  t.equal(votesFor(set, valueKey(hashes[3]!)).length, 1);
  t.equal(votesFor(set, valueKey(hashes[4]!)).length, 0);
});

t.test("commit carries exactly the precommits for the block at its round", async (t) => {
  const n = new Node(EQ4, 2);
  n.feed(proposal(0, B), validated(B));
  t.same(n.feed(pc(0, B, 3), pc(0, null, 1), pc(0, B, 0)), [sched(0, Step.PRECOMMIT, 500)], "+2/3 of mixed precommits, 2 for B");
  const fx = n.feed(pc(0, B, 2));
  t.same(fx, [
    { type: "commit", block: B, commit: { height: H, round: 0, blockHash: B.hash, signatures: [0, 2, 3].map((i) => ({ validatorIndex: i, signature: mkVote(PRECOMMIT, 0, B, i).signature })) } },
  ]);

  // A decision in a higher round than ours, on the block of an earlier proposal; round-0
  // precommits for the same block stay out of the round-1 commit.
  const m = new Node(EQ4, 2);
  m.feed(proposal(0, B), validated(B), pc(0, B, 3));
  t.same(m.feed(pc(1, B, 0)), []);
  t.same(m.feed(pc(1, B, 1)), [sched(1, Step.PROPOSE, 1500)], "f+1 in round 1: skip");
  t.same(m.feed(pc(1, B, 3)), [
    { type: "commit", block: B, commit: { height: H, round: 1, blockHash: B.hash, signatures: [0, 1, 3].map((i) => ({ validatorIndex: i, signature: mkVote(PRECOMMIT, 1, B, i).signature })) } },
  ]);

  // Not before the block is known valid
  const v = new Node(EQ4, 2);
  v.feed(proposal(0, B));
  t.same(v.feed(pc(0, B, 0), pc(0, B, 1), pc(0, B, 3)), [sched(0, Step.PRECOMMIT, 500)], "+2/3 precommits but B not validated yet");
  t.equal(v.feed(validated(B))[0]?.type, "commit");
});

t.test("after the decision, nothing happens until the next startHeight", async (t) => {
  const n = new Node(vals([1]), 0);
  n.feed(proposal(0, B), validated(B), pv(0, B, 0), pc(0, B, 0));
  const done = n.s;
  t.equal(done.decision, B);
  for (const input of [proposal(1, C), validated(C), pv(1, null, 0), pc(0, C, 0), timeout(0, Step.PRECOMMIT), timeout(0, Step.PROPOSE)]) {
    const r = machine.step(done, input);
    t.same(r.effects, [], input.type);
    t.equal(r.state, done);
  }
  t.same(machine.step(done, start(vals([1]), 0, 2n)).effects, [{ type: "buildProposal", height: 2n, round: 0 }]);
});

t.test("an invalid block is prevoted nil and never locked on or committed", async (t) => {
  const n = new Node(EQ4, 2);
  t.same(n.feed(proposal(0, B)), [{ type: "validateBlock", height: H, round: 0, block: B }]);
  t.same(n.feed(validated(B, true, 0, 2n), validated(C)), [], "validations for another height or an unknown block are ignored");
  t.same(n.feed(validated(B, false)), [castVote(PREVOTE, 0, null)]);
  t.same(n.feed(validated(B, true)), [], "the first answer stands");
  t.same(n.feed(pv(0, B, 0), pv(0, B, 1)), []);
  t.same(n.feed(pv(0, B, 3)), [sched(0, Step.PREVOTE, 500)], "a polka for an invalid block is just +2/3 of anything");
  t.same(n.feed(pc(0, B, 0), pc(0, B, 1), pc(0, B, 3)), [sched(0, Step.PRECOMMIT, 500)], "and +2/3 precommits for it decide nothing");
  t.equal(n.s.decision, null);
  t.same(n.feed(timeout(0, Step.PRECOMMIT)), [sched(1, Step.PROPOSE, 1500)]);
  t.same(n.feed(proposal(1, B)), [castVote(PREVOTE, 1, null)], "known invalid: no second validateBlock, prevote nil at once");
});

t.test("votes and proposals that do not belong are ignored", async (t) => {
  const n = new Node(EQ4, 1);
  n.feed(proposal(0, B), validated(B));
  const s0 = n.s;
  const bad: ConsensusInput[] = [
    pv(0, B, 4), pv(0, B, -1), pv(0, B, 1.5), pv(0, B, Number.NaN),
    pv(0, B, 0, 2n), pv(0, B, 0, 0n), pc(0, B, 0, 2n),
    pv(-1, B, 0), pv(0.5, B, 0), pv(11, B, 0), pv(Number.POSITIVE_INFINITY, B, 0),
    { type: "vote", vote: { ...mkVote(PREVOTE, 0, B, 0), type: 3 as VoteType } },
    proposal(0, C, -1, 2n), proposal(1, C, 1), proposal(1, C, 2), proposal(1, C, -2), proposal(12, C), proposal(0, C),
  ];
  for (const input of bad) {
    const r = machine.step(s0, input);
    t.same(r.effects, [], JSON.stringify(input, (_, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? undefined : v)));
    t.equal(r.state, s0);
  }
  t.same(machine.step(machine.initial(), pv(0, B, 0)), { state: machine.initial(), effects: [] }, "before the first startHeight everything is ignored");
  t.throws(() => machine.step(machine.initial(), start([], 0)), RangeError);
  t.throws(() => machine.step(machine.initial(), start(vals([1, 0]), 0)), RangeError);
  t.throws(() => machine.step(machine.initial(), start(EQ4, 4)), RangeError);
});

t.test("a non-validator follows and decides without casting anything", async (t) => {
  const n = new Node(EQ4, null);
  const fx = n.feed(proposal(0, B), validated(B), pv(0, B, 0), pv(0, B, 1), pv(0, B, 2), pc(0, B, 0), pc(0, B, 1), pc(0, B, 3));
  t.same(fx.map((e) => e.type), ["validateBlock", "commit"]);
});

function deepFreeze<T>(x: T): T {
  if (x === null || typeof x !== "object" || ArrayBuffer.isView(x) || Object.isFrozen(x)) return x;
  for (const v of Object.values(x)) deepFreeze(v);
  return Object.freeze(x);
}

t.test("purity: the same state and input give the same output, and the old state is untouched", async (t) => {
  const script: ConsensusInput[] = [
    start(EQ4, 1), pv(2, C, 3), proposal(0, B), validated(B), pv(0, B, 0), pv(0, B, 2), pv(0, C, 2), pv(0, B, 3),
    pc(0, null, 0), pc(0, null, 2), pc(0, null, 3), timeout(0, Step.PRECOMMIT), proposal(1, B, 0), pv(1, B, 0), pv(1, B, 2),
    pv(1, B, 1), pc(1, B, 0), pc(1, B, 2), pc(1, B, 1),
  ];
  let s = machine.initial();
  let effects = 0;
  for (const input of script) {
    const snapshot = structuredClone(s);
    deepFreeze(s); // any mutation of the old state throws in strict mode
    const a = machine.step(s, input);
    const b = machine.step(s, input);
    t.same(a, b);
    t.same(s, snapshot);
    effects += a.effects.length;
    s = a.state;
  }
  t.equal(s.decision, B, "the script decides");
  t.ok(effects > 8);
});

t.test("describe and inspect", async (t) => {
  t.same(machine.describe(machine.initial()), { height: 0n, round: 0, step: null, votes: 0 });
  t.equal(inspect(machine.initial()).step, "idle");
  const n = new Node(vals([3, 1, 1, 1]), 1);
  n.feed(proposal(0, B), validated(B), pv(0, B, 0), pv(0, null, 2), pc(0, null, 3), pv(1, null, 3));
  t.same(machine.describe(n.s), { height: H, round: 0, step: Step.PREVOTE, votes: 4 });
  const view = inspect(n.s);
  t.same(JSON.parse(JSON.stringify(view)), view, "JSON-ready");
  t.match(view, { engine: "tendermint", height: 1, round: 0, step: "prevote", totalPower: "6", self: 1, proposer: 0, lockedRound: -1, lockedBlock: null, validRound: -1 });
  t.same(view.rounds, [
    {
      round: 0,
      proposal: { blockHash: toHex(B.hash), polRound: -1 },
      prevotes: { power: "4", voters: [0, 2], byValue: [{ blockHash: null, power: "1" }, { blockHash: toHex(B.hash), power: "3" }] },
      precommits: { power: "1", voters: [3], byValue: [{ blockHash: null, power: "1" }] },
    },
    { round: 1, proposal: null, prevotes: { power: "1", voters: [3], byValue: [{ blockHash: null, power: "1" }] }, precommits: { power: "0", voters: [], byValue: [] } },
  ]);
});

// ---- safety under random interleavings ----

/** One-way latency tiers (ms) of the simulated links: from a LAN to far beyond the timeouts. */
const LATENCY = [5, 50, 300, 1000, 10_000];

interface Network {
  /** latency tier of each directed link from -> to, index 4 * from + to */
  readonly links: readonly number[];
  /** per-message jitter (ms), used in turn */
  readonly jitter: readonly number[];
}

/**
 * Four honest validators run one height. Every message reaches everyone (every proposal too),
 * each after its link's latency plus jitter, so that messages overtake each other and arrive
 * after the timeouts; timeouts fire after their delayMs on the same clock. Each proposer builds a
 * new block per round, so rounds disagree and only the locking rules keep the decisions equal.
 */
function simulate(net: Network): { decided: (string | null)[]; evidence: number; rounds: number } {
  const n = 4;
  const states = Array.from({ length: n }, () => machine.initial());
  const decided: (string | null)[] = Array.from({ length: n }, () => null);
  const pending: { at: number; seq: number; to: number; input: ConsensusInput }[] = [];
  let now = 0;
  let seq = 0;
  let sent = 0;
  let evidence = 0;
  const deliver = (to: number, input: ConsensusInput, delay: number) => pending.push({ at: now + delay, seq: seq++, to, input });
  const broadcast = (from: number, input: ConsensusInput) => {
    for (let to = 0; to < n; to++) {
      const delay = to === from ? 0 : LATENCY[net.links[4 * from + to]!]! + net.jitter[sent++ % net.jitter.length]!;
      deliver(to, input, delay);
    }
  };
  const run = (i: number, input: ConsensusInput) => {
    const r = machine.step(states[i]!, input);
    states[i] = r.state;
    for (const e of r.effects) {
      switch (e.type) {
        case "buildProposal":
          broadcast(i, proposal(e.round, block(16 * e.round + i + 1), -1, e.height));
          break;
        case "signProposal":
          broadcast(i, proposal(e.round, e.block, e.polRound, e.height));
          break;
        case "validateBlock":
          deliver(i, validated(e.block, true, e.round, e.height), 1);
          break;
        case "castVote":
          broadcast(i, { type: "vote", vote: { type: e.voteType, height: e.height, round: e.round, blockHash: e.blockHash, validatorIndex: i, signature: sig(i, e.round, e.voteType) } });
          break;
        case "scheduleTimeout":
          deliver(i, timeout(e.round, e.step, e.height), e.delayMs);
          break;
        case "commit":
          if (decided[i] !== null) throw new Error(`validator ${i} decided twice`);
          decided[i] = toHex(e.block.hash);
          break;
        case "evidence":
          evidence++;
          break;
      }
    }
  };
  for (let i = 0; i < n; i++) run(i, start(EQ4, i));
  for (let steps = 0; steps < 5000 && pending.length > 0 && decided.includes(null); steps++) {
    let k = 0;
    for (let j = 1; j < pending.length; j++) {
      const a = pending[j]!;
      const b = pending[k]!;
      if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) k = j;
    }
    const ev = pending.splice(k, 1)[0]!;
    now = ev.at;
    run(ev.to, ev.input);
  }
  return { decided, evidence, rounds: Math.max(...states.map((s) => s.round)) };
}

t.test("property: honest validators never decide different blocks, and all decide", async (t) => {
  let laterRounds = 0;
  const network = fc.record({
    links: fc.array(fc.integer({ min: 0, max: LATENCY.length - 1 }), { minLength: 16, maxLength: 16 }),
    jitter: fc.array(fc.nat({ max: 99 }), { minLength: 1, maxLength: 64 }),
  });
  fc.assert(
    fc.property(network, (net) => {
      const { decided, evidence, rounds } = simulate(net);
      if (rounds > 0) laterRounds++;
      // safety: one value; liveness: delays are bounded and timeouts grow, so everyone decides
      return evidence === 0 && decided.every((d) => d !== null && d === decided[0]);
    }),
    { numRuns: 2000, seed: 20180707 },
  );
  t.ok(laterRounds > 100, `many runs need more than one round (${laterRounds})`);
});
