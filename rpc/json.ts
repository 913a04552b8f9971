/**
 * JSON forms of chain objects for the RPC: hashes and bytes as lowercase hex (no 0x),
 * accounts as `cc1...` addresses, amounts and nonces as decimal strings (they are u64),
 * heights, indices and times as numbers (safe: < 2^53 for any real chain).
 */
import { toHex } from "../primitives/bytes.ts";
import type { Block, BlockHeader, Commit } from "../chain/block.ts";
import { toAddress } from "../primitives/keys.ts";
import { channelStatus, type Voucher } from "../chain/paych.ts";
import type { Account, Channel } from "../chain/state.ts";
import type { ChainEvent, Receipt } from "../chain/transition.ts";
import { opName, type SignedTx } from "../chain/tx.ts";
import type { Attestation } from "../chain/bandwidth.ts";
import type { Evidence, SignedVote } from "../chain/evidence.ts";
import { epochOfHeight } from "../chain/epoch.ts";
import {
  DEAL_STATUS_NAMES, freeCollateral, isBanned, PROVIDER_KIND_NAMES, PROVIDER_STATUS_NAMES, reputationBps, type DealTerms, type Provider, type StorageDeal,
} from "../chain/storage.ts";
import { isProviderKind } from "../chain/storage-records.ts";
import type { ChainParams } from "../chain/params.ts";
import { JsonText } from "./table.ts";

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
  // provider.register
  kind?: string;
  collateral?: string;
  capacity?: string;
  multiaddr?: string;
  // storage.deal
  terms?: DealTermsJson;
  providerSignature?: string;
  // storage.proof (the chunks themselves are left out: up to ~800 KB of hex)
  deal?: string;
  epoch?: number;
  chunks?: { index: string; length: number; pathLength: number }[];
  // bandwidth.attest
  attestation?: AttestationJson;
}

export type AttestationJson = ReturnType<typeof attestationJson>;

export interface DealTermsJson {
  provider: string;
  root: string;
  size: string;
  chunkSize: number;
  pricePerEpoch: string;
  durationEpochs: number;
  collateral: string;
  expiresAtHeight: number;
}

