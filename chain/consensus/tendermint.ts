/**
 * The Tendermint BFT engine: Algorithm 1 of Buchman, Kwon, Milosevic, "The latest gossip on
 * BFT consensus" (2018), as a pure state machine (docs/protocol.md section 3, types.ts).
 *
 * Every input first updates the message log of the current height (proposals, prevotes,
 * precommits, block validity), then `settle` fires the paper's upon-rules in a fixed order until
 * none applies. The rules (line numbers of Algorithm 1):
 *
 *   11 StartRound      proposer: propose validValue (signProposal) or a new block (buildProposal);
 *                      others: schedule OnTimeoutPropose
 *   22 proposal(v,-1)  step propose: prevote v if valid(v) and (lockedRound = -1 or lockedValue = v)
 *   28 proposal(v,vr)  + 2f+1 prevotes(vr, v), step propose, 0 <= vr < round:
 *                      prevote v if valid(v) and (lockedRound <= vr or lockedValue = v)
 *   34 2f+1 prevotes   of anything, step prevote, first time: schedule OnTimeoutPrevote
 *   36 proposal(v,*)   + 2f+1 prevotes(round, v), valid(v), step >= prevote, first time:
 *                      if step = prevote, lock v and precommit v; validValue = v
 *   44 2f+1 prevotes   for nil, step prevote: precommit nil
 *   47 2f+1 precommits of anything, first time: schedule OnTimeoutPrecommit
 *   49 2f+1 precommits (r, v) for any round r, v known and valid: decide (commit effect)
 *   55 f+1 messages    of any kind for a round > round: StartRound(that round)
 *   57/61/65 timeouts  propose: prevote nil; prevote: precommit nil; precommit: next round
 *
 * "2f+1" and "f+1" are more than 2/3 and more than 1/3 of the total voting power.
 *
 * Trust boundary: the driver verifies every signature, and that a proposal is signed by the
 * proposer of its round, before feeding it; the engine checks everything else (height, round
 * window, known validator index, one vote per validator and step, polRound range).
 *
 * One relaxation of the paper, safe because safety rests on the precommits alone: rule 49
 * accepts the block from a proposal of ANY round of the height, not only round r (a node that
 * missed the re-proposal of a block it already holds still decides).
 *
 * Own messages: the driver feeds our proposals and votes back as ordinary inputs, and only then
 * are they counted. The machine never casts two votes of one type in a round: a vote is cast
 * only on leaving the step before it, and rounds only grow.
 */
import { toHex } from "../../primitives/bytes.ts";
import { VoteType, type Block, type Commit, type CommitSig } from "../block.ts";
import { proposerIndex } from "./proposer.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type ConsensusMachine, type ConsensusValidator, type Proposal, type Vote } from "./types.ts";
import { NIL_KEY, addVote, emptyVoteSet, oneThird, powerFor, twoThirds, valueKey, voteOf, votesFor, type ValueKey, type VoteSet } from "./votes.ts";

export interface TendermintConfig {
  /** ms; round r waits timeoutPropose + r * timeoutProposeDelta for the proposal */
  readonly timeoutPropose: number;
  readonly timeoutProposeDelta: number;
  /** ms; after +2/3 prevotes of mixed values */
  readonly timeoutPrevote: number;
  readonly timeoutPrevoteDelta: number;
  /** ms; after +2/3 precommits of mixed values, before the next round */
  readonly timeoutPrecommit: number;
  readonly timeoutPrecommitDelta: number;
  /** messages for rounds beyond round + maxRoundsAhead are dropped (bounds memory under spam) */
  readonly maxRoundsAhead: number;
}

export const defaultTendermintConfig: TendermintConfig = {
  timeoutPropose: 1000,
  timeoutProposeDelta: 500,
  timeoutPrevote: 500,
  timeoutPrevoteDelta: 250,
  timeoutPrecommit: 500,
  timeoutPrecommitDelta: 250,
  maxRoundsAhead: 10,
};

/** Everything heard for one round of the current height. */
export interface RoundLog {
  /** the first proposal for the round (the driver only feeds the round proposer's) */
  readonly proposal: Proposal | null;
  /** validator index of the proposal's sender (the round's proposer), -1 without a proposal */
  readonly proposalFrom: number;
  readonly prevotes: VoteSet;
  readonly precommits: VoteSet;
  /** power of the distinct validators heard from in this round, by any message (rule 55) */
  readonly senderPower: bigint;
}

const emptyRound: RoundLog = { proposal: null, proposalFrom: -1, prevotes: emptyVoteSet, precommits: emptyVoteSet, senderPower: 0n };

