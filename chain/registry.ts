/**
 * The module registry (docs/architecture.md): how the kernel reaches the services without naming
 * them. Each module in `modules/` declares a `ModuleSpec`: its operations, events, state records,
 * evidence kinds and block hooks; `modules/index.ts` builds one `Registry` from a static list and
 * installs it. The kernel (transition, tx codec, block codec, evidence pool, RPC and gossip through
 * the kernel) dispatches through the installed registry, so adding an op touches its module and one
 * line of the list, and an op whose handler is missing is a type error (every member of `OpSpec`
 * is required), never a silent no-op.
 *
 * Types: the kernel declares empty maps (`OpMap` in chain/tx.ts, `EventMap` in chain/exec.ts,
 * `EvidenceMap` in chain/evidence.ts) that each module augments with its own members, so
 * `Operation`, `ChainEvent` and `Evidence` are the full unions wherever the modules are compiled,
 * while no kernel file imports a module.
 */
import type { CborValue } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import type { ChainParams } from "./params.ts";
import type { BlockContext, ChainEvent, Receipt } from "./exec.ts";
import type { StateReader, StateWriter } from "./state.ts";
import type { Operation, SignedTx, TxBody } from "./tx.ts";
import type { Evidence } from "./evidence.ts";
import type { Block, Commit } from "./block.ts";

/** The gossip topic an op travels on (p2p/gossip.ts): `tx` for transactions, `attestation` for service attestations. */
export type OpTopic = "tx" | "attestation";

/** Everything the kernel needs to know about one operation. */
export interface OpSpec<O extends Operation = Operation> {
  /** Wire code: `op = [code, ...args]`. */
  readonly code: number;
  readonly type: O["type"];
  readonly topic: OpTopic;
  /** The op's wire arguments after its code. */
  encode(op: O): CborValue[];
  /** The whole op array (`arr[0]` is the code): check the arity and decode; throws CodecError. */
  decode(arr: readonly CborValue[], whole: CborValue): O;
  /** Stateless argument checks: the reason it is invalid, or undefined. */
  validateBasic(op: O): string | undefined;
  /** Executes the op; throws an `OpError` to fail it (the fee and nonce stay consumed, its writes are rolled back). */
  execute(w: StateWriter, ctx: BlockContext, tx: SignedTx & { readonly op: O }): void;
  /** Accounts other than the sender whose history shows the transaction. */
  participants(tx: TxBody & { readonly op: O }): readonly Uint8Array[];
  /** The op's JSON form for the RPC, without `type`. */
  json(op: O): Record<string, unknown>;
  /**
   * Optional: what executing the op now would credit to its sender's balance (0 if it would fail),
   * so that a sender whose balance is short of the fee can pay it from that payout (paych.redeem:
   * a payee with no balance redeems). The kernel's fee rule (chain/transition.ts checkTxFee)
   * consults it only when the balance is short; it must read only and run every check the op's
   * execution runs. A tx admitted this way whose op then fails is invalid (it cannot pay its fee).
   */
  feeFromPayout?(state: StateReader, tx: SignedTx & { readonly op: O }): bigint;
  /**
   * Optional: what the op takes from its sender's balance when it succeeds (a transfer's amount, a
   * stake, a channel deposit). Mempool policy only, never consensus: the node refuses to admit a
   * tx whose sender's balance at the head is short of this plus the fee (chain/mempool.ts
   * checkSenderCovers); a block may still carry such a tx, whose op then fails.
   */
  debit?(op: O): bigint;
}

/** An event kind: its JSON form (the RPC's `events`) and the zod schema that JSON must fit. */
export interface EventSpec<E extends { readonly kind: string } = { readonly kind: string }> {
  readonly kind: E["kind"];
  json(e: E): Record<string, unknown>;
  /** A zod object schema of the JSON (typed loosely here: the kernel does not import zod). */
  readonly schema: unknown;
}

/** A state record kind owned by a module. */
export interface RecordSpec {
  /** The key's first byte (0x00 is the kernel's global prefix; see `globals`). */
  readonly prefix: number;
  readonly name: string;
  /** The coins this record holds, for the supply invariant (e.g. escrow, collateral); omit if none. */
  held?(key: Uint8Array, value: Uint8Array): bigint;
}

/** An evidence kind: wire codec, the two validation stages, and the punishment. */
export interface EvidenceSpec<V extends Evidence = Evidence> {
  /** Wire code: `evidence = [code, ...args]`. */
  readonly code: number;
  readonly kind: V["kind"];
  encode(ev: V): CborValue[];
  decode(arr: readonly CborValue[], whole: CborValue): V;
  /** Stateless checks, signatures last; throws EvidenceError. */
  validateBasic(ev: V, chainId: string): void;
  /** The checks against the state of the block at `height` (after validateBasic); throws EvidenceError. */
  verify(state: StateReader, ev: V, params: ChainParams, height: bigint): void;
  /** Who is punished and the height the fault counts at. */
  subject(ev: V, epochLength: number): { offender: Uint8Array; height: bigint };
  /** Punishes the offender (the evidence is verified already). */
  apply(w: StateWriter, ctx: BlockContext, ev: V): void;
  json(ev: V): Record<string, unknown>;
}

