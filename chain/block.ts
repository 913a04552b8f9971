/**
 * Blocks and commits (docs/protocol.md sections 2 and 3).
 *
 * header = [version, chainId, height, time, parentHash, proposer, txRoot, evidenceRoot,
 *           receiptsRoot, stateRoot, lastCommitHash, validatorsHash, seedSig]
 * block  = [headerBytes, [txBytes...], lastCommit | null, [evidence...]]
 * hash   = H("cloudcoin/block/v1", headerBytes)
 *
 * `evidenceRoot` is the RFC 6962 root over the encoded evidence (chain/evidence.ts), so the
 * header commits to the evidence list as it does to the transactions.
 *
 * `stateRoot` is the root AFTER executing this block's transactions. `lastCommit` is the
 * +2/3 precommit signatures for the parent, so every block proves its parent final.
 * `seedSig` is the proposer's signature over (chainId, height), the source of the randomness
 * beacon: seed_h = H(seed_{h-1}, seedSig).
 */
import { asArray, asBytes, asString, asU64, asUint, decode, encode, u64, type CborValue } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verify } from "../primitives/keys.ts";
import { decodeTx, type SignedTx } from "./tx.ts";
import type { Validator } from "./state.ts";
import { evidenceFromCbor, evidenceToCbor, type Evidence } from "./evidence.ts";
import { VoteType, voteSignBytes } from "./vote.ts";

export { VoteType, voteSignBytes } from "./vote.ts";

export const BLOCK_VERSION = 1;
export const ZERO_HASH = new Uint8Array(32);

export interface BlockHeader {
  readonly version: number;
  readonly chainId: string;
  readonly height: bigint;
  /** ms since the Unix epoch, strictly increasing. */
  readonly time: bigint;
  readonly parentHash: Uint8Array;
  readonly proposer: Uint8Array;
  readonly txRoot: Uint8Array;
  /** RFC 6962 root over the block's encoded evidence. */
  readonly evidenceRoot: Uint8Array;
  readonly receiptsRoot: Uint8Array;
  readonly stateRoot: Uint8Array;
  readonly lastCommitHash: Uint8Array;
  readonly validatorsHash: Uint8Array;
  readonly seedSig: Uint8Array;
}

export interface CommitSig {
  /** index into the validator set of the committed height */
  readonly validatorIndex: number;
  readonly signature: Uint8Array;
}

/** +2/3 precommits for one block at one height and round. */
export interface Commit {
  readonly height: bigint;
  readonly round: number;
  readonly blockHash: Uint8Array;
  readonly signatures: readonly CommitSig[];
}

export interface Block {
  readonly header: BlockHeader;
  readonly headerBytes: Uint8Array;
  readonly hash: Uint8Array;
  readonly txs: readonly SignedTx[];
  readonly lastCommit: Commit | null;
  /** Misbehaviour evidence (duplicate votes), executed before the transactions. */
  readonly evidence: readonly Evidence[];
  readonly bytes: Uint8Array;
}

export const BlockErrorCode = {
  MALFORMED: "BLOCK_MALFORMED",
  WRONG_CHAIN_ID: "BLOCK_WRONG_CHAIN_ID",
  WRONG_VERSION: "BLOCK_WRONG_VERSION",
  WRONG_HEIGHT: "BLOCK_WRONG_HEIGHT",
  WRONG_PARENT: "BLOCK_WRONG_PARENT",
  TIME_NOT_INCREASING: "BLOCK_TIME_NOT_INCREASING",
  UNKNOWN_PROPOSER: "BLOCK_UNKNOWN_PROPOSER",
  BAD_SEED_SIGNATURE: "BLOCK_BAD_SEED_SIGNATURE",
  WRONG_VALIDATORS_HASH: "BLOCK_WRONG_VALIDATORS_HASH",
  WRONG_TX_ROOT: "BLOCK_WRONG_TX_ROOT",
  WRONG_RECEIPTS_ROOT: "BLOCK_WRONG_RECEIPTS_ROOT",
  WRONG_STATE_ROOT: "BLOCK_WRONG_STATE_ROOT",
  WRONG_LAST_COMMIT_HASH: "BLOCK_WRONG_LAST_COMMIT_HASH",
  BAD_COMMIT: "BLOCK_BAD_COMMIT",
  TOO_MANY_TXS: "BLOCK_TOO_MANY_TXS",
  TOO_LARGE: "BLOCK_TOO_LARGE",
  WRONG_EVIDENCE_ROOT: "BLOCK_WRONG_EVIDENCE_ROOT",
  TOO_MUCH_EVIDENCE: "BLOCK_TOO_MUCH_EVIDENCE",
} as const;
export type BlockErrorCode = (typeof BlockErrorCode)[keyof typeof BlockErrorCode];
export class BlockError extends CodedError<BlockErrorCode> {}

