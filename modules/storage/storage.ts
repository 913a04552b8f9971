/**
 * Providers and proof of storage (docs/protocol.md sections 5 and 7), run by the state transition.
 * Pure and deterministic: bigint arithmetic, sorted key lists, no clock.
 *
 *   provider.register(kind, collateral, capacity, multiaddr)
 *        the sender locks `collateral` (>= capacity * params.collateralPerByte) and offers
 *        `capacity` bytes as a storage provider (kind 0) or a bandwidth relay (kind 1)
 *   provider.exit()
 *        no new deals; the collateral goes back to the balance at once if no deal is active,
 *        else at the end of the epoch in which its last deal ends and its last pending placement closes. The record stays.
 *   storage.deal(terms, providerSignature)
 *        sent by the client; the provider signed H("cloudcoin/deal/v1", [chainId, client, terms]).
 *        Locks price * duration of the client's balance in the deal (escrow) and `collateral` of
 *        the provider's free collateral; takes `size` of its capacity.
 *        id = H("cloudcoin/deal/id/v1", [chainId, client, terms]): one acceptance, one deal.
 *   storage.proof(deal, epoch, chunks)
 *        sent by the deal's provider in the proof window of `epoch` (chain/epoch.ts): the k
 *        challenged chunks (proofs/storage.ts challengeIndices) in challenge order, each with
 *        its audit path against the deal root.
 *
 * A deal landing in epoch d is challenged in epochs d+1 .. d+durationEpochs. At the end of each
 * epoch e (settleStorageEpoch, from the transition's end of block) every active deal challenged
 * in e is settled, in deal-id order:
 *   proven  pricePerEpoch moves from the escrow to the provider's balance;
 *   missed  params.missSlashBps of the original collateral (capped at what is left) moves from
 *           the locked collateral to the client's balance, and misses++;
 *   the deal ends after params.maxMissedProofs misses (failed) or durationEpochs challenged
 *   epochs (completed): the escrow left goes back to the client, the collateral left back to the
 *   provider's free collateral, the capacity is freed.
 * Then each provider with proofs due in e, in key order: its reputation window gets (e, made,
 * due); an epoch with a missed proof is a failure and bans it for BAN_EPOCHS[strikes] epochs
 * (1, 6, then 144; the strikes reset after a whole clean reputation window): recordServiceEpoch,
 * the one rule bandwidth relays are judged by too (chain/bandwidth.ts); an exiting provider
 * whose last deal ended gets its collateral back. The providers that proved bytes in e and were
 * not banned during e are returned as the storage pool's earners (chain/rewards.ts mints).
 *
 * A banned provider accepts no new deals and earns no minted reward; its deals go on being
 * challenged and paid. Bandwidth relays (kind 1) register and exit like storage providers (a relay
 * never has deals, so its exit returns the collateral at once); their assignment, attestations and
 * settlement are chain/bandwidth.ts.
 */
import { AmountError, addU64 } from "../../primitives/amount.ts";
import { compareBytes, equalBytes, toHex } from "../../primitives/bytes.ts";
import { encode } from "../../primitives/codec.ts";
import { epochOfHeight, epochSeed, isFirstBlockOfEpoch } from "../../chain/epoch.ts";
import { ExecError, ExecErrorCode, OpError, type BlockContext } from "../../chain/exec.ts";
import { Tag, taggedHash } from "../../primitives/hash.ts";
import { verify, type KeyPair } from "../../primitives/keys.ts";
import type { ChainParams } from "../../chain/params.ts";
import { encodeKeyList, readKeyList, type StateReader, type StateWriter } from "../../chain/state.ts";
import {
  decodeDeal, decodeProvider, decodeStorageSnapshot, dealTermsValue, DealStatus, encodeDeal, encodeProvider, isProviderKind, PROVIDER_KIND_NAMES, ProviderKind,
  ProviderStatus, StorageKey, type DealTerms, type Provider, type StorageDeal,
} from "./records.ts";
import { challengeIndices, chunkCount, chunkLength, isValidChunkSize, MAX_CHUNK_COUNT, verifyStorageProof } from "../../proofs/storage.ts";
import { MAX_TX_BYTES, type SignedTx } from "../../chain/tx.ts";

export {
  DEAL_STATUS_NAMES, DealStatus, PROVIDER_KIND_NAMES, PROVIDER_STATUS_NAMES, ProviderKind, ProviderStatus,
  type DealTerms, type Provider, type ReputationEntry, type StorageDeal,
} from "./records.ts";

/**
 * Most challenges per deal (params.challengesPerDeal): a proof of that many 64 KiB chunks with
 * 40-hash paths is about 790 KB, within MAX_TX_BYTES (1 MiB).
 */
export const MAX_CHALLENGES_PER_DEAL = 12;
export const MAX_MULTIADDR_LENGTH = 256;
/** Ban length in epochs for the 1st, 2nd, and 3rd and later failed epoch (Bitcloud's service law). */
export const BAN_EPOCHS: readonly bigint[] = [1n, 6n, 144n];
export const FULL_REPUTATION_BPS = 10_000;
/**
 * Epochs an exiting provider's collateral stays locked, counting the exit's: as long as
 * double-attestation evidence is accepted (modules/bandwidth BANDWIDTH_RECORD_EPOCHS; a test pins
 * that they are equal), so a witness cannot exit to escape its penalty.
 */
