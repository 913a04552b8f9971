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
 * Fixed ports are picked below the ephemeral range (Linux 32768-60999, macOS and Windows
 * 49152-65535): there, any outgoing connection or `listen(0)` of another process can take a
 * port between the check below and the node's bind, or while a node restarts on it.
 */
const LOW = 20_000;
const HIGH = 32_768;

/**
 * A base port such that base .. base + count - 1 are all free right now on 127.0.0.1 (a later
 * bind can still race with another process; callers fail clearly if it does).
 */
export async function freePortRange(count: number, tries = 50): Promise<number> {
  if (!Number.isSafeInteger(count) || count < 1 || count > HIGH - LOW) throw new RangeError(`cannot find ${count} consecutive ports`);
  for (let i = 0; i < tries; i++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await bindable(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}
