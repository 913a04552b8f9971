/**
 * How transactions enter the mempool, from gossip and from tx_send alike:
 *
 *   1. on the event loop, cheap: already pooled? the stateless rules (chain id, known op, the op's
 *      own checks, chain/tx.ts validateTxShape); room left?
 *   2. on the verify worker pool (node/verify-pool.ts, every core), in batches: the signatures;
 *   3. on the event loop again, in arrival order: the fee rules, the sender's balance against
 *      the op's debit (chain/mempool.ts checkSenderCovers), then the mempool (`admit`).
 *
 * Admission is bounded. A submission is refused with IngestError BUSY, before any work, when the
 * transactions waiting for their signature check would exceed `maxPending`, or when the mempool
 * and those waiting would hold `maxPooled` or more. tx_send answers that as the BUSY RPC error;
 * gossip drops the batch without blame. Whatever is taken is admitted or answered with its own
 * reason: nothing waits without limit and nothing taken is dropped.
 *
 * Peers get PEER_HEADROOM times those bounds. Gossip is sent once: a batch this node drops is not
 * sent to it again, so a node that refused its peers' transactions as readily as its clients' held
 * only some of each sender's nonces, and its blocks stopped at the first gap (a 2x overload
 * finalized less than the load before it). Clients, who can retry, are refused first; the
 * mempool's own cap (chain/mempool.ts maxTxs) stays the last bound.
 */
import { CodedError, withoutStack } from "../primitives/errors.ts";
import { isTxVerified, rememberVerifiedTx, TxError, TxErrorCode, validateTxShape, type SignedTx } from "../chain/tx.ts";
import { MempoolError, MempoolErrorCode } from "../chain/mempool.ts";
import type { Block } from "../chain/block.ts";
import type { ChainParams } from "../chain/params.ts";
import type { ChainState } from "../chain/state.ts";
import { applyBlock, type BlockResult } from "../chain/transition.ts";
import type { BatchVerifier } from "./verify-pool.ts";
import { inlineVerifier } from "./verify-pool.ts";

export const IngestErrorCode = {
  /** The node takes no more transactions for now: too many wait for a signature check or the mempool is full enough. */
  BUSY: "TX_INGEST_BUSY",
} as const;
export type IngestErrorCode = (typeof IngestErrorCode)[keyof typeof IngestErrorCode];
export class IngestError extends CodedError<IngestErrorCode> {}

export interface TxIngestOptions {
  /** Most transactions waiting for their signature check at once. */
  readonly maxPending: number;
  /** Past this many transactions pooled plus waiting, submissions are refused BUSY. */
  readonly maxPooled: number;
}

/**
 * About a second of signature checks waiting on two shared cores, and a mempool of a few blocks:
 * past that, more waiting only adds latency (a measured run with 8,192 let blocks take seconds).
 */
export const defaultTxIngestOptions: TxIngestOptions = Object.freeze({ maxPending: 1_024, maxPooled: 4_096 });

/** Where a submission comes from: a client (tx_send) or a peer (gossip). */
export type IngestOrigin = "client" | "peer";
/** How many times the client bounds a peer's submissions get (see the module comment). */
export const PEER_HEADROOM = 2;

export interface TxIngestDeps {
  readonly chainId: string;
  /** Where signatures are checked (the worker pool; inline in tests). */
  readonly verifier: BatchVerifier;
  /** Transactions in the mempool. */
  pooled(): number;
  /** Whether the mempool holds this hash already. */
  has(hash: Uint8Array): boolean;
  /** The stateful admission of a transaction whose signature verified: fee rules, balance covers the debit, then the mempool. Throws a CodedError. */
  admit(tx: SignedTx): void;
}

/** Per transaction: null when admitted, else why not. */
export type IngestResult = CodedError | null;

interface Entry {
  readonly txs: readonly SignedTx[];
  /** Per tx: a reason found at once, or null to go on. */
  readonly early: IngestResult[];
  /** Per tx: the signature verified (true), did not (false); null until known. */
  oks: boolean[] | null;
  readonly resolve: (r: IngestResult[]) => void;
}

