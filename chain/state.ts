/**
 * The ledger state (docs/protocol.md section 2): typed records over the authenticated tree.
 *
 * `ChainState` is immutable: executing a block yields a new one and the old one stays valid,
 * which is what lets consensus execute a proposal speculatively. `StateWriter` is the
 * scratch overlay one block executes in, with checkpoints so that a failed operation can be
 * rolled back while its fee and nonce stay consumed.
 *
 * A ChainState reads its records through a StateTree: on a node, a DiskTree over the block store
 * (read on demand, synchronously, through the store's bounded cache; never loaded whole), in tests
 * and replays the in-memory SparseMerkleTree. Both give the same root for the same records.
 */
import { asArray, asBytes, asInt, asString, asU64, decode, decodeTrusted, encode, int, u64, type CborValue } from "../primitives/codec.ts";
import { compareBytes, concatBytes, latin1, utf8 } from "../primitives/bytes.ts";
import { pagedKeys, pagedProve, pagedRoot, pagedUpdate, type NodeWrite, type StateProof } from "./smt.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { registry } from "./registry.ts";

export interface Unbonding {
  readonly amount: bigint;
  readonly releaseHeight: bigint;
}

export interface Account {
  readonly balance: bigint;
  /** The nonce the account's next transaction must carry. */
  readonly nonce: bigint;
  readonly staked: bigint;
  readonly unbonding: readonly Unbonding[];
}

export const EMPTY_ACCOUNT: Account = Object.freeze({ balance: 0n, nonce: 0n, staked: 0n, unbonding: Object.freeze([]) as readonly Unbonding[] });

/** Chain-wide counters, in the state so that they are covered by the state root. */
export interface ChainMeta {
  readonly height: bigint;
  /** Time of the last block (ms since the Unix epoch); genesis time at height 0. */
  readonly time: bigint;
  /** seed_h = H(seed_{h-1}, proposer's signature over (chainId, h)); genesis hash at height 0. */
  readonly seed: Uint8Array;
  readonly genesisSupply: bigint;
  readonly minted: bigint;
  readonly burned: bigint;
}

/** A member of a validator set. */
export interface Validator {
  readonly publicKey: Uint8Array;
  /** Voting power = stake, in base units. */
  readonly power: bigint;
  readonly name: string;
  /**
   * Proposer priority (chain/consensus/proposer.ts), signed. In the current set (`validators`)
   * these are the priorities for the next height at round 0, before selection; in
   * `lastValidators` those of the height that set signed; in `nextValidators` always 0 (a set
   * gets its priorities when it becomes current).
   */
  readonly priority: bigint;
}

/** Longest validator name (`validator.register`, genesis), in UTF-16 code units. */
export const MAX_VALIDATOR_NAME_LENGTH = 128;

export type StateChange = readonly [key: Uint8Array, value: Uint8Array | null];

// ---- keys: one prefix byte per record kind ----
// The kernel owns 0x00 (named global records) and 0x01 (accounts); every other prefix belongs to
// the module that registers it (chain/registry.ts RecordSpec), and the registry refuses two owners.
const PREFIX_GLOBAL = 0x00;
const PREFIX_ACCOUNT = 0x01;
/** A record under the global prefix, by name (the registry refuses two owners of one name). */
export const globalKey = (name: string): Uint8Array => concatBytes(new Uint8Array([PREFIX_GLOBAL]), utf8.encode(name));
/** `prefix || parts`: a module's record key. */
export const prefixedKey = (prefix: number, ...parts: Uint8Array[]): Uint8Array => concatBytes(new Uint8Array([prefix]), ...parts);
export const StateKey = {
  meta: globalKey("meta"),
  /** The set for the next height (h+1 after block h), with proposer priorities. */
  validators: globalKey("validators"),
  /** The set that signed the last block: the next block's lastCommit is checked against it. */
  lastValidators: globalKey("lastValidators"),
  /** The set for h+2. */
  nextValidators: globalKey("nextValidators"),
  account: (publicKey: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_ACCOUNT]), publicKey),
  /** The emission schedule and challenge seed of the current epoch (chain/epoch.ts EpochRecord). */
  epoch: globalKey("epoch"),
} as const;

