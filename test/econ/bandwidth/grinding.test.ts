/**
 * Seed grinding against the lookback (issue #16; docs/protocol.md section 4), on real blocks
 * replayed by a follower with the supply invariant checked (./world.ts):
 *  - by registration: the proposer of an epoch's first block (who knows its seed in advance)
 *    registers a witness with chosen collateral in that block, or in the block before: the
 *    assignments the seed feeds do not move;
 *  - by removing weight: the proposer of both the last block of e - 1 (which can still move the
 *    snapshot S_{e-1}: an exit leaves it) and the first block of e knows that block's seed while it
 *    chooses which of its keys exit. With the seed of e's first block feeding e + 1 (the rule before
 *    this test), every subset of its keys was another draw it could read off before choosing; the
 *    seed is now the chain seed after e's last block: measured, what that choice bought and that it
 *    buys nothing now, and how often a validator proposes the blocks the lever needs (two in a row
 *    then, a whole epoch and one now), with the chain's own proposer rotation;
 *  - by declining to propose: a validator that does not propose an epoch's last block gives the
 *    seed to the next proposer; measured: how many colluding witnesses that choice moves, and what
 *    a choice between two seeds buys against the probability of a colluding quorum, computed for
 *    10, 20 and 33% of the weight (hypergeometric, binomial, and drawn with assignWitnesses).
 */
import t from "tap";
import { compareBytes, equalBytes, toHex } from "../../../primitives/bytes.ts";
import { sha256 } from "../../../primitives/hash.ts";
import { epochSeed, firstHeightOfEpoch, lastHeightOfEpoch } from "../../../chain/epoch.ts";
import { incrementPriorities, type PowerAndPriority } from "../../../chain/consensus/proposer.ts";
import { assignWitnesses, listAssignments, readLookbackSeed, readSnapshot, type WitnessCandidate } from "../../../modules/bandwidth/bandwidth.ts";
import { ProviderKind } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import {
  binomialAtLeast, COLLATERAL, FIRST_EPOCH, FUNDS, hex, hypergeometricAtLeast, newWorld, step, toHeight, toWindow, txs, type World,
} from "./world.ts";

const A = testKey(4101);
const B = testKey(4102);
const WITNESSES = Array.from({ length: 12 }, (_, i) => testKey(4110 + i));
const RELAYS = Array.from({ length: 4 }, (_, i) => testKey(4140 + i));
/** Weights of the attacker's small keys: 1, 2, 4, ... so that every subset left in the snapshot has another total (another draw). */
const SMALL = Array.from({ length: 6 }, (_, i) => ({ key: testKey(4160 + i), collateral: 1n << BigInt(i) }));

function fork(w: World): World {
  return { ...w, chain: { ...w.chain, keys: [...w.chain.keys] }, earned: new Map(w.earned), events: [...w.events] };
}
const assignments = (w: World, epoch: bigint) => listAssignments(w.chain.state, epoch).map((a) => [toHex(a.relay), a.witnesses.map(toHex)]);