export const EXIT_UNBONDING_EPOCHS = 4n;

export const StorageErrorCode = {
  /** The sender (provider.exit, storage.proof) or the deal's provider (storage.deal) is not a registered provider (never registered, or exited). */
  PROVIDER_NOT_REGISTERED: "PROVIDER_NOT_REGISTERED",
  /** provider.register by a provider that is active or exiting. */
  PROVIDER_ALREADY_REGISTERED: "PROVIDER_ALREADY_REGISTERED",
  /** provider.register with collateral below capacity * params.collateralPerByte. */
  PROVIDER_COLLATERAL_TOO_LOW: "PROVIDER_COLLATERAL_TOO_LOW",
  /** storage.deal with a provider that is not a storage provider. */
  PROVIDER_WRONG_KIND: "PROVIDER_WRONG_KIND",
  /** storage.deal with an exiting provider, or provider.exit twice. */
  PROVIDER_EXITING: "PROVIDER_EXITING",
  /** storage.deal with a provider banned in the current epoch. */
  PROVIDER_BANNED: "PROVIDER_BANNED",
  /** storage.deal that would take the provider beyond its capacity. */
  PROVIDER_CAPACITY_EXCEEDED: "PROVIDER_CAPACITY_EXCEEDED",

  /** The provider's acceptance does not verify over (chainId, client, terms). */
  BAD_ACCEPTANCE: "STORAGE_BAD_ACCEPTANCE",
  /** The deal lands after terms.expiresAtHeight. */
  ACCEPTANCE_EXPIRED: "STORAGE_ACCEPTANCE_EXPIRED",
  /** terms.chunkSize is not a power of two in [256, 65536]. */
  BAD_CHUNK_SIZE: "STORAGE_BAD_CHUNK_SIZE",
  /** terms.size is 0 or makes more than 2^40 chunks. */
  BAD_SIZE: "STORAGE_BAD_SIZE",
  /** terms.durationEpochs is 0 or above params.maxDealEpochs. */
  BAD_DURATION: "STORAGE_BAD_DURATION",
  /** The client is the provider. */
  SELF_DEAL: "STORAGE_SELF_DEAL",
  /** The same acceptance again: a deal with this id exists. */
  DEAL_EXISTS: "STORAGE_DEAL_EXISTS",
  /** price * duration exceeds the client's balance. */
  INSUFFICIENT_ESCROW: "STORAGE_INSUFFICIENT_ESCROW",
  /** terms.collateral exceeds the provider's free collateral. */
  INSUFFICIENT_COLLATERAL: "STORAGE_INSUFFICIENT_COLLATERAL",

  /** pricePerEpoch below params.minStoragePrice for the size (storage.deal, storage.order). */
  PRICE_TOO_LOW: "STORAGE_PRICE_TOO_LOW",
  /** storage.deal with terms.collateral below size * params.collateralPerByte. */
  DEAL_COLLATERAL_TOO_LOW: "STORAGE_DEAL_COLLATERAL_TOO_LOW",
  /** The provider already holds a live deal or placement on this root. */
  ROOT_HELD: "STORAGE_ROOT_HELD",
  /** One epoch's proofs of the deal (or of all the order's replicas) would not fit in a block (params.maxBlockBytes) or a transaction. */
  PROOFS_TOO_LARGE: "STORAGE_PROOFS_TOO_LARGE",
  /** storage.order with more replicas than there are storage providers that could hold them. */
  TOO_MANY_REPLICAS: "STORAGE_TOO_MANY_REPLICAS",
  /** storage.accept or storage.decline of an order that does not exist. */
  UNKNOWN_ORDER: "STORAGE_UNKNOWN_ORDER",
  /** storage.accept or storage.decline of an order that is filled or expired. */
  ORDER_CLOSED: "STORAGE_ORDER_CLOSED",
  /** storage.accept or storage.decline by a provider the order was never placed on. */
  NOT_PLACED: "STORAGE_NOT_PLACED",
  /** storage.accept or storage.decline of a placement already accepted or declined. */
  PLACEMENT_CLOSED: "STORAGE_PLACEMENT_CLOSED",
  /** storage.accept or storage.decline after the placement's acceptance window: it expired (the provider's missed service epoch). */
  PLACEMENT_EXPIRED: "STORAGE_PLACEMENT_EXPIRED",

  UNKNOWN_DEAL: "STORAGE_UNKNOWN_DEAL",
  /** The deal completed or failed. */
  DEAL_ENDED: "STORAGE_DEAL_ENDED",
  /** A registered provider sent a proof for another provider's deal. */
  NOT_DEAL_PROVIDER: "STORAGE_NOT_DEAL_PROVIDER",
  /** A proof for a future epoch, for the current one in its first block (its seed is not known yet), or for an epoch before the deal's first challenge. */
  WRONG_EPOCH: "STORAGE_PROOF_WRONG_EPOCH",
  /** A proof for a past epoch: its window closed with its last block. */
  LATE_PROOF: "STORAGE_PROOF_LATE",
  /** The deal is already proven for this epoch. */
  DUPLICATE_PROOF: "STORAGE_PROOF_DUPLICATE",
  /** Not the challenged chunks: wrong count, an index that is not the challenge's, or a chunk of the wrong length. */
  WRONG_CHUNK: "STORAGE_PROOF_WRONG_CHUNK",
  /** A chunk's audit path does not lead to the deal root. */
  BAD_PATH: "STORAGE_PROOF_BAD_PATH",
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** A failed provider or storage operation (the receipt code; fee and nonce consumed). */
export class StorageError extends OpError<StorageErrorCode> {}

export type StorageOp = Extract<SignedTx["op"], { type: "provider.register" | "provider.exit" | "storage.deal" | "storage.proof" }>;

const GIB = 1n << 30n;

/** The lowest pricePerEpoch for `size` bytes: params.minStoragePrice per GiB, rounded up. */
export function minPriceFor(size: bigint, params: Pick<ChainParams, "minStoragePrice">): bigint {
  return (size * params.minStoragePrice + GIB - 1n) / GIB;
}

/** The collateral a deal of `size` bytes locks at least (a network deal locks exactly this). */
export function dealCollateralFor(size: bigint, params: Pick<ChainParams, "collateralPerByte">): bigint {
  return size * params.collateralPerByte;
}

/**
 * An upper bound on the bytes of one epoch's storage.proof transaction for a deal of `size` bytes
 * in `chunkSize` chunks: k chunks, each with its audit path, plus the envelope.
 */
export function proofTxBytes(size: bigint, chunkSize: bigint, k: number): number {
  const chunks = chunkCount(size, chunkSize);
  let depth = 0;
  while (1n << BigInt(depth) < chunks) depth++;
  return k * (Number(chunkSize) + 34 * depth + 24) + 256;
}

/** Why a deal (replicas = 1) or an order of `size` bytes cannot be proven within blocks and transactions, or undefined. */
export function proofsTooLarge(size: bigint, chunkSize: bigint, replicas: number, params: ChainParams): string | undefined {
  const one = proofTxBytes(size, chunkSize, params.challengesPerDeal);
  if (one > MAX_TX_BYTES) return `one proof would be about ${one} bytes, over the ${MAX_TX_BYTES}-byte transaction limit`;
  if (one * replicas > params.maxBlockBytes) return `the ${replicas} replicas' proofs of an epoch would be about ${one * replicas} bytes, over maxBlockBytes ${params.maxBlockBytes}`;
  return undefined;
}

/** Whether `provider` holds a live deal or placement on `root`. */
export function holdsRoot(r: StateReader, provider: Uint8Array, root: Uint8Array): boolean {
  return r.get(StorageKey.rootHeld(provider, root)) !== undefined;
}

// ---- deal acceptance ----

/** What the provider signs to accept `terms` from `client`. The chain id keeps it worthless on any other chain. */
export function dealSignBytes(chainId: string, client: Uint8Array, terms: DealTerms): Uint8Array {
  return taggedHash(Tag.DEAL, encode([chainId, client, dealTermsValue(terms)]));
}

/** The provider's acceptance signature, carried by the client's storage.deal. */
export function signDealAcceptance(chainId: string, providerKey: KeyPair, client: Uint8Array, terms: DealTerms): Uint8Array {
  return providerKey.sign(dealSignBytes(chainId, client, terms));
}

/** The id of the deal `client` makes with `terms`: known to both parties before it lands. */
export function dealId(chainId: string, client: Uint8Array, terms: DealTerms): Uint8Array {
  return taggedHash(Tag.DEAL_ID, encode([chainId, client, dealTermsValue(terms)]));
}

// ---- reading (also for the RPC) ----

export function readProvider(state: StateReader, key: Uint8Array): Provider | undefined {
  if (key.length !== 32) return undefined;
  const b = state.get(StorageKey.provider(key));
  return b ? decodeProvider(key, b, true) : undefined;
}

/** Every provider that ever registered (exited ones too), by public key. */
export function listProviders(state: StateReader): Provider[] {
  return readKeyList(state, StorageKey.providers).map((k) => readProvider(state, k)!);
}

export function readDeal(state: StateReader, id: Uint8Array): StorageDeal | undefined {
  if (id.length !== 32) return undefined;
  const b = state.get(StorageKey.deal(id));
  return b ? decodeDeal(id, b, true) : undefined;
}

/** The active deals, by id. */
export function listActiveDeals(state: StateReader): StorageDeal[] {
  return readKeyList(state, StorageKey.activeDeals).map((id) => readDeal(state, id)!);
}

/** Collateral neither locked in a deal nor returned. */
export function freeCollateral(p: Provider): bigint {
  return p.collateral - p.locked;
}

export function isBanned(p: Pick<ServiceRecord, "bannedUntil">, epoch: bigint): boolean {
  return epoch < p.bannedUntil;
}

/** Proofs made / due over the window of `windowEpochs` epochs ending at `epoch`, in basis points; full with nothing due. */
export function reputationBps(p: Pick<ServiceRecord, "reputation">, epoch: bigint, windowEpochs: number): number {
  let made = 0;
  let due = 0;
  for (const r of p.reputation) {
    if (r.epoch > epoch || r.epoch + BigInt(windowEpochs) <= epoch) continue;
    made += r.made;
    due += r.due;
  }
  return due === 0 ? FULL_REPUTATION_BPS : Math.floor((made * FULL_REPUTATION_BPS) / due);
}

export interface DealChallenge {
  readonly deal: Uint8Array;
  readonly chunkCount: bigint;
  /** The chunk indices to prove, in the order the proof must list them. */
  readonly indices: bigint[];
  /** Already proven for the epoch. */
  readonly proven: boolean;
}

/**
 * The challenges of `provider`'s active deals in `epoch`, by deal id; undefined when the epoch's
 * seed is not known (a future epoch, a past one, or the current one before its first block).
 * O(active deals).
 */
export function challengesFor(state: StateReader, provider: Uint8Array, epoch: bigint, params: ChainParams): DealChallenge[] | undefined {
  const seed = epochSeed(state, epoch);
  if (seed === undefined) return undefined;
  const out: DealChallenge[] = [];
  for (const d of listActiveDeals(state)) {
    if (!equalBytes(d.provider, provider) || d.startEpoch > epoch) continue;
    out.push({ deal: d.id, chunkCount: d.chunkCount, indices: challengeIndices(seed, d.id, d.chunkCount, params.challengesPerDeal), proven: d.lastProvenEpoch === epoch });
  }
  return out;
}

// ---- stateless rules ----

// C0 controls, DEL and C1 controls: a multiaddr is shown in explorers and logs.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** The multiaddr rule of provider.register and provider.update: the reason it is invalid, or undefined. */
export function invalidMultiaddr(multiaddr: string): string | undefined {
  if (multiaddr.length === 0 || multiaddr.length > MAX_MULTIADDR_LENGTH || CONTROL_RE.test(multiaddr)) {
    return `multiaddr must be 1-${MAX_MULTIADDR_LENGTH} characters without control characters`;
  }
  return undefined;
}

/** Stateless rules of the provider and storage operations (TX_INVALID_OPERATION in validateTxBasic); the reason, or undefined. */
export function invalidStorageOp(op: StorageOp): string | undefined {
  switch (op.type) {
    case "provider.register":
      if (!isProviderKind(op.kind)) return `provider kind ${op.kind} is neither ${ProviderKind.STORAGE} (storage) nor ${ProviderKind.BANDWIDTH} (bandwidth)`;
      if (op.capacity === 0n) return "provider.register capacity must be positive";
      return invalidMultiaddr(op.multiaddr);
    case "storage.proof":
      return op.chunks.length === 0 ? "storage.proof carries no chunk" : undefined;
    case "provider.exit":
    case "storage.deal":
      return undefined;
  }
}

// ---- execution (chain/transition.ts calls this inside a checkpoint) ----

export function writeProvider(w: StateWriter, p: Provider): void {
  w.set(StorageKey.provider(p.key), encodeProvider(p));
}

export function writeDeal(w: StateWriter, d: StorageDeal): void {
  w.set(StorageKey.deal(d.id), encodeDeal(d));
}

/** Inserts `key` into the sorted key list at `recordKey` (no-op if present). */
export function addToList(w: StateWriter, recordKey: Uint8Array, key: Uint8Array): void {
  const list = readKeyList(w, recordKey);
  if (list.some((k) => equalBytes(k, key))) return;
  w.set(recordKey, encodeKeyList([...list, key].sort(compareBytes)));
}

export function credit(w: StateWriter, to: Uint8Array, amount: bigint): void {
  if (amount === 0n) return;
  const a = w.account(to);
  let balance: bigint;
  try {
    balance = addU64(a.balance, amount);
  } catch (e) {
    if (e instanceof AmountError) throw new ExecError(ExecErrorCode.AMOUNT_OVERFLOW, "credit would overflow the balance");
    throw e;
  }
  w.setAccount(to, { ...a, balance });
}

export function fail(code: StorageErrorCode, message: string, data?: Record<string, unknown>): never {
  throw new StorageError(code, message, data);
}

/** Executes a provider or storage operation for `tx.sender`; throws StorageError or ExecError (rolled back by the caller). */
export function executeStorageOp(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: StorageOp, chainId: string): void {
  switch (op.type) {
    case "provider.register":
      return register(w, ctx, tx, op);
    case "provider.exit":
      return exit(w, ctx, tx);
    case "storage.deal":
      return makeDeal(w, ctx, tx, op, chainId);
    case "storage.proof":
      return prove(w, ctx, tx, op);
  }
}

function register(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: Extract<StorageOp, { type: "provider.register" }>): void {
  const sender = tx.sender;
  const existing = readProvider(w, sender);
  if (existing && existing.status !== ProviderStatus.EXITED) fail(StorageErrorCode.PROVIDER_ALREADY_REGISTERED, "the sender is already a registered provider");
  // validateTxBasic rejects these before any block; kept so that a caller that skipped it cannot crash the transition
  if (!isProviderKind(op.kind)) fail(StorageErrorCode.PROVIDER_WRONG_KIND, `provider kind ${op.kind} does not exist`);
  const required = op.capacity * ctx.params.collateralPerByte;
  if (op.collateral < required) {
    fail(StorageErrorCode.PROVIDER_COLLATERAL_TOO_LOW, `collateral ${op.collateral} below ${required} for ${op.capacity} bytes`, { required: required.toString() });
  }
  const a = w.account(sender);
  if (a.balance < op.collateral) throw new ExecError(ExecErrorCode.INSUFFICIENT_BALANCE, `balance ${a.balance} < collateral ${op.collateral}`);
  w.setAccount(sender, { ...a, balance: a.balance - op.collateral });
  writeProvider(w, {
    key: sender,
    kind: op.kind,
    collateral: op.collateral,
    locked: 0n,
    capacity: op.capacity,
    used: 0n,
    multiaddr: op.multiaddr,
    registeredAt: ctx.height,
    status: ProviderStatus.ACTIVE,
    // a provider that exited and comes back keeps its record of service
    bannedUntil: existing?.bannedUntil ?? 0n,
    strikes: existing?.strikes ?? 0,
    lastFailureEpoch: existing?.lastFailureEpoch ?? 0n,
    activeDeals: 0,
    reputation: existing?.reputation ?? [],
    releaseEpoch: 0n,
  });
  if (!existing) addToList(w, StorageKey.providers, sender);
  ctx.events.push({
    kind: "providerRegister", txHash: tx.hash, provider: sender, providerKind: PROVIDER_KIND_NAMES[op.kind], collateral: op.collateral, capacity: op.capacity, multiaddr: op.multiaddr,
  });
}

/**
 * provider.update: a registered provider (active or exiting) announces a new multiaddr, e.g. a
 * relay whose address changed; witnesses probe the registered address. Nothing else changes.
 */
export function updateProvider(w: StateWriter, ctx: BlockContext, tx: SignedTx, multiaddr: string): void {
  const provider = readProvider(w, tx.sender);
  if (!provider || provider.status === ProviderStatus.EXITED) fail(StorageErrorCode.PROVIDER_NOT_REGISTERED, "the sender is not a registered provider");
  writeProvider(w, { ...provider, multiaddr });
  ctx.events.push({ kind: "providerUpdate", txHash: tx.hash, provider: provider.key, multiaddr });
}

/**
 * provider.exit: no new deals, no new witness or relay service; the collateral stays locked (and
 * slashable: double-attestation evidence reaches it) until the end of epoch exit + EXIT_UNBONDING_EPOCHS - 1,
 * or later when its last deal ends (settleStorageEpoch releases it). `returned` is always 0 now.
 */
function exit(w: StateWriter, ctx: BlockContext, tx: SignedTx): void {
  const provider = readProvider(w, tx.sender);
  if (!provider || provider.status === ProviderStatus.EXITED) fail(StorageErrorCode.PROVIDER_NOT_REGISTERED, "the sender is not a registered provider");
  if (provider.status === ProviderStatus.EXITING) fail(StorageErrorCode.PROVIDER_EXITING, "the provider is already exiting");
  const releaseEpoch = epochOfHeight(ctx.height, ctx.params.epochLength) + EXIT_UNBONDING_EPOCHS - 1n;
  writeProvider(w, { ...provider, status: ProviderStatus.EXITING, releaseEpoch });
  ctx.events.push({ kind: "providerExit", txHash: tx.hash, provider: provider.key, returned: 0n, activeDeals: provider.activeDeals });
}

function makeDeal(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: Extract<StorageOp, { type: "storage.deal" }>, chainId: string): void {
  const { params, height } = ctx;
  const client = tx.sender;
  const t = op.terms;
  const epoch = epochOfHeight(height, params.epochLength);
  // the terms
  if (equalBytes(t.provider, client)) fail(StorageErrorCode.SELF_DEAL, "a client cannot make a deal with itself");
  if (!isValidChunkSize(t.chunkSize)) fail(StorageErrorCode.BAD_CHUNK_SIZE, `chunk size ${t.chunkSize} is not a power of two in [256, 65536]`);
  if (t.size === 0n || chunkCount(t.size, t.chunkSize) > MAX_CHUNK_COUNT) fail(StorageErrorCode.BAD_SIZE, `size ${t.size} is 0 or makes more than 2^40 chunks`);
  if (t.durationEpochs === 0n || t.durationEpochs > BigInt(params.maxDealEpochs)) {
    fail(StorageErrorCode.BAD_DURATION, `duration ${t.durationEpochs} not in [1, ${params.maxDealEpochs}] epochs`);
  }
  if (height > t.expiresAtHeight) fail(StorageErrorCode.ACCEPTANCE_EXPIRED, `the acceptance expired at height ${t.expiresAtHeight}`);
  const minPrice = minPriceFor(t.size, params);
  if (t.pricePerEpoch < minPrice) fail(StorageErrorCode.PRICE_TOO_LOW, `price ${t.pricePerEpoch} per epoch is below the minimum ${minPrice} for ${t.size} bytes`, { minimum: minPrice.toString() });
  const minCollateral = dealCollateralFor(t.size, params);
  if (t.collateral < minCollateral) {
    fail(StorageErrorCode.DEAL_COLLATERAL_TOO_LOW, `collateral ${t.collateral} is below the minimum ${minCollateral} for ${t.size} bytes`, { minimum: minCollateral.toString() });
  }
  const tooLarge = proofsTooLarge(t.size, t.chunkSize, 1, params);
  if (tooLarge) fail(StorageErrorCode.PROOFS_TOO_LARGE, tooLarge);
  // the provider
  const p = readProvider(w, t.provider);
  if (!p || p.status === ProviderStatus.EXITED) fail(StorageErrorCode.PROVIDER_NOT_REGISTERED, "the deal's provider is not a registered provider");
  if (p.kind !== ProviderKind.STORAGE) fail(StorageErrorCode.PROVIDER_WRONG_KIND, "the deal's provider is not a storage provider");
  if (p.status === ProviderStatus.EXITING) fail(StorageErrorCode.PROVIDER_EXITING, "the deal's provider is exiting");
  if (isBanned(p, epoch)) fail(StorageErrorCode.PROVIDER_BANNED, `the deal's provider is banned until epoch ${p.bannedUntil}`, { until: p.bannedUntil.toString() });
  const id = dealId(chainId, client, t);
  if (readDeal(w, id)) fail(StorageErrorCode.DEAL_EXISTS, "a deal was already made with this acceptance");
  if (holdsRoot(w, t.provider, t.root)) fail(StorageErrorCode.ROOT_HELD, "the provider already holds this root");
  // the funds
  const escrow = t.pricePerEpoch * t.durationEpochs;
  const a = w.account(client);
  if (escrow > a.balance) fail(StorageErrorCode.INSUFFICIENT_ESCROW, `escrow ${escrow} exceeds the balance ${a.balance}`);
  if (t.collateral > freeCollateral(p)) fail(StorageErrorCode.INSUFFICIENT_COLLATERAL, `collateral ${t.collateral} exceeds the provider's free ${freeCollateral(p)}`);
  if (p.used + t.size > p.capacity) fail(StorageErrorCode.PROVIDER_CAPACITY_EXCEEDED, `the provider has ${p.capacity - p.used} bytes free`);
  // the acceptance: the expensive check last
  if (!verify(t.provider, dealSignBytes(chainId, client, t), op.providerSignature)) fail(StorageErrorCode.BAD_ACCEPTANCE, "the acceptance is not the provider's signature over these terms");

  w.setAccount(client, { ...a, balance: a.balance - escrow });
  writeProvider(w, { ...p, locked: p.locked + t.collateral, used: p.used + t.size, activeDeals: p.activeDeals + 1 });
  const chunkSize = Number(t.chunkSize);
  writeDeal(w, {
    id, client, provider: t.provider, root: t.root, size: t.size, chunkSize, chunkCount: chunkCount(t.size, chunkSize), pricePerEpoch: t.pricePerEpoch,
    durationEpochs: t.durationEpochs, collateral: t.collateral, collateralLeft: t.collateral, escrow, createdAt: height, startEpoch: epoch + 1n,
    challenged: 0n, misses: 0, lastProvenEpoch: null, status: DealStatus.ACTIVE, endedAt: 0n, order: null,
  });
  addToList(w, StorageKey.activeDeals, id);
  w.set(StorageKey.rootHeld(t.provider, t.root), id);
  ctx.events.push({
    kind: "storageDeal", txHash: tx.hash, deal: id, client, provider: t.provider, size: t.size, escrow, collateral: t.collateral, startEpoch: epoch + 1n, order: null,
  });
}

function prove(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: Extract<StorageOp, { type: "storage.proof" }>): void {
  const d = checkStorageProof(w, tx.sender, op, ctx.height, ctx.params);
  writeDeal(w, { ...d, lastProvenEpoch: op.epoch });
  ctx.events.push({ kind: "storageProof", txHash: tx.hash, deal: d.id, provider: tx.sender, epoch: op.epoch });
}

/**
 * The rules of storage.proof from `sender` in a block at `height` on state `r` (the transition's,
 * and the RPC's early check on the head state with height = head + 1). Returns the deal, or
 * throws StorageError with the reason. The audit paths, the expensive part, are checked last.
 */
export function checkStorageProof(
  r: StateReader, sender: Uint8Array, op: Extract<StorageOp, { type: "storage.proof" }>, height: bigint, params: ChainParams,
): StorageDeal {
  if (!readProvider(r, sender)) fail(StorageErrorCode.PROVIDER_NOT_REGISTERED, "the sender is not a registered provider");
  const d = readDeal(r, op.deal);
  if (!d) fail(StorageErrorCode.UNKNOWN_DEAL, "no such deal");
  if (!equalBytes(d.provider, sender)) fail(StorageErrorCode.NOT_DEAL_PROVIDER, "the deal belongs to another provider");
  if (d.status !== DealStatus.ACTIVE) fail(StorageErrorCode.DEAL_ENDED, `the deal ended at the end of epoch ${d.endedAt}`);
  const current = epochOfHeight(height, params.epochLength);
  if (op.epoch < current) fail(StorageErrorCode.LATE_PROOF, `the proof window of epoch ${op.epoch} closed; the current epoch is ${current}`, { epoch: current.toString() });
  if (op.epoch > current) fail(StorageErrorCode.WRONG_EPOCH, `epoch ${op.epoch} is in the future; the current epoch is ${current}`, { epoch: current.toString() });
  if (op.epoch < d.startEpoch) fail(StorageErrorCode.WRONG_EPOCH, `the deal is first challenged in epoch ${d.startEpoch}`);
  const seed = isFirstBlockOfEpoch(height, params.epochLength) ? undefined : epochSeed(r, op.epoch);
  if (seed === undefined) fail(StorageErrorCode.WRONG_EPOCH, `the challenges of epoch ${op.epoch} are known only after its first block`);
  if (d.lastProvenEpoch === op.epoch) fail(StorageErrorCode.DUPLICATE_PROOF, `the deal is already proven for epoch ${op.epoch}`);
  const indices = challengeIndices(seed, d.id, d.chunkCount, params.challengesPerDeal);
  if (op.chunks.length !== indices.length) fail(StorageErrorCode.WRONG_CHUNK, `${op.chunks.length} chunks for ${indices.length} challenges`);
  op.chunks.forEach((c, i) => {
    if (c.index !== indices[i]) fail(StorageErrorCode.WRONG_CHUNK, `chunk ${i} is index ${c.index}, the challenge is ${indices[i]}`, { position: i });
    const length = chunkLength(d.size, d.chunkSize, c.index);
    if (c.chunk.length !== length) fail(StorageErrorCode.WRONG_CHUNK, `chunk ${i} is ${c.chunk.length} bytes, chunk ${c.index} has ${length}`, { position: i });
  });
  op.chunks.forEach((c, i) => {
    if (!verifyStorageProof(d.root, d.chunkCount, c.index, c.chunk, c.path)) fail(StorageErrorCode.BAD_PATH, `chunk ${i} does not verify against the deal root`, { position: i });
  });
  return d;
}

// ---- end of epoch ----

/**
 * Records one epoch of service of `p` (storage proofs or bandwidth probes made / due) and applies
 * the service law; returns the updated provider, which the caller writes. The reputation window
 * gets (epoch, made, due), entries older than params.reputationWindowEpochs dropped. A failed
 * epoch (made < due) is a strike and bans the provider from epoch + 1 for BAN_EPOCHS[strikes - 1]
 * epochs (never shortening a running ban), with a providerBan event; strikes decay to 0 after a
 * whole clean window since the last failure (checked at the next recorded epoch).
 */
export function recordServiceEpoch(p: Provider, ctx: BlockContext, epoch: bigint, made: number, due: number): Provider {
  const { next, ban } = applyServiceLaw(p, ctx.params.reputationWindowEpochs, epoch, made, due);
  if (ban) ctx.events.push({ kind: "providerBan", provider: next.key, epoch, until: ban.until, strikes: ban.strikes });
  return next;
}

/** The fields the service law reads and writes: a provider's, or a bandwidth witness's record. */
export interface ServiceRecord {
  readonly bannedUntil: bigint;
  readonly strikes: number;
  readonly lastFailureEpoch: bigint;
  readonly reputation: readonly { readonly epoch: bigint; readonly made: number; readonly due: number }[];
}

/** The service law of recordServiceEpoch without its event: the updated record and, for a failed epoch, the ban. */
export function applyServiceLaw<T extends ServiceRecord>(p: T, windowEpochs: number, epoch: bigint, made: number, due: number): { next: T; ban?: { until: bigint; strikes: number } } {
  const window = BigInt(windowEpochs);
  let next: T = { ...p, reputation: [...p.reputation.filter((r) => r.epoch + window > epoch), { epoch, made, due }] };
  if (made < due) {
    // a failed epoch: strikes decay after a whole clean window since the last failure
    const strikes = (next.strikes > 0 && epoch - next.lastFailureEpoch > window ? 0 : next.strikes) + 1;
    const until = epoch + 1n + BAN_EPOCHS[Math.min(strikes, BAN_EPOCHS.length) - 1]!;
    const bannedUntil = until > next.bannedUntil ? until : next.bannedUntil;
    next = { ...next, strikes, lastFailureEpoch: epoch, bannedUntil };
    return { next, ban: { until: bannedUntil, strikes } };
  }
  if (next.strikes > 0 && epoch - next.lastFailureEpoch >= window) next = { ...next, strikes: 0 };
  return { next };
}

/** A provider's share basis in the storage pool of an epoch. */
export interface StorageEarner {
  readonly provider: Uint8Array;
  /** Sum of the sizes of its deals proven in the epoch. */
  readonly provenBytes: bigint;
  readonly reputationBps: number;
}

interface EpochDues {
  readonly provider: Uint8Array;
  made: number;
  due: number;
  provenBytes: bigint;
}

/**
 * Settles epoch `epoch` at the end of its last block (see the module comment) and returns the
 * storage pool's earners in key order.
 */
export function settleStorageEpoch(w: StateWriter, ctx: BlockContext, epoch: bigint, missedPlacements: readonly Uint8Array[] = []): StorageSettlement {
  const { params, events } = ctx;
  const ids = readKeyList(w, StorageKey.activeDeals);
  const dues = new Map<string, EpochDues>();
  const still: Uint8Array[] = [];
  for (const id of ids) {
    let d = readDeal(w, id)!;
    if (d.startEpoch > epoch) {
      still.push(id);
      continue;
    }
    const hex = toHex(d.provider);
    let due = dues.get(hex);
    if (!due) dues.set(hex, (due = { provider: d.provider, made: 0, due: 0, provenBytes: 0n }));
    due.due++;
    let p = readProvider(w, d.provider)!;
    if (d.lastProvenEpoch === epoch) {
      const pay = d.pricePerEpoch < d.escrow ? d.pricePerEpoch : d.escrow;
      d = { ...d, escrow: d.escrow - pay };
      credit(w, d.provider, pay);
      due.made++;
      // only network deals (placed by the chain) earn the pool; a direct deal is paid its price
      if (d.order !== null) due.provenBytes += d.size;
      if (pay > 0n) events.push({ kind: "storagePayment", deal: id, provider: d.provider, epoch, amount: pay, network: d.order !== null });
    } else {
      const cut = (d.collateral * BigInt(params.missSlashBps)) / 10_000n;
      const slash = cut < d.collateralLeft ? cut : d.collateralLeft;
      d = { ...d, collateralLeft: d.collateralLeft - slash, misses: d.misses + 1 };
      p = { ...p, collateral: p.collateral - slash, locked: p.locked - slash };
      credit(w, d.client, slash);
      events.push({ kind: "storageSlash", deal: id, provider: d.provider, client: d.client, epoch, amount: slash, misses: d.misses });
    }
    d = { ...d, challenged: d.challenged + 1n };
    const failed = d.misses >= params.maxMissedProofs;
    if (failed || d.challenged >= d.durationEpochs) {
      const refunded = d.escrow;
      const unlocked = d.collateralLeft;
      credit(w, d.client, refunded);
      p = { ...p, locked: p.locked - unlocked, used: p.used - d.size, activeDeals: p.activeDeals - 1 };
      w.set(StorageKey.rootHeld(d.provider, d.root), null);
      d = { ...d, escrow: 0n, collateralLeft: 0n, status: failed ? DealStatus.FAILED : DealStatus.COMPLETED, endedAt: epoch };
      events.push({ kind: "storageDealEnd", deal: id, provider: d.provider, client: d.client, epoch, reason: failed ? "failed" : "completed", refunded, unlocked });
    } else {
      still.push(id);
    }
    writeDeal(w, d);
    writeProvider(w, p);
  }
  if (still.length !== ids.length) w.set(StorageKey.activeDeals, still.length === 0 ? null : encodeKeyList(still));
  // a placement not accepted in its window is a service owed and not given
  for (const provider of missedPlacements) {
    const hex = toHex(provider);
    let due = dues.get(hex);
    if (!due) dues.set(hex, (due = { provider, made: 0, due: 0, provenBytes: 0n }));
    due.due++;
  }

  const earners: StorageEarner[] = [];
  // the map is only looked up above; providers are processed in key order
  const providers = [...dues.values()].sort((a, b) => compareBytes(a.provider, b.provider));
  for (const due of providers) {
    let p = readProvider(w, due.provider)!;
    const bannedDuringEpoch = isBanned(p, epoch);
    p = recordServiceEpoch(p, ctx, epoch, due.made, due.due);
    writeProvider(w, p);
    if (due.provenBytes > 0n && !bannedDuringEpoch && p.kind === ProviderKind.STORAGE) {
      earners.push({ provider: p.key, provenBytes: due.provenBytes, reputationBps: reputationBps(p, epoch, params.reputationWindowEpochs) });
    }
  }
  releaseExited(w, ctx, epoch);
  return { earners, capBasis: storageCapBasis(w, epoch) };
}

/**
 * What caps each provider's share of epoch `epoch`'s storage pool: its collateral in the storage
 * snapshot frozen at the end of epoch - 1 over the snapshot's total (a provider cannot earn more
 * than its share of the collateral, however many bytes it proves); undefined when there is no snapshot.
 */
export interface StorageCapBasis {
  readonly total: bigint;
  readonly collateral: ReadonlyMap<string, bigint>;
}

function storageCapBasis(r: StateReader, epoch: bigint): StorageCapBasis | undefined {
  if (epoch < 1n) return undefined;
  const b = r.get(StorageKey.snapshot(epoch - 1n));
  if (!b) return undefined;
  const snapshot = decodeStorageSnapshot(b, true);
  let total = 0n;
  // only looked up by key
  const collateral = new Map<string, bigint>();
  for (const p of snapshot.providers) {
    total += p.collateral;
    collateral.set(toHex(p.key), p.collateral);
  }
  return { total, collateral };
}

export interface StorageSettlement {
  readonly earners: StorageEarner[];
  readonly capBasis: StorageCapBasis | undefined;
}

/** Returns the collateral of the exiting providers whose unbonding ended with `epoch`, whose last deal ended and whose placements closed, in key order. */
function releaseExited(w: StateWriter, ctx: BlockContext, epoch: bigint): void {
  for (let p of listProviders(w)) {
    if (p.status !== ProviderStatus.EXITING || p.activeDeals !== 0 || p.releaseEpoch > epoch) continue;
    // a pending placement still holds collateral and room: released when it expires or is declined
    if (p.locked !== 0n || p.used !== 0n) continue;
    const amount = p.collateral;
    credit(w, p.key, amount);
    p = { ...p, status: ProviderStatus.EXITED, collateral: 0n, locked: 0n, used: 0n, releaseEpoch: 0n };
    writeProvider(w, p);
    ctx.events.push({ kind: "providerCollateralReturned", provider: p.key, epoch, amount });
  }
}
