/**
 * JSON-RPC over HTTP POST (fastify 5). The transport only reads the raw body, resolves the
 * caller's permission tiers from the Authorization header and hands both to `dispatch`.
 *
 * HTTP status: 200 for every JSON-RPC response (errors included), 204 when there is nothing
 * to send (notifications), 401 for an Authorization header that matches no token, 413 for an
 * oversized body, 429 for a client over its rate limit; the non-200 answers still carry a JSON-RPC error body.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyReply } from "fastify";
import rateLimit, { normalizeIP } from "@fastify/rate-limit";
import cors from "@fastify/cors";
import { dispatch, isThenable, type DispatchOptions } from "./dispatch.ts";
import { errorObject, RpcErrorCode } from "./errors.ts";
import { PERMISSIONS, validateMethodTable, type MethodTable, type Permission } from "./table.ts";
import { registerExplorer } from "./explorer.ts";
import { registerWebSocketRoute, Subscriptions } from "./ws.ts";

/** The subset of a pino logger the server uses. */
export interface RpcLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RpcToken {
  token: string;
  /** Granted on top of the public tiers (read, write). */
  permissions: Permission[];
}

export interface RpcServerOptions {
  host: string;
  /** 0 picks an ephemeral port; the bound one is returned. */
  port: number;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Largest batch (default 100). */
  maxBatch?: number;
  tokens?: RpcToken[];
  /** Validate every result against its schema (see DispatchOptions.checkResults); default true. */
  checkResults?: boolean;
  /** false or absent: no logging. */
  logger?: RpcLogger | false;
  /** Per-call hook (metrics): see DispatchOptions.observe; also told of 401 and 429 answers. */
  observe?: (method: string, seconds: number, ok: boolean, errorCode?: number) => void;
  /** Serves GET /metrics with this registry's text (a prom-client Registry fits). */
  metrics?: MetricsSource;
  /** Requests per client IP on the POST route, and messages per WebSocket connection (rpc/ws.ts); false turns both off. */
  rateLimit?: RpcRateLimit | false;
  /**
   * Browser origins allowed to call the RPC from another origin (CORS: preflight answered, the
   * Access-Control-Allow-Origin header on answers); "*" allows any; empty (default): none, so a
   * page elsewhere cannot read the node's answers.
   */
  cors?: readonly string[];
  /** Serve the explorer page (rpc/explorer/) at /explorer/; default false. */
  explorer?: boolean;
}

export interface RpcRateLimit {
  max: number;
  timeWindowMs: number;
}

/** The part of a prom-client Registry GET /metrics needs. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Generous: it stops a runaway client, not a busy one. */
export const defaultRpcRateLimit: RpcRateLimit = { max: 10_000, timeWindowMs: 10_000 };

/** What the route label of a request refused before dispatch looks like in `observe`. */
export const TRANSPORT_LABEL = "(transport)";

export const defaultRpcServerOptions = {
  host: "127.0.0.1",
  port: 0,
  bodyLimit: 1024 * 1024,
  maxBatch: 100,
  tokens: [],
  checkResults: true,
  logger: false,
  rateLimit: defaultRpcRateLimit,
  explorer: false,
  cors: [],
} as const satisfies Required<Omit<RpcServerOptions, "observe" | "metrics">>;

export interface RpcServer {
  /** The bound IP address, e.g. "127.0.0.1". */
  address: string;
  port: number;
  /** `http://address:port/`, ready for fetch. */
  url: string;
  close(): Promise<void>;
}

/** Tiers anyone who can reach the socket holds; `sign` and `admin` need a token. */
const PUBLIC_PERMISSIONS: ReadonlySet<Permission> = new Set<Permission>(["read", "write"]);

const JSON_TYPE = "application/json; charset=utf-8";

