/**
 * The state transition (docs/protocol.md section 2): pure and deterministic. No clock, no randomness,
 * no I/O, no floats; iteration only over arrays in block order or over sorted keys.
 *
 *   applyBlock(state, block, params) -> { state, receipts, events, changes }   (verify a block)
 *   buildBlock(state, candidates, ...) -> { block, ... }                       (propose a block)
 *
 * A block executes in this order: its evidence (chain/evidence.ts: slash and jail double-signers,
 * slash double-attesting witnesses), downtime accounting over its lastCommit (which also tallies
 * the signatures for the epoch's validator reward), its transactions, then the end of block:
 * unbonding releases due at this height, the proposer's fees, at the last block of an epoch the
 * storage and bandwidth settlement and the epoch's minting (chain/storage.ts, chain/bandwidth.ts,
 * chain/rewards.ts), the validator-set rotation (chain/staking.ts) and the chain counters; at the
 * first block of an epoch the new chain seed becomes the epoch's challenge seed (chain/epoch.ts)
 * and every relay is assigned its witnesses for the epoch (chain/bandwidth.ts).
 *
 * A transaction is either invalid (bad signature, wrong nonce, fee below the minimum, cannot pay
 * its fee, unknown operation: TxError, and a block containing it is invalid) or executes: the fee
 * and the nonce are consumed, and the operation succeeds or fails with a receipt code, rolled back.
 */
import { addU64 } from "../primitives/amount.ts";
import { merkleRoot } from "../proofs/merkle.ts";
import {
  BlockError, BlockErrorCode, BLOCK_VERSION, MAX_BLOCK_EVIDENCE, commitHash, makeBlock, nextSeed, seedSignBytes, verifyCommit,
  type Block, type Commit,
} from "./block.ts";
import { encode, u64 } from "../primitives/codec.ts";
import { equalBytes } from "../primitives/bytes.ts";
import { applyEvidence, EvidenceError, evidenceRoot, type Evidence } from "./evidence.ts";
import { newBlockContext, OpError, type BlockContext, type ChainEvent, type Receipt } from "./exec.ts";
import { verify, type KeyPair } from "../primitives/keys.ts";
import type { ChainParams } from "./params.ts";
import { epochOfHeight, isFirstBlockOfEpoch, isLastBlockOfEpoch, recordEpochSeed } from "./epoch.ts";
import { registry } from "./registry.ts";
import { ChainState, StateWriter, validatorsHash, type StateChange, type StateReader } from "./state.ts";
import { opName, TxError, TxErrorCode, validateTxBasic, validateTxShape, type SignedTx } from "./tx.ts";

export { ExecError, ExecErrorCode, OpError, type ChainEvent, type Receipt } from "./exec.ts";

export interface BlockResult {
  readonly state: ChainState;
  readonly receipts: Receipt[];
  readonly events: ChainEvent[];
  /** Net state changes in key order: what the store writes with the block. */
  readonly changes: StateChange[];
}

export function encodeReceipt(r: Receipt): Uint8Array {
  return encode([r.txHash, r.ok, r.code, u64(r.fee)]);
}

export function receiptsRoot(receipts: readonly Receipt[]): Uint8Array {
  return merkleRoot(receipts.map(encodeReceipt));
}

export function txRoot(txs: readonly SignedTx[]): Uint8Array {
  return merkleRoot(txs.map((t) => t.hash));
}

/**
 * The fee rules: at least params.minTxFee, and payable from the sender's balance or, when the
 * balance is short, from what the op itself would pay the sender (its OpSpec's optional
 * `feeFromPayout`: a payee with no balance can redeem a voucher). Reads only. Returns the part of
 * the fee the balance cannot pay (0 in the usual case), which the op's payout must cover.
 */
