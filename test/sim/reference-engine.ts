/**
 * A compact reference Tendermint (Buchman, Kwon, Milosevic 2018, Algorithm 1) used to build and
 * self-test the simulator before the real engine (chain/consensus/tendermint.ts) existed, and kept
 * as a second implementation to run the same scenarios against (`--engine reference`).
 *
 * Pure: `step(state, input) -> { state, effects }`. State is copied on write at the top level;
 * the vote and proposal books are rebuilt per height. Line numbers refer to the paper.
 */
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import { VoteType, type Block, type Commit } from "../../chain/block.ts";
import { proposerIndex } from "../../chain/consensus/proposer.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type ConsensusMachine, type ConsensusValidator, type Proposal, type Vote } from "../../chain/consensus/types.ts";

type PrioritizedValidator = ConsensusValidator & { readonly priority: bigint };
type SimEffect = ConsensusEffect;

export interface ReferenceConfig {
  readonly timeoutProposeMs: number;
  readonly timeoutProposeDeltaMs: number;
  readonly timeoutVoteMs: number;
  readonly timeoutVoteDeltaMs: number;
  /** count equivocators' further votes toward the values they are for (see RoundBook) */
  readonly countConflictingVotes: boolean;
}

export const defaultReferenceConfig: ReferenceConfig = {
  timeoutProposeMs: 1000,
  timeoutProposeDeltaMs: 500,
  timeoutVoteMs: 500,
  timeoutVoteDeltaMs: 250,
  countConflictingVotes: true,
};

interface RoundBook {
  proposal: Proposal | null;
  /** validatorIndex -> vote, per type */
  readonly prevotes: Map<number, Vote>;
  readonly precommits: Map<number, Vote>;
  /**
   * Further, conflicting votes of equivocators. They count toward the value they are for (never
   * twice toward "any"): with less than 1/3 of the power Byzantine, two values still cannot both
   * reach +2/3, and without them an equivocator that showed each half of the network a different
   * vote can leave a polka visible to only part of the honest nodes, forever.
   */
  readonly prevoteExtras: Vote[];
  readonly precommitExtras: Vote[];
}

export interface ReferenceState {
  readonly height: bigint;
  readonly round: number;
  readonly step: Step;
  readonly validators: readonly PrioritizedValidator[];
  readonly self: number | null;
  readonly lockedValue: Block | null;
  readonly lockedRound: number;
  readonly validValue: Block | null;
  readonly validRound: number;
  readonly decided: boolean;
  readonly rounds: ReadonlyMap<number, RoundBook>;
  /** block hash (hex) -> validity, once known; "pending" while a validateBlock is out */
  readonly validity: ReadonlyMap<string, boolean | "pending">;
  /** once-per-round guards: "pv34:r", "pc36:r", "pc47:r" */
  readonly fired: ReadonlySet<string>;
  /** evidence already reported: "h/r/type/index" */
  readonly reported: ReadonlySet<string>;
}

type Mut = {
  -readonly [K in keyof ReferenceState]: ReferenceState[K];
};

const NIL = "nil";
const key = (h: Uint8Array | null): string => (h === null ? NIL : toHex(h));

function totalPower(vs: readonly PrioritizedValidator[]): bigint {
  let t = 0n;
  for (const v of vs) t += v.power;
  return t;
}

