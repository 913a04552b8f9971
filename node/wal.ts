/**
 * The consensus write-ahead log (DESIGN.md sections 5 and 11; CometBFT's consensus WAL).
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
 * Entry format (deterministic CBOR, chain/codec.ts, decoded strictly):
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
import { toHex } from "../chain/bytes.ts";
import { decodeBlock, MAX_BLOCK_BYTES } from "../chain/block.ts";
import { asArray, asBool, asBytes, asU64, asUint, decode, encode, u64, type CborValue } from "../chain/codec.ts";
import { Step, type ConsensusEffect, type ConsensusInput, type ConsensusMachine } from "../chain/consensus/types.ts";
import { CodedError } from "../chain/errors.ts";
import { SIGNATURE_LENGTH } from "../chain/keys.ts";
import type { WalRecord } from "../chain/store.ts";
import { isVoteType } from "../chain/vote.ts";

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

const Kind = { PROPOSAL: 1, VOTE: 2, BLOCK_VALIDATED: 3, TIMEOUT: 4 } as const;

/** The largest entry: a proposal with a block of MAX_BLOCK_BYTES, plus the fields around it. */
const MAX_ENTRY_BYTES = MAX_BLOCK_BYTES + 1024;

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const isU32 = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= U32_MAX;
const isU64 = (n: bigint): boolean => typeof n === "bigint" && n >= 0n && n <= U64_MAX;
const isHash = (h: Uint8Array): boolean => h instanceof Uint8Array && h.length === 32;
const isSignature = (s: Uint8Array): boolean => s instanceof Uint8Array && s.length === SIGNATURE_LENGTH;

/**
 * Why `input` cannot be logged (a field outside what an entry holds), or null. The driver drops
 * such a peer message before the engine sees it, so that nothing is fed that the log cannot hold.
 */
export function walInputProblem(input: WalInput): string | null {
  switch (input.type) {
    case "proposal": {
      const p = input.proposal;
      if (!isU64(p.height) || !isU32(p.round)) return "height or round out of range";
      if (!Number.isSafeInteger(p.polRound) || p.polRound < -1 || p.polRound >= U32_MAX) return "polRound out of range";
      if (p.block.bytes.length > MAX_BLOCK_BYTES) return "block too large";
      return isSignature(p.signature) ? null : "signature is not 64 bytes";
    }
    case "vote": {
      const v = input.vote;
      if (!isVoteType(v.type)) return "unknown vote type";
      if (!isU64(v.height) || !isU32(v.round) || !isU32(v.validatorIndex)) return "height, round or validator index out of range";
      if (v.blockHash !== null && !isHash(v.blockHash)) return "block hash is not 32 bytes";
      return isSignature(v.signature) ? null : "signature is not 64 bytes";
    }
    case "blockValidated":
      return isU64(input.height) && isU32(input.round) && isHash(input.blockHash) && typeof input.valid === "boolean" ? null : "malformed blockValidated";
    case "timeout":
      return isU64(input.height) && isU32(input.round) && Object.values(Step).includes(input.step) ? null : "malformed timeout";
  }
}

/** Encodes one input; RangeError if it has a field no entry can hold (walInputProblem). */
export function encodeWalInput(input: WalInput): Uint8Array {
  const problem = walInputProblem(input);
  if (problem !== null) throw new RangeError(`cannot log a ${input.type} input: ${problem}`);
  let v: CborValue[];
  switch (input.type) {
    case "proposal": {
      const p = input.proposal;
      v = [Kind.PROPOSAL, u64(p.height), p.round, p.polRound + 1, p.block.bytes, p.signature];
      break;
    }
    case "vote": {
      const x = input.vote;
      v = [Kind.VOTE, x.type, u64(x.height), x.round, x.blockHash, x.validatorIndex, x.signature];
      break;
    }
    case "blockValidated":
      v = [Kind.BLOCK_VALIDATED, u64(input.height), input.round, input.blockHash, input.valid];
      break;
    case "timeout":
      v = [Kind.TIMEOUT, u64(input.height), input.round, input.step];
      break;
  }
  return encode(v);
}

function asStep(v: unknown): Step {
  const s = asUint(v, "step");
  if (s !== Step.PROPOSE && s !== Step.PREVOTE && s !== Step.PRECOMMIT) throw new WalError(WalErrorCode.CORRUPT, `unknown step ${s}`);
  return s;
}

function decodeFields(v: CborValue[]): WalInput {
  const kind = asUint(v[0], "kind");
  switch (kind) {
    case Kind.PROPOSAL: {
      asArray(v, "proposal entry", 6);
      const polRound = asUint(v[3], "polRound + 1") - 1;
      return {
        type: "proposal",
        proposal: { height: asU64(v[1], "height"), round: asUint(v[2], "round"), polRound, block: decodeBlock(asBytes(v[4], "block")), signature: asBytes(v[5], "signature", SIGNATURE_LENGTH) },
      };
    }
    case Kind.VOTE: {
      asArray(v, "vote entry", 7);
      const type = asUint(v[1], "vote type");
      if (!isVoteType(type)) throw new WalError(WalErrorCode.CORRUPT, `unknown vote type ${type}`);
      return {
        type: "vote",
        vote: {
          type,
          height: asU64(v[2], "height"),
          round: asUint(v[3], "round"),
          blockHash: v[4] === null ? null : asBytes(v[4], "blockHash", 32),
          validatorIndex: asUint(v[5], "validatorIndex"),
          signature: asBytes(v[6], "signature", SIGNATURE_LENGTH),
        },
      };
    }
    case Kind.BLOCK_VALIDATED:
      asArray(v, "blockValidated entry", 5);
      return { type: "blockValidated", height: asU64(v[1], "height"), round: asUint(v[2], "round"), blockHash: asBytes(v[3], "blockHash", 32), valid: asBool(v[4], "valid") };
    case Kind.TIMEOUT:
      asArray(v, "timeout entry", 4);
      return { type: "timeout", height: asU64(v[1], "height"), round: asUint(v[2], "round"), step: asStep(v[3]) };
    default:
      throw new WalError(WalErrorCode.CORRUPT, `unknown entry kind ${kind}`);
  }
}

/** Decodes one entry strictly (canonical CBOR, exact shape, known kinds); WalError(CORRUPT) on any defect. */
export function decodeWalInput(bytes: Uint8Array): WalInput {
  try {
    return decodeFields(asArray(decode(bytes, MAX_ENTRY_BYTES), "entry"));
  } catch (e) {
    if (e instanceof WalError) throw e;
    const cause = (e as { code?: unknown }).code;
    throw new WalError(WalErrorCode.CORRUPT, `malformed WAL entry: ${(e as Error).message}`, { cause: typeof cause === "string" ? cause : String(e) });
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
  return records.map((r, i) => {
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
  });
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
