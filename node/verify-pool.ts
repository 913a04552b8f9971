/**
 * Signature checks on worker threads, for the RPC paths that verify a signature per request
 * (paych_checkVoucher): the event loop keeps serving HTTP while another core verifies. Requests
 * arriving in the same tick go to a worker as one batch, round robin, so the message overhead is
 * paid per batch. Consensus and block import keep the synchronous `verify` (deterministic order).
 */
import { Worker } from "node:worker_threads";
import { verify } from "../primitives/keys.ts";

export interface AsyncVerifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** The synchronous rule behind the async interface (no workers: tests, one-core machines). */
export const inlineVerifier: AsyncVerifier = { verify: async (p, m, s) => verify(p, m, s) };

interface Pending {
  readonly items: [Uint8Array, Uint8Array, Uint8Array][];
  readonly resolvers: ((ok: boolean) => void)[];
}

export class VerifyPool implements AsyncVerifier {
  readonly #workers: Worker[] = [];
  readonly #inflight = new Map<number, Pending>();
  #batch: Pending | null = null;
  #next = 0;
  #ids = 0;
  #closed = false;

  private constructor() {}

  /** Starts `size` workers and waits until each has loaded the verification rule. */
  static async start(size: number): Promise<VerifyPool> {
    const pool = new VerifyPool();
    await Promise.all(
      Array.from({ length: size }, async () => {
        const w = new Worker(new URL("./verify-worker.mjs", import.meta.url));
        await new Promise<void>((resolve, reject) => {
          w.once("error", reject);
          w.once("message", () => resolve());
        });
        w.on("message", (m: { id: number; results: Uint8Array }) => pool.#settle(m.id, m.results));
        w.on("error", (e) => pool.#failAll(e));
        // Referenced, so a caller awaiting a result keeps the process alive; close() ends them.
        pool.#workers.push(w);
      }),
    );
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

  #flush(): void {
    const batch = this.#batch;
    this.#batch = null;
    if (batch === null) return;
    const id = this.#ids++;
    this.#inflight.set(id, batch);
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    worker.postMessage({ id, items: batch.items });
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
