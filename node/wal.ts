/**
 * The consensus write-ahead log (docs/protocol.md section 3; CometBFT's consensus WAL).
 *
 * The engine's state (lock, valid value, votes seen) lives in memory. A node that crashes in
 * the middle of a height and restarts from round 0 without it would try to vote again (the
 * durable signer refuses, and consensus halts) or, worse, forget its lock. So the driver logs
 * every input it feeds the engine for the height in progress, in order, before the engine's
 * new state is adopted and any effect of it executed; on restart it replays them through the
 * pure machine and reaches the exact state it had, lock included.
 *
 * Storage: BlockStore's 'W' records (chain/store.ts), key = 'W' + u64be(height) + u32be(seq),
 * one input per record; the entries of a height are deleted once that height is committed.
 *
 * Entry format (chain/consensus/messages.ts, the gossip wire format too):
 *   proposal        [1, height, round, polRound + 1, blockBytes, signature(64)]
 *   vote            [2, voteType, height, round, blockHash(32) | null, validatorIndex, signature(64)]
 *   blockValidated  [3, height, round, blockHash(32), valid]
 *   timeout         [4, height, round, step]
 * startHeight is never logged: it follows from the committed state (the height is head + 1).
 *
 * Replay (replayHeight) steps the machine through startHeight and the logged inputs WITHOUT
 * executing any effect, and returns the effects whose outcome is not in the log: those are the
 * ones the crashed process had not finished (or not started), and the driver executes them.
 */
import { toHex } from "../primitives/bytes.ts";
import { decodeInput, encodeInput, inputProblem, MessageError } from "../chain/consensus/messages.ts";
import type { ConsensusEffect, ConsensusInput, ConsensusMachine } from "../chain/consensus/types.ts";
import { CodedError } from "../primitives/errors.ts";
import type { WalRecord } from "../chain/store.ts";

export const WalErrorCode = {
  /** an entry does not decode, is out of place, or the entries of a height have a gap */
  CORRUPT: "WAL_CORRUPT",
} as const;
export type WalErrorCode = (typeof WalErrorCode)[keyof typeof WalErrorCode];
export class WalError extends CodedError<WalErrorCode> {}

/** Every input but startHeight can be logged. */
export type WalInput = Exclude<ConsensusInput, { type: "startHeight" }>;
export type StartHeightInput = Extract<ConsensusInput, { type: "startHeight" }>;

/**
 * Entries per height the driver logs; beyond it peer messages are fed but no longer logged (own
 * messages always are). The engine's own limits (one vote per validator, type and round; rounds
 * at most maxRoundsAhead past the current one) keep a real height far below it.
 */
export const DEFAULT_WAL_MAX_ENTRIES = 100_000;

/** Why `input` cannot be logged, or null (chain/consensus/messages.ts inputProblem). */
export const walInputProblem = inputProblem;
/** Encodes one entry (chain/consensus/messages.ts, the same bytes as on the wire). */
export const encodeWalInput = encodeInput;

/** Decodes one entry strictly; WalError(CORRUPT) on any defect. */
export function decodeWalInput(bytes: Uint8Array): WalInput {
  try {
    return decodeInput(bytes);
  } catch (e) {
    if (e instanceof MessageError) throw new WalError(WalErrorCode.CORRUPT, e.message.replace("consensus message", "WAL entry"), e.data);
    throw e;
  }
}

/** The height an input belongs to. */
export function inputHeight(input: WalInput): bigint {
  return input.type === "proposal" ? input.proposal.height : input.type === "vote" ? input.vote.height : input.height;
}

/**
 * Decodes the stored entries of `height`: they must be numbered 0, 1, 2... with no gap (LevelDB
 * keeps a prefix of the writes, so a gap is damage, not a crash) and each must be of `height`.
 */
export function decodeWalRecords(height: bigint, records: readonly WalRecord[]): WalInput[] {
  return records.map((r, i) => decodeWalRecord(height, i, r));
}

/** Decodes the entry expected at position `i` of `height`'s WAL; WalError(CORRUPT) if it is not that. */
function decodeWalRecord(height: bigint, i: number, r: WalRecord): WalInput {
  if (r.seq !== i) throw new WalError(WalErrorCode.CORRUPT, `WAL of height ${height}: entry ${i} is missing (next is ${r.seq})`, { height: height.toString(), seq: i });
  let input: WalInput;
  try {
    input = decodeWalInput(r.bytes);
  } catch (e) {
    const err = e as WalError;
    throw new WalError(WalErrorCode.CORRUPT, `WAL of height ${height}, entry ${r.seq}: ${err.message}`, { ...err.data, height: height.toString(), seq: r.seq });
  }
  if (inputHeight(input) !== height) {
    throw new WalError(WalErrorCode.CORRUPT, `WAL of height ${height}, entry ${r.seq} is an input of height ${inputHeight(input)}`, { height: height.toString(), seq: r.seq });
  }
  return input;
}

