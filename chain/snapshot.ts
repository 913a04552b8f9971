/**
 * State snapshots (issue #20, state sync): the pure checks a node runs on what peers send it
 * before it installs their state. No I/O; the protocol is p2p/state-sync.ts, the install
 * chain/store.ts.
 *
 * - An offer is a block H, the commit that finalized it and the validator set that signed it. The
 *   set must hash to the header's validatorsHash, its commit must carry +2/3 of its power, and the
 *   set must be trusted: the genesis set itself, or (skipping verification, as Tendermint's light
 *   client does) a set of which more than 1/3 of the genesis set's power signed H's commit. Any
 *   other set is refused (STATE_SYNC_UNTRUSTED): this node cannot trace it to genesis without the
 *   headers between (bisection is not built).
 * - A manifest is the state tree cut at depth D (chain/smt.ts pagedCut): 2^D subtree summaries
 *   that must fold to header(H).stateRoot.
 * - A chunk is every state record whose keyHash starts with one D-bit prefix, in keyHash order; its
 *   canonical subtree must equal the manifest's entry. A forged, missing or extra record changes
 *   that subtree, so a chunk that checks holds exactly the records of the state at H.
 */
import { equalBytes } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { commitHash, decodeBlock, decodeCommit, verifyCommit, type Block, type Commit } from "./block.ts";
import { evidenceRoot } from "./evidence.ts";
import { foldSubtrees, hashStateKey, MAX_CUT_DEPTH, prefixOf, SubtreeKind, subtreeSummary } from "./smt.ts";
import { decodeValidators, validatorsHash, type Validator } from "./state.ts";
import { txRoot } from "./transition.ts";

export const StateSyncErrorCode = {
  /** a request or response that does not decode or has the wrong shape */
  MALFORMED: "STATE_SYNC_MALFORMED",
  /** an offer whose block, commit or validator set does not check */
  BAD_OFFER: "STATE_SYNC_BAD_OFFER",
  /** an offer signed by a set this node cannot trace to the genesis set */
  UNTRUSTED: "STATE_SYNC_UNTRUSTED",
  /** a manifest that does not fold to the header's state root (or has invalid entries) */
  MANIFEST_MISMATCH: "STATE_SYNC_MANIFEST_MISMATCH",
  /** a chunk record whose keyHash is not under the chunk's prefix */
  CHUNK_OUT_OF_RANGE: "STATE_SYNC_CHUNK_OUT_OF_RANGE",
  /** chunk records not in strictly increasing keyHash order (a key twice, or shuffled) */
  CHUNK_UNORDERED: "STATE_SYNC_CHUNK_UNORDERED",
  /** a chunk whose records do not make the manifest's subtree (a record forged, missing or added) */
  CHUNK_MISMATCH: "STATE_SYNC_CHUNK_MISMATCH",
  /** a chunk larger than a node accepts */
  CHUNK_TOO_LARGE: "STATE_SYNC_CHUNK_TOO_LARGE",
  /** the peer no longer has (or never had) the state at the height asked for */
  UNAVAILABLE: "STATE_SYNC_UNAVAILABLE",
  /** no peer offered a usable snapshot in time */
  NO_SNAPSHOT: "STATE_SYNC_NO_SNAPSHOT",
  /** state sync into a store that already holds blocks past genesis */
  NOT_FRESH: "STATE_SYNC_NOT_FRESH",
} as const;
export type StateSyncErrorCode = (typeof StateSyncErrorCode)[keyof typeof StateSyncErrorCode];
export class StateSyncError extends CodedError<StateSyncErrorCode> {}

/** The smallest cut a manifest may use. */
export const MIN_CUT_DEPTH = 1;

/** An offer as it arrives: raw bytes. */
export interface RawOffer {
  readonly height: bigint;
  readonly block: Uint8Array;
  readonly commit: Uint8Array;
  readonly validators: Uint8Array;
  readonly depth: number;
}

/** An offer that checked: H's block, its commit and the set that signed it. */
export interface VerifiedOffer {
  readonly height: bigint;
  readonly block: Block;
  readonly commit: Commit;
  readonly validators: Validator[];
  readonly depth: number;
  /** how the set was trusted */
  readonly trust: "genesis" | "skipping";
}

function totalPower(vs: readonly Validator[]): bigint {
  let t = 0n;
  for (const v of vs) t += v.power;
  return t;
}

/**
 * Checks an offer against the chain (chainId) and the genesis validator set; returns it decoded.
 * Throws StateSyncError BAD_OFFER (the peer's fault) or UNTRUSTED (not provable from genesis).
 */
