/**
 * Storage orders: the network chooses who stores, never the client. Run by the state transition;
 * pure and deterministic (bigint arithmetic, sorted key lists, no clock).
 *
 *   storage.order(root, size, chunkSize, pricePerEpoch, durationEpochs, replicas)
 *        sent by the client in epoch d. Locks pricePerEpoch * durationEpochs * replicas of its
 *        balance in the order (escrow) and a placement bond of failureCharge * replicas, the
 *        failure charge being what the replica could earn from the storage pool over its duration
 *        (placementFailureCharge). Refused: a price under params.minStoragePrice per GiB, more
 *        replicas than active unbanned storage providers other than the client, proofs that would
 *        not fit a block (all replicas' proofs of an epoch within params.maxBlockBytes).
 *   placement (beginEpoch hook: the end of the first block of epoch E, for every open order whose
 *        draws have begun, d + 2 <= E, and whose window fits before it closes)
 *        the lookback: the seed of epoch E - 1 (the chain seed after its last block) and the
 *        storage snapshot frozen at the end of epoch E - 2, both fixed after the order was known;
 *        the snapshot was frozen a whole epoch before that seed could be known (its proposer would
 *        have to propose every block of E - 1), so neither the client nor a proposer can choose the
 *        providers; the only lever is not proposing the last block of E - 1. The replicas still missing are drawn together (proofs/draw.ts,
 *        weights: the snapshot's free collateral) among the snapshot's providers that are active,
 *        unbanned in E, not the client, never drawn for this order before, not holding the root,
 *        with room (capacity - used >= size) and free collateral for the deal's collateral
 *        (size * params.collateralPerByte), which is locked at once with the room. Those not
 *        eligible keep their weight in the draw and are skipped where it lands on them: eligibility
 *        is read now, after the seed was known, and a provider that could change who is drawn by
 *        making itself ineligible could re-roll the draw onto another key of its own.
 *   storage.accept(order)    by a placed provider until the end of its window (the placement's
 *        epoch and params.placementWindowEpochs - 1 more): the network deal starts (challenged
 *        from the next epoch), its escrow (price * duration) moved out of the order's.
 *   storage.decline(order)   by a placed provider in its window: the collateral and room are
 *        released, no penalty for the provider; the order's bond burns one failure charge and the
 *        replica is drawn again at the next epoch, or, the bond spent, the replica is dropped.
 *        Why the client pays: a provider declines when the client does not serve it the data, and
 *        a client that serves only its own provider would otherwise re-roll each replica for free
 *        until that provider is drawn, choosing who stores after all. With the charge, one
 *        placement on its own provider costs such a client (1 - p) / (p (2 - p)) failure charges
 *        (p its provider's share of free collateral): more than the placement can earn for
 *        p <= 1/3. An expired placement burns nothing: the provider that stayed silent pays (a
 *        missed service epoch).
 *   end of epoch e (settleOrders, from the storage settlement)
 *        a placement still pending after its last epoch expires: its collateral and room are
 *        released and the provider owes the epoch one service it did not give (a missed service
 *        epoch: reputation and the 1/6/144 ban ladder); the replica is drawn again. An order whose
 *        closeEpoch is e closes (or sooner, once every replica is accepted or dropped): the escrow
 *        of the replicas never accepted and the bond left go back to the client.
 *   boundary (freezeStorageSnapshot, end of epoch e after its settlement)
 *        every active or exiting storage provider with its free and total collateral; the snapshot
 *        S_e keeps the providers at both ends of e with the minimum of each weight. Placement reads
 *        it two epochs later; the storage pool's cap (modules/rewards) reads S_{e-1} at the end of e.
 */
