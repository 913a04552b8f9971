/**
 * The block store (docs/protocol.md section 2) on classic-level.
 *
 * A block, its commit, its receipts, its state changes, the current-state records, the tx and
 * account indexes and the new head are written in ONE atomic batch: a crash at any instruction
 * leaves either the old head with all its data or the new one with all of its.
 *
 * Layout (one prefix byte each, big-endian heights so byte order is numeric order):
 *   'M' "head"                -> [height, hash]
 *   'M' "chain"               -> [chainId, genesisHash]
 *   'M' "proposal"            -> [height, round, blockBytes, signature | null]  (own proposal, see putOwnProposal)
 *   'B' height                -> block bytes
 *   'H' hash                  -> height
 *   'K' height                -> the commit that finalized the block at height
 *   'V' height                -> the validator set that produced and committed the block at height
 *   'R' height                -> receipts [[txHash, ok, code, fee], ...]
 *   'C' height                -> state changes [[key, value | null], ...]
 *   'T' txHash                -> height u64be, index u32be (12 bytes; a store written before holds
 *                                CBOR [height, index], still read)
 *   'A' pubkey height index   -> txHash            (every account a tx touches)
 *   'S' stateKey              -> value             (the state records at the head)
 *   'N' position              -> state tree node   (chain/smt.ts paged tree at the head: the
 *                                state is read from here and 'S' on demand, never loaded whole)
 *   'U' height dbKey          -> value | empty     (the 'S' or 'N' record dbKey held before block
 *                                height rewrote it; empty: absent (no record is empty). Kept for the
 *                                last `stateHistory` heights so that the state at a recent height can
 *                                be read and proved)
 *   'M' "statefrom"           -> [height]: the oldest height whose state can still be read
 *   'W' height seq            -> one consensus input of the height in progress (the consensus
 *                                WAL, node/wal.ts; seq is a u32 counted from 0 per height)
 *   'M' "walsync"             -> empty; rewritten with sync to make earlier WAL writes durable
 *   'G' epoch                 -> [reward, height, []]: an ended epoch's emission and the height
 *                                of the block that ended it (written for every ended epoch)
 *   'M' "verified"            -> [height]: heights 1..height passed the integrity check (see open)
 *   'M' "walabstain"          -> [height]: a height whose WAL was damaged after this node signed at it
 *                                (node/driver.ts signs nothing more there, across restarts too)
 *   'M' "base"                -> [height]: the oldest stored block, when it is not 1: a store installed
 *                                by state sync (p2p/state-sync.ts) holds blocks from the snapshot's
 *                                height on; below it nothing is stored (reads say STORE_BLOCK_PRUNED)
 *   'M' "statesync"           -> [height]: a state sync into this store began and has not finished;
 *                                the final batch of the install removes it. `open` refuses a store
 *                                that has it (a half-written state is never taken for a state)
 *
 * Integrity (classic-level has no paranoid checks: a damaged .log loses or
 * rolls back records with no error, and a missing CURRENT opens an empty database):
 * - before LevelDB opens the directory, a directory with table or log files but no CURRENT is
 *   refused (LevelDB would start an empty database there and delete the old tables);
 * - a database with keys but no chain record is refused, never initialised as a new genesis;
 * - `HEAD_MARK_FILE` beside the database records the head reached, rewritten after every commit:
 *   a head below it is a rollback (a truncated .log), refused;
 * - the rolling check verifies every height above the 'M' "verified" mark (so a restart checks
 *   only the heights committed since the last one): block present and decodable, its height, its
 *   link to the parent, its body against its header, the hash index, the receipts against the
 *   header, the state changes present, and its commit against the stored set 'V' of the height;
 * - the full check (`check: "full"`, the `cloudcoin verify-store` command) does the same from
 *   height 1 and also replays the stored state changes 'C' from genesis against every header's
 *   state root; on a store installed by state sync it checks from the base, and cannot replay the
 *   state (the changes before the base are not stored): the head state's records are checked
 *   against the head's state root instead (loadState full);
 * - the base block of a state-synced store has no receipts, state changes or tx index entries (its
 *   execution was not seen here), and no parent to link to: the checks skip those for it;
 * - `repair: true` (`cloudcoin start --resync`) cuts a damaged store back to its last good height
 *   instead of refusing (state rebuilt by replaying 'C' from genesis), and moves an unrecognised
 *   directory aside; block sync then fetches the rest from peers, verifying it again. A
 *   state-synced store cannot be cut back (no replay from genesis): STORE_CANNOT_REPLAY.
 *
 * Every other prefix byte belongs to a module (chain/registry.ts): its secondary indexes, fed by
 * events and written in the block's batch (IndexSpec: e.g. 'P'/'Q' channels by payer/payee, 'D'/'E'
 * deals by client/provider, 'I' reward mints), and its node-local keyspaces (LocalSpaceSpec: e.g.
 * 'X' the best voucher per channel). `open` refuses a module code that collides with the store's.
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel, type ChainedBatch as LevelChainedBatch } from "classic-level";
import { asArray, asBool, asBytes, asString, asU64, asUint, decode, encode, u64 } from "../primitives/codec.ts";
import { concatBytes, equalBytes, latin1, readU64be, toHex, u32be, u64be, utf8 } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { commitHash, decodeBlock, decodeCommit, encodeCommit, verifyCommit, type Block, type Commit } from "./block.ts";
import { evidenceRoot } from "./evidence.ts";
import { receiptsRoot, txRoot } from "./transition.ts";
import { ChainState, DiskTree, decodeValidators, encodeValidators, StateKey, validatorsHash, type StateBackend, type StateChange, type StateTree, type Validator } from "./state.ts";
import { nodePath, pagedCut, pagedLeavesUnder, pagedRoot, pagedUpdate, SparseMerkleTree, type NodeWrite } from "./smt.ts";
import { txParticipants, type SignedTx } from "./tx.ts";
import type { BlockResult, Receipt } from "./transition.ts";
import { decodeEpochRecord } from "./epoch.ts";
import { registry } from "./registry.ts";

const P = {
  meta: 0x4d, // M
  block: 0x42, // B
  hash: 0x48, // H
  commit: 0x4b, // K
  receipts: 0x52, // R
  changes: 0x43, // C
  tx: 0x54, // T
  account: 0x41, // A
  state: 0x53, // S
  validators: 0x56, // V
  wal: 0x57, // W
  epochRewards: 0x47, // G
  node: 0x4e, // N
  undo: 0x55, // U
} as const;
const STORE_PREFIXES: ReadonlySet<number> = new Set(Object.values(P));

type ChainedBatch = LevelChainedBatch<ClassicLevel<Uint8Array, Uint8Array>, Uint8Array, Uint8Array>;

/** Allocates `n` zeroed bytes: a new array, or a slice of an Arena's block. */
type Alloc = (n: number) => Uint8Array;
const newBytes: Alloc = (n) => new Uint8Array(n);

/**
 * Small arrays cut from shared 64 KiB blocks. A block's commit makes tens of thousands of index
 * keys and values; as separate small arrays they cost about twice as much to allocate, hand to
 * LevelDB (which copies them into its batch) and collect as slices of a few large ones.
 */