export function checkTxFee(r: StateReader, tx: SignedTx, params: ChainParams): bigint {
  if (tx.fee < params.minTxFee) throw new TxError(TxErrorCode.FEE_TOO_LOW, `fee ${tx.fee} below the minimum ${params.minTxFee}`, { minimum: params.minTxFee.toString() });
  const balance = r.account(tx.sender).balance;
  if (balance >= tx.fee) return 0n;
  const spec = tx.op.type === "unknown" ? undefined : registry().op(tx.op.type);
  const payout = spec?.feeFromPayout?.(r, tx) ?? 0n;
  if (balance + payout < tx.fee) throw new TxError(TxErrorCode.CANNOT_PAY_FEE, `balance ${balance} cannot pay fee ${tx.fee}${payout > 0n ? ` (with the op's payout ${payout})` : ""}`);
  return tx.fee - balance;
}

/** Stateful checks that make a transaction invalid: the nonce, then the fee rules. Reads only; returns checkTxFee's shortfall. */
export function checkTxAgainstState(w: StateWriter | ChainState, tx: SignedTx, params: ChainParams): bigint {
  const sender = w.account(tx.sender);
  if (tx.nonce !== sender.nonce) {
    throw new TxError(TxErrorCode.WRONG_NONCE, `nonce ${tx.nonce}, account expects ${sender.nonce}`, { expected: sender.nonce.toString() });
  }
  return checkTxFee(w, tx, params);
}

/**
 * Executes one transaction whose stateless validity is already known. Throws TxError when it is
 * invalid against the state (nothing is written then); otherwise returns its receipt.
 *
 * A fee the balance cannot pay is taken from the op's payout: the op runs first and the fee is
 * charged after it; if the op fails (or pays less than its feeFromPayout promised) the
 * transaction cannot pay its fee and is invalid, with nothing written.
 */
function executeTx(w: StateWriter, tx: SignedTx, ctx: BlockContext): Receipt {
  const { params, events } = ctx;
  const shortfall = checkTxAgainstState(w, tx, params);
  const burned = (tx.fee * BigInt(params.feeBurnBps)) / 10_000n;
  const feeEvent = { kind: "fee", txHash: tx.hash, payer: tx.sender, burned, toProposer: tx.fee - burned } as const;
  if (shortfall > 0n) return executeFeeFromPayout(w, tx, ctx, feeEvent);
  const sender = w.account(tx.sender);
  w.setAccount(tx.sender, { ...sender, balance: sender.balance - tx.fee, nonce: sender.nonce + 1n });
  ctx.burned += burned;
  ctx.toProposer += tx.fee - burned;
  events.push(feeEvent);

  const cp = w.checkpoint();
  const eventsBefore = events.length;
  try {
    executeOp(w, tx, ctx);
    return { txHash: tx.hash, ok: true, code: "", fee: tx.fee };
  } catch (e) {
    if (!(e instanceof OpError)) throw e;
    w.revert(cp);
    events.length = eventsBefore;
    return { txHash: tx.hash, ok: false, code: e.code, fee: tx.fee };
  }
}

function executeFeeFromPayout(w: StateWriter, tx: SignedTx, ctx: BlockContext, feeEvent: ChainEvent & { kind: "fee" }): Receipt {
  const { events } = ctx;
  const cp = w.checkpoint();
  const eventsBefore = events.length;
  const unpaid = (why: string): never => {
    w.revert(cp);
    events.length = eventsBefore;
    throw new TxError(TxErrorCode.CANNOT_PAY_FEE, `the fee ${tx.fee} was to come from the op's payout, but ${why}`);
  };
  const sender = w.account(tx.sender);
  w.setAccount(tx.sender, { ...sender, nonce: sender.nonce + 1n });
  events.push(feeEvent);
  try {
    executeOp(w, tx, ctx);
  } catch (e) {
    if (!(e instanceof OpError)) throw e;
    unpaid(`the op failed: ${e.code}`);
  }
  const after = w.account(tx.sender);
  if (after.balance < tx.fee) unpaid(`the balance after it is ${after.balance}`);
  w.setAccount(tx.sender, { ...after, balance: after.balance - tx.fee });
  ctx.burned += feeEvent.burned;
  ctx.toProposer += feeEvent.toProposer;
  return { txHash: tx.hash, ok: true, code: "", fee: tx.fee };
}

function executeOp(w: StateWriter, tx: SignedTx, ctx: BlockContext): void {
  const op = tx.op;
  // validateTxBasic rejects unknown ops before execution; reaching here is a programming error.
  const spec = op.type === "unknown" ? undefined : registry().op(op.type);
  if (spec === undefined) throw new TxError(TxErrorCode.UNKNOWN_OPERATION, `operation ${opName(op)} cannot execute`);
  spec.execute(w, ctx, tx);
}

/**
 * The part of a block that runs before its transactions: the evidence (EvidenceError with
 * data.index for an invalid one), then each module's beginBlock hook with the commit the block
 * carries (staking: downtime and the epoch's signature tally).
 */
function beginBlock(w: StateWriter, ctx: BlockContext, evidence: readonly Evidence[], lastCommit: Commit | null, chainId: string): void {
  evidence.forEach((ev, index) => {
    try {
      applyEvidence(w, ctx, ev, chainId);
    } catch (e) {
      if (e instanceof EvidenceError) throw new EvidenceError(e.code, `evidence ${index}: ${e.message}`, { ...e.data, index });
      throw e;
    }
  });
  for (const m of registry().modules) m.hooks?.beginBlock?.(w, ctx, lastCommit);
}

/**
 * The end of a block, module by module in list order: endBlock hooks (staking: unbonding queue
 * and releases), the proposer's fees, at the last block of an epoch the endEpoch hooks (rewards:
 * settlement and minting), the commitBlock hooks (staking: the validator-set rotation), the chain
 * seed, and at an epoch's first block its seed record and the beginEpoch hooks (bandwidth: the
 * relays' witnesses), then the chain counters.
 */
function finishBlock(w: StateWriter, ctx: BlockContext, proposer: Uint8Array, time: bigint, seedSig: Uint8Array): void {
  const modules = registry().modules;
  for (const m of modules) m.hooks?.endBlock?.(w, ctx);
  if (ctx.toProposer > 0n) {
    const p = w.account(proposer);
    w.setAccount(proposer, { ...p, balance: addU64(p.balance, ctx.toProposer) });
  }
  const epoch = epochOfHeight(ctx.height, ctx.params.epochLength);
  if (isLastBlockOfEpoch(ctx.height, ctx.params.epochLength)) for (const m of modules) m.hooks?.endEpoch?.(w, ctx, epoch);
  for (const m of modules) m.hooks?.commitBlock?.(w, ctx);
  const meta = w.meta();
  const seed = nextSeed(meta.seed, seedSig);
  if (isFirstBlockOfEpoch(ctx.height, ctx.params.epochLength)) {
    recordEpochSeed(w, ctx, seed);
    for (const m of modules) m.hooks?.beginEpoch?.(w, ctx, epoch, seed);
  }
  w.setMeta({ ...meta, height: ctx.height, time, seed, minted: addU64(meta.minted, ctx.minted), burned: addU64(meta.burned, ctx.burned) });
}

function checkHeader(state: ChainState, block: Block, chainId: string, params: ChainParams): void {
  const h = block.header;
  const meta = state.meta();
  if (h.version !== BLOCK_VERSION) throw new BlockError(BlockErrorCode.WRONG_VERSION, `block version ${h.version}`);
  if (h.chainId !== chainId) throw new BlockError(BlockErrorCode.WRONG_CHAIN_ID, `block is for chain "${h.chainId}"`);
  if (h.height !== meta.height + 1n) throw new BlockError(BlockErrorCode.WRONG_HEIGHT, `height ${h.height}, expected ${meta.height + 1n}`);
  if (!equalBytes(h.parentHash, state.lastBlockHash)) throw new BlockError(BlockErrorCode.WRONG_PARENT, "parent hash is not the last block");
  if (h.time <= meta.time) throw new BlockError(BlockErrorCode.TIME_NOT_INCREASING, `time ${h.time} not after ${meta.time}`);
  const validators = state.validators();
  if (!validators.some((v) => equalBytes(v.publicKey, h.proposer))) throw new BlockError(BlockErrorCode.UNKNOWN_PROPOSER, "proposer is not a validator");
  if (!equalBytes(h.validatorsHash, validatorsHash(validators))) throw new BlockError(BlockErrorCode.WRONG_VALIDATORS_HASH, "validators hash mismatch");
  if (!verify(h.proposer, seedSignBytes(chainId, h.height), h.seedSig)) throw new BlockError(BlockErrorCode.BAD_SEED_SIGNATURE, "seed signature does not verify");
  if (!equalBytes(h.lastCommitHash, commitHash(block.lastCommit))) throw new BlockError(BlockErrorCode.WRONG_LAST_COMMIT_HASH, "last commit hash mismatch");
  if (h.height === 1n) {
    if (block.lastCommit !== null) throw new BlockError(BlockErrorCode.BAD_COMMIT, "the first block carries no commit");
  } else {
    if (block.lastCommit === null) throw new BlockError(BlockErrorCode.BAD_COMMIT, "block carries no commit for its parent");
    // The parent was signed by the set that produced it: lastValidators.
    verifyCommit(chainId, state.lastValidators(), h.height - 1n, h.parentHash, block.lastCommit);
  }
  if (block.evidence.length > MAX_BLOCK_EVIDENCE) throw new BlockError(BlockErrorCode.TOO_MUCH_EVIDENCE, `${block.evidence.length} evidence > ${MAX_BLOCK_EVIDENCE}`);
  if (!equalBytes(h.evidenceRoot, evidenceRoot(block.evidence))) throw new BlockError(BlockErrorCode.WRONG_EVIDENCE_ROOT, "evidence root mismatch");
  if (block.txs.length > params.maxBlockTxs) throw new BlockError(BlockErrorCode.TOO_MANY_TXS, `${block.txs.length} txs > ${params.maxBlockTxs}`);
  let bytes = 0;
  for (const t of block.txs) bytes += t.size;
  if (bytes > params.maxBlockBytes) throw new BlockError(BlockErrorCode.TOO_LARGE, `${bytes} tx bytes > ${params.maxBlockBytes}`);
  if (!equalBytes(h.txRoot, txRoot(block.txs))) throw new BlockError(BlockErrorCode.WRONG_TX_ROOT, "tx root mismatch");
}

export interface ApplyOptions {
  /**
   * Skip the per-transaction signature checks (the other stateless rules still run): for a caller
   * that checks every signature itself at the same time and discards the result unless all verify
   * (node/tx-ingest.ts applyBlockVerifying).
   */
  readonly skipTxSignatures?: boolean;
}

/** What executing a block's transactions yields, before any root is computed. */
export interface ExecutedBlock {
  readonly receipts: Receipt[];
  readonly events: ChainEvent[];
  /** Net state changes in key order. */
  readonly changes: StateChange[];
}

/**
 * Executes a block's evidence, transactions and end-of-block accounting on `state`: the
 * per-transaction import work (stateless checks including the signature, then execution),
 * without the header checks and without computing any root. Throws EvidenceError (with
 * data.index) for invalid evidence and TxError (with data.index) for an invalid tx.
 */
export function executeBlock(state: ChainState, block: Block, params: ChainParams, chainId: string, opts: ApplyOptions = {}): ExecutedBlock {
  const w = new StateWriter(state);
  const ctx = newBlockContext(block.header.height, params, block.header.proposer);
  const receipts: Receipt[] = [];
  beginBlock(w, ctx, block.evidence, block.lastCommit, chainId);
  block.txs.forEach((tx, index) => {
    try {
      if (opts.skipTxSignatures) validateTxShape(tx, chainId);
      else validateTxBasic(tx, chainId);
      receipts.push(executeTx(w, tx, ctx));
    } catch (e) {
      if (e instanceof TxError) throw new TxError(e.code, `tx ${index}: ${e.message}`, { ...e.data, index });
      throw e;
    }
  });
  finishBlock(w, ctx, block.header.proposer, block.header.time, block.header.seedSig);
  return { receipts, events: ctx.events, changes: w.changes() };
}

/**
 * Verifies and executes `block` on `state`. Throws BlockError for a bad header, roots or commit,
 * EvidenceError (with data.index) for invalid evidence, and TxError (with data.index) for an
 * invalid transaction. Never mutates `state`.
 */
export function applyBlock(state: ChainState, block: Block, params: ChainParams, chainId: string, opts: ApplyOptions = {}): BlockResult {
  checkHeader(state, block, chainId, params);
  const { receipts, events, changes } = executeBlock(state, block, params, chainId, opts);
  const next = state.withChanges(changes, block.hash);
  if (!equalBytes(block.header.stateRoot, next.root())) throw new BlockError(BlockErrorCode.WRONG_STATE_ROOT, "state root mismatch");
  if (!equalBytes(block.header.receiptsRoot, receiptsRoot(receipts))) throw new BlockError(BlockErrorCode.WRONG_RECEIPTS_ROOT, "receipts root mismatch");
  return { state: next, receipts, events, changes };
}

export interface BuildInput {
  readonly chainId: string;
  readonly params: ChainParams;
  readonly proposer: KeyPair;
  /** Wall-clock time proposed by the caller; raised to parent time + 1 if not after it. */
  readonly time: bigint;
  readonly lastCommit: Commit | null;
  /** Candidate evidence (e.g. from the evidence pool); the valid ones are included, up to MAX_BLOCK_EVIDENCE. */
  readonly evidence?: Iterable<Evidence>;
}

export interface BuiltBlock extends BlockResult {
  readonly block: Block;
  /** Candidates left out as invalid against the state, with the reason. */
  readonly rejected: { tx: SignedTx; error: TxError }[];
  /** Candidate evidence left out as invalid (e.g. already punished, too old), with the reason. */
  readonly rejectedEvidence: { evidence: Evidence; error: EvidenceError }[];
}

/**
 * Builds the next block from candidate transactions (already validated statelessly, e.g. on
 * mempool admission), skipping those invalid against the state, within the block limits.
 */
export function buildBlock(state: ChainState, candidates: Iterable<SignedTx>, input: BuildInput): BuiltBlock {
  const { params, chainId } = input;
  const meta = state.meta();
  const height = meta.height + 1n;
  const time = input.time > meta.time ? input.time : meta.time + 1n;
  const w = new StateWriter(state);
  const ctx = newBlockContext(height, params, input.proposer.publicKey);
  const evidence: Evidence[] = [];
  const rejectedEvidence: { evidence: Evidence; error: EvidenceError }[] = [];
  for (const ev of input.evidence ?? []) {
    if (evidence.length >= MAX_BLOCK_EVIDENCE) break;
    try {
      // verifies before writing anything, so a rejected one leaves no trace
      applyEvidence(w, ctx, ev, chainId);
      evidence.push(ev);
    } catch (e) {
      if (!(e instanceof EvidenceError)) throw e;
      rejectedEvidence.push({ evidence: ev, error: e });
    }
  }
  for (const m of registry().modules) m.hooks?.beginBlock?.(w, ctx, input.lastCommit);
  const receipts: Receipt[] = [];
  const txs: SignedTx[] = [];
  const rejected: { tx: SignedTx; error: TxError }[] = [];
  let bytes = 0;
  for (const tx of candidates) {
    if (txs.length >= params.maxBlockTxs) break;
    if (bytes + tx.size > params.maxBlockBytes) continue;
    try {
      receipts.push(executeTx(w, tx, ctx));
      txs.push(tx);
      bytes += tx.size;
    } catch (e) {
      if (!(e instanceof TxError)) throw e;
      rejected.push({ tx, error: e });
    }
  }
  const seedSig = input.proposer.sign(seedSignBytes(chainId, height));
  finishBlock(w, ctx, input.proposer.publicKey, time, seedSig);
  const changes = w.changes();
  // The tree is final here; the block hash it will be labelled with is known only after the header.
  const tree = state.tree.update(changes);
  const block = makeBlock(
    {
      version: BLOCK_VERSION,
      chainId,
      height,
      time,
      parentHash: state.lastBlockHash,
      proposer: input.proposer.publicKey,
      txRoot: txRoot(txs),
      evidenceRoot: evidenceRoot(evidence),
      receiptsRoot: receiptsRoot(receipts),
      stateRoot: tree.root(),
      lastCommitHash: commitHash(input.lastCommit),
      validatorsHash: validatorsHash(state.validators()),
      seedSig,
    },
    txs,
    input.lastCommit,
    evidence,
  );
  return { block, state: new ChainState(tree, block.hash), receipts, events: ctx.events, changes, rejected, rejectedEvidence };
}
