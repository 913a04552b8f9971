/** Small byte helpers shared by the whole code base. Pure. */

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/**
 * The bytes as a string of the same code units (latin1), for Map keys. Short arrays go through
 * String.fromCharCode, which reads them where they are: a Buffer over a small array made in JS first
 * moves its bytes out of the JS heap, which cost ~1 µs a call, as much as the rest of a cached state
 * read. Longer ones (a bound well inside any engine's argument limit) through a Buffer.
 */
export function latin1(b: Uint8Array): string {
  return b.length <= 1024 ? String.fromCharCode.apply(null, b as unknown as number[]) : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Parses lowercase or uppercase hex (no 0x prefix); throws on anything else. */
export function fromHex(s: string): Uint8Array {
  const lower = s.toLowerCase();
  if (!HEX_RE.test(lower)) throw new TypeError("invalid hex string");
  return new Uint8Array(Buffer.from(lower, "hex"));
}

export function isHex(s: string, byteLength?: number): boolean {
  const lower = s.toLowerCase();
  return HEX_RE.test(lower) && (byteLength === undefined || lower.length === byteLength * 2);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic comparison, for deterministic ordering. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Unsigned 64-bit big-endian, used in storage keys so that byte order is numeric order. */
export function u64be(n: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

export function readU64be(b: Uint8Array, offset = 0): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(offset);
}

export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export const utf8 = {
  encode: (s: string): Uint8Array => new TextEncoder().encode(s),
  decode: (b: Uint8Array): string => new TextDecoder("utf-8", { fatal: true }).decode(b),
};
