/**
 * The block store (DESIGN.md section 4) on classic-level.
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
 *   'T' txHash                -> [height, index]
 *   'A' pubkey height index   -> txHash            (every account a tx touches)
 *   'S' stateKey              -> value             (the state at the head)
 *   'W' height seq            -> one consensus input of the height in progress (the consensus
 *                                WAL, node/wal.ts; seq is a u32 counted from 0 per height)
 *   'M' "walsync"             -> empty; rewritten with sync to make earlier WAL writes durable
 *   'G' epoch                 -> [reward, height, []]: an ended epoch's emission and the height
 *                                of the block that ended it (written for every ended epoch)
 *
 * Every other prefix byte belongs to a module (chain/registry.ts): its secondary indexes, fed by
 * events and written in the block's batch (IndexSpec: e.g. 'P'/'Q' channels by payer/payee, 'D'/'E'
 * deals by client/provider, 'I' reward mints), and its node-local keyspaces (LocalSpaceSpec: e.g.
 * 'X' the best voucher per channel). `open` refuses a module code that collides with the store's.
 */
import { ClassicLevel } from "classic-level";
import { asArray, asBool, asBytes, asString, asU64, asUint, decode, encode, u64 } from "../primitives/codec.ts";
import { concatBytes, equalBytes, readU64be, toHex, u32be, u64be, utf8 } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { decodeBlock, decodeCommit, encodeCommit, type Block, type Commit } from "./block.ts";
import { ChainState, decodeValidators, encodeValidators, StateKey, type StateChange, type Validator } from "./state.ts";
import { SparseMerkleTree } from "./smt.ts";
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
} as const;
const STORE_PREFIXES: ReadonlySet<number> = new Set(Object.values(P));