import { compareBytes, equalBytes } from "../../primitives/bytes.ts";
import { encode } from "../../primitives/codec.ts";
import { Tag, taggedHash } from "../../primitives/hash.ts";
import { epochOfHeight, readEpochRecord } from "../../chain/epoch.ts";
import type { BlockContext } from "../../chain/exec.ts";
import type { ChainParams } from "../../chain/params.ts";
import { encodeKeyList, readKeyList, type StateReader, type StateWriter } from "../../chain/state.ts";
import type { SignedTx } from "../../chain/tx.ts";
import { weightedDraw } from "../../proofs/draw.ts";
import { chunkCount, isValidChunkSize, MAX_CHUNK_COUNT } from "../../proofs/storage.ts";
import {
  decodeOrder, decodeStorageSnapshot, DealStatus, encodeOrder, encodeStorageSnapshot, OrderStatus, PlacementStatus, ProviderKind, ProviderStatus,
  StorageKey, type Placement, type StorageOrder, type StorageSnapshot, type StorageWeight,
} from "./records.ts";
import {
  addToList, credit, dealCollateralFor, fail, freeCollateral, holdsRoot, isBanned, listProviders, minPriceFor, proofsTooLarge, readProvider,
  StorageErrorCode, writeDeal, writeProvider,
} from "./storage.ts";

/** Most replicas of one order. */
export const MAX_ORDER_REPLICAS = 16;
/** Epochs of storage seeds and snapshots kept after they were last used (for the RPC and explorers). */
const LOOKBACK_KEPT_EPOCHS = 3n;

export interface StorageOrderOp {
  readonly type: "storage.order";
  readonly root: Uint8Array;
  readonly size: bigint;
  readonly chunkSize: bigint;
  readonly pricePerEpoch: bigint;
  readonly durationEpochs: bigint;
  readonly replicas: number;
}
export interface StorageAcceptOp { readonly type: "storage.accept"; readonly order: Uint8Array }
export interface StorageDeclineOp { readonly type: "storage.decline"; readonly order: Uint8Array }

/** Stateless rules of storage.order (TX_INVALID_OPERATION); the reason, or undefined. */
export function invalidOrderOp(op: StorageOrderOp): string | undefined {
  if (!Number.isSafeInteger(op.replicas) || op.replicas < 1 || op.replicas > MAX_ORDER_REPLICAS) return `replicas must be 1-${MAX_ORDER_REPLICAS}`;
  if (!isValidChunkSize(op.chunkSize)) return `chunk size ${op.chunkSize} is not a power of two in [256, 65536]`;
  if (op.size === 0n || chunkCount(op.size, op.chunkSize) > MAX_CHUNK_COUNT) return `size ${op.size} is 0 or makes more than 2^40 chunks`;
  if (op.durationEpochs === 0n) return "durationEpochs must be positive";
  return undefined;
}

// ---- reading ----

export function readOrder(state: StateReader, id: Uint8Array): StorageOrder | undefined {
  if (id.length !== 32) return undefined;
  const b = state.get(StorageKey.order(id));
  return b ? decodeOrder(id, b, true) : undefined;
}

/** The open orders, by id. */
export function listOpenOrders(state: StateReader): StorageOrder[] {
  return readKeyList(state, StorageKey.openOrders).map((id) => readOrder(state, id)!);
}

/** The storage snapshot frozen at the end of `epoch`, if kept. */
export function readStorageSnapshot(state: StateReader, epoch: bigint): StorageSnapshot | undefined {
  if (epoch < 0n) return undefined;
  const b = state.get(StorageKey.snapshot(epoch));
  return b ? decodeStorageSnapshot(b, true) : undefined;
}

/** The network deal id of `provider`'s replica of order `order`. */
export function networkDealId(chainId: string, order: Uint8Array, provider: Uint8Array): Uint8Array {
  return taggedHash(Tag.DEAL_ID, encode(["order", chainId, order, provider]));
}

/** Replicas accepted, and placements pending. */
export function orderProgress(o: StorageOrder): { accepted: number; pending: number } {
  let accepted = 0;
  let pending = 0;
  for (const p of o.placements) {
    if (p.status === PlacementStatus.ACCEPTED) accepted++;
    else if (p.status === PlacementStatus.PENDING) pending++;
  }
  return { accepted, pending };
}

/** The pending placements of `provider` (the orders whose data it must fetch and accept), by order id. */
export function pendingPlacementsOf(state: StateReader, provider: Uint8Array): { order: StorageOrder; placement: Placement }[] {
  const out: { order: StorageOrder; placement: Placement }[] = [];
  for (const o of listOpenOrders(state)) {
    const p = o.placements.find((x) => x.status === PlacementStatus.PENDING && equalBytes(x.provider, provider));
    if (p) out.push({ order: o, placement: p });
  }
  return out;
}

