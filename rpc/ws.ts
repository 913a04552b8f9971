/**
 * JSON-RPC 2.0 over WebSocket (docs/rpc-guide.md), on the HTTP server's listener at GET /.
 *
 * Every method of the table works over a socket exactly as over HTTP: each text frame goes
 * through `dispatch` with the caller's permission tiers, resolved once from the upgrade
 * request (Authorization header, or `?token=` for clients that cannot set headers).
 *
 * Sockets add two methods, `chain_subscribe` and `chain_unsubscribe`; over HTTP they exist
 * only as stubs (`subscriptionMethodStubs`) answering -32601 with data `{ code: "WS_ONLY" }`.
 * Notifications are JSON-RPC notifications:
 *   {"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":id,"result":...}}
 * Topics, for each finalized block handed to `Subscriptions.publishBlock`:
 * - newHeads: the header JSON (rpc/json.ts headerJson);
 * - finalizedBlocks: the block JSON with tx hashes (blockJsonText(block, false), the text chain_getBlock answers with);
 * - addressTxs (address required): `{hash, height, index, receipt}` for each transaction whose
 *   participants (chain/tx.ts txParticipants) include the address;
 * - events: `{height, ...eventJson(event)}` for each ChainEvent of the block.
 *
 * Limits: at most `maxSubscriptions` per connection; incoming frames above `maxPayload` close
 * the socket (1009, by ws). A slow consumer is disconnected (1008) rather than buffered without
 * bound: when a send finds more than `maxBufferedBytes` already buffered for the socket, or when
 * a new block finds more than `maxQueued` earlier messages still not handed to the kernel.
 * At most `maxInFlight` requests of one socket run at once; extra frames answer -32005.
 * Each socket has a message rate limit, the HTTP route's per-client limit (`rateLimit`: `max`
 * frames per `timeWindowMs`, node/config.ts rpcRateLimit) as a token bucket: a frame over it is
 * answered -32005 without being dispatched (a batch is one frame, as it is one HTTP request), and
 * a client that keeps sending, another `max` frames beyond the limit at the same rate, is
 * disconnected (1008). `rateLimit: false` turns it off.
 * Both -32005 answers carry id null: the frame is refused before it is parsed.
 * Responses to concurrent requests on one socket may arrive in any order (match them by id).
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import fastifyWebsocket from "@fastify/websocket";
import type { WebSocket } from "ws";
import { z } from "zod";
import type { Block } from "../chain/block.ts";
import { fromAddress, isAddress, toAddress } from "../primitives/keys.ts";
import type { BlockResult } from "../chain/transition.ts";
import { txParticipants } from "../chain/tx.ts";
import { dispatch } from "./dispatch.ts";
import { RpcError, RpcErrorCode, type RpcErrorLogger } from "./errors.ts";
import { blockJsonText, eventJson, headerJson, receiptJson } from "./json.ts";
import { defineMethod, type MethodTable, type Permission } from "./table.ts";

export const TOPICS = ["newHeads", "finalizedBlocks", "addressTxs", "events"] as const;
export type Topic = (typeof TOPICS)[number];

export const WsErrorCode = {
  /** chain_subscribe / chain_unsubscribe called over HTTP. */
  WS_ONLY: "WS_ONLY",
  TOO_MANY_SUBSCRIPTIONS: "TOO_MANY_SUBSCRIPTIONS",
} as const;

/** Close code for policy violations (RFC 6455 section 7.4.1): slow consumers, clients flooding past the rate limit. */
export const CLOSE_POLICY = 1008;
/** Close code when the server goes away. */
export const CLOSE_GOING_AWAY = 1001;

export interface WsLimits {
  /** Largest incoming frame in bytes (default 1 MiB). */
  maxPayload: number;
  /** Subscriptions per connection (default 32). */
  maxSubscriptions: number;
  /** Bytes buffered for one socket beyond which it is disconnected (default 4 MiB). */
  maxBufferedBytes: number;
  /** Messages not yet written to the kernel beyond which a socket is disconnected at the next block (default 1,024). */
  maxQueued: number;
  /** Requests of one socket being handled at once; frames beyond it are answered -32005 (default 256). */
  maxInFlight: number;
}

