/**
 * CLI start time: `cloudcoin --help` (bin/cloudcoin.js, as an installed user runs it) against
 * `node -e 0`, the floor of any Node program. Target: the ratio of medians at most 10. Runs
 * alternate (node, cli, node, cli, ...) so that load on the shared machine hits both alike; the
 * load average is printed beside the figures. The sources through tsx (CLOUDCOIN_FROM_SOURCE=1,
 * what every call cost before the CLI ran compiled JavaScript) are measured too, for reference.
 *
 * The CLI must have been built (`npm run build`, which `npm install` runs): a missing or stale
 * dist/ makes bin/cloudcoin.js fall back to tsx, and this benchmark then misses its target.
 *
 *   node --import tsx test/perf/cli-start.ts [--reps 15]
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const BIN = fileURLToPath(new URL("../../bin/cloudcoin.js", import.meta.url));
const TARGET = 10;

function timeRun(args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  if (r.stderr.length > 0) throw new Error(`${args.join(" ")} wrote to stderr (a stale build?): ${r.stderr}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const { values } = parseArgs({ options: { reps: { type: "string", default: "15" } } });
const reps = Number(values.reps);
const floor: number[] = [];
const cli: number[] = [];
timeRun(["-e", "0"]);
timeRun([BIN, "--help"]); // warm the file cache
for (let i = 0; i < reps; i++) {
  floor.push(timeRun(["-e", "0"]));
  cli.push(timeRun([BIN, "--help"]));
}
const fromSource: number[] = [];
for (let i = 0; i < 3; i++) fromSource.push(timeRun([BIN, "--help"], { ...process.env, CLOUDCOIN_FROM_SOURCE: "1" }));

const ratio = median(cli) / median(floor);
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log(`node -e 0                      median ${median(floor).toFixed(0)} ms over ${reps}`);
console.log(`cloudcoin --help (dist/)       median ${median(cli).toFixed(0)} ms over ${reps}`);
console.log(`cloudcoin --help (tsx sources) median ${median(fromSource).toFixed(0)} ms over 3 (for reference)`);
console.log(`ratio cli / node -e 0: ${ratio.toFixed(1)} (target <= ${TARGET}) ${ratio <= TARGET ? "ok" : "MISSED"}`);
if (ratio > TARGET) process.exitCode = 1;
