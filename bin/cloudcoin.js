#!/usr/bin/env node
// The `cloudcoin` command. It runs the compiled JavaScript in dist/ (`npm run build`, which
// `npm install` runs as its prepare step) when that build is newer than every source file; else
// (no build yet, a source edited since, a production install without TypeScript) it runs the
// TypeScript sources through tsx, which works the same and starts 2–3 s slower.
import { existsSync, readdirSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);
const stamp = new URL("dist/BUILD", root);
/** The source folders of scripts/build.mjs. */
const SOURCE_DIRS = ["common", "primitives", "proofs", "chain", "modules", "genesis", "p2p", "rpc", "node", "plugins"];

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

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (built > 0 && built >= newestSource() && process.env.CLOUDCOIN_FROM_SOURCE !== "1") {
  await import(new URL("dist/node/cli.js", root).href);
} else {
  if (built > 0 && process.env.CLOUDCOIN_FROM_SOURCE !== "1") process.stderr.write("cloudcoin: dist/ is older than the sources: running them through tsx (run `npm run build` to start faster)\n");
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("node/cli.ts", root).href);
}
