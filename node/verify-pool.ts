/**
 * Signature checks on worker threads: per-request checks of the RPC (paych_checkVoucher), the
 * transactions that arrive by gossip or tx_send (node/tx-ingest.ts), and those of proposals and
 * synced blocks before they are executed (preverifyTxs), so the event loop keeps serving consensus
 * and HTTP while the other cores verify. Requests arriving in the same tick go to the workers as
 * one batch (a large batch is split across all workers), so the message overhead is paid per
 * batch. Executing a block keeps the synchronous `verify` for whatever the cache does not hold
 * (deterministic order); the pool only fills that cache.
 */
import { Worker } from "node:worker_threads";
import { verify } from "../primitives/keys.ts";

export interface AsyncVerifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Many checks at once: the answers in order. */
export interface BatchVerifier {
  verifyMany(items: readonly (readonly [Uint8Array, Uint8Array, Uint8Array])[]): Promise<boolean[]>;
}

/** The synchronous rule behind the async interfaces (no workers: tests, one-core machines). */
export const inlineVerifier: AsyncVerifier & BatchVerifier = {
  verify: async (p, m, s) => verify(p, m, s),
  verifyMany: async (items) => items.map(([p, m, s]) => verify(p, m, s)),
};

/**
 * The bytes of `b` in a buffer of their own. A key or signature decoded from a gossip message or a
 * block is a view into that whole message, and postMessage serializes a view's entire buffer: 500
 * such items of a 17 MiB block took 110-230 ms to post against 3-6 ms for the same items copied.
 */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

/** A batch this large or larger is split across the workers. */
const SPLIT_AT = 32;

interface Pending {
  readonly items: [Uint8Array, Uint8Array, Uint8Array][];
  readonly resolvers: ((ok: boolean) => void)[];
}

export class VerifyPool implements AsyncVerifier, BatchVerifier {
  readonly #workers: Worker[] = [];
  readonly #inflight = new Map<number, Pending>();
  #batch: Pending | null = null;
  #next = 0;
  #ids = 0;
  #closed = false;

  private constructor() {}

  /**
   * Starts `size` workers. Does not wait for them to load the verification rule (tsx and the
   * chain's keys module: seconds on a busy machine, which delayed a node's start): work posted
   * meanwhile waits in each worker's message queue.
   */
  static async start(size: number): Promise<VerifyPool> {
    const pool = new VerifyPool();
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./verify-worker.mjs", import.meta.url));
      w.on("message", (m: { id?: number; results?: Uint8Array }) => {
        if (m.id !== undefined && m.results !== undefined) pool.#settle(m.id, m.results);
      });
      // A worker that fails (to load, or later) leaves the rotation; what was in flight is answered inline.
      w.on("error", (e) => {
        const at = pool.#workers.indexOf(w);
        if (at >= 0) pool.#workers.splice(at, 1);
        pool.#failAll(e);
      });
      // Referenced, so a caller awaiting a result keeps the process alive; close() ends them.
      pool.#workers.push(w);
    }
    return pool;
  }

  get size(): number {
    return this.#workers.length;
  }

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error("verify pool is closed"));
    return new Promise((resolve) => {
      if (this.#batch === null) {
        this.#batch = { items: [], resolvers: [] };
        setImmediate(() => this.#flush());
      }
      this.#batch.items.push([publicKey, message, signature]);
      this.#batch.resolvers.push(resolve);
    });
  }

  /** Checks `items` (split evenly across the workers when large); the answers in order. */
  verifyMany(items: readonly (readonly [Uint8Array, Uint8Array, Uint8Array])[]): Promise<boolean[]> {
    if (this.#closed) return Promise.reject(new Error("verify pool is closed"));
    if (items.length === 0) return Promise.resolve([]);
    // small requests (a tx_send is one transaction) join the batch of this tick, one message for all
    if (items.length < SPLIT_AT) return Promise.all(items.map(([p, m, s]) => this.verify(p, m, s)));
    const parts = this.#workers.length;
    const per = Math.ceil(items.length / parts);
    const chunks: Promise<boolean[]>[] = [];
    for (let i = 0; i < items.length; i += per) {
      const slice = items.slice(i, i + per) as [Uint8Array, Uint8Array, Uint8Array][];
      chunks.push(
        new Promise<boolean[]>((resolve) => {
          const out: boolean[] = new Array(slice.length);
          let left = slice.length;
          const resolvers = slice.map((_, j) => (ok: boolean) => {
            out[j] = ok;
            if (--left === 0) resolve(out);
          });
          this.#send({ items: slice, resolvers });
        }),
      );
    }
    return Promise.all(chunks).then((parts) => parts.flat());
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = null;
    if (batch === null) return;
    if (batch.items.length < SPLIT_AT || this.#workers.length < 2) return this.#send(batch);
    const per = Math.ceil(batch.items.length / this.#workers.length);
    for (let i = 0; i < batch.items.length; i += per) this.#send({ items: batch.items.slice(i, i + per), resolvers: batch.resolvers.slice(i, i + per) });
  }

  #send(batch: Pending): void {
    if (this.#workers.length === 0) {
      batch.resolvers.forEach((resolve, i) => resolve(verify(...batch.items[i]!)));
      return;
    }
    const id = this.#ids++;
    this.#inflight.set(id, batch);
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    worker.postMessage({ id, items: batch.items.map(([p, m, s]) => [own(p), own(m), own(s)]) });
  }

  #settle(id: number, results: Uint8Array): void {
    const batch = this.#inflight.get(id);
    if (!batch) return;
    this.#inflight.delete(id);
    batch.resolvers.forEach((resolve, i) => resolve(results[i] === 1));
  }

  /** A crashed worker must not leave callers hanging: they fall back to the inline rule. */
  #failAll(_e: unknown): void {
    for (const [id, batch] of this.#inflight) {
      this.#inflight.delete(id);
      batch.resolvers.forEach((resolve, i) => {
        const [p, m, s] = batch.items[i]!;
        resolve(verify(p, m, s));
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#flush();
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#failAll(new Error("closed"));
  }
}
