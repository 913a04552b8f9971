#!/usr/bin/env node
// Compiles the node, its modules and the plugins to JavaScript in dist/ (tsconfig.build.json),
// copies the files tsc does not emit (the explorer's static page, the verify worker), and stamps
// the build. bin/cloudcoin.js runs dist/ when its stamp is newer than every source file, and the
// TypeScript sources through tsx otherwise, so a stale or missing build is slow, never wrong.
//
//   node scripts/build.mjs               build; fails on a type error
//   node scripts/build.mjs --if-possible the `prepare` step of npm install: without TypeScript
//                                        (npm ci --omit=dev) it skips the build, and a type error
//                                        warns (tsc still emits), so an install never fails here
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const lenient = process.argv.includes("--if-possible");
/** Files tsc does not emit that the compiled code reads beside itself. */
const ASSETS = ["rpc/explorer", "node/verify-worker.mjs"];

let tsc;
try {
  // the package's exports hide bin/: find it from its package.json
  tsc = join(dirname(createRequire(join(ROOT, "package.json")).resolve("typescript/package.json")), "bin", "tsc");
} catch {
  if (lenient) {
    console.error("build: TypeScript is not installed (production install); skipped: the CLI runs the sources through tsx");
    process.exit(0);
  }
  console.error("build: TypeScript is not installed: run npm install");
  process.exit(1);
}

rmSync(join(ROOT, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
if (r.status !== 0) {
  if (!lenient) process.exit(r.status ?? 1);
  console.error("build: tsc reported type errors (above); the JavaScript was emitted anyway");
}
for (const a of ASSETS) {
  mkdirSync(dirname(join(ROOT, "dist", a)), { recursive: true });
  cpSync(join(ROOT, a), join(ROOT, "dist", a), { recursive: true });
}
writeFileSync(join(ROOT, "dist", "BUILD"), `${new Date().toISOString()}\n`);
console.error("build: dist/ is up to date");