/** One entry of a block-store index: its key after the index's prefix byte, and a value (empty if absent). */
export interface IndexEntry {
  readonly key: readonly Uint8Array[];
  readonly value?: Uint8Array;
}

/**
 * A secondary index the block store keeps from one event kind, written in the block's atomic batch
 * (e.g. payment channels by payer, from paychOpen). `code` is its key prefix byte in the store.
 */
export interface IndexSpec<E extends ChainEvent = ChainEvent> {
  readonly code: number;
  readonly name: string;
  readonly kind: E["kind"];
  /** The entries `e` adds; `seq` is the event's position in its block. */
  entries(e: E, seq: number): readonly IndexEntry[];
}

/** A node-local keyspace of the block store that a module keeps outside the chain (e.g. the best voucher per channel). */
export interface LocalSpaceSpec {
  readonly code: number;
  readonly name: string;
}

/**
 * Block hooks, run for each module in list order:
 *   beginBlock   after the block's evidence, before its transactions (with the commit it carries)
 *   endBlock     after the transactions, before the proposer is paid its fees
 *   endEpoch     at the last block of an epoch, after the fees
 *   commitBlock  after endEpoch, before the chain seed advances
 *   beginEpoch   at the first block of an epoch, with the epoch's seed (the chain seed after it)
 */
export interface BlockHooks {
  beginBlock?(w: StateWriter, ctx: BlockContext, lastCommit: Commit | null): void;
  endBlock?(w: StateWriter, ctx: BlockContext): void;
  endEpoch?(w: StateWriter, ctx: BlockContext, epoch: bigint): void;
  commitBlock?(w: StateWriter, ctx: BlockContext): void;
  beginEpoch?(w: StateWriter, ctx: BlockContext, epoch: bigint, seed: Uint8Array): void;
}

export interface ModuleSpec {
  readonly name: string;
  // `any`: each entry is typed where its module writes it (`defineOp`, `defineEvent`, ...).
  readonly ops: readonly OpSpec<any>[];
  readonly events: readonly EventSpec<any>[];
  readonly records: readonly RecordSpec[];
  /** Names of the module's records under the kernel's global prefix 0x00. */
  readonly globals?: readonly string[];
  readonly evidence?: readonly EvidenceSpec<any>[];
  readonly indexes?: readonly IndexSpec<any>[];
  readonly localSpaces?: readonly LocalSpaceSpec[];
  /** The module's error codes (receipt codes and refusals), by name. */
  readonly errors: Readonly<Record<string, string>>;
  readonly hooks?: BlockHooks;
  /**
   * Evidence a committed block reveals (e.g. a bandwidth.attest refused as a duplicate that
   * carries other measurements than the stored one: a double attestation). Pure; the node pools
   * and gossips what it returns.
   */
  evidenceFrom?(block: Block, receipts: readonly Receipt[], after: StateReader, chainId: string): Evidence[];
}

/** Identity helpers: type each entry where it is written. */
export const defineOp = <O extends Operation>(spec: OpSpec<O>): OpSpec<O> => spec;
export const defineEvent = <E extends { readonly kind: string }>(spec: EventSpec<E>): EventSpec<E> => spec;
export const defineEvidence = <V extends Evidence>(spec: EvidenceSpec<V>): EvidenceSpec<V> => spec;
export const defineIndex = <E extends ChainEvent>(spec: IndexSpec<E>): IndexSpec<E> => spec;

/** Prefixes and global names the kernel itself uses (chain/state.ts). */
export const KERNEL_PREFIXES: readonly number[] = [0x00, 0x01];
export const KERNEL_GLOBALS: readonly string[] = ["meta", "validators", "lastValidators", "nextValidators", "epoch"];
/** Event kinds the kernel emits itself (chain/transition.ts). */
export const KERNEL_EVENTS: readonly string[] = ["fee"];

export const RegistryErrorCode = {
  DUPLICATE: "REGISTRY_DUPLICATE",
  NOT_INSTALLED: "REGISTRY_NOT_INSTALLED",
} as const;
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];
export class RegistryError extends CodedError<RegistryErrorCode> {}