/** If a state key is an account key, its public key. */
export function accountOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_ACCOUNT ? key.subarray(1) : undefined;
}

// ---- record codecs ----
export function encodeAccount(a: Account): Uint8Array {
  return encode([u64(a.balance), u64(a.nonce), u64(a.staked), a.unbonding.map((u) => [u64(u.amount), u64(u.releaseHeight)])]);
}
export function decodeAccount(b: Uint8Array, trusted = false): Account {
  return decodeCanonicalAccount(b) ?? decodeAccountGeneral(b, trusted);
}
/** decodeAccount through cborg and the codec readers, for any input (exported for the fast path's tests). */
export function decodeAccountGeneral(b: Uint8Array, trusted = false): Account {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "account", 4);
  return {
    balance: asU64(v[0], "balance"),
    nonce: asU64(v[1], "nonce"),
    staked: asU64(v[2], "staked"),
    unbonding: asArray(v[3], "unbonding").map((x) => {
      const u = asArray(x, "unbonding entry", 2);
      return { amount: asU64(u[0], "amount"), releaseHeight: asU64(u[1], "releaseHeight") };
    }),
  };
}
/**
 * An account record in the one encoding encodeAccount writes (an array of 4: three minimal unsigned
 * integers and an array of at most 255 pairs of them; nothing after it), read in one pass without
 * cborg's token objects: reading accounts is the hot path of state_getAccount and of block execution.
 * Undefined for anything else, which the general decoder then accepts or refuses as it always has.
 * Every input this accepts, strict cborg decodes to the same account (test/unit/chain/state-codec.test.ts
 * checks both on random records and random damage to them).
 */
function decodeCanonicalAccount(b: Uint8Array): Account | undefined {
  if (b.length < 5 || b[0] !== 0x84) return undefined;
  cursor = 1;
  const balance = readCanonicalU64(b);
  const nonce = readCanonicalU64(b);
  const staked = readCanonicalU64(b);
  if (balance === undefined || nonce === undefined || staked === undefined || cursor >= b.length) return undefined;
  let n = b[cursor++]!;
  if (n === 0x98) {
    if (cursor >= b.length) return undefined;
    n = b[cursor++]!;
    if (n < 24) return undefined;
  } else if (n >= 0x80 && n < 0x98) n -= 0x80;
  else return undefined;
  const unbonding: Unbonding[] = [];
  for (let i = 0; i < n; i++) {
    if (cursor >= b.length || b[cursor++] !== 0x82) return undefined;
    const amount = readCanonicalU64(b);
    const releaseHeight = readCanonicalU64(b);
    if (amount === undefined || releaseHeight === undefined) return undefined;
    unbonding.push({ amount, releaseHeight });
  }
  return cursor === b.length ? { balance, nonce, staked, unbonding } : undefined;
}

/** decodeCanonicalAccount's position in its input (one decode runs at a time: it never yields). */
let cursor = 0;

/** The unsigned integer at `cursor` in its shortest encoding (major type 0), or undefined. */
function readCanonicalU64(b: Uint8Array): bigint | undefined {
  if (cursor >= b.length) return undefined;
  const ib = b[cursor++]!;
  if (ib < 24) return BigInt(ib);
  const size = ib === 24 ? 1 : ib === 25 ? 2 : ib === 26 ? 4 : ib === 27 ? 8 : 0;
  if (size === 0 || cursor + size > b.length) return undefined;
  const at = cursor;
  cursor += size;
  if (size === 1) return b[at]! >= 24 ? BigInt(b[at]!) : undefined;
  if (size === 2) {
    const v = (b[at]! << 8) | b[at + 1]!;
    return v > 0xff ? BigInt(v) : undefined;
  }
  const hi = b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  if (size === 4) return hi > 0xffff ? BigInt(hi) : undefined;
  const lo = b[at + 4]! * 0x100_0000 + ((b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!);
  return hi > 0 ? (BigInt(hi) << 32n) | BigInt(lo) : undefined;
}

function isEmptyAccount(a: Account): boolean {
  return a.balance === 0n && a.nonce === 0n && a.staked === 0n && a.unbonding.length === 0;
}

export function encodeMeta(m: ChainMeta): Uint8Array {
  return encode([u64(m.height), u64(m.time), m.seed, u64(m.genesisSupply), u64(m.minted), u64(m.burned)]);
}
export function decodeMeta(b: Uint8Array, trusted = false): ChainMeta {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "meta", 6);
  return {
    height: asU64(v[0], "height"),
    time: asU64(v[1], "time"),
    seed: asBytes(v[2], "seed", 32),
    genesisSupply: asU64(v[3], "genesisSupply"),
    minted: asU64(v[4], "minted"),
    burned: asU64(v[5], "burned"),
  };
}

