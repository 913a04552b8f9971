/**
 * The simulated node's durable signer: the same never-double-sign rule as node/signer.ts
 * (refuse any (height, round, step) before the last one signed; refuse a different value at the
 * same one; re-signing the very same message returns the stored signature), with the record kept
 * in the node's in-memory "disk", which survives a simulated crash.
 */
import { equalBytes } from "../../primitives/bytes.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { SignStep } from "../../node/signer.ts";

export { SignStep };

export interface SignedRecord {
  readonly height: bigint;
  readonly round: number;
  readonly step: SignStep;
  readonly hash: Uint8Array;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

export type SignOutcome =
  | { readonly ok: true; readonly signature: Uint8Array }
  | { readonly ok: false; readonly code: "REGRESSION" | "CONFLICT" };

/** The part of the disk the signer owns; survives crashes (the caller keeps the object). */
export interface SignerDisk {
  lastSigned: SignedRecord | null;
}

export function durableSign(disk: SignerDisk, key: KeyPair, height: bigint, round: number, step: SignStep, hash: Uint8Array, message: Uint8Array): SignOutcome {
  const last = disk.lastSigned;
  if (last) {
    const cmp = height !== last.height ? (height < last.height ? -1 : 1) : round !== last.round ? round - last.round : step - last.step;
    if (cmp < 0) return { ok: false, code: "REGRESSION" };
    if (cmp === 0) {
      if (equalBytes(last.hash, hash) && equalBytes(last.message, message)) return { ok: true, signature: last.signature };
      return { ok: false, code: "CONFLICT" };
    }
  }
  const signature = key.sign(message);
  // "fsync" before the signature leaves: the record is written before returning.
  disk.lastSigned = { height, round, step, hash, message, signature };
  return { ok: true, signature };
}
