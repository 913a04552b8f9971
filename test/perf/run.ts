/**
 * `npm run bench`: the node's hot paths, each measured against the ceiling of the building block
 * it stands on, with that ceiling measured in the same run (the machine is shared and noisy, so
 * a figure is only meaningful next to its own ceiling):
 *
 *   1. transactions decoded + signature-verified + applied per second on one core,
 *      vs native ed25519 verify (node:crypto, cached KeyObject) over the same txs;
 *   2. time to commit a block of 1,000 and of 10,000 transfers on a state of 100,000 accounts:
 *      state root, and the atomic write (vs a raw classic-level batch of the same puts);
 *   3. `state_getAccount` requests per second over HTTP on the real RPC server,
 *      vs a bare fastify JSON-RPC route, each server in a child process; and `chain_getBlock`
 *      by height over a real store of 200 blocks of transfers, vs the same bare route.
 *
 * Every measurement is repeated; medians are printed with the number of repetitions. Timings are
 * never asserted. The process exits non-zero only if something functionally fails (a valid tx
 * rejected, a root that does not match, a wrong RPC answer, ...). Child processes and the temp
 * directory are removed on every exit path.
 */
import { cpus, loadavg } from "node:os";
import { benchCommit, type CommitFigures } from "./commit.ts";
import { buildWorld, type BenchWorld } from "./fixtures.ts";
import { benchRpc, type RpcFigures } from "./rpc.ts";
import { benchTempDir } from "./lifecycle.ts";
import { fmtInt, fmtMs, fmtRatio, spread, table, timeMs, verdict } from "./stats.ts";
import { benchTxThroughput, type ThroughputFigures } from "./throughput.ts";

const CONFIG = {
  /** State size for figures 1 and 2 (senders included). */
  accounts: 100_000,
  /** Funded senders with keys; key derivation is the slowest part of the setup. */
  senders: 2_000,
  throughput: { blocks: 8, txsPerBlock: 1_000, reps: 5 },
  commit: { sizes: [1_000, 10_000], reps: 5 },
  rpc: { reps: 5, settings: { connections: 50, seconds: 4, warmupSeconds: 1 } },
  targets: { throughput: 0.7, rpc: 0.8 },
} as const;

const log = (s = ""): void => console.log(s);

function printEnvironment(): void {
  const cpu = cpus();
  log("Cloudcoin node benchmark (npm run bench)");
  log(`  node ${process.version}, ${process.platform}/${process.arch}`);
  log(`  cpu: ${cpu[0]?.model ?? "unknown"}, ${cpu.length} cores`);
  log(`  load average at start: ${loadavg().map((x) => x.toFixed(2)).join(" ")} (shared machine: read ratios, not absolute rates)`);
}

function printThroughput(f: ThroughputFigures): void {
  const u = f.perTxUs;
  log(`  data: ${f.blocks} blocks x ${fmtInt(f.txsPerBlock)} transfers = ${fmtInt(f.txs)} txs from ${fmtInt(f.senders)} funded senders to random`);
  log(`        (seeded) recipients among ${fmtInt(CONFIG.accounts)} accounts; ~${fmtInt(f.changesPerBlock)} state changes per block`);
  log(`  repetitions: ${f.reps} timed + 1 warm-up; medians; ratios are medians of per-repetition pairs`);
  log(`  ceiling   native ed25519 verify (node:crypto, cached KeyObject): ${fmtInt(f.verifyRate)} tx/s   [${spread(f.verifyRates, fmtInt)}]`);
  log(`  execute-only  decodeTx + validateTxBasic + execution, no root:  ${fmtInt(f.execRate)} tx/s   [${spread(f.execRates, fmtInt)}]`);
  log(`                ratio ${fmtRatio(f.execRatio)}  -> ${verdict(f.execRatio, CONFIG.targets.throughput)} (the target refers to this one)`);
  log(`  full      decodeBlock + applyBlock incl. state root:             ${fmtInt(f.fullRate)} tx/s   [${spread(f.fullRates, fmtInt)}]`);
  log(`                ratio ${fmtRatio(f.fullRatio)}  (no target: the state root is figure 2's cost)`);
  const execution = u.exec - u.decode - u.validate;
  log(`  per tx, median µs: verify ${u.verify.toFixed(1)} | decodeTx ${u.decode.toFixed(1)} | validateTxBasic ${u.validate.toFixed(1)} (incl. verify)`);
  log(`                     | execution + changes ~${execution.toFixed(1)} (execute-only minus the two) | execute-only ${u.exec.toFixed(1)}`);
  log(`                     | state root ${u.stateRoot.toFixed(1)} | full ${u.full.toFixed(1)}`);
}

