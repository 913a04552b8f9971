#!/usr/bin/env node
// Runs the tap suite and ends with the plain line CI reads: "N passed, N failed[, N skipped]".
// tap's own exit code is kept. tap must be rebuilt once after install because the project
// swaps its TypeScript plugin for tsx (package.json "tap": "!@tapjs/typescript", --import=tsx); `tap build` is cheap when current.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { Parser } from "tap-parser";
import { withDist } from "./dist-env.mjs";

const require = createRequire(import.meta.url);
// tap exports no bin path; find it from its package.json so the script needs no npx.
const tapPkg = require.resolve("tap/package.json");
const tapBin = join(dirname(tapPkg), require(tapPkg).bin.tap);
// Rebuild only when tap's built Test class still carries the TypeScript plugin: a rebuild
// rewrites node_modules/@tapjs/test/test-built, and two runs rebuilding at once break each other.
const builtIndex = join(dirname(require.resolve("@tapjs/test/package.json")), "test-built", "dist", "esm", "index.js");
const needsBuild = !existsSync(builtIndex) || readFileSync(builtIndex, "utf8").includes("@tapjs/typescript");
const build = needsBuild ? spawnSync(process.execPath, [tapBin, "build"], { stdio: ["ignore", "ignore", "inherit"] }) : { status: 0 };
if (build.status !== 0) {
  console.error("tap build failed");
  console.log("0 passed, 1 failed");
  process.exit(build.status ?? 1);
}

// e2e tests start the node, the CLI and the plugins as processes, about 150 per run: they run the
// compiled dist/ when it is current (scripts/dist-env.mjs), minutes less of a run on 2 cores. The
// test files themselves run through tsx.

// A directory argument stands for the *.test.ts files under it: tap expands a directory with the
// extensions of its loaded plugins only, and without its TypeScript plugin that is js/cjs/mjs, so
// `test/sim` alone would find no test file.
const isDir = (a) => !a.startsWith("-") && existsSync(a) && statSync(a).isDirectory();
const args = process.argv.slice(2).flatMap((a) =>
  isDir(a) ? readdirSync(a, { recursive: true }).map(String).filter((f) => f.endsWith(".test.ts") && !/(^|\/)(node_modules|\.git|fixtures?|dist)\//.test(f)).sort().map((f) => join(a, f)) : [a],
);
// tap runs one file at a time on 2 CPUs (its default leaves a CPU free), so the single-threaded unit,
// econ, sim and golden files used one core of two. Two at a time there; the e2e files, each a
// network of processes that loads both cores by itself, still run alone (package.json's tap.serial),
// and so does ratelimit.test.ts, whose four requests must fit in one 400 ms window.
if (availableParallelism() <= 2 && !args.some((a) => /^(-j|--jobs)/.test(a))) args.unshift("--jobs=2");
const env = withDist(process.env, "test");
const child = spawn(process.execPath, [tapBin, ...args], { stdio: ["ignore", "pipe", "inherit"], env });
let tail = "";
// Every failed assertion and subtest, at any depth, for the list printed before the closing line:
// a reader of only the end of the output (a CI log's tail) learns what failed and where.
const failures = [];
const parser = new Parser();
const watch = (p) => {
  // comments written just before a result (a test's own diagnosis, e.g. a dump in its teardown) go with it
  let comments = [];
  p.on("comment", (c) => {
    const text = c.replace(/^\s*#\s?/, "").trimEnd();
    if (!/^(Subtest: |time=)/.test(text)) comments.push(text);
  });
  p.on("assert", (r) => {
    if (!r.ok && !r.todo && !r.skip) failures.push(Object.assign(r, { comments }));
    comments = [];
  });
  p.on("child", watch);
};
watch(parser);
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  parser.write(chunk);
  tail = (tail + chunk.toString("utf8")).slice(-4096);
});

/** The failures no other failure is inside of, each with where it is and its first lines of diagnosis. */
function failureReport() {
  const leaves = failures.filter((f) => !failures.some((g) => g !== f && g.fullname.startsWith(`${f.fullname} > `)));
  const lines = [];
  const skip = new Set(["at", "stack", "source", "compare", "stdio", "cwd", "command", "args", "externalID"]);
  for (const f of leaves.slice(0, 20)) {
    const at = f.diag?.at?.fileName ? ` (${f.diag.at.fileName}:${f.diag.at.lineNumber})` : "";
    lines.push(`not ok: ${f.fullname}${at}`);
    const detail = Object.entries(f.diag ?? {})
      .filter(([k]) => !skip.has(k))
      .flatMap(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v, null, 1)}`.split("\n"));
    const notes = failures.filter((g) => g === f || f.fullname.startsWith(`${g.fullname} > `)).flatMap((g) => g.comments.flatMap((c) => c.split("\n")));
    for (const [part, max] of [[detail, 16], [notes, 60]]) {
      lines.push(...part.slice(0, max).map((l) => `    ${l.slice(0, 240)}`));
      if (part.length > max) lines.push(`    ... ${part.length - max} more lines above, in the test's own output`);
    }
  }
  if (leaves.length > 20) lines.push(`... and ${leaves.length - 20} more failures`);
  return lines;
}
child.on("close", (code, signal) => {
  // tap (non-TTY) ends with a line like: # { total: 12, pass: 11, fail: 1, skip: 0 }
  const m = /#\s*\{([^}]*)\}\s*(?:#[^\n]*\s*)*$/.exec(tail) ?? /#\s*\{([^}]*total[^}]*)\}/.exec(tail);
  const counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
  if (m) {
    for (const part of m[1].split(",")) {
      const [k, v] = part.split(":").map((s) => s.trim());
      if (k in counts) counts[k] = Number(v);
    }
  } else {
    counts.fail = 1; // no summary means the run did not complete
  }
  const exitCode = code ?? 1;
  if (exitCode !== 0 && counts.fail === 0) counts.fail = 1;
  parser.end();
  if (failures.length > 0) console.log(["", "# failed:", ...failureReport().map((l) => `# ${l}`)].join("\n"));
  const skipped = counts.skip + counts.todo;
  console.log(`${counts.pass} passed, ${counts.fail} failed${skipped ? `, ${skipped} skipped` : ""}`);
  if (signal) process.kill(process.pid, signal);
  process.exit(exitCode);
});