const key = (prefix: number, ...parts: Uint8Array[]) => concatBytes(new Uint8Array([prefix]), ...parts);
const EMPTY = new Uint8Array(0);
/** Encoded size of the decoded blocks BlockStore keeps for reads (the latest ones, mostly). */
const MAX_CACHED_BLOCK_BYTES = 32 * 1024 * 1024;
const HEAD_KEY = key(P.meta, utf8.encode("head"));
const CHAIN_KEY = key(P.meta, utf8.encode("chain"));
const PROPOSAL_KEY = key(P.meta, utf8.encode("proposal"));
const WAL_SYNC_KEY = key(P.meta, utf8.encode("walsync"));
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
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];
export class StoreError extends CodedError<StoreErrorCode> {}

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

  private constructor(db: ClassicLevel<Uint8Array, Uint8Array>, head: Head, epochRecord: Uint8Array | undefined) {
    this.#db = db;
    this.#head = head;
    this.#epochRecord = epochRecord;
  }

  /**
   * Opens (or creates) the store for a chain. A new store is initialised with the genesis state
   * at height 0; an existing one must belong to the same chain id and genesis.
   */
  static async open(path: string, chain: { chainId: string; genesisHash: Uint8Array; genesisState: () => ChainState }): Promise<BlockStore> {
    for (const [code, owner] of registry().storeCodes) {
      if (STORE_PREFIXES.has(code)) throw new TypeError(`store prefix 0x${code.toString(16)} of ${owner} is the block store's own`);
    }
    const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: "view", valueEncoding: "view" });
    await db.open();
    try {
      const chainRec = await db.get(CHAIN_KEY);
      if (chainRec === undefined) {
        const genesis = chain.genesisState();
        const batch = db.batch();
        for (const [k, v] of genesis.tree.entries()) batch.put(key(P.state, k), v);
        batch.put(CHAIN_KEY, encode([chain.chainId, chain.genesisHash]));
        batch.put(HEAD_KEY, encode([0, chain.genesisHash]));
        await batch.write();
        return new BlockStore(db, { height: 0n, hash: chain.genesisHash }, genesis.get(StateKey.epoch));
      }
      const c = asArray(decode(chainRec), "chain", 2);
      const storedId = asString(c[0], "chainId");
      if (storedId !== chain.chainId || !equalBytes(asBytes(c[1], "genesisHash", 32), chain.genesisHash)) {
        throw new StoreError(StoreErrorCode.WRONG_CHAIN, `data directory belongs to chain "${storedId}" with another genesis; use a fresh data directory`);
      }
      const h = await db.get(HEAD_KEY);
      if (h === undefined) throw new StoreError(StoreErrorCode.CORRUPT, "store has a chain record but no head");
      const hv = asArray(decode(h), "head", 2);
      return new BlockStore(db, { height: asU64(hv[0], "height"), hash: asBytes(hv[1], "hash", 32) }, await db.get(key(P.state, StateKey.epoch)));
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  get head(): Head {
    return this.#head;
  }

  /** Rebuilds the head state from the stored records and checks it against the head's state root. */
  async loadState(expectedGenesisRoot: () => Uint8Array): Promise<ChainState> {
    const entries: StateChange[] = [];
    for await (const [k, v] of this.#db.iterator({ gt: new Uint8Array([P.state]), lt: new Uint8Array([P.state + 1]) })) {
      entries.push([k.subarray(1), v]);
    }
    const state = new ChainState(SparseMerkleTree.empty().update(entries), this.#head.hash);
    const expected = this.#head.height === 0n ? expectedGenesisRoot() : (await this.getBlock(this.#head.height))?.header.stateRoot;
    if (!expected || !equalBytes(state.root(), expected)) {
      throw new StoreError(StoreErrorCode.CORRUPT, `state root at head ${this.#head.height} does not match the stored records`);
    }
    return state;
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
    block.txs.forEach((tx, i) => {
      batch.put(key(P.tx, tx.hash), encode([u64(h), i]));
      for (const who of txParticipants(tx)) batch.put(key(P.account, who, hb, u32be(i)), tx.hash);
    });
    const reg = registry();
    result.events.forEach((e, seq) => {
      for (const ix of reg.indexesFor(e.kind)) for (const entry of ix.entries(e, seq)) batch.put(key(ix.code, ...entry.key), entry.value ?? EMPTY);
    });
    if (ended) batch.put(key(P.epochRewards, u64be(ended.epoch)), encodeEndedEpoch(ended));
    for (const [k, v] of result.changes) {
      if (v === null) batch.del(key(P.state, k));
      else batch.put(key(P.state, k), v);
    }
    batch.put(HEAD_KEY, encode([u64(h), block.hash]));
    batch.del(PROPOSAL_KEY);
    // sync: a block reported final must survive a power loss, not only a process crash.
    await batch.write({ sync: true });
    this.#head = { height: h, hash: block.hash };
    this.#remember(block);
    if (epochChange) this.#epochRecord = epochChange[1] ?? undefined;
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
    if (height < 1n || height > this.#head.height) return undefined;
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
    if (b === undefined) return undefined;
    return asArray(decode(b), "changes").map((x) => {
      const c = asArray(x, "change", 2);
      return [asBytes(c[0], "key"), c[1] === null ? null : asBytes(c[1], "value")] as const;
    });
  }

  async getTxLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    const b = await this.#db.get(key(P.tx, hash));
    if (b === undefined) return undefined;
    const v = asArray(decode(b), "txloc", 2);
    return { height: asU64(v[0], "height"), index: asUint(v[1], "index") };
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
    const upper = opts.before ? key(P.account, publicKey, u64be(opts.before.height), u32be(opts.before.index)) : key(P.account, publicKey, new Uint8Array(12).fill(0xff));
    const out: AccountTxEntry[] = [];
    for await (const [k, v] of this.#db.iterator({ gt: lower, lt: upper, reverse: true, limit: opts.limit })) {
      const off = 1 + publicKey.length;
      out.push({ height: readU64be(k, off), index: new DataView(k.buffer, k.byteOffset + off + 8, 4).getUint32(0), hash: v });
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
