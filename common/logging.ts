/**
 * The one logger of the node and of every plugin: pino, as JSON lines by default on a pipe or
 * file (for log collectors), and human-readable lines (time, level name, message, fields) on a
 * terminal. `--log-format json|pretty` overrides the choice, `--log-level` (or
 * CLOUDCOIN_LOG_LEVEL) sets the level. A plugin's lines carry `plugin: <name>`.
 */
import { createRequire } from "node:module";
import pino, { type Logger } from "pino";

/** pino-pretty, loaded only when a pretty logger is made: JSON-only processes never pay for it. */
const loadPretty = (): typeof import("pino-pretty") => createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty");

export type { Logger } from "pino";
export type LogFormat = "json" | "pretty";
export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The format for a destination: `pretty` on a terminal, `json` otherwise, unless one is given. */
export function logFormatFor(format: LogFormat | undefined, isTty: boolean): LogFormat {
  return format ?? (isTty ? "pretty" : "json");
}

export interface LoggerOptions {
  /** Fields on every line (a plugin's name). */
  readonly base?: Record<string, unknown>;
  /** Write stdout synchronously, so that nothing is lost when the process exits at once (plugins). */
  readonly sync?: boolean;
}

/** A logger writing to `destination`, or to stdout when none is given. */
export function createLogger(level: string, format: LogFormat, destination?: NodeJS.WritableStream, opts: LoggerOptions = {}): Logger {
  const base = opts.base ?? undefined;
  if (format === "pretty") {
    const stream = loadPretty()({ colorize: destination === undefined && process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", singleLine: true, sync: true, ...(destination ? { destination } : {}) });
    return pino({ level, base }, stream);
  }
  return pino({ level, base }, destination ?? pino.destination({ dest: 1, sync: opts.sync === true }));
}

/** A bad --log-format or --log-level. */
export class LogOptionError extends Error {
  readonly code = "BAD_LOG_OPTION";
}

/**
 * The logger of a process from its `--log-format` and `--log-level` values (either may be
 * undefined: the terminal decides the format, CLOUDCOIN_LOG_LEVEL or `info` the level).
 */
export function loggerFromOptions(values: { "log-format"?: string | undefined; "log-level"?: string | undefined }, base?: Record<string, unknown>): Logger {
  const format = values["log-format"];
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format)) throw new LogOptionError(`--log-format must be one of ${LOG_FORMATS.join(", ")}, not "${format}"`);
  const level = values["log-level"] ?? process.env.CLOUDCOIN_LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new LogOptionError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, not "${level}"`);
  return createLogger(level, logFormatFor(format as LogFormat | undefined, process.stdout.isTTY === true), undefined, { ...(base ? { base } : {}), sync: true });
}
