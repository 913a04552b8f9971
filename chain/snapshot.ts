/**
 * State snapshots (issue #20, state sync): the pure checks a node runs on what peers send it
 * before it installs their state. No I/O; the protocol is p2p/state-sync.ts, the install
 * chain/store.ts.
 *
 * - An offer is a block H, the commit that finalized it and the validator set that signed it. The
 *   set must hash to the header's validatorsHash, its commit must carry +2/3 of its power, and the
 *   set must be trusted: the genesis set itself, or (skipping verification, as Tendermint's light
 *   client does) a set of which more than 1/3 of a trusted set's power signed H's commit. The
 *   genesis set is trusted; when too little of it signed H, intermediate headers (with their
 *   commits and sets, fetched from the peer) are verified by bisection, each trusted by the last
 *   trusted one, until one vouches for H (bisectTrust). What cannot be traced that way is refused
 *   (STATE_SYNC_UNTRUSTED). As in any light client, this trusts that the genesis validators (or
 *   the later sets they vouch for) did not sign a conflicting history after leaving. Against that
 *   (a long-range attack by keys that have since unbonded) an operator gives a checkpoint (a
 *   TrustRoot: a recent height and its block hash, from a source it trusts, as CometBFT's
 *   trust_height and trust_hash): the checkpoint's set then takes the genesis set's place, offers
 *   below it are refused, and a peer whose block at that height differs is refused
 *   (STATE_SYNC_TRUST_MISMATCH).
 * - A manifest is the state tree cut at depth D (chain/smt.ts pagedCut): 2^D subtree summaries
 *   that must fold to header(H).stateRoot.
 * - A chunk is every state record whose keyHash starts with one D-bit prefix, in keyHash order; its
 *   canonical subtree must equal the manifest's entry. A forged, missing or extra record changes
 *   that subtree, so a chunk that checks holds exactly the records of the state at H.
 */
import { equalBytes } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { blockHash, commitHash, decodeBlock, decodeCommit, decodeHeader, verifyCommit, type Block, type Commit } from "./block.ts";
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
  /** a peer whose block at the checkpoint's height is not the checkpoint's block */
  TRUST_MISMATCH: "STATE_SYNC_TRUST_MISMATCH",
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
  /**
   * how the set was trusted: it is the trusted set (the genesis set, or the checkpoint's block
   * itself), the trusted set vouched for it, or through intermediate headers
   */
  readonly trust: "genesis" | "checkpoint" | "skipping" | "bisection";
}

/**
 * A checkpoint an operator trusts (CometBFT's trust_height and trust_hash): the hash of the block
 * at a height. Height 0 is genesis, which every node trusts already.
 */
export interface TrustRoot {
  readonly height: bigint;
  readonly hash: Uint8Array;
}

/** The set a node trusts and the height it signed: the genesis set at 0, or a checkpoint's. */
export interface TrustedSet {
  readonly height: bigint;
  readonly validators: readonly Validator[];
  /** the block hash at `height` (absent for genesis: its set is the genesis file's) */
  readonly hash?: Uint8Array;
}

/** The genesis set as a TrustedSet. */
export const genesisTrust = (validators: readonly Validator[]): TrustedSet => ({ height: 0n, validators });

/**
 * The trusted set of a checkpoint from a peer's light block at its height (checked with
 * checkLightBlock): the block must be the checkpoint's. Throws TRUST_MISMATCH.
 */
export function checkpointTrust(root: TrustRoot, lb: LightBlock): TrustedSet {
  if (lb.height !== root.height || !equalBytes(lb.hash, root.hash)) {
    throw new StateSyncError(StateSyncErrorCode.TRUST_MISMATCH, `the block at the trusted height ${root.height} is not the trusted one`, { height: root.height.toString() });
  }
  return { height: lb.height, validators: lb.validators, hash: lb.hash };
}

function totalPower(vs: readonly Validator[]): bigint {
  let t = 0n;
  for (const v of vs) t += v.power;
  return t;
}