export async function startRpcServer<Ctx>(
  opts: RpcServerOptions,
  table: MethodTable<Ctx>,
  ctx: Ctx,
  /** The WebSocket publisher (rpc/ws.ts) of GET /; absent: a private one with the default limits. */
  subscriptions?: Subscriptions,
): Promise<RpcServer> {
  validateMethodTable(table);
  const bodyLimit = opts.bodyLimit ?? defaultRpcServerOptions.bodyLimit;
  const maxBatch = opts.maxBatch ?? defaultRpcServerOptions.maxBatch;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit <= 0) throw new RangeError("bodyLimit must be a positive integer");
  if (!Number.isSafeInteger(maxBatch) || maxBatch <= 0) throw new RangeError("maxBatch must be a positive integer");
  const tokens = prepareTokens(opts.tokens ?? []);
  const log = opts.logger || undefined;
  const limit = opts.rateLimit === undefined ? defaultRpcRateLimit : opts.rateLimit;
  if (limit && (!Number.isSafeInteger(limit.max) || limit.max <= 0 || !Number.isSafeInteger(limit.timeWindowMs) || limit.timeWindowMs <= 0)) {
    throw new RangeError("rateLimit max and timeWindowMs must be positive integers");
  }

  const origins = opts.cors ?? [];
  // POST / (every JSON-RPC call over HTTP) skips fastify where nothing it adds is needed: no CORS
  // (see fastPost). Built before fastify, which takes the server from the factory.
  const post = origins.length === 0 ? fastPost({ table, ctx, bodyLimit, tokens, limit, optionsFor: (p) => optionsFor(p), ...(log ? { log } : {}), ...(opts.observe ? { observe: opts.observe } : {}) }) : null;
  const serverFactory = (fastifyHandler: RequestListener): ReturnType<typeof createServer> => {
    const server = createServer((req, res) => {
      if (post !== null && req.method === "POST" && req.url === "/") post(req, res);
      else fastifyHandler(req, res);
    });
    // what fastify 5 gives the server it creates itself
    server.keepAliveTimeout = FASTIFY_KEEP_ALIVE_MS;
    server.requestTimeout = 0;
    server.setTimeout(0);
    return server;
  };

  // Fastify's own logger stays off: requests are not logged, failures go to `log` below.
  const app = Fastify({ logger: false, bodyLimit, serverFactory });

  // Every body reaches `dispatch` as text, whatever its content type (or none), so malformed
  // JSON is answered with a JSON-RPC parse error rather than fastify's HTTP 400.
  app.removeAllContentTypeParsers();
  const asText = (_req: unknown, body: string, done: (err: null, body: string) => void): void => done(null, body);
  app.addContentTypeParser("application/json", { parseAs: "string" }, asText);
  app.addContentTypeParser("*", { parseAs: "string" }, asText);

  if (origins.length > 0) {
    await app.register(cors, {
      origin: origins.includes("*") ? "*" : [...origins],
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: ["content-type", "authorization"],
      exposedHeaders: ["retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"],
      maxAge: 600,
    });
  }

  app.get("/health", async () => ({ ok: true }));
  if (opts.explorer) registerExplorer(app);

  // JSON-RPC over WebSocket at GET / (upgrade), same table, tokens and limits (rpc/ws.ts).
  await registerWebSocketRoute(app, {
    table, ctx, subscriptions: subscriptions ?? new Subscriptions({}, log), maxBatch, checkResults: opts.checkResults ?? true, rateLimit: limit,
    resolvePermissions: (header) => resolvePermissions(header, tokens), ...(log ? { log } : {}),
  });
  const metrics = opts.metrics;
  if (metrics) app.get("/metrics", async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));

  // Only routes that opt in (config.rateLimit) are limited; the key is the client IP.
  if (limit) {
    await app.register(rateLimit, {
      global: false,
      // Answers within the limit carry no x-ratelimit-* headers: JSON-RPC clients do not read
      // them, and setting and validating three headers on every answer cost ~10% of the CPU of a
      // cached read (measured A/B, test/perf). A refused request (429) still gets them and retry-after.
      addHeadersOnExceeding: { "x-ratelimit-limit": false, "x-ratelimit-remaining": false, "x-ratelimit-reset": false },
      errorResponseBuilder: (_req, ctx) => Object.assign(new Error("rate limited"), { statusCode: ctx.statusCode, rateLimited: true }),
    });
  }
  const routeConfig = limit ? { config: { rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } } } : {};

  // One set of dispatch options per set of permission tiers (the public one and one per token).
  const dispatchOptions = new Map<ReadonlySet<Permission>, DispatchOptions>();
  const optionsFor = (permissions: ReadonlySet<Permission>): DispatchOptions => {
    let o = dispatchOptions.get(permissions);
    if (o === undefined) {
      o = { allowedPermissions: permissions, maxBatch, checkResults: opts.checkResults ?? true, ...(log ? { log } : {}), ...(opts.observe ? { observe: opts.observe } : {}) };
      dispatchOptions.set(permissions, o);
    }
    return o;
  };
  const answer = (reply: FastifyReply, out: string | undefined): FastifyReply =>
    out === undefined ? reply.code(204).send() : reply.code(200).type(JSON_TYPE).send(out);

  // Not an async function: a call answered synchronously (dispatch) is sent from here at once.
  app.post("/", routeConfig, (req, reply) => {
    const permissions = resolvePermissions(req.headers.authorization, tokens);
    if (permissions === undefined) {
      opts.observe?.(TRANSPORT_LABEL, 0, false, RpcErrorCode.UNAUTHORIZED);
      reply
        .code(401)
        .header("www-authenticate", "Bearer")
        .type(JSON_TYPE)
        .send(REFUSAL.unauthorized);
      return;
    }
    const out = dispatch(table, typeof req.body === "string" ? req.body : "", ctx, optionsFor(permissions));
    if (isThenable(out)) return out.then((o) => answer(reply, o));
    answer(reply, out);
    return;
  });

  // Transport-level failures (body too large, bad content length, ...) still answer in
  // JSON-RPC form, with id null since the request was never read.
  app.setErrorHandler((err: { statusCode?: number; rateLimited?: boolean }, _req, reply) => {
    if (err.rateLimited === true) {
      // The plugin has already set retry-after and the x-ratelimit-* headers.
      opts.observe?.(TRANSPORT_LABEL, 0, false, RpcErrorCode.RATE_LIMITED);
      return reply.code(429).type(JSON_TYPE).send(REFUSAL.rateLimited);
    }
    const status = typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      log?.error({ err }, "rpc server error");
      return reply.code(500).type(JSON_TYPE).send(REFUSAL.internal);
    }
    return reply.code(status).type(JSON_TYPE).send(transportErrorBody(status));
  });

  await app.listen({ host: opts.host, port: opts.port });
  const bound = app.server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  log?.info({ address: bound.address, port: bound.port, methods: Object.keys(table).length }, "rpc server listening");
  return {
    address: bound.address,
    port: bound.port,
    url: `http://${host}:${bound.port}/`,
    close: () => app.close(),
  };
}