function printCommit(f: CommitFigures): void {
  log(`  block of ${fmtInt(f.txs)} transfers: ${fmtInt(f.changes)} state changes, ${fmtInt(f.ops)} batch operations, ${fmtInt(f.blockBytes / 1024)} KiB block; ${f.reps} timed repetitions + 1 warm-up, medians`);
  log(`    state root (tree update + root):  ${fmtMs(f.rootMs).padStart(7)} ms   [${spread(f.rootSamples, fmtMs)}]`);
  log(`    write (BlockStore.commitBlock):   ${fmtMs(f.writeMs).padStart(7)} ms   [${spread(f.writeSamples, fmtMs)}]`);
  log(`    total (root + write):             ${fmtMs(f.totalMs).padStart(7)} ms`);
  log(`    ceiling: raw classic-level batch of the same ${fmtInt(f.ops)} operations: ${fmtMs(f.rawWriteMs)} ms [${spread(f.rawSamples, fmtMs)}]; raw / commitBlock = ${fmtRatio(f.writeRatio)}`);
}

function printRpc(f: RpcFigures): void {
  const s = f.settings;
  const cpu = (x: { cpuUsPerReq: number }) => `${x.cpuUsPerReq.toFixed(1)} µs CPU/req`;
  log(`  load: autocannon in this process, -c ${s.connections}, ${s.seconds} s measured after ${s.warmupSeconds} s warm-up, POST bodies rotating over`);
  log(`        ${fmtInt(f.addresses)} addresses; each server alone in a child process; real state: ${fmtInt(f.accounts)} accounts`);
  log(`  repetitions: ${f.reps} per server, alternating; medians; ratio = median of per-pair ratios`);
  log(`  CPU/req: the server process's user + system time over the measured seconds / requests answered; cpu ratio = ceiling's / real's`);
  log(`  ceiling   bare fastify + JSON.parse + zod (one param):  ${fmtInt(f.bare.reqPerSec)} req/s  p99 ${f.bare.p99Ms} ms  ${cpu(f.bare)}   [${spread(f.bare.samples, fmtInt)}]`);
  log(`  real      startRpcServer + methods, state_getAccount:   ${fmtInt(f.real.reqPerSec)} req/s  p99 ${f.real.p99Ms} ms  ${cpu(f.real)}   [${spread(f.real.samples, fmtInt)}]`);
  log(`            ratio ${fmtRatio(f.ratio)}  -> ${verdict(f.ratio, CONFIG.targets.rpc)}; cpu ratio ${fmtRatio(f.cpuRatio)}`);
  log(`            (hot: ${f.addresses.toLocaleString("en-US")} rotating addresses hit the per-head account cache from their second request; a new block empties it)`);
  log(`  cold      every request a different account (cache mostly misses): ${fmtInt(f.cold.reqPerSec)} req/s  p99 ${f.cold.p99Ms} ms, ratio ${fmtRatio(f.cold.ratio)}`);
  const b = f.block;
  log(`  chain_getBlock by height: real BlockStore (classic-level) of ${fmtInt(b.blocks)} blocks x ${b.txsPerBlock} transfers, heights rotating;`);
  log(`        answer ${fmtInt(b.answerBytes)} bytes (tx hashes), ${fmtInt(b.fullAnswerBytes)} bytes with full=true; the bare routes answer a block-shaped result of the same size`);
  log(`  ceiling   bare fastify, answer made per request:        ${fmtInt(b.bare.reqPerSec)} req/s  p99 ${b.bare.p99Ms} ms  ${cpu(b.bare)}   [${spread(b.bare.samples, fmtInt)}]`);
  log(`  ceiling   bare fastify, answer text made in advance:    ${fmtInt(b.prebuilt.bare.reqPerSec)} req/s  p99 ${b.prebuilt.bare.p99Ms} ms  ${cpu(b.prebuilt.bare)}   [${spread(b.prebuilt.bare.samples, fmtInt)}]`);
  log(`  real      startRpcServer + methods, chain_getBlock:     ${fmtInt(b.real.reqPerSec)} req/s  p99 ${b.real.p99Ms} ms  ${cpu(b.real)}   [${spread(b.real.samples, fmtInt)}]`);
  log(`            ratio ${fmtRatio(b.ratio)}  -> ${verdict(b.ratio, CONFIG.targets.rpc)}; cpu ratio ${fmtRatio(b.cpuRatio)}`);
  log(`            against the prebuilt-text ceiling (the framework alone): ratio ${fmtRatio(b.prebuilt.ratio)}, cpu ratio ${fmtRatio(b.prebuilt.cpuRatio)}`);
  log(`  full=true (whole transactions): ${fmtInt(b.full.reqPerSec)} req/s  p99 ${b.full.p99Ms} ms, ratio ${fmtRatio(b.full.ratio)}`);
}

/** Figures 1 and 2, in-process on one ledger; the ~100k-account world is garbage once they return. */
async function ledgerFigures(dir: string): Promise<{ tp: ThroughputFigures; commits: CommitFigures[] }> {
  log();
  log(`Setup: genesis with ${fmtInt(CONFIG.accounts)} funded accounts (${fmtInt(CONFIG.senders)} senders with keys) via validateAndComplete + genesisState`);
  let world!: BenchWorld;
  const setupMs = timeMs(() => void (world = buildWorld({ senders: CONFIG.senders, totalAccounts: CONFIG.accounts })));
  log(`  done in ${(setupMs / 1000).toFixed(1)} s`);

  log();
  log("== 1. Transactions imported per second, one core ==");
  const tp = benchTxThroughput(world, { senders: CONFIG.senders, ...CONFIG.throughput }, (s) => log(s));
  printThroughput(tp);

  log();
  log(`== 2. Committing a block on a state of ${fmtInt(CONFIG.accounts)} accounts ==`);
  const commits: CommitFigures[] = [];
  for (const [i, txs] of CONFIG.commit.sizes.entries()) {
    const f = await benchCommit(world, { txs, reps: CONFIG.commit.reps, tmpDir: dir, seed: 100 + i }, (s) => log(s));
    commits.push(f);
    printCommit(f);
  }
  return { tp, commits };
}

