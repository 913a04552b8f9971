/**
 * JSON-RPC 2.0 dispatcher, independent of the transport: raw request text in, serialized
 * response text out (undefined when nothing must be sent). It never throws; every failure
 * becomes a JSON-RPC error object. The only I/O is the handlers' own and the optional log.
 *
 * Order of checks for one call: request shape -> method exists -> permission -> params
 * schema (unknown keys refused: table.ts strictParams) -> handler -> result schema.
 * Permission comes before params so callers without it learn nothing about a method's schema.
 */
import type { z } from "zod";
import { toHex } from "../primitives/bytes.ts";
import { errorObject, RpcError, RpcErrorCode, toErrorObject, type JsonRpcErrorObject, type RpcErrorLogger } from "./errors.ts";
import { JsonText, strictParams, type MethodTable, type Permission } from "./table.ts";

export interface DispatchOptions {
  /** Permission tiers the caller holds; a method outside them answers UNAUTHORIZED. */
  allowedPermissions: ReadonlySet<Permission>;
  /** Largest batch accepted; a larger one is answered with one INVALID_REQUEST error. */
  maxBatch: number;
  /**
   * Check every result against its schema (default true). A failing result is a handler bug
   * and answers -32603. Tests and development keep it on; a production node may turn it off
   * to save the re-validation on hot read paths.
   */
  checkResults?: boolean;
  log?: RpcErrorLogger;
  /**
   * Called once per call (batch items one by one, notifications included) with its duration.
   * `method` is the table's name, or UNKNOWN_METHOD_LABEL / INVALID_REQUEST_LABEL, so a caller
   * cannot grow a metric's label set with made-up names. `errorCode` is the JSON-RPC code sent
   * (or that would be sent, for a notification) when `ok` is false.
   */
  observe?: (method: string, seconds: number, ok: boolean, errorCode?: number) => void;
}

export const UNKNOWN_METHOD_LABEL = "(unknown)";
export const INVALID_REQUEST_LABEL = "(invalid)";

export type JsonRpcId = string | number | null;

/** Caps on the invalid-params summary, so an error can't be made arbitrarily large. */
const MAX_ISSUES = 10;
const MAX_TEXT = 200;

/** A value, or a promise of it: calls whose handler answers at once are answered at once. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The answer to `rawBody`. A request whose handlers all answer synchronously is answered
 * synchronously (no promise, no microtask turn: the hot read methods); otherwise a promise of it.
 */
export function dispatch<Ctx>(
  table: MethodTable<Ctx>,
  rawBody: string,
  ctx: Ctx,
  opts: DispatchOptions,
): MaybePromise<string | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    opts.observe?.(INVALID_REQUEST_LABEL, 0, false, RpcErrorCode.PARSE_ERROR);
    return serialize(null, { error: errorObject(RpcErrorCode.PARSE_ERROR, "parse error") }, opts.log);
  }
  if (!Array.isArray(body)) return handleCall(table, body, ctx, opts);

  if (body.length === 0 || body.length > opts.maxBatch) {
    opts.observe?.(INVALID_REQUEST_LABEL, 0, false, RpcErrorCode.INVALID_REQUEST);
    return invalidRequest(null, body.length === 0 ? "empty batch" : `batch larger than ${opts.maxBatch}`);
  }
  // Calls of a batch run concurrently; responses keep request order, notifications omitted.
  const responses = body.map((item: unknown) => handleCall(table, item, ctx, opts));
  return responses.some(isThenable) ? Promise.all(responses).then(joinBatch) : joinBatch(responses as (string | undefined)[]);
}

function joinBatch(responses: readonly (string | undefined)[]): string | undefined {
  const sent = responses.filter((r): r is string => r !== undefined);
  return sent.length === 0 ? undefined : `[${sent.join(",")}]`;
}

/** As `await` sees it: anything with a `then` method. */
export function isThenable<T>(v: MaybePromise<T> | PromiseLike<T>): v is Promise<T> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

type Outcome = { result: unknown } | { error: JsonRpcErrorObject };