/** A validator set record: [[publicKey, power, name, priority (signed)], ...] in set order. */
export function encodeValidators(vs: readonly Validator[]): Uint8Array {
  return encode(vs.map((v): CborValue => [v.publicKey, u64(v.power), v.name, int(v.priority)]));
}
export function decodeValidators(b: Uint8Array, trusted = false): Validator[] {
  return asArray(trusted ? decodeTrusted(b) : decode(b), "validators").map((x) => {
    const v = asArray(x, "validator", 4);
    return {
      publicKey: asBytes(v[0], "publicKey", 32),
      power: asU64(v[1], "power"),
      name: asString(v[2], "name", MAX_VALIDATOR_NAME_LENGTH),
      priority: asInt(v[3], "priority"),
    };
  });
}

/**
 * The hash a header commits to for the validator set it was produced under: the members in set
 * order with their power and name. Priorities are left out (as in CometBFT): they change every
 * block and are covered by the state root.
 */
export function validatorsHash(vs: readonly Validator[]): Uint8Array {
  return taggedHash(Tag.VALSET, encode(vs.map((v): CborValue => [v.publicKey, u64(v.power), v.name])));
}

/** A sorted list of public keys (candidates, unbonding queues, punished validators). */
export function encodeKeyList(keys: readonly Uint8Array[]): Uint8Array {
  return encode([...keys]);
}
export function decodeKeyList(b: Uint8Array, trusted = false): Uint8Array[] {
  return asArray(trusted ? decodeTrusted(b) : decode(b), "keys").map((k) => asBytes(k, "key", 32));
}

/** Read access shared by ChainState and StateWriter, so that checks run on either. */
export interface StateReader {
  get(key: Uint8Array): Uint8Array | undefined;
  account(publicKey: Uint8Array): Account;
}

// Records under the state root were written by this node's own transition (or checked against
// a verified root on load), so they are decoded without the canonical re-encoding check.
export function readValidatorSet(r: StateReader, key: Uint8Array): Validator[] {
  const b = r.get(key);
  return b ? decodeValidators(b, true) : [];
}
export function readKeyList(r: StateReader, key: Uint8Array): Uint8Array[] {
  const b = r.get(key);
  return b ? decodeKeyList(b, true) : [];
}

/**
 * The authenticated tree a ChainState reads: the in-memory SparseMerkleTree (chain/smt.ts; tests,
 * genesis, replays) or a DiskTree over the block store. Both give the same root for the same records.
 */
export interface StateTree {
  get(key: Uint8Array): Uint8Array | undefined;
  root(): Uint8Array;
  prove(key: Uint8Array): StateProof;
  /** A new tree with the changes applied (null deletes); this one is left as it was. */
  update(changes: Iterable<readonly [Uint8Array, Uint8Array | null]>): StateTree;
  /** Every (key, value), in keyHash order. O(state size): for tests and audits. */
  entries(): IterableIterator<[Uint8Array, Uint8Array]>;
}

/**
 * Where a DiskTree reads committed state: the block store (chain/store.ts), synchronously. A
 * version is a committed height; reads of a height older than the store keeps throw.
 */
export interface StateBackend {
  /** A state record's value after block `version`. */
  record(key: Uint8Array, version: bigint): Uint8Array | undefined;
  /** A tree node record (chain/smt.ts paged tree) after block `version`. */
  node(path: Uint8Array, version: bigint): Uint8Array | undefined;
}

