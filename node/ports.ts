/** Finding free loopback ports for local networks (the devnet script, e2e tests). */
import { createServer } from "node:net";

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A base port such that base .. base + count - 1 are all free right now on 127.0.0.1 (a later
 * bind can still race with another process; callers fail clearly if it does).
 */
export async function freePortRange(count: number, tries = 50): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const base = 20_000 + Math.floor(Math.random() * (40_000 - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindable(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}
