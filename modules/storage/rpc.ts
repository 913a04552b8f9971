/**
 * The proof-of-storage part of the method table (docs/protocol.md sections 5 and 7; docs/rpc-guide.md), spread into
 * `methods` (rpc/methods.ts): providers, deals, orders and placements, challenges, proof submission and the emission of
 * an epoch. Read methods answer from the head state and the store's indexes (deals by client and
 * provider, the mints of each ended epoch: chain/store.ts); lists page by an exclusive cursor with
 * a hard cap of MAX_STORAGE_PAGE.
 *
 * "The current epoch" is the epoch of the block being built (head + 1): its challenges are known
 * from its first block on, and proofs for it are taken until its last block (chain/epoch.ts).
 */
import { z } from "zod";
import { equalBytes, fromHex, toHex } from "../../primitives/bytes.ts";
import { CodedError } from "../../primitives/errors.ts";
import { epochSeed, firstHeightOfEpoch, lastHeightOfEpoch, proofWindow } from "../../chain/epoch.ts";
import { fromAddress, toAddress } from "../../primitives/keys.ts";
import { readKeyList } from "../../chain/state.ts";
import { StorageKey } from "./records.ts";
import { DEALS_BY_CLIENT, DEALS_BY_PROVIDER, ORDERS_BY_CLIENT } from "./indexes.ts";
import { OrderStatus } from "./records.ts";
import { pendingPlacementsOf, readOrder } from "./orders.ts";
import { challengesFor, checkStorageProof, DealStatus, ProviderKind, readDeal, readProvider } from "./storage.ts";
import { decodeTx, validateTxBasic } from "../../chain/tx.ts";
import type { RpcContext } from "../../rpc/context.ts";
import { currentEpoch } from "../../rpc/json.ts";
import { dealJson, orderJson, placementJson, providerJson } from "./json.ts";
import { defineMethod, type MethodTable } from "../../rpc/table.ts";
import { TxErrorCode } from "../../chain/tx.ts";
import { StorageErrorCode } from "./storage.ts";
import { hex32, address, decimal, u64Param } from "../../rpc/methods.ts";

export const StorageRpcErrorCode = {
  /** proof_submitStorage with a transaction whose operation is not storage.proof. */
  NOT_A_STORAGE_PROOF: "NOT_A_STORAGE_PROOF",
  /** a cursor that is not the id/key a previous page returned */
  BAD_CURSOR: "BAD_CURSOR",
} as const;

/** Hard cap of every storage list (the same as tx_listByAddress and paych_list). */
export const MAX_STORAGE_PAGE = 100;

export const epochParam = u64Param;
const limit = z.int().min(1).max(MAX_STORAGE_PAGE).default(20);

export const providerSchema = z.object({
  address: z.string(), kind: z.enum(["storage", "bandwidth"]), status: z.enum(["active", "exiting", "exited"]),
  collateral: decimal, locked: decimal, freeCollateral: decimal, capacity: decimal, used: decimal, multiaddr: z.string(),
  registeredAt: z.number(), activeDeals: z.number(), banned: z.boolean(), bannedUntil: z.number(), strikes: z.number(), reputationBps: z.number(),
  reputation: z.array(z.object({ epoch: z.number(), made: z.number(), due: z.number() })),
  /** exiting: the last epoch of its unbonding (collateral back at its end, slashable until then); null otherwise */
  releaseEpoch: z.number().nullable(),
});
const dealSchema = z.object({
  id: z.string(), client: z.string(), provider: z.string(), root: z.string(), size: decimal, chunkSize: z.number(), chunkCount: decimal,
  pricePerEpoch: decimal, durationEpochs: z.number(), collateral: decimal, collateralLeft: decimal, escrow: decimal, createdAt: z.number(),
  startEpoch: z.number(), challenged: z.number(), misses: z.number(), lastProvenEpoch: z.number().nullable(),
  status: z.enum(["active", "completed", "failed"]), endedAt: z.number().nullable(), order: z.string().nullable(), network: z.boolean(),
});

