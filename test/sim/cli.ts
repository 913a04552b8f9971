/**
 * `npm run sim -- --seeds N --validators V --byzantine F [--seed S] [--heights H] ...`
 *
 * Runs the deterministic consensus simulation for each seed, checks agreement, validity,
 * liveness and accountability, prints a summary and every failing seed with the command that
 * replays it, and exits 1 if any seed failed (2 on a usage error). A single seed prints its
 * event-trace hash: replaying it prints the same hash.
 */
import { formatFailure, parseArgs, replayCommand, runSeeds, usage, UsageError } from "./batch.ts";
import { describeScenario } from "./scenario.ts";

function main(): number {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`error: ${e.message}`);
    console.error(usage());
    return e.message ? 2 : 0;
  }
  const o = args.options;
  const single = args.seeds.length === 1;
  console.log(
    `simulating ${args.seeds.length} seed(s) [${args.seeds[0]}..${args.seeds.at(-1)}]: ${o.validators} validators, ${o.byzantine} Byzantine` +
      ` (${o.behaviours.join(",")}), ${o.heights} heights, engine ${o.engine}` +
      `${o.crashes ? ", crashes" : ""}${o.partitions ? ", partitions" : ""}${o.lossy ? ", loss+dup" : ""}`,
  );
  if (3 * o.byzantine >= o.validators && o.byzantine > 0) console.log(`note: ${o.byzantine} of ${o.validators} is not below n/3: safety and liveness are not guaranteed`);
  const summary = runSeeds(o, args.seeds, (r, wallMs) => {
    if (args.verbose || single) {
      const status = r.failures.length ? `FAIL (${r.failures.map((f) => f.check).join(",")})` : "ok";
      console.log(
        `seed ${r.options.seed}: ${status}; heights ${r.honestHeights.join(",")} (target ${r.target}) at ${r.virtualMs} virtual ms;` +
          ` ${r.stats.messages} msgs, ${r.events} events, ${r.stats.rounds} extra rounds, ${r.stats.blocksSynced} synced, ${r.stats.signerRefusals} signer refusals,` +
          ` ${r.stats.equivocationsObserved} equivocations seen, ${r.evidenceCount} evidence; ${Math.round(wallMs)} ms; trace ${r.traceHash.slice(0, 16)}`,
      );
      if (single) console.log(`  scenario: ${describeScenario(r.scenario)}\n  trace hash: ${r.traceHash}`);
    }
    if (args.printTrace && r.trace) for (const line of r.trace) console.log(`  | ${line}`);
  });
  const t = summary.totals;
  console.log("");
  console.log(`seeds run: ${summary.seeds}, passed: ${summary.seeds - summary.failed.length}, failed: ${summary.failed.length}`);
  console.log(`honest min height per seed: min ${summary.minHeight.min}, median ${summary.minHeight.median}, max ${summary.minHeight.max}`);
  const kinds = Object.keys(t).filter((k) => k.startsWith("messages.")).map((k) => `${k.slice(9)} ${t[k]}`).join(", ");
  console.log(`messages per height: ${summary.messagesPerHeight.toFixed(1)} (${t.messages} messages: ${kinds}; ${t.lost} lost, ${t.duplicated} duplicated)`);
  console.log(
    `events: ${summary.events}; virtual time ${(summary.virtualMsTotal / 1000).toFixed(1)} s; wall ${(summary.wallMs / 1000).toFixed(1)} s;` +
      ` crashes ${t.crashes}, blocks synced ${t.blocksSynced}, extra rounds ${t.rounds}, signer refusals ${t.signerRefusals},` +
      ` equivocations observed ${t.equivocationsObserved}, evidence emitted ${t.evidenceEmitted}, messages rejected ${t.rejected}`,
  );
  if (summary.failed.length > 0) {
    console.log("");
    console.log("FAILED seeds:");
    for (const r of summary.failed) console.log(formatFailure(r));
    return 1;
  }
  if (single) console.log(`replay: ${replayCommand({ ...o, seed: args.seeds[0]! })}`);
  return 0;
}

process.exitCode = main();
