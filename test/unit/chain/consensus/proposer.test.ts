import fc from "fast-check";
import t from "tap";
import { incrementPriorities, proposerIndex, type PowerAndPriority } from "../../../../chain/consensus/proposer.ts";

const key = (i: number) => new Uint8Array(32).fill(i + 1);
const set = (powers: number[]): PowerAndPriority[] => powers.map((p, i) => ({ publicKey: key(i), power: BigInt(p), priority: 0n }));

function run(vs: PowerAndPriority[], heights: number): number[] {
  const counts = vs.map(() => 0);
  let cur = vs;
  for (let h = 0; h < heights; h++) {
    const step = incrementPriorities(cur);
    counts[step.selected]!++;
    cur = cur.map((v, i) => ({ ...v, priority: step.priorities[i]! }));
  }
  return counts;
}

t.test("equal power: strict round robin", async (t) => {
  const vs = set([10, 10, 10, 10]);
  const order: number[] = [];
  let cur = vs;
  for (let h = 0; h < 8; h++) {
    const s = incrementPriorities(cur);
    order.push(s.selected);
    cur = cur.map((v, i) => ({ ...v, priority: s.priorities[i]! }));
  }
  t.same(order, [0, 1, 2, 3, 0, 1, 2, 3], "ties go to the lower key, then everyone takes a turn");
});

t.test("proposals are proportional to power", async (t) => {
  t.same(run(set([1, 2, 7]), 1000), [100, 200, 700]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 12 }), (powers) => {
      const total = powers.reduce((a, b) => a + b, 0);
      const counts = run(set(powers), total * 3);
      // over 3 full cycles each validator proposes exactly 3 x its power (within rounding of 1 per cycle)
      return counts.every((c, i) => Math.abs(c - 3 * powers[i]!) <= 3);
    }),
    { numRuns: 100 },
  );
});

t.test("a later round picks the next proposer; the function is pure", async (t) => {
  const vs = set([10, 10, 10]);
  t.equal(proposerIndex(vs, 0), 0);
  t.equal(proposerIndex(vs, 1), 1);
  t.equal(proposerIndex(vs, 2), 2);
  t.equal(proposerIndex(vs, 3), 0);
  t.same(vs.map((v) => v.priority), [0n, 0n, 0n], "input untouched");
  t.throws(() => incrementPriorities([]));
});

t.test("priorities stay bounded however skewed the powers", async (t) => {
  let cur = set([1, 1_000_000_000_000, 5]);
  for (let h = 0; h < 2000; h++) {
    const s = incrementPriorities(cur);
    cur = cur.map((v, i) => ({ ...v, priority: s.priorities[i]! }));
  }
  const total = 1_000_000_000_006n;
  for (const v of cur) t.ok(v.priority <= 3n * total && v.priority >= -3n * total);
});
