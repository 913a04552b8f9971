/** The rewards module's state record: the validator signatures counted in the current epoch. */
import { asArray, asBytes, asU64, asUint, decode, decodeTrusted, encode, u64, type CborValue } from "../../primitives/codec.ts";

/** Signatures of one validator in the lastCommits of the current epoch's blocks. */
export interface SignerEntry {
  readonly publicKey: Uint8Array;
  readonly blocks: number;
  /** Sum over those blocks of the validator's power then (below 2^128). */
  readonly weight: bigint;
}

export interface SignerTally {
  readonly epoch: bigint;
  /** Sorted by public key. */
  readonly entries: readonly SignerEntry[];
}

const readBytes = (b: Uint8Array, trusted: boolean): CborValue => (trusted ? decodeTrusted(b) : decode(b));

const WEIGHT_BYTES = 16;
function u128be(x: bigint): Uint8Array {
  if (x < 0n || x >= 1n << 128n) throw new RangeError("weight out of range");
  const out = new Uint8Array(WEIGHT_BYTES);
  for (let i = WEIGHT_BYTES - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}
function readU128be(b: Uint8Array): bigint {
  let x = 0n;
  for (const byte of b) x = (x << 8n) | BigInt(byte);
  return x;
}

/** Weights are 16-byte big-endian byte strings: a sum of powers over an epoch can exceed u64. */
export function encodeSignerTally(t: SignerTally): Uint8Array {
  return encode([u64(t.epoch), t.entries.map((e) => [e.publicKey, e.blocks, u128be(e.weight)])]);
}
export function decodeSignerTally(b: Uint8Array, trusted = false): SignerTally {
  const v = asArray(readBytes(b, trusted), "signers", 2);
  return {
    epoch: asU64(v[0], "epoch"),
    entries: asArray(v[1], "entries").map((x) => {
      const e = asArray(x, "signer", 3);
      return { publicKey: asBytes(e[0], "publicKey", 32), blocks: asUint(e[1], "blocks"), weight: readU128be(asBytes(e[2], "weight", WEIGHT_BYTES)) };
    }),
  };
}