/** Active unbanned storage providers other than `client` in `epoch`: the most replicas an order can ask. */
function possibleHolders(state: StateReader, client: Uint8Array, epoch: bigint): number {
  let n = 0;
  for (const p of listProviders(state)) {
    if (p.kind === ProviderKind.STORAGE && p.status === ProviderStatus.ACTIVE && !isBanned(p, epoch) && !equalBytes(p.key, client)) n++;
  }
  return n;
}

// ---- execution ----

function writeOrder(w: StateWriter, o: StorageOrder): void {
  w.set(StorageKey.order(o.id), encodeOrder(o));
}

function removeFromOpen(w: StateWriter, id: Uint8Array): void {
  const list = readKeyList(w, StorageKey.openOrders).filter((k) => !equalBytes(k, id));
  w.set(StorageKey.openOrders, list.length === 0 ? null : encodeKeyList(list));
}

export function placeOrder(w: StateWriter, ctx: BlockContext, tx: SignedTx, op: StorageOrderOp): void {
  const { params, height } = ctx;
  const client = tx.sender;
  const epoch = epochOfHeight(height, params.epochLength);
  // validateTxBasic refuses these first; kept so that a caller that skipped it cannot crash the transition
  const invalid = invalidOrderOp(op);
  if (invalid) fail(StorageErrorCode.BAD_SIZE, invalid);
  if (op.durationEpochs > BigInt(params.maxDealEpochs)) fail(StorageErrorCode.BAD_DURATION, `duration ${op.durationEpochs} not in [1, ${params.maxDealEpochs}] epochs`);
  const minPrice = minPriceFor(op.size, params);
  if (op.pricePerEpoch < minPrice) fail(StorageErrorCode.PRICE_TOO_LOW, `price ${op.pricePerEpoch} per epoch is below the minimum ${minPrice} for ${op.size} bytes`, { minimum: minPrice.toString() });
  const holders = possibleHolders(w, client, epoch);
  if (op.replicas > holders) fail(StorageErrorCode.TOO_MANY_REPLICAS, `${op.replicas} replicas, but only ${holders} storage providers could hold them`, { providers: holders });
  const tooLarge = proofsTooLarge(op.size, op.chunkSize, op.replicas, params);
  if (tooLarge) fail(StorageErrorCode.PROOFS_TOO_LARGE, tooLarge);
  // bigint: a product beyond u64 is simply more than any balance
  const escrow = op.pricePerEpoch * op.durationEpochs * BigInt(op.replicas);
  const failureCharge = placementFailureCharge(w, params, op.size, op.durationEpochs);
  const bond = failureCharge * BigInt(op.replicas);
  const a = w.account(client);
  if (escrow + bond > a.balance) {
    fail(StorageErrorCode.INSUFFICIENT_ESCROW, `escrow ${escrow} and placement bond ${bond} exceed the balance ${a.balance}`, { escrow: escrow.toString(), bond: bond.toString() });
  }
  w.setAccount(client, { ...a, balance: a.balance - escrow - bond });
  const firstPlacementEpoch = epoch + 2n;
  const order: StorageOrder = {
    id: tx.hash, client, root: op.root, size: op.size, chunkSize: Number(op.chunkSize), pricePerEpoch: op.pricePerEpoch, durationEpochs: op.durationEpochs,
    replicas: op.replicas, escrow, bond, failureCharge, burned: 0n, dropped: 0, createdAt: height, firstPlacementEpoch,
    closeEpoch: firstPlacementEpoch + BigInt(params.orderPlacementEpochs) - 1n + BigInt(params.placementWindowEpochs) - 1n,
    status: OrderStatus.OPEN, placements: [],
  };
  writeOrder(w, order);
  addToList(w, StorageKey.openOrders, order.id);
  ctx.events.push({
    kind: "storageOrder", txHash: tx.hash, order: order.id, client, root: op.root, size: op.size, replicas: op.replicas, escrow,
    firstPlacementEpoch, closeEpoch: order.closeEpoch, bond, failureCharge,
  });
}

/**
 * What one declined placement of a replica of `size` bytes for `durationEpochs` burns from its
 * order's bond: the storage pool that replica could earn over its duration at this epoch's rate,
 * S x size x collateralPerByte x duration / C (rounded up), S this epoch's storage pool and C the
 * collateral of the storage providers (modules/rewards pays S x proven bytes x collateralPerByte / C
 * at most). A client that serves its data only to its own provider, letting the others decline,
 * so pays at least what it could gain once one placement in two fails (see the module comment).
 */
