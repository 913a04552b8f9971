/**
 * A run's options, and the scenario the seed draws from them: network conditions, partitions,
 * crashes, and which validators are Byzantine with which behaviour. Everything here is a pure
 * function of (options, seed).
 */
import { Prng } from "./prng.ts";
import type { EngineName } from "./engine.ts";

export const BEHAVIOURS = ["equivocate", "conflicting-proposals", "invalid", "silent"] as const;
/**
 * - equivocate: signs two values for everything it signs, bypassing its signer's rule: for each
 *   vote, peers on one side get its engine's value and peers on the other side a different one
 *   (nil, or a made-up hash), and any peer already holding a different proposal for that round
 *   gets a vote for that proposal (an omniscient, adaptive adversary); as proposer, side 0 gets
 *   one block and side 1 another. Withholds blocks from sync requests.
 * - conflicting-proposals: as proposer, sends one valid block to half of its peers and a
 *   different valid block to the other half; votes as its engine says.
 * - invalid: as proposer, proposes a block that fails applyBlock; prevotes and precommits for
 *   that block (or a made-up invalid one) whatever its engine says.
 * - silent: sends nothing at all.
 */
export type Behaviour = (typeof BEHAVIOURS)[number];

export const WAL_MODES = ["inputs", "votes", "none"] as const;
export type WalMode = (typeof WAL_MODES)[number];

export interface SimOptions {
  readonly seed: number;
  readonly validators: number;
  readonly byzantine: number;
  /** every honest node must reach this height (and K more after the heal) */
  readonly heights: number;
  /** the Byzantine behaviours the seed picks from */
  readonly behaviours: readonly Behaviour[];
  readonly crashes: boolean;
  readonly partitions: boolean;
  /** message loss and duplication (delay and reordering are always on) */
  readonly lossy: boolean;
  readonly engine: EngineName;
  /** K: heights every honest node must gain after the heal */
  readonly livenessHeights: number;
  /** T: virtual ms after the heal by which they must be gained */
  readonly livenessWindowMs: number;
  /** virtual ms after the height target for observed equivocations to reach the pools / the chain */
  readonly evidenceWindowMs: number;
  /** hard cap on processed events (a run that hits it fails) */
  readonly maxEvents: number;
  /** Tendermint-style catch-up gossip every 250 virtual ms (off only for benchmarks of the bare protocol) */
  readonly gossip: boolean;
  /**
   * What a node keeps of its height in progress across a crash. "inputs": every input fed to the
   * engine, replayed on restart (node/wal.ts); "votes": the votes it signed, re-sent on restart;
   * "none": only the signer's last record (the engine restarts the height at round 0).
   */
  readonly wal: WalMode;
  /** fixed network parameters instead of the seed's draw (benchmarks) */
  readonly net: NetParams | null;
  /** end the run as soon as two honest nodes finalize different blocks at one height */
  readonly stopOnViolation: boolean;
  /** keep a readable trace of every event (slow; for debugging a seed) */
  readonly trace: boolean;
}

export const defaultSimOptions: SimOptions = {
  seed: 1,
  validators: 4,
  byzantine: 0,
  heights: 6,
  behaviours: BEHAVIOURS,
  crashes: true,
  partitions: true,
  lossy: true,
  engine: "tendermint",
  livenessHeights: 3,
  livenessWindowMs: 120_000,
  evidenceWindowMs: 30_000,
  maxEvents: 3_000_000,
  gossip: true,
  stopOnViolation: false,
  wal: "inputs",
  net: null,
  trace: false,
};

export interface NetParams {
  /** delay = minDelay + uniform[0, spread] (+ slowExtra with probability slowChance), virtual ms */
  readonly minDelay: number;
  readonly spread: number;
  readonly slowChance: number;
  readonly slowExtra: number;
  readonly loss: number;
  readonly dup: number;
}

export interface Partition {
  readonly start: number;
  readonly end: number;
  /** nodes in different groups cannot reach each other during [start, end) */
  readonly groups: readonly (readonly number[])[];
}

export interface Crash {
  readonly node: number;
  readonly at: number;
  readonly restartAt: number;
  /**
   * "now": the process dies at `at`. "afterSign": it dies at its first signature after `at`,
   * right after the signer's record is on disk and before the message leaves (if it signs
   * nothing before `restartAt`, it does not crash).
   */
  readonly mode: "now" | "afterSign";
}

