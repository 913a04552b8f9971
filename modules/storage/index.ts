/**
 * The storage module (docs/protocol.md sections 5 and 7): providers (storage providers and bandwidth
 * relays register here), storage deals and their proofs. Rules in ./storage.ts; this file is what
 * the registry needs.
 *
 *   provider.register   [4, kind, collateral, capacity, multiaddr]   kind 0 storage, 1 bandwidth
 *   provider.exit       [5]
 *   provider.update     [15, multiaddr]                               a registered provider's new address
 *   storage.deal        [6, terms, providerSignature(64)]
 *                       terms = [provider(32), root(32), size, chunkSize, pricePerEpoch, durationEpochs, collateral, expiresAtHeight]
 *   storage.proof       [7, deal(32), epoch, [[index, chunk(<= 64 KiB), [hash(32), ...(<= 40)]], ...(<= 12)]]
 *   storage.order       [16, root(32), size, chunkSize, pricePerEpoch, durationEpochs, replicas]
 *   storage.accept      [17, order(32)]
 *   storage.decline     [18, order(32)]
 */
import { toHex } from "../../primitives/bytes.ts";
import { asArray, asBytes, asString, asU64, asUint, u64, type CborValue } from "../../primitives/codec.ts";
import { CodecError, CodecErrorCode } from "../../primitives/errors.ts";
import { SIGNATURE_LENGTH, toAddress } from "../../primitives/keys.ts";
import { ExecErrorCode } from "../../chain/exec.ts";
import { defineEvent, defineOp, type ModuleSpec } from "../../chain/registry.ts";
import { MAX_CHUNK_SIZE, MAX_PATH_LENGTH, type ChunkProof } from "../../proofs/storage.ts";
import { z } from "zod";
import { address, count, decimal, hash } from "../json-schema.ts";
import {
  executeStorageOp, invalidMultiaddr, invalidStorageOp, MAX_CHALLENGES_PER_DEAL, MAX_MULTIADDR_LENGTH, StorageErrorCode, updateProvider,
} from "./storage.ts";
import { dealTermsFromValue, dealTermsValue, decodeDeal, decodeProvider, isProviderKind, PREFIX_DEAL, PREFIX_PROVIDER, PROVIDER_KIND_NAMES, type DealTerms } from "./records.ts";
import { dealTermsJson } from "./json.ts";
import { storageIndexes } from "./indexes.ts";
import {
  acceptPlacement, declinePlacement, invalidOrderOp, placeOrder, placeOrders, type StorageAcceptOp, type StorageDeclineOp, type StorageOrderOp,
} from "./orders.ts";
import { decodeOrder, PREFIX_ORDER, PREFIX_ROOT_HELD, PREFIX_STORAGE_LOOKBACK } from "./records.ts";

export interface ProviderRegisterOp {
  readonly type: "provider.register";
  /** A ProviderKind (./records.ts); any other value is TX_INVALID_OPERATION. */
  readonly kind: number;
  readonly collateral: bigint;
  readonly capacity: bigint;
  readonly multiaddr: string;
}
export interface ProviderExitOp { readonly type: "provider.exit" }
export interface ProviderUpdateOp { readonly type: "provider.update"; readonly multiaddr: string }
export interface StorageDealOp { readonly type: "storage.deal"; readonly terms: DealTerms; readonly providerSignature: Uint8Array }
export interface StorageProofOp { readonly type: "storage.proof"; readonly deal: Uint8Array; readonly epoch: bigint; readonly chunks: readonly ChunkProof[] }

export type ProviderKindName = "storage" | "bandwidth";

