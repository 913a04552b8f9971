/**
 * The node's JSON-RPC method table (docs/rpc-guide.md): one entry per method with its zod
 * params and result schemas, permission tier and stateless handler.
 */
import { z } from "zod";
import { equalBytes, fromHex, toHex } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { fromAddress, isAddress, toAddress } from "../primitives/keys.ts";
import { StateKey, type ChainState } from "../chain/state.ts";
import { encodeStateProof } from "../chain/smt.ts";
import type { RpcContext } from "./context.ts";
import { blockJsonText, evidenceJson, headerJson, receiptJson, txJson } from "./json.ts";
import { accountView, accountViewText } from "./views.ts";
import { defineMethod, JsonText, type MethodTable } from "./table.ts";
import type { Block } from "../chain/block.ts";
import { TxErrorCode } from "../chain/tx.ts";
import { MempoolErrorCode } from "../chain/mempool.ts";
import { StoreErrorCode } from "../chain/store.ts";

/** chain_getHead's answer per store: the head block's header as JSON text. */
const headTexts = new WeakMap<object, { height: bigint; hash: Uint8Array; text: JsonText<z.input<typeof headerSchema>> }>();
function headText(store: object, header: Block["header"], hash: Uint8Array): JsonText<z.input<typeof headerSchema>> {
  const text = new JsonText<z.input<typeof headerSchema>>(JSON.stringify(headerJson(header, hash)));
  headTexts.set(store, { height: header.height, hash, text });
  return text;
}

/**
 * state_getAccount's params in their usual form, `{ address }` with `proof` a boolean or absent, as
 * its schema parses them; anything else (a height, an unknown key, a bad value) is left to the schema.
 */
export function accountParams(input: Record<string, unknown>): { address: string; proof: boolean } | undefined {
  // for-in sees every key the schema's unknown-key check can see (and inherited enumerable ones too)
  for (const k in input) if (k !== "address" && k !== "proof") return undefined;
  const a = input["address"];
  const proof = input["proof"];
  if (typeof a !== "string" || (proof !== undefined && typeof proof !== "boolean") || !isAddress(a)) return undefined;
  return { address: a, proof: proof ?? false };
}

/** state_getAccount's answer at `state`: the account's text, or with `proof` its view and proof. */
function accountAnswer(state: ChainState, p: { readonly address: string; readonly proof: boolean }) {
  return p.proof ? { ...accountView(state, p.address), proof: toHex(encodeStateProof(state.prove(StateKey.account(fromAddress(p.address))))) } : accountViewText(state, p.address);
}

export const RpcAppErrorCode = {
  NOT_FOUND: "NOT_FOUND",
  BAD_CURSOR: "BAD_CURSOR",
  /** paych_redeem on a node started without a service key */
  NO_SERVICE_KEY: "NO_SERVICE_KEY",
  /** paych_redeem for a channel this node holds no voucher for */
  NO_VOUCHER: "NO_VOUCHER",
  /** net_* on a node running without its p2p layer */
  NO_NETWORK: "NO_NETWORK",
} as const;

/**
 * Refuses a height below the store's base (a node installed by state sync keeps no blocks below
 * the snapshot's height): STORE_BLOCK_PRUNED, rather than a null that reads as "no such block".
 */
function requireStored(ctx: RpcContext, h: bigint): void {
  const base = ctx.store.base;
  if (h >= 1n && h < base) {
    throw new CodedError(StoreErrorCode.BLOCK_PRUNED, `block ${h} is not stored here: this node was installed by state sync at height ${base} and keeps blocks from there on`, {
      height: Number(h),
      base: Number(base),
    });
  }
}

function requireNetwork(ctx: RpcContext): NonNullable<RpcContext["network"]> {
  if (!ctx.network) throw new CodedError(RpcAppErrorCode.NO_NETWORK, "this node runs without a p2p layer");
  return ctx.network;
}

export const hex32 = z.string().regex(/^[0-9a-fA-F]{64}$/, "must be 32 bytes of hex");
export const address = z.string().refine(isAddress, "must be a cc1... address");
export const decimal = z.string().regex(/^(0|[1-9][0-9]*)$/);
/** A height or epoch: a number, or a decimal string for values past 2^53; parsed to a bigint. */
export const u64Param = z.union([z.int().min(0), z.string().regex(/^(0|[1-9][0-9]{0,18})$/)]).transform((v) => BigInt(v));
const height = u64Param;

