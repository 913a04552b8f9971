/**
 * `npm run bench` (network part, issue 4):
 *
 *   1. block sync: blocks and transactions per second when a node catches up 10,000 blocks from a
 *      peer over libp2p, against replaying the same blocks locally (test/perf/sync-bench.ts);
 *   2. sustained finalized transactions per second and finality latency (p50, p99) on a
 *      4-validator devnet of real processes on 127.0.0.1 with a load generator
 *      (test/perf/devnet-load.ts), against this machine's ceiling measured in the same run: its
 *      native ed25519 verify rate across all cores (one worker thread per core, node:crypto with
 *      a parsed KeyObject) divided by the number of validators, since every validator verifies
 *      every transaction and here they all share the same cores.
 *
 * Timings are printed, never asserted; the process exits non-zero only if something functionally
 * fails (sync stops short or reaches another state root, the devnet does not start, ...).
 * Child processes and the temp directory are removed on every exit path.
 *
 * Options: --quick (1,000 blocks, two short load steps) for a smoke run; --sync-only (part 1
 * alone: `npm run bench sync`).
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { benchDevnet } from "./devnet-load.ts";
import { nativeVerifyAllCores } from "./ceilings.ts";
import { benchTempDir } from "./lifecycle.ts";
import { fmtInt, fmtRatio, table } from "./stats.ts";
import { benchSync, syncReport } from "./sync-bench.ts";

const quick = process.argv.includes("--quick");
const syncOnly = process.argv.includes("--sync-only");
const CONFIG = {
  sync: { blocks: quick ? 1_000 : 10_000, txsPerBlock: 10, senders: 500 },
  devnet: { validators: 4, senders: 200, rates: quick ? [100, 400] : [100, 250, 500, 1_000, 2_000], seconds: quick ? 6 : 15 },
  verifySeconds: 2,
} as const;

const log = (s = ""): void => console.log(s);

async function main(): Promise<void> {
  const cpu = cpus();
  log("Cloudcoin node benchmark: network (npm run bench)");
  log(`  node ${process.version}, ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  const tmpDir = await benchTempDir("cloudcoin-bench-net-");

  log("");
  log(`== 4. block sync: catching up ${fmtInt(CONFIG.sync.blocks)} blocks of ${CONFIG.sync.txsPerBlock} transfers over libp2p ==`);
  const sync = await benchSync(join(tmpDir, "sync"), CONFIG.sync, log);
  const report = syncReport(sync);
  for (const line of report.lines) log(line);
  if (syncOnly) {
    log("");
    log(table(["figure", "measured", "ceiling", "ratio", "target"], report.rows));
    log(`load average now ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    return;
  }

  log("");
  log(`== 5. finalized tx/s and finality latency, ${CONFIG.devnet.validators}-validator devnet on 127.0.0.1 ==`);
  const before = await nativeVerifyAllCores(CONFIG.verifySeconds);
  const devnet = await benchDevnet(join(tmpDir, "devnet"), CONFIG.devnet, log);
  const after = await nativeVerifyAllCores(CONFIG.verifySeconds);
  const verifyTotal = (before.total + after.total) / 2;
  const ceiling = verifyTotal / CONFIG.devnet.validators;
  log(`  native ed25519 verify, all ${cpu.length} cores: ${fmtInt(before.total)} (before) / ${fmtInt(after.total)} (after) verifies/s; ceiling = ${fmtInt(verifyTotal)} / ${CONFIG.devnet.validators} validators = ${fmtInt(ceiling)} tx/s`);

  log("");
  log(table(["figure", "measured", "ceiling", "ratio", "target"], [
    ...report.rows,
    ["5. sustained finalized tx/s", fmtInt(devnet.sustainedTps), fmtInt(ceiling), fmtRatio(devnet.sustainedTps / ceiling), ">= 0.6"],
  ]));
  log(`load average now ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  log("");
  log(table(["offered tx/s", "finalized", "rejected", "tx/s", "p50 ms", "p99 ms"], devnet.steps.map((s) => [
    fmtInt(s.offered), `${s.finalized}/${s.sent}`, String(s.rejected), fmtInt(s.tps), fmtInt(s.p50Ms), fmtInt(s.p99Ms),
  ])));
  log("(block interval " + devnet.blockIntervalMs + " ms: latency includes waiting for the next block)");
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
