/**
 * ed25519 keys, signatures and `cc` addresses (docs/protocol.md section 1).
 *
 * ONE verification rule for the whole chain, implemented once in `verify`:
 *   1. lengths: public key 32 bytes, signature 64 bytes;
 *   2. S (the second half of the signature, little-endian) is canonical: S < L (RFC 8032 5.1.7);
 *   3. A (the public key) and R (the first half of the signature) are canonical encodings
 *      (y < p) and are NOT of small order (the 8-torsion: y in {0, 1, -1, +-y8}), whatever the
 *      sign bit; this forbids keys and nonces that make a signature valid for many messages;
 *   4. the cofactorless equation [S]B = R + [k]A, checked by node:crypto (OpenSSL).
 * Steps 1-3 are explicit byte checks here so that the rule does not depend on what a given
 * OpenSSL build happens to accept; test/unit/primitives/keys.test.ts pins the rule with edge-case vectors
 * and cross-checks it against @noble/curves.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import { bech32m } from "@scure/base";
import { CodedError } from "./errors.ts";

export const PUBLIC_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;
export const ADDRESS_PREFIX = "cc";

/** The group order L, little-endian, for the S < L check. */
const L_LE = (() => {
  const out = new Uint8Array(32);
  let l = (1n << 252n) + 27742317777372353535851937790883648493n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(l & 0xffn);
    l >>= 8n;
  }
  return out;
})();

/** y-coordinates (sign bit cleared) of the eight small-order points. */
const SMALL_ORDER_Y = [
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2 (y = -1)
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
].map((h) => Buffer.from(h, "hex"));

/** Little-endian a < b over 32 bytes. */
function lessThanLE(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = a[aOff + i]!;
    const y = b[i]!;
    if (x !== y) return x < y;
  }
  return false;
}

/** y < p = 2^255 - 19, looking only at the 255 bits of y. */
function isCanonicalY(b: Uint8Array, off: number): boolean {
  if ((b[off + 31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (b[off + i] !== 0xff) return true;
  return b[off]! < 0xed;
}

function isSmallOrderY(b: Uint8Array, off: number): boolean {
  for (const y of SMALL_ORDER_Y) {
    let same = (b[off + 31]! & 0x7f) === y[31];
    for (let i = 0; same && i < 31; i++) same = b[off + i] === y[i];
    if (same) return true;
  }
  return false;
}

/** Steps 1-3 of the rule: the checks on encodings, before any curve arithmetic. */
export function passesEncodingRules(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  if (!lessThanLE(signature, 32, L_LE)) return false;
  if (!isCanonicalY(publicKey, 0) || isSmallOrderY(publicKey, 0)) return false;
  if (!isCanonicalY(signature, 0) || isSmallOrderY(signature, 0)) return false;
  return true;
}

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Bounded cache of parsed public keys: verifying with a cached KeyObject is ~1.8x faster. */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 65_536;

function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("latin1");
  let ko = keyCache.get(id);
  if (ko === undefined) {
    try {
      ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
    } catch {
      return undefined;
    }
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(id, ko);
  }
  return ko;
}

/** THE signature verification rule of the chain. Never throws; false for anything invalid. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(message instanceof Uint8Array) || !passesEncodingRules(publicKey, signature)) return false;
  const ko = publicKeyObject(publicKey);
  if (ko === undefined) return false;
  try {
    return nodeVerify(null, message, ko, signature);
  } catch {
    return false;
  }
}

export interface KeyPair {
  /** 32-byte ed25519 seed (RFC 8032 private key). */
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new KeyError(KeyErrorCode.BAD_SEED, "an ed25519 seed is 32 bytes");
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  const seedCopy = new Uint8Array(seed);
  return {
    seed: seedCopy,
    publicKey,
    sign: (message) => {
      const s = nodeSign(null, message, priv);
      return new Uint8Array(s.buffer, s.byteOffset, s.byteLength);
    },
  };
}

export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(new Uint8Array(randomBytes(32)));
}

// ---- addresses: bech32m (BIP-350), prefix "cc", of the 32-byte public key ----

export const KeyErrorCode = {
  BAD_ADDRESS: "BAD_ADDRESS",
  BAD_SEED: "BAD_SEED",
} as const;
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode];
export class KeyError extends CodedError<KeyErrorCode> {}

export function toAddress(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) throw new KeyError(KeyErrorCode.BAD_ADDRESS, "a public key is 32 bytes");
  return bech32m.encode(ADDRESS_PREFIX, bech32m.toWords(publicKey));
}

/**
 * Decoded addresses, bounded: decoding is a pure function of the string, and RPC clients ask
 * about the same few addresses again and again (the check runs in params validation, then in
 * the handler). Only successful decodes are kept; the cache is cleared when full.
 */
const addressCache = new Map<string, Uint8Array>();
const ADDRESS_CACHE_MAX = 16_384;

/** The public key inside a `cc1...` address; throws KeyError(BAD_ADDRESS) with the reason. */
export function fromAddress(address: string): Uint8Array {
  const cached = addressCache.get(address);
  if (cached) return new Uint8Array(cached);
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(address as `${string}1${string}`);
  } catch (e) {
    throw new KeyError(KeyErrorCode.BAD_ADDRESS, `invalid address: ${(e as Error).message}`);
  }
  if (decoded.prefix !== ADDRESS_PREFIX) throw new KeyError(KeyErrorCode.BAD_ADDRESS, `address prefix must be "${ADDRESS_PREFIX}"`);
  let bytes: Uint8Array;
  try {
    bytes = bech32m.fromWords(decoded.words);
  } catch (e) {
    throw new KeyError(KeyErrorCode.BAD_ADDRESS, `invalid address payload: ${(e as Error).message}`);
  }
  if (bytes.length !== PUBLIC_KEY_LENGTH) throw new KeyError(KeyErrorCode.BAD_ADDRESS, "address must hold a 32-byte key");
  if (addressCache.size >= ADDRESS_CACHE_MAX) addressCache.clear();
  addressCache.set(address, new Uint8Array(bytes));
  return bytes;
}

export function isAddress(s: string): boolean {
  try {
    fromAddress(s);
    return true;
  } catch {
    return false;
  }
}
