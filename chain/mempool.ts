/**
 * Transaction pool. Pure, in memory, generic over the transaction type so it does not
 * depend on the codec: it only needs a tx's hash, sender, nonce, fee and encoded size.
 * Account nonces come from `deps.accountNonce`; time and randomness are never used, so
 * identical inputs give identical contents and identical `select` output.
 *
 * Per sender the pool keeps a queue sorted by nonce. A queue may have gaps (a tx may wait
 * up to `maxNonceGap` ahead of the account nonce), but the pool itself never creates one:
 * eviction only ever takes the last tx of a queue. `select` only takes, per sender, the
 * contiguous run starting at the account nonce.
 */
import { compareBytes } from "../primitives/bytes.ts";
import { CodedError } from "../primitives/errors.ts";
import { registry } from "./registry.ts";
import type { StateReader } from "./state.ts";
import type { SignedTx } from "./tx.ts";

export interface PoolTx {
  /** 32-byte id. */
  readonly hash: Uint8Array;
  /** 32-byte public key. */
  readonly sender: Uint8Array;
  /** Account nonce it must execute at (strictly +1 per sender, the first is account.nonce). */
  readonly nonce: bigint;
  readonly fee: bigint;
  /** Encoded size in bytes. */
  readonly size: number;
}

export interface MempoolOptions {
  /** Most txs held at once. */
  maxTxs: number;
  /** Most encoded bytes held at once. */
  maxBytes: number;
  /** Most txs queued for one sender. */
  maxPerSender: number;
  /** How far ahead of the account nonce a tx may be queued. */
  maxNonceGap: number;
  /** A replacement (same sender and nonce) must pay at least old.fee * (100 + bump) / 100. Integer. */
  replaceBumpPercent: number;
}

export const defaultMempoolOptions: MempoolOptions = Object.freeze({
  maxTxs: 10_000,
  maxBytes: 32 * 1024 * 1024,
  maxPerSender: 64,
  maxNonceGap: 64,
  replaceBumpPercent: 10,
});

export interface MempoolDeps {
  /** The sender's account nonce in the current head state (0n for an unknown account). */
  accountNonce(sender: Uint8Array): bigint;
}

export interface MempoolAddResult<T> {
  /** The tx with the same sender and nonce that the new one replaced. */
  replaced: T | undefined;
  /** Txs evicted to make room, in eviction order. */
  evicted: T[];
}

export interface SelectLimits {
  maxTxs: number;
  maxBytes: number;
}

export const MempoolErrorCode = {
  /** A tx with the same hash is already in the pool. */
  ALREADY_KNOWN: "MEMPOOL_ALREADY_KNOWN",
  /** tx.nonce < account nonce. */
  NONCE_TOO_LOW: "MEMPOOL_NONCE_TOO_LOW",
  /** tx.nonce > account nonce + maxNonceGap. */
  NONCE_TOO_HIGH: "MEMPOOL_NONCE_TOO_HIGH",
  /** Same sender and nonce as a queued tx, without the required fee bump. */
  REPLACEMENT_UNDERPRICED: "MEMPOOL_REPLACEMENT_UNDERPRICED",
  /** The sender already has maxPerSender queued txs. */
  SENDER_FULL: "MEMPOOL_SENDER_FULL",
  /** The pool is full and the tx does not pay strictly more than what it would evict. */
  POOL_FULL: "MEMPOOL_POOL_FULL",
  /** The sender's balance at the head cannot cover the op's debit (OpSpec.debit) plus the fee. */
  INSUFFICIENT_BALANCE: "MEMPOOL_INSUFFICIENT_BALANCE",
  /** tx.size > maxBytes: it could never fit, whatever is evicted. */
  TX_TOO_LARGE: "MEMPOOL_TX_TOO_LARGE",
} as const;
export type MempoolErrorCode = (typeof MempoolErrorCode)[keyof typeof MempoolErrorCode];

export class MempoolError extends CodedError<MempoolErrorCode> {}

/** Compact map key for a byte string (one char per byte). */
function keyOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Block-building priority: higher fee first, then lower hash. A total order on distinct hashes. */
function better(a: PoolTx, b: PoolTx): boolean {
  if (a.fee !== b.fee) return a.fee > b.fee;
  return compareBytes(a.hash, b.hash) < 0;
}