/**
 * Checks an offer against the chain (chainId) and the trusted set (the genesis set, or a
 * checkpoint's); returns it decoded. Throws StateSyncError BAD_OFFER (the peer's fault), UNTRUSTED
 * (not provable from the trusted set without the headers between: see bisectTrust; or below a
 * checkpoint) or TRUST_MISMATCH (another block at the checkpoint's height).
 */
export function verifyOffer(chainId: string, trusted: TrustedSet, raw: RawOffer): VerifiedOffer {
  const offer = checkOffer(chainId, raw);
  return { ...offer, trust: trustOffer(trusted, offer) };
}

/** An offer whose block, commit and own set check; its set not trusted yet. */
export type CheckedOffer = Omit<VerifiedOffer, "trust">;

/** The stateless checks of an offer (see verifyOffer). Throws BAD_OFFER. */
export function checkOffer(chainId: string, raw: RawOffer): CheckedOffer {
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
  return { height: raw.height, block, commit, validators, depth: raw.depth };
}

/**
 * How the trusted set trusts a checked offer: it is the genesis set (or the checkpoint's block), or
 * more than 1/3 of the trusted set's power signed its commit. Throws UNTRUSTED otherwise, and for
 * an offer below a checkpoint; TRUST_MISMATCH for another block at the checkpoint's height.
 */
export function trustOffer(trusted: TrustedSet, offer: CheckedOffer): "genesis" | "checkpoint" | "skipping" {
  if (trusted.height > 0n) {
    if (offer.height < trusted.height) {
      throw new StateSyncError(StateSyncErrorCode.UNTRUSTED, `height ${offer.height} is below the trusted height ${trusted.height}`, { height: offer.height.toString() });
    }
    if (offer.height === trusted.height) {
      if (trusted.hash !== undefined && equalBytes(trusted.hash, offer.block.hash)) return "checkpoint";
      throw new StateSyncError(StateSyncErrorCode.TRUST_MISMATCH, `the offer at the trusted height ${trusted.height} is not the trusted block`, { height: offer.height.toString() });
    }
  } else if (equalBytes(validatorsHash(trusted.validators), offer.block.header.validatorsHash)) return "genesis";
  if (vouches(trusted.validators, offer)) return "skipping";
  throw new StateSyncError(
    StateSyncErrorCode.UNTRUSTED,
    `the set that signed height ${offer.height} is not the ${trusted.height > 0n ? "trusted" : "genesis"} set and at most 1/3 of its power signed it`,
    { height: offer.height.toString() },
  );
}

/** A header with the commit that finalized it and the set that signed it, checked against each other. */
export interface LightBlock {
  readonly height: bigint;
  readonly hash: Uint8Array;
  readonly commit: Commit;
  readonly validators: readonly Validator[];
}

/**
 * Skipping verification: more than 1/3 of `trusted`'s power signed `lb`'s commit (whose signatures
 * were checked against lb's own set), so at least one honest member of the trusted set vouches for it.
 */
export function vouches(trusted: readonly Validator[], lb: Pick<LightBlock, "commit" | "validators">): boolean {
  const power = new Map(trusted.map((v) => [Buffer.from(v.publicKey).toString("hex"), v.power]));
  let signed = 0n;
  for (const s of lb.commit.signatures) {
    const v = lb.validators[s.validatorIndex];
    if (v !== undefined) signed += power.get(Buffer.from(v.publicKey).toString("hex")) ?? 0n;
  }
  return signed * 3n > totalPower(trusted);
}

/** A light block as it arrives: the header's bytes, the commit's, the set's. */
export interface RawLightBlock {
  readonly header: Uint8Array;
  readonly commit: Uint8Array;
  readonly validators: Uint8Array;
}

/** Decodes and checks a light block of `height` (own set, +2/3 commit). Throws BAD_OFFER. */
export function checkLightBlock(chainId: string, height: bigint, raw: RawLightBlock): LightBlock {
  const bad = (why: string): StateSyncError => new StateSyncError(StateSyncErrorCode.BAD_OFFER, `light block at height ${height}: ${why}`);
  let header, commit: Commit, validators: Validator[];
  try {
    header = decodeHeader(raw.header);
    commit = decodeCommit(raw.commit);
    validators = decodeValidators(raw.validators);
  } catch (e) {
    throw bad(`undecodable: ${(e as Error).message}`);
  }
  if (header.height !== height || header.chainId !== chainId) throw bad(`header is for ${header.chainId} height ${header.height}`);
  if (validators.length === 0 || !equalBytes(validatorsHash(validators), header.validatorsHash)) throw bad("validator set does not hash to the header's validatorsHash");
  const hash = blockHash(raw.header);
  try {
    verifyCommit(chainId, validators, height, hash, commit);
  } catch (e) {
    throw bad(`commit: ${(e as Error).message}`);
  }
  return { height, hash, commit, validators };
}