/**
 * One block's changes not yet in the store, over its parent layer; or, once the store has written
 * them (`committed`), the store itself at that height (the maps are dropped).
 */
class StateLayer {
  values: Map<string, Uint8Array | null> | null;
  nodes: Map<string, Uint8Array | null> | null;
  nodeWrites: readonly NodeWrite[] | null;
  parent: StateLayer | null;
  version: bigint | null;
  constructor(parent: StateLayer | null, version: bigint | null, values: Map<string, Uint8Array | null> | null, nodeWrites: readonly NodeWrite[] | null) {
    this.parent = parent;
    this.version = version;
    this.values = values;
    this.nodeWrites = nodeWrites;
    this.nodes = nodeWrites === null ? null : new Map(nodeWrites.map(([p, r]) => [latin1(p), r]));
  }
}

/**
 * The state tree kept in the block store: records and tree nodes are read from the store on demand
 * (through its bounded cache), never loaded whole. Updating it keeps the block's changes and the
 * node records they rewrite in memory (a layer) until the store commits them in the block's batch;
 * from then on the layer reads from the store. Immutable like SparseMerkleTree: an older tree stays
 * readable for as long as the store keeps its height.
 */
export class DiskTree implements StateTree {
  readonly #backend: StateBackend;
  readonly #layer: StateLayer;
  readonly #root: Uint8Array;

  private constructor(backend: StateBackend, layer: StateLayer, root: Uint8Array) {
    this.#backend = backend;
    this.#layer = layer;
    this.#root = root;
  }

  /** The tree the store holds after block `version`. */
  static at(backend: StateBackend, version: bigint): DiskTree {
    const layer = new StateLayer(null, version, null, null);
    return new DiskTree(backend, layer, pagedRoot((p) => backend.node(p, version)));
  }

  root(): Uint8Array {
    return new Uint8Array(this.#root);
  }

  get(key: Uint8Array): Uint8Array | undefined {
    let id: string | undefined;
    for (let l: StateLayer | null = this.#layer; l !== null; l = l.parent) {
      if (l.version !== null) return this.#backend.record(key, l.version);
      const v = l.values!.get((id ??= latin1(key)));
      if (v !== undefined) return v ?? undefined;
    }
    throw new Error("state layer chain has no committed base");
  }

  #node = (path: Uint8Array): Uint8Array | undefined => {
    let id: string | undefined;
    for (let l: StateLayer | null = this.#layer; l !== null; l = l.parent) {
      if (l.version !== null) return this.#backend.node(path, l.version);
      const v = l.nodes!.get((id ??= latin1(path)));
      if (v !== undefined) return v ?? undefined;
    }
    throw new Error("state layer chain has no committed base");
  };