/** Binary heap; `before(a, b)` puts a nearer the top. `moved` tracks positions for removeAt/fix. */
class Heap<E> {
  readonly items: E[];
  private readonly before: (a: E, b: E) => boolean;
  private readonly moved: ((e: E, index: number) => void) | undefined;

  constructor(before: (a: E, b: E) => boolean, moved?: (e: E, index: number) => void, initial: E[] = []) {
    this.before = before;
    this.moved = moved;
    this.items = initial;
    for (let i = 0; i < initial.length; i++) moved?.(initial[i]!, i);
    for (let i = (initial.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get length(): number {
    return this.items.length;
  }

  peek(): E | undefined {
    return this.items[0];
  }

  push(e: E): void {
    this.items.push(e);
    this.moved?.(e, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): E | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  removeAt(i: number): void {
    const last = this.items.pop()!;
    if (i === this.items.length) return;
    this.items[i] = last;
    this.moved?.(last, i);
    this.fix(i);
  }

  /** Restores order after the key of the element at i changed. */
  fix(i: number): void {
    if (!this.up(i)) this.down(i);
  }

  private up(i: number): boolean {
    const items = this.items;
    const e = items[i]!;
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = items[p]!;
      if (!this.before(e, pe)) break;
      items[i] = pe;
      this.moved?.(pe, i);
      i = p;
    }
    items[i] = e;
    this.moved?.(e, i);
    return i !== start;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const e = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(items[r]!, items[l]!)) c = r;
      const ce = items[c]!;
      if (!this.before(ce, e)) break;
      items[i] = ce;
      this.moved?.(ce, i);
      i = c;
    }
    items[i] = e;
    this.moved?.(e, i);
  }
}

interface SenderQueue<T> {
  readonly key: string;
  readonly sender: Uint8Array;
  /** Sorted by nonce, ascending, nonces unique. Never empty while the queue is in the pool. */
  readonly txs: T[];
  /** Position in the eviction heap. */
  evictPos: number;
}

/** Index of the first tx with nonce >= `nonce` (txs sorted by nonce). */
function lowerBound(txs: readonly PoolTx[], nonce: bigint): number {
  let lo = 0;
  let hi = txs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (txs[mid]!.nonce < nonce) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkOptions(o: MempoolOptions): void {
  for (const k of ["maxTxs", "maxBytes", "maxPerSender", "maxNonceGap", "replaceBumpPercent"] as const) {
    const v = o[k];
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`mempool option ${k} must be a non-negative integer`);
  }
}

export class Mempool<T extends PoolTx> {
  readonly opts: Readonly<MempoolOptions>;
  private readonly deps: MempoolDeps;
  private readonly byHash = new Map<string, T>();
  private readonly bySender = new Map<string, SenderQueue<T>>();
  /** Sender queues keyed by their last tx, worst (lowest fee, then highest hash) on top. */
  private readonly evictHeap: Heap<SenderQueue<T>>;
  private totalBytes = 0;

  constructor(opts: Partial<MempoolOptions>, deps: MempoolDeps) {
    const o: MempoolOptions = { ...defaultMempoolOptions };
    for (const k of Object.keys(o) as (keyof MempoolOptions)[]) {
      const v = opts[k];
      if (v !== undefined) o[k] = v;
    }
    checkOptions(o);
    this.opts = Object.freeze(o);
    this.deps = deps;
    this.evictHeap = new Heap<SenderQueue<T>>(
      (a, b) => better(b.txs[b.txs.length - 1]!, a.txs[a.txs.length - 1]!),
      (q, i) => {
        q.evictPos = i;
      },
    );
  }

  get size(): number {
    return this.byHash.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(keyOf(hash));
  }

  get(hash: Uint8Array): T | undefined {
    return this.byHash.get(keyOf(hash));
  }

  /** A sender's queued txs in nonce order (a copy; may include a gap or stale txs until pruned). */
  pending(sender: Uint8Array): T[] {
    return this.bySender.get(keyOf(sender))?.txs.slice() ?? [];
  }