export const MAX_BLOCK_BYTES = 64 * 1024 * 1024;
/** Most evidence one block carries (buildBlock leaves the rest for later blocks). */
export const MAX_BLOCK_EVIDENCE = 100;

export function encodeHeader(h: BlockHeader): Uint8Array {
  return encode([
    h.version, h.chainId, u64(h.height), u64(h.time), h.parentHash, h.proposer, h.txRoot,
    h.evidenceRoot, h.receiptsRoot, h.stateRoot, h.lastCommitHash, h.validatorsHash, h.seedSig,
  ]);
}

export function decodeHeader(b: Uint8Array): BlockHeader {
  const v = asArray(decode(b), "header", 13);
  return {
    version: asUint(v[0], "version"),
    chainId: asString(v[1], "chainId", 64),
    height: asU64(v[2], "height"),
    time: asU64(v[3], "time"),
    parentHash: asBytes(v[4], "parentHash", 32),
    proposer: asBytes(v[5], "proposer", PUBLIC_KEY_LENGTH),
    txRoot: asBytes(v[6], "txRoot", 32),
    evidenceRoot: asBytes(v[7], "evidenceRoot", 32),
    receiptsRoot: asBytes(v[8], "receiptsRoot", 32),
    stateRoot: asBytes(v[9], "stateRoot", 32),
    lastCommitHash: asBytes(v[10], "lastCommitHash", 32),
    validatorsHash: asBytes(v[11], "validatorsHash", 32),
    seedSig: asBytes(v[12], "seedSig", SIGNATURE_LENGTH),
  };
}

export function blockHash(headerBytes: Uint8Array): Uint8Array {
  return taggedHash(Tag.BLOCK, headerBytes);
}

function commitToCbor(c: Commit): CborValue {
  return [u64(c.height), c.round, c.blockHash, c.signatures.map((s) => [s.validatorIndex, s.signature])];
}
function commitFromCbor(v: CborValue): Commit {
  const a = asArray(v, "commit", 4);
  const sigs = asArray(a[3], "commit.signatures");
  if (sigs.length > 10_000) throw new BlockError(BlockErrorCode.MALFORMED, "commit has too many signatures");
  return {
    height: asU64(a[0], "commit.height"),
    round: asUint(a[1], "commit.round"),
    blockHash: asBytes(a[2], "commit.blockHash", 32),
    signatures: sigs.map((s) => {
      const p = asArray(s, "commit.sig", 2);
      return { validatorIndex: asUint(p[0], "validatorIndex", 0xffff), signature: asBytes(p[1], "signature", SIGNATURE_LENGTH) };
    }),
  };
}

export function encodeCommit(c: Commit): Uint8Array {
  return encode(commitToCbor(c));
}
export function decodeCommit(b: Uint8Array): Commit {
  try {
    return commitFromCbor(decode(b));
  } catch (e) {
    if (e instanceof BlockError) throw e;
    throw new BlockError(BlockErrorCode.MALFORMED, `malformed commit: ${(e as Error).message}`);
  }
}
export function commitHash(c: Commit | null): Uint8Array {
  return c === null ? ZERO_HASH : taggedHash(Tag.COMMIT, encodeCommit(c));
}

export function encodeBlock(headerBytes: Uint8Array, txs: readonly SignedTx[], lastCommit: Commit | null, evidence: readonly Evidence[] = []): Uint8Array {
  return encode([headerBytes, txs.map((t) => t.bytes), lastCommit === null ? null : commitToCbor(lastCommit), evidence.map(evidenceToCbor)]);
}

/** Assembles a block from its header and body. Does not check the header's roots against the body. */
export function makeBlock(header: BlockHeader, txs: readonly SignedTx[], lastCommit: Commit | null, evidence: readonly Evidence[] = []): Block {
  const headerBytes = encodeHeader(header);
  return { header, headerBytes, hash: blockHash(headerBytes), txs, lastCommit, evidence, bytes: encodeBlock(headerBytes, txs, lastCommit, evidence) };
}

