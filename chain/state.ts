/**
 * The ledger state (DESIGN.md section 4): typed records over the authenticated tree.
 *
 * `ChainState` is immutable: executing a block yields a new one and the old one stays valid,
 * which is what lets consensus execute a proposal speculatively. `StateWriter` is the
 * scratch overlay one block executes in, with checkpoints so that a failed operation can be
 * rolled back while its fee and nonce stay consumed.
 */
import { asArray, asBool, asBytes, asInt, asString, asU64, asUint, decode, decodeTrusted, encode, int, u64, type CborValue } from "../primitives/codec.ts";
import { compareBytes, concatBytes, u64be, utf8 } from "../primitives/bytes.ts";
import { SparseMerkleTree, type StateProof } from "./smt.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { decodeDeal, decodeProvider } from "./storage-records.ts";

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

/**
 * A unidirectional payment channel (DESIGN.md section 9; chain/paych.ts executes its operations).
 * Escrow = deposit - redeemed until it is settled; the record stays after settlement, so that a
 * late voucher is rejected as closed rather than unknown.
 */
export interface Channel {
  /** Not stored: the key of the record. */
  readonly id: Uint8Array;
  readonly payer: Uint8Array;
  readonly payee: Uint8Array;
  readonly deposit: bigint;
  /** Cumulative amount paid to the payee. */
  readonly redeemed: bigint;
  /** Highest redeemed voucher nonce; 0 = none. */
  readonly nonce: bigint;
  /** Blocks between paych.close and the first height paych.withdraw is allowed. */
  readonly settleDelay: bigint;
  /** 0 = open; else the height from which paych.withdraw is allowed. */
  readonly closingAt: bigint;
  /** Withdrawn: the remainder went back to the payer; nothing more can happen on the channel. */
  readonly settled: boolean;
}

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

/**
 * A registered validator candidate: written by `validator.register` (or genesis) and never
 * deleted, so evidence against it stays punishable after it leaves the set.
 */
export interface ValidatorInfo {
  readonly name: string;
  /** A jailed candidate is not eligible for the set until it sends `validator.unjail`. */
  readonly jailed: boolean;
  /** While jailed: the first height at which `validator.unjail` is accepted. */
  readonly jailedUntil: bigint;
  /**
   * Downtime window (params.downtimeWindow bits): bit (windowIndex mod window) is the slot of the
   * next block tracked; a set bit is a missed block. `missed` is the number of set bits.
   * `windowIndex` counts the blocks tracked since registration or the last reset.
   */
  readonly windowIndex: bigint;
  readonly missed: number;
  readonly missedBits: Uint8Array;
}

/** Longest validator name (`validator.register`, genesis), in UTF-16 code units. */
export const MAX_VALIDATOR_NAME_LENGTH = 128;

export type StateChange = readonly [key: Uint8Array, value: Uint8Array | null];

// ---- keys: one prefix byte per record kind ----
const PREFIX_GLOBAL = 0x00;
const PREFIX_ACCOUNT = 0x01;
const PREFIX_VALIDATOR = 0x02;
const PREFIX_UNBONDING_QUEUE = 0x03;
const PREFIX_PUNISHED = 0x04;
/** Providers (DESIGN.md sections 6-8): 0x05 alone is the sorted list of provider keys, 0x05 || key a Provider. */
const PREFIX_PROVIDER = 0x05;
/** Storage deals: 0x06 alone is the sorted list of active deal ids, 0x06 || id a StorageDeal. */
const PREFIX_DEAL = 0x06;
const PREFIX_CHANNEL = 0x07;
/**
 * Proof of bandwidth (chain/bandwidth-records.ts): 0x08 || epoch(8) is the sorted list of the relays
 * assigned in that epoch, 0x08 || relay(32) || epoch(8) a RelayEpoch.
 */