/** One request object (top level or batch item); undefined for a notification. */
function handleCall<Ctx>(
  table: MethodTable<Ctx>,
  item: unknown,
  ctx: Ctx,
  opts: DispatchOptions,
): MaybePromise<string | undefined> {
  const req = parseRequest(item);
  if ("invalid" in req) {
    opts.observe?.(INVALID_REQUEST_LABEL, 0, false, RpcErrorCode.INVALID_REQUEST);
    return invalidRequest(req.id, req.invalid);
  }

  const started = opts.observe ? performance.now() : 0;
  let value: MaybePromise<unknown>;
  try {
    value = call(table, req.method, req.params, ctx, opts);
  } catch (err) {
    return finishCall(table, req, { error: toErrorObject(err, opts.log, req.method) }, started, opts);
  }
  if (!isThenable(value)) return finishCall(table, req, { result: value }, started, opts);
  return value.then(
    (result) => finishCall(table, req, { result }, started, opts),
    (err: unknown) => finishCall(table, req, { error: toErrorObject(err, opts.log, req.method) }, started, opts),
  );
}

function finishCall<Ctx>(table: MethodTable<Ctx>, req: ParsedRequest, outcome: Outcome, started: number, opts: DispatchOptions): string | undefined {
  if (opts.observe) {
    const label = Object.hasOwn(table, req.method) ? req.method : UNKNOWN_METHOD_LABEL;
    const seconds = (performance.now() - started) / 1000;
    if ("error" in outcome) opts.observe(label, seconds, false, outcome.error.code);
    else opts.observe(label, seconds, true);
  }
  // Notifications are executed but never answered, not even with an error (spec section 4.1).
  if (req.id === undefined) return undefined;
  return serialize(req.id, outcome, opts.log, req.method);
}

interface ParsedRequest {
  /** undefined: a notification (no "id" member). */
  id: JsonRpcId | undefined;
  method: string;
  params: unknown[] | Record<string, unknown> | undefined;
}

/** Checks the request object's shape (spec section 4). Unknown extra members are ignored. */
function parseRequest(v: unknown): ParsedRequest | { invalid: string; id: JsonRpcId } {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { invalid: "request must be an object", id: null };
  }
  const o = v as Record<string, unknown>;

  let id: JsonRpcId | undefined;
  if (Object.hasOwn(o, "id")) {
    const raw = o["id"];
    // JSON.parse turns an overflowing number (1e400) into Infinity, which cannot be echoed.
    if (raw === null || typeof raw === "string" || (typeof raw === "number" && Number.isFinite(raw))) id = raw;
    else return { invalid: "id must be a string, a number or null", id: null };
  }
  // Once the id is known to be well formed it is echoed even when the rest is invalid.
  const echo = id ?? null;
  if (ownMember(o, "jsonrpc") !== "2.0") return { invalid: 'jsonrpc must be "2.0"', id: echo };
  const method = ownMember(o, "method");
  if (typeof method !== "string") return { invalid: "method must be a string", id: echo };
  const params = ownMember(o, "params");
  if (params !== undefined && (typeof params !== "object" || params === null)) {
    return { invalid: "params must be an array or an object", id: echo };
  }
  return { id, method, params: params as ParsedRequest["params"] };
}

/** Own members only: never anything inherited from a prototype. */
function ownMember(o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

/** Validates and runs one call; throws (synchronously, or by rejecting) what becomes its error. */
function call<Ctx>(
  table: MethodTable<Ctx>,
  method: string,
  params: ParsedRequest["params"],
  ctx: Ctx,
  opts: DispatchOptions,
): MaybePromise<unknown> {
  // hasOwn: "__proto__", "constructor", "toString" ... are not methods.
  const spec = Object.hasOwn(table, method) ? table[method] : undefined;
  if (spec === undefined) throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, "method not found");
  if (!opts.allowedPermissions.has(spec.permission)) {
    throw new RpcError(RpcErrorCode.UNAUTHORIZED, `method requires ${spec.permission} permission`);
  }

  // Unknown keys are refused (strictParams); a positional array cannot carry any.
  let input: Record<string, unknown> = params === undefined ? {} : (params as Record<string, unknown>);
  if (Array.isArray(params)) {
    const keys = Object.keys((spec.params as z.ZodObject).shape);
    if (params.length > keys.length) {
      throw invalidParams([{ path: [], message: `expected at most ${keys.length} positional params, got ${params.length}` }]);
    }
    input = Object.fromEntries(params.map((value: unknown, i) => [keys[i], value]));
  }
  // A hot method's own check of the common form first (table.ts fastParams); the schema decides the rest.
  let data: unknown = spec.fastParams?.(input);
  if (data === undefined) {
    const parsed = strictParams(spec.params).safeParse(input);
    if (!parsed.success) throw invalidParams(parsed.error.issues);
    data = parsed.data;
  }

  const value: unknown = spec.handler(data, ctx);
  return isThenable(value) ? value.then((v) => checkResult(spec.result, method, v, opts)) : checkResult(spec.result, method, value, opts);
}

