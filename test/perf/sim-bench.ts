/**
 * Simulator benchmark (`node --import tsx test/perf/sim-bench.ts`):
 *
 *   1. simulated heights per wall-clock second and messages per height, for 4, 10, 50 and 100
 *      validators: honest, no loss, no faults, no catch-up gossip (the bare protocol: one
 *      proposal and two votes per validator per height, all to all), real blocks with a few
 *      transfers each, real signatures, the real engine;
 *   2. `verifyCommit` time for commits of 4, 10 and 100 validators (every validator signed).
 *
 * Medians of repetitions; timings are printed, never asserted. Exits non-zero only if a run fails
 * its checks (agreement, validity, liveness) or a commit does not verify.
 */
import { cpus, loadavg } from "node:os";
import { verifyCommit, type Commit } from "../../chain/block.ts";
import { VoteType, voteSignBytes } from "../../chain/vote.ts";
import { simFixture } from "../sim/fixture.ts";
import { defaultSimOptions } from "../sim/scenario.ts";
import { runSimulation } from "../sim/world.ts";
import { fmtInt, fmtMs, median, spread, table, timeMs } from "./stats.ts";

const CONFIG = {
  sim: [
    { validators: 4, heights: 60, reps: 3 },
    { validators: 10, heights: 40, reps: 3 },
    { validators: 50, heights: 12, reps: 3 },
    { validators: 100, heights: 6, reps: 2 },
  ],
  verify: { sizes: [4, 10, 100], reps: 200 },
} as const;

const log = (s = ""): void => console.log(s);
const fmtRate = (x: number): string => (x >= 10 ? fmtInt(x) : x.toFixed(2));
let failed = false;

log("Cloudcoin simulator benchmark");
log(`  node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"}, ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
log("");
log("1. simulation: honest validators, no loss, no faults, gossip off (seed 1; virtual delays uniform 1-20 ms)");
const rows: string[][] = [];
for (const c of CONFIG.sim) {
  simFixture(c.validators); // key derivation and genesis outside the timing
  const o = {
    ...defaultSimOptions, seed: 1, validators: c.validators, heights: c.heights, crashes: false, partitions: false, lossy: false, gossip: false,
    net: { minDelay: 1, spread: 19, slowChance: 0, slowExtra: 0, loss: 0, dup: 0 },
  };
  const rates: number[] = [];
  let messagesPerHeight = 0;
  let virtualPerHeight = 0;
  for (let rep = 0; rep < c.reps; rep++) {
    let r: ReturnType<typeof runSimulation> | undefined;
    const ms = timeMs(() => {
      r = runSimulation(o);
    });
    if (r!.failures.length > 0) {
      failed = true;
      log(`  FAILED: ${c.validators} validators: ${r!.failures.map((f) => `${f.check}: ${f.detail}`).join("; ")}`);
    }
    rates.push(r!.maxHeight / (ms / 1000));
    messagesPerHeight = r!.stats.messages / r!.maxHeight;
    virtualPerHeight = r!.virtualMs / r!.maxHeight;
  }
  rows.push([
    String(c.validators), String(c.heights), `${fmtRate(median(rates))} [${spread(rates, fmtRate)}]`, fmtInt(messagesPerHeight),
    fmtInt((c.validators - 1) * (2 * c.validators + 1)), fmtInt(virtualPerHeight), String(c.reps),
  ]);
}
log(table(["validators", "heights", "heights/s (median [min..max])", "messages/height", "(n-1)(2n+1)", "virtual ms/height", "reps"], rows));
log("  ((n-1)(2n+1) = the proposal to every other validator, and every validator's prevote and precommit to every other;");
log("   virtual ms/height includes the 500 ms timeout_commit)");

log("");
log("2. verifyCommit: a commit signed by every validator (ed25519 via node:crypto, key objects cached)");
const vrows: string[][] = [];
for (const n of CONFIG.verify.sizes) {
  const fx = simFixture(n);
  const validators = fx.state.validators();
  const hash = new Uint8Array(32).fill(7);
  const msg = voteSignBytes(fx.genesis.chainId, VoteType.PRECOMMIT, 5n, 0, hash);
  const keyOf = new Map(fx.validatorKeys.map((k) => [Buffer.from(k.publicKey).toString("hex"), k]));
  const commit: Commit = {
    height: 5n,
    round: 0,
    blockHash: hash,
    signatures: validators.map((v, i) => ({ validatorIndex: i, signature: keyOf.get(Buffer.from(v.publicKey).toString("hex"))!.sign(msg) })),
  };
  try {
    verifyCommit(fx.genesis.chainId, validators, 5n, hash, commit); // warm-up (and a functional check)
  } catch (e) {
    failed = true;
    log(`  FAILED: commit of ${n} does not verify: ${(e as Error).message}`);
    continue;
  }
  const samples: number[] = [];
  for (let rep = 0; rep < CONFIG.verify.reps; rep++) samples.push(timeMs(() => verifyCommit(fx.genesis.chainId, validators, 5n, hash, commit)));
  const med = median(samples);
  vrows.push([String(n), fmtMs(med), `${spread(samples, fmtMs)}`, ((med * 1000) / n).toFixed(1), String(CONFIG.verify.reps)]);
}
log(table(["validators", "median ms", "min..max ms", "µs/signature", "reps"], vrows));

process.exitCode = failed ? 1 : 0;