export class TxIngest {
  readonly opts: TxIngestOptions;
  readonly #deps: TxIngestDeps;
  readonly #fifo: Entry[] = [];
  #pending = 0;
  #refused = 0;

  constructor(opts: Partial<TxIngestOptions>, deps: TxIngestDeps) {
    this.opts = Object.freeze({ ...defaultTxIngestOptions, ...opts });
    for (const k of ["maxPending", "maxPooled"] as const) {
      if (!Number.isSafeInteger(this.opts[k]) || this.opts[k] < 1) throw new RangeError(`tx ingest option ${k} must be a positive integer`);
    }
    this.#deps = deps;
  }

  /** Transactions taken and not yet admitted or refused. */
  get pending(): number {
    return this.#pending;
  }

  /** Submissions refused BUSY since start. */
  get refused(): number {
    return this.#refused;
  }

  /** The BUSY error a submission of `n` transactions from `origin` would get now, or null if there is room. */
  busy(n: number, origin: IngestOrigin = "client"): IngestError | null {
    const k = origin === "peer" ? PEER_HEADROOM : 1;
    const maxPending = this.opts.maxPending * k;
    const maxPooled = this.opts.maxPooled * k;
    const pooled = this.#deps.pooled();
    if (this.#pending + n > maxPending || pooled + this.#pending + n > maxPooled) {
      const data = { pending: this.#pending, pooled, maxPending, maxPooled };
      return withoutStack(() => new IngestError(IngestErrorCode.BUSY, "the node is busy: too many transactions wait to be checked or included; retry later", data));
    }
    return null;
  }

  /** `busy`, counted as a refusal when there is no room: for a caller that checks before its own work (decoding). */
  refuse(n: number, origin: IngestOrigin = "client"): IngestError | null {
    const busy = this.busy(n, origin);
    if (busy) this.#refused++;
    return busy;
  }

  /**
   * Takes `txs` (in order) and answers, per tx, null when it entered the mempool or the error that
   * kept it out. Rejects with IngestError BUSY, taking none of them, when there is no room.
   */
  submit(txs: readonly SignedTx[], origin: IngestOrigin = "client"): Promise<IngestResult[]> {
    const busy = this.refuse(txs.length, origin);
    if (busy) return Promise.reject(busy);
    const early: IngestResult[] = [];
    const toCheck: number[] = [];
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!;
      try {
        validateTxShape(tx, this.#deps.chainId);
        if (this.#deps.has(tx.hash)) {
          early.push(new MempoolError(MempoolErrorCode.ALREADY_KNOWN, "transaction already in the pool"));
          continue;
        }
        early.push(null);
        if (!isTxVerified(tx)) toCheck.push(i);
      } catch (e) {
        if (!(e instanceof CodedError)) throw e;
        early.push(e);
      }
    }
    this.#pending += txs.length;
    return new Promise<IngestResult[]>((resolve) => {
      const entry: Entry = { txs, early, oks: null, resolve };
      this.#fifo.push(entry);
      const items = toCheck.map((i) => [txs[i]!.sender, txs[i]!.hash, txs[i]!.signature] as const);
      const checked = items.length === 0 ? Promise.resolve([]) : this.#deps.verifier.verifyMany(items).catch(() => inlineVerifier.verifyMany(items));
      void checked.then((answers) => {
        const oks = txs.map(() => true);
        toCheck.forEach((i, j) => (oks[i] = answers[j] === true));
        entry.oks = oks;
        this.#drain();
      });
    });
  }

  /** Admits, in arrival order, every entry at the front whose signatures are known. */
  #drain(): void {
    while (this.#fifo.length > 0 && this.#fifo[0]!.oks !== null) {
      const entry = this.#fifo.shift()!;
      const results = entry.txs.map((tx, i): IngestResult => {
        const early = entry.early[i]!;
        if (early !== null) return early;
        if (!entry.oks![i]) return new TxError(TxErrorCode.BAD_SIGNATURE, "signature does not verify");
        rememberVerifiedTx(tx);
        try {
          this.#deps.admit(tx);
          return null;
        } catch (e) {
          if (e instanceof CodedError) return e;
          throw e;
        }
      });
      this.#pending -= entry.txs.length;
      entry.resolve(results);
    }
  }
}

