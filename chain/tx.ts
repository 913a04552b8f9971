/**
 * Transactions (docs/protocol.md section 2).
 *
 * Wire form (deterministic CBOR):  envelope = [bodyBytes: bstr, signature: bstr(64)]
 *                                   body     = [chainId, sender(32), nonce, fee, op]
 *                                   op       = [opCode, ...args]
 * The body travels as a byte string so that its hash is taken over the bytes received.
 * id = H("cloudcoin/tx/v1", bodyBytes); the sender signs the id. The chain id is inside the
 * body, so a transaction signed for one chain is invalid on every other.
 */
import { asArray, asBytes, asString, asU64, asUint, decode, encode, u64, type CborValue, type DecodeOptions } from "../primitives/codec.ts";
import { CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { equalBytes, toHex } from "../primitives/bytes.ts";
import { verify, type KeyPair, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from "../primitives/keys.ts";
import { registry, type OpSpec } from "./registry.ts";

/**
 * The operations, by type: empty here, each module adds its own (`declare module
 * "../../chain/tx.ts" { interface OpMap { transfer: TransferOp } }`), so `Operation` is the union
 * of every registered op wherever the modules are compiled. The wire codes, codecs and handlers
 * are the modules' `OpSpec`s (chain/registry.ts).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface OpMap {}

/** Any operation this version does not execute: kept decoded so it can be rejected with a reason. */
export interface UnknownOp {
  readonly type: "unknown";
  readonly code: number;
  readonly args: readonly CborValue[];
}

export type Operation = OpMap[keyof OpMap] | UnknownOp;

export interface TxBody {
  readonly chainId: string;
  readonly sender: Uint8Array;
  readonly nonce: bigint;
  readonly fee: bigint;
  readonly op: Operation;
}

export interface SignedTx extends TxBody {
  /** H("cloudcoin/tx/v1", bodyBytes): the id, and what the sender signs. */
  readonly hash: Uint8Array;
  readonly signature: Uint8Array;
  readonly bodyBytes: Uint8Array;
  /** The whole envelope, as received. */
  readonly bytes: Uint8Array;
  readonly size: number;
}

export const TxErrorCode = {
  MALFORMED: "TX_MALFORMED",
  TOO_LARGE: "TX_TOO_LARGE",
  WRONG_CHAIN_ID: "TX_WRONG_CHAIN_ID",
  BAD_SIGNATURE: "TX_BAD_SIGNATURE",
  UNKNOWN_OPERATION: "TX_UNKNOWN_OPERATION",
  INVALID_OPERATION: "TX_INVALID_OPERATION",
  WRONG_NONCE: "TX_WRONG_NONCE",
  FEE_TOO_LOW: "TX_FEE_TOO_LOW",
  CANNOT_PAY_FEE: "TX_CANNOT_PAY_FEE",
  DUPLICATE_IN_BLOCK: "TX_DUPLICATE_IN_BLOCK",
} as const;
export type TxErrorCode = (typeof TxErrorCode)[keyof typeof TxErrorCode];

/** A transaction that must never enter a block. `data.index` is set when found inside a block. */
export class TxError extends CodedError<TxErrorCode> {}

export const MAX_TX_BYTES = 1024 * 1024;

function specOf(op: Operation): OpSpec {
  const spec = registry().op(op.type);
  if (spec === undefined) throw new TypeError(`operation type ${op.type} is not registered`);
  return spec;
}

function encodeOp(op: Operation): CborValue[] {
  if (op.type === "unknown") return [op.code, ...op.args];
  const spec = specOf(op);
  return [spec.code, ...spec.encode(op)];
}

function decodeOp(v: CborValue): Operation {
  const arr = asArray(v, "op");
  const code = asUint(arr[0], "op.code");
  const spec = registry().opByCode(code);
  if (spec === undefined) return { type: "unknown", code, args: arr.slice(1) };
  return spec.decode(arr, v);
}

export function encodeTxBody(body: TxBody): Uint8Array {
  return encode([body.chainId, body.sender, u64(body.nonce), u64(body.fee), encodeOp(body.op)]);
}

export function txHashOfBody(bodyBytes: Uint8Array): Uint8Array {
  return taggedHash(Tag.TX, bodyBytes);
}

/** Builds and signs a transaction. */
export function signTx(body: Omit<TxBody, "sender">, key: KeyPair): SignedTx {
  const full: TxBody = { ...body, sender: key.publicKey };
  const bodyBytes = encodeTxBody(full);
  const hash = txHashOfBody(bodyBytes);
  const signature = key.sign(hash);
  const bytes = encode([bodyBytes, signature]);
  return { ...full, hash, signature, bodyBytes, bytes, size: bytes.length };
}

/**
 * Stateless decoding: canonical CBOR and the right shape, or TxError(MALFORMED / TOO_LARGE).
 * Does not check the signature; see `validateTxBasic`.
 */
export function decodeTx(bytes: Uint8Array, opts: DecodeOptions = {}): SignedTx {
  if (bytes.length > MAX_TX_BYTES) throw new TxError(TxErrorCode.TOO_LARGE, `transaction of ${bytes.length} bytes exceeds ${MAX_TX_BYTES}`);
  try {
    const env = asArray(decode(bytes, undefined, opts), "tx", 2);
    const bodyBytes = asBytes(env[0], "tx.body");
    const signature = asBytes(env[1], "tx.signature", SIGNATURE_LENGTH);
    const body = asArray(decode(bodyBytes, undefined, opts), "tx.body", 5);
    return {
      chainId: asString(body[0], "tx.chainId", 64),
      sender: asBytes(body[1], "tx.sender", PUBLIC_KEY_LENGTH),
      nonce: asU64(body[2], "tx.nonce"),
      fee: asU64(body[3], "tx.fee"),
      op: decodeOp(body[4]!),
      hash: txHashOfBody(bodyBytes),
      signature,
      bodyBytes,
      bytes,
      size: bytes.length,
    };
  } catch (e) {
    if (e instanceof CodedError) throw new TxError(TxErrorCode.MALFORMED, `malformed transaction: ${e.message}`, { cause: e.code });
    throw e;
  }
}

/**
 * Stateless validation (validateBasic before any lookup): chain id, an operation this
 * version executes, operation arguments, and the signature — the expensive check last.
 */
export function validateTxBasic(tx: SignedTx, chainId: string): void {
  validateTxShape(tx, chainId);
  if (!verifyTxSignature(tx)) throw new TxError(TxErrorCode.BAD_SIGNATURE, "signature does not verify");
}

/**
 * `validateTxBasic` without the signature: chain id, known operation, the op's own stateless rules.
 * For callers that check the signature elsewhere (a worker thread) and then `rememberVerifiedTx`.
 */
export function validateTxShape(tx: SignedTx, chainId: string): void {
  if (tx.chainId !== chainId) throw new TxError(TxErrorCode.WRONG_CHAIN_ID, `transaction is for chain "${tx.chainId}"`);
  if (tx.op.type === "unknown") throw new TxError(TxErrorCode.UNKNOWN_OPERATION, `unknown operation code ${tx.op.code}`, { op: tx.op.code });
  const reason = specOf(tx.op).validateBasic(tx.op);
  if (reason !== undefined) throw new TxError(TxErrorCode.INVALID_OPERATION, reason);
}

/** Whether this transaction's exact signature is known to verify (no check is made on a miss). */
export function isTxVerified(tx: SignedTx): boolean {
  const known = verifiedTxs.get(toHex(tx.hash));
  return known !== undefined && equalBytes(known, tx.signature);
}

/**
 * Records that `verify(tx.sender, tx.hash, tx.signature)` returned true when run elsewhere (the
 * verify worker pool runs this module's `verify`): later checks of the same bytes are lookups.
 * Only for a true answer of that rule.
 */
export function rememberVerifiedTx(tx: SignedTx): void {
  const id = toHex(tx.hash);
  verifiedTxs.delete(id);
  if (verifiedTxs.size >= VERIFIED_CACHE_MAX) verifiedTxs.delete(verifiedTxs.keys().next().value!);
  verifiedTxs.set(id, tx.signature);
}

/**
 * Valid transaction signatures seen recently, by tx id: a node checks a transaction when it
 * enters the mempool and again when a block carrying it is validated and applied, and the second
 * check is then a lookup. Only a speed-up: the id covers the sender and the body, and the stored
 * signature must be byte-identical, so a hit means the very (key, message, signature) that
 * verified. Oldest entries are dropped first; only valid signatures are kept.
 */
const VERIFIED_CACHE_MAX = 65_536;
const verifiedTxs = new Map<string, Uint8Array>();

/** Forgets every cached verification (benchmarks measuring verification, tests). */
export function clearVerifiedTxCache(): void {
  verifiedTxs.clear();
}

function verifyTxSignature(tx: SignedTx): boolean {
  const id = toHex(tx.hash);
  const known = verifiedTxs.get(id);
  if (known !== undefined && equalBytes(known, tx.signature)) return true;
  if (!verify(tx.sender, tx.hash, tx.signature)) return false;
  if (verifiedTxs.size >= VERIFIED_CACHE_MAX) verifiedTxs.delete(verifiedTxs.keys().next().value!);
  verifiedTxs.set(id, tx.signature);
  return true;
}


export function opName(op: Operation): string {
  return op.type === "unknown" ? `op#${op.code}` : op.type;
}

/** Every account a transaction touches by its operation (the sender first, no key twice), for the account index. */
export function txParticipants(tx: TxBody): Uint8Array[] {
  const out = [tx.sender];
  if (tx.op.type === "unknown") return out;
  for (const k of specOf(tx.op).participants(tx as never)) if (!out.some((x) => equalBytes(x, k))) out.push(k);
  return out;
}
