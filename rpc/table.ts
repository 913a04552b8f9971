/**
 * The RPC method table: routes as data. Each entry declares its params
 * and result schemas, its permission tier and a stateless handler; the dispatcher validates
 * every call against it, and the same table is meant to produce the OpenRPC document and
 * the typed client.
 */
import { z } from "zod";

export type Permission = "read" | "write" | "sign" | "admin";
export const PERMISSIONS: readonly Permission[] = ["read", "write", "sign", "admin"];

export interface MethodSpec<P extends z.ZodObject, R extends z.ZodType, Ctx> {
  description: string;
  /** Named params. Positional (array) params map onto the object's keys in declared order. */
  params: P;
  /** Plain JSON shape (bigints and bytes as strings); the handler's value is parsed by it. */
  result: R;
  permission: Permission;
  /**
   * The typed codes (answered as -32000 with `data.code`) this method may fail with, beyond the
   * protocol's own errors; listed per method in the OpenRPC document.
   */
  errors?: readonly string[];
  /** The method may answer BUSY (-32006): the node takes no more of this work for now; retry later. */
  busy?: boolean;
  /**
   * A hand-written check of a hot method's plainly well-formed params (named, after positional ones
   * are mapped): returns exactly what the strict `params` schema would parse them to, or undefined
   * to leave them to the schema, which then answers or refuses them as always (so every error, and
   * every less common form, comes from the schema). It may only skip work, never change an answer;
   * its tests hold it to the schema on random input.
   */
  fastParams?: (input: Record<string, unknown>) => z.output<P> | undefined;
  /** Must hold no state of its own: everything it needs comes from `ctx`. */
  handler: (params: z.output<P>, ctx: Ctx) => Promise<z.input<R> | JsonText<z.input<R>>> | z.input<R> | JsonText<z.input<R>>;
}

/**
 * A result whose JSON text is already made: the dispatcher writes `text` as the result as it is
 * (and, when it checks results, parses it back and checks that against the method's schema). For
 * data that never changes and is asked for again and again, such as a finalized block, so that
 * each answer does not serialize the same object anew. `T` is the value the text stands for.
 */
export class JsonText<T = unknown> {
  declare readonly value?: T;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/**
 * Identity helper so TypeScript infers the handler's param and result types from the
 * schemas. Annotate the handler's `ctx` parameter to fix `Ctx`.
 */
export function defineMethod<P extends z.ZodObject, R extends z.ZodType, Ctx = unknown>(
  spec: MethodSpec<P, R, Ctx>,
): MethodSpec<P, R, Ctx> {
  return spec;
}

// `any`: entries differ in P and R; each entry is checked where it is written (defineMethod).
export type MethodTable<Ctx> = Record<string, MethodSpec<any, any, Ctx>>;

/** The strict copy of each params schema, made once per schema object. */
const strictCache = new WeakMap<z.ZodObject, z.ZodObject>();

/**
 * `params` with unknown keys refused (zod's `unrecognized_keys` issue): every method's params are
 * a plain `z.object`, which would otherwise drop a misspelt key silently. The dispatcher applies
 * it to every table (per-socket methods included), so no method has to declare `.strict()`.
 * Refinements on the object are kept; nested objects are left as declared.
 */
export function strictParams(params: z.ZodObject): z.ZodObject {
  let strict = strictCache.get(params);
  if (strict === undefined) {
    strict = params.strict();
    strictCache.set(params, strict);
  }
  return strict;
}

/** `namespace_method`, e.g. `chain_getBlock`. Also keeps `__proto__`-like names out. */
export const METHOD_NAME_RE = /^[a-z]+_[a-zA-Z]+$/;

/** Throws a TypeError naming the first bad entry; run once when a server is built. */
export function validateMethodTable<Ctx>(table: MethodTable<Ctx>): void {
  for (const [name, spec] of Object.entries(table)) {
    if (!METHOD_NAME_RE.test(name)) {
      throw new TypeError(`rpc method name ${JSON.stringify(name)} is not namespace_method`);
    }
    if (!PERMISSIONS.includes(spec.permission)) {
      throw new TypeError(`rpc method ${name} has unknown permission ${String(spec.permission)}`);
    }
    // Positional params are mapped through `params.shape`, so it must be a real z.object.
    if (!(spec.params instanceof z.ZodObject)) throw new TypeError(`rpc method ${name}: params must be a z.object`);
    if (!(spec.result instanceof z.ZodType)) throw new TypeError(`rpc method ${name}: result must be a zod schema`);
    if (typeof spec.handler !== "function") throw new TypeError(`rpc method ${name} has no handler`);
  }
}
