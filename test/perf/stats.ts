/** Small helpers for the benchmark: repetition statistics and number formatting. */
import { readdirSync, readFileSync } from "node:fs";

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Milliseconds taken by `fn` (monotonic clock). */
export function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export async function timeMsAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** 12345.6 -> "12,346" */
export function fmtInt(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

export function fmtMs(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function fmtRatio(x: number): string {
  return x.toFixed(2);
}

/** "min..max" spread of repetitions, for judging the noise. */
export function spread(xs: readonly number[], fmt: (x: number) => string): string {
  return `${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}`;
}

/** Verdict against a target ratio: printed, never asserted (timings are not a pass/fail test). */
export function verdict(ratio: number, target: number): string {
  return ratio >= target ? `meets target >= ${target}` : `BELOW target >= ${target}`;
}

/** A fixed-width text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** CPU time (user + system, µs) process `pid` has used so far, from /proc; undefined elsewhere. */
export function cpuUs(pid: number): number | undefined {
  return procStatCpuUs(`/proc/${pid}/stat`)?.us;
}

/** utime + stime (µs) and the nice value of a /proc stat file, or undefined where it cannot be read. */
function procStatCpuUs(path: string): { us: number; nice: number } | undefined {
  try {
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15 (clock ticks,
    // 100/s on Linux), nice 19
    const text = readFileSync(path, "utf8");
    const rest = text.slice(text.lastIndexOf(") ") + 2).split(" ");
    return { us: (Number(rest[11]) + Number(rest[12])) * 10_000, nice: Number(rest[16]) };
  } catch {
    return undefined;
  }
}

/** A node process's CPU time (µs) by kind of thread. */
export interface ThreadCpu {
  /** The event loop: consensus, gossip, RPC, execution, commit. */
  main: number;
  /** The signature-verification workers (node/verify-worker.mjs lowers their priority to nice 5: that is how they are told apart). */
  verify: number;
  /** Every other thread: V8's garbage collector and compiler, libuv's pool, leveldb's compaction. */
  other: number;
}

/**
 * CPU time of each kind of thread of `pid` (Linux; undefined elsewhere). Threads that ended
 * since an earlier reading are missing from a later one, so compare readings of a process whose
 * threads live as long as it does (a node).
 */
export function threadCpuUs(pid: number): ThreadCpu | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const main = procStatCpuUs(`/proc/${pid}/task/${pid}/stat`);
  if (main === undefined) return undefined;
  const out: ThreadCpu = { main: main.us, verify: 0, other: 0 };
  for (const tid of tids) {
    if (tid === String(pid)) continue;
    const t = procStatCpuUs(`/proc/${pid}/task/${tid}/stat`);
    if (t === undefined) continue;
    // the workers set nice 5 for themselves; where that was refused (or the node already ran at
    // nice 5) they cannot be told apart and count as other
    if (t.nice === 5 && main.nice !== 5) out.verify += t.us;
    else out.other += t.us;
  }
  return out;
}