  /**
   * Adds `tx`, replacing a queued tx with the same sender and nonce if the fee bump rule
   * holds, and evicting the cheapest queue tails if the pool is full and `tx` pays strictly
   * more than each. All or nothing: on a MempoolError the pool is unchanged.
   */
  add(tx: T): MempoolAddResult<T> {
    const o = this.opts;
    if (this.byHash.has(keyOf(tx.hash))) {
      throw new MempoolError(MempoolErrorCode.ALREADY_KNOWN, "transaction already in the pool");
    }
    if (tx.size > o.maxBytes) {
      throw new MempoolError(MempoolErrorCode.TX_TOO_LARGE, "transaction larger than the pool", {
        size: tx.size,
        maxBytes: o.maxBytes,
      });
    }
    const accountNonce = this.deps.accountNonce(tx.sender);
    if (tx.nonce < accountNonce) {
      throw new MempoolError(MempoolErrorCode.NONCE_TOO_LOW, "nonce below the account nonce", {
        nonce: tx.nonce,
        accountNonce,
      });
    }
    if (tx.nonce > accountNonce + BigInt(o.maxNonceGap)) {
      throw new MempoolError(MempoolErrorCode.NONCE_TOO_HIGH, "nonce too far ahead of the account nonce", {
        nonce: tx.nonce,
        accountNonce,
        maxNonceGap: o.maxNonceGap,
      });
    }

    const senderKey = keyOf(tx.sender);
    const q = this.bySender.get(senderKey);
    let old: T | undefined;
    if (q !== undefined) {
      const cand = q.txs[lowerBound(q.txs, tx.nonce)];
      if (cand !== undefined && cand.nonce === tx.nonce) old = cand;
    }
    if (old !== undefined) {
      // Exact rational comparison: fee >= old.fee * (100 + bump) / 100.
      if (tx.fee * 100n < old.fee * BigInt(100 + o.replaceBumpPercent)) {
        throw new MempoolError(MempoolErrorCode.REPLACEMENT_UNDERPRICED, "replacement fee bump too small", {
          fee: tx.fee,
          oldFee: old.fee,
          replaceBumpPercent: o.replaceBumpPercent,
        });
      }
      this.removeTx(old);
    } else if (q !== undefined && q.txs.length >= o.maxPerSender) {
      throw new MempoolError(MempoolErrorCode.SENDER_FULL, "too many queued transactions for this sender", {
        maxPerSender: o.maxPerSender,
      });
    }

    const evicted: T[] = [];
    while (this.byHash.size + 1 > o.maxTxs || this.totalBytes + tx.size > o.maxBytes) {
      const worst = this.evictHeap.peek();
      const victim = worst?.txs[worst.txs.length - 1];
      // Evicting the newcomer's own predecessor would leave the newcomer behind a gap.
      const ownPredecessor = worst?.key === senderKey && victim !== undefined && victim.nonce < tx.nonce;
      if (victim === undefined || tx.fee <= victim.fee || ownPredecessor) {
        for (let i = evicted.length - 1; i >= 0; i--) this.insertTx(evicted[i]!);
        if (old !== undefined) this.insertTx(old);
        throw new MempoolError(MempoolErrorCode.POOL_FULL, "pool full and fee too low to evict", {
          fee: tx.fee,
          lowestFee: victim?.fee,
        });
      }
      this.removeTx(victim);
      evicted.push(victim);
    }
    this.insertTx(tx);
    return { replaced: old, evicted };
  }

  /** Removes one tx. Later txs of its sender stay queued (behind a gap) until it is resubmitted. */
  remove(hash: Uint8Array): boolean {
    const tx = this.byHash.get(keyOf(hash));
    if (tx === undefined) return false;
    this.removeTx(tx);
    return true;
  }

