/**
 * The deterministic simulation (test/sim/README.md): honest networks of 4, 7 and 10 validators
 * under crashes, partitions, loss, duplication and reordering; exact replay of a seed; and
 * checks that can fail (a safety violation with f >= n/3, a liveness failure with too many
 * silent validators). The Byzantine matrix (f < n/3) is in byzantine.test.ts.
 */
import { spawnSync } from "node:child_process";
import t, { type Test } from "tap";
import { formatFailure, runSeeds } from "./batch.ts";
import { defaultSimOptions, type SimOptions } from "./scenario.ts";
import { runSimulation } from "./world.ts";

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

function expectAllPass(t: Test, o: SimOptions, seeds: number[]): void {
  const s = runSeeds(o, seeds);
  t.equal(s.failed.length, 0, `${s.seeds} seeds, ${o.validators} validators, ${o.byzantine} Byzantine: ${s.failed.length} failed`, {
    diagnostic: s.failed.length > 0,
    failures: s.failed.map(formatFailure).join("\n"),
  });
  t.ok(s.minHeight.min >= o.heights, `every seed reached height ${o.heights} on every honest node (min ${s.minHeight.min}, median ${s.minHeight.median})`);
  t.comment(`${o.validators} validators, ${o.byzantine} Byzantine: ${s.seeds} seeds, ${s.messagesPerHeight.toFixed(0)} messages/height, ${s.totals.crashes} crashes, ${s.totals.blocksSynced} blocks synced, ${(s.wallMs / 1000).toFixed(1)} s`);
}

const faulty: SimOptions = { ...defaultSimOptions, heights: 6, crashes: true, partitions: true, lossy: true };

t.test("honest validators under crashes, partitions, loss, duplication and reordering", async (t) => {
  t.test("4 validators", async (t) => expectAllPass(t, { ...faulty, validators: 4 }, range(1, 60)));
  t.test("7 validators", async (t) => expectAllPass(t, { ...faulty, validators: 7 }, range(1, 40)));
  t.test("10 validators", async (t) => expectAllPass(t, { ...faulty, validators: 10 }, range(1, 25)));
  t.test("a calm network (no loss, no faults) never needs a second round", async (t) => {
    const calm = { ...defaultSimOptions, validators: 7, heights: 8, crashes: false, partitions: false, lossy: false };
    const s = runSeeds(calm, range(1, 10));
    t.equal(s.failed.length, 0);
    t.equal(s.totals.rounds, 0, "every height decided in round 0");
    t.equal(s.totals.signerRefusals, 0);
  });
});

t.test("one seed replays exactly", async (t) => {
  const o: SimOptions = { ...faulty, seed: 11, validators: 7, byzantine: 2 };
  const a = runSimulation(o);
  const b = runSimulation(o);
  t.equal(a.traceHash, b.traceHash, "same trace hash in one process");
  t.same(a.honestHeights, b.honestHeights);
  t.same(a.stats, b.stats);
  t.not(runSimulation({ ...o, seed: 12 }).traceHash, a.traceHash, "another seed, another trace");

  // and across processes, through the CLI: the same hash printed both times
  const cli = () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "test/sim/cli.ts", "--seed", "11", "--validators", "7", "--byzantine", "2", "--heights", "6"], { encoding: "utf8" });
    const m = /trace hash: ([0-9a-f]{64})/.exec(r.stdout);
    return { status: r.status, hash: m?.[1], stdout: r.stdout };
  };
  const first = cli();
  const second = cli();
  t.equal(first.status, a.failures.length > 0 ? 1 : 0, "the CLI exits 0 on a passing seed");
  t.ok(first.hash, "the CLI prints the trace hash");
  t.equal(first.hash, second.hash, "the same hash printed both times");
  t.equal(first.hash, a.traceHash, "and the same as in this process");
  t.match(first.stdout, /replay: npm run sim -- --seed 11 --validators 7 --byzantine 2 --heights 6/);
});

t.test("the checks can fail", async (t) => {
  t.test("f >= n/3: two equivocators of four break agreement on a partitioned network", async (t) => {
    const o: SimOptions = { ...defaultSimOptions, validators: 4, byzantine: 2, behaviours: ["equivocate"], heights: 6, crashes: false, partitions: true, lossy: false, stopOnViolation: true };
    let found: number | null = null;
    for (const seed of range(1, 60)) {
      const r = runSimulation({ ...o, seed });
      if (r.failures.some((f) => f.check === "agreement")) {
        found = seed;
        t.comment(`seed ${seed}: ${r.failures.find((f) => f.check === "agreement")!.detail}`);
        t.equal(r.scenario.partitions.length > 0, true);
        break;
      }
    }
    t.not(found, null, "some seed in 1..60 finalizes two different blocks at one height");
  });

  t.test("f >= n/3: two silent validators of four stop the chain", async (t) => {
    const o: SimOptions = { ...defaultSimOptions, seed: 1, validators: 4, byzantine: 2, behaviours: ["silent"], heights: 3, crashes: false, partitions: false, lossy: false, livenessWindowMs: 20_000 };
    const r = runSimulation(o);
    t.ok(r.failures.some((f) => f.check === "liveness"), "liveness fails");
    t.notOk(r.failures.some((f) => f.check === "agreement" || f.check === "validity"), "and nothing else");
    t.equal(r.maxHeight, 0);
  });
});