const headerSchema = z.object({
  hash: z.string(), height: z.number(), time: z.number(), timeIso: z.string(), chainId: z.string(), version: z.number(),
  parentHash: z.string(), proposer: z.string(), txRoot: z.string(), evidenceRoot: z.string(), receiptsRoot: z.string(), stateRoot: z.string(),
  lastCommitHash: z.string(), validatorsHash: z.string(), seedSig: z.string(),
});
/**
 * A transaction; `op` is `{ type, ...the op's fields }` as its module renders it (chain/registry.ts
 * OpSpec.json), or `{ type: "op#N", code }` for an op this version does not know.
 */
const txSchema = z.object({
  hash: z.string(), sender: z.string(), nonce: decimal, fee: decimal,
  op: z.object({ type: z.string() }).catchall(z.unknown()),
  signature: z.string(), size: z.number(),
});
const receiptSchema = z.object({ ok: z.boolean(), code: z.string().nullable(), fee: decimal });
const commitSchema = z.object({
  height: z.number(), round: z.number(), blockHash: z.string(),
  signatures: z.array(z.object({ validatorIndex: z.number(), signature: z.string() })),
});
/** An evidence: `{ kind, ...its fields }` as its module renders it (chain/registry.ts EvidenceSpec.json). */
const evidenceSchema = z.object({ kind: z.string() }).catchall(z.unknown());
const blockSchema = z.object({
  header: headerSchema,
  txs: z.union([z.array(z.string()), z.array(txSchema)]),
  lastCommit: commitSchema.nullable(),
  evidence: z.array(evidenceSchema),
  size: z.number(),
});
const voteTallySchema = z.object({
  power: z.string(),
  voters: z.array(z.number()).readonly(),
  byValue: z.array(z.object({ blockHash: z.string().nullable(), power: z.string() })).readonly(),
});
const accountSchema = z.object({
  address: z.string(), balance: decimal, nonce: decimal, staked: decimal,
  unbonding: z.array(z.object({ amount: decimal, releaseHeight: z.number() })),
});

export const MAX_PAGE = 100;

/** Cursor for tx_listByAddress: "height:index" of the last entry of the previous page. */
function parseCursor(c: string): { height: bigint; index: number } {
  const m = /^([0-9]{1,19}):([0-9]{1,10})$/.exec(c);
  if (!m) throw new CodedError(RpcAppErrorCode.BAD_CURSOR, "cursor must be \"height:index\" from a previous page");
  return { height: BigInt(m[1]!), index: Number(m[2]) };
}