class Arena {
  #block = new Uint8Array(0);
  #at = 0;
  readonly alloc: Alloc = (n) => {
    if (this.#at + n > this.#block.length) {
      this.#block = new Uint8Array(Math.max(65536, n));
      this.#at = 0;
    }
    const out = this.#block.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  };
}

/** A database key: the prefix byte, then the parts. */
function key(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  return keyIn(newBytes, prefix, ...parts);
}
function keyIn(alloc: Alloc, prefix: number, ...parts: Uint8Array[]): Uint8Array {
  let length = 1;
  for (const p of parts) length += p.length;
  const out = alloc(length);
  out[0] = prefix;
  let at = 1;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** 'T' value: the height (`hb`, u64be) and the index (u32be), fixed-width: no CBOR per transaction. */
function txLocationValue(hb: Uint8Array, index: number, alloc: Alloc = newBytes): Uint8Array {
  const out = alloc(12);
  out.set(hb);
  out[8] = index >>> 24;
  out[9] = index >>> 16;
  out[10] = index >>> 8;
  out[11] = index;
  return out;
}

/** The 'T' and 'A' index records of a block's transactions (`hb`: its height as u64be) into `batch`. */
function putTxIndex(batch: ChainedBatch, txs: readonly SignedTx[], hb: Uint8Array, alloc: Alloc): void {
  // The hot loops are indexed and in small functions of their own: inside commitBlock they ran
  // in V8's interpreter until replaced on the stack, and that code was dropped again as soon as a
  // later part of the large function ran for the first time (too little type feedback there).
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!;
    const txKey = alloc(1 + tx.hash.length);
    txKey[0] = P.tx;
    txKey.set(tx.hash, 1);
    batch.put(txKey, txLocationValue(hb, i, alloc));
    const who = txParticipants(tx);
    for (let j = 0; j < who.length; j++) batch.put(accountTxKey(who[j]!, hb, i, alloc), tx.hash);
  }
}

/** A 'T' value: fixed-width, or the CBOR [height, index] of a store written before (it begins 0x82). */
function decodeTxLocation(b: Uint8Array): TxLocation {
  if (b.length === 12 && b[0] !== 0x82) return { height: readU64be(b, 0), index: ((b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!) >>> 0 };
  const v = asArray(decode(b), "txloc", 2);
  return { height: asU64(v[0], "height"), index: asUint(v[1], "index") };
}

/** 'A' pubkey height index (`hb`: the height as u64be): a block writes one per tx and account. */
function accountTxKey(publicKey: Uint8Array, hb: Uint8Array, index: number, alloc: Alloc = newBytes): Uint8Array {
  const out = alloc(1 + publicKey.length + 12);
  out[0] = P.account;
  out.set(publicKey, 1);
  out.set(hb, 1 + publicKey.length);
  // by hand: a DataView would first move the small array's bytes out of the JS heap (costly)
  const at = out.length - 4;
  out[at] = index >>> 24;
  out[at + 1] = index >>> 16;
  out[at + 2] = index >>> 8;
  out[at + 3] = index;
  return out;
}

const EMPTY = new Uint8Array(0);
/** Encoded size of the decoded blocks BlockStore keeps for reads (the latest ones, mostly). */
const MAX_CACHED_BLOCK_BYTES = 32 * 1024 * 1024;
const HEAD_KEY = key(P.meta, utf8.encode("head"));
const CHAIN_KEY = key(P.meta, utf8.encode("chain"));
const PROPOSAL_KEY = key(P.meta, utf8.encode("proposal"));
const WAL_SYNC_KEY = key(P.meta, utf8.encode("walsync"));
const VERIFIED_KEY = key(P.meta, utf8.encode("verified"));
const WAL_ABSTAIN_KEY = key(P.meta, utf8.encode("walabstain"));
const STATE_FROM_KEY = key(P.meta, utf8.encode("statefrom"));
const BASE_KEY = key(P.meta, utf8.encode("base"));
const STATE_SYNC_KEY = key(P.meta, utf8.encode("statesync"));
const ROOT_NODE_KEY = key(P.node, nodePath(new Uint8Array(32), 0));
/**
 * Table files LevelDB keeps open (StoreOpenOptions.maxOpenFiles). Its default, 1,000, covers ~2 GB
 * of 2 MiB tables: a state of 10,000,000 accounts is ~1,400 tables, and past the bound most random
 * reads reopened a table (open, index and filter read) before reading it; cold reads of such a
 * state ran at 0.15 of hot ones. 4,000 covers ~8 GB (~28,000,000 accounts). The cost: an open
 * table past the first 1,000 (which LevelDB maps) holds its index and filter in memory, about 2% of
 * its size, so at most ~120 MiB. No descriptor exhaustion: LevelDB closes a mapped table's
 * descriptor, holds at most a fifth of the process's limit open for the others, and reopens the
 * rest on each read.
 */
export const DEFAULT_MAX_OPEN_FILES = 4_000;
/** Default bound of the state cache (StoreOpenOptions.stateCacheBytes). */
export const DEFAULT_STATE_CACHE_BYTES = 64 * 1024 * 1024;
/** Default number of recent heights whose state stays readable (StoreOpenOptions.stateHistory). */
export const DEFAULT_STATE_HISTORY = 100;
/** What a cache entry costs beyond its key and value bytes (Map slot, string, array header). */
const CACHE_ENTRY_OVERHEAD = 160;
/** The head this store reached, outside the database (a rolled-back .log cannot roll it back). */
export const HEAD_MARK_FILE = "CLOUDCOIN-HEAD";
/** 'W' + u64be height + u32be seq */
const WAL_KEY_LENGTH = 1 + 8 + 4;

/** One stored consensus WAL entry: its position in the height and the bytes node/wal.ts wrote. */
export interface WalRecord {
  readonly seq: number;
  readonly bytes: Uint8Array;
}

/** This node's latest proposal, kept until its height is committed. */
export interface OwnProposal {
  readonly height: bigint;
  readonly round: number;
  readonly block: Block;
  readonly signature: Uint8Array | null;
}

export const StoreErrorCode = {
  WRONG_CHAIN: "STORE_WRONG_CHAIN",
  NOT_NEXT: "STORE_NOT_NEXT_BLOCK",
  CORRUPT: "STORE_CORRUPT",
  /** a height fails the integrity check; data.height is the first bad one, data.good the last good */
  DAMAGED: "STORE_DAMAGED",
  /** the head is below the head this store recorded reaching (HEAD_MARK_FILE); data.head, data.recorded */
  ROLLED_BACK: "STORE_ROLLED_BACK",
  /** the directory holds data that is not a store of any chain (no CURRENT, or keys but no chain record) */
  UNRECOGNISED: "STORE_UNRECOGNISED",
  /** the state at a height older than the store keeps (stateHistory), or above the head; data.height, data.oldest, data.head */
  STATE_PRUNED: "STORE_STATE_PRUNED",
  /** a block below the store's base (a state-synced store keeps none below it); data.height, data.base */
  BLOCK_PRUNED: "STORE_BLOCK_PRUNED",
  /** a state sync into this store began and did not finish: data.height, the snapshot's height */
  STATE_SYNC_INCOMPLETE: "STORE_STATE_SYNC_INCOMPLETE",
  /** state sync into a store that already holds blocks past genesis */
  NOT_FRESH: "STORE_NOT_FRESH",
  /** a repair or state replay that needs the blocks below a state-synced store's base; data.base */
  CANNOT_REPLAY: "STORE_CANNOT_REPLAY",
  /** a block at the operator's checkpoint height that is not the checkpoint's block; data.height */
  CHECKPOINT_MISMATCH: "STORE_CHECKPOINT_MISMATCH",
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];
export class StoreError extends CodedError<StoreErrorCode> {}

/** How much of the store `open` verifies: heights above the verified mark, all of them (with the state), or none. */
export type StoreCheck = "rolling" | "full" | "none";

export interface StoreOpenOptions {
  /** default "rolling" */
  readonly check?: StoreCheck;
  /** Cut a damaged or rolled-back store back to its last good height instead of refusing (implies a full check). */
  readonly repair?: boolean;
  /** Bound of the in-memory cache of state records and tree nodes, bytes (default DEFAULT_STATE_CACHE_BYTES). */
  readonly stateCacheBytes?: number;
  /** How many recent heights' state stays readable and provable (default DEFAULT_STATE_HISTORY, at least 1). */
  readonly stateHistory?: number;
  /** LevelDB's table cache: how many table files it keeps open (default DEFAULT_MAX_OPEN_FILES). */
  readonly maxOpenFiles?: number;
  /**
   * The caller is about to state-sync into this store: a store left with an unfinished state sync
   * opens (stateSyncPending says so) instead of being refused; beginStateSync starts over.
   */
  readonly stateSync?: boolean;
  /**
   * A block the operator trusts (--trust-height, --trust-hash): a store holding another block at
   * that height is refused at open, and commitBlock refuses another block there (CHECKPOINT_MISMATCH),
   * so that the node never follows a history that contradicts it (a long-range fork).
   */
  readonly checkpoint?: { readonly height: bigint; readonly hash: Uint8Array };
}

/** What a cache entry is estimated to cost in memory. */
const cacheCost = (id: string, v: Uint8Array | null): number => id.length + (v?.length ?? 0) + CACHE_ENTRY_OVERHEAD;

/** What a cache entry is: a state record ('S', by its state key) or a tree node ('N', by its path). */
const RECORD = 0;
const NODE = 1;
type CacheKind = typeof RECORD | typeof NODE;

/** A generation of the cache: one map per kind (see StateCache), and what its entries cost. */
interface CacheGeneration {
  readonly maps: readonly [Map<string, Uint8Array | null>, Map<string, Uint8Array | null>];
  bytes: number;
}

/** Layers of fewer entries than this are copied into the cache; larger ones are kept as they are. */
const ADOPT_AT = 4096;
/** The most generations the cache keeps (a lookup that misses checks each). */
const MAX_GENERATIONS = 8;

/**
 * Recently used records of the state at the head (state records by their key, tree nodes by their
 * path, each as a latin1 string, in one map per kind; null: known absent), bounded by an estimate of
 * their bytes, in generations, newest first. A lookup returns the first generation's entry that has
 * the id, so the newest entry shadows older ones; a hit in an older generation is copied into the
 * newest, so what is used stays, and the oldest generations are dropped when the bound is reached.
 *
 * Reads that miss go into the newest generation (the read generation, sealed and replaced once it
 * holds a quarter of the bound). A committed block's records and tree nodes, the maps the DiskTree's
 * layer already built (`adopt`), become a generation of their own above every other, with a new
 * read generation above them: putting ~90,000 entries of a large block one by one into a map cost
 * ~15% of its commit. That the newest entry for an id is the head's value holds because every
 * change of the head comes through `adopt` (a small layer's entries are put into the newest
 * generation, replacing what it held), and a read is put into a generation newer than every
 * adopted one: dropping the oldest generations can lose entries, never make a stale one visible.
 * Adopted maps are never changed here.
 */
export class StateCache {
  #gens: CacheGeneration[] = [StateCache.#generation()];
  #bytes = 0;
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  static #generation(): CacheGeneration {
    return { maps: [new Map(), new Map()], bytes: 0 };
  }
  get(kind: CacheKind, id: string): Uint8Array | null | undefined {
    const gens = this.#gens;
    const v = gens[0]!.maps[kind].get(id);
    if (v !== undefined) return v;
    for (let i = 1; i < gens.length; i++) {
      const o = gens[i]!.maps[kind].get(id);
      if (o !== undefined) {
        this.set(kind, id, o);
        return o;
      }
    }
    return undefined;
  }
  /** The entry for `id`, as `get`, but without copying a hit in an older generation into the newest. */
  peek(kind: CacheKind, id: string): Uint8Array | null | undefined {
    const gens = this.#gens;
    for (let i = 0; i < gens.length; i++) {
      const v = gens[i]!.maps[kind].get(id);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  /** Puts the head's value of `id` into the newest generation. */
  set(kind: CacheKind, id: string, v: Uint8Array | null): void {
    const gen = this.#gens[0]!;
    const map = gen.maps[kind];
    const prev = map.get(id);
    const cost = cacheCost(id, v) - (prev === undefined ? 0 : cacheCost(id, prev));
    map.set(id, v);
    gen.bytes += cost;
    this.#bytes += cost;
    if (gen.bytes > this.#max / 4) this.#gens.unshift(StateCache.#generation());
    this.#evict();
  }
  /**
   * A committed block's entries (records and tree nodes by id; null: deleted), newer than anything
   * the cache holds. The maps are kept, not copied (when large), and never changed. `cost`: what
   * their entries cost (cacheCost of each), when the caller has counted it already.
   */
  adopt(records: ReadonlyMap<string, Uint8Array | null>, nodes: ReadonlyMap<string, Uint8Array | null>, cost?: number): void {
    if (records.size + nodes.size < ADOPT_AT) {
      for (const [id, v] of records) this.set(RECORD, id, v);
      for (const [id, v] of nodes) this.set(NODE, id, v);
      return;
    }
    let bytes = cost ?? 0;
    if (cost === undefined) {
      for (const [id, v] of records) bytes += cacheCost(id, v);
      for (const [id, v] of nodes) bytes += cacheCost(id, v);
    }
    if (bytes > this.#max) {
      // too big to keep: nothing older may stay visible either
      this.clear();
      return;
    }
    const layer: CacheGeneration = { maps: [records as Map<string, Uint8Array | null>, nodes as Map<string, Uint8Array | null>], bytes };
    const read = this.#gens[0]!;
    // [a new read generation, the layer, what was there]; an empty read generation stays on top
    if (read.maps[0].size === 0 && read.maps[1].size === 0) this.#gens.splice(1, 0, layer);
    else this.#gens.unshift(StateCache.#generation(), layer);
    this.#bytes += bytes;
    this.#evict();
  }
  #evict(): void {
    while (this.#gens.length > 1 && (this.#bytes > this.#max || this.#gens.length > MAX_GENERATIONS)) this.#bytes -= this.#gens.pop()!.bytes;
  }
  clear(): void {
    this.#gens = [StateCache.#generation()];
    this.#bytes = 0;
  }
  /** The estimated bytes held, and the generations (for tests). */
  get size(): { bytes: number; generations: number } {
    return { bytes: this.#bytes, generations: this.#gens.length };
  }
}

/** The undo record of a record that was absent (a stored record is never empty). */
const UNDO_ABSENT = new Uint8Array(0);

/**
 * The keys of a block's state writes, all in one allocation: a block rewrites tens of thousands of
 * records, and separate small keys cost more to allocate and collect than to write. Per record, in
 * turn (`next`): its undo key ('U' height prefix record-key) and its own key (prefix record-key,
 * the undo key's tail).
 */
class StateWriteKeys {
  readonly #bytes: Uint8Array;
  readonly #hb: Uint8Array;
  #start = 0;
  #end = 0;
  /** For block height `hb` (u64be) and records whose keys are `keyBytes` long in all. */
  constructor(hb: Uint8Array, records: number, keyBytes: number) {
    this.#bytes = new Uint8Array(records * 10 + keyBytes);
    this.#hb = hb;
  }
  /** Moves on to the record `k` under `prefix` ('S' or 'N'). */
  next(prefix: number, k: Uint8Array): void {
    const b = this.#bytes;
    const at = (this.#start = this.#end);
    b[at] = P.undo;
    b.set(this.#hb, at + 1);
    b[at + 9] = prefix;
    b.set(k, at + 10);
    this.#end = at + 10 + k.length;
  }
  get undo(): Uint8Array {
    return this.#bytes.subarray(this.#start, this.#end);
  }
  get record(): Uint8Array {
    return this.#bytes.subarray(this.#start + 9, this.#end);
  }
}

/** What `open` did to a store opened with repair (BlockStore.repaired). */
export interface StoreRepair {
  /** the head before, the height it was cut back to (equal when nothing was cut) */
  readonly from: bigint;
  readonly to: bigint;
  /** why: the first bad height and its reason, a rollback, or a directory moved aside */
  readonly reason: string;
  /** where an unrecognised directory was moved */
  readonly movedTo?: string;
}

/** The first height that fails a check, and why. */
export interface StoreDamage {
  readonly height: bigint;
  readonly reason: string;
}

interface ChainId {
  readonly chainId: string;
  readonly genesisHash: Uint8Array;
  readonly genesisState: () => ChainState;
}

const LEVELDB_FILE = /^(CURRENT|MANIFEST-\d+|\d+\.(ldb|sst|log))$/;

/** The head mark: [chainId, genesisHash, height, hash] as JSON. Undefined when absent or unreadable. */
async function readHeadMark(path: string): Promise<{ chainId: string; genesisHash: string; height: bigint; hash: string } | undefined> {
  try {
    const j = JSON.parse(await readFile(join(path, HEAD_MARK_FILE), "utf8")) as Record<string, unknown>;
    if (typeof j.chainId !== "string" || typeof j.genesisHash !== "string" || typeof j.height !== "string" || !/^(0|[1-9][0-9]*)$/.test(j.height) || typeof j.hash !== "string") return undefined;
    return { chainId: j.chainId, genesisHash: j.genesisHash, height: BigInt(j.height), hash: j.hash };
  } catch {
    return undefined;
  }
}

/**
 * Rewrites the head mark (temporary file, rename). Written only after the head it names is durable
 * in the database, so it is never ahead of it: a crash leaves it equal or behind. No fsync (it
 * cost ~8 ms a commit here): after a power loss the mark may be behind or missing, which weakens
 * the rollback check but never raises a false one.
 */
async function writeHeadMark(path: string, chainId: string, genesisHash: Uint8Array, head: Head): Promise<void> {
  const file = join(path, HEAD_MARK_FILE);
  const tmp = `${file}.tmp`;
  // Synchronous: a few small syscalls on the main thread cost less than four round trips through
  // libuv's thread pool, which the database's own work keeps busy (2.4 ms a commit, measured).
  writeFileSync(tmp, JSON.stringify({ chainId, genesisHash: toHex(genesisHash), height: head.height.toString(), hash: toHex(head.hash) }) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
}

export interface Head {
  readonly height: bigint;
  readonly hash: Uint8Array;
}

export interface TxLocation {
  readonly height: bigint;
  readonly index: number;
}

export interface StoredTx extends TxLocation {
  readonly tx: SignedTx;
  readonly receipt: Receipt;
  readonly blockHash: Uint8Array;
  readonly time: bigint;
}

export interface AccountTxEntry extends TxLocation {
  readonly hash: Uint8Array;
}

/** An ended epoch: its emission (the reward before the split) and the height of its last block. */
export interface EndedEpoch {
  readonly epoch: bigint;
  readonly reward: bigint;
  readonly height: bigint;
}

function encodeEndedEpoch(r: EndedEpoch): Uint8Array {
  return encode([u64(r.reward), u64(r.height), []]);
}
function decodeEndedEpoch(epoch: bigint, b: Uint8Array): EndedEpoch {
  const v = asArray(decode(b), "epochRewards", 3);
  return { epoch, reward: asU64(v[0], "reward"), height: asU64(v[1], "height") };
}

function encodeReceipts(rs: readonly Receipt[]): Uint8Array {
  return encode(rs.map((r) => [r.txHash, r.ok, r.code, u64(r.fee)]));
}
function decodeReceipts(b: Uint8Array): Receipt[] {
  return asArray(decode(b), "receipts").map((x) => {
    const r = asArray(x, "receipt", 4);
    return { txHash: asBytes(r[0], "txHash", 32), ok: asBool(r[1], "ok"), code: asString(r[2], "code"), fee: asU64(r[3], "fee") };
  });
}

function decodeChanges(b: Uint8Array): StateChange[] {
  return asArray(decode(b), "changes").map((x) => {
    const c = asArray(x, "change", 2);
    return [asBytes(c[0], "key"), c[1] === null ? null : asBytes(c[1], "value")] as const;
  });
}

/** Renames a directory that cannot be trusted to `<path>.damaged-<time>`, kept for a person to look at. */
async function moveAside(path: string): Promise<string> {
  const to = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await rename(path, to);
  return to;
}

/** Writes a new store's genesis records (the whole database: it must be empty) and its head mark. */
async function writeGenesis(db: ClassicLevel<Uint8Array, Uint8Array>, path: string, chain: ChainId): Promise<ChainState> {
  const genesis = chain.genesisState();
  const batch = db.batch();
  const entries = [...genesis.tree.entries()];
  for (const [k, v] of entries) batch.put(key(P.state, k), v);
  for (const [p, r] of pagedUpdate(() => undefined, entries).writes) batch.put(key(P.node, p), r!);
  batch.put(STATE_FROM_KEY, encode([0]));
  batch.put(CHAIN_KEY, encode([chain.chainId, chain.genesisHash]));
  batch.put(HEAD_KEY, encode([0, chain.genesisHash]));
  batch.put(VERIFIED_KEY, encode([0]));
  await batch.write({ sync: true });
  await writeHeadMark(path, chain.chainId, chain.genesisHash, { height: 0n, hash: chain.genesisHash });
  return genesis;
}

/** A block installed by state sync: the block, its commit and the set that signed it. */
export interface SnapshotBase {
  readonly block: Block;
  readonly commit: Commit;
  readonly validators: readonly Validator[];
}

export class BlockStore {
  readonly #db: ClassicLevel<Uint8Array, Uint8Array>;
  #head: Head;
  /**
   * The state's epoch record at the head (chain/epoch.ts), kept so that the block that ends an epoch
   * knows the emission it replaced without a read: commitBlock goes from its head check to the
   * write with no await before the batch.
   */
  #epochRecord: Uint8Array | undefined;
  /**
   * Recently committed or read blocks, decoded, by height, least recently used first: a stored
   * block never changes, explorers and wallets ask for the latest ones over and over, and decoding
   * one costs far more than the read. Bounded by the blocks' encoded size.
   */
  readonly #recent = new Map<bigint, Block>();
  #recentBytes = 0;

  readonly #path: string;
  readonly #chain: ChainId;
  #repaired: StoreRepair | undefined;

  readonly #cache: StateCache;
  readonly #history: number;
  /** The oldest height whose state can be read ('M' "statefrom"). */
  #stateFrom = 0n;
  /** The oldest stored block ('M' "base"; 1 unless the store was installed by state sync). */
  #base = 1n;
  readonly #checkpoint: StoreOpenOptions["checkpoint"];
  /** The snapshot height of a state sync begun and not finished ('M' "statesync"). */
  #stateSyncPending: bigint | undefined;
  /** State-sync writes, one after another (each reads the tree nodes the one before wrote). */
  #installing: Promise<void> = Promise.resolve();
  /** Heights whose state stays readable past stateHistory while peers fetch its snapshot: height -> lease end (ms since the epoch). */
  readonly #pins = new Map<bigint, number>();
  /** The height whose batch is being written, while it is: reads then consult its undo records too. */
  #writing: bigint | undefined;
  /** What DiskTrees read: the state records and tree nodes at a committed height. */
  readonly #backend: StateBackend = {
    record: (k, version) => this.#readAt(RECORD, k, version),
    node: (p, version) => this.#readAt(NODE, p, version),
  };

  private constructor(db: ClassicLevel<Uint8Array, Uint8Array>, path: string, chain: ChainId, head: Head, epochRecord: Uint8Array | undefined, opts: StoreOpenOptions) {
    this.#db = db;
    this.#path = path;
    this.#chain = chain;
    this.#head = head;
    this.#epochRecord = epochRecord;
    this.#cache = new StateCache(opts.stateCacheBytes ?? DEFAULT_STATE_CACHE_BYTES);
    this.#history = Math.max(1, Math.floor(opts.stateHistory ?? DEFAULT_STATE_HISTORY));
    this.#checkpoint = opts.checkpoint;
  }

  /** Refuses `hash` at `height` when it contradicts the checkpoint. */
  #holdCheckpoint(height: bigint, hash: Uint8Array, what: string): void {
    const cp = this.#checkpoint;
    if (cp === undefined || cp.height !== height || equalBytes(cp.hash, hash)) return;
    throw new StoreError(
      StoreErrorCode.CHECKPOINT_MISMATCH,
      `${what} at the trusted height ${height} is ${toHex(hash)}, not the trusted ${toHex(cp.hash)}: this is another history than the one the checkpoint (--trust-height, --trust-hash) names`,
      { height: height.toString() },
    );
  }

  /**
   * The state record with key `k` (kind RECORD, database key 'S' k) or the tree node at path `k`
   * (NODE, 'N' k) after block `version`, synchronously: the current record, unless a later block
   * rewrote it, in which case the first such block's undo record holds it. The current record is
   * read first, so that a batch landing between the two reads still gives the right answer (the
   * batch writes the record and its undo together). `dk`: the database key, when the caller has it
   * already (made only on a cache miss otherwise). `cached` false: neither consult nor fill the
   * cache (snapshot serving reads the whole state once: it would push the records consensus reads
   * out of the cache).
   */
  #readAt(kind: CacheKind, k: Uint8Array, version: bigint, dk?: Uint8Array, cached = true): Uint8Array | undefined {
    const atHead = cached && version === this.#head.height;
    let id: string | undefined;
    if (atHead) {
      id = latin1(k);
      const c = this.#cache.get(kind, id);
      if (c !== undefined) return c ?? undefined;
    } else if (version < this.#stateFrom || version > this.#head.height) {
      throw new StoreError(StoreErrorCode.STATE_PRUNED, `the state at height ${version} is not kept (oldest ${this.#stateFrom}, head ${this.#head.height})`, {
        height: version.toString(),
        oldest: this.#stateFrom.toString(),
        head: this.#head.height.toString(),
      });
    }
    dk ??= key(kind === RECORD ? P.state : P.node, k);
    let v = this.#db.getSync(dk);
    const top = this.#writing ?? this.#head.height;
    for (let h = version + 1n; h <= top; h++) {
      const u = this.#db.getSync(key(P.undo, u64be(h), dk));
      if (u !== undefined) {
        v = u.length === 0 ? undefined : u;
        break;
      }
    }
    if (atHead && version === this.#head.height) this.#cache.set(kind, id!, v ?? null);
    return v;
  }

  /**
   * Opens (or creates) the store for a chain. A new store is initialised with the genesis state
   * at height 0, only in an empty directory; an existing one must belong to the same chain id and
   * genesis, must not have rolled back, and must pass the check (see the top of this file).
   * Refusals: StoreError UNRECOGNISED, WRONG_CHAIN, ROLLED_BACK, DAMAGED (data.height: the first
   * bad height). With `repair`, damage and rollbacks are cut back instead (`repaired` says how).
   */
  static async open(path: string, chain: ChainId, opts: StoreOpenOptions = {}): Promise<BlockStore> {
    for (const [code, owner] of registry().storeCodes) {
      if (STORE_PREFIXES.has(code)) throw new TypeError(`store prefix 0x${code.toString(16)} of ${owner} is the block store's own`);
    }
    let movedTo: string | undefined;
    // LevelDB opens a directory without CURRENT as a new, empty database (and deletes the tables it
    // does not know): look before it does.
    const files = existsSync(path) ? await readdir(path) : [];
    if (!files.includes("CURRENT") && files.some((f) => LEVELDB_FILE.test(f) || f === HEAD_MARK_FILE)) {
      const msg = `${path} holds block store files but no CURRENT file: it is damaged and LevelDB would open it as an empty database`;
      if (!opts.repair) throw new StoreError(StoreErrorCode.UNRECOGNISED, `${msg}. Restore it from a backup, or start with --resync to move it aside and sync the chain from peers`, { path });
      movedTo = await moveAside(path);
    }
    const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: "view", valueEncoding: "view" });
    // No block compression: state records and tree nodes are mostly hashes (snappy gains nothing on
    // them) and decompressing a block on every cold state read cost ~3x the read here.
    await db.open({ compression: false, maxOpenFiles: opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES });
    try {
      const chainRec = await db.get(CHAIN_KEY);
      if (chainRec === undefined) {
        let any = false;
        for await (const _ of db.keys({ limit: 1 })) any = true;
        if (any) {
          const msg = `${path} holds records but no chain record: it is not a block store this node can trust`;
          if (!opts.repair) throw new StoreError(StoreErrorCode.UNRECOGNISED, `${msg}. Restore it from a backup, or start with --resync to move it aside and sync the chain from peers`, { path });
          await db.close();
          movedTo = await moveAside(path);
          return BlockStore.open(path, chain, { ...opts, repair: false }).then((s) => {
            s.#repaired = { from: 0n, to: 0n, reason: "unrecognised directory moved aside", movedTo };
            return s;
          });
        }
        const genesis = await writeGenesis(db, path, chain);
        const head = { height: 0n, hash: chain.genesisHash };
        const store = new BlockStore(db, path, chain, head, genesis.get(StateKey.epoch), opts);
        if (movedTo !== undefined) store.#repaired = { from: 0n, to: 0n, reason: "damaged directory moved aside", movedTo };
        return store;
      }
      const c = asArray(decode(chainRec), "chain", 2);
      const storedId = asString(c[0], "chainId");
      if (storedId !== chain.chainId || !equalBytes(asBytes(c[1], "genesisHash", 32), chain.genesisHash)) {
        throw new StoreError(StoreErrorCode.WRONG_CHAIN, `data directory belongs to chain "${storedId}" with another genesis; use a fresh data directory`);
      }
      const h = await db.get(HEAD_KEY);
      if (h === undefined) throw new StoreError(StoreErrorCode.CORRUPT, "store has a chain record but no head");
      const hv = asArray(decode(h), "head", 2);
      const store = new BlockStore(db, path, chain, { height: asU64(hv[0], "height"), hash: asBytes(hv[1], "hash", 32) }, await db.get(key(P.state, StateKey.epoch)), opts);
      const base = await db.get(BASE_KEY);
      if (base !== undefined) store.#base = asU64(asArray(decode(base), "base", 1)[0], "base");
      const pending = await db.get(STATE_SYNC_KEY);
      if (pending !== undefined) {
        const at = asU64(asArray(decode(pending), "statesync", 1)[0], "statesync");
        if (opts.stateSync) {
          // the caller starts the state sync over (beginStateSync clears what the last one wrote)
          store.#stateSyncPending = at;
          return store;
        }
        if (!opts.repair) {
          throw new StoreError(
            StoreErrorCode.STATE_SYNC_INCOMPLETE,
            `a state sync into this store (snapshot height ${at}) did not finish: its state is incomplete. Start again with --state-sync to redo it, or with --resync to return the store to genesis and sync every block`,
            { height: at.toString() },
          );
        }
        await store.#resetToGenesis();
        store.#repaired = { from: 0n, to: 0n, reason: `unfinished state sync (snapshot height ${at}) removed` };
        return store;
      }
      await store.#check(opts);
      await store.#openState();
      const cp = opts.checkpoint;
      if (cp !== undefined && cp.height >= store.#base && cp.height <= store.#head.height) {
        const held = await store.getBlock(cp.height);
        if (held !== undefined) store.#holdCheckpoint(cp.height, held.hash, "the stored block");
      }
      return store;
    } catch (e) {
      if (db.status === "open") await db.close();
      throw e;
    }
  }

  /** What `open` with repair did, if anything. */
  get repaired(): StoreRepair | undefined {
    return this.#repaired;
  }

  /** The rollback check, then the rolling or full check; with repair, the cut back. */
  async #check(opts: StoreOpenOptions): Promise<void> {
    const head = this.#head;
    const mark = await readHeadMark(this.#path);
    let rolledBack: string | undefined;
    if (mark !== undefined && mark.chainId === this.#chain.chainId && mark.genesisHash === toHex(this.#chain.genesisHash)) {
      if (mark.height > head.height || (mark.height === head.height && mark.hash !== toHex(head.hash))) {
        rolledBack = `the store's head is ${head.height} but it had reached ${mark.height}${mark.height === head.height ? " with another block" : ""}: its log lost committed blocks`;
        if (!opts.repair) {
          throw new StoreError(StoreErrorCode.ROLLED_BACK, `${rolledBack}. Start with --resync to keep the blocks up to the last good height and fetch the rest from peers`, { head: head.height.toString(), recorded: mark.height.toString() });
        }
      }
    }
    const check = opts.repair ? "full" : (opts.check ?? "rolling");
    if (check === "none") return;
    const verified = await this.verifiedHeight();
    if (verified > head.height && rolledBack === undefined) {
      // the mark file may be gone; the verified record outliving the head says the same
      rolledBack = `the store's head is ${head.height} but heights up to ${verified} were verified here: its log lost committed blocks`;
      if (!opts.repair) {
        throw new StoreError(StoreErrorCode.ROLLED_BACK, `${rolledBack}. Start with --resync to keep the blocks up to the last good height and fetch the rest from peers`, { head: head.height.toString(), recorded: verified.toString() });
      }
    }
    // A state-synced store holds blocks from its base on, and its state cannot be replayed from genesis.
    const base = this.#base;
    const from = check === "full" || verified > head.height || verified < base ? base : verified + 1n;
    const { damage, tree } = await this.checkHeights(from, head.height, check === "full" && base === 1n);
    if (damage !== undefined && (!opts.repair || base > 1n)) {
      const fix =
        base > 1n
          ? `This store was installed by state sync (base ${base}): it cannot be cut back, since its state cannot be rebuilt by replaying from genesis. Move data/chain aside and start with --state-sync, or restore data/chain from a backup`
          : `Run \`cloudcoin verify-store\` for a full check; start with --resync to cut the store back to height ${damage.height - 1n} and fetch the rest from peers, or restore data/chain from a backup`;
      throw new StoreError(
        opts.repair ? StoreErrorCode.CANNOT_REPLAY : StoreErrorCode.DAMAGED,
        `block store damaged at height ${damage.height}: ${damage.reason}. ${fix}`,
        { height: damage.height.toString(), good: (damage.height - 1n).toString(), head: head.height.toString(), base: base.toString() },
      );
    }
    if (opts.repair && base > 1n && rolledBack !== undefined) this.#repaired = { from: head.height, to: head.height, reason: rolledBack };
    if (opts.repair && tree !== undefined) {
      const good = damage === undefined ? head.height : damage.height - 1n;
      const stateOk =
        damage === undefined && equalBytes((await this.#loadTree()).root(), tree.root()) && (await this.#db.get(ROOT_NODE_KEY)) !== undefined && equalBytes(this.#storedRoot(), tree.root());
      if (good !== head.height || !stateOk) await this.#cutBack(good, tree);
      if (good !== head.height || !stateOk || rolledBack !== undefined) {
        this.#repaired = { from: head.height, to: good, reason: damage ? `height ${damage.height}: ${damage.reason}` : (rolledBack ?? "state records did not match the stored state changes") };
      }
    } else if (verified !== head.height) {
      await this.#db.put(VERIFIED_KEY, encode([u64(head.height)]));
    }
    if (rolledBack !== undefined || this.#repaired !== undefined) await writeHeadMark(this.#path, this.#chain.chainId, this.#chain.genesisHash, this.#head);
  }

  /** The height up to which the store passed the integrity check (0 if never). */
  async verifiedHeight(): Promise<bigint> {
    const b = await this.#db.get(VERIFIED_KEY);
    if (b === undefined) return 0n;
    try {
      return asU64(asArray(decode(b), "verified", 1)[0], "verified");
    } catch {
      return 0n;
    }
  }

  /**
   * Checks heights from..to (see the top of this file) and returns the first that fails. With
   * `replayState`, `from` must be 1: the stored state changes are replayed from genesis against
   * every header's state root, and `tree` is the state at the last good height.
   */
  async checkHeights(from: bigint, to: bigint, replayState: boolean): Promise<{ damage?: StoreDamage; tree?: StateTree }> {
    if (replayState && from !== 1n) throw new RangeError("a state replay starts at height 1");
    const base = this.#base;
    if (replayState && base > 1n) {
      throw new StoreError(StoreErrorCode.CANNOT_REPLAY, `this store was installed by state sync at height ${base}: the blocks below it are not stored, so the state cannot be replayed from genesis`, { base: base.toString() });
    }
    if (from < base) throw new StoreError(StoreErrorCode.BLOCK_PRUNED, `heights below ${base} are not stored (state-synced store)`, { height: from.toString(), base: base.toString() });
    const chainId = this.#chain.chainId;
    let tree: StateTree | undefined = replayState ? this.#chain.genesisState().tree : undefined;
    let prevHash = this.#chain.genesisHash;
    if (from === base && base > 1n) {
      // the base block's parent is not stored: its link is taken as it is (its commit is checked)
      const b = await this.#db.get(key(P.block, u64be(base)));
      try {
        if (b === undefined) throw new Error("block missing");
        prevHash = decodeBlock(b).header.parentHash;
      } catch (e) {
        return { damage: { height: base, reason: (e as Error).message } };
      }
    } else if (from > 1n) {
      const prev = await this.#db.get(key(P.block, u64be(from - 1n)));
      try {
        if (prev === undefined) throw new Error("block missing");
        prevHash = decodeBlock(prev).hash;
      } catch (e) {
        return { damage: { height: from - 1n, reason: (e as Error).message } };
      }
    }
    for (let h = from; h <= to; h++) {
      try {
        const hb = u64be(h);
        const [bytes, vals, commit, receipts, changes] = await Promise.all([P.block, P.validators, P.commit, P.receipts, P.changes].map((p) => this.#db.get(key(p, hb))));
        if (bytes === undefined) throw new Error("block missing");
        const block = decodeBlock(bytes);
        const hd = block.header;
        if (hd.height !== h) throw new Error(`block record holds height ${hd.height}`);
        if (hd.chainId !== chainId) throw new Error(`block is for chain "${hd.chainId}"`);
        if (!equalBytes(hd.parentHash, prevHash)) throw new Error("block does not link to its parent");
        if (!equalBytes(hd.txRoot, txRoot(block.txs))) throw new Error("body does not match the header (tx root)");
        if (!equalBytes(hd.evidenceRoot, evidenceRoot(block.evidence))) throw new Error("body does not match the header (evidence root)");
        if (!equalBytes(hd.lastCommitHash, commitHash(block.lastCommit))) throw new Error("body does not match the header (last commit)");
        const at = await this.#db.get(key(P.hash, block.hash));
        if (at === undefined || readU64be(at) !== h) throw new Error("hash index does not point at the block");
        if (vals === undefined) throw new Error("validator set missing");
        if (commit === undefined) throw new Error("commit missing");
        verifyCommit(chainId, decodeValidators(vals), h, block.hash, decodeCommit(commit));
        if (h === base && base > 1n) {
          // installed by state sync: not executed here, so no receipts or changes
          prevHash = block.hash;
          continue;
        }
        if (receipts === undefined) throw new Error("receipts missing");
        if (!equalBytes(hd.receiptsRoot, receiptsRoot(decodeReceipts(receipts)))) throw new Error("receipts do not match the header");
        if (changes === undefined) throw new Error("state changes missing");
        if (tree !== undefined) {
          const next = tree.update(decodeChanges(changes));
          if (!equalBytes(next.root(), hd.stateRoot)) throw new Error("stored state changes do not reach the header's state root");
          tree = next;
        }
        prevHash = block.hash;
      } catch (e) {
        return { damage: { height: h, reason: (e as Error).message }, ...(tree ? { tree } : {}) };
      }
    }
    if (to === this.#head.height && to >= from && !equalBytes(prevHash, this.#head.hash)) {
      return { damage: { height: to, reason: "head record names another block" }, ...(tree ? { tree } : {}) };
    }
    return tree ? { tree } : {};
  }

  async #loadTree(): Promise<SparseMerkleTree> {
    const entries: StateChange[] = [];
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([P.state]), lt: new Uint8Array([P.state + 1]) })) entries.push([k.subarray(1), v]);
    return SparseMerkleTree.empty().update(entries);
  }

  /**
   * Cuts the store back to `good` in one atomic batch: the records of every height above it
   * (blocks, hash and tx and account index entries of the blocks still readable, commits, sets,
   * receipts, changes, ended epochs), the WAL, and the state replaced by `tree` (the state at
   * `good`). Module index entries of the cut heights stay: the same blocks, synced again, write
   * the same entries.
   */
  async #cutBack(good: bigint, tree: StateTree): Promise<void> {
    const db = this.#db;
    const batch = db.batch();
    const above = (p: number) => ({ gte: key(p, u64be(good + 1n)), lt: new Uint8Array([p + 1]) });
    for await (const [k, v] of db.iterator(above(P.block))) {
      batch.del(k);
      try {
        const block = decodeBlock(v);
        const hb = k.subarray(1);
        batch.del(key(P.hash, block.hash));
        block.txs.forEach((tx, i) => {
          batch.del(key(P.tx, tx.hash));
          for (const who of txParticipants(tx)) batch.del(accountTxKey(who, hb, i));
        });
      } catch {
        // unreadable: its index entries point above the head, where reads ignore them
      }
    }
    for (const p of [P.commit, P.validators, P.receipts, P.changes]) for await (const k of db.keys(above(p))) batch.del(k);
    for await (const [k, v] of db.iterator({ gt: new Uint8Array([P.epochRewards]), lt: new Uint8Array([P.epochRewards + 1]) })) {
      try {
        if (decodeEndedEpoch(0n, v).height > good) batch.del(k);
      } catch {
        batch.del(k);
      }
    }
    for await (const k of db.keys({ gt: new Uint8Array([P.wal]), lt: new Uint8Array([P.wal + 1]) })) batch.del(k);
    for (const p of [P.state, P.node, P.undo]) for await (const k of db.keys({ gt: new Uint8Array([p]), lt: new Uint8Array([p + 1]) })) batch.del(k);
    const entries = [...tree.entries()];
    for (const [k, v] of entries) batch.put(key(P.state, k), v);
    for (const [p, r] of pagedUpdate(() => undefined, entries).writes) batch.put(key(P.node, p), r!);
    batch.put(STATE_FROM_KEY, encode([u64(good)]));
    let hash = this.#chain.genesisHash;
    if (good > 0n) {
      const b = await db.get(key(P.block, u64be(good)));
      if (b === undefined) throw new StoreError(StoreErrorCode.CORRUPT, `block ${good} vanished during the repair`);
      hash = decodeBlock(b).hash;
    }
    batch.put(HEAD_KEY, encode([u64(good), hash]));
    batch.put(VERIFIED_KEY, encode([u64(good)]));
    await batch.write({ sync: true });
    this.#cache.clear();
    this.#stateFrom = good;
    this.#head = { height: good, hash };
    this.#epochRecord = tree.get(StateKey.epoch);
    this.#recent.clear();
    this.#recentBytes = 0;
  }

  get head(): Head {
    return this.#head;
  }

  /** The oldest stored block: 1, or the snapshot height of a store installed by state sync. */
  get base(): bigint {
    return this.#base;
  }

  /** The snapshot height of a state sync that began in this store and did not finish, if any. */
  get stateSyncPending(): bigint | undefined {
    return this.#stateSyncPending;
  }

  /** Empties the database and writes genesis again (an unfinished state sync, removed by repair). */
  async #resetToGenesis(): Promise<void> {
    await this.#db.clear();
    const genesis = await writeGenesis(this.#db, this.#path, this.#chain);
    this.#head = { height: 0n, hash: this.#chain.genesisHash };
    this.#epochRecord = genesis.get(StateKey.epoch);
    this.#base = 1n;
    this.#stateFrom = 0n;
    this.#stateSyncPending = undefined;
    this.#cache.clear();
  }

  // ---- state sync (p2p/state-sync.ts): install a verified snapshot into a fresh store ----

  /**
   * Starts installing the state at `height` into this store, which must hold nothing past genesis:
   * one durable batch removes the state records, tree nodes and undo records (genesis's, or an
   * unfinished sync's) and writes the 'M' "statesync" marker, so that a crash from here until
   * finishStateSync leaves a store `open` refuses. StoreError NOT_FRESH if it has blocks.
   */
  async beginStateSync(height: bigint): Promise<void> {
    if (this.#head.height !== 0n) {
      throw new StoreError(StoreErrorCode.NOT_FRESH, `the store already holds blocks up to ${this.#head.height}: state sync installs only into a fresh store`, { head: this.#head.height.toString() });
    }
    await this.#installing;
    const batch = this.#db.batch();
    batch.put(STATE_SYNC_KEY, encode([u64(height)]));
    await batch.write({ sync: true });
    // after the marker is durable: a crash while clearing leaves a marked store
    for (const p of [P.state, P.node, P.undo]) await this.#db.clear({ gt: new Uint8Array([p]), lt: new Uint8Array([p + 1]) });
    this.#cache.clear();
    this.#stateSyncPending = height;
  }

  /**
   * Writes verified snapshot records (state records of one or more chunks) and the tree nodes they
   * add, one call after another (each update reads the nodes the one before wrote). Not synced:
   * finishStateSync's synced batch makes every earlier write durable.
   */
  putSnapshotRecords(records: readonly (readonly [Uint8Array, Uint8Array])[]): Promise<void> {
    if (this.#stateSyncPending === undefined) return Promise.reject(new StoreError(StoreErrorCode.CORRUPT, "snapshot records outside a state sync"));
    const run = this.#installing.then(async () => {
      const db = this.#db;
      const { writes } = pagedUpdate((p) => db.getSync(key(P.node, p)), records);
      const batch = db.batch();
      for (const [k, v] of records) batch.put(key(P.state, k), v);
      for (const [p, r] of writes) {
        if (r === null) batch.del(key(P.node, p));
        else batch.put(key(P.node, p), r);
      }
      await batch.write();
    });
    this.#installing = run.catch(() => undefined);
    return run;
  }

  /**
   * Ends the install: checks that the written state's root is `base.block`'s state root and that
   * its lastValidators record is the set that signed it, then ONE durable batch stores the block,
   * its commit and set, the head, the base, the verified mark and the state bookkeeping, and
   * removes the marker. StoreError CORRUPT if the state does not reach the root (nothing is
   * committed then; the marker stays).
   */
  async finishStateSync(base: SnapshotBase): Promise<void> {
    await this.#installing;
    const h = base.block.header.height;
    if (this.#stateSyncPending !== h) throw new StoreError(StoreErrorCode.CORRUPT, `no state sync at height ${h} in progress`);
    this.#holdCheckpoint(h, base.block.hash, "the snapshot's block");
    const db = this.#db;
    const root = pagedRoot((p) => db.getSync(key(P.node, p)));
    if (!equalBytes(root, base.block.header.stateRoot)) {
      throw new StoreError(StoreErrorCode.CORRUPT, `the installed state's root does not match block ${h}'s state root`, { height: h.toString() });
    }
    const last = db.getSync(key(P.state, StateKey.lastValidators));
    if (last === undefined || !equalBytes(validatorsHash(decodeValidators(last)), base.block.header.validatorsHash)) {
      throw new StoreError(StoreErrorCode.CORRUPT, `the installed state's last validator set is not the set that signed block ${h}`, { height: h.toString() });
    }
    const hb = u64be(h);
    const batch = db.batch();
    batch.put(key(P.block, hb), base.block.bytes);
    batch.put(key(P.hash, base.block.hash), hb);
    batch.put(key(P.commit, hb), encodeCommit(base.commit));
    batch.put(key(P.validators, hb), encodeValidators(base.validators));
    batch.put(HEAD_KEY, encode([u64(h), base.block.hash]));
    batch.put(BASE_KEY, encode([u64(h)]));
    batch.put(VERIFIED_KEY, encode([u64(h)]));
    batch.put(STATE_FROM_KEY, encode([u64(h)]));
    batch.del(STATE_SYNC_KEY);
    batch.del(PROPOSAL_KEY);
    await batch.write({ sync: true });
    const head = { height: h, hash: base.block.hash };
    await writeHeadMark(this.#path, this.#chain.chainId, this.#chain.genesisHash, head);
    this.#head = head;
    this.#base = h;
    this.#stateFrom = h;
    this.#stateSyncPending = undefined;
    this.#epochRecord = db.getSync(key(P.state, StateKey.epoch));
    this.#cache.clear();
    this.#recent.clear();
    this.#recentBytes = 0;
  }

  /**
   * Keeps the state at `height` readable until `untilMs` (ms since the epoch) even past
   * stateHistory, so that a snapshot being fetched by peers is not pruned under them (p2p/state-sync.ts
   * renews the lease on each request). Local bookkeeping, not chain data; a height no longer kept is
   * ignored. The undo records of the pinned heights accumulate until the lease ends.
   */
  pinState(height: bigint, untilMs: number): void {
    if (height < this.#stateFrom || height > this.#head.height) return;
    this.#pins.set(height, Math.max(untilMs, this.#pins.get(height) ?? 0));
  }

  /** The oldest height with a live lease (expired ones are dropped). */
  #oldestPin(): bigint | undefined {
    const now = Date.now();
    let oldest: bigint | undefined;
    for (const [h, until] of this.#pins) {
      if (until <= now) this.#pins.delete(h);
      else if (oldest === undefined || h < oldest) oldest = h;
    }
    return oldest;
  }

  /** The node source of the paged tree after block `height` (StoreError STATE_PRUNED when not kept). */
  #nodesAt(height: bigint): (p: Uint8Array) => Uint8Array | undefined {
    if (height < this.#stateFrom || height > this.#head.height) {
      throw new StoreError(StoreErrorCode.STATE_PRUNED, `the state at height ${height} is not kept (oldest ${this.#stateFrom}, head ${this.#head.height})`, {
        height: height.toString(),
        oldest: this.#stateFrom.toString(),
        head: this.#head.height.toString(),
      });
    }
    return (p) => this.#readAt(NODE, p, height, undefined, false);
  }

  /** The state at `height` cut at `depth` (chain/smt.ts pagedCut): a snapshot's manifest. StoreError STATE_PRUNED when not kept. */
  snapshotManifest(height: bigint, depth: number): { kinds: Uint8Array; hashes: Uint8Array } {
    return pagedCut(this.#nodesAt(height), depth);
  }

  /**
   * The state records at `height` under prefix `index` at `depth` (a snapshot chunk), in keyHash
   * order, after the keyHash `after` (exclusive; undefined: from the first), until `maxBytes` of
   * keys and values (at least one record); `more` when some are left. StoreError STATE_PRUNED.
   */
  snapshotChunk(height: bigint, depth: number, index: number, after: Uint8Array | undefined, maxBytes: number): { records: [Uint8Array, Uint8Array][]; more: boolean } {
    const records: [Uint8Array, Uint8Array][] = [];
    let bytes = 0;
    for (const { keyHash, key: k } of pagedLeavesUnder(this.#nodesAt(height), depth, index)) {
      if (after !== undefined && Buffer.compare(keyHash, after) <= 0) continue;
      const v = this.#readAt(RECORD, k, height, undefined, false);
      if (v === undefined) throw new StoreError(StoreErrorCode.CORRUPT, `state tree leaf without its record at height ${height}`);
      if (records.length > 0 && bytes + k.length + v.length > maxBytes) return { records, more: true };
      records.push([k, v]);
      bytes += k.length + v.length;
    }
    return { records, more: false };
  }

  /**
   * Reads the state bookkeeping at open; a store written before the state tree was kept on disk
   * (state records but no tree nodes) gets its tree nodes built once from the records.
   */
  async #openState(): Promise<void> {
    const from = await this.#db.get(STATE_FROM_KEY);
    let stateFrom = this.#head.height;
    if (from !== undefined) {
      try {
        stateFrom = asU64(asArray(decode(from), "statefrom", 1)[0], "statefrom");
      } catch {
        // unreadable: only the head is known to be readable
      }
    }
    this.#stateFrom = stateFrom > this.#head.height ? this.#head.height : stateFrom;
    // undo records a crash left behind below the window (commitBlock prunes only the heights leaving it)
    await this.#db.clear({ gte: new Uint8Array([P.undo]), lt: key(P.undo, u64be(this.#stateFrom + 1n)) });
    if ((await this.#db.get(ROOT_NODE_KEY)) !== undefined) return;
    const entries: StateChange[] = [];
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([P.state]), lt: new Uint8Array([P.state + 1]) })) entries.push([k.subarray(1), v]);
    if (entries.length === 0) return;
    const batch = this.#db.batch();
    for await (const k of this.#db.keys({ gt: new Uint8Array([P.node]), lt: new Uint8Array([P.node + 1]) })) batch.del(k);
    for await (const k of this.#db.keys({ gt: new Uint8Array([P.undo]), lt: new Uint8Array([P.undo + 1]) })) batch.del(k);
    for (const [p, r] of pagedUpdate(() => undefined, entries).writes) batch.put(key(P.node, p), r!);
    batch.put(STATE_FROM_KEY, encode([u64(this.#head.height)]));
    await batch.write({ sync: true });
    this.#stateFrom = this.#head.height;
  }

  /** The root of the tree nodes stored for the head. */
  #storedRoot(): Uint8Array {
    return pagedRoot((p) => this.#db.getSync(key(P.node, p)));
  }

  /**
   * The head state, read from the store on demand (nothing is loaded): its root is checked
   * against the head's header. With `full`, every state record is also read and the root they
   * make is checked (O(state size) time and memory: `cloudcoin verify-store`).
   */
  async loadState(expectedGenesisRoot: () => Uint8Array, opts: { full?: boolean } = {}): Promise<ChainState> {
    const expected = this.#head.height === 0n ? expectedGenesisRoot() : (await this.getBlock(this.#head.height))?.header.stateRoot;
    const corrupt = () =>
      new StoreError(
        StoreErrorCode.CORRUPT,
        `state root at head ${this.#head.height} does not match the stored records. Start with --resync to rebuild the state from the stored blocks' changes`,
        { height: this.#head.height.toString() },
      );
    let state: ChainState;
    try {
      state = new ChainState(DiskTree.at(this.#backend, this.#head.height), this.#head.hash);
    } catch {
      throw corrupt(); // a malformed root record
    }
    if (expected === undefined || !equalBytes(state.root(), expected)) throw corrupt();
    if (opts.full && !equalBytes((await this.#loadTree()).root(), expected!)) throw corrupt();
    return state;
  }

  /**
   * The state after block `height`, if the store still keeps it (the last `stateHistory` heights);
   * else StoreError STATE_PRUNED. Read on demand like the head state.
   */
  async stateAt(height: bigint): Promise<ChainState> {
    if (height < this.#stateFrom || height > this.#head.height) {
      throw new StoreError(StoreErrorCode.STATE_PRUNED, `the state at height ${height} is not kept (oldest ${this.#stateFrom}, head ${this.#head.height})`, {
        height: height.toString(),
        oldest: this.#stateFrom.toString(),
        head: this.#head.height.toString(),
      });
    }
    const hash = height === 0n ? this.#chain.genesisHash : (await this.getBlock(height))?.hash;
    if (hash === undefined) throw new StoreError(StoreErrorCode.CORRUPT, `block ${height} missing`);
    return new ChainState(DiskTree.at(this.#backend, height), hash);
  }

  /** The oldest height whose state stateAt can read. */
  get stateFrom(): bigint {
    return this.#stateFrom;
  }

  /** Every state record at the head, streamed in key order (for audits: the supply invariant). */
  async *stateRecords(): AsyncIterableIterator<[Uint8Array, Uint8Array]> {
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([P.state]), lt: new Uint8Array([P.state + 1]) })) yield [k.subarray(1), v];
  }

  /**
   * Puts a block's state writes into its batch: each state record it changes and each tree node it
   * rewrites, with its undo record (what the head held before; the head is the block's base).
   * Returns what the written entries cost in the state cache (cacheCost of each), counted here so
   * that adopting them needs no pass of its own over the maps.
   */
  #putStateWrites(batch: ChainedBatch, hb: Uint8Array, changes: readonly StateChange[], nodeWrites: readonly NodeWrite[]): number {
    let keyBytes = 0;
    for (let i = 0; i < changes.length; i++) keyBytes += changes[i]![0].length;
    for (let i = 0; i < nodeWrites.length; i++) keyBytes += nodeWrites[i]![0].length;
    const keys = new StateWriteKeys(hb, changes.length + nodeWrites.length, keyBytes);
    let cost = 0;
    for (let i = 0; i < changes.length; i++) {
      const [k, v] = changes[i]!;
      keys.next(P.state, k);
      const dk = keys.record;
      batch.put(keys.undo, this.#headValue(RECORD, k, dk) ?? UNDO_ABSENT);
      if (v === null) batch.del(dk);
      else batch.put(dk, v);
      cost += k.length + (v === null ? 0 : v.length) + CACHE_ENTRY_OVERHEAD;
    }
    for (let i = 0; i < nodeWrites.length; i++) {
      const [p, r, was] = nodeWrites[i]!;
      keys.next(P.node, p);
      const dk = keys.record;
      // the replaced record came with the write when the update read it (it read the store at the head)
      batch.put(keys.undo, (was === undefined ? this.#headValue(NODE, p, dk) : was) ?? UNDO_ABSENT);
      if (r === null) batch.del(dk);
      else batch.put(dk, r);
      cost += p.length + (r === null ? 0 : r.length) + CACHE_ENTRY_OVERHEAD;
    }
    return cost;
  }

  /**
   * The head's record `k` (database key `dk`) for an undo record: from the cache without making it
   * recent there (the block's commit replaces it at once), else from the database.
   */
  #headValue(kind: CacheKind, k: Uint8Array, dk: Uint8Array): Uint8Array | undefined {
    const c = this.#cache.peek(kind, latin1(k));
    if (c !== undefined) return c ?? undefined;
    return this.#db.getSync(dk);
  }

  /**
   * Commits the next block with everything derived from it in one atomic batch.
   * `commit` is the +2/3 precommits that finalized this block.
   */
  async commitBlock(block: Block, commit: Commit, result: BlockResult): Promise<void> {
    const h = block.header.height;
    if (h !== this.#head.height + 1n || !equalBytes(block.header.parentHash, this.#head.hash)) {
      throw new StoreError(StoreErrorCode.NOT_NEXT, `block ${h} does not extend head ${this.#head.height}`);
    }
    this.#holdCheckpoint(h, block.hash, "the block");
    const epochChange = result.changes.find(([k]) => equalBytes(k, StateKey.epoch));
    const ended = epochChange ? this.#endedEpoch(epochChange[1], h) : undefined;
    const hb = u64be(h);
    const batch = this.#db.batch();
    batch.put(key(P.block, hb), block.bytes);
    batch.put(key(P.hash, block.hash), hb);
    batch.put(key(P.commit, hb), encodeCommit(commit));
    // After block h, the state's lastValidators are the set that produced and signed block h.
    batch.put(key(P.validators, hb), encodeValidators(result.state.lastValidators()));
    batch.put(key(P.receipts, hb), encodeReceipts(result.receipts));
    batch.put(key(P.changes, hb), encode(result.changes.map(([k, v]) => [k, v])));
    const { alloc } = new Arena();
    putTxIndex(batch, block.txs, hb, alloc);
    const reg = registry();
    result.events.forEach((e, seq) => {
      for (const ix of reg.indexesFor(e.kind)) for (const entry of ix.entries(e, seq)) batch.put(keyIn(alloc, ix.code, ...entry.key), entry.value ?? EMPTY);
    });
    if (ended) batch.put(key(P.epochRewards, u64be(ended.epoch)), encodeEndedEpoch(ended));
    // The state: its records, the tree nodes they rewrite, and what both held before (undo), so
    // that the state at the last `stateHistory` heights stays readable.
    const base = this.#head.height;
    const tree = result.state.tree;
    const pendingLayer = tree instanceof DiskTree ? tree.pendingOver(base) : undefined;
    let nodeWrites = pendingLayer?.writes;
    if (nodeWrites === undefined) {
      const r = pagedUpdate((p) => this.#backend.node(p, base), result.changes);
      if (!equalBytes(r.root, block.header.stateRoot)) throw new StoreError(StoreErrorCode.CORRUPT, `block ${h}'s state changes do not reach its state root over the stored state`);
      nodeWrites = r.writes;
    }
    const cacheBytes = this.#putStateWrites(batch, hb, result.changes, nodeWrites);
    let stateFrom = h - BigInt(this.#history) > this.#stateFrom ? h - BigInt(this.#history) : this.#stateFrom;
    const pinned = this.#oldestPin();
    if (pinned !== undefined && pinned < stateFrom) stateFrom = pinned > this.#stateFrom ? pinned : this.#stateFrom;
    if (stateFrom !== this.#stateFrom) batch.put(STATE_FROM_KEY, encode([u64(stateFrom)]));
    batch.put(HEAD_KEY, encode([u64(h), block.hash]));
    batch.del(PROPOSAL_KEY);
    // sync: a block reported final must survive a power loss, not only a process crash.
    // Until the head moves (below, after the head mark), reads of the old head also consult this
    // height's undo records, and the cache keeps the old head's records.
    this.#writing = h;
    try {
      await batch.write({ sync: true });
    } catch (e) {
      this.#writing = undefined;
      throw e;
    }
    // After the batch is durable, never before: the mark must not get ahead of the database. And
    // before the new head shows in memory, so that the head moves in the same tick as this returns.
    const head = { height: h, hash: block.hash };
    try {
      await writeHeadMark(this.#path, this.#chain.chainId, this.#chain.genesisHash, head);
    } catch {
      // advisory: a mark left behind weakens the rollback check, never fails it
    }
    // the new records into the cache (replacing what it held of the old head): the tree nodes under
    // the ids the tree's layer made for them (they are most of a block's writes)
    if (pendingLayer !== undefined) this.#cache.adopt(pendingLayer.records, pendingLayer.ids, cacheBytes);
    else {
      for (const [k, v] of result.changes) this.#cache.set(RECORD, latin1(k), v);
      for (const [p, r] of nodeWrites) this.#cache.set(NODE, latin1(p), r);
    }
    this.#head = head;
    this.#writing = undefined;
    if (pendingLayer !== undefined) (tree as DiskTree).committedAt(h);
    this.#remember(block);
    if (epochChange) this.#epochRecord = epochChange[1] ?? undefined;
    if (stateFrom !== this.#stateFrom) {
      // Undo records of heights up to stateFrom serve only older heights. Only the heights that just
      // left the window are cleared: a range from the start of 'U' would step over the deletion
      // marks of every height pruned before (until compaction drops them), which made each commit
      // slower as the chain grew (7.7 ms a block at height 1,500). Not in the batch: a crash before
      // this leaves some behind, which open removes (#openState).
      const prunedBefore = this.#stateFrom;
      this.#stateFrom = stateFrom;
      try {
        await this.#db.clear({ gte: key(P.undo, u64be(prunedBefore + 1n)), lt: key(P.undo, u64be(stateFrom + 1n)) });
      } catch {
        // left for the next commit's prune
      }
    }
  }

  /**
   * The epoch this block ended, if any: the block rewrote the epoch record with no seed (the
   * rewards module's endEpoch; recordEpochSeed writes one with a seed), and the ended epoch's
   * emission is in the record it replaced (#epochRecord, no read).
   */
  #endedEpoch(after: Uint8Array | null, height: bigint): EndedEpoch | undefined {
    if (after === null || decodeEpochRecord(after, true).seed !== null || this.#epochRecord === undefined) return undefined;
    const prev = decodeEpochRecord(this.#epochRecord, true);
    return { epoch: prev.epoch, reward: prev.reward, height };
  }

  /** An ended epoch's emission and last height; undefined for an epoch not ended yet. */
  async getEndedEpoch(epoch: bigint): Promise<EndedEpoch | undefined> {
    if (epoch < 0n || epoch >= 1n << 64n) return undefined;
    const b = await this.#db.get(key(P.epochRewards, u64be(epoch)));
    return b === undefined ? undefined : decodeEndedEpoch(epoch, b);
  }

  /**
   * A module index's keys under `prefix` (chain/registry.ts IndexSpec `code`), in key order: the
   * `idLength`-byte suffix after `prefix`, after the exclusive cursor `after`, at most `limit`
   * (capped by the caller).
   */
  async listIndex(code: number, prefix: Uint8Array, opts: { after?: Uint8Array; limit: number; idLength: number }): Promise<Uint8Array[]> {
    const start = key(code, prefix);
    const lower = opts.after ? concatBytes(start, opts.after) : start;
    const upper = concatBytes(start, new Uint8Array(opts.idLength).fill(0xff), new Uint8Array([0xff]));
    const out: Uint8Array[] = [];
    for await (const k of this.#db.keys({ gt: lower, lt: upper, limit: opts.limit })) out.push(k.slice(start.length));
    return out;
  }

  /** Every entry of a module index under `prefix`, in key order: [key after the prefix, value]. */
  async readIndex(code: number, prefix: Uint8Array): Promise<[Uint8Array, Uint8Array][]> {
    const start = key(code, prefix);
    const out: [Uint8Array, Uint8Array][] = [];
    for await (const [k, v] of this.#db.iterator({ gte: start, lt: concatBytes(start, new Uint8Array(64).fill(0xff)) })) out.push([k.slice(start.length), v]);
    return out;
  }

  /**
   * Write-ahead record of this node's own proposal, written durably BEFORE the proposal is
   * signed and again with the signature after. After a crash between signing and committing,
   * the node re-proposes exactly this block: building a new one (another time, other txs)
   * would be a conflicting proposal, which the signer rightly refuses, halting the chain.
   */
  async putOwnProposal(p: OwnProposal): Promise<void> {
    await this.#db.put(PROPOSAL_KEY, encode([u64(p.height), p.round, p.block.bytes, p.signature]), { sync: true });
  }

  async getOwnProposal(): Promise<OwnProposal | undefined> {
    const b = await this.#db.get(PROPOSAL_KEY);
    if (b === undefined) return undefined;
    const v = asArray(decode(b, 128 * 1024 * 1024), "proposal", 4);
    const p = { height: asU64(v[0], "height"), round: asUint(v[1], "round"), block: decodeBlock(asBytes(v[2], "block")), signature: v[3] === null ? null : asBytes(v[3], "signature", 64) };
    return p.height > this.#head.height ? p : undefined;
  }

  // ---- consensus WAL (node/wal.ts encodes the entries and replays them) ----

  /**
   * Appends one entry of the height in progress. LevelDB keeps writes in order, and a synced
   * write makes every earlier write durable too; an unsynced one survives a process crash but
   * not a power loss.
   */
  async appendWal(height: bigint, seq: number, entry: Uint8Array, sync: boolean): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > 0xffff_ffff) throw new RangeError(`WAL seq ${seq} is not a u32`);
    await this.#db.put(key(P.wal, u64be(height), u32be(seq)), entry, { sync });
  }

  /** Makes every earlier WAL write durable (a synced write of a marker flushes the log before it). */
  async syncWal(): Promise<void> {
    await this.#db.put(WAL_SYNC_KEY, new Uint8Array(0), { sync: true });
  }

  /** The WAL entries of `height`, in seq order. */
  async readWal(height: bigint): Promise<WalRecord[]> {
    const out: WalRecord[] = [];
    for await (const [k, v] of this.#db.iterator({ gte: key(P.wal, u64be(height)), lt: key(P.wal, u64be(height + 1n)) })) {
      if (k.length !== WAL_KEY_LENGTH) throw new StoreError(StoreErrorCode.CORRUPT, `malformed WAL key ${toHex(k)}`);
      out.push({ seq: new DataView(k.buffer, k.byteOffset + 9, 4).getUint32(0), bytes: v });
    }
    return out;
  }

  /** Records durably that this node signs nothing more at `height` (node/driver.ts #recover). */
  async setWalAbstain(height: bigint): Promise<void> {
    await this.#db.put(WAL_ABSTAIN_KEY, encode([u64(height)]), { sync: true });
  }

  /** The height recorded by setWalAbstain, or undefined. */
  async walAbstain(): Promise<bigint | undefined> {
    const b = await this.#db.get(WAL_ABSTAIN_KEY);
    if (b === undefined) return undefined;
    try {
      return asU64(asArray(decode(b), "walabstain", 1)[0], "height");
    } catch {
      // unreadable: the safe reading is that the next height is the one
      return this.#head.height + 1n;
    }
  }

  /** Deletes the WAL entries of `height` from `seq` on (a damaged tail the replay ended before). */
  async truncateWal(height: bigint, seq: number): Promise<void> {
    await this.#db.clear({ gte: key(P.wal, u64be(height), u32be(seq)), lt: key(P.wal, u64be(height + 1n)) });
  }

  /** Deletes the WAL entries of every height up to and including `height` (committed heights). */
  async clearWal(height: bigint): Promise<void> {
    await this.#db.clear({ gte: new Uint8Array([P.wal]), lt: key(P.wal, u64be(height + 1n)) });
  }

  async getBlock(height: bigint): Promise<Block | undefined> {
    const cached = this.recentBlock(height);
    if (cached !== undefined) return cached;
    const b = await this.getBlockBytes(height);
    if (b === undefined) return undefined;
    const block = decodeBlock(b);
    this.#remember(block);
    return block;
  }

  /**
   * The block at `height` if it is among the recently read or committed ones kept decoded, at once
   * (no read, no promise); undefined when it is not, which says nothing of whether it exists.
   */
  recentBlock(height: bigint): Block | undefined {
    const cached = this.#recent.get(height);
    if (cached !== undefined) {
      this.#recent.delete(height);
      this.#recent.set(height, cached);
    }
    return cached;
  }

  #remember(block: Block): void {
    const h = block.header.height;
    if (this.#recent.has(h) || block.bytes.length > MAX_CACHED_BLOCK_BYTES / 4) return;
    this.#recent.set(h, block);
    this.#recentBytes += block.bytes.length;
    for (const [old, b] of this.#recent) {
      if (this.#recentBytes <= MAX_CACHED_BLOCK_BYTES) break;
      this.#recent.delete(old);
      this.#recentBytes -= b.bytes.length;
    }
  }

  /** The stored bytes of the block at `height`, undecoded (block sync serves them as they are). */
  async getBlockBytes(height: bigint): Promise<Uint8Array | undefined> {
    if (height < this.#base || height > this.#head.height) return undefined;
    return this.#db.get(key(P.block, u64be(height)));
  }

  async getBlockByHash(hash: Uint8Array): Promise<Block | undefined> {
    const h = await this.#db.get(key(P.hash, hash));
    return h === undefined ? undefined : this.getBlock(readU64be(h));
  }

  /** The validator set that produced the block at `height` (its commit is signed by this set). */
  async getValidators(height: bigint): Promise<Validator[] | undefined> {
    const b = await this.#db.get(key(P.validators, u64be(height)));
    return b === undefined ? undefined : decodeValidators(b);
  }

  async getCommit(height: bigint): Promise<Commit | undefined> {
    const b = await this.getCommitBytes(height);
    return b === undefined ? undefined : decodeCommit(b);
  }

  /** The stored bytes of the commit that finalized `height`, undecoded. */
  async getCommitBytes(height: bigint): Promise<Uint8Array | undefined> {
    return this.#db.get(key(P.commit, u64be(height)));
  }

  async getReceipts(height: bigint): Promise<Receipt[] | undefined> {
    const b = await this.#db.get(key(P.receipts, u64be(height)));
    return b === undefined ? undefined : decodeReceipts(b);
  }

  async getStateChanges(height: bigint): Promise<StateChange[] | undefined> {
    const b = await this.#db.get(key(P.changes, u64be(height)));
    return b === undefined ? undefined : decodeChanges(b);
  }

  async getTxLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    const b = await this.#db.get(key(P.tx, hash));
    if (b === undefined) return undefined;
    const loc = decodeTxLocation(b);
    // an entry left above the head by a repair (its block is fetched again)
    return loc.height > this.#head.height ? undefined : loc;
  }

  async getTx(hash: Uint8Array): Promise<StoredTx | undefined> {
    const loc = await this.getTxLocation(hash);
    if (!loc) return undefined;
    const [block, receipts] = await Promise.all([this.getBlock(loc.height), this.getReceipts(loc.height)]);
    const tx = block?.txs[loc.index];
    const receipt = receipts?.[loc.index];
    if (!block || !tx || !receipt) throw new StoreError(StoreErrorCode.CORRUPT, `tx index points at a missing block or receipt (${toHex(hash)})`);
    return { ...loc, tx, receipt, blockHash: block.hash, time: block.header.time };
  }

  /**
   * An account's transactions, newest first. `before` is an exclusive cursor (a location returned
   * by an earlier page); `limit` is capped by the caller.
   */
  async listAccountTxs(publicKey: Uint8Array, opts: { before?: TxLocation; limit: number }): Promise<AccountTxEntry[]> {
    const lower = key(P.account, publicKey);
    const upper = opts.before ? accountTxKey(publicKey, u64be(opts.before.height), opts.before.index) : key(P.account, publicKey, new Uint8Array(12).fill(0xff));
    const out: AccountTxEntry[] = [];
    for await (const [k, v] of this.#db.iterator({ gt: lower, lt: upper, reverse: true, limit: opts.limit })) {
      const off = 1 + publicKey.length;
      const height = readU64be(k, off);
      if (height > this.#head.height) continue; // left above the head by a repair
      out.push({ height, index: new DataView(k.buffer, k.byteOffset + off + 8, 4).getUint32(0), hash: v });
    }
    return out;
  }

  /**
   * A module's node-local keyspace (chain/registry.ts LocalSpaceSpec `code`): its records loaded
   * whole, and a put that writes one durably. Not chain data: never in a block's batch.
   */
  async openLocalSpace(code: number): Promise<LocalSpace> {
    const entries: [Uint8Array, Uint8Array][] = [];
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([code]), lt: new Uint8Array([code + 1]) })) entries.push([k.subarray(1), v]);
    const db = this.#db;
    return { entries, put: (k, v) => db.put(key(code, k), v) };
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

/** A module's node-local records (BlockStore.openLocalSpace). */
export interface LocalSpace {
  /** What the keyspace held when it was opened: [key after the prefix, value]. */
  readonly entries: readonly [Uint8Array, Uint8Array][];
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
}
