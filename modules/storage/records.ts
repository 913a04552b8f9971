/**
 * The records of proof of storage and of the emission (docs/protocol.md sections 5, 6 and 7) and their
 * codecs: providers, storage deals, the epoch record (reward schedule and challenge seed) and
 * the per-epoch tally of validator signatures. chain/storage.ts and chain/rewards.ts execute on
 * them; chain/state.ts reads providers and deals for the supply invariant. Pure.
 *
 * State layout (keys in chain/state.ts `StateKey`):
 *   0x05                 sorted list of every provider's public key (ever registered)
 *   0x05 || publicKey    Provider
 *   0x06                 sorted list of the ids of the active storage deals
 *   0x06 || dealId       StorageDeal (kept after it ends, so late proofs get a clear error)
 *   0x00 "epoch"         EpochRecord
 *   0x00 "signers"       SignerTally of the current epoch
 *   0x12                 sorted list of the ids of the open storage orders
 *   0x12 || orderId      StorageOrder (kept after it closes)
 *   0x13 0x00 || epoch   StorageSnapshot frozen at the end of `epoch` (placements of epoch + 2)
 *   0x13 0x01 || epoch   the seed of `epoch`: the chain seed after its last block (32 bytes; placements of epoch + 1)
 *   0x13 0x02            StorageSnapshot: the raw weights at the end of the last settled epoch
 *   0x14 || provider || root   the id of the provider's live deal or placement on that root
 */
import { asArray, asBytes, asString, asU64, asUint, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";
import { CodecError, CodecErrorCode } from "../../primitives/errors.ts";
import { u64be } from "../../primitives/bytes.ts";
import { PUBLIC_KEY_LENGTH } from "../../primitives/keys.ts";
import { prefixedKey } from "../../chain/state.ts";

/** 0x05 alone is the sorted list of provider keys, 0x05 || key a Provider. */
export const PREFIX_PROVIDER = 0x05;
/** 0x06 alone is the sorted list of active deal ids, 0x06 || id a StorageDeal. */
export const PREFIX_DEAL = 0x06;
/** 0x12 alone is the sorted list of open order ids, 0x12 || id a StorageOrder. */
export const PREFIX_ORDER = 0x12;
/** 0x13 ...: the storage lookback (snapshots, seeds, the last boundary). */
export const PREFIX_STORAGE_LOOKBACK = 0x13;
/** 0x14 || provider || root: the live deal or placement of a provider on a root. */
export const PREFIX_ROOT_HELD = 0x14;
export const StorageKey = {
  /** Public keys (sorted) of every provider that ever registered. */
  providers: new Uint8Array([PREFIX_PROVIDER]),
  /** A provider's record, by public key. */
  provider: (publicKey: Uint8Array): Uint8Array => prefixedKey(PREFIX_PROVIDER, publicKey),
  /** Ids (sorted) of the active storage deals: the end-of-epoch settlement walks this list. */
  activeDeals: new Uint8Array([PREFIX_DEAL]),
  /** A storage deal's record, by deal id; kept after the deal ends. */
  deal: (id: Uint8Array): Uint8Array => prefixedKey(PREFIX_DEAL, id),
  /** Ids (sorted) of the open storage orders: placement and the end-of-epoch settlement walk this list. */
  openOrders: new Uint8Array([PREFIX_ORDER]),
  /** A storage order's record, by order id (the hash of the storage.order transaction). */
  order: (id: Uint8Array): Uint8Array => prefixedKey(PREFIX_ORDER, id),
  /** The storage snapshot frozen at the end of `epoch` (placements of epoch + 2). */
  snapshot: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_STORAGE_LOOKBACK, new Uint8Array([0]), u64be(epoch)),
  /** The seed of `epoch`, the chain seed after its last block (placements of epoch + 1). */
  seed: (epoch: bigint): Uint8Array => prefixedKey(PREFIX_STORAGE_LOOKBACK, new Uint8Array([1]), u64be(epoch)),
  /** The raw weights at the end of the last settled epoch. */
  boundary: prefixedKey(PREFIX_STORAGE_LOOKBACK, new Uint8Array([2])),
  /** Set while `provider` holds a live deal or placement on `root`: one provider never holds a root twice. */
  rootHeld: (provider: Uint8Array, root: Uint8Array): Uint8Array => prefixedKey(PREFIX_ROOT_HELD, provider, root),
} as const;