export function createReferenceMachine(config: ReferenceConfig = defaultReferenceConfig): ConsensusMachine<ReferenceState> {
  const proposeTimeout = (r: number) => config.timeoutProposeMs + r * config.timeoutProposeDeltaMs;
  const voteTimeout = (r: number) => config.timeoutVoteMs + r * config.timeoutVoteDeltaMs;

  function book(s: Mut, r: number): RoundBook {
    let b = s.rounds.get(r);
    if (!b) {
      b = { proposal: null, prevotes: new Map(), precommits: new Map(), prevoteExtras: [], precommitExtras: [] };
      (s.rounds as Map<number, RoundBook>).set(r, b);
    }
    return b;
  }

  function power(s: Mut, votes: Iterable<Vote>, filter: (v: Vote) => boolean, extras: readonly Vote[] = []): bigint {
    const who = new Set<number>();
    for (const v of votes) if (filter(v)) who.add(v.validatorIndex);
    for (const v of extras) if (filter(v)) who.add(v.validatorIndex);
    let p = 0n;
    for (const i of who) p += s.validators[i]!.power;
    return p;
  }
  const forBlock = (hash: Uint8Array) => (v: Vote) => v.blockHash !== null && equalBytes(v.blockHash, hash);
  const twoThirds = (s: Mut, p: bigint) => p * 3n > totalPower(s.validators) * 2n;
  const oneThird = (s: Mut, p: bigint) => p * 3n > totalPower(s.validators);

  function startRound(s: Mut, r: number, fx: SimEffect[]): void {
    s.round = r;
    s.step = Step.PROPOSE;
    if (s.self !== null && proposerIndex(s.validators, r) === s.self) {
      if (s.validValue !== null) fx.push({ type: "signProposal", height: s.height, round: r, polRound: s.validRound, block: s.validValue });
      else fx.push({ type: "buildProposal", height: s.height, round: r });
    } else {
      fx.push({ type: "scheduleTimeout", height: s.height, round: r, step: Step.PROPOSE, delayMs: proposeTimeout(r) });
    }
  }

  function vote(s: Mut, type: typeof VoteType.PREVOTE | typeof VoteType.PRECOMMIT, hash: Uint8Array | null, fx: SimEffect[]): void {
    if (s.self === null) return;
    fx.push({ type: "castVote", voteType: type, height: s.height, round: s.round, blockHash: hash });
  }

  /** Validity of a block, asking the driver once if unknown. */
  function validity(s: Mut, r: number, block: Block, fx: SimEffect[]): boolean | "pending" {
    const k = key(block.hash);
    const v = s.validity.get(k);
    if (v !== undefined) return v;
    (s.validity as Map<string, boolean | "pending">).set(k, "pending");
    fx.push({ type: "validateBlock", height: s.height, round: r, block });
    return "pending";
  }

  /** Re-evaluates every upon-rule until none fires. */
  function progress(s: Mut, fx: SimEffect[]): void {
    for (let guard = 0; guard < 64 && !s.decided; guard++) {
      if (!once(s, fx)) return;
    }
  }

  function once(s: Mut, fx: SimEffect[]): boolean {
    const fired = s.fired as Set<string>;
    // L49: a proposal with +2/3 precommits for it in some round: decide.
    for (const [r, b] of s.rounds) {
      const p = b.proposal;
      if (!p) continue;
      const pc = power(s, b.precommits.values(), forBlock(p.block.hash), b.precommitExtras);
      if (!twoThirds(s, pc)) continue;
      const val = validity(s, r, p.block, fx);
      if (val !== true) continue;
      const commit: Commit = {
        height: s.height,
        round: r,
        blockHash: p.block.hash,
        signatures: [...new Map([...b.precommitExtras, ...b.precommits.values()].filter(forBlock(p.block.hash)).map((v) => [v.validatorIndex, v])).values()]
          .sort((a, c) => a.validatorIndex - c.validatorIndex)
          .map((v) => ({ validatorIndex: v.validatorIndex, signature: v.signature })),
      };
      s.decided = true;
      fx.push({ type: "commit", block: p.block, commit });
      return false;
    }
    // L55: f+1 messages of a higher round: skip to it.
    for (const [r, b] of s.rounds) {
      if (r <= s.round) continue;
      const senders = new Set<number>([...b.prevotes.keys(), ...b.precommits.keys()]);
      let p = 0n;
      for (const i of senders) p += s.validators[i]!.power;
      if (oneThird(s, p)) {
        startRound(s, r, fx);
        return true;
      }
    }
    const b = book(s, s.round);
    const p = b.proposal;
    // L22 / L28: propose step with a proposal.
    if (s.step === Step.PROPOSE && p) {
      const val = validity(s, s.round, p.block, fx);
      if (val !== "pending") {
        if (p.polRound === -1) {
          const ok = val && (s.lockedRound === -1 || (s.lockedValue !== null && equalBytes(s.lockedValue.hash, p.block.hash)));
          vote(s, VoteType.PREVOTE, ok ? p.block.hash : null, fx);
          s.step = Step.PREVOTE;
          return true;
        }
        if (p.polRound >= 0 && p.polRound < s.round) {
          const pol = s.rounds.get(p.polRound);
          const pv = pol ? power(s, pol.prevotes.values(), forBlock(p.block.hash), pol.prevoteExtras) : 0n;
          if (twoThirds(s, pv)) {
            const ok = val && (s.lockedRound <= p.polRound || (s.lockedValue !== null && equalBytes(s.lockedValue.hash, p.block.hash)));
            vote(s, VoteType.PREVOTE, ok ? p.block.hash : null, fx);
            s.step = Step.PREVOTE;
            return true;
          }
        }
      }
    }
    // L34: +2/3 prevotes of any kind: schedule the prevote timeout once.
    if (s.step === Step.PREVOTE && !fired.has(`pv34:${s.round}`) && twoThirds(s, power(s, b.prevotes.values(), () => true))) {
      fired.add(`pv34:${s.round}`);
      fx.push({ type: "scheduleTimeout", height: s.height, round: s.round, step: Step.PREVOTE, delayMs: voteTimeout(s.round) });
    }
    // L36: a valid proposal with +2/3 prevotes for it, first time in this round.
    if (p && s.step >= Step.PREVOTE && !fired.has(`pc36:${s.round}`)) {
      const pv = power(s, b.prevotes.values(), forBlock(p.block.hash), b.prevoteExtras);
      if (twoThirds(s, pv) && validity(s, s.round, p.block, fx) === true) {
        fired.add(`pc36:${s.round}`);
        if (s.step === Step.PREVOTE) {
          s.lockedValue = p.block;
          s.lockedRound = s.round;
          vote(s, VoteType.PRECOMMIT, p.block.hash, fx);
          s.step = Step.PRECOMMIT;
        }
        s.validValue = p.block;
        s.validRound = s.round;
        return true;
      }
    }
    // L44: +2/3 prevotes for nil.
    if (s.step === Step.PREVOTE && twoThirds(s, power(s, b.prevotes.values(), (v) => v.blockHash === null, b.prevoteExtras))) {
      vote(s, VoteType.PRECOMMIT, null, fx);
      s.step = Step.PRECOMMIT;
      return true;
    }
    // L47: +2/3 precommits of any kind: schedule the precommit timeout once.
    if (!fired.has(`pc47:${s.round}`) && twoThirds(s, power(s, b.precommits.values(), () => true))) {
      fired.add(`pc47:${s.round}`);
      fx.push({ type: "scheduleTimeout", height: s.height, round: s.round, step: Step.PRECOMMIT, delayMs: voteTimeout(s.round) });
    }
    return false;
  }

  function copy(s: ReferenceState): Mut {
    return { ...s };
  }

  return {
    name: "reference-tendermint",
    initial: () => ({
      height: 0n, round: 0, step: Step.PROPOSE, validators: [], self: null, lockedValue: null, lockedRound: -1,
      validValue: null, validRound: -1, decided: true, rounds: new Map(), validity: new Map(), fired: new Set(), reported: new Set(),
    }),
    describe: (s) => {
      let votes = 0;
      const b = s.rounds.get(s.round);
      if (b) votes = b.prevotes.size + b.precommits.size;
      return { height: s.height, round: s.round, step: s.decided ? null : s.step, votes };
    },
    step(state: ReferenceState, input: ConsensusInput): { state: ReferenceState; effects: SimEffect[] } {
      const fx: SimEffect[] = [];
      switch (input.type) {
        case "startHeight": {
          const s: Mut = {
            height: input.height, round: 0, step: Step.PROPOSE, validators: input.validators.map((v) => ({ ...v, priority: v.priority ?? 0n })), self: input.self,
            lockedValue: null, lockedRound: -1, validValue: null, validRound: -1, decided: false,
            rounds: new Map(), validity: new Map(), fired: new Set(), reported: new Set(),
          };
          startRound(s, 0, fx);
          progress(s, fx);
          return { state: s, effects: fx };
        }
        case "proposal": {
          const p = input.proposal;
          if (state.decided || p.height !== state.height) return { state, effects: fx };
          const s = copy(state);
          s.rounds = new Map(state.rounds);
          const old = s.rounds.get(p.round);
          if (old?.proposal) return { state, effects: fx };
          (s.rounds as Map<number, RoundBook>).set(p.round, {
            proposal: p, prevotes: old?.prevotes ?? new Map(), precommits: old?.precommits ?? new Map(),
            prevoteExtras: old?.prevoteExtras ?? [], precommitExtras: old?.precommitExtras ?? [],
          });
          s.validity = new Map(state.validity);
          s.fired = new Set(state.fired);
          progress(s, fx);
          return { state: s, effects: fx };
        }
        case "blockValidated": {
          if (input.height !== state.height) return { state, effects: fx };
          const k = key(input.blockHash);
          if (state.validity.get(k) !== "pending") return { state, effects: fx };
          const s = copy(state);
          s.validity = new Map(state.validity).set(k, input.valid);
          s.fired = new Set(state.fired);
          s.rounds = new Map(state.rounds);
          progress(s, fx);
          return { state: s, effects: fx };
        }
        case "vote": {
          const v = input.vote;
          if (v.height !== state.height || !state.validators[v.validatorIndex]) return { state, effects: fx };
          const s = copy(state);
          s.rounds = new Map(state.rounds);
          const old = s.rounds.get(v.round);
          const b: RoundBook = {
            proposal: old?.proposal ?? null, prevotes: new Map(old?.prevotes ?? []), precommits: new Map(old?.precommits ?? []),
            prevoteExtras: [...(old?.prevoteExtras ?? [])], precommitExtras: [...(old?.precommitExtras ?? [])],
          };
          (s.rounds as Map<number, RoundBook>).set(v.round, b);
          const m = v.type === VoteType.PREVOTE ? b.prevotes : b.precommits;
          const prev = m.get(v.validatorIndex);
          if (prev) {
            if (key(prev.blockHash) === key(v.blockHash)) return { state, effects: fx };
            const extras = v.type === VoteType.PREVOTE ? b.prevoteExtras : b.precommitExtras;
            const mine = extras.filter((x) => x.validatorIndex === v.validatorIndex);
            if (mine.length >= 4 || mine.some((x) => key(x.blockHash) === key(v.blockHash))) return { state, effects: fx };
            if (config.countConflictingVotes) extras.push(v);
            const id = `${v.height}/${v.round}/${v.type}/${v.validatorIndex}`;
            if (!state.reported.has(id)) {
              s.reported = new Set(state.reported).add(id);
              fx.push({ type: "evidence", first: prev, second: v });
            }
            if (state.decided) return { state: s, effects: fx };
            s.validity = new Map(state.validity);
            s.fired = new Set(state.fired);
            progress(s, fx);
            return { state: s, effects: fx };
          }
          m.set(v.validatorIndex, v);
          if (state.decided) return { state: s, effects: fx };
          s.validity = new Map(state.validity);
          s.fired = new Set(state.fired);
          progress(s, fx);
          return { state: s, effects: fx };
        }
        case "timeout": {
          if (state.decided || input.height !== state.height || input.round !== state.round) return { state, effects: fx };
          const s = copy(state);
          s.rounds = new Map(state.rounds);
          s.validity = new Map(state.validity);
          s.fired = new Set(state.fired);
          if (input.step === Step.PROPOSE && s.step === Step.PROPOSE) {
            vote(s, VoteType.PREVOTE, null, fx);
            s.step = Step.PREVOTE;
          } else if (input.step === Step.PREVOTE && s.step === Step.PREVOTE) {
            vote(s, VoteType.PRECOMMIT, null, fx);
            s.step = Step.PRECOMMIT;
          } else if (input.step === Step.PRECOMMIT) {
            startRound(s, s.round + 1, fx);
          } else {
            return { state, effects: fx };
          }
          progress(s, fx);
          return { state: s, effects: fx };
        }
      }
    },
  };
}
