/** What every benchmark runner does around its run: a temp directory removed on any exit (normal, error, signal). */
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping`);
    process.exit(130);
  });
}

/** A new temp directory (`<tmpdir>/<prefix>XXXXXX`), removed when the process exits however it exits. */
export async function benchTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