export const coreMethods = {
  node_status: defineMethod({
    description: "Chain id, head, this node's validator address and consensus position.",
    params: z.object({}),
    result: z.object({
      chainId: z.string(), genesisHash: z.string(), nodeVersion: z.string(),
      head: z.object({ height: z.number(), hash: z.string(), time: z.number().nullable() }),
      /** the oldest stored block: 1, or the snapshot height of a node installed by state sync */
      base: z.number(),
      validator: z.string().nullable(),
      consensus: z.object({ engine: z.string(), height: z.number(), round: z.number(), step: z.number().nullable() }),
      mempool: z.object({ size: z.number(), bytes: z.number() }),
      syncing: z.boolean(),
      error: z.string().nullable(),
      uptimeMs: z.number(),
    }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => {
      const s = ctx.status();
      const head = ctx.store.head;
      return {
        chainId: ctx.chainId,
        genesisHash: toHex(ctx.genesisHash),
        nodeVersion: ctx.nodeVersion,
        head: { height: Number(head.height), hash: toHex(head.hash), time: head.height === 0n ? null : Number(ctx.headState().meta().time) },
        base: Number(ctx.store.base),
        validator: s.validator ? toAddress(s.validator) : null,
        consensus: { engine: s.consensus.engine, height: Number(s.consensus.height), round: s.consensus.round, step: s.consensus.step },
        mempool: { size: ctx.mempool.size, bytes: ctx.mempool.bytes },
        syncing: ctx.network?.sync().syncing ?? false,
        error: s.failure,
        uptimeMs: Date.now() - s.startedAt,
      };
    },
  }),

  net_info: defineMethod({
    description: "This node's libp2p peer id, listen addresses (with /p2p/<id>), bootstrap peers and gossip topics.",
    params: z.object({}),
    result: z.object({ peerId: z.string(), listen: z.array(z.string()), bootstrap: z.array(z.string()), topics: z.array(z.string()), peerCount: z.number() }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => {
      const net = requireNetwork(ctx);
      return { ...net.info(), peerCount: net.peers().length };
    },
  }),

  net_peers: defineMethod({
    description: "Connected peers: id, remote addresses, direction, penalty points (a peer is dropped and banned at 100), last reported head; and the banned peers.",
    params: z.object({}),
    result: z.object({
      peers: z.array(z.object({ peerId: z.string(), addresses: z.array(z.string()), direction: z.enum(["inbound", "outbound"]), penalty: z.number(), bootstrap: z.boolean(), height: z.number().nullable() })),
      banned: z.array(z.object({ peerId: z.string(), until: z.number(), offences: z.number() })),
    }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => {
      const net = requireNetwork(ctx);
      return { peers: net.peers().map((p) => ({ ...p, height: p.height === null ? null : Number(p.height) })), banned: net.banned() };
    },
  }),

  node_syncing: defineMethod({
    description: "Whether the node is catching up from peers: its head, the highest head a peer reported, blocks fetched by sync since start.",
    params: z.object({}),
    result: z.object({ syncing: z.boolean(), headHeight: z.number(), highestPeerHeight: z.number(), blocksSynced: z.number() }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => {
      const s = requireNetwork(ctx).sync();
      return { syncing: s.syncing, headHeight: Number(s.headHeight), highestPeerHeight: Number(s.highestPeerHeight), blocksSynced: s.blocksSynced };
    },
  }),

  chain_getHead: defineMethod({
    description: "The header of the latest finalized block (null before the first block).",
    params: z.object({}),
    result: headerSchema.nullable(),
    permission: "read",
    // The hottest read: answered synchronously from the header's text, made once per head block
    // (no promise, no store read, no serialization); a head block not in the store's recent cache
    // is read once.
    handler: (_p, ctx: RpcContext) => {
      const head = ctx.store.head;
      if (head.height === 0n) return null;
      const cached = headTexts.get(ctx.store);
      if (cached !== undefined && cached.height === head.height && equalBytes(cached.hash, head.hash)) return cached.text;
      const recent = ctx.store.recentBlock(head.height);
      if (recent !== undefined) return headText(ctx.store, recent.header, recent.hash);
      return ctx.store.getBlock(head.height).then((b) => (b ? headText(ctx.store, b.header, b.hash) : null));
    },
  }),

  chain_getBlock: defineMethod({
    description: "A finalized block by height or by hash (exactly one); `full` includes whole transactions. Null if unknown.",
    params: z
      .object({ height: height.optional(), hash: hex32.optional(), full: z.boolean().default(false) })
      .refine((p) => (p.height === undefined) !== (p.hash === undefined), "give exactly one of height and hash"),
    result: blockSchema.nullable(),
    permission: "read",
    handler: (p, ctx: RpcContext) => {
      // A recent block by height (what explorers and wallets poll) is answered from memory at once;
      // anything else is read from the store.
      const recent = p.height !== undefined ? ctx.store.recentBlock(p.height) : undefined;
      if (recent !== undefined) return blockJsonText(recent, p.full);
      if (p.height !== undefined) requireStored(ctx, p.height);
      const read = p.height !== undefined ? ctx.store.getBlock(p.height) : ctx.store.getBlockByHash(fromHex(p.hash!));
      return read.then((b) => (b ? blockJsonText(b, p.full) : null));
    },
  }),

  chain_getCommit: defineMethod({
    description: "The +2/3 precommit signatures that finalized the block at `height`. Null if unknown.",
    params: z.object({ height }),
    result: commitSchema.nullable(),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      requireStored(ctx, p.height);
      const c = p.height <= ctx.store.head.height ? await ctx.store.getCommit(p.height) : undefined;
      return c ? { height: Number(c.height), round: c.round, blockHash: toHex(c.blockHash), signatures: c.signatures.map((s) => ({ validatorIndex: s.validatorIndex, signature: toHex(s.signature) })) } : null;
    },
  }),

  chain_getValidators: defineMethod({
    description:
      "The validator set of a height (default: the next height, head + 1): the set that produced that block and signed its commit. " +
      "Heights up to head + 2 are known (staking changes in block h take effect at h + 2). Null otherwise.",
    params: z.object({ height: height.optional() }),
    result: z
      .object({
        height: z.number(),
        totalPower: decimal,
        validators: z.array(z.object({ index: z.number(), address: z.string(), name: z.string(), power: decimal, priority: z.string() })),
      })
      .nullable(),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const head = ctx.store.head.height;
      const h = p.height ?? head + 1n;
      const state = ctx.headState();
      requireStored(ctx, h);
      const set = h === head + 1n ? state.validators() : h === head + 2n ? state.nextValidators() : h >= 1n && h <= head ? await ctx.store.getValidators(h) : undefined;
      if (!set) return null;
      let total = 0n;
      for (const v of set) total += v.power;
      return {
        height: Number(h),
        totalPower: total.toString(),
        validators: set.map((v, index) => ({ index, address: toAddress(v.publicKey), name: v.name, power: v.power.toString(), priority: v.priority.toString() })),
      };
    },
  }),

  chain_getEvidence: defineMethod({
    description: "Evidence included in the block at `height`, or, without a height, the evidence this node holds for inclusion.",
    params: z.object({ height: height.optional() }),
    result: z.object({ height: z.number().nullable(), evidence: z.array(evidenceSchema) }).nullable(),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      if (p.height === undefined) return { height: null, evidence: ctx.evidencePool.list().map(evidenceJson) };
      requireStored(ctx, p.height);
      const b = await ctx.store.getBlock(p.height);
      return b ? { height: Number(p.height), evidence: b.evidence.map(evidenceJson) } : null;
    },
  }),

  consensus_getState: defineMethod({
    description: "The consensus engine's view of the height in progress: round, step, lock, valid value and vote tallies per round.",
    params: z.object({}),
    result: z.object({
      engine: z.string(), height: z.number(), round: z.number(), step: z.string(), totalPower: z.string(),
      self: z.number().nullable(), proposer: z.number().nullable(),
      lockedRound: z.number(), lockedBlock: z.string().nullable(), validRound: z.number(), validBlock: z.string().nullable(),
      decidedBlock: z.string().nullable(),
      rounds: z.array(z.object({
        round: z.number(),
        proposal: z.object({ blockHash: z.string(), polRound: z.number() }).nullable(),
        prevotes: voteTallySchema,
        precommits: voteTallySchema,
      })).readonly(),
    }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => ctx.consensusState(),
  }),

  chain_getParams: defineMethod({
    description:
      "The chain's parameters, fixed by genesis: fees, block limits, epoch length, staking (minValidatorStake, unbonding, slashing, jail), " +
      "emission and its split, storage and bandwidth rules. Amounts in base units as decimal strings (1 CLC = 10^9 units), the rest as numbers.",
    params: z.object({}),
    result: z.object({ chainId: z.string(), params: z.record(z.string(), z.union([z.number(), decimal])) }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => ({
      chainId: ctx.chainId,
      params: Object.fromEntries(Object.entries(ctx.params).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : (v as number)])),
    }),
  }),

  chain_getSupply: defineMethod({
    description: "Supply at the head: genesis supply, minted, burned and the total (genesis + minted - burned).",
    params: z.object({}),
    result: z.object({ height: z.number(), genesisSupply: decimal, minted: decimal, burned: decimal, total: decimal }),
    permission: "read",
    handler: (_p, ctx: RpcContext) => {
      const m = ctx.headState().meta();
      return {
        height: Number(m.height),
        genesisSupply: m.genesisSupply.toString(),
        minted: m.minted.toString(),
        burned: m.burned.toString(),
        total: (m.genesisSupply + m.minted - m.burned).toString(),
      };
    },
  }),

  state_getAccount: defineMethod({
    description:
      "An account at the head, or at a recent `height` (the node keeps the state of its last `stateHistory` heights; an older one is refused " +
      "with STORE_STATE_PRUNED): zeros if it was never funded; `proof` adds a state proof (hex CBOR) against `stateRoot`.",
    params: z.object({ address, proof: z.boolean().default(false), height: height.optional() }),
    result: accountSchema.extend({ height: z.number(), stateRoot: z.string(), proof: z.string().optional() }),
    permission: "read",
    fastParams: accountParams,
    handler: (p, ctx: RpcContext) => {
      const head = ctx.headState();
      // the head synchronously (the hot path); an older height once the store has opened it
      return p.height === undefined || p.height === head.meta().height ? accountAnswer(head, p) : ctx.store.stateAt(p.height).then((state) => accountAnswer(state, p));
    },
  }),

  tx_send: defineMethod({
    description: "Submits a signed transaction (hex of its CBOR envelope) to the mempool. Returns its hash. When the node takes no more transactions for now it answers BUSY (-32006): nothing was taken, retry later.",
    params: z.object({ tx: z.string().regex(/^([0-9a-fA-F]{2})+$/, "must be hex bytes").max(2 * 1024 * 1024) }),
    result: z.object({ hash: z.string() }),
    permission: "write",
    errors: [...Object.values(TxErrorCode), ...Object.values(MempoolErrorCode)],
    busy: true,
    handler: async (p, ctx: RpcContext) => ({ hash: toHex((ctx.sendTx ? await ctx.sendTx(fromHex(p.tx)) : ctx.submitTx(fromHex(p.tx))).hash) }),
  }),

  tx_get: defineMethod({
    description: "A transaction's status: finalized (with block, index and receipt), pending (in the mempool) or unknown.",
    params: z.object({ hash: hex32 }),
    result: z.object({
      status: z.enum(["finalized", "pending", "unknown"]),
      hash: z.string(),
      height: z.number().optional(),
      index: z.number().optional(),
      blockHash: z.string().optional(),
      time: z.number().optional(),
      tx: txSchema.optional(),
      receipt: receiptSchema.optional(),
    }),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const hash = fromHex(p.hash);
      const stored = await ctx.store.getTx(hash);
      if (stored) {
        return {
          status: "finalized" as const, hash: toHex(hash), height: Number(stored.height), index: stored.index,
          blockHash: toHex(stored.blockHash), time: Number(stored.time), tx: txJson(stored.tx), receipt: receiptJson(stored.receipt),
        };
      }
      const pending = ctx.mempool.get(hash);
      if (pending) return { status: "pending" as const, hash: toHex(hash), tx: txJson(pending) };
      return { status: "unknown" as const, hash: toHex(hash) };
    },
  }),

  tx_listByAddress: defineMethod({
    description: `Finalized transactions that touch an address, newest first, at most ${MAX_PAGE} a page; pass nextCursor back as cursor.`,
    params: z.object({ address, cursor: z.string().max(32).optional(), limit: z.int().min(1).max(MAX_PAGE).default(20) }),
    result: z.object({
      txs: z.array(z.object({ hash: z.string(), height: z.number(), index: z.number(), tx: txSchema, receipt: receiptSchema })),
      nextCursor: z.string().nullable(),
    }),
    permission: "read",
    handler: async (p, ctx: RpcContext) => {
      const before = p.cursor === undefined ? undefined : parseCursor(p.cursor);
      const entries = await ctx.store.listAccountTxs(fromAddress(p.address), { limit: p.limit, ...(before ? { before } : {}) });
      const txs = [];
      for (const e of entries) {
        const stored = await ctx.store.getTx(e.hash);
        if (!stored) continue;
        txs.push({ hash: toHex(e.hash), height: Number(e.height), index: e.index, tx: txJson(stored.tx), receipt: receiptJson(stored.receipt) });
      }
      const last = entries[entries.length - 1];
      return { txs, nextCursor: entries.length === p.limit && last ? `${last.height}:${last.index}` : null };
    },
  }),

} satisfies MethodTable<RpcContext>;

type CoreMethods = typeof coreMethods;
/**
 * The type of the node's whole method table: the core methods here and each module's, which the
 * module adds (`declare module "../../rpc/methods.ts" { interface Methods extends PaychMethods {} }`);
 * the typed client (rpc/client.ts) is checked against it. The table itself is assembled from the
 * module list (modules/rpc.ts).
 */
export interface Methods extends CoreMethods {}
