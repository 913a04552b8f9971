/**
 * Transactions (DESIGN.md section 4).
 *
 * Wire form (deterministic CBOR):  envelope = [bodyBytes: bstr, signature: bstr(64)]
 *                                   body     = [chainId, sender(32), nonce, fee, op]
 *                                   op       = [opCode, ...args]
 * The body travels as a byte string so that its hash is taken over the bytes received.
 * id = H("cloudcoin/tx/v1", bodyBytes); the sender signs the id. The chain id is inside the
 * body, so a transaction signed for one chain is invalid on every other.
 */
import { asArray, asBytes, asString, asU64, asUint, decode, encode, u64, type CborValue } from "../primitives/codec.ts";
import { CodecError, CodecErrorCode, CodedError } from "../primitives/errors.ts";
import { Tag, taggedHash } from "../primitives/hash.ts";
import { equalBytes, toHex } from "../primitives/bytes.ts";
import { verify, type KeyPair, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from "../primitives/keys.ts";
import { MAX_VALIDATOR_NAME_LENGTH } from "./state.ts";
import { CHANNEL_ID_LENGTH, invalidPaychOp, voucherFromValue, voucherValue, type Voucher } from "./paych.ts";
import { invalidStorageOp, MAX_CHALLENGES_PER_DEAL, MAX_MULTIADDR_LENGTH } from "./storage.ts";
import { dealTermsFromValue, dealTermsValue, type DealTerms } from "./storage-records.ts";
import { invalidBandwidthOp } from "./bandwidth.ts";
import { attestationFromValue, attestationValue } from "./bandwidth-records.ts";
import { MAX_CHUNK_SIZE, MAX_PATH_LENGTH, type ChunkProof } from "../proofs/storage.ts";
import type { Attestation } from "../proofs/bandwidth.ts";

/** Operation codes: the room for every operation of DESIGN.md section 4. */
export const OpCode = {
  TRANSFER: 0,
  STAKE: 1,
  UNSTAKE: 2,
  VALIDATOR_REGISTER: 3,
  PROVIDER_REGISTER: 4,
  PROVIDER_EXIT: 5,
  STORAGE_DEAL: 6,
  STORAGE_PROOF: 7,
  BANDWIDTH_ATTEST: 8,
  PAYCH_OPEN: 9,
  PAYCH_FUND: 10,
  PAYCH_REDEEM: 11,
  PAYCH_CLOSE: 12,
  PAYCH_WITHDRAW: 13,
  VALIDATOR_UNJAIL: 14,
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

export const OP_NAMES: Readonly<Record<number, string>> = {
  0: "transfer",
  1: "stake",
  2: "unstake",
  3: "validator.register",
  4: "provider.register",
  5: "provider.exit",
  6: "storage.deal",
  7: "storage.proof",
  8: "bandwidth.attest",
  9: "paych.open",
  10: "paych.fund",
  11: "paych.redeem",
  12: "paych.close",
  13: "paych.withdraw",
  14: "validator.unjail",
};

/**
 * Operations this version executes. Wire forms:
 *   transfer            [0, to(32), amount]
 *   stake               [1, amount]          balance -> staked
 *   unstake             [2, amount]          staked -> unbonding, released after params.unbondingBlocks
 *   validator.register  [3, name]            the sender becomes a validator candidate
 *   validator.unjail    [14]                 once the jail time is over
 *   paych.open          [9, payee(32), deposit, settleDelay]   chain/paych.ts
 *   paych.fund          [10, channel(32), amount]
 *   paych.redeem        [11, [channel(32), amount, nonce, signature(64)]]
 *   paych.close         [12, channel(32)]
 *   paych.withdraw      [13, channel(32)]
 *   provider.register   [4, kind, collateral, capacity, multiaddr]   chain/storage.ts; kind 0 storage, 1 bandwidth
 *   provider.exit       [5]
 *   storage.deal        [6, terms, providerSignature(64)]
 *                       terms = [provider(32), root(32), size, chunkSize, pricePerEpoch, durationEpochs, collateral, expiresAtHeight]
 *   storage.proof       [7, deal(32), epoch, [[index, chunk(<= 64 KiB), [hash(32), ...(<= 40)]], ...(<= 12)]]
 *   bandwidth.attest    [8, relay(32), epoch, bytes, throughput, latency, witness(32), signature(64)]
 *                       chain/bandwidth.ts; any sender, the witness's signature is what counts
 */
export type Operation =
  | { readonly type: "transfer"; readonly to: Uint8Array; readonly amount: bigint }
  | { readonly type: "stake"; readonly amount: bigint }
  | { readonly type: "unstake"; readonly amount: bigint }
  | { readonly type: "validator.register"; readonly name: string }
  | { readonly type: "validator.unjail" }
  | { readonly type: "paych.open"; readonly payee: Uint8Array; readonly deposit: bigint; readonly settleDelay: bigint }
  | { readonly type: "paych.fund"; readonly channel: Uint8Array; readonly amount: bigint }
  | { readonly type: "paych.redeem"; readonly voucher: Voucher }
  | { readonly type: "paych.close"; readonly channel: Uint8Array }
  | { readonly type: "paych.withdraw"; readonly channel: Uint8Array }
  /** `kind`: a ProviderKind (chain/storage-records.ts); any other value is TX_INVALID_OPERATION. */
  | { readonly type: "provider.register"; readonly kind: number; readonly collateral: bigint; readonly capacity: bigint; readonly multiaddr: string }
  | { readonly type: "provider.exit" }
  | { readonly type: "storage.deal"; readonly terms: DealTerms; readonly providerSignature: Uint8Array }
  | { readonly type: "storage.proof"; readonly deal: Uint8Array; readonly epoch: bigint; readonly chunks: readonly ChunkProof[] }
  | { readonly type: "bandwidth.attest"; readonly attestation: Attestation }
  /** Any operation this version does not execute: kept decoded so it can be rejected with a reason. */
  | { readonly type: "unknown"; readonly code: number; readonly args: readonly CborValue[] };

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

function encodeOp(op: Operation): CborValue[] {
  switch (op.type) {
    case "transfer":
      return [OpCode.TRANSFER, op.to, u64(op.amount)];
    case "stake":
      return [OpCode.STAKE, u64(op.amount)];
    case "unstake":
      return [OpCode.UNSTAKE, u64(op.amount)];
    case "validator.register":
      return [OpCode.VALIDATOR_REGISTER, op.name];
    case "validator.unjail":
      return [OpCode.VALIDATOR_UNJAIL];
    case "paych.open":
      return [OpCode.PAYCH_OPEN, op.payee, u64(op.deposit), u64(op.settleDelay)];
    case "paych.fund":
      return [OpCode.PAYCH_FUND, op.channel, u64(op.amount)];
    case "paych.redeem":
      return [OpCode.PAYCH_REDEEM, voucherValue(op.voucher)];
    case "paych.close":
      return [OpCode.PAYCH_CLOSE, op.channel];
    case "paych.withdraw":
      return [OpCode.PAYCH_WITHDRAW, op.channel];
    case "provider.register":
      return [OpCode.PROVIDER_REGISTER, op.kind, u64(op.collateral), u64(op.capacity), op.multiaddr];
    case "provider.exit":
      return [OpCode.PROVIDER_EXIT];
    case "storage.deal":
      return [OpCode.STORAGE_DEAL, dealTermsValue(op.terms), op.providerSignature];
    case "storage.proof":
      return [OpCode.STORAGE_PROOF, op.deal, u64(op.epoch), op.chunks.map((c): CborValue => [u64(c.index), c.chunk, [...c.path]])];
    case "bandwidth.attest":
      return [OpCode.BANDWIDTH_ATTEST, ...(attestationValue(op.attestation) as CborValue[])];
    case "unknown":
      return [op.code, ...op.args];
  }
}

/** Longest validator name a transaction may carry on the wire (validity is `isValidValidatorName`). */
const MAX_WIRE_NAME = 256;
// C0 controls, DEL and C1 controls: a name is shown in explorers and logs.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** A validator name: 1..MAX_VALIDATOR_NAME_LENGTH UTF-16 code units, no control characters. */
export function isValidValidatorName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_VALIDATOR_NAME_LENGTH && !CONTROL_RE.test(name);
}

function decodeOp(v: CborValue): Operation {
  const arr = asArray(v, "op");
  const code = asUint(arr[0], "op.code");
  switch (code) {
    case OpCode.TRANSFER: {
      asArray(v, "transfer", 3);
      return { type: "transfer", to: asBytes(arr[1], "transfer.to", PUBLIC_KEY_LENGTH), amount: asU64(arr[2], "transfer.amount") };
    }
    case OpCode.STAKE:
      asArray(v, "stake", 2);
      return { type: "stake", amount: asU64(arr[1], "stake.amount") };
    case OpCode.UNSTAKE:
      asArray(v, "unstake", 2);
      return { type: "unstake", amount: asU64(arr[1], "unstake.amount") };
    case OpCode.VALIDATOR_REGISTER:
      asArray(v, "validator.register", 2);
      return { type: "validator.register", name: asString(arr[1], "validator.register.name", MAX_WIRE_NAME) };
    case OpCode.VALIDATOR_UNJAIL:
      asArray(v, "validator.unjail", 1);
      return { type: "validator.unjail" };
    case OpCode.PAYCH_OPEN:
      asArray(v, "paych.open", 4);
      return { type: "paych.open", payee: asBytes(arr[1], "paych.open.payee", PUBLIC_KEY_LENGTH), deposit: asU64(arr[2], "paych.open.deposit"), settleDelay: asU64(arr[3], "paych.open.settleDelay") };
    case OpCode.PAYCH_FUND:
      asArray(v, "paych.fund", 3);
      return { type: "paych.fund", channel: asBytes(arr[1], "paych.fund.channel", CHANNEL_ID_LENGTH), amount: asU64(arr[2], "paych.fund.amount") };
    case OpCode.PAYCH_REDEEM:
      asArray(v, "paych.redeem", 2);
      return { type: "paych.redeem", voucher: voucherFromValue(arr[1]) };
    case OpCode.PAYCH_CLOSE:
      asArray(v, "paych.close", 2);
      return { type: "paych.close", channel: asBytes(arr[1], "paych.close.channel", CHANNEL_ID_LENGTH) };
    case OpCode.PAYCH_WITHDRAW:
      asArray(v, "paych.withdraw", 2);
      return { type: "paych.withdraw", channel: asBytes(arr[1], "paych.withdraw.channel", CHANNEL_ID_LENGTH) };
    case OpCode.PROVIDER_REGISTER:
      asArray(v, "provider.register", 5);
      return {
        type: "provider.register",
        kind: asUint(arr[1], "provider.register.kind", 255),
        collateral: asU64(arr[2], "provider.register.collateral"),
        capacity: asU64(arr[3], "provider.register.capacity"),
        multiaddr: asString(arr[4], "provider.register.multiaddr", MAX_MULTIADDR_LENGTH),
      };
    case OpCode.PROVIDER_EXIT:
      asArray(v, "provider.exit", 1);
      return { type: "provider.exit" };
    case OpCode.STORAGE_DEAL:
      asArray(v, "storage.deal", 3);
      return { type: "storage.deal", terms: dealTermsFromValue(arr[1]), providerSignature: asBytes(arr[2], "storage.deal.providerSignature", SIGNATURE_LENGTH) };
    case OpCode.STORAGE_PROOF: {
      asArray(v, "storage.proof", 4);
      const items = asArray(arr[3], "storage.proof.chunks");
      if (items.length > MAX_CHALLENGES_PER_DEAL) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.chunks: more than ${MAX_CHALLENGES_PER_DEAL}`);
      return {
        type: "storage.proof",
        deal: asBytes(arr[1], "storage.proof.deal", 32),
        epoch: asU64(arr[2], "storage.proof.epoch"),
        chunks: items.map((x) => {
          const c = asArray(x, "storage.proof chunk", 3);
          const chunk = asBytes(c[1], "storage.proof.chunk");
          if (chunk.length > MAX_CHUNK_SIZE) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.chunk: longer than ${MAX_CHUNK_SIZE} bytes`);
          const path = asArray(c[2], "storage.proof.path");
          if (path.length > MAX_PATH_LENGTH) throw new CodecError(CodecErrorCode.OUT_OF_RANGE, `storage.proof.path: longer than ${MAX_PATH_LENGTH}`);
          return { index: asU64(c[0], "storage.proof.index"), chunk, path: path.map((h) => asBytes(h, "storage.proof.path hash", 32)) };
        }),
      };
    }
    case OpCode.BANDWIDTH_ATTEST:
      asArray(v, "bandwidth.attest", 8);
      return { type: "bandwidth.attest", attestation: attestationFromValue(arr.slice(1), "bandwidth.attest") };
    default:
      return { type: "unknown", code, args: arr.slice(1) };
  }
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
export function decodeTx(bytes: Uint8Array): SignedTx {
  if (bytes.length > MAX_TX_BYTES) throw new TxError(TxErrorCode.TOO_LARGE, `transaction of ${bytes.length} bytes exceeds ${MAX_TX_BYTES}`);
  try {
    const env = asArray(decode(bytes), "tx", 2);
    const bodyBytes = asBytes(env[0], "tx.body");
    const signature = asBytes(env[1], "tx.signature", SIGNATURE_LENGTH);
    const body = asArray(decode(bodyBytes), "tx.body", 5);
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
 * Stateless validation (STYLE.md: validateBasic before any lookup): chain id, an operation this
 * version executes, operation arguments, and the signature — the expensive check last.
 */
export function validateTxBasic(tx: SignedTx, chainId: string): void {
  if (tx.chainId !== chainId) throw new TxError(TxErrorCode.WRONG_CHAIN_ID, `transaction is for chain "${tx.chainId}"`);
  switch (tx.op.type) {
    case "transfer":
    case "stake":
    case "unstake":
      if (tx.op.amount === 0n) throw new TxError(TxErrorCode.INVALID_OPERATION, `${tx.op.type} amount must be positive`);
      break;
    case "validator.register":
      if (!isValidValidatorName(tx.op.name)) {
        throw new TxError(TxErrorCode.INVALID_OPERATION, `validator name must be 1-${MAX_VALIDATOR_NAME_LENGTH} characters without control characters`);
      }
      break;
    case "validator.unjail":
      break;
    case "paych.open":
    case "paych.fund":
    case "paych.redeem":
    case "paych.close":
    case "paych.withdraw": {
      const reason = invalidPaychOp(tx.op);
      if (reason !== undefined) throw new TxError(TxErrorCode.INVALID_OPERATION, reason);
      break;
    }
    case "provider.register":
    case "provider.exit":
    case "storage.deal":
    case "storage.proof": {
      const reason = invalidStorageOp(tx.op);
      if (reason !== undefined) throw new TxError(TxErrorCode.INVALID_OPERATION, reason);
      break;
    }
    case "bandwidth.attest": {
      const reason = invalidBandwidthOp(tx.op);
      if (reason !== undefined) throw new TxError(TxErrorCode.INVALID_OPERATION, reason);
      break;
    }
    case "unknown": {
      const name = OP_NAMES[tx.op.code];
      throw new TxError(TxErrorCode.UNKNOWN_OPERATION, name ? `operation "${name}" is not enabled on this chain yet` : `unknown operation code ${tx.op.code}`, { op: tx.op.code });
    }
  }
  if (!verifyTxSignature(tx)) throw new TxError(TxErrorCode.BAD_SIGNATURE, "signature does not verify");
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
  return op.type === "unknown" ? (OP_NAMES[op.code] ?? `op#${op.code}`) : op.type;
}

/** Every account a transaction touches by its operation (the sender first), for the account index. */
export function txParticipants(tx: TxBody): Uint8Array[] {
  switch (tx.op.type) {
    case "transfer":
      return Buffer.compare(tx.op.to, tx.sender) === 0 ? [tx.sender] : [tx.sender, tx.op.to];
    case "paych.open":
      return Buffer.compare(tx.op.payee, tx.sender) === 0 ? [tx.sender] : [tx.sender, tx.op.payee];
    case "storage.deal":
      return Buffer.compare(tx.op.terms.provider, tx.sender) === 0 ? [tx.sender] : [tx.sender, tx.op.terms.provider];
    case "bandwidth.attest": {
      // the witness and the relay: their history shows the attestation whoever carried it
      const out = [tx.sender];
      for (const k of [tx.op.attestation.witness, tx.op.attestation.relay]) if (!out.some((x) => Buffer.compare(x, k) === 0)) out.push(k);
      return out;
    }
    case "stake":
    case "unstake":
    case "validator.register":
    case "validator.unjail":
    case "paych.fund":
    case "paych.redeem":
    case "paych.close":
    case "paych.withdraw":
    case "provider.register":
    case "provider.exit":
    case "storage.proof":
    case "unknown":
      return [tx.sender];
  }
}
