/** JSON forms of providers, deals and deal terms for the RPC (rpc/json.ts conventions: hex, cc1 addresses, decimal strings). */
import { toHex } from "../../primitives/bytes.ts";
import { toAddress } from "../../primitives/keys.ts";
import type { ChainParams } from "../../chain/params.ts";
import { lastHeightOfEpoch } from "../../chain/epoch.ts";
import { DEAL_STATUS_NAMES, freeCollateral, isBanned, PROVIDER_KIND_NAMES, PROVIDER_STATUS_NAMES, reputationBps, type DealTerms, type Provider, type StorageDeal } from "./storage.ts";
import { ORDER_STATUS_NAMES, PLACEMENT_STATUS_NAMES, type Placement, type StorageOrder } from "./records.ts";
import { orderProgress } from "./orders.ts";

export interface DealTermsJson {
  provider: string;
  root: string;
  size: string;
  chunkSize: number;
  pricePerEpoch: string;
  durationEpochs: number;
  collateral: string;
  expiresAtHeight: number;
}

export function dealTermsJson(t: DealTerms): DealTermsJson {
  return {
    provider: toAddress(t.provider), root: toHex(t.root), size: t.size.toString(), chunkSize: Number(t.chunkSize), pricePerEpoch: t.pricePerEpoch.toString(),
    durationEpochs: Number(t.durationEpochs), collateral: t.collateral.toString(), expiresAtHeight: Number(t.expiresAtHeight),
  };
}

/** A provider at the head; `epoch` is the current epoch (for its ban and reputation). */
export function providerJson(p: Provider, epoch: bigint, params: ChainParams) {
  return {
    address: toAddress(p.key),
    kind: PROVIDER_KIND_NAMES[p.kind],
    status: PROVIDER_STATUS_NAMES[p.status],
    collateral: p.collateral.toString(),
    locked: p.locked.toString(),
    freeCollateral: freeCollateral(p).toString(),
    capacity: p.capacity.toString(),
    used: p.used.toString(),
    multiaddr: p.multiaddr,
    registeredAt: Number(p.registeredAt),
    activeDeals: p.activeDeals,
    banned: isBanned(p, epoch),
    bannedUntil: Number(p.bannedUntil),
    strikes: p.strikes,
    reputationBps: reputationBps(p, epoch, params.reputationWindowEpochs),
    reputation: p.reputation.map((r) => ({ epoch: Number(r.epoch), made: r.made, due: r.due })),
    // exiting: the last epoch of its unbonding (still slashable for double attestation until it ends); null otherwise
    releaseEpoch: PROVIDER_STATUS_NAMES[p.status] === "exiting" ? Number(p.releaseEpoch) : null,
  };
}

export function dealJson(d: StorageDeal) {
  return {
    id: toHex(d.id),
    client: toAddress(d.client),
    provider: toAddress(d.provider),
    root: toHex(d.root),
    size: d.size.toString(),
    chunkSize: d.chunkSize,
    chunkCount: d.chunkCount.toString(),
    pricePerEpoch: d.pricePerEpoch.toString(),
    durationEpochs: Number(d.durationEpochs),
    collateral: d.collateral.toString(),
    collateralLeft: d.collateralLeft.toString(),
    escrow: d.escrow.toString(),
    createdAt: Number(d.createdAt),
    startEpoch: Number(d.startEpoch),
    challenged: Number(d.challenged),
    misses: d.misses,
    lastProvenEpoch: d.lastProvenEpoch === null ? null : Number(d.lastProvenEpoch),
    status: DEAL_STATUS_NAMES[d.status],
    endedAt: d.status === 0 ? null : Number(d.endedAt),
    /** A network deal's order (it earns the storage pool); null for a direct deal (paid its price only). */
    order: d.order === null ? null : toHex(d.order),
    network: d.order !== null,
  };
}


/** One draw of a replica; `deadlineHeight` is the last block that can carry its storage.accept. */
export function placementJson(p: Placement, params: ChainParams) {
  return {
    provider: toAddress(p.provider),
    epoch: Number(p.epoch),
    deadline: Number(p.deadline),
    deadlineHeight: Number(lastHeightOfEpoch(p.deadline, params.epochLength)),
    status: PLACEMENT_STATUS_NAMES[p.status],
    deal: p.deal === null ? null : toHex(p.deal),
  };
}

/** A storage order with every placement (in draw order) and the network deals of its accepted replicas. */
export function orderJson(o: StorageOrder, params: ChainParams) {
  const { accepted, pending } = orderProgress(o);
  return {
    id: toHex(o.id),
    client: toAddress(o.client),
    root: toHex(o.root),
    size: o.size.toString(),
    chunkSize: o.chunkSize,
    pricePerEpoch: o.pricePerEpoch.toString(),
    durationEpochs: Number(o.durationEpochs),
    replicas: o.replicas,
    escrow: o.escrow.toString(),
    bond: o.bond.toString(),
    failureCharge: o.failureCharge.toString(),
    burned: o.burned.toString(),
    dropped: o.dropped,
    createdAt: Number(o.createdAt),
    firstPlacementEpoch: Number(o.firstPlacementEpoch),
    closeEpoch: Number(o.closeEpoch),
    status: ORDER_STATUS_NAMES[o.status],
    accepted,
    pending,
    placements: o.placements.map((p) => placementJson(p, params)),
    deals: o.placements.flatMap((p) => (p.deal === null ? [] : [toHex(p.deal)])),
  };
}
