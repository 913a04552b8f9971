/**
 * What every plugin entry point shares on its command line: `--help` (or `-h`) prints its usage
 * and `--version` the package version, both exiting 0 (call `standardFlags` first thing in main);
 * `--log-format json|pretty` and `--log-level LEVEL` (spread `logOptions` into the parseArgs
 * options, then `pluginLogger(name, values)`) give the node's own logger (common/logging.ts):
 * readable lines on a terminal, JSON lines otherwise, each with `plugin: <name>`.
 */
import { readFileSync } from "node:fs";
import { loggerFromOptions, LogOptionError, type Logger } from "../../common/logging.ts";

/** The logging options of every plugin, for node:util parseArgs. */
export const logOptions = { "log-format": { type: "string" }, "log-level": { type: "string" } } as const;
/** Their usage text. */
export const LOG_USAGE = "[--log-format json|pretty] [--log-level LEVEL]";

/** The plugin's logger from its parsed `--log-format` / `--log-level`; a bad value exits 2 saying why. */
export function pluginLogger(plugin: string, values: { "log-format"?: string | undefined; "log-level"?: string | undefined } = {}): Logger {
  try {
    return loggerFromOptions(values, { plugin });
  } catch (e) {
    if (!(e instanceof LogOptionError)) throw e;
    process.stderr.write(`${plugin}: ${e.message}\n`);
    process.exit(2);
  }
}

/**
 * A reporter of named events through `log`: each event one line, `event: KIND` with its data
 * (warn for ERROR and *_FAILED, info otherwise), the message the kind in words.
 */
export function eventReporter(log: Logger): (kind: string, data: Record<string, unknown>) => void {
  return (kind, data) => {
    const level = kind === "ERROR" || kind.endsWith("_FAILED") ? "warn" : "info";
    log[level]({ event: kind, ...data }, kind.toLowerCase().replace(/_/g, " "));
  };
}

/**
 * Runs the entry point's parseArgs (strict): a command line it refuses (an unknown option, a value
 * missing, a stray argument) exits 2 with the reason and the usage, as the node's own CLI does,
 * instead of ending as a bare ERR_PARSE_ARGS_* error in the plugin's error path.
 */
export function parseOrUsage<T>(plugin: string, usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) throw e;
    process.stderr.write(`${plugin}: USAGE: ${(e as Error).message}\n${usage}\n`);
    process.exit(2);
  }
}

export function standardFlags(argv: readonly string[], usage: string): void {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (argv.includes("--version")) {
    // ../../ from plugins/shared/, ../../../ from its compiled copy in dist/plugins/shared/
    const path = new URL(import.meta.url.endsWith(".ts") ? "../../package.json" : "../../../package.json", import.meta.url);
    const pkg = JSON.parse(readFileSync(path, "utf8")) as { name: string; version: string };
    process.stdout.write(`${pkg.name} ${pkg.version}\n`);
    process.exit(0);
  }
}