/** Where a height's WAL stops being readable: the first damaged entry and why. */
export interface WalDamage {
  readonly seq: number;
  readonly error: WalError;
}

/**
 * The readable prefix of a height's WAL: the entries before the first that is missing (a gap),
 * does not decode, or is of another height. Replay ends there; `damage` says where and why.
 * A prefix is a state the node really passed through, so replaying it is sound; what came after
 * it is lost, and the driver answers that loss (node/driver.ts #recover).
 */
export function decodeWalPrefix(height: bigint, records: readonly WalRecord[]): { inputs: WalInput[]; damage: WalDamage | null } {
  const inputs: WalInput[] = [];
  for (let i = 0; i < records.length; i++) {
    try {
      inputs.push(decodeWalRecord(height, i, records[i]!));
    } catch (e) {
      if (!(e instanceof WalError)) throw e;
      return { inputs, damage: { seq: i, error: e } };
    }
  }
  return { inputs, damage: null };
}

// ---- replay ----

const hashKey = (h: Uint8Array | null): string => (h === null ? "nil" : toHex(h));

/**
 * The key shared by an effect and the input that is its outcome, or null for an effect that no
 * input answers (evidence is simply handled again; a commit is always executed).
 */
export function effectOutcomeKey(e: ConsensusEffect): string | null {
  switch (e.type) {
    case "scheduleTimeout":
      return `timeout/${e.height}/${e.round}/${e.step}`;
    case "validateBlock":
      return `validated/${e.height}/${toHex(e.block.hash)}`;
    case "castVote":
      return `vote/${e.voteType}/${e.height}/${e.round}/${hashKey(e.blockHash)}`;
    case "buildProposal":
    case "signProposal":
      return `proposal/${e.height}/${e.round}`;
    case "evidence":
    case "commit":
      return null;
  }
}

/**
 * The key of the effect `input` is the outcome of, or null. A vote is an outcome only if it is
 * our own (`self`); a proposal at (h, r) answers our buildProposal/signProposal of (h, r), as
 * only the round's proposer's proposal is ever fed.
 */
export function inputOutcomeKey(input: WalInput, self: number | null): string | null {
  switch (input.type) {
    case "timeout":
      return `timeout/${input.height}/${input.round}/${input.step}`;
    case "blockValidated":
      return `validated/${input.height}/${toHex(input.blockHash)}`;
    case "vote": {
      const v = input.vote;
      return self !== null && v.validatorIndex === self ? `vote/${v.type}/${v.height}/${v.round}/${hashKey(v.blockHash)}` : null;
    }
    case "proposal":
      return `proposal/${input.proposal.height}/${input.proposal.round}`;
  }
}

export interface Replayed<S> {
  readonly state: S;
  /** effects of the replayed steps that no later logged input answers, in the order produced */
  readonly pending: ConsensusEffect[];
  /** how many effects the replayed steps produced, satisfied or not */
  readonly produced: number;
}

/**
 * Steps `machine` through `start` and the logged `inputs` of its height without executing any
 * effect. An effect is satisfied by the first later input that is its outcome (a timeout for a
 * scheduleTimeout of the same height, round and step; blockValidated for validateBlock of the
 * block; our own vote for the castVote of the same type, height, round and value; a proposal of
 * (h, r) for buildProposal/signProposal of (h, r)); the others are returned as `pending`.
 */
export function replayHeight<S>(machine: ConsensusMachine<S>, start: StartHeightInput, inputs: readonly WalInput[]): Replayed<S> {
  const first = machine.step(machine.initial(), start);
  let state = first.state;
  const produced: (ConsensusEffect | null)[] = [];
  /** outcome key -> indices into `produced` still waiting for it, oldest first */
  const waiting = new Map<string, number[]>();
  const add = (effects: readonly ConsensusEffect[]): void => {
    for (const e of effects) {
      const k = effectOutcomeKey(e);
      if (k !== null) {
        const list = waiting.get(k);
        if (list) list.push(produced.length);
        else waiting.set(k, [produced.length]);
      }
      produced.push(e);
    }
  };
  add(first.effects);
  for (const input of inputs) {
    const k = inputOutcomeKey(input, start.self);
    const list = k === null ? undefined : waiting.get(k);
    if (list !== undefined && list.length > 0) produced[list.shift()!] = null;
    const r = machine.step(state, input);
    state = r.state;
    add(r.effects);
  }
  return { state, pending: produced.filter((e): e is ConsensusEffect => e !== null), produced: produced.length };
}
