/**
 * Seed grinding against the lookback (issue #16; docs/protocol.md section 4), on real blocks
 * replayed by a follower with the supply invariant checked (./world.ts):
 *  - by registration: the proposer of an epoch's first block (who knows its seed in advance)
 *    registers a witness with chosen collateral in that block, or in the block before: the
 *    assignments the seed feeds do not move;
 *  - by declining to propose: a validator that does not propose an epoch's first block gives the
 *    seed to the next proposer; measured: how many colluding witnesses that choice moves, and what
 *    a choice between two seeds buys against the probability of a colluding quorum, computed for
 *    10, 20 and 33% of the weight (hypergeometric, binomial, and drawn with assignWitnesses).
 */
import t from "tap";
import { compareBytes, equalBytes, toHex } from "../../../primitives/bytes.ts";
import { sha256 } from "../../../primitives/hash.ts";
import { firstHeightOfEpoch } from "../../../chain/epoch.ts";
import { assignWitnesses, listAssignments, readSnapshot, type WitnessCandidate } from "../../../modules/bandwidth/bandwidth.ts";
import { ProviderKind } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import {
  binomialAtLeast, COLLATERAL, FIRST_EPOCH, FUNDS, hex, hypergeometricAtLeast, newWorld, step, toHeight, toWindow, txs, type World,
} from "./world.ts";

const A = testKey(4101);
const B = testKey(4102);
const WITNESSES = Array.from({ length: 12 }, (_, i) => testKey(4110 + i));
const RELAYS = Array.from({ length: 4 }, (_, i) => testKey(4140 + i));

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
    toHeight(w, firstHeightOfEpoch(e - 1n, 4) - 1n);
    // the first block of e - 1: its seed feeds epoch e's assignment; proposed by A, or by B if A declines
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