/** If a state key is a provider record's key, the provider's public key. */
export function providerOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_PROVIDER ? key.subarray(1) : undefined;
}

/** If a state key is a storage deal record's key, the deal id. */
export function dealOfKey(key: Uint8Array): Uint8Array | undefined {
  return key.length === 33 && key[0] === PREFIX_DEAL ? key.subarray(1) : undefined;
}

/** What a provider serves: storage (proven by storage.proof) or bandwidth (a relay, attested by its witnesses: chain/bandwidth.ts). */
export const ProviderKind = {
  STORAGE: 0,
  BANDWIDTH: 1,
} as const;
export type ProviderKind = (typeof ProviderKind)[keyof typeof ProviderKind];
export const PROVIDER_KIND_NAMES: Readonly<Record<ProviderKind, "storage" | "bandwidth">> = { 0: "storage", 1: "bandwidth" };

export function isProviderKind(k: number): k is ProviderKind {
  return k === ProviderKind.STORAGE || k === ProviderKind.BANDWIDTH;
}

export const ProviderStatus = {
  ACTIVE: 0,
  /** provider.exit was sent while deals were active: no new deals; collateral back when the last one ends. */
  EXITING: 1,
  /** Collateral returned. May register again (its strikes and ban stay). */
  EXITED: 2,
} as const;
export type ProviderStatus = (typeof ProviderStatus)[keyof typeof ProviderStatus];
export const PROVIDER_STATUS_NAMES: Readonly<Record<ProviderStatus, "active" | "exiting" | "exited">> = { 0: "active", 1: "exiting", 2: "exited" };

/**
 * One epoch of a provider's service record: storage proofs made / due (one per challenged deal),
 * or for a relay judged in the epoch 1 / 1 when credited, 0 / 1 when not.
 */
export interface ReputationEntry {
  readonly epoch: bigint;
  readonly made: number;
  readonly due: number;
}

export interface Provider {
  /** Not stored: the key of the record (the provider's public key). */
  readonly key: Uint8Array;
  readonly kind: ProviderKind;
  /** All collateral held for the provider: free + locked. */
  readonly collateral: bigint;
  /** The part of `collateral` locked in active deals (sum of their collateralLeft). */
  readonly locked: bigint;
  /** Bytes offered, and bytes taken by active deals. */
  readonly capacity: bigint;
  readonly used: bigint;
  readonly multiaddr: string;
  /** Height of the (last) provider.register. */
  readonly registeredAt: bigint;
  readonly status: ProviderStatus;
  /** First epoch in which the provider is no longer banned; 0 = never banned. */
  readonly bannedUntil: bigint;
  /** Failed epochs counted towards the next ban's length (reset after a clean reputation window). */
  readonly strikes: number;
  /** The last failed epoch (meaningful when strikes > 0). */
  readonly lastFailureEpoch: bigint;
  /** Number of its deals that are active. */
  readonly activeDeals: number;
  /** Proofs made / due per epoch with dues, oldest first, within the reputation window. */
  readonly reputation: readonly ReputationEntry[];
  /**
   * EXITING: the last epoch of its unbonding (exit epoch + EXIT_UNBONDING_EPOCHS - 1); the collateral
   * goes back at the end of that epoch, or later when its last deal ends. 0 otherwise.
   */
  readonly releaseEpoch: bigint;
}

export const DealStatus = {
  ACTIVE: 0,
  /** Challenged durationEpochs times. */
  COMPLETED: 1,
  /** Ended by params.maxMissedProofs missed epochs. */
  FAILED: 2,
} as const;
export type DealStatus = (typeof DealStatus)[keyof typeof DealStatus];
export const DEAL_STATUS_NAMES: Readonly<Record<DealStatus, "active" | "completed" | "failed">> = { 0: "active", 1: "completed", 2: "failed" };

/** What the client and the provider agree off chain; the provider signs them (chain/storage.ts dealSignBytes). */
export interface DealTerms {
  readonly provider: Uint8Array;
  /** RFC 6962 root over the chunks (proofs/storage.ts). */
  readonly root: Uint8Array;
  readonly size: bigint;
  readonly chunkSize: bigint;
  readonly pricePerEpoch: bigint;
  readonly durationEpochs: bigint;
  /** Provider collateral locked for the deal. */
  readonly collateral: bigint;
  /** Last height at which the deal may land. */
  readonly expiresAtHeight: bigint;
}

