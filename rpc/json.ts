/**
 * JSON forms of chain objects for the RPC: hashes and bytes as lowercase hex (no 0x),
 * accounts as `cc1...` addresses, amounts and nonces as decimal strings (they are u64),
 * heights, indices and times as numbers (safe: < 2^53 for any real chain).
 */
import { toHex } from "../primitives/bytes.ts";
import type { Block, BlockHeader, Commit } from "../chain/block.ts";
import { toAddress } from "../primitives/keys.ts";
import type { Account } from "../chain/state.ts";
import type { ChainEvent, Receipt } from "../chain/transition.ts";
import { opName, type SignedTx } from "../chain/tx.ts";
import type { Evidence } from "../chain/evidence.ts";
import { epochOfHeight } from "../chain/epoch.ts";
import type { ChainParams } from "../chain/params.ts";
import { registry } from "../chain/registry.ts";
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

/** An op's JSON: its type and the fields its module renders (chain/registry.ts OpSpec.json). */
export type OpJson = { type: string } & Record<string, unknown>;

function opJson(op: SignedTx["op"]): OpJson {
  if (op.type === "unknown") return { type: opName(op), code: op.code };
  const spec = registry().op(op.type);
  return { type: op.type, ...(spec ? spec.json(op) : {}) };
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

export function evidenceJson(e: Evidence): { kind: string } & Record<string, unknown> {
  const spec = registry().evidence(e.kind);
  return { kind: e.kind, ...(spec ? spec.json(e) : {}) };
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

/** An event's JSON: `{ kind, ...fields }` as its module renders it (chain/registry.ts EventSpec.json). */
export function eventJson(e: ChainEvent): { kind: string } & Record<string, unknown> {
  if (e.kind === "fee") {
    return { kind: e.kind, txHash: toHex(e.txHash), payer: toAddress(e.payer), burned: e.burned.toString(), toProposer: e.toProposer.toString() };
  }
  const spec = registry().event(e.kind);
  return { kind: e.kind, ...(spec ? spec.json(e) : {}) };
}

/** The epoch of the block after the head (the one being built): what "current epoch" means to the RPC. */
export function currentEpoch(headHeight: bigint, params: ChainParams): bigint {
  return epochOfHeight(headHeight + 1n, params.epochLength);
}
