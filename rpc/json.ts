/**
 * JSON forms of chain objects for the RPC: hashes and bytes as lowercase hex (no 0x),
 * accounts as `cc1...` addresses, amounts and nonces as decimal strings (they are u64),
 * heights, indices and times as numbers (safe: < 2^53 for any real chain).
 */
import { toHex } from "../chain/bytes.ts";
import type { Block, BlockHeader, Commit } from "../chain/block.ts";
import { toAddress } from "../chain/keys.ts";
import type { Account } from "../chain/state.ts";
import type { ChainEvent, Receipt } from "../chain/transition.ts";
import { opName, type SignedTx } from "../chain/tx.ts";

export function headerJson(h: BlockHeader, hash: Uint8Array) {
  return {
    hash: toHex(hash),
    height: Number(h.height),
    time: Number(h.time),
    timeIso: new Date(Number(h.time)).toISOString(),
    chainId: h.chainId,
    version: h.version,
    parentHash: toHex(h.parentHash),
    proposer: toAddress(h.proposer),
    txRoot: toHex(h.txRoot),
    receiptsRoot: toHex(h.receiptsRoot),
    stateRoot: toHex(h.stateRoot),
    lastCommitHash: toHex(h.lastCommitHash),
    validatorsHash: toHex(h.validatorsHash),
    seedSig: toHex(h.seedSig),
  };
}

export function txJson(tx: SignedTx) {
  const op =
    tx.op.type === "transfer"
      ? { type: "transfer", to: toAddress(tx.op.to), amount: tx.op.amount.toString() }
      : { type: opName(tx.op), code: tx.op.code };
  return {
    hash: toHex(tx.hash),
    sender: toAddress(tx.sender),
    nonce: tx.nonce.toString(),
    fee: tx.fee.toString(),
    op,
    signature: toHex(tx.signature),
    size: tx.size,
  };
}

export function receiptJson(r: Receipt) {
  return { ok: r.ok, code: r.code === "" ? null : r.code, fee: r.fee.toString() };
}

export function commitJson(c: Commit) {
  return {
    height: Number(c.height),
    round: c.round,
    blockHash: toHex(c.blockHash),
    signatures: c.signatures.map((s) => ({ validatorIndex: s.validatorIndex, signature: toHex(s.signature) })),
  };
}

export function blockJson(b: Block, full: boolean) {
  return {
    header: headerJson(b.header, b.hash),
    txs: full ? b.txs.map(txJson) : b.txs.map((t) => toHex(t.hash)),
    lastCommit: b.lastCommit ? commitJson(b.lastCommit) : null,
    size: b.bytes.length,
  };
}

export function accountJson(publicKey: Uint8Array, a: Account) {
  return {
    address: toAddress(publicKey),
    balance: a.balance.toString(),
    nonce: a.nonce.toString(),
    staked: a.staked.toString(),
    unbonding: a.unbonding.map((u) => ({ amount: u.amount.toString(), releaseHeight: Number(u.releaseHeight) })),
  };
}

export function eventJson(e: ChainEvent) {
  switch (e.kind) {
    case "transfer":
      return { kind: e.kind, txHash: toHex(e.txHash), from: toAddress(e.from), to: toAddress(e.to), amount: e.amount.toString() };
    case "fee":
      return { kind: e.kind, txHash: toHex(e.txHash), payer: toAddress(e.payer), burned: e.burned.toString(), toProposer: e.toProposer.toString() };
  }
}
