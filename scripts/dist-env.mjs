// The compiled node for the processes tests and benchmarks start (the node, the CLI, the plugins).
// Through tsx each start costs 1-2 s of CPU more than the compiled JavaScript in dist/ (its ESM hooks
// see every module loaded, on a thread of their own that runs for the life of the process), and
// operators run dist/: `npm start` and the `cloudcoin` executable run it when it is current, its
// BUILD stamp newer than every source file (bin/dist-current.js). A stale or missing dist/ is
// rebuilt first; if that fails the processes run the sources through tsx, as they do under
// `CLOUDCOIN_FROM_SOURCE=1` or when a test or benchmark file is run directly (test/helpers/process.ts
// reads CLOUDCOIN_TEST_DIST).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { distState } from "../bin/dist-current.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** `env` with CLOUDCOIN_TEST_DIST set to a current dist/ (built if need be), or removed when there is none. */
export function withDist(env, who) {
  const out = { ...env };
  delete out.CLOUDCOIN_TEST_DIST;
  if (env.CLOUDCOIN_FROM_SOURCE === "1") return out;
  if (distState() !== "current") {
    console.error(`${who}: dist/ is missing or older than the sources: building it (npm run build)`);
    spawnSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--if-possible"], { stdio: ["ignore", "ignore", "inherit"] });
  }
  if (distState() === "current") out.CLOUDCOIN_TEST_DIST = join(ROOT, "dist");
  else console.error(`${who}: no current dist/: spawned processes run the sources through tsx`);
  return out;
}
