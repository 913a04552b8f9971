/**
 * JSON forms of chain objects for the RPC: hashes and bytes as lowercase hex (no 0x),
 * accounts as `cc1...` addresses, amounts and nonces as decimal strings (they are u64),
 * heights, indices and times as numbers (safe: < 2^53 for any real chain).
 */
import { toHex } from "../chain/bytes.ts";
import type { Block, BlockHeader, Commit } from "../chain/block.ts";
import { toAddress } from "../chain/keys.ts";
import { channelStatus, type Voucher } from "../chain/paych.ts";
import type { Account, Channel } from "../chain/state.ts";
import type { ChainEvent, Receipt } from "../chain/transition.ts";
import { opName, type SignedTx } from "../chain/tx.ts";
import type { Evidence, SignedVote } from "../chain/evidence.ts";

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
    evidenceRoot: toHex(h.evidenceRoot),
    receiptsRoot: toHex(h.receiptsRoot),
    stateRoot: toHex(h.stateRoot),
    lastCommitHash: toHex(h.lastCommitHash),
    validatorsHash: toHex(h.validatorsHash),
    seedSig: toHex(h.seedSig),
  };
}

export function txJson(tx: SignedTx) {
  const op = opJson(tx.op);
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

export interface OpJson {
  type: string;
  to?: string;
  amount?: string;
  name?: string;
  code?: number;
  payee?: string;
  deposit?: string;
  settleDelay?: number;
  channel?: string;
  voucher?: VoucherJson;
}

export interface VoucherJson {
  channel: string;
  amount: string;
  nonce: string;
  signature: string;
}

export function voucherJson(v: Voucher): VoucherJson {
  return { channel: toHex(v.channel), amount: v.amount.toString(), nonce: v.nonce.toString(), signature: toHex(v.signature) };
}

/** A channel at the head; `best` is the best voucher this node holds for it (payees only). */
export function channelJson(c: Channel, best?: Voucher) {
  return {
    id: toHex(c.id),
    payer: toAddress(c.payer),
    payee: toAddress(c.payee),
    deposit: c.deposit.toString(),
    redeemed: c.redeemed.toString(),
    remaining: (c.settled ? 0n : c.deposit - c.redeemed).toString(),
    nonce: c.nonce.toString(),
    settleDelay: Number(c.settleDelay),
    closingAt: Number(c.closingAt),
    state: channelStatus(c),
    ...(best ? { bestVoucher: { amount: best.amount.toString(), nonce: best.nonce.toString() } } : {}),
  };
}

function opJson(op: SignedTx["op"]): OpJson {
  switch (op.type) {
    case "transfer":
      return { type: "transfer", to: toAddress(op.to), amount: op.amount.toString() };
    case "stake":
    case "unstake":
      return { type: op.type, amount: op.amount.toString() };
    case "validator.register":
      return { type: op.type, name: op.name };
    case "validator.unjail":
      return { type: op.type };
    case "paych.open":
      return { type: op.type, payee: toAddress(op.payee), deposit: op.deposit.toString(), settleDelay: Number(op.settleDelay) };
    case "paych.fund":
      return { type: op.type, channel: toHex(op.channel), amount: op.amount.toString() };
    case "paych.redeem":
      return { type: op.type, channel: toHex(op.voucher.channel), voucher: voucherJson(op.voucher) };
    case "paych.close":
    case "paych.withdraw":
      return { type: op.type, channel: toHex(op.channel) };
    case "unknown":
      return { type: opName(op), code: op.code };
    default: return { type: op.type }; // provider.* and storage.*: their JSON form is the RPC issue's
  }
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
    evidence: b.evidence.map(evidenceJson),
    size: b.bytes.length,
  };
}

function voteJson(v: SignedVote) {
  return { type: v.type, height: Number(v.height), round: v.round, blockHash: v.blockHash ? toHex(v.blockHash) : null, validator: toAddress(v.validator), signature: toHex(v.signature) };
}

export function evidenceJson(e: Evidence) {
  return { kind: e.kind, voteA: voteJson(e.voteA), voteB: voteJson(e.voteB) };
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
    case "stake":
      return { kind: e.kind, txHash: toHex(e.txHash), account: toAddress(e.account), amount: e.amount.toString() };
    case "unstake":
      return { kind: e.kind, txHash: toHex(e.txHash), account: toAddress(e.account), amount: e.amount.toString(), releaseHeight: Number(e.releaseHeight) };
    case "validatorRegister":
      return { kind: e.kind, txHash: toHex(e.txHash), validator: toAddress(e.validator), name: e.name };
    case "unjail":
      return { kind: e.kind, txHash: toHex(e.txHash), validator: toAddress(e.validator) };
    case "unbonded":
      return { kind: e.kind, account: toAddress(e.account), amount: e.amount.toString() };
    case "slash":
      return { kind: e.kind, validator: toAddress(e.validator), amount: e.amount.toString(), evidenceHeight: Number(e.evidenceHeight) };
    case "jail":
      return { kind: e.kind, validator: toAddress(e.validator), until: Number(e.until), reason: e.reason };
    case "paychOpen":
      return {
        kind: e.kind, txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), payee: toAddress(e.payee),
        deposit: e.deposit.toString(), settleDelay: Number(e.settleDelay),
      };
    case "paychFund":
      return { kind: e.kind, txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), amount: e.amount.toString(), deposit: e.deposit.toString() };
    case "paychRedeem":
      return {
        kind: e.kind, txHash: toHex(e.txHash), channel: toHex(e.channel), payee: toAddress(e.payee),
        amount: e.amount.toString(), redeemed: e.redeemed.toString(), nonce: e.nonce.toString(),
      };
    case "paychClose":
      return { kind: e.kind, txHash: toHex(e.txHash), channel: toHex(e.channel), closingAt: Number(e.closingAt) };
    case "paychWithdraw":
      return { kind: e.kind, txHash: toHex(e.txHash), channel: toHex(e.channel), payer: toAddress(e.payer), amount: e.amount.toString() };
  }
}
