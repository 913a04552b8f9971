/**
 * The market the storage strategies play in: nine honest providers, an attacker's provider with a
 * chosen share of the collateral, two honest clients ordering real data, and (when the attacker
 * self-deals) the attacker's client ordering regenerable zeros at the minimum price.
 */
import type { Test } from "tap";
import { testKey } from "../../helpers/chain.ts";
import { econSize } from "../harness.ts";
import { RegenerableData } from "./regenerable.ts";
import {
  byName, hex, newWorld, outcome, playEpochs, realDataset, storagePoolMinted, type ClientSpec, type Outcome, type ProviderBehaviour, type ProviderSpec, type World,
} from "./world.ts";

export const HONEST = 9;
/** Placements begin at epoch 3 (registered in epoch 0: in the snapshot of epoch 1, read at epoch 3). */
export const FIRST_PLACEMENT_EPOCH = 3n;

export interface MarketSpec {
  /** none: the attacker's provider is honest and its client orders nothing; all: it self-deals and serves whoever is placed; own: it serves only its own provider. */
  readonly attack: "none" | "all" | "own";
  /** The attacker provider's share of the collateral. */
  readonly share: number;
  /** low: about 10% of the capacity is ordered by honest clients; high: about 80%. */
  readonly demand: "low" | "high";
  readonly epochs?: number;
  /**
   * Key offset. Two markets with the same seed share keys, seeds and the honest clients' orders
   * (the block seeds hang on the proposer's key and the heights only): their draws differ only where
   * the attack changes the candidates' free collateral (common random numbers).
   */
  readonly seed?: number;
  readonly attackerBehaviour?: ProviderBehaviour;
}

export interface Market {
  readonly w: World;
  readonly last: bigint;
  readonly honest: Outcome[];
  /** Mean and standard deviation of the honest providers' returns (ppm). */
  readonly honestMean: number;
  readonly honestSd: number;
  /** The sampling tolerance of one provider's return against that mean: two standard deviations. */
  readonly tolerance: number;
  readonly selfDealer: Outcome;
  readonly attackerProvider: Outcome;
  /** The attacker provider's collateral share. */
  readonly collateralShare: number;
  /** Its storage reward over the pool offered in the epochs it could earn in, and over the pool minted. */
  readonly shareOfOffered: number;
  readonly shareOfMinted: number;
  /** Rewards (anyone's) above the cap: the pool x the provider's collateral share in the snapshot. */
  readonly overCap: string[];
}

export function market(t: Test, spec: MarketSpec): Market {
  const base = 6000 + (spec.seed ?? 0) * 100;
  const high = spec.demand === "high";
  const collateral = high ? 256n * 1024n : 512n * 1024n;
  const size = high ? 16 * 1024 : 4 * 1024;
  const perClient = high ? 6 : 4;
  const honest = Array.from({ length: HONEST }, (_, i): ProviderSpec => ({ name: `honest ${i}`, key: testKey(base + i), collateral, behaviour: "honest" }));
  const apCollateral = BigInt(Math.round((spec.share / (1 - spec.share)) * HONEST * Number(collateral)));
  const ap: ProviderSpec = {
    name: "attacker provider", key: testKey(base + 30), collateral: apCollateral, behaviour: spec.attackerBehaviour ?? (spec.attack === "none" ? "honest" : "fake"),
  };
  let dataSeed = base;
  const clients: ClientSpec[] = Array.from({ length: 2 }, (_, i) => ({
    name: `client ${i}`, key: testKey(base + 40 + i),
    orders: () => Array.from({ length: perClient }, () => ({ data: realDataset(dataSeed++, size, 512), replicas: 2, durationEpochs: 6n })),
  }));
  // 64 KiB of zeros plus a few bytes, so that no two of its orders share a root
  let extra = 1n;
  const attackerClient: ClientSpec = {
    name: "attacker client", key: testKey(base + 50),
    orders: () => spec.attack === "none" ? [] : [{
      data: RegenerableData.zeros(64n * 1024n + extra++, 1024).dataset((p) => spec.attack === "all" || hex(p) === hex(ap.key)), replicas: 3, durationEpochs: 6n,
    }],
  };
  const w = newWorld(t, { validators: [{ key: testKey(base + 60), power: 1_000_000n }], providers: [...honest, ap], clients: [...clients, attackerClient] });
  const last = FIRST_PLACEMENT_EPOCH + BigInt(econSize(spec.epochs ?? 12));
  playEpochs(w, 1n, last);

  const honestOut = honest.map((p) => outcome(w, p.name, [p.name]));
  const r = honestOut.map((o) => o.returnPpm);
  const mean = r.reduce((a, b) => a + b, 0) / r.length;
  const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (r.length - 1));
  const totalCollateral = collateral * BigInt(HONEST) + apCollateral;
  const p = w.chain.genesis.params;
  const pool = (p.emissionPerEpoch * BigInt(p.storageShareBps)) / 10_000n;
  const reward = byName(w, "attacker provider").storageReward;
  // the pool offered from the first epoch with proven network bytes (placed at 3, proven from 4)
  const offered = pool * (last - FIRST_PLACEMENT_EPOCH);
  return {
    w, last, honest: honestOut, honestMean: mean, honestSd: sd, tolerance: 2 * sd,
    selfDealer: outcome(w, spec.attack === "none" ? "attacker keys, honest" : `self-dealer (${spec.attack})`, ["attacker provider", "attacker client"]),
    attackerProvider: outcome(w, "its provider key alone", ["attacker provider"]),
    collateralShare: Number(apCollateral) / Number(totalCollateral),
    shareOfOffered: Number(reward) / Number(offered),
    shareOfMinted: Number(reward) / Number(storagePoolMinted(w)),
    overCap: w.overCap,
  };
}

export function describe(m: Market, label: string): string {
  return [
    `${label}: honest providers' return ${m.honestMean.toFixed(0)} ppm (sd ${m.honestSd.toFixed(0)}); ` +
      `${m.selfDealer.name} ${m.selfDealer.returnPpm.toFixed(0)} ppm on capital ${m.selfDealer.capital} (its provider alone ${m.attackerProvider.returnPpm.toFixed(0)} ppm)`,
    `  the attacker provider's collateral share ${(m.collateralShare * 100).toFixed(1)}%, its storage reward ${(m.shareOfOffered * 100).toFixed(1)}% of the pool offered, ` +
      `${(m.shareOfMinted * 100).toFixed(1)}% of the pool minted; pool minted ${storagePoolMinted(m.w)}`,
  ].join("\n");
}