export interface StorageDeal {
  /** Not stored: the key of the record. */
  readonly id: Uint8Array;
  readonly client: Uint8Array;
  readonly provider: Uint8Array;
  readonly root: Uint8Array;
  readonly size: bigint;
  readonly chunkSize: number;
  readonly chunkCount: bigint;
  readonly pricePerEpoch: bigint;
  readonly durationEpochs: bigint;
  /** The collateral locked when the deal landed (slashes are a share of it). */
  readonly collateral: bigint;
  /** Collateral still locked (0 once the deal ended: the rest went back to the provider's free collateral). */
  readonly collateralLeft: bigint;
  /** Client payment still held (0 once the deal ended). */
  readonly escrow: bigint;
  /** Height at which the deal landed. */
  readonly createdAt: bigint;
  /** First challenged epoch: the epoch after the one the deal landed in. */
  readonly startEpoch: bigint;
  /** Epochs settled so far (proven or missed). */
  readonly challenged: bigint;
  readonly misses: number;
  /** The last epoch proven, or null. */
  readonly lastProvenEpoch: bigint | null;
  readonly status: DealStatus;
  /** The epoch at whose end the deal ended; 0 while active. */
  readonly endedAt: bigint;
  /**
   * The storage order the network placed the deal from (a network deal: it earns the storage pool),
   * or null for a direct deal (the client chose the provider: paid its price only).
   */
  readonly order: Uint8Array | null;
}

const readBytes = (b: Uint8Array, trusted: boolean): CborValue => (trusted ? decodeTrusted(b) : decode(b));

// ---- provider ----

export function encodeProvider(p: Provider): Uint8Array {
  return encode([
    p.kind, u64(p.collateral), u64(p.locked), u64(p.capacity), u64(p.used), p.multiaddr, u64(p.registeredAt), p.status,
    u64(p.bannedUntil), p.strikes, u64(p.lastFailureEpoch), p.activeDeals, p.reputation.map((r) => [u64(r.epoch), r.made, r.due]),
    u64(p.releaseEpoch),
  ]);
}
export function decodeProvider(key: Uint8Array, b: Uint8Array, trusted = false): Provider {
  const v = asArray(readBytes(b, trusted), "provider", 14);
  const kind = asUint(v[0], "kind", 255);
  const status = asUint(v[7], "status", 255);
  if (!isProviderKind(kind)) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `provider kind ${kind}`);
  if (status !== 0 && status !== 1 && status !== 2) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `provider status ${status}`);
  return {
    key,
    kind,
    collateral: asU64(v[1], "collateral"),
    locked: asU64(v[2], "locked"),
    capacity: asU64(v[3], "capacity"),
    used: asU64(v[4], "used"),
    multiaddr: asString(v[5], "multiaddr", 256),
    registeredAt: asU64(v[6], "registeredAt"),
    status,
    bannedUntil: asU64(v[8], "bannedUntil"),
    strikes: asUint(v[9], "strikes"),
    lastFailureEpoch: asU64(v[10], "lastFailureEpoch"),
    activeDeals: asUint(v[11], "activeDeals"),
    reputation: asArray(v[12], "reputation").map((x) => {
      const r = asArray(x, "reputation entry", 3);
      return { epoch: asU64(r[0], "epoch"), made: asUint(r[1], "made"), due: asUint(r[2], "due") };
    }),
    releaseEpoch: asU64(v[13], "releaseEpoch"),
  };
}

// ---- deal ----

export function dealTermsValue(t: DealTerms): CborValue {
  return [t.provider, t.root, u64(t.size), u64(t.chunkSize), u64(t.pricePerEpoch), u64(t.durationEpochs), u64(t.collateral), u64(t.expiresAtHeight)];
}

/** Terms from a decoded CBOR value; throws CodecError for a wrong shape. */
export function dealTermsFromValue(value: CborValue | undefined): DealTerms {
  const a = asArray(value, "terms", 8);
  return {
    provider: asBytes(a[0], "terms.provider", 32),
    root: asBytes(a[1], "terms.root", 32),
    size: asU64(a[2], "terms.size"),
    chunkSize: asU64(a[3], "terms.chunkSize"),
    pricePerEpoch: asU64(a[4], "terms.pricePerEpoch"),
    durationEpochs: asU64(a[5], "terms.durationEpochs"),
    collateral: asU64(a[6], "terms.collateral"),
    expiresAtHeight: asU64(a[7], "terms.expiresAtHeight"),
  };
}

