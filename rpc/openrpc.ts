/**
 * The OpenRPC 1.3 document (`rpc_discover`), generated from the method table
 * (docs/rpc-guide.md): the same schemas the dispatcher validates with, so the document cannot drift
 * from the server. Params are by name (the zod object's keys, in declared order, which is also
 * the positional order); `x-permission` carries the tier.
 */
import { z } from "zod";
import { RpcErrorCode } from "./errors.ts";
import { defineMethod, type MethodSpec, type MethodTable, type Permission } from "./table.ts";

export const OPENRPC_VERSION = "1.3.2";
export const DISCOVER_METHOD = "rpc_discover";

type JsonSchema = Record<string, unknown>;

export interface OpenRpcParam {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

export interface OpenRpcError {
  code: number;
  message: string;
  data?: unknown;
}

export interface OpenRpcMethod {
  name: string;
  description: string;
  paramStructure: "either";
  params: OpenRpcParam[];
  result: { name: string; schema: JsonSchema };
  errors: OpenRpcError[];
  "x-permission": Permission;
}

export interface OpenRpcServer {
  name: string;
  url: string;
}

export interface OpenRpcDocument {
  openrpc: string;
  info: { title: string; version: string };
  servers: OpenRpcServer[];
  methods: OpenRpcMethod[];
}

export interface OpenRpcInfo {
  title: string;
  version: string;
  /** Where this node answers (read when the document is first asked for, once the server is bound). */
  servers?: () => OpenRpcServer[];
}

const jsonSchema = z.record(z.string(), z.unknown());
const openRpcDocumentSchema = z.object({
  openrpc: z.string(),
  info: z.object({ title: z.string(), version: z.string() }),
  servers: z.array(z.object({ name: z.string(), url: z.string() })),
  methods: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      paramStructure: z.literal("either"),
      params: z.array(z.object({ name: z.string(), required: z.boolean(), schema: jsonSchema })),
      result: z.object({ name: z.string(), schema: jsonSchema }),
      errors: z.array(z.object({ code: z.int(), message: z.string(), data: z.unknown().optional() })),
      "x-permission": z.enum(["read", "write", "sign", "admin"]),
    }),
  ),
});

/** One document per table object (the table is fixed once a server is built). */
const cache = new WeakMap<object, OpenRpcDocument>();

/** Builds (once per table) the OpenRPC document of `table`; methods sorted by name. */
export function openRpcDocument<Ctx>(table: MethodTable<Ctx>, info: OpenRpcInfo): OpenRpcDocument {
  const hit = cache.get(table);
  if (hit) return hit;
  const doc: OpenRpcDocument = {
    openrpc: OPENRPC_VERSION,
    info: { title: info.title, version: info.version },
    servers: info.servers?.() ?? [],
    methods: Object.keys(table)
      .sort()
      .map((name) => describeMethod(name, table[name]!)),
  };
  // Handlers get the same object every call; freeze it so none can alter the cached copy.
  deepFreeze(doc);
  cache.set(table, doc);
  return doc;
}

function describeMethod<Ctx>(name: string, spec: MethodSpec<any, any, Ctx>): OpenRpcMethod {
  const params = spec.params as z.ZodObject;
  // The input-side JSON Schema of the object says which keys a caller must send (a key with a
  // default or .optional() need not be).
  const required = new Set((z.toJSONSchema(params, { io: "input", unrepresentable: "any" }).required as string[] | undefined) ?? []);
  return {
    name,
    description: spec.description,
    paramStructure: "either",
    params: Object.entries(params.shape).map(([key, schema]) => ({
      name: key,
      required: required.has(key),
      schema: toSchema(schema as z.ZodType, "input"),
    })),
    result: { name: "result", schema: toSchema(spec.result as z.ZodType, "output") },
    errors: methodErrors(spec),
    "x-permission": spec.permission,
  };
}

/**
 * The errors a method can answer with: invalid params and the rate limit for every method,
 * unauthorized for the tiers that need a token, and each typed code the method declares, as the
 * -32000 server error whose data.code names it.
 */
function methodErrors<Ctx>(spec: MethodSpec<any, any, Ctx>): OpenRpcError[] {
  const out: OpenRpcError[] = [
    { code: RpcErrorCode.INVALID_PARAMS, message: "invalid params" },
    { code: RpcErrorCode.RATE_LIMITED, message: "rate limited" },
  ];
  if (spec.permission === "sign" || spec.permission === "admin") out.push({ code: RpcErrorCode.UNAUTHORIZED, message: "unauthorized: this method needs a token" });
  if (spec.busy === true) out.push({ code: RpcErrorCode.BUSY, message: "busy: the node takes no more of this work for now; retry later", data: { code: "TX_INGEST_BUSY" } });
  for (const code of spec.errors ?? []) out.push({ code: RpcErrorCode.SERVER_ERROR, message: code, data: { code } });
  return out;
}

function toSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  // Transforms and refinements have no JSON Schema form: the schema describes the wire shape.
  const out = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema;
  delete out["$schema"];
  return out;
}

function deepFreeze(v: unknown): void {
  if (typeof v !== "object" || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}

/**
 * `table` plus `rpc_discover` (permission read), whose document covers every method of the
 * returned table, rpc_discover included.
 */
export function withDiscover<Ctx>(table: MethodTable<Ctx>, info: OpenRpcInfo): MethodTable<Ctx> {
  if (Object.hasOwn(table, DISCOVER_METHOD)) throw new TypeError(`the table already has ${DISCOVER_METHOD}`);
  const full: MethodTable<Ctx> = {
    ...table,
    [DISCOVER_METHOD]: defineMethod({
      description: "This node's OpenRPC document: every method with its params, result schema and permission tier (x-permission).",
      params: z.object({}),
      result: openRpcDocumentSchema,
      permission: "read",
      handler: (): OpenRpcDocument => openRpcDocument(full, info),
    }),
  };
  return full;
}
