/**
 * The child-process side of the HTTP benchmark (figure 3): a server started here prints one
 * line `READY {"port": N}` on stdout once it listens, and exits when the parent closes its stdin
 * (including when the parent dies without cleaning up) or sends SIGTERM/SIGINT. For each line
 * `cpu` the parent writes to its stdin it prints `CPU {"us": N}`: the CPU time (user + system,
 * microseconds) this process has used so far, so the parent can tell what a load cost the server.
 */
import { createInterface } from "node:readline";

export interface ChildServer {
  readonly port: number;
  close(): Promise<void>;
}

export const READY_PREFIX = "READY ";
export const CPU_PREFIX = "CPU ";

export function serveForParent(start: () => Promise<ChildServer>): void {
  start().then(
    (server) => {
      let closing = false;
      const shutdown = (): void => {
        if (closing) return;
        closing = true;
        // Never hang on close: the parent is waiting for this process to end.
        setTimeout(() => process.exit(0), 2000).unref();
        server.close().finally(() => process.exit(0));
      };
      process.stdin.on("end", shutdown);
      process.stdin.on("close", shutdown);
      createInterface({ input: process.stdin }).on("line", (line) => {
        if (line.trim() !== "cpu") return;
        const u = process.cpuUsage();
        process.stdout.write(`${CPU_PREFIX}${JSON.stringify({ us: u.user + u.system })}\n`);
      });
      process.on("SIGTERM", shutdown);
      process.on("SIGINT", shutdown);
      process.stdout.write(`${READY_PREFIX}${JSON.stringify({ port: server.port })}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`server failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