export function verifyOffer(chainId: string, genesisValidators: readonly Validator[], raw: RawOffer): VerifiedOffer {
  const bad = (why: string): StateSyncError => new StateSyncError(StateSyncErrorCode.BAD_OFFER, `snapshot offer at height ${raw.height}: ${why}`);
  if (raw.height < 1n) throw bad("height below 1");
  if (!Number.isInteger(raw.depth) || raw.depth < MIN_CUT_DEPTH || raw.depth > MAX_CUT_DEPTH) throw bad(`manifest depth ${raw.depth} outside ${MIN_CUT_DEPTH}..${MAX_CUT_DEPTH}`);
  let block: Block, commit: Commit, validators: Validator[];
  try {
    block = decodeBlock(raw.block);
    commit = decodeCommit(raw.commit);
    validators = decodeValidators(raw.validators);
  } catch (e) {
    throw bad(`undecodable: ${(e as Error).message}`);
  }
  const hd = block.header;
  if (hd.height !== raw.height) throw bad(`block has height ${hd.height}`);
  if (hd.chainId !== chainId) throw bad(`block is for chain "${hd.chainId}"`);
  if (!equalBytes(hd.txRoot, txRoot(block.txs)) || !equalBytes(hd.evidenceRoot, evidenceRoot(block.evidence)) || !equalBytes(hd.lastCommitHash, commitHash(block.lastCommit))) {
    throw bad("block body does not match its header");
  }
  if (validators.length === 0 || !equalBytes(validatorsHash(validators), hd.validatorsHash)) throw bad("validator set does not hash to the header's validatorsHash");
  try {
    verifyCommit(chainId, validators, hd.height, block.hash, commit);
  } catch (e) {
    throw bad(`commit: ${(e as Error).message}`);
  }
  if (equalBytes(validatorsHash(genesisValidators), hd.validatorsHash)) return { height: raw.height, block, commit, validators, depth: raw.depth, trust: "genesis" };
  // Skipping verification: more than 1/3 of the trusted (genesis) set's power signed this commit,
  // so at least one honest member of the trusted set vouches for it. (Signatures were checked above.)
  const trusted = new Map(genesisValidators.map((v) => [Buffer.from(v.publicKey).toString("hex"), v.power]));
  let vouched = 0n;
  for (const s of commit.signatures) vouched += trusted.get(Buffer.from(validators[s.validatorIndex]!.publicKey).toString("hex")) ?? 0n;
  if (vouched * 3n > totalPower(genesisValidators)) return { height: raw.height, block, commit, validators, depth: raw.depth, trust: "skipping" };
  throw new StateSyncError(
    StateSyncErrorCode.UNTRUSTED,
    `the set that signed height ${raw.height} is not the genesis set and at most 1/3 of the genesis set's power signed it: it cannot be trusted without the headers between (not supported)`,
    { height: raw.height.toString() },
  );
}

/** A manifest: one kind byte and one 32-byte hash per prefix at `depth`. */
export interface Manifest {
  readonly depth: number;
  readonly kinds: Uint8Array;
  readonly hashes: Uint8Array;
}

/** Checks a manifest's shape and that it folds to `stateRoot`. Throws MANIFEST_MISMATCH. */
export function verifyManifest(m: Manifest, stateRoot: Uint8Array): void {
  const n = 1 << m.depth;
  const bad = (why: string): StateSyncError => new StateSyncError(StateSyncErrorCode.MANIFEST_MISMATCH, `manifest: ${why}`);
  if (m.kinds.length !== n || m.hashes.length !== n * 32) throw bad(`expected ${n} entries at depth ${m.depth}`);
  const zero = new Uint8Array(32);
  for (let i = 0; i < n; i++) {
    const k = m.kinds[i]!;
    if (k !== SubtreeKind.EMPTY && k !== SubtreeKind.LEAF && k !== SubtreeKind.INTERNAL) throw bad(`entry ${i} has kind ${k}`);
    if ((k === SubtreeKind.EMPTY) !== equalBytes(m.hashes.subarray(i * 32, i * 32 + 32), zero)) throw bad(`entry ${i}: an empty subtree's hash is zero and only its`);
  }
  if (!equalBytes(foldSubtrees(m.depth, m.kinds, m.hashes), stateRoot)) throw bad("does not fold to the header's state root");
}

/**
 * Checks chunk `index` of a verified manifest: every record under the prefix, in strictly
 * increasing keyHash order, making exactly the manifest's subtree. Throws CHUNK_OUT_OF_RANGE,
 * CHUNK_UNORDERED or CHUNK_MISMATCH.
 */
export function verifyChunk(m: Manifest, index: number, records: readonly (readonly [Uint8Array, Uint8Array])[]): void {
  let prev: Uint8Array | undefined;
  for (const [k] of records) {
    const kh = hashStateKey(k);
    if (prefixOf(kh, m.depth) !== index) throw new StateSyncError(StateSyncErrorCode.CHUNK_OUT_OF_RANGE, `chunk ${index}: a record is under prefix ${prefixOf(kh, m.depth)}`);
    if (prev !== undefined && Buffer.compare(prev, kh) >= 0) throw new StateSyncError(StateSyncErrorCode.CHUNK_UNORDERED, `chunk ${index}: records not in increasing keyHash order`);
    prev = kh;
  }
  // The hash alone decides: leaf and internal hashes have their own domain tags, so equal hashes are
  // equal kinds. A manifest's kind byte matters to the fold only beside an empty sibling, where a
  // wrong one changes the root; elsewhere a wrong kind byte must not make an honest chunk fail.
  const s = subtreeSummary(m.depth, records);
  if (!equalBytes(s.hash, m.hashes.subarray(index * 32, index * 32 + 32))) {
    throw new StateSyncError(StateSyncErrorCode.CHUNK_MISMATCH, `chunk ${index}: its ${records.length} records do not make the manifest's subtree`, { index });
  }
}