export type StorageEvent =
  | {
      readonly kind: "providerRegister"; readonly txHash: Uint8Array; readonly provider: Uint8Array; readonly providerKind: ProviderKindName;
      readonly collateral: bigint; readonly capacity: bigint; readonly multiaddr: string;
    }
  /** `returned`: collateral given back now (all of it when no deal is active, else 0 until the last one ends). */
  | { readonly kind: "providerExit"; readonly txHash: Uint8Array; readonly provider: Uint8Array; readonly returned: bigint; readonly activeDeals: number }
  /** provider.update: the provider's registered multiaddr is now `multiaddr`. */
  | { readonly kind: "providerUpdate"; readonly txHash: Uint8Array; readonly provider: Uint8Array; readonly multiaddr: string }
  /** An exiting provider's last deal ended at the end of `epoch`: its collateral went back to its balance. */
  | { readonly kind: "providerCollateralReturned"; readonly provider: Uint8Array; readonly epoch: bigint; readonly amount: bigint }
  /** A failed epoch: the provider is banned from `epoch` + 1 until (before) epoch `until`. */
  | { readonly kind: "providerBan"; readonly provider: Uint8Array; readonly epoch: bigint; readonly until: bigint; readonly strikes: number }
  | {
      readonly kind: "storageDeal"; readonly txHash: Uint8Array; readonly deal: Uint8Array; readonly client: Uint8Array; readonly provider: Uint8Array;
      readonly size: bigint; readonly escrow: bigint; readonly collateral: bigint; readonly startEpoch: bigint;
      /** The order a network deal was placed from; null for a direct deal. */
      readonly order: Uint8Array | null;
    }
  | {
      readonly kind: "storageOrder"; readonly txHash: Uint8Array; readonly order: Uint8Array; readonly client: Uint8Array; readonly root: Uint8Array;
      readonly size: bigint; readonly replicas: number; readonly escrow: bigint; readonly firstPlacementEpoch: bigint; readonly closeEpoch: bigint;
      /** The placement bond locked besides the escrow (failureCharge x replicas). */
      readonly bond: bigint; readonly failureCharge: bigint;
    }
  /** A replica of `order` drawn onto `provider` at the first block of `epoch`; it may accept until the end of `deadline`. */
  | {
      readonly kind: "storagePlacement"; readonly order: Uint8Array; readonly provider: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint;
      readonly deadline: bigint;
    }
  /**
   * A pending placement ended without a deal: declined by the provider (`burned` of the order's
   * bond burned; `dropped`: the bond could not pay it, the replica is not drawn again), or expired
   * (a missed service epoch of the provider; nothing burned).
   */
  | {
      readonly kind: "storagePlacementEnd"; readonly order: Uint8Array; readonly provider: Uint8Array; readonly epoch: bigint; readonly reason: "declined" | "expired";
      readonly burned: bigint; readonly dropped: boolean;
    }
  /** An order closed: every replica accepted (filled), or its placement epochs over (expired); `refunded` went back to the client. */
  | {
      readonly kind: "storageOrderEnd"; readonly order: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint; readonly status: "filled" | "expired";
      readonly accepted: number; readonly refunded: bigint;
    }
  | { readonly kind: "storageProof"; readonly txHash: Uint8Array; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly epoch: bigint }
  /** End of epoch: a proven epoch's price moved from the deal's escrow to the provider. */
  | { readonly kind: "storagePayment"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly epoch: bigint; readonly amount: bigint; readonly network: boolean }
  /** End of epoch: a missed epoch's slash moved from the deal's collateral to the client. */
  | {
      readonly kind: "storageSlash"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint;
      readonly amount: bigint; readonly misses: number;
    }
  /** End of epoch: the deal ended; `refunded` escrow went to the client, `unlocked` collateral back to the provider's free collateral. */
  | {
      readonly kind: "storageDealEnd"; readonly deal: Uint8Array; readonly provider: Uint8Array; readonly client: Uint8Array; readonly epoch: bigint;
      readonly reason: "completed" | "failed"; readonly refunded: bigint; readonly unlocked: bigint;
    };
type Ev<K extends StorageEvent["kind"]> = Extract<StorageEvent, { kind: K }>;

declare module "../../chain/tx.ts" {
  interface OpMap {
    "provider.register": ProviderRegisterOp;
    "provider.exit": ProviderExitOp;
    "provider.update": ProviderUpdateOp;
    "storage.deal": StorageDealOp;
    "storage.proof": StorageProofOp;
    "storage.order": StorageOrderOp;
    "storage.accept": StorageAcceptOp;
    "storage.decline": StorageDeclineOp;
  }
}
declare module "../../chain/exec.ts" {
  interface EventMap {
    providerRegister: Ev<"providerRegister">;
    providerExit: Ev<"providerExit">;
    providerUpdate: Ev<"providerUpdate">;
    providerCollateralReturned: Ev<"providerCollateralReturned">;
    providerBan: Ev<"providerBan">;
    storageDeal: Ev<"storageDeal">;
    storageProof: Ev<"storageProof">;
    storagePayment: Ev<"storagePayment">;
    storageSlash: Ev<"storageSlash">;
    storageDealEnd: Ev<"storageDealEnd">;
    storageOrder: Ev<"storageOrder">;
    storagePlacement: Ev<"storagePlacement">;
    storagePlacementEnd: Ev<"storagePlacementEnd">;
    storageOrderEnd: Ev<"storageOrderEnd">;
  }
}

