/** Small helpers for the benchmark: repetition statistics and number formatting. */
import { readFileSync } from "node:fs";

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
  try {
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15 (clock ticks, 100/s on Linux)
    const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(rest[11]) + Number(rest[12])) * 10_000;
  } catch {
    return undefined;
  }
}
