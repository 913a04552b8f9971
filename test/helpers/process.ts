/** Real node and CLI processes for e2e tests, bounded in time, always killed at teardown. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../node/cli.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The node arguments that run a source entry point (the CLI, a plugin): its compiled copy in dist/
 * when scripts/test.mjs found dist/ current (CLOUDCOIN_TEST_DIST, see there: a start through tsx
 * costs 1-2 s of CPU more), else the source through tsx. Files outside dist/ (test fixtures) run through tsx.
 * A relative `script` is taken from the repository's root (the tests' working directory).
 */
export function nodeArgs(script: string): string[] {
  // CLOUDCOIN_CHILD_CPU_PROF=<dir>: each child writes a V8 CPU profile there when it exits (benchmarks' profiles)
  const prof = process.env.CLOUDCOIN_CHILD_CPU_PROF;
  const profArgs = prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : [];
  const dist = process.env.CLOUDCOIN_TEST_DIST;
  const rel = relative(ROOT, resolve(ROOT, script));
  if (dist && !rel.startsWith("..") && rel.endsWith(".ts")) {
    const compiled = join(dist, rel.slice(0, -".ts".length) + ".js");
    if (!rel.startsWith(`test${sep}`) && existsSync(compiled)) return [...profArgs, compiled];
  }
  return [...profArgs, "--import", "tsx", script];
}

export interface ReadyProcess {
  child: ChildProcess;
  /** the entry point (source path) and arguments it was started with */
  script: string;
  args: string[];
  url: string;
  /** every stdout and stderr line so far */
  logs: string[];
  exited: Promise<number | null>;
  /** sends `signal` (SIGKILL after 10 s) and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}
export type NodeProcess = ReadyProcess;

/**
 * Spawns `script ...args` (see nodeArgs) and resolves once a stdout line yields its URL
 * (`urlOf`); rejects if the process exits first or is not ready within `timeoutMs`.
 */
export function startProcess(
  script: string,
  args: string[],
  urlOf: (line: string) => string | undefined,
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ReadyProcess> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawn(process.execPath, [...nodeArgs(script), ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop("SIGKILL");
      reject(new Error(`${script} did not start within ${timeoutMs} ms:\n${logs.join("\n")}`));
    }, timeoutMs);
    let buf = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        const url = urlOf(line);
        if (url !== undefined) {
          clearTimeout(timer);
          resolve({ child, script, args, url, logs, exited, stop });
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => logs.push(chunk.toString("utf8")));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${logs.join("\n")}`));
    });
  });
}

/** The RPC URL in a node's "JSON-RPC listening" log line (the readiness signal of `cloudcoin start`). */
export function rpcListeningUrl(line: string): string | undefined {
  try {
    const j = JSON.parse(line) as { msg?: string; url?: string };
    return j.msg === "JSON-RPC listening" ? j.url : undefined;
  } catch {
    return undefined; // not a JSON log line
  }
}

/** Starts `cloudcoin start` on an ephemeral RPC port and resolves once JSON-RPC is listening. */
export function startNode(home: string, extraArgs: string[] = [], timeoutMs = 30_000): Promise<NodeProcess> {
  // e2e runs check every RPC result against its schema, so a handler that drifts fails here.
  // Ephemeral ports for RPC and libp2p unless the test names its own (later flags win).
  return startProcess(CLI, ["start", "--home", home, "--rpc-port", "0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", ...extraArgs], rpcListeningUrl, { env: { CLOUDCOIN_RPC_CHECK_RESULTS: "1" }, timeoutMs });
}

/** Runs `script ...args` (see nodeArgs) to completion; resolves with exit code and output. */
export function runScript(script: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs(script), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI to completion; resolves with exit code and output. */
export function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runScript(CLI, args, timeoutMs);
}

/** One JSON-RPC call; a node that does not answer within `timeoutMs` fails the call (fetch alone waits 300 s). */
export async function rpc(url: string, method: string, params: unknown = {}, timeoutMs = 20_000): Promise<any> {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }), signal: AbortSignal.timeout(timeoutMs),
  });
  return res.json();
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A plugin's JSON log line (common/logging.ts, JSON on a pipe) as an object, if `line` is one and
 * its `msg` (or, for the storage provider's reports, its `event`) is `name`.
 */
export function logEntry(line: string, name: string): Record<string, any> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const o = JSON.parse(line) as Record<string, any>;
    return o.msg === name || o.event === name ? o : undefined;
  } catch {
    return undefined;
  }
}

/** The `url` of a plugin's "ready" log line. */
export const readyUrl = (line: string): string | undefined => logEntry(line, "ready")?.url as string | undefined;