export type Validity = "pending" | "valid" | "invalid";

export interface TendermintState {
  readonly height: bigint;
  readonly round: number;
  readonly step: Step;
  /** empty until the first startHeight: the machine ignores everything until then */
  readonly validators: readonly ConsensusValidator[];
  readonly totalPower: bigint;
  readonly self: number | null;
  /** decision[h]: once set, the height is over until the next startHeight */
  readonly decision: Block | null;
  readonly lockedValue: Block | null;
  readonly lockedRound: number;
  readonly validValue: Block | null;
  readonly validRound: number;
  /** index = round; dense up to the highest round heard from (at most round + maxRoundsAhead) */
  readonly rounds: readonly RoundLog[];
  /** blocks of the proposals of this height, by hash (hex) */
  readonly blocks: Readonly<Record<string, Block>>;
  /** outcome of validateBlock per block hash (hex); absent = never asked */
  readonly validity: Readonly<Record<string, Validity>>;
  /** the rounds in which the one-shot rules 34, 36 and 47 last fired (-1: never) */
  readonly prevoteTimeoutRound: number;
  readonly polkaRound: number;
  readonly precommitTimeoutRound: number;
  /** prevotes and precommits held for this height */
  readonly voteCount: number;
}

type Result = { state: TendermintState; effects: ConsensusEffect[] };

const isRound = (r: number): boolean => Number.isSafeInteger(r) && r >= 0;

function roundLog(s: TendermintState, r: number): RoundLog {
  return s.rounds[r] ?? emptyRound;
}

function withRound(s: TendermintState, r: number, log: RoundLog): TendermintState {
  const rounds = Array.from({ length: Math.max(s.rounds.length, r + 1) }, (_, i) => (i === r ? log : (s.rounds[i] ?? emptyRound)));
  return { ...s, rounds };
}

/** Whether validator i has sent anything in this round yet (for rule 55's distinct senders). */
function heardFrom(log: RoundLog, i: number): boolean {
  return voteOf(log.prevotes, i) !== null || voteOf(log.precommits, i) !== null || log.proposalFrom === i;
}

function initialState(): TendermintState {
  return {
    height: 0n, round: 0, step: Step.PROPOSE, validators: [], totalPower: 0n, self: null, decision: null,
    lockedValue: null, lockedRound: -1, validValue: null, validRound: -1, rounds: [], blocks: {}, validity: {},
    prevoteTimeoutRound: -1, polkaRound: -1, precommitTimeoutRound: -1, voteCount: 0,
  };
}