export const defaultWsLimits: WsLimits = {
  maxPayload: 1024 * 1024,
  maxSubscriptions: 32,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxQueued: 1024,
  maxInFlight: 256,
};

interface Subscription {
  readonly id: string;
  readonly topic: Topic;
  /** addressTxs only: the normalized cc1 address. */
  readonly address?: string;
  readonly conn: Connection;
  /** `{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":"<id>","result":` */
  readonly prefix: string;
}

export interface Connection {
  readonly socket: WebSocket;
  readonly subs: Map<string, Subscription>;
  /** Messages handed to ws whose write callback has not fired yet. */
  queued: number;
  /** Frames being dispatched. */
  inFlight: number;
  closed: boolean;
}

/** Frames per window and connection (the same shape as rpc/server.ts RpcRateLimit). */
export interface WsRateLimit {
  max: number;
  timeWindowMs: number;
}

/**
 * A token bucket: at most `capacity` tokens, refilled continuously at `capacity` per `windowMs`;
 * `take` spends one token if there is one. Starts full. `now` is a monotonic clock in ms.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(capacity: number, windowMs: number, now: () => number = () => performance.now()) {
    if (!(capacity > 0) || !(windowMs > 0)) throw new RangeError("token bucket capacity and window must be positive");
    this.#capacity = capacity;
    this.#perMs = capacity / windowMs;
    this.#now = now;
    this.#tokens = capacity;
    this.#at = now();
  }

  take(): boolean {
    const t = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (t - this.#at) * this.#perMs);
    this.#at = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

const subscribeParams = z
  .object({ topic: z.enum(TOPICS), address: z.string().refine(isAddress, "must be a cc1... address").optional() })
  .refine((p) => (p.topic === "addressTxs") === (p.address !== undefined), "address is required for addressTxs and only for it");
const unsubscribeParams = z.object({ subscription: z.string().max(64) });

/**
 * The publisher: holds every socket's subscriptions and fans finalized blocks out to them.
 * One per server; node/node.ts creates it and calls `publishBlock` from the driver's onCommit.
 */