  /**
   * Txs for the next block, best first: per sender the contiguous nonce run starting at
   * the account nonce; across senders highest fee first, ties by lowest hash. A sender
   * whose next tx does not fit the remaining bytes is skipped from then on. Does not remove.
   * O(s + k log s) for s senders and k selected txs.
   */
  select(limits: SelectLimits): T[] {
    const out: T[] = [];
    if (!(limits.maxTxs > 0)) return out;
    interface Cursor {
      readonly txs: T[];
      i: number;
    }
    const heads: Cursor[] = [];
    for (const q of this.bySender.values()) {
      const accountNonce = this.deps.accountNonce(q.sender);
      const i = lowerBound(q.txs, accountNonce);
      if (q.txs[i]?.nonce === accountNonce) heads.push({ txs: q.txs, i });
    }
    const heap = new Heap<Cursor>((a, b) => better(a.txs[a.i]!, b.txs[b.i]!), undefined, heads);
    let bytesLeft = limits.maxBytes;
    while (out.length < limits.maxTxs) {
      const c = heap.peek();
      if (c === undefined) break;
      const tx = c.txs[c.i]!;
      if (tx.size > bytesLeft) {
        heap.pop();
        continue;
      }
      out.push(tx);
      bytesLeft -= tx.size;
      const next = c.txs[c.i + 1];
      if (next !== undefined && next.nonce === tx.nonce + 1n) {
        c.i++;
        heap.fix(0);
      } else {
        heap.pop();
      }
    }
    return out;
  }

  /**
   * After a block is committed: drops the included txs, then every tx whose nonce is now
   * below its sender's account nonce, re-read for each touched sender and each sender of
   * an included tx.
   */
  onBlockCommitted(included: Iterable<Uint8Array>, touchedSenders: Iterable<Uint8Array>): void {
    const senders = new Map<string, Uint8Array>();
    for (const hash of included) {
      const tx = this.byHash.get(keyOf(hash));
      if (tx === undefined) continue;
      senders.set(keyOf(tx.sender), tx.sender);
      this.removeTx(tx);
    }
    for (const s of touchedSenders) senders.set(keyOf(s), s);
    for (const [k, sender] of senders) {
      const q = this.bySender.get(k);
      if (q === undefined) continue;
      const accountNonce = this.deps.accountNonce(sender);
      const stale = q.txs.slice(0, lowerBound(q.txs, accountNonce));
      for (const tx of stale) this.removeTx(tx);
    }
  }

  private insertTx(tx: T): void {
    const k = keyOf(tx.sender);
    let q = this.bySender.get(k);
    this.byHash.set(keyOf(tx.hash), tx);
    this.totalBytes += tx.size;
    if (q === undefined) {
      q = { key: k, sender: tx.sender, txs: [tx], evictPos: -1 };
      this.bySender.set(k, q);
      this.evictHeap.push(q);
      return;
    }
    const i = lowerBound(q.txs, tx.nonce);
    q.txs.splice(i, 0, tx);
    if (i === q.txs.length - 1) this.evictHeap.fix(q.evictPos);
  }

  private removeTx(tx: T): void {
    const k = keyOf(tx.sender);
    const q = this.bySender.get(k)!;
    const i = lowerBound(q.txs, tx.nonce);
    q.txs.splice(i, 1);
    this.byHash.delete(keyOf(tx.hash));
    this.totalBytes -= tx.size;
    if (q.txs.length === 0) {
      this.evictHeap.removeAt(q.evictPos);
      this.bySender.delete(k);
    } else if (i === q.txs.length) {
      this.evictHeap.fix(q.evictPos);
    }
  }
}

/**
 * Refuses (MEMPOOL_INSUFFICIENT_BALANCE) a transaction whose sender cannot pay, from its balance
 * at the head, what the op takes (its OpSpec's `debit`: a transfer's amount, a stake, a deposit)
 * plus the fee. Ops without a debit pass. Policy for admission only: the transition does not
 * apply it (a tx included anyway fails its op and pays its fee).
 */
export function checkSenderCovers(r: Pick<StateReader, "account">, tx: SignedTx): void {
  if (tx.op.type === "unknown") return;
  const debit = registry().op(tx.op.type)?.debit?.(tx.op as never) ?? 0n;
  if (debit === 0n) return;
  const balance = r.account(tx.sender).balance;
  if (balance < debit + tx.fee) {
    throw new MempoolError(MempoolErrorCode.INSUFFICIENT_BALANCE, `balance ${balance} cannot cover ${debit} plus the fee ${tx.fee}`, {
      balance: balance.toString(), needed: (debit + tx.fee).toString(),
    });
  }
}
