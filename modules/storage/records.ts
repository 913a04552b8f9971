/**
 * The records of proof of storage and of the emission (DESIGN.md sections 6-8) and their
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
 */
import { asArray, asBytes, asString, asU64, asUint, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";
import { CodecError, CodecErrorCode } from "../../primitives/errors.ts";
import { prefixedKey } from "../../chain/state.ts";

/** 0x05 alone is the sorted list of provider keys, 0x05 || key a Provider. */
export const PREFIX_PROVIDER = 0x05;
/** 0x06 alone is the sorted list of active deal ids, 0x06 || id a StorageDeal. */
export const PREFIX_DEAL = 0x06;
export const StorageKey = {
  /** Public keys (sorted) of every provider that ever registered. */
  providers: new Uint8Array([PREFIX_PROVIDER]),
  /** A provider's record, by public key. */
  provider: (publicKey: Uint8Array): Uint8Array => prefixedKey(PREFIX_PROVIDER, publicKey),
  /** Ids (sorted) of the active storage deals: the end-of-epoch settlement walks this list. */
  activeDeals: new Uint8Array([PREFIX_DEAL]),
  /** A storage deal's record, by deal id; kept after the deal ends. */
  deal: (id: Uint8Array): Uint8Array => prefixedKey(PREFIX_DEAL, id),
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
    d.lastProvenEpoch === null ? null : u64(d.lastProvenEpoch), d.status, u64(d.endedAt),
  ]);
}
export function decodeDeal(id: Uint8Array, b: Uint8Array, trusted = false): StorageDeal {
  const v = asArray(readBytes(b, trusted), "deal", 18);
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
  };
}