const PREFIX_BANDWIDTH = 0x08;
/** 0x09 || epoch(8): witnesses punished for a double attestation about a relay without a RelayEpoch. */
const PREFIX_ATTEST_PUNISHED = 0x09;
const globalKey = (name: string): Uint8Array => concatBytes(new Uint8Array([PREFIX_GLOBAL]), utf8.encode(name));
export const StateKey = {
  meta: globalKey("meta"),
  /** The set for the next height (h+1 after block h), with proposer priorities. */
  validators: globalKey("validators"),
  /** The set that signed the last block: the next block's lastCommit is checked against it. */
  lastValidators: globalKey("lastValidators"),
  /** The set for h+2. */
  nextValidators: globalKey("nextValidators"),
  /** Public keys (sorted) of the registered candidates eligible for the set: unjailed, staked >= minValidatorStake. */
  candidates: globalKey("candidates"),
  account: (publicKey: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_ACCOUNT]), publicKey),
  /** A registered candidate's ValidatorInfo. */
  validator: (publicKey: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_VALIDATOR]), publicKey),
  /** Public keys (sorted) of the accounts with unbonding entries released at the end of block `height`. */
  unbondingQueue: (height: bigint): Uint8Array => concatBytes(new Uint8Array([PREFIX_UNBONDING_QUEUE]), u64be(height)),
  /** Public keys (sorted) of the validators already punished for double-signing at `height`. */
  punished: (height: bigint): Uint8Array => concatBytes(new Uint8Array([PREFIX_PUNISHED]), u64be(height)),
  /** A payment channel's record (chain/paych.ts), by channel id. */
  channel: (id: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_CHANNEL]), id),
  /** The emission schedule and challenge seed of the current epoch (chain/rewards.ts EpochRecord). */
  epoch: globalKey("epoch"),
  /** Validator signatures counted in the current epoch (chain/rewards.ts SignerTally). */
  signers: globalKey("signers"),
  /** Public keys (sorted) of every provider that ever registered (chain/storage.ts). */
  providers: new Uint8Array([PREFIX_PROVIDER]),
  /** A provider's record, by public key. */
  provider: (publicKey: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_PROVIDER]), publicKey),
  /** Ids (sorted) of the active storage deals: the end-of-epoch settlement walks this list. */
  activeDeals: new Uint8Array([PREFIX_DEAL]),
  /** A storage deal's record, by deal id; kept after the deal ends. */
  deal: (id: Uint8Array): Uint8Array => concatBytes(new Uint8Array([PREFIX_DEAL]), id),
  /** Public keys (sorted) of the relays assigned witnesses in `epoch` (chain/bandwidth.ts). */
  relaysOfEpoch: (epoch: bigint): Uint8Array => concatBytes(new Uint8Array([PREFIX_BANDWIDTH]), u64be(epoch)),
  /** A relay's RelayEpoch record: its witnesses and attestations in `epoch`. */
  relayEpoch: (relay: Uint8Array, epoch: bigint): Uint8Array => concatBytes(new Uint8Array([PREFIX_BANDWIDTH]), relay, u64be(epoch)),
  /** relay || witness pairs (sorted) punished for a double attestation in `epoch` about a relay without a record. */
  attestPunished: (epoch: bigint): Uint8Array => concatBytes(new Uint8Array([PREFIX_ATTEST_PUNISHED]), u64be(epoch)),
} as const;

/** If a state key is a provider record's key, the provider's public key. */
export function providerOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_PROVIDER ? key.subarray(1) : undefined;
}

/** If a state key is a storage deal record's key, the deal id. */
export function dealOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_DEAL ? key.subarray(1) : undefined;
}

/** If a state key is a payment-channel key, the channel id. */
export function channelOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_CHANNEL ? key.subarray(1) : undefined;
}

/** If a state key is an account key, its public key. */
export function accountOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_ACCOUNT ? key.subarray(1) : undefined;
}

