/**
 * Nonces of one sending account whose transactions may wait in the mempool, pure. The account
 * nonce in the head state counts only finalized transactions; the tracker remembers the nonces of
 * this process's transactions still pending, so the next one goes after them instead of
 * replacing one.
 *
 *   next(accountNonce)  the lowest nonce >= accountNonce that no pending transaction holds (a gap
 *                       left by a dropped transaction is filled first)
 *   sent(hash, nonce)   a transaction entered the mempool
 *   forget(hash)        it was finalized or dropped
 *   taken(nonce)        the node says another transaction (not ours) holds this nonce
 *   resync()            the node disagrees with what we think (a nonce too low or too high):
 *                       forget everything, the next call starts again from the account nonce
 */

/** Node error codes meaning the nonce was wrong (rpc: data.code). */
export const NONCE_ERROR_CODES: ReadonlySet<string> = new Set([
  "TX_WRONG_NONCE",
  "MEMPOOL_NONCE_TOO_LOW",
  "MEMPOOL_NONCE_TOO_HIGH",
  "MEMPOOL_REPLACEMENT_UNDERPRICED",
]);

/** What to do after a nonce error `code` for a transaction sent at `nonce`. */
export function onNonceError(tracker: NonceTracker, code: string, nonce: bigint): void {
  // another transaction of this account (not one we track) holds the nonce: go after it
  if (code === "MEMPOOL_REPLACEMENT_UNDERPRICED") tracker.taken(nonce);
  else tracker.resync();
}

export class NonceTracker {
  /** hash -> nonce of our pending transactions; "#<nonce>" for nonces held by others */
  readonly #pending = new Map<string, bigint>();

  /** The nonce for the next transaction, given the account nonce of the head state. */
  next(accountNonce: bigint): bigint {
    const held = new Set<bigint>();
    for (const [hash, nonce] of this.#pending) {
      if (nonce < accountNonce) this.#pending.delete(hash); // finalized (by us or not): no longer pending
      else held.add(nonce);
    }
    let n = accountNonce;
    while (held.has(n)) n++;
    return n;
  }

  sent(hash: string, nonce: bigint): void {
    this.#pending.set(hash, nonce);
  }

  forget(hash: string): void {
    this.#pending.delete(hash);
  }

  /** Another transaction of this account (another process) holds `nonce`. */
  taken(nonce: bigint): void {
    this.#pending.set(`#${nonce}`, nonce);
  }

  resync(): void {
    this.#pending.clear();
  }

  /** Hashes of our transactions believed pending (not the nonces marked taken). */
  pendingHashes(): string[] {
    return [...this.#pending.keys()].filter((h) => !h.startsWith("#"));
  }

  get size(): number {
    return this.#pending.size;
  }
}