export function dealTermsJson(t: DealTerms): DealTermsJson {
  return {
    provider: toAddress(t.provider), root: toHex(t.root), size: t.size.toString(), chunkSize: Number(t.chunkSize), pricePerEpoch: t.pricePerEpoch.toString(),
    durationEpochs: Number(t.durationEpochs), collateral: t.collateral.toString(), expiresAtHeight: Number(t.expiresAtHeight),
  };
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
    case "provider.register":
      return {
        type: op.type, kind: isProviderKind(op.kind) ? PROVIDER_KIND_NAMES[op.kind] : `kind#${op.kind}`, collateral: op.collateral.toString(),
        capacity: op.capacity.toString(), multiaddr: op.multiaddr,
      };
    case "provider.exit":
      return { type: op.type };
    case "storage.deal":
      return { type: op.type, terms: dealTermsJson(op.terms), providerSignature: toHex(op.providerSignature) };
    case "storage.proof":
      return {
        type: op.type, deal: toHex(op.deal), epoch: Number(op.epoch),
        chunks: op.chunks.map((c) => ({ index: c.index.toString(), length: c.chunk.length, pathLength: c.path.length })),
      };
    case "bandwidth.attest":
      return { type: op.type, attestation: attestationJson(op.attestation) };
    case "unknown":
      return { type: opName(op), code: op.code };
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

export type BlockJson = ReturnType<typeof blockJson>;
/**
 * The serialized JSON of blocks already asked for, per decoded Block (the store keeps recent
 * ones decoded, so the latest blocks are asked for again and again, by chain_getBlock and the
 * finalizedBlocks subscription). A block never changes, so neither does its text; only the text
 * is kept, not the object it was made from.
 */
const blockJsonMemo = new WeakMap<Block, { hashes?: JsonText<BlockJson>; full?: JsonText<BlockJson> }>();

export function blockJsonText(b: Block, full: boolean): JsonText<BlockJson> {
  let m = blockJsonMemo.get(b);
  if (m === undefined) blockJsonMemo.set(b, (m = {}));
  return full ? (m.full ??= new JsonText(JSON.stringify(blockJson(b, true)))) : (m.hashes ??= new JsonText(JSON.stringify(blockJson(b, false))));
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

/** An attestation: addresses, decimal strings for bytes (bytes), throughput (bytes/s) and latency (µs). */
export function attestationJson(a: Attestation) {
  return {
    relay: toAddress(a.relay), epoch: Number(a.epoch), bytes: a.bytes.toString(), throughput: a.throughput.toString(), latency: a.latency.toString(),
    witness: toAddress(a.witness), signature: toHex(a.signature),
  };
}

export function evidenceJson(e: Evidence) {
  return e.kind === "duplicateVote"
    ? { kind: e.kind, voteA: voteJson(e.voteA), voteB: voteJson(e.voteB) }
    : { kind: e.kind, a: attestationJson(e.a), b: attestationJson(e.b) };
}

/** `address`: the account's address as the caller has it (bech32 of its key); it is not re-encoded here. */
export function accountJson(address: string, a: Account) {
  return {
    address,
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
    case "providerRegister":
      return {
        kind: e.kind, txHash: toHex(e.txHash), provider: toAddress(e.provider), providerKind: e.providerKind, collateral: e.collateral.toString(),
        capacity: e.capacity.toString(), multiaddr: e.multiaddr,
      };
    case "providerExit":
      return { kind: e.kind, txHash: toHex(e.txHash), provider: toAddress(e.provider), returned: e.returned.toString(), activeDeals: e.activeDeals };
    case "providerCollateralReturned":
      return { kind: e.kind, provider: toAddress(e.provider), epoch: Number(e.epoch), amount: e.amount.toString() };
    case "providerBan":
      return { kind: e.kind, provider: toAddress(e.provider), epoch: Number(e.epoch), until: Number(e.until), strikes: e.strikes };
    case "storageDeal":
      return {
        kind: e.kind, txHash: toHex(e.txHash), deal: toHex(e.deal), client: toAddress(e.client), provider: toAddress(e.provider), size: e.size.toString(),
        escrow: e.escrow.toString(), collateral: e.collateral.toString(), startEpoch: Number(e.startEpoch),
      };
    case "storageProof":
      return { kind: e.kind, txHash: toHex(e.txHash), deal: toHex(e.deal), provider: toAddress(e.provider), epoch: Number(e.epoch) };
    case "storagePayment":
      return { kind: e.kind, deal: toHex(e.deal), provider: toAddress(e.provider), epoch: Number(e.epoch), amount: e.amount.toString() };
    case "storageSlash":
      return {
        kind: e.kind, deal: toHex(e.deal), provider: toAddress(e.provider), client: toAddress(e.client), epoch: Number(e.epoch), amount: e.amount.toString(), misses: e.misses,
      };
    case "storageDealEnd":
      return {
        kind: e.kind, deal: toHex(e.deal), provider: toAddress(e.provider), client: toAddress(e.client), epoch: Number(e.epoch), reason: e.reason,
        refunded: e.refunded.toString(), unlocked: e.unlocked.toString(),
      };
    case "reward":
      return { kind: e.kind, epoch: Number(e.epoch), to: toAddress(e.to), amount: e.amount.toString(), pool: e.pool, basis: e.basis.toString(), reputationBps: e.reputationBps };
    case "bandwidthAssign":
      return { kind: e.kind, relay: toAddress(e.relay), epoch: Number(e.epoch), witnesses: e.witnesses.map(toAddress) };
    case "bandwidthAttest":
      return { kind: e.kind, txHash: toHex(e.txHash), relay: toAddress(e.relay), epoch: Number(e.epoch), witness: toAddress(e.witness), throughput: e.throughput.toString() };
    case "bandwidthCredit":
      return { kind: e.kind, relay: toAddress(e.relay), epoch: Number(e.epoch), attestations: e.attestations, credited: e.credited.toString() };
    case "attestSlash":
      return { kind: e.kind, witness: toAddress(e.witness), relay: toAddress(e.relay), epoch: Number(e.epoch), amount: e.amount.toString() };
  }
}

/** A provider at the head; `epoch` is the current epoch (for its ban and reputation). */
export function providerJson(p: Provider, epoch: bigint, params: ChainParams) {
  return {
    address: toAddress(p.key),
    kind: PROVIDER_KIND_NAMES[p.kind],
    status: PROVIDER_STATUS_NAMES[p.status],
    collateral: p.collateral.toString(),
    locked: p.locked.toString(),
    freeCollateral: freeCollateral(p).toString(),
    capacity: p.capacity.toString(),
    used: p.used.toString(),
    multiaddr: p.multiaddr,
    registeredAt: Number(p.registeredAt),
    activeDeals: p.activeDeals,
    banned: isBanned(p, epoch),
    bannedUntil: Number(p.bannedUntil),
    strikes: p.strikes,
    reputationBps: reputationBps(p, epoch, params.reputationWindowEpochs),
    reputation: p.reputation.map((r) => ({ epoch: Number(r.epoch), made: r.made, due: r.due })),
  };
}

export function dealJson(d: StorageDeal) {
  return {
    id: toHex(d.id),
    client: toAddress(d.client),
    provider: toAddress(d.provider),
    root: toHex(d.root),
    size: d.size.toString(),
    chunkSize: d.chunkSize,
    chunkCount: d.chunkCount.toString(),
    pricePerEpoch: d.pricePerEpoch.toString(),
    durationEpochs: Number(d.durationEpochs),
    collateral: d.collateral.toString(),
    collateralLeft: d.collateralLeft.toString(),
    escrow: d.escrow.toString(),
    createdAt: Number(d.createdAt),
    startEpoch: Number(d.startEpoch),
    challenged: Number(d.challenged),
    misses: d.misses,
    lastProvenEpoch: d.lastProvenEpoch === null ? null : Number(d.lastProvenEpoch),
    status: DEAL_STATUS_NAMES[d.status],
    endedAt: d.status === 0 ? null : Number(d.endedAt),
  };
}

/** The epoch of the block after the head (the one being built): what "current epoch" means to the RPC. */
export function currentEpoch(headHeight: bigint, params: ChainParams): bigint {
  return epochOfHeight(headHeight + 1n, params.epochLength);
}