t.test("grinding by registration: a proposer that knows the seed cannot move the assignments it feeds by registering", async (t) => {
  const GRINDER = testKey(4190);
  const w = newWorld(t, { validators: [{ key: A, power: COLLATERAL }], witnesses: WITNESSES.map((key) => ({ key })), relays: RELAYS.map((key) => ({ key })) });
  w.chain.keys.push(GRINDER);
  step(w, txs(w, [[w.carrier, { type: "transfer", to: GRINDER.publicKey, amount: FUNDS / 10n }]]));
  const e = FIRST_EPOCH + 1n;
  let moved = 0;
  let tries = 0;
  for (const [where, at] of [["its epoch's first block", firstHeightOfEpoch(e, 4) - 1n], ["the block before (the last of the previous epoch)", firstHeightOfEpoch(e, 4) - 2n]] as const) {
    const base = fork(w);
    toHeight(base, at);
    for (const collateral of [1n, COLLATERAL, 100n * COLLATERAL]) {
      const honest = fork(base);
      const grind = fork(base);
      step(honest);
      const b = step(grind, txs(grind, [[GRINDER, { type: "provider.register", kind: ProviderKind.STORAGE, collateral, capacity: 1n, multiaddr: "/dns4/g/tcp/1" }]]));
      t.same(b.receipts.map((r) => r.code), [""], `registered with ${collateral} in ${where}`);
      // the epoch whose seed it knew when it registered: e + 1 (drawn with the seed of e over the snapshot of e - 1)
      for (const target of [e + 1n]) {
        toWindow(honest, target);
        toWindow(grind, target);
        tries++;
        const same = JSON.stringify(assignments(honest, target)) === JSON.stringify(assignments(grind, target));
        if (!same) moved++;
        t.ok(same, `${where}, collateral ${collateral}: epoch ${target}'s assignment unchanged`);
      }
      t.notOk(readSnapshot(grind.chain.state, e - 1n)!.candidates.some((c) => equalBytes(c.key, GRINDER.publicKey)), "not in the snapshot of e - 1: not bonded for a whole epoch");
    }
  }
  t.comment(`grinding by registration: ${moved} of ${tries} assignments moved`);
  t.equal(moved, 0);
});

/** The share of heights h at which the validator of `power` (the first) proposes h .. h + run - 1, with the chain's rotation, over `heights` heights. */
function runShare(power: bigint, others: readonly bigint[], run: number, heights: number): number {
  let vs: PowerAndPriority[] = [power, ...others].map((p, i) => ({ publicKey: new Uint8Array([i]), power: p, priority: 0n }));
  let streak = 0;
  let hits = 0;
  for (let h = 0; h < heights; h++) {
    const step = incrementPriorities(vs);
    vs = vs.map((v, i) => ({ ...v, priority: step.priorities[i]! }));
    streak = step.selected === 0 ? streak + 1 : 0;
    if (streak >= run) hits++;
  }
  return hits / heights;
}