export class Subscriptions {
  readonly limits: WsLimits;
  readonly #connections = new Set<Connection>();
  readonly #byTopic: Record<Exclude<Topic, "addressTxs">, Set<Subscription>> = {
    newHeads: new Set(),
    finalizedBlocks: new Set(),
    events: new Set(),
  };
  /** addressTxs subscriptions by normalized address. */
  readonly #byAddress = new Map<string, Set<Subscription>>();
  readonly #log: RpcErrorLogger | undefined;

  constructor(limits: Partial<WsLimits> = {}, log?: RpcErrorLogger) {
    this.limits = { ...defaultWsLimits, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`ws limit ${k} must be a positive integer`);
    }
    this.#log = log;
  }

  /** Open sockets. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Live subscriptions over every socket. */
  get subscriptions(): number {
    let n = 0;
    for (const c of this.#connections) n += c.subs.size;
    return n;
  }

  /** Fans one finalized block out to the subscribers of each topic. Never throws. */
  publishBlock(block: Block, result: Pick<BlockResult, "receipts" | "events">): void {
    if (this.#connections.size === 0) return;
    // Connections already holding too many unwritten messages are cut before this block.
    for (const c of this.#connections) {
      if (c.queued > this.limits.maxQueued) this.#kick(c, `slow consumer: more than ${this.limits.maxQueued} messages queued`);
    }
    const height = Number(block.header.height);
    try {
      if (this.#byTopic.newHeads.size > 0) {
        const json = JSON.stringify(headerJson(block.header, block.hash));
        for (const s of this.#byTopic.newHeads) this.#notify(s, json);
      }
      if (this.#byTopic.finalizedBlocks.size > 0) {
        const json = blockJsonText(block, false).text;
        for (const s of this.#byTopic.finalizedBlocks) this.#notify(s, json);
      }
      if (this.#byTopic.events.size > 0 && result.events.length > 0) {
        const jsons = result.events.map((e) => JSON.stringify({ height, ...eventJson(e) }));
        for (const s of this.#byTopic.events) for (const json of jsons) this.#notify(s, json);
      }
      if (this.#byAddress.size > 0) {
        block.txs.forEach((tx, index) => {
          let json: string | undefined;
          for (const p of txParticipants(tx)) {
            const subs = this.#byAddress.get(toAddress(p));
            if (subs === undefined) continue;
            const receipt = result.receipts[index];
            json ??= JSON.stringify({ hash: Buffer.from(tx.hash).toString("hex"), height, index, receipt: receipt ? receiptJson(receipt) : null });
            for (const s of subs) this.#notify(s, json);
          }
        });
      }
    } catch (err) {
      this.#log?.warn({ err, height }, "ws publish failed");
    }
  }

  /** Closes every socket (server shutdown); resolves once all are closed or after `graceMs`. */
  async closeAll(graceMs = 1000): Promise<void> {
    const conns = [...this.#connections];
    if (conns.length === 0) return;
    const closed = conns.map((c) => new Promise<void>((resolve) => (c.socket.readyState === c.socket.CLOSED ? resolve() : c.socket.once("close", () => resolve()))));
    for (const c of conns) {
      this.#drop(c);
      c.socket.close(CLOSE_GOING_AWAY, "server shutting down");
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closed), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const c of conns) if (c.socket.readyState !== c.socket.CLOSED) c.socket.terminate();
  }

  /** Registers a new socket; returns its per-connection method table additions. */
  attach<Ctx>(socket: WebSocket): { conn: Connection; methods: MethodTable<Ctx> } {
    const conn: Connection = { socket, subs: new Map(), queued: 0, inFlight: 0, closed: false };
    this.#connections.add(conn);
    socket.on("close", () => this.#drop(conn));
    const methods: MethodTable<Ctx> = {
      chain_subscribe: defineMethod({
        description: "WebSocket only: subscribes to a topic (newHeads, finalizedBlocks, addressTxs with an address, events); returns the subscription id.",
        params: subscribeParams,
        result: z.string(),
        permission: "read",
        handler: (p) => this.#subscribe(conn, p.topic, p.address),
      }),
      chain_unsubscribe: defineMethod({
        description: "WebSocket only: cancels a subscription of this connection; false if it does not exist.",
        params: unsubscribeParams,
        result: z.boolean(),
        permission: "read",
        handler: (p) => this.#unsubscribe(conn, p.subscription),
      }),
    };
    return { conn, methods };
  }

  /** Sends a response on `conn`, with the same buffer cap as notifications. */
  send(conn: Connection, text: string): void {
    this.#send(conn, text);
  }

  /** Disconnects a misbehaving client (1008, `reason`); nothing more is sent to it. */
  disconnect(conn: Connection, reason: string): void {
    this.#kick(conn, reason);
  }

  #subscribe(conn: Connection, topic: Topic, address: string | undefined): string {
    // A request still in flight when its socket closed must not leave a subscription behind.
    if (conn.closed) throw new RpcError(RpcErrorCode.SERVER_ERROR, "connection closed");
    if (conn.subs.size >= this.limits.maxSubscriptions) {
      throw new RpcError(RpcErrorCode.SERVER_ERROR, `at most ${this.limits.maxSubscriptions} subscriptions per connection`, {
        code: WsErrorCode.TOO_MANY_SUBSCRIPTIONS,
        limit: this.limits.maxSubscriptions,
      });
    }
    const id = randomBytes(16).toString("hex");
    const prefix = `{"jsonrpc":"2.0","method":"chain_subscription","params":{"subscription":${JSON.stringify(id)},"result":`;
    if (topic === "addressTxs") {
      const addr = toAddress(fromAddress(address!));
      const sub: Subscription = { id, topic, address: addr, conn, prefix };
      let set = this.#byAddress.get(addr);
      if (set === undefined) this.#byAddress.set(addr, (set = new Set()));
      set.add(sub);
      conn.subs.set(id, sub);
    } else {
      const sub: Subscription = { id, topic, conn, prefix };
      this.#byTopic[topic].add(sub);
      conn.subs.set(id, sub);
    }
    return id;
  }

  #unsubscribe(conn: Connection, id: string): boolean {
    const sub = conn.subs.get(id);
    if (sub === undefined) return false;
    this.#remove(sub);
    return true;
  }

  #remove(sub: Subscription): void {
    sub.conn.subs.delete(sub.id);
    if (sub.topic === "addressTxs") {
      const set = this.#byAddress.get(sub.address!);
      set?.delete(sub);
      if (set?.size === 0) this.#byAddress.delete(sub.address!);
    } else {
      this.#byTopic[sub.topic].delete(sub);
    }
  }

  #drop(conn: Connection): void {
    if (!this.#connections.delete(conn)) return;
    conn.closed = true;
    for (const sub of [...conn.subs.values()]) this.#remove(sub);
  }

  #notify(sub: Subscription, resultJson: string): void {
    this.#send(sub.conn, `${sub.prefix}${resultJson}}}`);
  }

  #send(conn: Connection, text: string): void {
    if (conn.closed) return;
    if (conn.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.#kick(conn, `slow consumer: more than ${this.limits.maxBufferedBytes} bytes buffered`);
      return;
    }
    conn.queued++;
    conn.socket.send(text, (err) => {
      conn.queued--;
      if (err && !conn.closed) this.#drop(conn);
    });
  }

  /** Disconnects a slow consumer or a flooder: no more messages; the close frame follows what is buffered. */
  #kick(conn: Connection, reason: string): void {
    if (conn.closed) return;
    this.#drop(conn);
    this.#log?.warn({ reason }, "ws consumer disconnected");
    conn.socket.close(CLOSE_POLICY, reason);
  }
}