export function placementFailureCharge(r: StateReader, params: ChainParams, size: bigint, durationEpochs: bigint): bigint {
  const pool = (readEpochRecord(r, params).reward * BigInt(params.storageShareBps)) / 10_000n;
  let collateral = 0n;
  for (const p of listProviders(r)) if (p.kind === ProviderKind.STORAGE && p.status !== ProviderStatus.EXITED) collateral += p.collateral;
  if (collateral === 0n || pool === 0n) return 0n;
  return (pool * size * params.collateralPerByte * durationEpochs + collateral - 1n) / collateral;
}

/** Closes `o` once every replica is accepted or dropped: refunds the escrow and bond left (the caller writes `o`). */
function closeIfSettled(w: StateWriter, ctx: BlockContext, o: StorageOrder, epoch: bigint): StorageOrder {
  const { accepted, pending } = orderProgress(o);
  if (pending !== 0 || accepted + o.dropped < o.replicas) return o;
  return closeOrder(w, ctx, o, epoch);
}

function closeOrder(w: StateWriter, ctx: BlockContext, o: StorageOrder, epoch: bigint): StorageOrder {
  const { accepted } = orderProgress(o);
  const refunded = o.escrow + o.bond;
  credit(w, o.client, refunded);
  const status = accepted === o.replicas ? "filled" : "expired";
  removeFromOpen(w, o.id);
  ctx.events.push({ kind: "storageOrderEnd", order: o.id, client: o.client, epoch, status, accepted, refunded });
  return { ...o, escrow: 0n, bond: 0n, status: status === "filled" ? OrderStatus.FILLED : OrderStatus.EXPIRED };
}

/** The sender's pending placement in `id`, or the typed refusal. */
function pendingPlacement(w: StateReader, id: Uint8Array, provider: Uint8Array): { order: StorageOrder; index: number } {
  const order = readOrder(w, id);
  if (!order) fail(StorageErrorCode.UNKNOWN_ORDER, "no such storage order");
  if (order.status !== OrderStatus.OPEN) fail(StorageErrorCode.ORDER_CLOSED, "the order is filled or expired");
  const index = order.placements.findIndex((p) => equalBytes(p.provider, provider));
  if (index < 0) fail(StorageErrorCode.NOT_PLACED, "the order was not placed on the sender");
  const p = order.placements[index]!;
  // settleOrders expires a placement at the end of its deadline epoch, so a pending one is always in its window
  if (p.status === PlacementStatus.EXPIRED) {
    fail(StorageErrorCode.PLACEMENT_EXPIRED, `the placement's acceptance window closed with epoch ${p.deadline}`, { deadline: Number(p.deadline) });
  }
  if (p.status !== PlacementStatus.PENDING) {
    fail(StorageErrorCode.PLACEMENT_CLOSED, `the placement is ${p.status === PlacementStatus.ACCEPTED ? "accepted" : "declined"}`, { deadline: Number(p.deadline) });
  }
  return { order, index };
}

function withPlacement(o: StorageOrder, index: number, p: Placement): StorageOrder {
  return { ...o, placements: o.placements.map((x, i) => (i === index ? p : x)) };
}

export function acceptPlacement(w: StateWriter, ctx: BlockContext, tx: SignedTx, id: Uint8Array, chainId: string): void {
  const { params, height } = ctx;
  const epoch = epochOfHeight(height, params.epochLength);
  const { order, index } = pendingPlacement(w, id, tx.sender);
  const provider = readProvider(w, tx.sender)!;
  if (provider.status !== ProviderStatus.ACTIVE) fail(StorageErrorCode.PROVIDER_EXITING, "an exiting provider takes no new deal; decline the placement");
  const escrow = order.pricePerEpoch * order.durationEpochs;
  const collateral = dealCollateralFor(order.size, params);
  const dealId = networkDealId(chainId, order.id, provider.key);
  writeDeal(w, {
    id: dealId, client: order.client, provider: provider.key, root: order.root, size: order.size, chunkSize: order.chunkSize,
    chunkCount: chunkCount(order.size, order.chunkSize), pricePerEpoch: order.pricePerEpoch, durationEpochs: order.durationEpochs, collateral,
    collateralLeft: collateral, escrow, createdAt: height, startEpoch: epoch + 1n, challenged: 0n, misses: 0, lastProvenEpoch: null,
    status: DealStatus.ACTIVE, endedAt: 0n, order: order.id,
  });
  addToList(w, StorageKey.activeDeals, dealId);
  w.set(StorageKey.rootHeld(provider.key, order.root), dealId);
  // the collateral and the room were locked at the placement
  writeProvider(w, { ...provider, activeDeals: provider.activeDeals + 1 });
  let next = withPlacement(order, index, { ...order.placements[index]!, status: PlacementStatus.ACCEPTED, deal: dealId });
  next = { ...next, escrow: next.escrow - escrow };
  ctx.events.push({
    kind: "storageDeal", txHash: tx.hash, deal: dealId, client: order.client, provider: provider.key, size: order.size, escrow, collateral,
    startEpoch: epoch + 1n, order: order.id,
  });
  writeOrder(w, closeIfSettled(w, ctx, next, epoch));
}

