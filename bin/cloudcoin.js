#!/usr/bin/env node
// The `cloudcoin` command. It runs the compiled JavaScript in dist/ (`npm run build`, which
// `npm install` runs as its prepare step) when that build is newer than every source file; else
// (no build yet, a source edited since, a production install without TypeScript) it runs the
// TypeScript sources through tsx, which works the same and starts 2–3 s slower.
import { distState } from "./dist-current.js";

const root = new URL("../", import.meta.url);
const dist = distState();
if (dist === "current" && process.env.CLOUDCOIN_FROM_SOURCE !== "1") {
  await import(new URL("dist/node/cli.js", root).href);
} else {
  if (dist === "stale" && process.env.CLOUDCOIN_FROM_SOURCE !== "1") process.stderr.write("cloudcoin: dist/ is older than the sources: running them through tsx (run `npm run build` to start faster)\n");
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("node/cli.ts", root).href);
}