/**
 * chain_subscribe / chain_unsubscribe for the HTTP table: they answer -32601 with data
 * `{ code: "WS_ONLY" }` (sockets replace them with working ones). Add them to the table given
 * to startRpcServer so rpc_discover lists them.
 */
export function subscriptionMethodStubs<Ctx>(): MethodTable<Ctx> {
  const wsOnly = (): never => {
    throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, "method available only over WebSocket", { code: WsErrorCode.WS_ONLY });
  };
  return {
    chain_subscribe: defineMethod({
      description: "WebSocket only: subscribes to a topic (newHeads, finalizedBlocks, addressTxs with an address, events); returns the subscription id.",
      params: subscribeParams,
      result: z.string(),
      permission: "read",
      handler: wsOnly,
    }),
    chain_unsubscribe: defineMethod({
      description: "WebSocket only: cancels a subscription of this connection; false if it does not exist.",
      params: unsubscribeParams,
      result: z.boolean(),
      permission: "read",
      handler: wsOnly,
    }),
  };
}

export interface WsRouteOptions<Ctx> {
  table: MethodTable<Ctx>;
  ctx: Ctx;
  subscriptions: Subscriptions;
  /** Permission tiers of an Authorization header value (undefined header: public); undefined = refused. */
  resolvePermissions(header: string | undefined): ReadonlySet<Permission> | undefined;
  maxBatch: number;
  checkResults: boolean;
  /** Frames per window and socket; false: no limit. */
  rateLimit: WsRateLimit | false;
  log?: RpcErrorLogger;
}

/**
 * Registers @fastify/websocket and the GET / upgrade route on `app` (before listen), in a plugin
 * context of their own: the plugin adds onRequest and onResponse hooks to every route of the
 * context it is registered in, and the JSON-RPC POST route has no use for them on each call.
 */
