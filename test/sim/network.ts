/**
 * The simulated network: every message gets a seeded delay (so messages reorder), may be lost or
 * duplicated, and is dropped while its two ends are on different sides of a partition (checked
 * when it is sent and again when it arrives).
 */
import type { Block, Commit } from "../../chain/block.ts";
import type { Proposal, Vote } from "../../chain/consensus/types.ts";
import type { Evidence } from "../../chain/evidence.ts";
import type { Prng } from "./prng.ts";
import type { NetParams, Partition } from "./scenario.ts";

export interface Committed {
  readonly block: Block;
  readonly commit: Commit;
}

export type Message =
  | { readonly kind: "proposal"; readonly proposal: Proposal }
  | { readonly kind: "vote"; readonly vote: Vote }
  /** re-gossip and relay: a proposal and votes of one height, in one message */
  | { readonly kind: "bundle"; readonly proposal: Proposal | null; readonly votes: readonly Vote[] }
  | { readonly kind: "evidence"; readonly evidence: readonly Evidence[] }
  /** block sync: "send me the committed blocks from this height on" */
  | { readonly kind: "syncRequest"; readonly from: bigint }
  | { readonly kind: "syncResponse"; readonly entries: readonly Committed[] };

export class Network {
  readonly #net: NetParams;
  readonly #partitions: readonly Partition[];
  readonly #rng: Prng;
  readonly #groupOf: ReadonlyMap<number, number>[];

  constructor(net: NetParams, partitions: readonly Partition[], rng: Prng) {
    this.#net = net;
    this.#partitions = partitions;
    this.#rng = rng;
    this.#groupOf = partitions.map((p) => {
      const m = new Map<number, number>();
      p.groups.forEach((g, gi) => g.forEach((i) => m.set(i, gi)));
      return m;
    });
  }

  partitioned(a: number, b: number, t: number): boolean {
    for (let k = 0; k < this.#partitions.length; k++) {
      const p = this.#partitions[k]!;
      if (t >= p.start && t < p.end && this.#groupOf[k]!.get(a) !== this.#groupOf[k]!.get(b)) return true;
    }
    return false;
  }

  /**
   * The delivery times of one message sent at `now`: [] if lost, two if duplicated. Draws from
   * the network's stream in a fixed order, so the outcome depends only on the send order.
   */
  transmit(from: number, to: number, now: number): number[] {
    if (this.partitioned(from, to, now)) return [];
    if (this.#rng.chance(this.#net.loss)) return [];
    const out = [now + this.#delay()];
    if (this.#rng.chance(this.#net.dup)) out.push(now + this.#delay());
    return out;
  }

  #delay(): number {
    const n = this.#net;
    let d = n.minDelay + this.#rng.int(n.spread + 1);
    if (this.#rng.chance(n.slowChance)) d += this.#rng.int(n.slowExtra + 1);
    return d;
  }
}
