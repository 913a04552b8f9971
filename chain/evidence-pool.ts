/**
 * Evidence waiting to be included in a block: equivocations this node saw (the engine's
 * `evidence` effect, double attestations it was sent) and evidence gossiped by peers. Pure: the
 * caller passes the head state.
 *
 * Evidence counts at its subject's height (chain/evidence.ts evidenceSubject: a duplicate vote's
 * height, a duplicate attestation's epoch's first height). Evidence about a height not yet below
 * the next block cannot be included before it (verifyEvidence's FROM_FUTURE), so it waits here;
 * anything punished, too old or invalid is dropped.
 */
import { compareBytes, toHex } from "../primitives/bytes.ts";
import { EvidenceErrorCode, EvidenceError, evidenceHash, evidenceSubject, validateEvidenceBasic, verifyEvidence, type Evidence } from "./evidence.ts";
import type { ChainParams } from "./params.ts";
import type { StateReader } from "./state.ts";

export class EvidencePool {
  readonly #items = new Map<string, { readonly ev: Evidence; readonly hash: Uint8Array }>();
  readonly #max: number;

  constructor(max = 1_000) {
    this.#max = max;
  }

  get size(): number {
    return this.#items.size;
  }

  /**
   * Adds evidence checked against the head (block `headHeight`): throws EvidenceError if it is
   * invalid. Returns false if it was already pooled or the pool is full.
   */
  add(ev: Evidence, head: StateReader, headHeight: bigint, chainId: string, params: ChainParams): boolean {
    const hash = evidenceHash(ev);
    const id = toHex(hash);
    if (this.#items.has(id)) return false;
    if (evidenceSubject(ev, params.epochLength).height > headHeight) validateEvidenceBasic(ev, chainId); // about the height in progress
    else verifyEvidence(head, ev, chainId, params, headHeight + 1n);
    if (this.#items.size >= this.#max) return false;
    this.#items.set(id, { ev, hash });
    return true;
  }

  /** Pooled evidence in hash order (deterministic), for the next proposal. */
  list(): Evidence[] {
    return [...this.#items.values()].sort((a, b) => compareBytes(a.hash, b.hash)).map((x) => x.ev);
  }

  /** After a block: drops what it included and whatever is no longer includable on the new head. */
  prune(included: readonly Evidence[], head: StateReader, headHeight: bigint, chainId: string, params: ChainParams): void {
    for (const ev of included) this.#items.delete(toHex(evidenceHash(ev)));
    for (const [id, { ev }] of this.#items) {
      if (evidenceSubject(ev, params.epochLength).height > headHeight) continue;
      try {
        verifyEvidence(head, ev, chainId, params, headHeight + 1n);
      } catch (e) {
        if (!(e instanceof EvidenceError) || e.code !== EvidenceErrorCode.FROM_FUTURE) this.#items.delete(id);
      }
    }
  }
}