/** The value a call answers with: the handler's, checked against its schema unless checks are off. */
function checkResult(schema: z.ZodType, method: string, value: unknown, opts: DispatchOptions): unknown {
  if (opts.checkResults === false) return value === undefined ? null : value;

  const result = schema.safeParse(value instanceof JsonText ? JSON.parse(value.text) : value);
  if (!result.success) {
    // The handler broke its own contract: a bug, not the caller's fault.
    opts.log?.warn({ method, issues: summarizeIssues(result.error.issues) }, "rpc result failed its schema");
    throw new RpcError(RpcErrorCode.INTERNAL_ERROR, "internal error");
  }
  if (value instanceof JsonText) return value;
  // A success response must carry a "result" member; JSON has no undefined.
  return result.data === undefined ? null : result.data;
}

interface IssueLike {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly code?: string;
  readonly keys?: readonly string[];
}

function invalidParams(rawIssues: readonly IssueLike[]): RpcError {
  // One issue per unknown key, with the key as its path, like any other bad param.
  const issues = rawIssues.flatMap((i) =>
    i.code === "unrecognized_keys" && i.keys ? i.keys.map((k) => ({ path: [...i.path, k], message: `unknown param ${JSON.stringify(k)}` })) : [i],
  );
  const data: Record<string, unknown> = { issues: summarizeIssues(issues) };
  if (issues.length > MAX_ISSUES) data["omitted"] = issues.length - MAX_ISSUES;
  return new RpcError(RpcErrorCode.INVALID_PARAMS, "invalid params", data);
}

/** path + message of each issue, capped in count and length. */
function summarizeIssues(issues: readonly IssueLike[]): { path: string; message: string }[] {
  return issues.slice(0, MAX_ISSUES).map((i) => ({
    path: clip(i.path.map((p) => String(p)).join(".")),
    message: clip(i.message),
  }));
}

function clip(s: string): string {
  return s.length <= MAX_TEXT ? s : `${s.slice(0, MAX_TEXT - 1)}…`;
}

function invalidRequest(id: JsonRpcId, reason: string): string {
  // Serializing a fixed shape of strings/numbers cannot fail, so no logger is needed here.
  return serialize(id, { error: errorObject(RpcErrorCode.INVALID_REQUEST, "invalid request", { reason }) });
}

/**
 * Serializes one response. Results are plain JSON by their schemas, so a result JSON cannot
 * hold (a bigint, a cycle, absurd depth) is a bug and becomes an internal error. Error data
 * comes from CodedError and may hold bigints and bytes: they go out as decimal strings and
 * hex, as elsewhere on the wire.
 */
function serialize(id: JsonRpcId, outcome: Outcome, log?: RpcErrorLogger, method?: string): string {
  try {
    if ("error" in outcome) return JSON.stringify({ jsonrpc: "2.0", error: outcome.error, id }, errorDataReplacer);
    if (outcome.result instanceof JsonText) return `{"jsonrpc":"2.0","result":${outcome.result.text},"id":${JSON.stringify(id)}}`;
    return JSON.stringify({ jsonrpc: "2.0", result: outcome.result, id });
  } catch (err) {
    log?.warn({ err, method }, "rpc response not serializable");
    return JSON.stringify({ jsonrpc: "2.0", error: errorObject(RpcErrorCode.INTERNAL_ERROR, "internal error"), id });
  }
}

function errorDataReplacer(this: unknown, key: string, value: unknown): unknown {
  // `this[key]` is the value before any toJSON() (Buffer's would win otherwise).
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) return toHex(raw);
  if (typeof value === "bigint") return value.toString();
  return value;
}