export function createTendermintMachine(config: TendermintConfig = defaultTendermintConfig): ConsensusMachine<TendermintState> {
  for (const [k, v] of Object.entries(config)) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new RangeError(`tendermint config ${k} must be a non-negative integer, got ${String(v)}`);
  }

  const delay = (step: Step, round: number): number =>
    step === Step.PROPOSE ? config.timeoutPropose + round * config.timeoutProposeDelta
    : step === Step.PREVOTE ? config.timeoutPrevote + round * config.timeoutPrevoteDelta
    : config.timeoutPrecommit + round * config.timeoutPrecommitDelta;

  const schedule = (s: TendermintState, step: Step, fx: ConsensusEffect[]): void => {
    fx.push({ type: "scheduleTimeout", height: s.height, round: s.round, step, delayMs: delay(step, s.round) });
  };

  const cast = (s: TendermintState, voteType: VoteType, blockHash: Uint8Array | null, fx: ConsensusEffect[]): void => {
    if (s.self !== null) fx.push({ type: "castVote", voteType, height: s.height, round: s.round, blockHash });
  };

  const prevote = (s: TendermintState, blockHash: Uint8Array | null, fx: ConsensusEffect[]): TendermintState => {
    cast(s, VoteType.PREVOTE, blockHash, fx);
    return { ...s, step: Step.PREVOTE };
  };

  const precommit = (s: TendermintState, blockHash: Uint8Array | null, fx: ConsensusEffect[]): TendermintState => {
    cast(s, VoteType.PRECOMMIT, blockHash, fx);
    return { ...s, step: Step.PRECOMMIT };
  };

  /** Line 11. */
  const startRound = (s0: TendermintState, round: number, fx: ConsensusEffect[]): TendermintState => {
    const s: TendermintState = { ...s0, round, step: Step.PROPOSE };
    if (s.self !== null && proposerIndex(s.validators, round) === s.self) {
      if (s.validValue !== null) fx.push({ type: "signProposal", height: s.height, round, polRound: s.validRound, block: s.validValue });
      else fx.push({ type: "buildProposal", height: s.height, round });
    } else {
      schedule(s, Step.PROPOSE, fx);
    }
    return s;
  };

  const isLockedOn = (s: TendermintState, key: ValueKey): boolean => s.lockedValue !== null && valueKey(s.lockedValue.hash) === key;

  /** Lines 22 and 28. */
  const ruleProposal = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    if (s.step !== Step.PROPOSE) return null;
    const p = roundLog(s, s.round).proposal;
    if (p === null) return null;
    const key = valueKey(p.block.hash);
    let lockAllows: boolean;
    if (p.polRound === -1) {
      lockAllows = s.lockedRound === -1 || isLockedOn(s, key);
    } else {
      // polRound < round was checked on receipt
      if (!twoThirds(powerFor(roundLog(s, p.polRound).prevotes, key), s.totalPower)) return null;
      lockAllows = s.lockedRound <= p.polRound || isLockedOn(s, key);
    }
    // A proposal the lock forbids is prevoted nil at once; otherwise wait for valid(v).
    if (!lockAllows) return prevote(s, null, fx);
    const validity = s.validity[key];
    if (validity !== "valid" && validity !== "invalid") return null;
    return prevote(s, validity === "valid" ? p.block.hash : null, fx);
  };

  /** Line 34. */
  const rulePrevoteTimeout = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    if (s.step !== Step.PREVOTE || s.prevoteTimeoutRound === s.round) return null;
    if (!twoThirds(roundLog(s, s.round).prevotes.power, s.totalPower)) return null;
    schedule(s, Step.PREVOTE, fx);
    return { ...s, prevoteTimeoutRound: s.round };
  };

  /** Line 36. */
  const rulePolka = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    if (s.step === Step.PROPOSE || s.polkaRound === s.round) return null;
    const log = roundLog(s, s.round);
    if (log.proposal === null) return null;
    const v = log.proposal.block;
    const key = valueKey(v.hash);
    if (log.prevotes.maj23 !== key || s.validity[key] !== "valid") return null;
    let next: TendermintState = { ...s, polkaRound: s.round };
    if (s.step === Step.PREVOTE) next = precommit({ ...next, lockedValue: v, lockedRound: s.round }, v.hash, fx);
    return { ...next, validValue: v, validRound: s.round };
  };

  /** Line 44. */
  const ruleNilPolka = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    if (s.step !== Step.PREVOTE || roundLog(s, s.round).prevotes.maj23 !== NIL_KEY) return null;
    return precommit(s, null, fx);
  };

  /** Line 47. */
  const rulePrecommitTimeout = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    if (s.precommitTimeoutRound === s.round || !twoThirds(roundLog(s, s.round).precommits.power, s.totalPower)) return null;
    schedule(s, Step.PRECOMMIT, fx);
    return { ...s, precommitTimeoutRound: s.round };
  };

  /** Line 49, for every round of the height, lowest first. */
  const ruleDecide = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    for (let r = 0; r < s.rounds.length; r++) {
      const precommits = roundLog(s, r).precommits;
      const key = precommits.maj23;
      if (key === null || key === NIL_KEY || s.validity[key] !== "valid") continue;
      const block = s.blocks[key];
      if (block === undefined) continue;
      const signatures: CommitSig[] = votesFor(precommits, key).map((v) => ({ validatorIndex: v.validatorIndex, signature: v.signature }));
      const commit: Commit = { height: s.height, round: r, blockHash: block.hash, signatures };
      fx.push({ type: "commit", block, commit });
      return { ...s, decision: block };
    }
    return null;
  };

  /** Line 55: skip to the highest round above ours that more than 1/3 of the power is in. */
  const ruleRoundSkip = (s: TendermintState, fx: ConsensusEffect[]): TendermintState | null => {
    for (let r = s.rounds.length - 1; r > s.round; r--) {
      if (oneThird(roundLog(s, r).senderPower, s.totalPower)) return startRound(s, r, fx);
    }
    return null;
  };

  // Order matters only among rules enabled together: deciding first, then moving rounds, then
  // the vote rules of the current round (a polka before its timeout, so that a clean round
  // schedules nothing).
  const rules = [ruleDecide, ruleRoundSkip, ruleProposal, rulePolka, ruleNilPolka, rulePrevoteTimeout, rulePrecommitTimeout];

  /** Fires rules until none applies. Terminates: every firing moves a monotone part of the state. */
  const settle = (s0: TendermintState, fx: ConsensusEffect[]): TendermintState => {
    let s = s0;
    for (;;) {
      if (s.decision !== null) return s;
      let fired: TendermintState | null = null;
      for (const rule of rules) {
        fired = rule(s, fx);
        if (fired !== null) break;
      }
      if (fired === null) return s;
      s = fired;
    }
  };

  const inWindow = (s: TendermintState, round: number): boolean => isRound(round) && round <= s.round + config.maxRoundsAhead;

  const onStartHeight = (input: Extract<ConsensusInput, { type: "startHeight" }>): Result => {
    if (input.validators.length === 0) throw new RangeError("startHeight with an empty validator set");
    let total = 0n;
    input.validators.forEach((v, i) => {
      if (v.power <= 0n) throw new RangeError(`validator ${i} has non-positive power ${v.power}`);
      total += v.power;
    });
    // Copied so that a caller mutating its array later cannot change this height's set.
    const validators = [...input.validators];
    if (input.self !== null && !(Number.isSafeInteger(input.self) && input.self >= 0 && input.self < validators.length)) {
      throw new RangeError(`self index ${input.self} is not in a set of ${validators.length}`);
    }
    const fx: ConsensusEffect[] = [];
    const fresh: TendermintState = { ...initialState(), height: input.height, validators, totalPower: total, self: input.self };
    return { state: settle(startRound(fresh, 0, fx), fx), effects: fx };
  };

  const onProposal = (s: TendermintState, p: Proposal): Result => {
    if (p.height !== s.height || !inWindow(s, p.round)) return { state: s, effects: [] };
    if (!Number.isSafeInteger(p.polRound) || p.polRound < -1 || p.polRound >= p.round) return { state: s, effects: [] };
    const log = roundLog(s, p.round);
    if (log.proposal !== null) return { state: s, effects: [] };
    const sender = proposerIndex(s.validators, p.round);
    const senderPower = heardFrom(log, sender) ? log.senderPower : log.senderPower + s.validators[sender]!.power;
    let next = withRound(s, p.round, { ...log, proposal: p, proposalFrom: sender, senderPower });
    const fx: ConsensusEffect[] = [];
    const key = valueKey(p.block.hash);
    if (!Object.hasOwn(next.blocks, key)) next = { ...next, blocks: { ...next.blocks, [key]: p.block } };
    if (!Object.hasOwn(next.validity, key)) {
      next = { ...next, validity: { ...next.validity, [key]: "pending" } };
      fx.push({ type: "validateBlock", height: s.height, round: p.round, block: p.block });
    }
    return { state: settle(next, fx), effects: fx };
  };

  const onVote = (s: TendermintState, v: Vote): Result => {
    const i = v.validatorIndex;
    if (v.height !== s.height || !inWindow(s, v.round)) return { state: s, effects: [] };
    if (!Number.isSafeInteger(i) || i < 0 || i >= s.validators.length) return { state: s, effects: [] };
    if (v.type !== VoteType.PREVOTE && v.type !== VoteType.PRECOMMIT) return { state: s, effects: [] };
    const log = roundLog(s, v.round);
    const set = v.type === VoteType.PREVOTE ? log.prevotes : log.precommits;
    const power = s.validators[i]!.power;
    const out = addVote(set, v, power, s.totalPower);
    if (out.kind === "ignored") return { state: s, effects: [] };
    const withSet = (vs: VoteSet): RoundLog => (v.type === VoteType.PREVOTE ? { ...log, prevotes: vs } : { ...log, precommits: vs });
    const fx: ConsensusEffect[] = [];
    if (out.kind === "equivocation") fx.push({ type: "evidence", first: out.first, second: v });
    const senderPower = heardFrom(log, i) ? log.senderPower : log.senderPower + power;
    const next = withRound({ ...s, voteCount: s.voteCount + 1 }, v.round, { ...withSet(out.set), senderPower });
    // A conflicting vote counts toward its value too (votes.ts), so the rules run again.
    return { state: settle(next, fx), effects: fx };
  };

  const onBlockValidated = (s: TendermintState, input: Extract<ConsensusInput, { type: "blockValidated" }>): Result => {
    const key = valueKey(input.blockHash);
    if (input.height !== s.height || s.validity[key] !== "pending") return { state: s, effects: [] };
    const fx: ConsensusEffect[] = [];
    const next: TendermintState = { ...s, validity: { ...s.validity, [key]: input.valid ? "valid" : "invalid" } };
    return { state: settle(next, fx), effects: fx };
  };

  /** Lines 57, 61 and 65. */
  const onTimeout = (s: TendermintState, input: Extract<ConsensusInput, { type: "timeout" }>): Result => {
    if (input.height !== s.height || input.round !== s.round) return { state: s, effects: [] };
    const fx: ConsensusEffect[] = [];
    let next: TendermintState;
    if (input.step === Step.PROPOSE && s.step === Step.PROPOSE) next = prevote(s, null, fx);
    else if (input.step === Step.PREVOTE && s.step === Step.PREVOTE) next = precommit(s, null, fx);
    else if (input.step === Step.PRECOMMIT) next = startRound(s, s.round + 1, fx);
    else return { state: s, effects: [] };
    return { state: settle(next, fx), effects: fx };
  };

  return {
    name: "tendermint",
    initial: initialState,
    describe: (s) => ({ height: s.height, round: s.round, step: s.decision !== null || s.validators.length === 0 ? null : s.step, votes: s.voteCount }),
    step(s: TendermintState, input: ConsensusInput): Result {
      if (input.type === "startHeight") return onStartHeight(input);
      if (s.validators.length === 0 || s.decision !== null) return { state: s, effects: [] };
      switch (input.type) {
        case "proposal":
          return onProposal(s, input.proposal);
        case "vote":
          return onVote(s, input.vote);
        case "blockValidated":
          return onBlockValidated(s, input);
        case "timeout":
          return onTimeout(s, input);
      }
    },
  };
}

