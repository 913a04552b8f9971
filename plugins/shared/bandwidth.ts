/**
 * What the relay and bandwidth-witness plugins (docs/protocol.md section 6) share: their JSON-line logger,
 * the run guard and graceful shutdown of a plugin process, the decimal/flag helpers of their
 * command lines, and walking every page of bandwidth_getAssignments. Both talk to the node only
 * through JSON-RPC (rpc/client.ts) and sign with the pure helpers of chain/.
 */
import { pathToFileURL } from "node:url";
import type { Logger } from "pino";
import { CodedError } from "../../primitives/errors.ts";
import type { ResultOf, RpcClient } from "../../rpc/client.ts";

export { pluginLogger } from "./cli.ts";

/** Whether the module at `importMetaUrl` is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  return Boolean(process.argv[1]) && importMetaUrl === pathToFileURL(process.argv[1]!).href;
}

/**
 * Closes `close` once on SIGINT or SIGTERM, then exits 0 (1 if closing failed or took longer than
 * `timeoutMs`); a second signal exits at once.
 */
export function exitOnSignals(log: Logger, close: () => Promise<void>, timeoutMs = 10_000): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "stopping");
    const timer = setTimeout(() => {
      log.error({ timeoutMs }, "shutdown timed out");
      process.exit(1);
    }, timeoutMs);
    close().then(
      () => {
        clearTimeout(timer);
        log.info("stopped");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: (e as Error).message }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/** Runs a plugin's main, printing a coded failure on stderr with exit code 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as { code?: string }).code ?? "ERROR"}: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

const DEC = /^(0|[1-9][0-9]{0,19})$/;

export class PluginArgsError extends CodedError<"BAD_ARGS"> {}

/** A non-negative decimal flag value as a bigint (BAD_ARGS otherwise). */
export function decimalFlag(name: string, value: string): bigint {
  if (!DEC.test(value)) throw new PluginArgsError("BAD_ARGS", `--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return BigInt(value);
}

/** A positive safe-integer flag value (BAD_ARGS otherwise). */
export function intFlag(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!DEC.test(value) || !Number.isSafeInteger(n) || n < min) throw new PluginArgsError("BAD_ARGS", `--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** The code of a thrown value (RpcClientError and CodedError carry one), or "ERROR". */
export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "ERROR";
}

// ---- the bandwidth methods of the node's JSON-RPC (rpc/bandwidth-methods.ts) ----

export type AssignmentsPage = ResultOf<"bandwidth_getAssignments">;

/** Every assignment of `params.epoch` (default: the current one), following nextCursor; the first page's epoch fields. */
export async function allAssignments(rpc: RpcClient, params: { epoch?: number; witness?: string }, maxPages = 1000): Promise<AssignmentsPage> {
  let page = await rpc.call("bandwidth_getAssignments", { ...params, limit: 100 });
  const first = page;
  const assignments = [...page.assignments];
  for (let i = 1; page.nextCursor !== null && i < maxPages; i++) {
    page = await rpc.call("bandwidth_getAssignments", { ...params, epoch: first.epoch, cursor: page.nextCursor, limit: 100 });
    assignments.push(...page.assignments);
  }
  return { ...first, assignments, nextCursor: null };
}
