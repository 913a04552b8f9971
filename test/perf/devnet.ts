/**
 * `npm run bench devnet`: throughput that holds under load, on a 4-validator devnet of real node
 * processes on 127.0.0.1 (free ports), with the load generator in this process
 * (test/perf/devnet-load.ts). Each repetition alternates figures with their ceiling:
 *
 *   ceiling   native ed25519 verifies/s on all cores (node:crypto, a worker per core) / validators:
 *             every validator checks every transaction once, and here they share the same cores
 *   A         offered 1,000 tx/s: finalized tx/s in the steady window and p50 finality
 *   ceiling
 *   S         sustained: offered the target share of the ceiling (0.6 x ceiling tx/s); what it
 *             finalizes is what the devnet sustains (A's 1,000 offered cannot show it)
 *   ceiling
 *   B         overload, offered 2x what S finalized (2x what it sustains): blocks keep finalizing
 *             (longest gap between two finalized blocks), the excess refused with the typed BUSY
 *             error, nothing lost
 *   ceiling
 *   C         offered what A finalized while two busy-loop processes take the same cores
 *   ceiling
 *
 * Figures are printed with min/median/max over the repetitions and one table at the end with each
 * figure, its ceiling or target, the ratio and the load average; nothing here asserts a timing.
 * The process exits non-zero only if something functionally fails (the devnet does not start).
 *
 * Options: --quick (one repetition of 6 s steps), --reps N, --seconds N.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { nativeVerifyAllCores } from "./ceilings.ts";
import { startDevnet, type LoadStep } from "./devnet-load.ts";
import { benchTempDir } from "./lifecycle.ts";
import { fmtInt, fmtRatio, median, table } from "./stats.ts";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const argNum = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const CONFIG = {
  validators: 4,
  senders: 400,
  reps: argNum("--reps", quick ? 1 : 3),
  seconds: argNum("--seconds", quick ? 6 : 12),
  offered: 1_000,
  verifySeconds: 2,
  /** Targets of the issue. */
  targets: { sustainedRatio: 0.6, p50Ms: 1_000, maxGapMs: 3_000 },
};

const log = (s = ""): void => console.log(s);
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");

async function ceiling(): Promise<number> {
  return (await nativeVerifyAllCores(CONFIG.verifySeconds)).total / CONFIG.validators;
}

