/**
 * Strategies 1 and 2 of issue #15 on real blocks (./world.ts, ./market.ts): the honest provider
 * (stores real data, proves every epoch) is the baseline; one person holding a client key and a
 * provider key orders big amounts of regenerable zeros, which its provider "stores" by regenerating
 * (./regenerable.ts), and either serves the data to whoever is placed or only to its own provider
 * (the others decline, so the replica is drawn again until its own provider is placed).
 *
 * Tolerance: the honest baseline is the mean return of the nine honest providers; placements are
 * random and one strategy is one sample, so it passes if its return is at most that mean plus two
 * standard deviations of the honest providers' returns.
 */
import t from "tap";
import { econSize } from "../harness.ts";
import { equalBytes } from "../../../primitives/bytes.ts";
import { dealRoot, StorageProver, verifyStorageProof } from "../../../proofs/storage.ts";
import { sha256 } from "../../../primitives/hash.ts";
import { pseudoRandomBytes } from "../../helpers/random.ts";
import { RegenerableData } from "./regenerable.ts";
import { describe, market } from "./market.ts";
import { formatOutcomes } from "./world.ts";

// the runner's 180 s per file, scaled with the size (npm run econ plays five times as long)
t.setTimeout(econSize(180_000));

t.test("regenerable data: the attacker answers every challenge without storing a byte, and the chain cannot tell", async (t) => {
  for (const [size, chunk] of [[1n, 256], [256n, 256], [257n, 256], [3000n, 256], [64n * 1024n + 5n, 1024], [4097n, 512]] as const) {
    const z = RegenerableData.zeros(size, chunk);
    t.ok(equalBytes(z.root, dealRoot(new Uint8Array(Number(size)), chunk)), `zeros, ${size} bytes in ${chunk}-byte chunks: the same root as the real bytes`);
    const p = RegenerableData.prg(7, size, chunk);
    t.ok(equalBytes(p.root, dealRoot(p.bytes(), chunk)), `PRG, ${size} bytes: the same root as its bytes`);
    const real = new StorageProver(p.bytes(), chunk);
    const seed = sha256(new Uint8Array([Number(size & 255n)]));
    t.same(p.answer(seed, seed, 4), real.answer(seed, seed, 4), "the regenerated answers are the stored prover's");
  }
  // the 2 TB of zeros: its root and proofs from a handful of regenerated chunks
  const two = RegenerableData.zeros(2n * 10n ** 12n, 65_536);
  const before = two.regenerated;
  const answers = two.answer(sha256(new Uint8Array([1])), sha256(new Uint8Array([2])), 4);
  t.ok(answers.every((a) => verifyStorageProof(two.root, two.count, a.index, a.chunk, a.path)), "2 TB of zeros: every answer verifies against the root");
  t.ok(two.regenerated - before <= 4 * 2, `answered by regenerating ${two.regenerated - before} chunks (${two.count} in the data)`);
  // a provider that stored nothing but claims other data cannot answer for it
  const other = new StorageProver(pseudoRandomBytes(4096, 3), 512);
  const fake = RegenerableData.zeros(4096n, 512).answer(sha256(new Uint8Array([3])), sha256(new Uint8Array([4])), 4);
  t.ok(fake.every((a) => !verifyStorageProof(other.root, other.chunkCount, a.index, a.chunk, a.path)), "zeros do not verify against real data's root");
});

t.test("self-dealing, serving whoever is placed: pays the other providers; its pool share is at most its collateral share", async (t) => {
  const honest = market(t, { attack: "none", share: 0.2, demand: "low", seed: 0 });
  const all = market(t, { attack: "all", share: 0.2, demand: "low", seed: 0 });
  t.comment(describe(honest, "no attack (the attacker's keys play honest)"));
  t.comment(describe(all, "self-dealing, serving everyone"));
  t.comment(formatOutcomes("returns per unit of capital", [...all.honest.slice(0, 3), all.selfDealer, all.attackerProvider]));
  for (const m of [honest, all]) t.same(m.overCap, [], "no provider's reward ever exceeds its collateral share of an epoch's pool");
  t.ok(all.shareOfOffered <= all.collateralShare + 1e-9, `its share of the pool offered ${all.shareOfOffered.toFixed(4)} <= its collateral share ${all.collateralShare.toFixed(4)}`);
  const tol = all.tolerance;
  t.ok(all.selfDealer.returnPpm <= all.honestMean + tol, `the self-dealer's return ${all.selfDealer.returnPpm.toFixed(0)} <= the honest providers' ${all.honestMean.toFixed(0)} + ${tol.toFixed(0)} ppm`);
  // its orders lift every provider (they are paid the price and the pool for the bytes placed on
  // them); the pool pays for proven collateral at a fixed rate, so the attacker gains less from its
  // own orders than each honest provider does
  const attackerGain = all.selfDealer.returnPpm - honest.selfDealer.returnPpm;
  const honestGain = all.honestMean - honest.honestMean;
  t.ok(attackerGain <= honestGain, `what its orders bring it (${attackerGain.toFixed(0)} ppm) <= what they bring an honest provider (${honestGain.toFixed(0)} ppm)`);
  t.ok(all.selfDealer.gain < all.attackerProvider.gain, "its client pays more in prices and fees than the orders bring back (the other providers are paid)");
});