// ---- inspection (consensus_getState) ----

export interface VoteTally {
  /** decimal string */
  readonly power: string;
  /** validator indices that voted, ascending */
  readonly voters: readonly number[];
  /** power per value; blockHash null is nil; nil first, then by hash */
  readonly byValue: readonly { readonly blockHash: string | null; readonly power: string }[];
}

export interface TendermintInspection {
  readonly engine: "tendermint";
  readonly height: number;
  readonly round: number;
  readonly step: "idle" | "propose" | "prevote" | "precommit" | "decided";
  readonly totalPower: string;
  readonly self: number | null;
  /** proposer of the current round, null before the first height */
  readonly proposer: number | null;
  readonly lockedRound: number;
  readonly lockedBlock: string | null;
  readonly validRound: number;
  readonly validBlock: string | null;
  readonly decidedBlock: string | null;
  /** rounds with any message, and the current round, ascending */
  readonly rounds: readonly {
    readonly round: number;
    readonly proposal: { readonly blockHash: string; readonly polRound: number } | null;
    readonly prevotes: VoteTally;
    readonly precommits: VoteTally;
  }[];
}

function tally(set: VoteSet): VoteTally {
  const voters: number[] = [];
  for (const v of set.votes) if (v !== null) voters.push(v.validatorIndex);
  const keys = Object.keys(set.byValue).sort((a, b) => (a === b ? 0 : a === NIL_KEY ? -1 : b === NIL_KEY ? 1 : a < b ? -1 : 1));
  return {
    power: set.power.toString(),
    voters,
    byValue: keys.map((k) => ({ blockHash: k === NIL_KEY ? null : k, power: powerFor(set, k).toString() })),
  };
}