export async function registerWebSocketRoute<Ctx>(app: FastifyInstance, o: WsRouteOptions<Ctx>): Promise<void> {
  await app.register(async (child) => addWebSocketRoute(child, o));
}

async function addWebSocketRoute<Ctx>(app: FastifyInstance, o: WsRouteOptions<Ctx>): Promise<void> {
  const subs = o.subscriptions;
  await app.register(fastifyWebsocket, {
    options: { maxPayload: subs.limits.maxPayload, perMessageDeflate: false },
    preClose: (done) => {
      void subs.closeAll().then(() => done());
    },
  });
  const permissionsOf = (req: { headers: { authorization?: string | undefined }; url: string }): ReadonlySet<Permission> | undefined => {
    const query = new URL(req.url, "http://localhost").searchParams.get("token");
    const header = req.headers.authorization ?? (query !== null ? `Bearer ${query}` : undefined);
    return o.resolvePermissions(header);
  };
  app.get(
    "/",
    {
      websocket: true,
      // Refused before the upgrade: a wrong token gets a plain 401.
      preValidation: async (req, reply) => {
        if (permissionsOf(req) === undefined) {
          await reply.code(401).header("www-authenticate", "Bearer").send({ jsonrpc: "2.0", error: { code: RpcErrorCode.UNAUTHORIZED, message: "invalid authorization token" }, id: null });
        }
      },
    },
    (socket, req) => {
      const allowedPermissions = permissionsOf(req) ?? new Set<Permission>();
      const { conn, methods } = subs.attach<Ctx>(socket);
      const table: MethodTable<Ctx> = { ...o.table, ...methods };
      const dopts = { allowedPermissions, maxBatch: o.maxBatch, checkResults: o.checkResults, ...(o.log ? { log: o.log } : {}) };
      // `allowed`: frames within the limit; `overflow`: frames refused (answered) before the socket is cut.
      const limiter = o.rateLimit
        ? { ...o.rateLimit, allowed: new TokenBucket(o.rateLimit.max, o.rateLimit.timeWindowMs), overflow: new TokenBucket(o.rateLimit.max, o.rateLimit.timeWindowMs) }
        : undefined;
      socket.on("message", (data, isBinary) => {
        if (conn.closed) return;
        if (limiter && !limiter.allowed.take()) {
          if (!limiter.overflow.take()) {
            subs.disconnect(conn, `rate limit: kept sending beyond ${limiter.max} messages per ${limiter.timeWindowMs} ms`);
            return;
          }
          const info = { max: limiter.max, timeWindowMs: limiter.timeWindowMs };
          subs.send(conn, JSON.stringify({ jsonrpc: "2.0", error: { code: RpcErrorCode.RATE_LIMITED, message: "rate limited", data: info }, id: null }));
          return;
        }
        const text = isBinary ? "" : Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as Buffer).toString("utf8");
        if (conn.inFlight >= subs.limits.maxInFlight) {
          subs.send(conn, JSON.stringify({ jsonrpc: "2.0", error: { code: RpcErrorCode.RATE_LIMITED, message: `more than ${subs.limits.maxInFlight} requests in flight` }, id: null }));
          return;
        }
        conn.inFlight++;
        // dispatch answers every failure itself; a throw or rejection past it would be a bug,
        // logged and answered as an internal error rather than left to crash the process.
        void new Promise<string | undefined>((resolve) => resolve(dispatch(table, text, o.ctx, dopts))).then(
          (out) => {
            conn.inFlight--;
            if (out !== undefined) subs.send(conn, out);
          },
          (err: unknown) => {
            conn.inFlight--;
            o.log?.warn({ err }, "ws dispatch failed");
            subs.send(conn, JSON.stringify({ jsonrpc: "2.0", error: { code: RpcErrorCode.INTERNAL_ERROR, message: "internal error" }, id: null }));
          },
        );
      });
      socket.on("error", (err) => o.log?.warn({ err }, "ws socket error"));
    },
  );
}