export function encodeDeal(d: StorageDeal): Uint8Array {
  return encode([
    d.client, d.provider, d.root, u64(d.size), d.chunkSize, u64(d.chunkCount), u64(d.pricePerEpoch), u64(d.durationEpochs),
    u64(d.collateral), u64(d.collateralLeft), u64(d.escrow), u64(d.createdAt), u64(d.startEpoch), u64(d.challenged), d.misses,
    d.lastProvenEpoch === null ? null : u64(d.lastProvenEpoch), d.status, u64(d.endedAt), d.order,
  ]);
}
export function decodeDeal(id: Uint8Array, b: Uint8Array, trusted = false): StorageDeal {
  const v = asArray(readBytes(b, trusted), "deal", 19);
  const status = asUint(v[16], "status", 255);
  if (status !== 0 && status !== 1 && status !== 2) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `deal status ${status}`);
  return {
    id,
    client: asBytes(v[0], "client", 32),
    provider: asBytes(v[1], "provider", 32),
    root: asBytes(v[2], "root", 32),
    size: asU64(v[3], "size"),
    chunkSize: asUint(v[4], "chunkSize"),
    chunkCount: asU64(v[5], "chunkCount"),
    pricePerEpoch: asU64(v[6], "pricePerEpoch"),
    durationEpochs: asU64(v[7], "durationEpochs"),
    collateral: asU64(v[8], "collateral"),
    collateralLeft: asU64(v[9], "collateralLeft"),
    escrow: asU64(v[10], "escrow"),
    createdAt: asU64(v[11], "createdAt"),
    startEpoch: asU64(v[12], "startEpoch"),
    challenged: asU64(v[13], "challenged"),
    misses: asUint(v[14], "misses"),
    lastProvenEpoch: v[15] === null ? null : asU64(v[15], "lastProvenEpoch"),
    status,
    endedAt: asU64(v[17], "endedAt"),
    order: v[18] === null ? null : asBytes(v[18], "order", 32),
  };
}

// ---- storage orders (network deals) ----

export const PlacementStatus = {
  /** Drawn; the provider has until the end of `deadline` to fetch the data and accept. */
  PENDING: 0,
  /** Accepted: `deal` is the network deal. */
  ACCEPTED: 1,
  /** Not accepted in time: a missed service epoch for the provider; the replica is drawn again. */
  EXPIRED: 2,
  /** Declined by the provider (no penalty); the replica is drawn again. */
  DECLINED: 3,
} as const;
export type PlacementStatus = (typeof PlacementStatus)[keyof typeof PlacementStatus];
export const PLACEMENT_STATUS_NAMES: Readonly<Record<PlacementStatus, "pending" | "accepted" | "expired" | "declined">> = {
  0: "pending", 1: "accepted", 2: "expired", 3: "declined",
};

/** One draw of one replica of an order. */
export interface Placement {
  readonly provider: Uint8Array;
  /** The epoch at whose first block it was drawn. */
  readonly epoch: bigint;
  /** The last epoch in which it may be accepted. */
  readonly deadline: bigint;
  readonly status: PlacementStatus;
  /** The network deal, once accepted. */
  readonly deal: Uint8Array | null;
}

export const OrderStatus = {
  /** Replicas still to place or to accept. */
  OPEN: 0,
  /** Every replica accepted. */
  FILLED: 1,
  /** Closed with replicas never accepted: their escrow went back to the client. */
  EXPIRED: 2,
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];
export const ORDER_STATUS_NAMES: Readonly<Record<OrderStatus, "open" | "filled" | "expired">> = { 0: "open", 1: "filled", 2: "expired" };