export const StorageOpCode = {
  PROVIDER_REGISTER: 4, PROVIDER_EXIT: 5, STORAGE_DEAL: 6, STORAGE_PROOF: 7, PROVIDER_UPDATE: 15, STORAGE_ORDER: 16, STORAGE_ACCEPT: 17, STORAGE_DECLINE: 18,
} as const;

const ops = [
  defineOp<ProviderRegisterOp>({
    code: StorageOpCode.PROVIDER_REGISTER,
    type: "provider.register",
    topic: "tx",
    debit: (op) => op.collateral,
    encode: (op) => [op.kind, u64(op.collateral), u64(op.capacity), op.multiaddr],
    decode: (arr, v) => {
      asArray(v, "provider.register", 5);
      return {
        type: "provider.register",
        kind: asUint(arr[1], "provider.register.kind", 255),
        collateral: asU64(arr[2], "provider.register.collateral"),
        capacity: asU64(arr[3], "provider.register.capacity"),
        multiaddr: asString(arr[4], "provider.register.multiaddr", MAX_MULTIADDR_LENGTH),
      };
    },
    validateBasic: invalidStorageOp,
    execute: (w, ctx, tx) => executeStorageOp(w, ctx, tx, tx.op, tx.chainId),
    participants: () => [],
    json: (op) => ({
      kind: isProviderKind(op.kind) ? PROVIDER_KIND_NAMES[op.kind] : `kind#${op.kind}`, collateral: op.collateral.toString(), capacity: op.capacity.toString(), multiaddr: op.multiaddr,
    }),
  }),
  defineOp<ProviderExitOp>({
    code: StorageOpCode.PROVIDER_EXIT,
    type: "provider.exit",
    topic: "tx",
    encode: () => [],
    decode: (_arr, v) => {
      asArray(v, "provider.exit", 1);
      return { type: "provider.exit" };
    },
    validateBasic: invalidStorageOp,
    execute: (w, ctx, tx) => executeStorageOp(w, ctx, tx, tx.op, tx.chainId),
    participants: () => [],
    json: () => ({}),
  }),
  defineOp<ProviderUpdateOp>({
    code: StorageOpCode.PROVIDER_UPDATE,
    type: "provider.update",
    topic: "tx",
    encode: (op) => [op.multiaddr],
    decode: (arr, v) => {
      asArray(v, "provider.update", 2);
      return { type: "provider.update", multiaddr: asString(arr[1], "provider.update.multiaddr", MAX_MULTIADDR_LENGTH) };
    },
    validateBasic: (op) => invalidMultiaddr(op.multiaddr),
    execute: (w, ctx, tx) => updateProvider(w, ctx, tx, tx.op.multiaddr),
    participants: () => [],
    json: (op) => ({ multiaddr: op.multiaddr }),
  }),
  defineOp<StorageDealOp>({
    code: StorageOpCode.STORAGE_DEAL,
    type: "storage.deal",
    topic: "tx",
    debit: (op) => op.terms.pricePerEpoch * op.terms.durationEpochs, // the client's escrow
    encode: (op) => [dealTermsValue(op.terms), op.providerSignature],
    decode: (arr, v) => {
      asArray(v, "storage.deal", 3);
      return { type: "storage.deal", terms: dealTermsFromValue(arr[1]), providerSignature: asBytes(arr[2], "storage.deal.providerSignature", SIGNATURE_LENGTH) };
    },
    validateBasic: invalidStorageOp,
    execute: (w, ctx, tx) => executeStorageOp(w, ctx, tx, tx.op, tx.chainId),
    participants: (tx) => [tx.op.terms.provider],
    json: (op) => ({ terms: dealTermsJson(op.terms), providerSignature: toHex(op.providerSignature) }),
  }),
  defineOp<StorageProofOp>({
    code: StorageOpCode.STORAGE_PROOF,
    type: "storage.proof",
    // proofs travel with the service attestations, apart from plain transactions (p2p/gossip.ts)
    topic: "attestation",
    encode: (op) => [op.deal, u64(op.epoch), op.chunks.map((c): CborValue => [u64(c.index), c.chunk, [...c.path]])],
    decode: (arr, v) => {
      asArray(v, "storage.proof", 4);
      const items = asArray(arr[3], "storage.proof.chunks");
      if (items.length > MAX_CHALLENGES_PER_DEAL) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.chunks: more than ${MAX_CHALLENGES_PER_DEAL}`);
      return {
        type: "storage.proof",
        deal: asBytes(arr[1], "storage.proof.deal", 32),
        epoch: asU64(arr[2], "storage.proof.epoch"),
        chunks: items.map((x) => {
          const c = asArray(x, "storage.proof chunk", 3);
          const chunk = asBytes(c[1], "storage.proof.chunk");
          if (chunk.length > MAX_CHUNK_SIZE) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.chunk: longer than ${MAX_CHUNK_SIZE} bytes`);
          const path = asArray(c[2], "storage.proof.path");
          if (path.length > MAX_PATH_LENGTH) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.path: longer than ${MAX_PATH_LENGTH}`);
          return { index: asU64(c[0], "storage.proof.index"), chunk, path: path.map((h) => asBytes(h, "storage.proof.path hash", 32)) };
        }),
      };
    },
    validateBasic: invalidStorageOp,
    execute: (w, ctx, tx) => executeStorageOp(w, ctx, tx, tx.op, tx.chainId),
    participants: () => [],
    // the chunks themselves are left out: up to ~800 KB of hex
    json: (op) => ({ deal: toHex(op.deal), epoch: Number(op.epoch), chunks: op.chunks.map((c) => ({ index: c.index.toString(), length: c.chunk.length, pathLength: c.path.length })) }),
  }),
  defineOp<StorageOrderOp>({
    code: StorageOpCode.STORAGE_ORDER,
    type: "storage.order",
    topic: "tx",
    debit: (op) => op.pricePerEpoch * op.durationEpochs * BigInt(op.replicas),
    encode: (op) => [op.root, u64(op.size), u64(op.chunkSize), u64(op.pricePerEpoch), u64(op.durationEpochs), op.replicas],
    decode: (arr, v) => {
      asArray(v, "storage.order", 7);
      return {
        type: "storage.order",
        root: asBytes(arr[1], "storage.order.root", 32),
        size: asU64(arr[2], "storage.order.size"),
        chunkSize: asU64(arr[3], "storage.order.chunkSize"),
        pricePerEpoch: asU64(arr[4], "storage.order.pricePerEpoch"),
        durationEpochs: asU64(arr[5], "storage.order.durationEpochs"),
        replicas: asUint(arr[6], "storage.order.replicas", 255),
      };
    },
    validateBasic: invalidOrderOp,
    execute: (w, ctx, tx) => placeOrder(w, ctx, tx, tx.op),
    participants: () => [],
    json: (op) => ({
      root: toHex(op.root), size: op.size.toString(), chunkSize: Number(op.chunkSize), pricePerEpoch: op.pricePerEpoch.toString(),
      durationEpochs: Number(op.durationEpochs), replicas: op.replicas,
    }),
  }),
  defineOp<StorageAcceptOp>({
    code: StorageOpCode.STORAGE_ACCEPT,
    type: "storage.accept",
    topic: "tx",
    encode: (op) => [op.order],
    decode: (arr, v) => {
      asArray(v, "storage.accept", 2);
      return { type: "storage.accept", order: asBytes(arr[1], "storage.accept.order", 32) };
    },
    validateBasic: () => undefined,
    execute: (w, ctx, tx) => acceptPlacement(w, ctx, tx, tx.op.order, tx.chainId),
    participants: () => [],
    json: (op) => ({ order: toHex(op.order) }),
  }),
  defineOp<StorageDeclineOp>({
    code: StorageOpCode.STORAGE_DECLINE,
    type: "storage.decline",
    topic: "tx",
    encode: (op) => [op.order],
    decode: (arr, v) => {
      asArray(v, "storage.decline", 2);
      return { type: "storage.decline", order: asBytes(arr[1], "storage.decline.order", 32) };
    },
    validateBasic: () => undefined,
    execute: (w, ctx, tx) => declinePlacement(w, ctx, tx, tx.op.order),
    participants: () => [],
    json: (op) => ({ order: toHex(op.order) }),
  }),
];

const txHash = { txHash: hash };
const events = [
  defineEvent<Ev<"providerRegister">>({
    kind: "providerRegister",
    json: (e) => ({
      txHash: toHex(e.txHash), provider: toAddress(e.provider), providerKind: e.providerKind, collateral: e.collateral.toString(), capacity: e.capacity.toString(), multiaddr: e.multiaddr,
    }),
    schema: z.object({
      kind: z.literal("providerRegister"), ...txHash, provider: address, providerKind: z.enum(["storage", "bandwidth"]), collateral: decimal, capacity: decimal, multiaddr: z.string(),
    }),
  }),
  defineEvent<Ev<"providerExit">>({
    kind: "providerExit",
    json: (e) => ({ txHash: toHex(e.txHash), provider: toAddress(e.provider), returned: e.returned.toString(), activeDeals: e.activeDeals }),
    schema: z.object({ kind: z.literal("providerExit"), ...txHash, provider: address, returned: decimal, activeDeals: count }),
  }),
  defineEvent<Ev<"providerUpdate">>({
    kind: "providerUpdate",
    json: (e) => ({ txHash: toHex(e.txHash), provider: toAddress(e.provider), multiaddr: e.multiaddr }),
    schema: z.object({ kind: z.literal("providerUpdate"), ...txHash, provider: address, multiaddr: z.string() }),
  }),
  defineEvent<Ev<"providerCollateralReturned">>({
    kind: "providerCollateralReturned",
    json: (e) => ({ provider: toAddress(e.provider), epoch: Number(e.epoch), amount: e.amount.toString() }),
    schema: z.object({ kind: z.literal("providerCollateralReturned"), provider: address, epoch: count, amount: decimal }),
  }),
  defineEvent<Ev<"providerBan">>({
    kind: "providerBan",
    json: (e) => ({ provider: toAddress(e.provider), epoch: Number(e.epoch), until: Number(e.until), strikes: e.strikes }),
    schema: z.object({ kind: z.literal("providerBan"), provider: address, epoch: count, until: count, strikes: count }),
  }),
  defineEvent<Ev<"storageDeal">>({
    kind: "storageDeal",
    json: (e) => ({
      txHash: toHex(e.txHash), deal: toHex(e.deal), client: toAddress(e.client), provider: toAddress(e.provider), size: e.size.toString(),
      escrow: e.escrow.toString(), collateral: e.collateral.toString(), startEpoch: Number(e.startEpoch), order: e.order === null ? null : toHex(e.order),
    }),
    schema: z.object({
      kind: z.literal("storageDeal"), ...txHash, deal: hash, client: address, provider: address, size: decimal, escrow: decimal, collateral: decimal, startEpoch: count,
      order: hash.nullable(),
    }),
  }),
  defineEvent<Ev<"storageOrder">>({
    kind: "storageOrder",
    json: (e) => ({
      txHash: toHex(e.txHash), order: toHex(e.order), client: toAddress(e.client), root: toHex(e.root), size: e.size.toString(), replicas: e.replicas,
      escrow: e.escrow.toString(), firstPlacementEpoch: Number(e.firstPlacementEpoch), closeEpoch: Number(e.closeEpoch), bond: e.bond.toString(),
      failureCharge: e.failureCharge.toString(),
    }),
    schema: z.object({
      kind: z.literal("storageOrder"), ...txHash, order: hash, client: address, root: hash, size: decimal, replicas: count, escrow: decimal,
      firstPlacementEpoch: count, closeEpoch: count, bond: decimal, failureCharge: decimal,
    }),
  }),
  defineEvent<Ev<"storagePlacement">>({
    kind: "storagePlacement",
    json: (e) => ({ order: toHex(e.order), provider: toAddress(e.provider), client: toAddress(e.client), epoch: Number(e.epoch), deadline: Number(e.deadline) }),
    schema: z.object({ kind: z.literal("storagePlacement"), order: hash, provider: address, client: address, epoch: count, deadline: count }),
  }),
  defineEvent<Ev<"storagePlacementEnd">>({
    kind: "storagePlacementEnd",
    json: (e) => ({ order: toHex(e.order), provider: toAddress(e.provider), epoch: Number(e.epoch), reason: e.reason, burned: e.burned.toString(), dropped: e.dropped }),
    schema: z.object({
      kind: z.literal("storagePlacementEnd"), order: hash, provider: address, epoch: count, reason: z.enum(["declined", "expired"]), burned: decimal, dropped: z.boolean(),
    }),
  }),
  defineEvent<Ev<"storageOrderEnd">>({
    kind: "storageOrderEnd",
    json: (e) => ({ order: toHex(e.order), client: toAddress(e.client), epoch: Number(e.epoch), status: e.status, accepted: e.accepted, refunded: e.refunded.toString() }),
    schema: z.object({ kind: z.literal("storageOrderEnd"), order: hash, client: address, epoch: count, status: z.enum(["filled", "expired"]), accepted: count, refunded: decimal }),
  }),
  defineEvent<Ev<"storageProof">>({
    kind: "storageProof",
    json: (e) => ({ txHash: toHex(e.txHash), deal: toHex(e.deal), provider: toAddress(e.provider), epoch: Number(e.epoch) }),
    schema: z.object({ kind: z.literal("storageProof"), ...txHash, deal: hash, provider: address, epoch: count }),
  }),
  defineEvent<Ev<"storagePayment">>({
    kind: "storagePayment",
    json: (e) => ({ deal: toHex(e.deal), provider: toAddress(e.provider), epoch: Number(e.epoch), amount: e.amount.toString(), network: e.network }),
    schema: z.object({ kind: z.literal("storagePayment"), deal: hash, provider: address, epoch: count, amount: decimal, network: z.boolean() }),
  }),
  defineEvent<Ev<"storageSlash">>({
    kind: "storageSlash",
    json: (e) => ({ deal: toHex(e.deal), provider: toAddress(e.provider), client: toAddress(e.client), epoch: Number(e.epoch), amount: e.amount.toString(), misses: e.misses }),
    schema: z.object({ kind: z.literal("storageSlash"), deal: hash, provider: address, client: address, epoch: count, amount: decimal, misses: count }),
  }),
  defineEvent<Ev<"storageDealEnd">>({
    kind: "storageDealEnd",
    json: (e) => ({
      deal: toHex(e.deal), provider: toAddress(e.provider), client: toAddress(e.client), epoch: Number(e.epoch), reason: e.reason,
      refunded: e.refunded.toString(), unlocked: e.unlocked.toString(),
    }),
    schema: z.object({
      kind: z.literal("storageDealEnd"), deal: hash, provider: address, client: address, epoch: count, reason: z.enum(["completed", "failed"]), refunded: decimal, unlocked: decimal,
    }),
  }),
];

export const storage: ModuleSpec = {
  name: "storage",
  ops,
  events,
  records: [
    // provider collateral, free and locked in deals (0x05 alone is the provider list)
    { prefix: PREFIX_PROVIDER, name: "provider", held: (key, value) => (key.length === 33 ? decodeProvider(key.subarray(1), value).collateral : 0n) },
    // deal escrow (0x06 alone is the active-deal list)
    { prefix: PREFIX_DEAL, name: "deal", held: (key, value) => (key.length === 33 ? decodeDeal(key.subarray(1), value).escrow : 0n) },
    // order escrow not yet in a deal and the placement bond left (0x12 alone is the open-order list)
    { prefix: PREFIX_ORDER, name: "order", held: (key, value) => {
      if (key.length !== 33) return 0n;
      const o = decodeOrder(key.subarray(1), value);
      return o.escrow + o.bond;
    } },
    { prefix: PREFIX_STORAGE_LOOKBACK, name: "storageLookback", held: () => 0n },
    { prefix: PREFIX_ROOT_HELD, name: "rootHeld", held: () => 0n },
  ],
  hooks: {
    // the lookback draws of the replicas still missing (./orders.ts)
    beginEpoch: (w, ctx, epoch) => placeOrders(w, ctx, epoch),
  },
  indexes: storageIndexes,
  errors: { INSUFFICIENT_BALANCE: ExecErrorCode.INSUFFICIENT_BALANCE, AMOUNT_OVERFLOW: ExecErrorCode.AMOUNT_OVERFLOW, ...StorageErrorCode },
};