/** Most intermediate headers bisectTrust fetches for one target. */
export const MAX_BISECTION_FETCHES = 64;

/**
 * Bisection (Tendermint's light client, from the trusted set: genesis or a checkpoint): while the last trusted set does not
 * vouch for the header in question, fetch the header halfway between them and verify that first.
 * Each header fetched is checked against its own set (+2/3) and trusted once a trusted set vouches
 * for it. Resolves once the target is trusted; throws UNTRUSTED when adjacent heights cannot be
 * bridged (the whole set changed at once), the peer has no header there (`fetch` gives null), or
 * after MAX_BISECTION_FETCHES; `fetch` throws BAD_OFFER for a header that does not check.
 */
export async function bisectTrust(from: TrustedSet, target: LightBlock, fetch: (height: bigint) => Promise<LightBlock | null>): Promise<{ fetched: number }> {
  let trusted: { height: bigint; validators: readonly Validator[] } = from;
  const pending: LightBlock[] = [target];
  let fetched = 0;
  const untrusted = (why: string): StateSyncError =>
    new StateSyncError(StateSyncErrorCode.UNTRUSTED, `the set that signed height ${target.height} cannot be traced to the ${from.height > 0n ? `trusted set of height ${from.height}` : "genesis set"}: ${why}`, { height: target.height.toString() });
  if (target.height <= from.height) throw untrusted("it is not above the trusted height");
  for (let lb = pending.at(-1); lb !== undefined; lb = pending.at(-1)) {
    if (vouches(trusted.validators, lb)) {
      trusted = lb;
      pending.pop();
      continue;
    }
    const pivot = (trusted.height + lb.height) / 2n;
    if (pivot <= trusted.height) throw untrusted(`at most 1/3 of the set of height ${trusted.height} signed height ${lb.height}`);
    if (fetched >= MAX_BISECTION_FETCHES) throw untrusted(`more than ${MAX_BISECTION_FETCHES} headers would be needed`);
    fetched++;
    const next = await fetch(pivot);
    if (next === null) throw untrusted(`the peer has no header at ${pivot}`);
    if (next.height !== pivot) throw new StateSyncError(StateSyncErrorCode.BAD_OFFER, `asked for the header at ${pivot}, got ${next.height}`);
    pending.push(next);
  }
  return { fetched };
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
  const keyHashes: Uint8Array[] = [];
  for (const [k] of records) {
    const kh = hashStateKey(k);
    keyHashes.push(kh);
    if (prefixOf(kh, m.depth) !== index) throw new StateSyncError(StateSyncErrorCode.CHUNK_OUT_OF_RANGE, `chunk ${index}: a record is under prefix ${prefixOf(kh, m.depth)}`);
    if (prev !== undefined && Buffer.compare(prev, kh) >= 0) throw new StateSyncError(StateSyncErrorCode.CHUNK_UNORDERED, `chunk ${index}: records not in increasing keyHash order`);
    prev = kh;
  }
  // The hash alone decides: leaf and internal hashes have their own domain tags, so equal hashes are
  // equal kinds. A manifest's kind byte matters to the fold only beside an empty sibling, where a
  // wrong one changes the root; elsewhere a wrong kind byte must not make an honest chunk fail.
  const s = subtreeSummary(m.depth, records, keyHashes);
  if (!equalBytes(s.hash, m.hashes.subarray(index * 32, index * 32 + 32))) {
    throw new StateSyncError(StateSyncErrorCode.CHUNK_MISMATCH, `chunk ${index}: its ${records.length} records do not make the manifest's subtree`, { index });
  }
}