const STEP_NAMES = { [Step.PROPOSE]: "propose", [Step.PREVOTE]: "prevote", [Step.PRECOMMIT]: "precommit" } as const;

/** A JSON-ready view of the engine state for consensus_getState and debugging. */
export function inspect(s: TendermintState): TendermintInspection {
  const started = s.validators.length > 0;
  const rounds: TendermintInspection["rounds"][number][] = [];
  for (let r = 0; r < Math.max(s.rounds.length, started ? s.round + 1 : 0); r++) {
    const log = roundLog(s, r);
    if (r !== s.round && log.proposal === null && log.prevotes.count === 0 && log.precommits.count === 0) continue;
    rounds.push({
      round: r,
      proposal: log.proposal === null ? null : { blockHash: toHex(log.proposal.block.hash), polRound: log.proposal.polRound },
      prevotes: tally(log.prevotes),
      precommits: tally(log.precommits),
    });
  }
  return {
    engine: "tendermint",
    height: Number(s.height),
    round: s.round,
    step: !started ? "idle" : s.decision !== null ? "decided" : STEP_NAMES[s.step],
    totalPower: s.totalPower.toString(),
    self: s.self,
    proposer: started ? proposerIndex(s.validators, s.round) : null,
    lockedRound: s.lockedRound,
    lockedBlock: s.lockedValue === null ? null : toHex(s.lockedValue.hash),
    validRound: s.validRound,
    validBlock: s.validValue === null ? null : toHex(s.validValue.hash),
    decidedBlock: s.decision === null ? null : toHex(s.decision.hash),
    rounds,
  };
}
