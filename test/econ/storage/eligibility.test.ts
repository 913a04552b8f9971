/**
 * A lever the lookback alone does not close: eligibility for a placement (room, free collateral,
 * active, not holding the root) is read when the draw is made, an epoch after its seed is known.
 * One person with several provider keys could make some of them ineligible for its own order (a
 * direct deal of the root from its client key, filling a key's room, an exit) and so choose among
 * the draws over every subset of its keys. The chain keeps an ineligible candidate's weight and
 * skips it (modules/storage/orders.ts placeOrders, proofs/draw.ts), so no subset places it more
 * than doing nothing. Measured with the chain's own draw; the old rule (ineligible candidates
 * dropped from the draw) is played beside it to show what the lever bought.
 */
import t from "tap";
import { compareBytes, equalBytes, toHex } from "../../../primitives/bytes.ts";
import { sha256, Tag } from "../../../primitives/hash.ts";
import { weightedDraw, type WeightedKey } from "../../../proofs/draw.ts";
import { econSize } from "../harness.ts";

t.setTimeout(econSize(180_000));

const enc = (s: string) => new TextEncoder().encode(s);
const SHARES = [0.1, 0.2, 0.33];
const KEYS = 3;

t.test("making its own keys ineligible after the seed is known places it no more: every subset's draw is the plain one or misses it", async (t) => {
  const N = 20;
  const draws = econSize(2000);
  for (const f of SHARES) {
    const honest = Array.from({ length: N }, (_, i) => ({ key: sha256(enc(`h${i}`)), weight: 1000n + BigInt((i % 3) * 1000) }));
    const honestTotal = honest.reduce((a, c) => a + c.weight, 0n);
    const each = BigInt(Math.round((f / (1 - f)) * Number(honestTotal) / KEYS));
    const mine = Array.from({ length: KEYS }, (_, i) => ({ key: sha256(enc(`attacker ${i}`)), weight: each }));
    const cands: WeightedKey[] = [...honest, ...mine].sort((a, b) => compareBytes(a.key, b.key));
    const isMine = (k: Uint8Array | undefined) => k !== undefined && mine.some((m) => equalBytes(m.key, k));
    // every subset of its keys it could make ineligible (the empty one: it does nothing)
    const subsets = Array.from({ length: 1 << KEYS }, (_, s) => new Set(mine.filter((_, i) => (s >> i) & 1).map((m) => toHex(m.key))));
    let plain = 0;
    let best = 0;
    let bestOld = 0;
    for (let i = 0; i < draws; i++) {
      const seed = sha256(enc(`${f} ${i}`));
      const order = enc(`order ${i}`);
      const hit = isMine(weightedDraw(Tag.PLACEMENT, seed, order, cands, 1)[0]);
      if (hit) plain++;
      const skipped = subsets.some((s) => isMine(weightedDraw(Tag.PLACEMENT, seed, order, cands, 1, (c) => s.has(toHex(c.key)))[0]));
      if (skipped !== hit) t.fail(`${f} draw ${i}: a subset of its keys made ineligible changed whether it is placed`);
      if (skipped) best++;
      if (subsets.some((s) => isMine(weightedDraw(Tag.PLACEMENT, seed, order, cands.filter((c) => !s.has(toHex(c.key))), 1)[0]))) bestOld++;
    }
    const pct = (x: number) => `${((x / draws) * 100).toFixed(1)}%`;
    t.comment(`${(f * 100).toFixed(0)}% of the collateral in ${KEYS} keys: placed on ${pct(plain)} of ${draws} orders; the best of ${subsets.length} subsets: ${pct(best)} (if ineligible keys were dropped from the draw: ${pct(bestOld)})`);
    t.equal(best, plain, "no subset of ineligible keys places it on one more order");
    const tol = 4 * Math.sqrt((f * (1 - f)) / draws);
    t.ok(Math.abs(plain / draws - f) <= tol, `placed at its collateral share (${pct(plain)}, tolerance ${(tol * 100).toFixed(1)} points)`);
    t.ok(bestOld / draws > f + tol, "dropping ineligible candidates from the draw would have handed it the lever");
  }
});
