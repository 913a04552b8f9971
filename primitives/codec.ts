/**
 * Deterministic CBOR (DESIGN.md section 3). Every hashed or signed object is a positional
 * array of integers (unsigned almost everywhere; signed only where a field is documented as
 * such, e.g. proposer priorities), byte strings, text strings, booleans, null and nested arrays.
 *
 * Decoding is strict: cborg rejects non-minimal integers and lengths, indefinite lengths,
 * undefined, NaN and Infinity; maps and non-integer floats are rejected by a walk over the
 * decoded value (cborg would re-encode them to the same bytes); on top of that, bytes are
 * canonical only if re-encoding the decoded value gives the same bytes, which also rejects
 * integral floats (1.0), invalid UTF-8 and trailing bytes. So "hash the bytes you received"
 * and "hash the re-encoded object" agree.
 */
import { decode as cborDecode, encode as cborEncode } from "cborg";
import { U64_MAX } from "./amount.ts";
import { equalBytes } from "./bytes.ts";
import { CodecError, CodecErrorCode } from "./errors.ts";

export type CborValue = number | bigint | string | boolean | null | Uint8Array | CborValue[];

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  rejectDuplicateMapKeys: true,
  allowBigInt: true,
  useMaps: true,
} as const;

export function encode(value: CborValue): Uint8Array {
  return cborEncode(value);
}

/** Decodes canonical bytes or throws a CodecError. `maxBytes` bounds work done on peer input. */
export function decode(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024): CborValue {
  if (bytes.length > maxBytes) throw new CodecError(CodecErrorCode.TOO_LARGE, `input of ${bytes.length} bytes exceeds ${maxBytes}`);
  let value: unknown;
  try {
    value = cborDecode(bytes, DECODE_OPTIONS);
  } catch (e) {
    throw new CodecError(CodecErrorCode.MALFORMED, `malformed CBOR: ${(e as Error).message}`);
  }
  // cborg re-encodes a Map or a non-integer float to the very bytes it came from, so the
  // round-trip check alone lets them through: reject what is outside the data model first.
  const outside = outsideDataModel(value);
  if (outside !== undefined) throw new CodecError(CodecErrorCode.NON_CANONICAL, `${outside} is not part of the data model`);
  let again: Uint8Array;
  try {
    again = cborEncode(value);
  } catch {
    throw new CodecError(CodecErrorCode.NON_CANONICAL, "value cannot be re-encoded canonically");
  }
  if (!equalBytes(again, bytes)) throw new CodecError(CodecErrorCode.NON_CANONICAL, "bytes are not in canonical form");
  return value as CborValue;
}

/** Names the first value that is no CborValue (a map, a non-integer number), or undefined. Iterative. */
function outsideDataModel(root: unknown): string | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (typeof v === "number") {
      if (!Number.isInteger(v)) return "a float";
    } else if (!(typeof v === "bigint" || typeof v === "string" || typeof v === "boolean" || v === null || v instanceof Uint8Array)) {
      return v instanceof Map ? "a map" : `a value of type ${typeof v}`;
    }
  }
  return undefined;
}

/**
 * Decodes bytes this node itself wrote and authenticated (state records under a verified state
 * root) without the canonical re-encoding check, which costs as much as the decode. Never use it
 * for bytes from a peer or a client: use `decode`.
 */
export function decodeTrusted(bytes: Uint8Array): CborValue {
  try {
    return cborDecode(bytes, DECODE_OPTIONS) as CborValue;
  } catch (e) {
    throw new CodecError(CodecErrorCode.MALFORMED, `malformed CBOR: ${(e as Error).message}`);
  }
}

// ---- readers: turn a decoded value into a typed field, or throw WRONG_SHAPE / OUT_OF_RANGE ----

function shape(what: string, got: unknown): never {
  const kind = got === null ? "null" : Array.isArray(got) ? "array" : got instanceof Uint8Array ? "bytes" : typeof got;
  throw new CodecError(CodecErrorCode.WRONG_SHAPE, `${what}: expected ${kindOf(what)}, got ${kind}`);
}
function kindOf(what: string): string {
  return what.split(" ")[0] ?? what;
}

export function asArray(v: unknown, field: string, length?: number): CborValue[] {
  if (!Array.isArray(v)) shape(`array ${field}`, v);
  if (length !== undefined && v.length !== length) {
    throw new CodecError(CodecErrorCode.WRONG_SHAPE, `${field}: expected ${length} elements, got ${v.length}`);
  }
  return v as CborValue[];
}

export function asBytes(v: unknown, field: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) shape(`bytes ${field}`, v);
  if (length !== undefined && v.length !== length) {
    throw new CodecError(CodecErrorCode.WRONG_SHAPE, `${field}: expected ${length} bytes, got ${v.length}`);
  }
  return v;
}

export function asString(v: unknown, field: string, maxLength = 256): string {
  if (typeof v !== "string") shape(`string ${field}`, v);
  if (v.length > maxLength) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `${field}: longer than ${maxLength}`);
  return v;
}

export function asBool(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") shape(`boolean ${field}`, v);
  return v;
}

/** Any decoded integer as a bigint: small integers arrive as numbers, large ones as bigints. */
function asInteger(v: unknown, field: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) shape(`integer ${field}`, v);
  return BigInt(v);
}

/** An unsigned integer in [0, 2^64). */
export function asU64(v: unknown, field: string): bigint {
  const b = asInteger(v, field);
  if (b < 0n || b > U64_MAX) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `${field}: not a u64`);
  return b;
}

/** A small unsigned integer (counts, indices, enum tags) as a JS number. */
export function asUint(v: unknown, field: string, max = 0xffff_ffff): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) shape(`integer ${field}`, v);
  if (v < 0 || v > max) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `${field}: ${v} not in [0, ${max}]`);
  return v;
}

/** Encodes a u64 so that small values stay numbers (cborg encodes both minimally). */
export function u64(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The range of a CBOR integer (major types 0 and 1): [-2^64, 2^64). */
export const CBOR_INT_MIN = -(1n << 64n);
export const CBOR_INT_MAX = (1n << 64n) - 1n;

/**
 * A signed integer in [-2^64, 2^64), the whole range CBOR encodes without tags. Decoded small
 * integers arrive as numbers, large ones as bigints.
 */
export function asInt(v: unknown, field: string): bigint {
  const b = asInteger(v, field);
  if (b < CBOR_INT_MIN || b > CBOR_INT_MAX) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `${field}: not a CBOR integer`);
  return b;
}

/** Encodes a signed integer so that safe values stay numbers; RangeError outside [-2^64, 2^64). */
export function int(v: bigint): number | bigint {
  if (v < CBOR_INT_MIN || v > CBOR_INT_MAX) throw new RangeError(`integer ${v} does not fit a CBOR integer`);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
