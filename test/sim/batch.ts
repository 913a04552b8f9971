/**
 * Running many seeds and summarizing them: shared by the CLI and the tests.
 */
import { ENGINES, type EngineName } from "./engine.ts";
import { BEHAVIOURS, WAL_MODES, defaultSimOptions, describeScenario, type Behaviour, type SimOptions, type WalMode } from "./scenario.ts";
import { runSimulation, type SimResult } from "./world.ts";

export interface BatchSummary {
  readonly seeds: number;
  readonly failed: readonly SimResult[];
  readonly minHeight: { readonly min: number; readonly median: number; readonly max: number };
  readonly messagesPerHeight: number;
  readonly virtualMsTotal: number;
  readonly events: number;
  readonly wallMs: number;
  readonly totals: Readonly<Record<string, number>>;
}

export function runSeeds(base: SimOptions, seeds: readonly number[], onResult?: (r: SimResult, wallMs: number) => void): BatchSummary {
  const start = performance.now();
  const failed: SimResult[] = [];
  const mins: number[] = [];
  let messages = 0;
  let heights = 0;
  let virtualMsTotal = 0;
  let events = 0;
  const totals: Record<string, number> = {};
  for (const seed of seeds) {
    const t0 = performance.now();
    const r = runSimulation({ ...base, seed });
    if (r.failures.length > 0) failed.push(r);
    mins.push(r.minHeight);
    messages += r.stats.messages;
    heights += r.maxHeight;
    virtualMsTotal += r.virtualMs;
    events += r.events;
    for (const [k, v] of Object.entries(r.stats)) {
      if (typeof v === "number") totals[k] = (totals[k] ?? 0) + v;
      else for (const [kind, count] of Object.entries(v as Record<string, number>)) totals[`messages.${kind}`] = (totals[`messages.${kind}`] ?? 0) + count;
    }
    onResult?.(r, performance.now() - t0);
  }
  const sorted = [...mins].sort((a, b) => a - b);
  return {
    seeds: seeds.length,
    failed,
    minHeight: { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 },
    messagesPerHeight: heights > 0 ? messages / heights : 0,
    virtualMsTotal,
    events,
    wallMs: performance.now() - start,
    totals,
  };
}

/** The command that replays one run exactly. */
export function replayCommand(o: SimOptions): string {
  const args = [`--seed ${o.seed}`, `--validators ${o.validators}`, `--byzantine ${o.byzantine}`, `--heights ${o.heights}`];
  if (o.engine !== defaultSimOptions.engine) args.push(`--engine ${o.engine}`);
  if (o.behaviours.join(",") !== defaultSimOptions.behaviours.join(",")) args.push(`--behaviours ${o.behaviours.join(",")}`);
  if (!o.crashes) args.push("--no-crashes");
  if (!o.partitions) args.push("--no-partitions");
  if (!o.lossy) args.push("--no-loss");
  if (o.stopOnViolation) args.push("--stop-on-violation");
  if (!o.gossip) args.push("--no-gossip");
  if (o.wal !== defaultSimOptions.wal) args.push(`--wal ${o.wal}`);
  if (o.livenessHeights !== defaultSimOptions.livenessHeights) args.push(`--liveness-heights ${o.livenessHeights}`);
  if (o.livenessWindowMs !== defaultSimOptions.livenessWindowMs) args.push(`--liveness-window ${o.livenessWindowMs}`);
  return `npm run sim -- ${args.join(" ")}`;
}

export function formatFailure(r: SimResult): string {
  const lines = [
    `seed ${r.options.seed}: ${r.failures.length} failure(s), trace ${r.traceHash.slice(0, 16)}`,
    `  scenario: ${describeScenario(r.scenario)}`,
    ...r.failures.map((f) => `  ${f.check}: ${f.detail.split("\n")[0]}`),
    `  replay: ${replayCommand(r.options)}`,
  ];
  return lines.join("\n");
}

export class UsageError extends Error {}

export interface CliArgs {
  readonly options: SimOptions;
  readonly seeds: readonly number[];
  readonly verbose: boolean;
  readonly printTrace: boolean;
}

const USAGE = `usage: npm run sim -- [--seeds N] [--seed S] [--validators V] [--byzantine F] [--heights H]
            [--engine ${ENGINES.join("|")}] [--behaviours ${BEHAVIOURS.join(",")}]
            [--no-crashes] [--no-partitions] [--no-loss] [--no-gossip] [--wal ${WAL_MODES.join("|")}] [--stop-on-violation]
            [--liveness-heights K] [--liveness-window MS]
            [--verbose] [--trace]
  --seeds N with --seed S runs seeds S..S+N-1 (S defaults to 1); --seed S alone replays one seed.`;

export function usage(): string {
  return USAGE;
}

export function parseArgs(argv: readonly string[]): CliArgs {
  let o: SimOptions = { ...defaultSimOptions };
  let count: number | null = null;
  let first: number | null = null;
  let verbose = false;
  let printTrace = false;
  const int = (flag: string, v: string | undefined, min: number): number => {
    if (v === undefined || !/^[0-9]+$/.test(v)) throw new UsageError(`${flag} needs a non-negative integer`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be at least ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    switch (a) {
      case "--seeds": count = int(a, next(), 1); break;
      case "--seed": first = int(a, next(), 0); break;
      case "--validators": o = { ...o, validators: int(a, next(), 1) }; break;
      case "--byzantine": o = { ...o, byzantine: int(a, next(), 0) }; break;
      case "--heights": o = { ...o, heights: int(a, next(), 1) }; break;
      case "--liveness-heights": o = { ...o, livenessHeights: int(a, next(), 0) }; break;
      case "--liveness-window": o = { ...o, livenessWindowMs: int(a, next(), 1) }; break;
      case "--engine": {
        const e = next();
        if (!ENGINES.includes(e as EngineName)) throw new UsageError(`--engine must be one of ${ENGINES.join(", ")}`);
        o = { ...o, engine: e as EngineName };
        break;
      }
      case "--behaviours": {
        const list = (next() ?? "").split(",").filter((s) => s.length > 0);
        for (const b of list) if (!BEHAVIOURS.includes(b as Behaviour)) throw new UsageError(`unknown behaviour "${b}" (known: ${BEHAVIOURS.join(", ")})`);
        if (list.length === 0) throw new UsageError("--behaviours needs at least one behaviour");
        o = { ...o, behaviours: list as Behaviour[] };
        break;
      }
      case "--no-crashes": o = { ...o, crashes: false }; break;
      case "--no-partitions": o = { ...o, partitions: false }; break;
      case "--no-loss": o = { ...o, lossy: false }; break;
      case "--no-gossip": o = { ...o, gossip: false }; break;
      case "--wal": {
        const w = next();
        if (!WAL_MODES.includes(w as WalMode)) throw new UsageError(`--wal must be one of ${WAL_MODES.join(", ")}`);
        o = { ...o, wal: w as WalMode };
        break;
      }
      case "--stop-on-violation": o = { ...o, stopOnViolation: true }; break;
      case "--verbose": verbose = true; break;
      case "--trace": printTrace = true; break;
      case "--help": case "-h": throw new UsageError("");
      default: throw new UsageError(`unknown argument "${a}"`);
    }
  }
  if (o.byzantine > o.validators) throw new UsageError("--byzantine cannot exceed --validators");
  const start = first ?? 1;
  const seeds = Array.from({ length: count ?? 1 }, (_, k) => start + k);
  if (printTrace) o = { ...o, trace: true };
  return { options: o, seeds, verbose, printTrace };
}