async function main(): Promise<void> {
  const started = performance.now();
  printEnvironment();
  const tmpDir = await benchTempDir("cloudcoin-bench-");
  const { tp, commits } = await ledgerFigures(tmpDir);

  log();
  log("== 3. state_getAccount and chain_getBlock over HTTP (JSON-RPC) ==");
  const rpc = await benchRpc({ ...CONFIG.rpc, tmpDir }, (s) => log(s));
  printRpc(rpc);

  log();
  log("== Summary (medians; ratio = measured / ceiling measured in the same run) ==");
  const rows: string[][] = [
    ["1. tx import, execute-only", `${fmtInt(tp.execRate)} tx/s`, `${fmtInt(tp.verifyRate)} verify/s`, fmtRatio(tp.execRatio), `>= ${CONFIG.targets.throughput}`, `${tp.reps}`],
    ["1. tx import, full applyBlock", `${fmtInt(tp.fullRate)} tx/s`, `${fmtInt(tp.verifyRate)} verify/s`, fmtRatio(tp.fullRatio), "-", `${tp.reps}`],
  ];
  for (const c of commits) {
    rows.push([`2. commit ${fmtInt(c.txs)} txs: root`, `${fmtMs(c.rootMs)} ms`, "-", "-", "-", `${c.reps}`]);
    rows.push([`2. commit ${fmtInt(c.txs)} txs: write`, `${fmtMs(c.writeMs)} ms`, `${fmtMs(c.rawWriteMs)} ms raw`, fmtRatio(c.writeRatio), "-", `${c.reps}`]);
    rows.push([`2. commit ${fmtInt(c.txs)} txs: total`, `${fmtMs(c.totalMs)} ms`, "-", "-", "-", `${c.reps}`]);
  }
  rows.push(["3. state_getAccount (HTTP)", `${fmtInt(rpc.real.reqPerSec)} req/s`, `${fmtInt(rpc.bare.reqPerSec)} req/s`, fmtRatio(rpc.ratio), `>= ${CONFIG.targets.rpc}`, `${rpc.reps}`]);
  rows.push(["3. same, server CPU per request", `${rpc.real.cpuUsPerReq.toFixed(1)} µs`, `${rpc.bare.cpuUsPerReq.toFixed(1)} µs`, fmtRatio(rpc.cpuRatio), "-", `${rpc.reps}`]);
  rows.push(["3. same, cold account cache", `${fmtInt(rpc.cold.reqPerSec)} req/s`, `${fmtInt(rpc.bare.reqPerSec)} req/s`, fmtRatio(rpc.cold.ratio), "-", "1"]);
  rows.push(["3. state_getAccount p99", `${rpc.real.p99Ms} ms`, `${rpc.bare.p99Ms} ms`, "-", "-", `${rpc.reps}`]);
  rows.push(["3b. chain_getBlock (HTTP)", `${fmtInt(rpc.block.real.reqPerSec)} req/s`, `${fmtInt(rpc.block.bare.reqPerSec)} req/s`, fmtRatio(rpc.block.ratio), `>= ${CONFIG.targets.rpc}`, `${rpc.reps}`]);
  rows.push(["3b. same, server CPU per request", `${rpc.block.real.cpuUsPerReq.toFixed(1)} µs`, `${rpc.block.bare.cpuUsPerReq.toFixed(1)} µs`, fmtRatio(rpc.block.cpuRatio), "-", `${rpc.reps}`]);
  rows.push(["3b. same, vs prebuilt-text ceiling", `${fmtInt(rpc.block.real.reqPerSec)} req/s`, `${fmtInt(rpc.block.prebuilt.bare.reqPerSec)} req/s`, fmtRatio(rpc.block.prebuilt.ratio), "-", `${rpc.reps}`]);
  rows.push(["3b. chain_getBlock p99", `${rpc.block.real.p99Ms} ms`, `${rpc.block.bare.p99Ms} ms`, "-", "-", `${rpc.reps}`]);
  rows.push(["3b. same, full=true", `${fmtInt(rpc.block.full.reqPerSec)} req/s`, `${fmtInt(rpc.block.bare.reqPerSec)} req/s`, fmtRatio(rpc.block.full.ratio), "-", "1"]);
  log(table(["figure", "measured", "ceiling", "ratio", "target", "reps"], rows));
  log("(ratio of a rate: measured / ceiling; of a write: raw batch time / commitBlock time, i.e. the same direction)");
  log();
  log(`Bench finished in ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadavg().map((x) => x.toFixed(2)).join(" ")}.`);
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    console.error(`\nBENCHMARK FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