  update(changes: Iterable<readonly [Uint8Array, Uint8Array | null]>): DiskTree {
    const list = [...changes];
    if (list.length === 0) return this;
    const { root, writes } = pagedUpdate(this.#node, list);
    const values = new Map<string, Uint8Array | null>();
    for (const [k, v] of list) values.set(latin1(k), v === null ? null : new Uint8Array(v));
    return new DiskTree(this.#backend, new StateLayer(this.#layer, null, values, writes), root);
  }

  prove(key: Uint8Array): StateProof {
    return pagedProve(this.#node, key);
  }

  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const k of pagedKeys(this.#node)) {
      const v = this.get(k);
      if (v === undefined) throw new Error("state tree leaf without a record");
      yield [k, v];
    }
  }

  /**
   * For the store: the node records this tree's own layer rewrites, if that layer sits directly on
   * the store's tree at `version` (undefined otherwise: the store then recomputes them), the same
   * records by path as latin1 strings (`ids`, the store's cache ids for them), and the layer's state
   * records by key (`records`). The store's cache keeps the maps: they are never changed.
   */
  pendingOver(version: bigint): { readonly writes: readonly NodeWrite[]; readonly ids: ReadonlyMap<string, Uint8Array | null>; readonly records: ReadonlyMap<string, Uint8Array | null> } | undefined {
    const l = this.#layer;
    return l.version === null && l.parent !== null && l.parent.version === version ? { writes: l.nodeWrites!, ids: l.nodes!, records: l.values! } : undefined;
  }

  /** For the store: this tree's layer is written at `version`; read it from the store from now on. */
  committedAt(version: bigint): void {
    const l = this.#layer;
    l.version = version;
    l.values = null;
    l.nodes = null;
    l.nodeWrites = null;
    l.parent = null;
  }

  /** The height of the store this tree reads, if it is exactly the store's tree there. */
  get version(): bigint | undefined {
    return this.#layer.version ?? undefined;
  }
}

/** An immutable state snapshot: the tree plus the hash of the block that produced it. */
export class ChainState implements StateReader {
  readonly tree: StateTree;
  /** Hash of the last applied block (the genesis hash at height 0). Not part of the root. */
  readonly lastBlockHash: Uint8Array;

  constructor(tree: StateTree, lastBlockHash: Uint8Array) {
    this.tree = tree;
    this.lastBlockHash = lastBlockHash;
  }

  root(): Uint8Array {
    return this.tree.root();
  }
  get(key: Uint8Array): Uint8Array | undefined {
    return this.tree.get(key);
  }
  prove(key: Uint8Array): StateProof {
    return this.tree.prove(key);
  }
  // Records under the state root were written by this node's own transition (or checked against
  // a verified root on load), so they are decoded without the canonical re-encoding check.
  account(publicKey: Uint8Array): Account {
    const b = this.tree.get(StateKey.account(publicKey));
    return b ? decodeAccount(b, true) : EMPTY_ACCOUNT;
  }
  meta(): ChainMeta {
    const b = this.tree.get(StateKey.meta);
    if (!b) throw new Error("state has no meta record");
    return decodeMeta(b, true);
  }
  /** The set for the next height (meta.height + 1), with its proposer priorities for round 0. */
  validators(): Validator[] {
    return readValidatorSet(this, StateKey.validators);
  }
  /** The set that produced and signed the last block; the next block's lastCommit is checked against it. */
  lastValidators(): Validator[] {
    return readValidatorSet(this, StateKey.lastValidators);
  }
  /** The set for meta.height + 2 (priorities 0 until it becomes current). */
  nextValidators(): Validator[] {
    return readValidatorSet(this, StateKey.nextValidators);
  }
  withChanges(changes: readonly StateChange[], lastBlockHash: Uint8Array): ChainState {
    return new ChainState(this.tree.update(changes), lastBlockHash);
  }
}

/** A touched record: its value in the base state, and the current value in the overlay. */
interface Slot {
  readonly key: Uint8Array;
  readonly base: Uint8Array | undefined;
  value: Uint8Array | null;
}

/** A touched account, kept decoded: transactions read and write the same few accounts repeatedly. */
interface AccountSlot {
  readonly key: Uint8Array;
  readonly base: Uint8Array | undefined;
  account: Account;
  written: boolean;
}

type JournalEntry =
  | { readonly kind: "raw"; readonly id: string; readonly value: Uint8Array | null; readonly fresh: boolean }
  | { readonly kind: "account"; readonly id: string; readonly account: Account; readonly written: boolean };


/**
 * A block's scratch overlay over a ChainState, with a journal for checkpoints. Accounts are
 * cached decoded and encoded once, in `changes()`; each slot remembers the base value it
 * replaced, so `changes()` needs no second read of the tree.
 */
export class StateWriter implements StateReader {
  readonly #base: ChainState;
  readonly #slots = new Map<string, Slot>();
  readonly #accounts = new Map<string, AccountSlot>();
  readonly #journal: JournalEntry[] = [];

  constructor(base: ChainState) {
    this.#base = base;
  }

  get base(): ChainState {
    return this.#base;
  }

  /** Raw records other than accounts (meta, validators, ...). */
  get(key: Uint8Array): Uint8Array | undefined {
    const pk = accountOfKey(key);
    if (pk) {
      const a = this.account(pk);
      return isEmptyAccount(a) ? undefined : encodeAccount(a);
    }
    const slot = this.#slots.get(latin1(key));
    if (slot) return slot.value ?? undefined;
    return this.#base.get(key);
  }

  set(key: Uint8Array, value: Uint8Array | null): void {
    const pk = accountOfKey(key);
    if (pk) return this.setAccount(pk, value === null ? EMPTY_ACCOUNT : decodeAccount(value));
    const id = latin1(key);
    let slot = this.#slots.get(id);
    const fresh = slot === undefined;
    if (!slot) {
      const base = this.#base.get(key);
      slot = { key, base, value: base ?? null };
      this.#slots.set(id, slot);
    }
    this.#journal.push({ kind: "raw", id, value: slot.value, fresh });
    slot.value = value;
  }

  checkpoint(): number {
    return this.#journal.length;
  }

  revert(checkpoint: number): void {
    while (this.#journal.length > checkpoint) {
      const e = this.#journal.pop()!;
      if (e.kind === "raw") {
        if (e.fresh) this.#slots.delete(e.id);
        else this.#slots.get(e.id)!.value = e.value;
      } else {
        const slot = this.#accounts.get(e.id)!;
        slot.account = e.account;
        slot.written = e.written;
      }
    }
  }

  #accountSlot(publicKey: Uint8Array): [string, AccountSlot] {
    const id = latin1(publicKey);
    let slot = this.#accounts.get(id);
    if (!slot) {
      // A read-through cache entry: it holds the base value, so reverts never need to drop it.
      const key = StateKey.account(publicKey);
      const base = this.#base.get(key);
      slot = { key, base, account: base ? decodeAccount(base, true) : EMPTY_ACCOUNT, written: false };
      this.#accounts.set(id, slot);
    }
    return [id, slot];
  }

  account(publicKey: Uint8Array): Account {
    return this.#accountSlot(publicKey)[1].account;
  }

  setAccount(publicKey: Uint8Array, a: Account): void {
    const [id, slot] = this.#accountSlot(publicKey);
    this.#journal.push({ kind: "account", id, account: slot.account, written: slot.written });
    slot.account = a;
    slot.written = true;
  }

  meta(): ChainMeta {
    const b = this.get(StateKey.meta);
    if (!b) throw new Error("state has no meta record");
    return decodeMeta(b, true);
  }
  setMeta(m: ChainMeta): void {
    this.set(StateKey.meta, encodeMeta(m));
  }

  /** The net changes against the base, in key order (deterministic). Unchanged writes are dropped. */
  changes(): StateChange[] {
    const out: StateChange[] = [];
    const push = (key: Uint8Array, base: Uint8Array | undefined, value: Uint8Array | null) => {
      if (value === null ? base === undefined : base !== undefined && Buffer.compare(base, value) === 0) return;
      out.push([key, value]);
    };
    for (const slot of this.#slots.values()) push(slot.key, slot.base, slot.value);
    for (const slot of this.#accounts.values()) {
      // Empty accounts are removed so that absence (an exclusion proof) means "never funded".
      if (slot.written) push(slot.key, slot.base, isEmptyAccount(slot.account) ? null : encodeAccount(slot.account));
    }
    return out.sort((a, b) => compareBytes(a[0], b[0]));
  }
}

/** Sum of every balance, stake and unbonding amount, and of what every module's records hold
 * (chain/registry.ts RecordSpec.held: channel escrow, provider collateral, deal escrow). The supply
 * invariant says it equals genesisSupply + minted - burned after every block.
 * O(state size): for tests and audits. */
export function totalHeld(state: ChainState): bigint {
  return totalHeldOf(state.tree.entries());
}

/** totalHeld over any (key, value) records of a state, e.g. streamed from the block store. */
export function totalHeldOf(entries: Iterable<readonly [Uint8Array, Uint8Array]>): bigint {
  const holders = new Map(registry().holders.map((r) => [r.prefix, r] as const));
  let sum = 0n;
  for (const [key, value] of entries) {
    const holder = holders.get(key[0]!);
    if (holder !== undefined) {
      sum += holder.held!(key, value);
      continue;
    }
    if (accountOfKey(key) === undefined) continue;
    const a = decodeAccount(value);
    sum += a.balance + a.staked;
    for (const u of a.unbonding) sum += u.amount;
  }
  return sum;
}
