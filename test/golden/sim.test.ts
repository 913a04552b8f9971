/**
 * Golden simulation traces: the deterministic consensus simulation (test/sim/README.md) run for
 * fixed seeds with the default fault mix (crashes, partitions, loss, duplication, reordering, and
 * Byzantine validators drawing from every behaviour), each run's event-trace hash pinned to
 * test/golden/sim.golden.json. The trace covers every message, signature, block and commit of the
 * run, so a change to the consensus engine, block building or execution, encoding or hashing (or
 * to the simulator itself) changes it.
 *
 * A safety net for refactors that must not change behaviour (e.g. moving files into primitives/ and
 * modules/): a refactor must pass against the committed fixture unchanged.
 *
 * Regenerate the fixture (instead of comparing against it):
 *
 *   GOLDEN_UPDATE=1 node scripts/test.mjs test/golden/sim.test.ts
 *
 * WARNING: updating it is only for a DELIBERATE change of consensus (or of the simulator's
 * scenario drawing); say so, and why, in the commit message that carries the new fixture.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { defaultSimOptions, type SimOptions } from "../sim/scenario.ts";
import { runSimulation } from "../sim/world.ts";

const FIXTURE = fileURLToPath(new URL("./sim.golden.json", import.meta.url));
const UPDATE = process.env.GOLDEN_UPDATE === "1";

/** validators / Byzantine, and the seeds pinned for that size (f < n/3). */
const SIZES = [
  { validators: 4, byzantine: 1, seeds: [1, 2, 3, 4] },
  { validators: 7, byzantine: 2, seeds: [1, 2, 3] },
  { validators: 10, byzantine: 3, seeds: [1, 2] },
] as const;

const faulty: SimOptions = { ...defaultSimOptions, heights: 6, crashes: true, partitions: true, lossy: true };

interface SimRecord {
  validators: number;
  byzantine: number;
  seed: number;
  traceHash: string;
  /** for reading a difference: what the seed drew, how far the run went */
  behaviours: string[];
  events: number;
  virtualMs: number;
  honestHeights: number[];
  failures: number;
}

const label = (r: Pick<SimRecord, "validators" | "byzantine" | "seed">) => `${r.validators} validators / ${r.byzantine} Byzantine, seed ${r.seed}`;

t.test("golden simulation trace hashes", async (t) => {
  const runs: SimRecord[] = [];
  const started = performance.now();
  for (const s of SIZES) {
    for (const seed of s.seeds) {
      const r = runSimulation({ ...faulty, seed, validators: s.validators, byzantine: s.byzantine });
      runs.push({
        validators: s.validators, byzantine: s.byzantine, seed, traceHash: r.traceHash, behaviours: [...r.scenario.byzantine.entries()].sort((a, b) => a[0] - b[0]).map(([i, b]) => `${i}:${b}`),
        events: r.events, virtualMs: r.virtualMs, honestHeights: [...r.honestHeights], failures: r.failures.length,
      });
      if (r.failures.length > 0) t.fail(`${label({ validators: s.validators, byzantine: s.byzantine, seed })}: the run itself fails: ${r.failures.map((f) => `${f.check}: ${f.detail}`).join("; ")}`);
    }
  }
  t.comment(`${runs.length} runs in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  if (UPDATE) {
    if (runs.some((r) => r.failures > 0)) {
      t.fail("GOLDEN_UPDATE=1: some run fails its checks; the fixture is left as it was");
      return;
    }
    writeFileSync(FIXTURE, `{\n  "runs": [\n${runs.map((r) => `    ${JSON.stringify(r)}`).join(",\n")}\n  ]\n}\n`);
    t.comment(`GOLDEN_UPDATE=1: wrote ${FIXTURE}`);
    return;
  }
  let want: { runs: SimRecord[] };
  try {
    want = JSON.parse(readFileSync(FIXTURE, "utf8")) as { runs: SimRecord[] };
  } catch (e) {
    t.fail(`cannot read the fixture ${FIXTURE} (${(e as Error).message}); generate it with GOLDEN_UPDATE=1`);
    return;
  }
  t.same(runs.map(label), want.runs.map(label), "the fixture pins the same runs");
  for (const w of want.runs) {
    const g = runs.find((r) => label(r) === label(w));
    if (!g) continue;
    const fields = (["traceHash", "behaviours", "events", "virtualMs", "honestHeights", "failures"] as const).filter((f) => JSON.stringify(w[f]) !== JSON.stringify(g[f]));
    if (fields.length === 0) t.pass(`${label(w)}: trace ${w.traceHash.slice(0, 16)}…`);
    else t.fail(`${label(w)}: differs from the golden fixture in ${fields.map((f) => `${f} (expected ${JSON.stringify(w[f])}, got ${JSON.stringify(g[f])})`).join(", ")}`);
  }
});
