/**
 * The node's logger: pino, as JSON lines by default on a pipe or file (for log collectors), and
 * human-readable lines (time, level name, message, fields) on a terminal. `--log-format json|pretty`
 * overrides the choice.
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export type LogFormat = "json" | "pretty";
export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

/** The format for a destination: `pretty` on a terminal, `json` otherwise, unless one is given. */
export function logFormatFor(format: LogFormat | undefined, isTty: boolean): LogFormat {
  return format ?? (isTty ? "pretty" : "json");
}

export function createLogger(level: string, format: LogFormat, destination?: NodeJS.WritableStream): Logger {
  if (format === "pretty") {
    const stream = pretty({ colorize: destination === undefined && process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", singleLine: true, sync: true, ...(destination ? { destination } : {}) });
    return pino({ level, base: undefined }, stream);
  }
  return pino({ level, base: undefined }, destination ?? pino.destination(1));
}