/** Most transactions preverifyTxs checks at once (a quarter of chain/tx.ts's verified-signature cache); the rest are checked on apply. */
export const PREVERIFY_MAX = 16_384;

/**
 * Checks, on `verifier` (the worker pool), the signatures of a block's transactions this node has
 * not verified yet, and remembers the ones that verify, so that executing the block finds them in
 * the cache instead of verifying one by one on the event loop. A node that refused them BUSY when
 * they were gossiped sees them first in a proposal: under load that was thousands of inline checks
 * in a row, long enough for the node to miss the round. Never rejects: a signature that does not
 * verify (or a failed pool) is left to the block's own validation, which refuses the block.
 */
export async function preverifyTxs(txs: readonly SignedTx[], verifier: BatchVerifier): Promise<void> {
  // more would push the first ones out of the verified-signature cache before their block applies
  await checkOnPool(txs.slice(0, PREVERIFY_MAX).filter((tx) => !isTxVerified(tx)), verifier);
}

/**
 * Checks `todo`'s signatures on `verifier` and remembers the ones that verify; true if all did.
 * A failed pool is false: whatever was not checked is left to the block's own validation.
 */
async function checkOnPool(todo: readonly SignedTx[], verifier: BatchVerifier): Promise<boolean> {
  if (todo.length === 0) return true;
  let oks: boolean[];
  try {
    oks = await verifier.verifyMany(todo.map((tx) => [tx.sender, tx.hash, tx.signature] as const));
  } catch {
    return false;
  }
  let all = oks.length === todo.length;
  todo.forEach((tx, i) => {
    if (oks[i] === true) rememberVerifiedTx(tx);
    else all = false;
  });
  return all;
}

/** Below this many unchecked signatures a block is applied the ordinary way (the pool's round trip would cost more). */
const OVERLAP_MIN = 32;

/**
 * `applyBlock`, with the signatures this node has not verified yet checked on `verifier` (the
 * worker pool) while the event loop executes the block, instead of before it: a follower of a
 * block of 1,000 storage proofs spent ~40 % of the import waiting for the pool. The answer is
 * always applyBlock's own. The fast pass skips only the signature checks; when every signature
 * verified, that is exactly what applyBlock does, so its result or error stands. When one does not
 * verify (or the pool fails), the block is applied again the ordinary way, which refuses it with
 * the error applyBlock gives (the first bad transaction, in block order). Never mutates `state`.
 */
export async function applyBlockVerifying(state: ChainState, block: Block, params: ChainParams, chainId: string, verifier: BatchVerifier): Promise<BlockResult> {
  const todo = block.txs.slice(0, PREVERIFY_MAX).filter((tx) => !isTxVerified(tx));
  // a block past PREVERIFY_MAX checks its last signatures inline, so it cannot skip them
  if (todo.length < OVERLAP_MIN || block.txs.length > PREVERIFY_MAX) {
    await checkOnPool(todo, verifier);
    return applyBlock(state, block, params, chainId);
  }
  // posted to the workers now; they check while this thread executes
  const checking = checkOnPool(todo, verifier);
  let fast: { ok: true; result: BlockResult } | { ok: false; error: unknown };
  try {
    fast = { ok: true, result: applyBlock(state, block, params, chainId, { skipTxSignatures: true }) };
  } catch (error) {
    fast = { ok: false, error };
  }
  if (!(await checking)) return applyBlock(state, block, params, chainId);
  if (!fast.ok) throw fast.error;
  return fast.result;
}