/** fastify 5's default keep-alive timeout, which a server from a serverFactory does not get. */
const FASTIFY_KEEP_ALIVE_MS = 72_000;

// @fastify/rate-limit's own in-memory store (the one the plugin uses by default: an LRU of 5,000
// clients, a fixed window from each client's first request), so that both routes count alike.
interface RateStore {
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number }) => void, timeWindow: number, max: number): void;
}
const LocalStore = createRequire(import.meta.url)("@fastify/rate-limit/store/LocalStore.js") as new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => RateStore;

interface FastPostDeps<Ctx> {
  table: MethodTable<Ctx>;
  ctx: Ctx;
  bodyLimit: number;
  tokens: readonly PreparedToken[];
  limit: RpcRateLimit | false;
  optionsFor(permissions: ReadonlySet<Permission>): DispatchOptions;
  log?: RpcLogger;
  observe?: RpcServerOptions["observe"];
}

/**
 * POST / on node:http directly: what fastify does for this route, without the ~5 µs of CPU its
 * request and reply objects, hooks and send pipeline cost per call (bare node:http 19 µs per
 * request against bare fastify 24.5, autocannon -c 50 on this machine; a cheap read is about
 * 26 µs in all). Same answers in the same order as the fastify route: the per-client rate limit
 * first (the plugin's store and key, 429 with retry-after and x-ratelimit-*), then the body limit
 * (413), the Authorization header (401), then dispatch (200, or 204 for notifications). Every
 * other request, and POST / when CORS is configured, goes to fastify.
 */