/** Releases a placement's locked collateral and room and its hold on the root. */
function release(w: StateWriter, order: StorageOrder, providerKey: Uint8Array, params: ChainParams): void {
  const p = readProvider(w, providerKey)!;
  const lock = dealCollateralFor(order.size, params);
  writeProvider(w, { ...p, locked: p.locked - lock, used: p.used - order.size });
  w.set(StorageKey.rootHeld(providerKey, order.root), null);
}

export function declinePlacement(w: StateWriter, ctx: BlockContext, tx: SignedTx, id: Uint8Array): void {
  const { order, index } = pendingPlacement(w, id, tx.sender);
  const epoch = epochOfHeight(ctx.height, ctx.params.epochLength);
  // an exiting provider may not accept: its decline costs the client nothing
  const charged = readProvider(w, tx.sender)!.status === ProviderStatus.ACTIVE;
  release(w, order, tx.sender, ctx.params);
  let next = withPlacement(order, index, { ...order.placements[index]!, status: PlacementStatus.DECLINED });
  let burned = 0n;
  let dropped = false;
  if (charged && next.bond >= next.failureCharge) {
    burned = next.failureCharge;
    next = { ...next, bond: next.bond - burned, burned: next.burned + burned };
    ctx.burned += burned;
  } else if (charged) {
    dropped = true; // the bond is spent: the replica is not drawn again
    next = { ...next, dropped: next.dropped + 1 };
  }
  ctx.events.push({ kind: "storagePlacementEnd", order: order.id, provider: tx.sender, epoch, reason: "declined", burned, dropped });
  writeOrder(w, closeIfSettled(w, ctx, next, epoch));
}

// ---- placement: the beginEpoch hook ----

/**
 * At the end of the first block of epoch `epoch`: keeps the seed of epoch - 1 (the chain seed after
 * its last block) and draws with it the missing replicas of every open order due (see the module comment).
 */