/** Two processes spinning on the cores until stopped. */
function busyLoops(): ChildProcess[] {
  return [0, 1].map(() => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
}

interface Rep {
  ceilings: number[];
  a: LoadStep;
  s: LoadStep;
  b: LoadStep;
  c: LoadStep;
  load: string;
}

async function main(): Promise<void> {
  const cpu = cpus();
  log("Cloudcoin node benchmark: devnet throughput under load (npm run bench devnet)");
  log(`  node ${process.version}, ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores; load average ${load()}`);
  const dir = await benchTempDir("cloudcoin-bench-devnet-");
  const devnet = await startDevnet(join(dir, "devnet"), { validators: CONFIG.validators, senders: CONFIG.senders }, log);
  const reps: Rep[] = [];
  const spinners: ChildProcess[] = [];
  process.on("exit", () => spinners.forEach((p) => p.kill("SIGKILL")));
  try {
    for (let r = 0; r < CONFIG.reps; r++) {
      log(`\n== repetition ${r + 1}/${CONFIG.reps} (load average ${load()}) ==`);
      const ceilings: number[] = [];
      const measureCeiling = async (): Promise<void> => {
        const c = await ceiling();
        ceilings.push(c);
        log(`  ceiling: native verify on ${cpu.length} cores / ${CONFIG.validators} validators = ${fmtInt(c)} tx/s`);
      };
      await measureCeiling();
      log(`  A. offered ${CONFIG.offered} tx/s`);
      const a = await devnet.step(CONFIG.offered, CONFIG.seconds, log);
      await pause();
      await measureCeiling();
      const target = Math.round((CONFIG.targets.sustainedRatio * ceilings[ceilings.length - 1]!) / 10) * 10;
      log(`  S. sustained: offered ${target} tx/s (${CONFIG.targets.sustainedRatio} x the ceiling)`);
      const sustained = await devnet.step(target, CONFIG.seconds, log);
      await pause();
      await measureCeiling();
      const over = Math.max(100, Math.round((2 * sustained.tps) / 10) * 10);
      log(`  B. overload: offered ${over} tx/s (2x what S finalized)`);
      const b = await devnet.step(over, CONFIG.seconds, log);
      await pause();
      await measureCeiling();
      const rate = Math.max(50, Math.round(a.tps / 10) * 10);
      log(`  C. offered ${rate} tx/s with two busy-loop processes on the same cores`);
      spinners.push(...busyLoops());
      const c = await devnet.step(rate, CONFIG.seconds, log);
      spinners.splice(0).forEach((p) => p.kill("SIGKILL"));
      await pause();
      await measureCeiling();
      reps.push({ ceilings, a, s: sustained, b, c, load: load() });
    }
  } finally {
    spinners.forEach((p) => p.kill("SIGKILL"));
    await devnet.stop();
  }

  const col = (f: (r: Rep) => number, fmt: (x: number) => string = fmtInt): [string, string, string] => {
    const xs = reps.map(f);
    return [fmt(Math.min(...xs)), fmt(median(xs)), fmt(Math.max(...xs))];
  };
  const ceil = (r: Rep): number => median(r.ceilings);
  const t = CONFIG.targets;
  const yes = (ok: boolean): string => (ok ? "meets" : "BELOW");
  const medRatio = (f: (r: Rep) => number): number => median(reps.map(f));
  const sRatio = medRatio((r) => r.s.tps / ceil(r));
  /** What one node's signature check of one transaction costs at the ceiling (µs of CPU). */
  const perNodeSig = (r: Rep): number => (cpu.length * 1e6) / ceil(r) / CONFIG.validators;
  const rows: string[][] = [
    ["A finalized tx/s at 1,000 offered", ...col((r) => r.a.tps), fmtInt(median(reps.map(ceil))) + " (verify/validators)", fmtRatio(medRatio((r) => r.a.tps / ceil(r))), "-", "-"],
    ["A p50 finality ms at 1,000 offered", ...col((r) => r.a.p50Ms), "-", "-", `<= ${t.p50Ms} ms`, yes(medRatio((r) => r.a.p50Ms) <= t.p50Ms)],
    ["A accepted, not finalized at the end", ...col((r) => r.a.lost), "-", "-", "0", yes(reps.every((r) => r.a.lost === 0))],
    ["S sustained finalized tx/s", ...col((r) => r.s.tps), fmtInt(median(reps.map(ceil))) + " (verify/validators)", fmtRatio(sRatio), `>= ${t.sustainedRatio}`, yes(sRatio >= t.sustainedRatio)],
    ["S longest block gap ms", ...col((r) => r.s.maxBlockGapMs), "-", "-", `<= ${t.maxGapMs} ms`, yes(reps.every((r) => r.s.maxBlockGapMs <= t.maxGapMs))],
    ["S accepted, not finalized at the end", ...col((r) => r.s.lost), "-", "-", "0", yes(reps.every((r) => r.s.lost === 0))],
    // where the CPU goes: the ceiling's own cost of a transaction is its signature checked by every
    // validator (cores x 1e6 / ceiling µs); at the target the whole devnet may spend cores x 1e6 / (0.6 x ceiling)
    ["S CPU µs per finalized tx, all nodes", ...col((r) => r.s.nodesCpuUsPerTx), `${fmtInt(median(reps.map((r) => (cpu.length * 1e6) / ceil(r))))} (signatures)`, fmtRatio(medRatio((r) => (cpu.length * 1e6) / ceil(r) / r.s.nodesCpuUsPerTx)), `<= ${fmtInt(median(reps.map((r) => (cpu.length * 1e6) / (t.sustainedRatio * ceil(r)))))} (budget)`, "-"],
    // the same for one node, by thread: its verify workers against one signature check per
    // transaction (cores x 1e6 / (validators x ceiling) µs), the rest against what the budget leaves
    ["S CPU µs per finalized tx, one node: verify workers", ...col((r) => r.s.nodeThreadsUsPerTx.verify), `${fmtInt(median(reps.map((r) => perNodeSig(r))))} (one signature)`, fmtRatio(medRatio((r) => perNodeSig(r) / r.s.nodeThreadsUsPerTx.verify)), "-", "-"],
    ["S CPU µs per finalized tx, one node: main thread", ...col((r) => r.s.nodeThreadsUsPerTx.main), "-", "-", "-", "-"],
    ["S CPU µs per finalized tx, one node: other threads (GC, JIT, I/O)", ...col((r) => r.s.nodeThreadsUsPerTx.other), "-", "-", "-", "-"],
    ["S CPU µs per finalized tx, one node: all but signatures", ...col((r) => r.s.nodesCpuUsPerTx / CONFIG.validators - perNodeSig(r)), "-", "-", `<= ${fmtInt(median(reps.map((r) => perNodeSig(r) / t.sustainedRatio - perNodeSig(r))))} (budget left)`, "-"],
    ["S CPU µs per finalized tx, load generator", ...col((r) => r.s.loadCpuUsPerTx), "-", "-", "-", "-"],
    ["B overload finalized tx/s", ...col((r) => r.b.tps), fmtInt(median(reps.map(ceil))) + " (verify/validators)", fmtRatio(medRatio((r) => r.b.tps / ceil(r))), "-", "-"],
    ["B longest block gap ms", ...col((r) => r.b.maxBlockGapMs), "-", "-", `<= ${t.maxGapMs} ms`, yes(reps.every((r) => r.b.maxBlockGapMs <= t.maxGapMs))],
    ["B refused BUSY (typed)", ...col((r) => r.b.busy), "-", "-", "> 0 when over", yes(reps.every((r) => r.b.busy > 0 || r.b.tps >= r.b.offered * 0.9))],
    ["B other errors", ...col((r) => r.b.rejected), "-", "-", "0", yes(reps.every((r) => r.b.rejected === 0))],
    ["B accepted, not finalized at the end", ...col((r) => r.b.lost), "-", "-", "0", yes(reps.every((r) => r.b.lost === 0))],
    ["C busy loops: finalized tx/s", ...col((r) => r.c.tps), fmtInt(median(reps.map(ceil))) + " (verify/validators)", fmtRatio(medRatio((r) => r.c.tps / ceil(r))), "-", "-"],
    ["C busy loops: longest block gap ms", ...col((r) => r.c.maxBlockGapMs), "-", "-", `<= ${t.maxGapMs} ms`, yes(reps.every((r) => r.c.maxBlockGapMs <= t.maxGapMs))],
    ["C busy loops: not finalized at the end", ...col((r) => r.c.lost), "-", "-", "0", yes(reps.every((r) => r.c.lost === 0))],
  ];
  log("");
  log(`== devnet summary: ${reps.length} repetition(s), ${CONFIG.validators} validators, ${CONFIG.seconds} s steps; ceilings measured between the steps ==`);
  log(table(["figure", "min", "median", "max", "ceiling", "ratio", "target", "verdict"], rows));
  log(`load average after each repetition: ${reps.map((r) => r.load).join(" | ")}`);
  log(`(block interval ${devnet.blockIntervalMs} ms: finality includes waiting for the next block)`);
}

/** Lets the backlog of a step drain before the next measurement. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 2_000));

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