t.test("grinding by removing weight: the proposer of the last block of e - 1 and the first of e no longer knows the seed its exits meet", async (t) => {
  const w = newWorld(t, {
    validators: [{ key: A, power: COLLATERAL }, { key: B, power: COLLATERAL }],
    witnesses: [...WITNESSES.map((key) => ({ key })), ...SMALL],
    relays: RELAYS.map((key) => ({ key })),
  });
  // the attacker: validator A, witness providers W0-W2, its relay R0 and six small keys it may exit
  const colluders = new Set([A, ...WITNESSES.slice(0, 3)].map((k) => hex(k)));
  const R0 = RELAYS[0]!;
  const count = (ws: readonly Uint8Array[]) => ws.filter((k) => colluders.has(toHex(k))).length;
  // e = FIRST_EPOCH - 1: its last block before the first assignment, on a world where every witness is in good standing
  const e = FIRST_EPOCH - 1n;
  toHeight(w, lastHeightOfEpoch(e - 1n, 4) - 1n);
  const subsets = 1 << SMALL.length;
  const predicted = new Set<string>();
  let best = { subset: 0, colluding: -1 };
  let none = 0;
  for (let subset = 0; subset < subsets; subset++) {
    const f = fork(w);
    const exits = SMALL.filter((_, i) => (subset >> i) & 1).map((s): [typeof A, { type: "provider.exit" }] => [s.key, { type: "provider.exit" }]);
    const b = step(f, txs(f, exits), { proposer: A });
    t.ok(b.receipts.every((r) => r.code === ""), "its exits are taken");
    step(f, [], { proposer: A });
    // what A knows now: the seed of e's first block (it signed it) and the snapshot S_{e-1} its exits shaped;
    // the rule before this test drew e + 1 from exactly these
    const known = epochSeed(f.chain.state, e)!;
    const snapshot = readSnapshot(f.chain.state, e - 1n)!;
    const ws = assignWitnesses(known, R0.publicKey, snapshot.candidates, 7);
    predicted.add(ws.map(toHex).join());
    const c = count(ws);
    if (subset === 0) none = c;
    if (c > best.colluding) best = { subset, colluding: c };
  }
  t.equal(predicted.size, subsets, `under the rule before: each of the ${subsets} subsets of its small keys it exits is another draw it can read off`);
  t.comment(`rule before: R0's colluding witnesses ${none} with no exit, ${best.colluding} with the best of ${subsets} exit subsets (quorum 4)`);

  // the rule now: take the best subset and see what the chain draws
  const chosen = fork(w);
  step(chosen, txs(chosen, SMALL.filter((_, i) => (best.subset >> i) & 1).map((s) => [s.key, { type: "provider.exit" }])), { proposer: A });
  step(chosen, [], { proposer: A });
  const known = epochSeed(chosen.chain.state, e)!;
  const snapshot = readSnapshot(chosen.chain.state, e - 1n)!;
  const alone = fork(chosen);
  const shared = fork(chosen);
  // the rest of e: every block by A, or all but one (the one before the last, by B)
  for (let h = firstHeightOfEpoch(e, 4) + 1n; h <= lastHeightOfEpoch(e, 4); h++) {
    step(alone, [], { proposer: A });
    step(shared, [], { proposer: h === lastHeightOfEpoch(e, 4) - 1n ? B : A });
  }
  for (const x of [alone, shared]) {
    const lastSeed = x.chain.state.meta().seed;
    toWindow(x, e + 1n);
    t.same(readLookbackSeed(x.chain.state, e), lastSeed, "epoch e + 1 is drawn with the chain seed after e's last block");
    t.notSame(lastSeed, known, "not the seed A knew when it chose its exits");
    const actual = listAssignments(x.chain.state, e + 1n).find((a) => equalBytes(a.relay, R0.publicKey))!.witnesses;
    t.same(actual.map(toHex), assignWitnesses(lastSeed, R0.publicKey, snapshot.candidates, 7).map(toHex), "over the snapshot its exits shaped");
    t.comment(`rule now, ${x === alone ? "A proposing every block of e" : "B proposing one block of e"}: R0 gets ${count(actual)} colluding witnesses (its look-ahead promised ${best.colluding})`);
  }
  const drawn = [alone, shared].map((x) => listAssignments(x.chain.state, e + 1n).map((a) => a.witnesses.map(toHex).join()).join("|"));
  t.not(drawn[0], drawn[1], "one block of e by another proposer redraws everything: to know the draw when it still could move the snapshot, A must propose all L + 1 blocks");

  // how often a validator proposes the blocks each rule's lever needs, with the chain's proposer rotation (round 0):
  // two in a row at the boundary then, L + 1 in a row now (L = 100 by default)
  for (const [f, others] of [[0.1, Array(9).fill(100n)], [0.2, Array(8).fill(100n)], [0.2, Array(4).fill(200n)], [0.33, Array(67).fill(10n)], [0.33, [335n, 335n]]] as [number, bigint[]][]) {
    const power = BigInt(Math.round(f * 1000));
    const two = runShare(power, others, 2, 20_000);
    const whole = runShare(power, others, 101, 20_000);
    t.comment(`${Math.round(f * 100)}% of the power (others ${others.length} x ${others[0]}): proposes two blocks in a row at ${(two * 100).toFixed(2)}% of heights, 101 in a row at ${(whole * 100).toFixed(2)}%`);
    t.equal(whole, 0, "a third of the power or less never proposes a whole epoch in a row");
  }
  // what the old lever bought when it held: the best of 2^k draws against one
  for (const f of [0.1, 0.2, 0.33]) {
    const q = binomialAtLeast(7, f, 4); // the weight split over many keys (no fewer colluding keys than the quorum)
    t.comment(`${Math.round(f * 100)}% of the weight: P(colluding quorum) ${q.toFixed(4)} with one draw; with k exitable keys of distinct weights the rule before gave 1-(1-q)^(2^k): k=6 ${(1 - (1 - q) ** 64).toFixed(4)}, k=10 ${(1 - (1 - q) ** 1024).toFixed(4)}`);
  }
});