/** Stateless decoding of a block from the wire or the store; BlockError(MALFORMED) on any defect. */
export function decodeBlock(bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) throw new BlockError(BlockErrorCode.TOO_LARGE, `block of ${bytes.length} bytes`);
  try {
    // the block keeps its bytes: its transactions' byte strings are views into them, not copies
    const v = asArray(decode(bytes, MAX_BLOCK_BYTES, { share: true }), "block", 4);
    const headerBytes = asBytes(v[0], "header");
    const header = decodeHeader(headerBytes);
    const txs = asArray(v[1], "txs").map((t) => decodeTx(asBytes(t, "tx"), { share: true }));
    const lastCommit = v[2] === null ? null : commitFromCbor(v[2]!);
    const evidenceList = asArray(v[3], "evidence");
    if (evidenceList.length > MAX_BLOCK_EVIDENCE) throw new BlockError(BlockErrorCode.TOO_MUCH_EVIDENCE, `${evidenceList.length} evidence > ${MAX_BLOCK_EVIDENCE}`);
    const evidence = evidenceList.map(evidenceFromCbor);
    return { header, headerBytes, hash: blockHash(headerBytes), txs, lastCommit, evidence, bytes };
  } catch (e) {
    if (e instanceof BlockError) throw e;
    throw new BlockError(BlockErrorCode.MALFORMED, `malformed block: ${(e as Error).message}`, { cause: (e as CodedError).code });
  }
}

// ---- votes and commits (voteSignBytes lives in vote.ts, re-exported above) ----

/** What the proposer signs for the randomness beacon: H("cloudcoin/seed/v1", [chainId, height]). */
export function seedSignBytes(chainId: string, height: bigint): Uint8Array {
  return taggedHash(Tag.SEED, encode([chainId, u64(height)]));
}

export function nextSeed(prevSeed: Uint8Array, seedSig: Uint8Array): Uint8Array {
  return taggedHash(Tag.SEED, prevSeed, seedSig);
}

/**
 * Checks that `commit` carries valid precommits for (height, blockHash) from validators holding
 * more than 2/3 of the voting power of `validators`. Throws BlockError(BAD_COMMIT) with the reason.
 */
export function verifyCommit(chainId: string, validators: readonly Validator[], height: bigint, hash: Uint8Array, commit: Commit): void {
  if (commit.height !== height) throw new BlockError(BlockErrorCode.BAD_COMMIT, `commit is for height ${commit.height}, expected ${height}`);
  if (Buffer.compare(commit.blockHash, hash) !== 0) throw new BlockError(BlockErrorCode.BAD_COMMIT, "commit is for another block");
  let total = 0n;
  for (const v of validators) total += v.power;
  const msg = voteSignBytes(chainId, VoteType.PRECOMMIT, height, commit.round, hash);
  const seen = new Set<number>();
  let signed = 0n;
  for (const s of commit.signatures) {
    const v = validators[s.validatorIndex];
    if (!v) throw new BlockError(BlockErrorCode.BAD_COMMIT, `commit names unknown validator index ${s.validatorIndex}`);
    if (seen.has(s.validatorIndex)) throw new BlockError(BlockErrorCode.BAD_COMMIT, `validator ${s.validatorIndex} signed twice`);
    seen.add(s.validatorIndex);
    if (!verify(v.publicKey, msg, s.signature)) throw new BlockError(BlockErrorCode.BAD_COMMIT, `bad signature from validator ${s.validatorIndex}`);
    signed += v.power;
  }
  if (signed * 3n <= total * 2n) throw new BlockError(BlockErrorCode.BAD_COMMIT, `commit has ${signed} of ${total} voting power, needs more than 2/3`);
}

/** What a proposer signs for a proposal: H("cloudcoin/proposal/v1", [chainId, height, round, polRound, blockHash]). */
export function proposalSignBytes(chainId: string, height: bigint, round: number, polRound: number, hash: Uint8Array): Uint8Array {
  // polRound is -1 when there is none; encoded +1 so that it stays an unsigned integer.
  return taggedHash(Tag.PROPOSAL, encode([chainId, u64(height), round, polRound + 1, hash]));
}