// ---- record codecs ----
export function encodeAccount(a: Account): Uint8Array {
  return encode([u64(a.balance), u64(a.nonce), u64(a.staked), a.unbonding.map((u) => [u64(u.amount), u64(u.releaseHeight)])]);
}
export function decodeAccount(b: Uint8Array, trusted = false): Account {
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

export function encodeValidatorInfo(v: ValidatorInfo): Uint8Array {
  return encode([v.name, v.jailed, u64(v.jailedUntil), u64(v.windowIndex), v.missed, v.missedBits]);
}
export function decodeValidatorInfo(b: Uint8Array, trusted = false): ValidatorInfo {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "validatorInfo", 6);
  return {
    name: asString(v[0], "name", MAX_VALIDATOR_NAME_LENGTH),
    jailed: asBool(v[1], "jailed"),
    jailedUntil: asU64(v[2], "jailedUntil"),
    windowIndex: asU64(v[3], "windowIndex"),
    missed: asUint(v[4], "missed"),
    missedBits: asBytes(v[5], "missedBits"),
  };
}

/** A fresh candidate record: unjailed, with an all-zero downtime window of `window` bits. */
export function newValidatorInfo(name: string, window: number): ValidatorInfo {
  return { name, jailed: false, jailedUntil: 0n, windowIndex: 0n, missed: 0, missedBits: new Uint8Array(Math.ceil(window / 8)) };
}

export function encodeChannel(c: Channel): Uint8Array {
  return encode([c.payer, c.payee, u64(c.deposit), u64(c.redeemed), u64(c.nonce), u64(c.settleDelay), u64(c.closingAt), c.settled]);
}
export function decodeChannel(id: Uint8Array, b: Uint8Array, trusted = false): Channel {
  const v = asArray(trusted ? decodeTrusted(b) : decode(b), "channel", 8);
  return {
    id,
    payer: asBytes(v[0], "payer", 32),
    payee: asBytes(v[1], "payee", 32),
    deposit: asU64(v[2], "deposit"),
    redeemed: asU64(v[3], "redeemed"),
    nonce: asU64(v[4], "nonce"),
    settleDelay: asU64(v[5], "settleDelay"),
    closingAt: asU64(v[6], "closingAt"),
    settled: asBool(v[7], "settled"),
  };
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
export function readValidatorInfo(r: StateReader, publicKey: Uint8Array): ValidatorInfo | undefined {
  const b = r.get(StateKey.validator(publicKey));
  return b ? decodeValidatorInfo(b, true) : undefined;
}
export function readKeyList(r: StateReader, key: Uint8Array): Uint8Array[] {
  const b = r.get(key);
  return b ? decodeKeyList(b, true) : [];
}

/** An immutable state snapshot: the tree plus the hash of the block that produced it. */
export class ChainState implements StateReader {
  readonly tree: SparseMerkleTree;
  /** Hash of the last applied block (the genesis hash at height 0). Not part of the root. */
  readonly lastBlockHash: Uint8Array;

  constructor(tree: SparseMerkleTree, lastBlockHash: Uint8Array) {
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
  /** A registered candidate's record, or undefined. */
  validatorInfo(publicKey: Uint8Array): ValidatorInfo | undefined {
    return readValidatorInfo(this, publicKey);
  }
  /** Public keys of the candidates eligible for the set (unjailed, staked >= minValidatorStake), sorted. */
  candidates(): Uint8Array[] {
    return readKeyList(this, StateKey.candidates);
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

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

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

/** Sum of every balance, stake, unbonding amount, payment-channel escrow (deposit - redeemed
 * of unsettled channels), provider collateral (free and locked in deals) and storage-deal escrow.
 * The supply invariant says it equals genesisSupply + minted - burned after every block.
 * O(state size): for tests and audits. */
export function totalHeld(state: ChainState): bigint {
  let sum = 0n;
  for (const [key, value] of state.tree.entries()) {
    const provider = providerOfKey(key);
    if (provider !== undefined) {
      sum += decodeProvider(provider, value).collateral;
      continue;
    }
    const deal = dealOfKey(key);
    if (deal !== undefined) {
      sum += decodeDeal(deal, value).escrow;
      continue;
    }
    const channel = channelOfKey(key);
    if (channel !== undefined) {
      const c = decodeChannel(channel, value);
      if (!c.settled) sum += c.deposit - c.redeemed;
      continue;
    }
    if (accountOfKey(key) === undefined) continue;
    const a = decodeAccount(value);
    sum += a.balance + a.staked;
    for (const u of a.unbonding) sum += u.amount;
  }
  return sum;
}