t.test("grinding by declining to propose: the only lever, measured", async (t) => {
  const w = newWorld(t, {
    validators: [{ key: A, power: COLLATERAL }, { key: B, power: COLLATERAL }],
    witnesses: WITNESSES.map((key) => ({ key })),
    relays: RELAYS.map((key) => ({ key })),
  });
  // the attacker: validator A, the first 3 witness providers and relay R0 (4 of the 19 candidates' weight)
  const colluders = [A, ...WITNESSES.slice(0, 3)].map((k) => hex(k));
  const R0 = RELAYS[0]!;
  let moved = 0;
  let best = 0;
  let honestSum = 0;
  const epochs = [FIRST_EPOCH + 1n, FIRST_EPOCH + 2n, FIRST_EPOCH + 3n];
  for (const e of epochs) {
    toHeight(w, lastHeightOfEpoch(e - 1n, 4) - 1n);
    // the last block of e - 1: the chain seed after it feeds epoch e's assignment; proposed by A, or by B if A declines
    const options = [A, B].map((proposer) => {
      const f = fork(w);
      step(f, [], { proposer });
      toWindow(f, e);
      const ws = listAssignments(f.chain.state, e).find((a) => equalBytes(a.relay, R0.publicKey))!.witnesses;
      return { f, colluding: ws.filter((k) => colluders.includes(toHex(k))).length, ws };
    });
    if (JSON.stringify(options[0]!.ws.map(toHex)) !== JSON.stringify(options[1]!.ws.map(toHex))) moved++;
    honestSum += options[0]!.colluding;
    best = Math.max(best, ...options.map((o) => o.colluding));
    t.comment(`epoch ${e}: colluding witnesses of R0 if A proposes ${options[0]!.colluding}, if A declines ${options[1]!.colluding} (quorum 4)`);
    // continue on the honest branch
    Object.assign(w, { chain: options[0]!.f.chain });
  }
  t.comment(`declining to propose changed R0's witnesses in ${moved} of ${epochs.length} epochs; best colluding count reached ${best}, mean when proposing ${(honestSum / epochs.length).toFixed(2)}`);
  t.ok(best < 4, "no colluding quorum reached in these epochs, with or without declining");

  // what a choice between 2 seeds buys: P(colluding quorum) per relay and epoch, for 10/20/33% of the weight
  const N = 30;
  const draws = 4000;
  for (const f of [0.1, 0.2, 0.33]) {
    const K = Math.round(f * N);
    const hyper = hypergeometricAtLeast(N, K, 7, 4);
    const bin = binomialAtLeast(7, f, 4);
    const cands: WitnessCandidate[] = Array.from({ length: N + 1 }, (_, i) => ({ key: sha256(new TextEncoder().encode(`c${i}`)), weight: 1n })).sort((a, b) => compareBytes(a.key, b.key));
    const relay = cands[N]!.key;
    const bad = new Set(cands.filter((c) => !equalBytes(c.key, relay)).slice(0, K).map((c) => toHex(c.key)));
    let hit = 0;
    let hit2 = 0;
    for (let i = 0; i < draws; i++) {
      const q = (s: number) => assignWitnesses(sha256(new TextEncoder().encode(`seed ${f} ${i} ${s}`)), relay, cands, 7).filter((k) => bad.has(toHex(k))).length >= 4;
      const a = q(0);
      if (a) hit++;
      if (a || q(1)) hit2++;
    }
    t.comment(
      `colluding quorum (4 of 7) with ${Math.round(f * 100)}% of the weight: hypergeometric ${hyper.toFixed(4)}, binomial ${bin.toFixed(4)}, drawn ${(hit / draws).toFixed(4)}; ` +
        `with a choice of 2 seeds (declining once) ${(hit2 / draws).toFixed(4)} (1-(1-p)^2 = ${(1 - (1 - hyper) ** 2).toFixed(4)})`,
    );
    t.ok(hit2 / draws <= 2 * (hit / draws) + 0.02, "declining at most doubles the chance, at the cost of the block it does not propose");
    if (f <= 0.2) t.ok(hyper < 0.05, `below 5% with ${f * 100}% of the weight`);
  }
});