export interface Scenario {
  readonly net: NetParams;
  readonly partitions: readonly Partition[];
  readonly crashes: readonly Crash[];
  readonly byzantine: ReadonlyMap<number, Behaviour>;
  /** the side (0 or 1) of each node, shared by the Byzantine coalition to aim its equivocation */
  readonly sides: readonly number[];
  /** end of the last disruption: the network is synchronous and every node up from here on */
  readonly healAt: number;
}

export function drawScenario(o: SimOptions): Scenario {
  const n = o.validators;
  if (!Number.isInteger(n) || n < 1) throw new RangeError("validators must be a positive integer");
  if (!Number.isInteger(o.byzantine) || o.byzantine < 0 || o.byzantine > n) throw new RangeError("byzantine must be in [0, validators]");
  if (o.byzantine > 0 && o.behaviours.length === 0) throw new RangeError("no Byzantine behaviour to pick from");
  const rng = new Prng(o.seed, "scenario");
  const nodes = Array.from({ length: n }, (_, i) => i);

  const byzRng = rng.fork("byzantine");
  const byzNodes = byzRng.shuffle(nodes).slice(0, o.byzantine).sort((a, b) => a - b);
  const byzantine = new Map<number, Behaviour>(byzNodes.map((i) => [i, byzRng.pick(o.behaviours)]));
  const honest = nodes.filter((i) => !byzantine.has(i));

  const netRng = rng.fork("net");
  const net: NetParams = o.net ?? {
    minDelay: netRng.range(1, 20),
    spread: netRng.range(5, 150),
    slowChance: netRng.pick([0, 0.01, 0.05]),
    slowExtra: netRng.range(100, 1500),
    loss: o.lossy ? netRng.pick([0, 0.01, 0.05, 0.1, 0.2]) : 0,
    dup: o.lossy ? netRng.pick([0, 0.02, 0.1]) : 0,
  };

  const partRng = rng.fork("partitions");
  const partitions: Partition[] = [];
  if (o.partitions && n > 1) {
    const count = partRng.range(1, 2);
    for (let k = 0; k < count; k++) {
      const start = partRng.range(0, 6000);
      const end = start + partRng.range(500, 8000);
      const order = partRng.shuffle(nodes);
      const cut = partRng.range(1, n - 1);
      partitions.push({ start, end, groups: [order.slice(0, cut).sort((a, b) => a - b), order.slice(cut).sort((a, b) => a - b)] });
    }
  }

  const crashRng = rng.fork("crashes");
  const crashes: Crash[] = [];
  if (o.crashes && honest.length > 0) {
    const count = crashRng.range(1, Math.max(1, Math.min(3, honest.length)));
    const busyUntil = new Map<number, number>();
    for (let k = 0; k < count; k++) {
      const node = crashRng.pick(honest);
      const at = Math.max(busyUntil.get(node) ?? 0, crashRng.range(0, 8000)) + 1;
      const restartAt = at + crashRng.range(200, 6000);
      busyUntil.set(node, restartAt);
      crashes.push({ node, at, restartAt, mode: crashRng.chance(0.5) ? "afterSign" : "now" });
    }
    crashes.sort((a, b) => a.at - b.at || a.node - b.node);
  }

  // The coalition's sides: the first partition's groups if there is one, else a seeded split.
  const sides = new Array<number>(n).fill(0);
  const sideRng = rng.fork("sides");
  if (partitions.length > 0) for (const i of partitions[0]!.groups[1]!) sides[i] = 1;
  else for (const i of sideRng.shuffle(nodes).slice(0, Math.floor(n / 2))) sides[i] = 1;

  let healAt = 0;
  for (const p of partitions) healAt = Math.max(healAt, p.end);
  for (const c of crashes) healAt = Math.max(healAt, c.restartAt);
  return { net, partitions, crashes, byzantine, sides, healAt };
}

export function describeScenario(s: Scenario): string {
  const parts: string[] = [];
  parts.push(`net delay ${s.net.minDelay}+[0,${s.net.spread}]ms slow ${s.net.slowChance}:+${s.net.slowExtra}ms loss ${s.net.loss} dup ${s.net.dup}`);
  for (const p of s.partitions) parts.push(`partition ${p.groups.map((g) => `{${g.join(",")}}`).join("|")} @${p.start}-${p.end}ms`);
  for (const c of s.crashes) parts.push(`crash node ${c.node} @${c.at}${c.mode === "afterSign" ? "(at its next signature)" : ""}-${c.restartAt}ms`);
  for (const [i, b] of s.byzantine) parts.push(`byzantine node ${i}: ${b}`);
  parts.push(`heal @${s.healAt}ms`);
  return parts.join("; ");
}
