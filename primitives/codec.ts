/**
 * Deterministic CBOR (docs/protocol.md section 1). Every hashed or signed object is a positional
 * array of integers (unsigned almost everywhere; signed only where a field is documented as
 * such, e.g. proposer priorities), byte strings, text strings, booleans, null and nested arrays.
 *
 * Decoding is strict: cborg rejects non-minimal integers and lengths, indefinite lengths,
 * undefined, NaN and Infinity; then one pass over the bytes (`nonCanonical`) accepts exactly the
 * bytes that re-encoding the decoded value would reproduce: it rejects maps, tags, floats
 * (integral ones too), invalid UTF-8, text led by a byte-order mark (which the decoder drops) and
 * trailing bytes. So "hash the bytes you received" and "hash the re-encoded object" agree.
 */
import { decode as cborDecode, encode as cborEncode } from "cborg";
import { U64_MAX } from "./amount.ts";
import { isUtf8 } from "node:buffer";
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

export interface DecodeOptions {
  /**
   * The byte strings of the result are views into `bytes` instead of copies. Only for input the
   * result keeps alive anyway (a block and its transactions: the block holds its bytes): a view
   * keeps the whole input in memory. Copying each byte string into its own buffer was most of
   * the decode of a proof-heavy block (tens of thousands of allocations per level).
   */
  readonly share?: boolean;
}

/** Decodes canonical bytes or throws a CodecError. `maxBytes` bounds work done on peer input. */
export function decode(bytes: Uint8Array, maxBytes = 16 * 1024 * 1024, opts: DecodeOptions = {}): CborValue {
  if (bytes.length > maxBytes) throw new CodecError(CodecErrorCode.TOO_LARGE, `input of ${bytes.length} bytes exceeds ${maxBytes}`);
  let value: unknown;
  try {
    value = cborDecode(opts.share === true ? new SharingBytes(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength) : bytes, DECODE_OPTIONS);
  } catch (e) {
    throw new CodecError(CodecErrorCode.MALFORMED, `malformed CBOR: ${(e as Error).message}`);
  }
  // cborg re-encodes a Map or a non-integer float to the very bytes it came from, and accepts
  // integral floats, text that is not UTF-8 and text led by a byte-order mark (which it drops):
  // one pass over the bytes rejects all of that, as a re-encoding round trip does, without
  // building a second copy of the input (which cost most of a 17 MiB block's decode).
  const why = nonCanonical(bytes);
  if (why !== undefined) throw new CodecError(CodecErrorCode.NON_CANONICAL, why);
  return value as CborValue;
}

/**
 * The input as cborg sees it under `share`: cborg takes each byte string with `slice`, which here
 * makes a plain Uint8Array view instead of a copy (cborg calls it with 0 <= start <= end <= length).
 */
class SharingBytes extends Uint8Array {
  override slice(start = 0, end = this.length): Uint8Array<ArrayBuffer> {
    return new Uint8Array(this.buffer as ArrayBuffer, this.byteOffset + start, Math.max(0, end - start));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Why `bytes` (which cborg's strict decoder accepted) is not the canonical encoding of a data-model
 * value, or undefined if it is: exactly the bytes that re-encoding the decoded value reproduces.
 * Integers and lengths minimal, definite lengths, no map, tag, float or simple value other than
 * false, true and null, text valid UTF-8 not led by a byte-order mark, nothing after the item.
 * Iterative: the array nesting costs heap, not stack.
 */
function nonCanonical(bytes: Uint8Array): string | undefined {
  const n = bytes.length;
  const open: number[] = [];
  const u32 = (at: number): number => bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
  let left = 1;
  let pos = 0;
  for (;;) {
    if (left === 0) {
      if (open.length === 0) break;
      left = open.pop()!;
      continue;
    }
    left--;
    if (pos >= n) return "truncated input";
    const ib = bytes[pos++]!;
    const major = ib >> 5;
    const ai = ib & 31;
    if (major === 7) {
      if (ai === 20 || ai === 21 || ai === 22) continue;
      if (ai < 25 || ai > 27) return "a simple value is not part of the data model";
      // A float. The round-trip rule this check replaces let one kind through: an integral value
      // past 2^53 that cborg encodes back to the same float bytes. Kept exactly, so that what is
      // valid does not change; the typed readers (asU64, asUint, ...) refuse such a value anyway.
      const width = ai === 25 ? 2 : ai === 26 ? 4 : 8;
      if (pos + width > n) return "truncated input";
      const view = new DataView(bytes.buffer, bytes.byteOffset + pos, width);
      const v = ai === 25 ? NaN : ai === 26 ? view.getFloat32(0) : view.getFloat64(0);
      if (!(Number.isInteger(v) && !Number.isSafeInteger(v) && sameBytes(cborEncode(v), bytes.subarray(pos - 1, pos + width)))) return "a float is not part of the data model";
      pos += width;
      continue;
    }
    if (major === 5) return "a map is not part of the data model";
    if (major === 6) return "a tag is not part of the data model";
    let arg: number;
    if (ai < 24) arg = ai;
    else if (ai === 24) {
      if (pos + 1 > n) return "truncated input";
      arg = bytes[pos]!;
      pos += 1;
      if (arg < 24) return "bytes are not in canonical form";
    } else if (ai === 25) {
      if (pos + 2 > n) return "truncated input";
      arg = (bytes[pos]! << 8) | bytes[pos + 1]!;
      pos += 2;
      if (arg < 0x100) return "bytes are not in canonical form";
    } else if (ai === 26) {
      if (pos + 4 > n) return "truncated input";
      arg = u32(pos);
      pos += 4;
      if (arg < 0x1_0000) return "bytes are not in canonical form";
    } else if (ai === 27) {
      if (pos + 8 > n) return "truncated input";
      const hi = u32(pos);
      arg = hi * 0x1_0000_0000 + u32(pos + 4); // inexact past 2^53: then only compared with the input length
      pos += 8;
      if (hi === 0) return "bytes are not in canonical form";
    } else return "reserved or indefinite additional information";
    if (major === 0 || major === 1) continue;
    if (major === 4) {
      open.push(left);
      left = arg;
      continue;
    }
    // byte (2) and text (3) strings
    if (arg > n - pos) return "truncated input";
    if (major === 3 && arg > 0) {
      const text = bytes.subarray(pos, pos + arg);
      if (!isUtf8(text)) return "text is not valid UTF-8";
      if (arg >= 3 && text[0] === 0xef && text[1] === 0xbb && text[2] === 0xbf) return "text led by a byte-order mark is not canonical";
    }
    pos += arg;
  }
  return pos === n ? undefined : "trailing bytes";
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