const placementSchema = z.object({
  provider: z.string(), epoch: z.number(), deadline: z.number(), deadlineHeight: z.number(), status: z.enum(["pending", "accepted", "expired", "declined"]),
  deal: z.string().nullable(),
});
const orderSchema = z.object({
  id: z.string(), client: z.string(), root: z.string(), size: decimal, chunkSize: z.number(), pricePerEpoch: decimal, durationEpochs: z.number(),
  replicas: z.number(), escrow: decimal, bond: decimal, failureCharge: decimal, burned: decimal, dropped: z.number(), createdAt: z.number(),
  firstPlacementEpoch: z.number(), closeEpoch: z.number(),
  status: z.enum(["open", "filled", "expired"]), accepted: z.number(), pending: z.number(), placements: z.array(placementSchema), deals: z.array(z.string()),
});

const PROVIDER_KINDS = { storage: ProviderKind.STORAGE, bandwidth: ProviderKind.BANDWIDTH } as const;

export const storageMethods = {
  provider_get: defineMethod({
    description:
      "A registered (or exited) provider at the head: collateral (free and locked), capacity, status, ban, reputation (bps), and pendingPlacements: " +
      "the order replicas placed on it that it has not accepted or declined yet (storage_getPlacements lists them). Null if it never registered.",
    params: z.object({ address }),
    result: providerSchema.extend({ pendingPlacements: z.number() }).nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const key = fromAddress(p.address);
      const pr = readProvider(state, key);
      return pr ? { ...providerJson(pr, currentEpoch(ctx.store.head.height, ctx.params), ctx.params), pendingPlacements: pendingPlacementsOf(state, key).length } : null;
    },
  }),

  provider_list: defineMethod({
    description:
      `Providers at the head in public-key order, optionally of one kind, exited ones only with includeExited; at most ${MAX_STORAGE_PAGE} a page. ` +
      "The cursor is the hex public key nextCursor gave.",
    params: z.object({ kind: z.enum(["storage", "bandwidth"]).optional(), includeExited: z.boolean().default(false), cursor: hex32.optional(), limit }),
    result: z.object({ providers: z.array(providerSchema), nextCursor: z.string().nullable() }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const epoch = currentEpoch(ctx.store.head.height, ctx.params);
      const after = p.cursor?.toLowerCase();
      const out = [];
      let nextCursor: string | null = null;
      // the key list is sorted by public key, so hex order is list order
      for (const key of readKeyList(state, StorageKey.providers)) {
        const hex = toHex(key);
        if (after !== undefined && hex <= after) continue;
        const pr = readProvider(state, key)!;
        if (p.kind !== undefined && pr.kind !== PROVIDER_KINDS[p.kind]) continue;
        if (!p.includeExited && pr.status === 2) continue;
        if (out.length === p.limit) {
          nextCursor = toHex(out[out.length - 1]!.key);
          break;
        }
        out.push(pr);
      }
      return { providers: out.map((pr) => providerJson(pr, epoch, ctx.params)), nextCursor };
    },
  }),

  storage_getDeal: defineMethod({
    description:
      "A storage deal by id (active, completed or failed): terms, escrow and collateral left, epochs challenged, misses, last proven epoch. " +
      "A network deal names its order and carries its placement (the draw that put the replica on this provider: epoch drawn, acceptance deadline " +
      "and its last height); a direct deal has order and placement null. Null if unknown.",
    params: z.object({ id: hex32 }),
    result: dealSchema.extend({ placement: placementSchema.nullable() }).nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const d = readDeal(state, fromHex(p.id));
      if (!d) return null;
      // the order record is kept after it closes: a network deal always finds its placement
      const placement = d.order === null ? undefined : readOrder(state, d.order)?.placements.find((x) => x.deal !== null && equalBytes(x.deal, d.id));
      return { ...dealJson(d), placement: placement ? placementJson(placement, ctx.params) : null };
    },
  }),

  storage_listDeals: defineMethod({
    description:
      `Storage deals of a client or of a provider (at most one of them; neither: every active deal), in id order, at most ${MAX_STORAGE_PAGE} a page; ` +
      "activeOnly leaves out ended deals. Pass nextCursor back as cursor.",
    params: z
      .object({ client: address.optional(), provider: address.optional(), activeOnly: z.boolean().default(false), cursor: hex32.optional(), limit })
      .refine((p) => p.client === undefined || p.provider === undefined, "give at most one of client and provider"),
    result: z.object({ deals: z.array(dealSchema), nextCursor: z.string().nullable() }),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const deals = [];
      let after = p.cursor !== undefined ? fromHex(p.cursor) : undefined;
      if (p.client === undefined && p.provider === undefined) {
        // every active deal: the state's sorted list
        const ids = readKeyList(state, StorageKey.activeDeals).filter((id) => after === undefined || toHex(id) > toHex(after));
        for (const id of ids.slice(0, p.limit)) deals.push(dealJson(readDeal(state, id)!));
        return { deals, nextCursor: ids.length > p.limit ? deals[deals.length - 1]!.id : null };
      }
      const who = p.client !== undefined ? { code: DEALS_BY_CLIENT, key: fromAddress(p.client) } : { code: DEALS_BY_PROVIDER, key: fromAddress(p.provider!) };
      // activeOnly filters after the index: scan index pages until the page is full or the index ends
      let more = true;
      while (deals.length < p.limit && more) {
        const ids = await ctx.store.listIndex(who.code, who.key, { ...(after ? { after } : {}), limit: p.limit, idLength: 32 });
        more = ids.length === p.limit;
        for (const id of ids) {
          after = id;
          const d = readDeal(state, id);
          if (!d || (p.activeOnly && d.status !== DealStatus.ACTIVE)) continue;
          deals.push(dealJson(d));
          if (deals.length === p.limit) break;
        }
      }
      // a full page may have more after it (the next page may then be empty, as with paych_list)
      return { deals, nextCursor: deals.length === p.limit ? deals[deals.length - 1]!.id : null };
    },
  }),

  storage_getOrder: defineMethod({
    description:
      "A storage order by id (the hash of its storage.order): terms, escrow still held, placement bond left (each declined placement burns failureCharge " +
      "of it; burned so far; replicas dropped once it was spent), status (open, filled, expired), the epochs its placements are drawn in " +
      "(firstPlacementEpoch to closeEpoch), every placement in draw order (provider, epoch drawn, deadline epoch and its last height, status, network deal) " +
      "and the deals of its accepted replicas. Null if unknown.",
    params: z.object({ id: hex32 }),
    result: orderSchema.nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const o = readOrder(ctx.headState(), fromHex(p.id));
      return o ? orderJson(o, ctx.params) : null;
    },
  }),

  storage_listOrders: defineMethod({
    description:
      `Storage orders of a client (every one it posted), or without client every open order, in id order, at most ${MAX_STORAGE_PAGE} a page; ` +
      "openOnly leaves out filled and expired ones. Pass nextCursor back as cursor.",
    params: z.object({ client: address.optional(), openOnly: z.boolean().default(false), cursor: hex32.optional(), limit }),
    result: z.object({ orders: z.array(orderSchema), nextCursor: z.string().nullable() }),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const orders = [];
      let after = p.cursor !== undefined ? fromHex(p.cursor) : undefined;
      if (p.client === undefined) {
        const ids = readKeyList(state, StorageKey.openOrders).filter((id) => after === undefined || toHex(id) > toHex(after));
        for (const id of ids.slice(0, p.limit)) orders.push(orderJson(readOrder(state, id)!, ctx.params));
        return { orders, nextCursor: ids.length > p.limit ? orders[orders.length - 1]!.id : null };
      }
      const client = fromAddress(p.client);
      let more = true;
      while (orders.length < p.limit && more) {
        const ids = await ctx.store.listIndex(ORDERS_BY_CLIENT, client, { ...(after ? { after } : {}), limit: p.limit, idLength: 32 });
        more = ids.length === p.limit;
        for (const id of ids) {
          after = id;
          const o = readOrder(state, id);
          if (!o || (p.openOnly && o.status !== OrderStatus.OPEN)) continue;
          orders.push(orderJson(o, ctx.params));
          if (orders.length === p.limit) break;
        }
      }
      return { orders, nextCursor: orders.length === p.limit ? orders[orders.length - 1]!.id : null };
    },
  }),

  storage_getPlacements: defineMethod({
    description:
      "The pending placements of a provider, in order id order: the replicas the network drew onto it that it must fetch from the client, check against the " +
      "root and accept (storage.accept) by the end of epoch `deadline` (its last block is deadlineHeight), or decline (storage.decline). One left pending " +
      "expires as a missed service epoch. Also the current epoch and the head height.",
    params: z.object({ provider: address }),
    result: z.object({
      provider: z.string(), epoch: z.number(), headHeight: z.number(),
      placements: z.array(z.object({
        order: z.string(), client: z.string(), root: z.string(), size: decimal, chunkSize: z.number(), pricePerEpoch: decimal, durationEpochs: z.number(),
        epoch: z.number(), deadline: z.number(), deadlineHeight: z.number(),
      })),
    }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const head = ctx.store.head.height;
      return {
        provider: p.provider, epoch: Number(currentEpoch(head, ctx.params)), headHeight: Number(head),
        placements: pendingPlacementsOf(ctx.headState(), fromAddress(p.provider)).map(({ order: o, placement: pl }) => ({
          order: toHex(o.id), client: toAddress(o.client), root: toHex(o.root), size: o.size.toString(), chunkSize: o.chunkSize,
          pricePerEpoch: o.pricePerEpoch.toString(), durationEpochs: Number(o.durationEpochs), epoch: Number(pl.epoch), deadline: Number(pl.deadline),
          deadlineHeight: Number(lastHeightOfEpoch(pl.deadline, ctx.params.epochLength)),
        })),
      };
    },
  }),

  storage_getChallenges: defineMethod({
    description:
      "The challenges of a provider's active deals in an epoch (default: the current one, the epoch of the next block): the epoch seed, the proof window " +
      "(heights whose blocks take proofs for it), and per deal the chunk indices to prove, in proof order, and whether it is proven. " +
      "`known` is false when the seed is not known (a past or future epoch, or the current one before its first block).",
    params: z.object({ provider: address, epoch: epochParam.optional() }),
    result: z.object({
      epoch: z.number(), known: z.boolean(), seed: z.string().nullable(), headHeight: z.number(),
      window: z.object({ from: z.number(), to: z.number() }), firstHeight: z.number(), challengesPerDeal: z.number(),
      challenges: z.array(z.object({ dealId: z.string(), chunkCount: decimal, indices: z.array(decimal), proven: z.boolean() })),
    }),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      const state = ctx.headState();
      const head = ctx.store.head.height;
      const epoch = p.epoch ?? currentEpoch(head, ctx.params);
      const challenges = challengesFor(state, fromAddress(p.provider), epoch, ctx.params);
      const seed = epochSeed(state, epoch);
      const window = proofWindow(epoch, ctx.params.epochLength);
      return {
        epoch: Number(epoch), known: challenges !== undefined, seed: seed ? toHex(seed) : null, headHeight: Number(head),
        window: { from: Number(window.from), to: Number(window.to) }, firstHeight: Number(firstHeightOfEpoch(epoch, ctx.params.epochLength)),
        challengesPerDeal: ctx.params.challengesPerDeal,
        challenges: (challenges ?? []).map((c) => ({ dealId: toHex(c.deal), chunkCount: c.chunkCount.toString(), indices: c.indices.map(String), proven: c.proven })),
      };
    },
  }),

  proof_submitStorage: defineMethod({
    description:
      "Submits a signed storage.proof transaction (hex of its CBOR envelope) to the mempool, after checking it against the head state as the next block " +
      "would (STORAGE_* codes: late, wrong epoch, wrong chunk, bad path, ...); the node gossips it. Any other operation: NOT_A_STORAGE_PROOF.",
    params: z.object({ tx: z.string().regex(/^([0-9a-fA-F]{2})+$/, "must be hex bytes").max(2 * 1024 * 1024) }),
    result: z.object({ hash: z.string(), deal: z.string(), epoch: z.number() }),
    permission: "write",
    errors: [...Object.values(TxErrorCode), ...Object.values(StorageErrorCode), ...Object.values(StorageRpcErrorCode)],
    handler: (p, ctx: RpcContext) => {
      const bytes = fromHex(p.tx);
      const tx = decodeTx(bytes);
      if (tx.op.type !== "storage.proof") {
        throw new CodedError(StorageRpcErrorCode.NOT_A_STORAGE_PROOF, `proof_submitStorage takes storage.proof transactions, not ${tx.op.type}; use tx_send`, { op: tx.op.type });
      }
      // stateless checks (signature included) before the stateful ones, then the chain's own rule on the
      // head state, so a doomed proof is refused with its reason instead of failing in a block
      validateTxBasic(tx, ctx.chainId);
      checkStorageProof(ctx.headState(), tx.sender, tx.op, ctx.store.head.height + 1n, ctx.params);
      const admitted = ctx.submitTx(bytes);
      return { hash: toHex(admitted.hash), deal: toHex(tx.op.deal), epoch: Number(tx.op.epoch) };
    },
  }),

} satisfies MethodTable<RpcContext>;

type StorageMethods = typeof storageMethods;
declare module "../../rpc/methods.ts" {
  interface Methods extends StorageMethods {}
}