t.test("self-dealing, serving only its own provider: each re-roll burns a failure charge, so it loses; the honest providers lose less than it does", async (t) => {
  const none = market(t, { attack: "none", share: 0.2, demand: "low", seed: 2 });
  const low = market(t, { attack: "own", share: 0.2, demand: "low", seed: 2 });
  const noneHigh = market(t, { attack: "none", share: 0.2, demand: "high", seed: 4 });
  const high = market(t, { attack: "own", share: 0.2, demand: "high", seed: 4 });
  t.comment(describe(none, "low demand, no attack"));
  t.comment(describe(low, "low demand, self-dealing to its own provider"));
  t.comment(describe(noneHigh, "high demand, no attack"));
  t.comment(describe(high, "high demand, self-dealing to its own provider"));
  for (const m of [none, low, noneHigh, high]) {
    t.same(m.overCap, [], "the cap: no provider ever gets more than its collateral share of an epoch's pool");
    t.ok(m.shareOfOffered <= m.collateralShare + 1e-9, `its share of the pool offered ${m.shareOfOffered.toFixed(4)} <= its collateral share ${m.collateralShare.toFixed(4)}`);
  }
  for (const [label, attack, base] of [["low", low, none], ["high", high, noneHigh]] as const) {
    // its provider is drawn for about a fifth of the replicas; every other draw is declined and burns a charge
    t.ok(attack.selfDealer.returnPpm <= base.selfDealer.returnPpm + base.tolerance, `${label} demand: self-dealing ${attack.selfDealer.returnPpm.toFixed(0)} <= the same keys honest ${base.selfDealer.returnPpm.toFixed(0)} + ${base.tolerance.toFixed(0)} ppm`);
    t.ok(attack.selfDealer.returnPpm <= attack.honestMean + attack.tolerance, `${label} demand: the self-dealer ${attack.selfDealer.returnPpm.toFixed(0)} <= the honest providers ${attack.honestMean.toFixed(0)} + ${attack.tolerance.toFixed(0)} ppm`);
    // what it costs the honest providers (the fees of their declines, collateral held by placements they decline) is less than what it costs the attacker
    const honestLoss = base.honest.reduce((a, o, i) => a + (o.gain - attack.honest[i]!.gain), 0n);
    const attackerLoss = base.selfDealer.gain - attack.selfDealer.gain;
    t.comment(`${label} demand: the honest providers lose ${honestLoss} together, the attacker ${attackerLoss}`);
    t.ok(attackerLoss > honestLoss, `${label} demand: griefing costs the attacker more (${attackerLoss}) than all the honest providers (${honestLoss})`);
  }
});

t.test("self-dealing to its own provider with 33% of the collateral, near the edge of the failure charge's margin: it still loses", async (t) => {
  // (1 - p) / (p (2 - p)) failure charges a placement on its own provider: 1.2 at p = 1/3, each about what the placement can earn
  const none = market(t, { attack: "none", share: 0.33, demand: "low", seed: 6 });
  const own = market(t, { attack: "own", share: 0.33, demand: "low", seed: 6 });
  t.comment(describe(none, "33%, no attack"));
  t.comment(describe(own, "33%, self-dealing to its own provider"));
  for (const m of [none, own]) {
    t.same(m.overCap, [], "the cap: no provider ever gets more than its collateral share of an epoch's pool");
    t.ok(m.shareOfOffered <= m.collateralShare + 1e-9, `its share of the pool offered ${m.shareOfOffered.toFixed(4)} <= its collateral share ${m.collateralShare.toFixed(4)}`);
  }
  t.ok(own.selfDealer.returnPpm <= none.selfDealer.returnPpm + none.tolerance, `self-dealing ${own.selfDealer.returnPpm.toFixed(0)} <= the same keys honest ${none.selfDealer.returnPpm.toFixed(0)} + ${none.tolerance.toFixed(0)} ppm`);
  t.ok(own.selfDealer.returnPpm <= own.honestMean + own.tolerance, `the self-dealer ${own.selfDealer.returnPpm.toFixed(0)} <= the honest providers ${own.honestMean.toFixed(0)} + ${own.tolerance.toFixed(0)} ppm`);
});