export function placeOrders(w: StateWriter, ctx: BlockContext, epoch: bigint): void {
  const { params } = ctx;
  // the seed of epoch - 1: the chain seed after its last block (this block's parent; the hooks run
  // before this block's seed is recorded), known only once every block of epoch - 1 was proposed
  if (epoch >= 1n) w.set(StorageKey.seed(epoch - 1n), w.meta().seed);
  const old = epoch - 1n - LOOKBACK_KEPT_EPOCHS;
  if (old >= 0n) {
    if (w.get(StorageKey.seed(old)) !== undefined) w.set(StorageKey.seed(old), null);
    if (old >= 1n && w.get(StorageKey.snapshot(old - 1n)) !== undefined) w.set(StorageKey.snapshot(old - 1n), null);
  }
  const drawSeed = w.get(StorageKey.seed(epoch - 1n));
  const snapshot = readStorageSnapshot(w, epoch - 2n);
  if (!drawSeed || !snapshot) return;
  const window = BigInt(params.placementWindowEpochs);
  for (const order of listOpenOrders(w)) {
    if (order.firstPlacementEpoch > epoch || epoch + window - 1n > order.closeEpoch) continue;
    const { accepted, pending } = orderProgress(order);
    const needed = order.replicas - accepted - pending - order.dropped;
    if (needed <= 0) continue;
    const lock = dealCollateralFor(order.size, params);
    // every candidate of the snapshot keeps its weight; the ones not eligible now are skipped, so a
    // provider that makes itself ineligible after the seed is known (fills its room, takes the root
    // by a direct deal, exits) moves no draw: it cannot re-roll the placement onto another of its keys
    const ineligible = (s: { key: Uint8Array }): boolean => {
      if (equalBytes(s.key, order.client) || order.placements.some((p) => equalBytes(p.provider, s.key))) return true;
      const p = readProvider(w, s.key);
      return !(p !== undefined && p.kind === ProviderKind.STORAGE && p.status === ProviderStatus.ACTIVE && !isBanned(p, epoch) &&
        p.capacity - p.used >= order.size && freeCollateral(p) >= lock && !holdsRoot(w, s.key, order.root));
    };
    const candidates = snapshot.providers.filter((s) => s.free > 0n).map((s) => ({ key: s.key, weight: s.free }));
    const chosen = weightedDraw(Tag.PLACEMENT, drawSeed, order.id, candidates, needed, ineligible);
    if (chosen.length === 0) continue;
    const placements = [...order.placements];
    for (const key of chosen) {
      const p = readProvider(w, key)!;
      writeProvider(w, { ...p, locked: p.locked + lock, used: p.used + order.size });
      w.set(StorageKey.rootHeld(key, order.root), order.id);
      const deadline = epoch + window - 1n;
      placements.push({ provider: key, epoch, deadline, status: PlacementStatus.PENDING, deal: null });
      ctx.events.push({ kind: "storagePlacement", order: order.id, provider: key, client: order.client, epoch, deadline });
    }
    writeOrder(w, { ...order, placements });
  }
}

// ---- end of epoch ----

/**
 * At the end of epoch `epoch`: expires the placements whose window ended (their providers are
 * returned, one missed service each, for the storage settlement's reputation) and closes the orders
 * whose closeEpoch is `epoch` (see the module comment).
 */
export function settleOrders(w: StateWriter, ctx: BlockContext, epoch: bigint): Uint8Array[] {
  const { params, events } = ctx;
  const missed: Uint8Array[] = [];
  for (let order of listOpenOrders(w)) {
    let changed = false;
    order.placements.forEach((p, i) => {
      if (p.status !== PlacementStatus.PENDING || p.deadline > epoch) return;
      release(w, order, p.provider, params);
      order = withPlacement(order, i, { ...p, status: PlacementStatus.EXPIRED });
      missed.push(p.provider);
      changed = true;
      events.push({ kind: "storagePlacementEnd", order: order.id, provider: p.provider, epoch, reason: "expired", burned: 0n, dropped: false });
    });
    if (order.closeEpoch <= epoch) {
      order = closeOrder(w, ctx, order, epoch);
      changed = true;
    }
    if (changed) writeOrder(w, order);
  }
  return missed;
}

/** Minimum of two sorted weight lists, keys in both. */
function minWeights(a: readonly StorageWeight[], b: readonly StorageWeight[]): StorageWeight[] {
  const out: StorageWeight[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareBytes(a[i]!.key, b[j]!.key);
    if (c < 0) i++;
    else if (c > 0) j++;
    else {
      const x = a[i]!;
      const y = b[j]!;
      out.push({ key: x.key, free: x.free < y.free ? x.free : y.free, collateral: x.collateral < y.collateral ? x.collateral : y.collateral });
      i++;
      j++;
    }
  }
  return out;
}

/** At the end of epoch `epoch`, after its settlement: the storage boundary and snapshot (see the module comment). */
export function freezeStorageSnapshot(w: StateWriter, epoch: bigint): void {
  const providers: StorageWeight[] = listProviders(w)
    .filter((p) => p.kind === ProviderKind.STORAGE && p.status !== ProviderStatus.EXITED)
    .map((p) => ({ key: p.key, free: freeCollateral(p), collateral: p.collateral }));
  const b = w.get(StorageKey.boundary);
  const prev = b ? decodeStorageSnapshot(b, true) : undefined;
  const previous = prev && prev.epoch + 1n === epoch ? prev.providers : [];
  w.set(StorageKey.snapshot(epoch), encodeStorageSnapshot({ epoch, providers: minWeights(previous, providers) }));
  w.set(StorageKey.boundary, encodeStorageSnapshot({ epoch, providers }));
}