/** The modules' specs, indexed; refuses any duplicate op code or type, event kind, key prefix, global name or evidence code. */
export class Registry {
  readonly modules: readonly ModuleSpec[];
  readonly #opsByCode = new Map<number, OpSpec>();
  readonly #opsByType = new Map<string, OpSpec>();
  readonly #events = new Map<string, EventSpec>();
  readonly #records = new Map<number, RecordSpec>();
  readonly #evidenceByCode = new Map<number, EvidenceSpec>();
  readonly #evidenceByKind = new Map<string, EvidenceSpec>();
  readonly #indexesByKind = new Map<string, IndexSpec[]>();
  /** Store prefix bytes taken by module indexes and local spaces (the store checks them against its own). */
  readonly storeCodes: ReadonlyMap<number, string>;
  /** Records that hold coins, for the supply invariant. */
  readonly holders: readonly RecordSpec[];

  constructor(modules: readonly ModuleSpec[]) {
    this.modules = modules;
    const names = new Set<string>();
    const globals = new Set(KERNEL_GLOBALS);
    const prefixes = new Set(KERNEL_PREFIXES);
    const events = new Set(KERNEL_EVENTS);
    const storeCodes = new Map<number, string>();
    const dup = (what: string, m: ModuleSpec): never => {
      throw new RegistryError(RegistryErrorCode.DUPLICATE, `module ${m.name}: ${what} is already registered`);
    };
    for (const m of modules) {
      if (names.has(m.name)) dup(`the name ${m.name}`, m);
      names.add(m.name);
      for (const op of m.ops) {
        if (!Number.isSafeInteger(op.code) || op.code < 0) throw new RegistryError(RegistryErrorCode.DUPLICATE, `module ${m.name}: op ${op.type} has a bad code`);
        if (this.#opsByCode.has(op.code)) dup(`op code ${op.code}`, m);
        if (this.#opsByType.has(op.type) || op.type === "unknown") dup(`op type ${op.type}`, m);
        this.#opsByCode.set(op.code, op);
        this.#opsByType.set(op.type, op);
      }
      for (const e of m.events) {
        if (events.has(e.kind)) dup(`event kind ${e.kind}`, m);
        events.add(e.kind);
        this.#events.set(e.kind, e);
      }
      for (const r of m.records) {
        if (prefixes.has(r.prefix)) dup(`key prefix 0x${r.prefix.toString(16).padStart(2, "0")}`, m);
        prefixes.add(r.prefix);
        this.#records.set(r.prefix, r);
      }
      for (const g of m.globals ?? []) {
        if (globals.has(g)) dup(`global record ${g}`, m);
        globals.add(g);
      }
      for (const ev of m.evidence ?? []) {
        if (this.#evidenceByCode.has(ev.code)) dup(`evidence code ${ev.code}`, m);
        if (this.#evidenceByKind.has(ev.kind)) dup(`evidence kind ${ev.kind}`, m);
        this.#evidenceByCode.set(ev.code, ev);
        this.#evidenceByKind.set(ev.kind, ev);
      }
      for (const space of [...(m.indexes ?? []), ...(m.localSpaces ?? [])]) {
        if (storeCodes.has(space.code)) dup(`store prefix 0x${space.code.toString(16)} (${space.name})`, m);
        storeCodes.set(space.code, `${m.name}.${space.name}`);
      }
      for (const ix of m.indexes ?? []) {
        const list = this.#indexesByKind.get(ix.kind) ?? [];
        list.push(ix);
        this.#indexesByKind.set(ix.kind, list);
      }
    }
    this.storeCodes = storeCodes;
    this.holders = [...this.#records.values()].filter((r) => r.held !== undefined);
  }

  opByCode(code: number): OpSpec | undefined {
    return this.#opsByCode.get(code);
  }
  op(type: string): OpSpec | undefined {
    return this.#opsByType.get(type);
  }
  ops(): OpSpec[] {
    return [...this.#opsByCode.values()];
  }
  event(kind: string): EventSpec | undefined {
    return this.#events.get(kind);
  }
  events(): EventSpec[] {
    return [...this.#events.values()];
  }
  record(prefix: number): RecordSpec | undefined {
    return this.#records.get(prefix);
  }
  evidenceByCode(code: number): EvidenceSpec | undefined {
    return this.#evidenceByCode.get(code);
  }
  evidence(kind: string): EvidenceSpec | undefined {
    return this.#evidenceByKind.get(kind);
  }
  /** The store indexes fed by events of `kind` (empty for most kinds). */
  indexesFor(kind: string): readonly IndexSpec[] {
    return this.#indexesByKind.get(kind) ?? NO_INDEXES;
  }
  evidenceKinds(): EvidenceSpec[] {
    return [...this.#evidenceByCode.values()];
  }
}

const NO_INDEXES: readonly IndexSpec[] = [];

let installed: Registry | undefined;

/** Installs the registry the kernel dispatches through (modules/index.ts does, when imported). */
export function installRegistry(r: Registry): void {
  installed = r;
}

/** The installed registry; a clear error if no entry point imported modules/index.ts. */
export function registry(): Registry {
  if (installed === undefined) throw new RegistryError(RegistryErrorCode.NOT_INSTALLED, "no module registry is installed: import modules/index.ts first");
  return installed;
}
