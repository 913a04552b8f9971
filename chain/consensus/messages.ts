/**
 * The byte form of consensus inputs: the gossip wire format of proposals and votes (p2p/) and
 * the entry format of the consensus WAL (node/wal.ts), one codec for both.
 *
 *   proposal        [1, height, round, polRound + 1, blockBytes, signature(64)]
 *   vote            [2, voteType, height, round, blockHash(32) | null, validatorIndex, signature(64)]
 *   blockValidated  [3, height, round, blockHash(32), valid]
 *   timeout         [4, height, round, step]
 *
 * Deterministic CBOR (primitives/codec.ts), decoded strictly: MessageError(MALFORMED) on any defect.
 */
import { decodeBlock, MAX_BLOCK_BYTES } from "../block.ts";
import { asArray, asBool, asBytes, asU64, asUint, decode, encode, u64, type CborValue } from "../../primitives/codec.ts";
import { CodedError } from "../../primitives/errors.ts";
import { SIGNATURE_LENGTH } from "../../primitives/keys.ts";
import { isVoteType } from "../vote.ts";
import { Step, type ConsensusInput } from "./types.ts";

export const MessageErrorCode = { MALFORMED: "CONSENSUS_MESSAGE_MALFORMED" } as const;
export type MessageErrorCode = (typeof MessageErrorCode)[keyof typeof MessageErrorCode];
export class MessageError extends CodedError<MessageErrorCode> {}

/** Every input but startHeight has a byte form (startHeight follows from the committed state). */
export type EncodableInput = Exclude<ConsensusInput, { type: "startHeight" }>;

const Kind = { PROPOSAL: 1, VOTE: 2, BLOCK_VALIDATED: 3, TIMEOUT: 4 } as const;

/** The largest entry: a proposal with a block of MAX_BLOCK_BYTES, plus the fields around it. */
export const MAX_MESSAGE_BYTES = MAX_BLOCK_BYTES + 1024;

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
export function inputProblem(input: EncodableInput): string | null {
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
export function encodeInput(input: EncodableInput): Uint8Array {
  const problem = inputProblem(input);
  if (problem !== null) throw new RangeError(`cannot encode a ${input.type} input: ${problem}`);
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
  if (s !== Step.PROPOSE && s !== Step.PREVOTE && s !== Step.PRECOMMIT) throw new MessageError(MessageErrorCode.MALFORMED, `unknown step ${s}`);
  return s;
}

function decodeFields(v: CborValue[]): EncodableInput {
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
      if (!isVoteType(type)) throw new MessageError(MessageErrorCode.MALFORMED, `unknown vote type ${type}`);
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
      throw new MessageError(MessageErrorCode.MALFORMED, `unknown entry kind ${kind}`);
  }
}

/** Decodes one entry strictly (canonical CBOR, exact shape, known kinds); WalError(CORRUPT) on any defect. */
export function decodeInput(bytes: Uint8Array): EncodableInput {
  try {
    return decodeFields(asArray(decode(bytes, MAX_MESSAGE_BYTES), "entry"));
  } catch (e) {
    if (e instanceof MessageError) throw e;
    const cause = (e as { code?: unknown }).code;
    throw new MessageError(MessageErrorCode.MALFORMED, `malformed consensus message: ${(e as Error).message}`, { cause: typeof cause === "string" ? cause : String(e) });
  }
}