export interface StorageOrder {
  /** Not stored: the key of the record (the storage.order transaction's hash). */
  readonly id: Uint8Array;
  readonly client: Uint8Array;
  readonly root: Uint8Array;
  readonly size: bigint;
  readonly chunkSize: number;
  readonly pricePerEpoch: bigint;
  readonly durationEpochs: bigint;
  readonly replicas: number;
  /** Escrow not yet moved into an accepted replica's deal (refunded when the order closes). */
  readonly escrow: bigint;
  /**
   * The placement bond left: failureCharge x replicas locked by the order, each declined placement
   * burns failureCharge of it; what is left is refunded when the order closes.
   */
  readonly bond: bigint;
  /** What one declined placement burns: the storage pool the replica could earn over its duration at the order's epoch. */
  readonly failureCharge: bigint;
  /** Bond burned so far. */
  readonly burned: bigint;
  /** Replicas given up: declined when the bond no longer held a failure charge (never drawn again). */
  readonly dropped: number;
  /** Height of the storage.order. */
  readonly createdAt: bigint;
  /** First epoch whose first block draws placements (the epoch of the order + 2: the lookback). */
  readonly firstPlacementEpoch: bigint;
  /** The epoch at whose end the order closes if not filled (replicas never accepted are refunded). */
  readonly closeEpoch: bigint;
  readonly status: OrderStatus;
  /** Every draw, in draw order. */
  readonly placements: readonly Placement[];
}

export function encodeOrder(o: StorageOrder): Uint8Array {
  return encode([
    o.client, o.root, u64(o.size), o.chunkSize, u64(o.pricePerEpoch), u64(o.durationEpochs), o.replicas, u64(o.escrow), u64(o.createdAt),
    u64(o.firstPlacementEpoch), u64(o.closeEpoch), o.status,
    o.placements.map((p): CborValue => [p.provider, u64(p.epoch), u64(p.deadline), p.status, p.deal]),
    u64(o.bond), u64(o.failureCharge), u64(o.burned), o.dropped,
  ]);
}

export function decodeOrder(id: Uint8Array, b: Uint8Array, trusted = false): StorageOrder {
  const v = asArray(readBytes(b, trusted), "order", 17);
  const status = asUint(v[11], "status", 255);
  if (status !== 0 && status !== 1 && status !== 2) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `order status ${status}`);
  return {
    id,
    client: asBytes(v[0], "client", PUBLIC_KEY_LENGTH),
    root: asBytes(v[1], "root", 32),
    size: asU64(v[2], "size"),
    chunkSize: asUint(v[3], "chunkSize"),
    pricePerEpoch: asU64(v[4], "pricePerEpoch"),
    durationEpochs: asU64(v[5], "durationEpochs"),
    replicas: asUint(v[6], "replicas", 255),
    escrow: asU64(v[7], "escrow"),
    createdAt: asU64(v[8], "createdAt"),
    firstPlacementEpoch: asU64(v[9], "firstPlacementEpoch"),
    closeEpoch: asU64(v[10], "closeEpoch"),
    status,
    placements: asArray(v[12], "placements").map((x) => {
      const p = asArray(x, "placement", 5);
      const ps = asUint(p[3], "placement status", 255);
      if (ps > 3) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `placement status ${ps}`);
      return {
        provider: asBytes(p[0], "provider", PUBLIC_KEY_LENGTH), epoch: asU64(p[1], "epoch"), deadline: asU64(p[2], "deadline"),
        status: ps as PlacementStatus, deal: p[4] === null ? null : asBytes(p[4], "deal", 32),
      };
    }),
    bond: asU64(v[13], "bond"),
    failureCharge: asU64(v[14], "failureCharge"),
    burned: asU64(v[15], "burned"),
    dropped: asUint(v[16], "dropped", 255),
  };
}

/** A storage provider's weights at an epoch boundary: free collateral (placement) and all of it (the pool cap). */
export interface StorageWeight {
  readonly key: Uint8Array;
  readonly free: bigint;
  readonly collateral: bigint;
}

/** The storage providers at a boundary (raw) or frozen for the lookback (each weight the minimum of two boundaries), sorted by key. */
export interface StorageSnapshot {
  readonly epoch: bigint;
  readonly providers: readonly StorageWeight[];
}

export function encodeStorageSnapshot(s: StorageSnapshot): Uint8Array {
  return encode([u64(s.epoch), s.providers.map((p): CborValue => [p.key, u64(p.free), u64(p.collateral)])]);
}

export function decodeStorageSnapshot(b: Uint8Array, trusted = false): StorageSnapshot {
  const v = asArray(readBytes(b, trusted), "storageSnapshot", 2);
  return {
    epoch: asU64(v[0], "epoch"),
    providers: asArray(v[1], "providers").map((x) => {
      const e = asArray(x, "storage weight", 3);
      return { key: asBytes(e[0], "key", PUBLIC_KEY_LENGTH), free: asU64(e[1], "free"), collateral: asU64(e[2], "collateral") };
    }),
  };
}
