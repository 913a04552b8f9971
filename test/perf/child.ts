/**
 * The child-process side of the HTTP benchmark (figure 3): a server started here prints one
 * line `READY {"port": N}` on stdout once it listens, and exits when the parent closes its stdin
 * (including when the parent dies without cleaning up) or sends SIGTERM/SIGINT.
 */
export interface ChildServer {
  readonly port: number;
  close(): Promise<void>;
}

export const READY_PREFIX = "READY ";

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
      process.stdin.resume();
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