function fastPost<Ctx>(d: FastPostDeps<Ctx>): (req: IncomingMessage, res: ServerResponse) => void {
  const store = d.limit ? new LocalStore(false, false) : null;
  const send = (res: ServerResponse, status: number, body: string | undefined, headers: Record<string, string | number> = {}): void => {
    if (res.headersSent || res.destroyed) return;
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { ...headers, "content-type": JSON_TYPE, "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const refuse = (res: ServerResponse, status: number): void => send(res, status, transportErrorBody(status));
  const fail = (res: ServerResponse, err: unknown): void => {
    d.log?.error({ err }, "rpc server error");
    send(res, 500, REFUSAL.internal);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, text: string): void => {
    const permissions = resolvePermissions(req.headers.authorization, d.tokens);
    if (permissions === undefined) {
      d.observe?.(TRANSPORT_LABEL, 0, false, RpcErrorCode.UNAUTHORIZED);
      send(res, 401, REFUSAL.unauthorized, { "www-authenticate": "Bearer" });
      return;
    }
    try {
      const out = dispatch(d.table, text, d.ctx, d.optionsFor(permissions));
      if (isThenable(out)) out.then((o) => send(res, o === undefined ? 204 : 200, o), (e: unknown) => fail(res, e));
      else send(res, out === undefined ? 204 : 200, out);
    } catch (e) {
      fail(res, e);
    }
  };

  return (req, res) => {
    const limit = d.limit;
    const ip = req.socket.remoteAddress;
    if (store !== null && limit && ip !== undefined) {
      // the store answers at once (an in-memory map); ttl stays -1 while the client is within its limit
      let ttl = -1;
      store.incr(normalizeIP(ip), (err, r) => {
        if (err === null && r.current > limit.max) ttl = r.ttl;
      }, limit.timeWindowMs, limit.max);
      if (ttl >= 0) {
        const seconds = Math.ceil(ttl / 1000);
        d.observe?.(TRANSPORT_LABEL, 0, false, RpcErrorCode.RATE_LIMITED);
        send(res, 429, REFUSAL.rateLimited, {
          "x-ratelimit-limit": limit.max, "x-ratelimit-remaining": 0, "x-ratelimit-reset": seconds, "retry-after": seconds,
        });
        return;
      }
    }
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > d.bodyLimit) return refuse(res, 413);
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      received += chunk.length;
      if (received > d.bodyLimit) {
        done = true;
        refuse(res, 413);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      if (declared !== undefined && Number(declared) !== received) return refuse(res, 400);
      answer(req, res, chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    });
    // a client gone mid-body: nothing to answer
    req.on("error", () => {
      done = true;
    });
  };
}

function errorBody(code: number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", error: errorObject(code, message), id: null });
}

/** The bodies of the refusals both POST / routes (fastPost and fastify's) answer before dispatch. */
const REFUSAL = {
  unauthorized: errorBody(RpcErrorCode.UNAUTHORIZED, "invalid authorization token"),
  rateLimited: errorBody(RpcErrorCode.RATE_LIMITED, "rate limited"),
  internal: errorBody(RpcErrorCode.INTERNAL_ERROR, "internal error"),
  tooLarge: errorBody(RpcErrorCode.INVALID_REQUEST, "request body too large"),
  invalid: errorBody(RpcErrorCode.INVALID_REQUEST, "invalid request"),
} as const;

/** A transport failure's body (4xx before the request was read): id null. */
function transportErrorBody(status: number): string {
  return status === 413 ? REFUSAL.tooLarge : REFUSAL.invalid;
}

interface PreparedToken {
  digest: Buffer;
  permissions: ReadonlySet<Permission>;
}

function prepareTokens(tokens: readonly RpcToken[]): PreparedToken[] {
  return tokens.map(({ token, permissions }, i) => {
    if (typeof token !== "string" || token.length === 0) throw new TypeError(`rpc token ${i} is empty`);
    for (const p of permissions) {
      if (!PERMISSIONS.includes(p)) throw new TypeError(`rpc token ${i} has unknown permission ${String(p)}`);
    }
    return { digest: sha256(token), permissions: new Set([...PUBLIC_PERMISSIONS, ...permissions]) };
  });
}

/**
 * No header: the public tiers. `Bearer <token>` matching a configured token: that token's
 * tiers. Anything else (wrong token, other scheme, malformed): undefined, i.e. refused.
 * Tokens are compared as SHA-256 digests, so the comparison is constant-time and on
 * equal-length buffers whatever the presented length; every token is compared.
 */
function resolvePermissions(header: string | undefined, tokens: readonly PreparedToken[]): ReadonlySet<Permission> | undefined {
  if (header === undefined) return PUBLIC_PERMISSIONS;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (m === null) return undefined;
  const presented = sha256(m[1] ?? "");
  let granted: ReadonlySet<Permission> | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(presented, t.digest) && granted === undefined) granted = t.permissions;
  }
  return granted;
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}
