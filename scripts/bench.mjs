#!/usr/bin/env node
// npm run bench: every benchmark script runs, whether or not another missed its target or failed,
// and a summary at the end names each script's outcome and time. Exit code 1 if any failed.
// Usage: node scripts/bench.mjs [name ...]   (names: run, sim, paych, ws, storage, bandwidth, network, sync, cli, state, state-sync, devnet, rpc-layers, anvil)
import { spawnSync } from "node:child_process";
import { withDist } from "./dist-env.mjs";

const SCRIPTS = {
  run: "test/perf/run.ts",
  sim: "test/perf/sim-bench.ts",
  paych: "test/perf/paych.ts",
  ws: "test/perf/ws.ts",
  storage: "test/perf/storage.ts",
  bandwidth: "test/perf/bandwidth.ts",
  network: "test/perf/network.ts",
  sync: ["test/perf/network.ts", "--sync-only"],
  cli: "test/perf/cli-start.ts",
  state: "test/perf/state.ts",
  "state-sync": "test/perf/state-sync.ts",
  devnet: "test/perf/devnet.ts",
  "rpc-layers": "test/perf/rpc-layers.ts",
  anvil: "test/perf/anvil.ts",
};
// run only when named: `network` already runs the sync part
const ONLY_BY_NAME = new Set(["sync"]);
const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!(w in SCRIPTS)) {
    console.error(`unknown benchmark ${w}; one of: ${Object.keys(SCRIPTS).join(", ")}`);
    process.exit(2);
  }
}
// the nodes a benchmark starts run the compiled dist/, as `npm start` runs them (scripts/dist-env.mjs)
const env = withDist(process.env, "bench");
const results = [];
for (const [name, file] of Object.entries(SCRIPTS)) {
  if (wanted.length > 0 ? !wanted.includes(name) : ONLY_BY_NAME.has(name)) continue;
  console.log(`\n=== ${name} (${[file].flat().join(" ")})`);
  const started = Date.now();
  const [path, ...args] = Array.isArray(file) ? file : [file];
  const r = spawnSync(process.execPath, ["--import", "tsx", path, ...args], { stdio: "inherit", env });
  results.push({ name, status: r.status === 0 ? "ok" : `failed (exit ${r.status ?? r.signal})`, seconds: ((Date.now() - started) / 1000).toFixed(0) });
}
console.log("\n=== summary");
for (const r of results) console.log(`${r.name.padEnd(10)} ${r.status.padEnd(20)} ${r.seconds} s`);
process.exit(results.some((r) => r.status !== "ok") ? 1 : 0);
