// Whether dist/ (scripts/build.mjs) is current: its BUILD stamp newer than every source file.
// bin/cloudcoin.js runs dist/ when it is, and scripts/test.mjs has the processes tests start run it.
import { existsSync, readdirSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);

/** The source folders compiled to dist/ (the same list as tsconfig.build.json). */
export const SOURCE_DIRS = ["common", "primitives", "proofs", "chain", "modules", "genesis", "p2p", "rpc", "node", "plugins"];

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir));
      else if (/\.(ts|mjs|js|html)$/.test(e.name)) newest = Math.max(newest, statSync(new URL(e.name, dir)).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) walk(new URL(`${d}/`, root));
  return newest;
}

/** "current", "stale" (built, but a source is newer) or "missing". */
export function distState() {
  const stamp = new URL("dist/BUILD", root);
  if (!existsSync(stamp)) return "missing";
  return statSync(stamp).mtimeMs >= newestSource() ? "current" : "stale";
}
