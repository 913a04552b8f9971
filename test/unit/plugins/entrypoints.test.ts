/** Every plugin entry point and the node CLI answer --help with their usage and --version with the version, exit 0. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import t from "tap";

const ENTRY_POINTS = [
  "plugins/bandwidth-witness/witness.ts", "plugins/relay/relay.ts", "plugins/storage-provider/provider.ts", "plugins/storage-provider/client.ts",
  "plugins/paid-content/server.ts", "plugins/paid-content/client.ts", "plugins/paid-content/ad-slot.ts", "node/cli.ts",
];
const VERSION = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;

function run(file: string, args: string | string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file, ...[args].flat()], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `jobs` at most `limit` at a time (each is a process with its own TypeScript compile). */
async function bounded<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  }));
  return out;
}

t.test("--help everywhere, --version on the node CLI and a plugin", async (t) => {
  const jobs = [...ENTRY_POINTS.map((f) => () => run(f, "--help")), () => run("node/cli.ts", "--version"), () => run("plugins/relay/relay.ts", "--version")];
  const results = await bounded(jobs, 3);
  ENTRY_POINTS.forEach((f, i) => {
    const help = results[i]!;
    t.equal(help.code, 0, `${f} --help exits 0 (${help.stderr.slice(0, 100)})`);
    t.match(help.stdout, /usage/, `${f} --help prints its usage`);
  });
  // the long-running services log like the node and say so in their usage
  for (const f of ["plugins/bandwidth-witness/witness.ts", "plugins/relay/relay.ts", "plugins/storage-provider/provider.ts", "plugins/paid-content/server.ts", "plugins/paid-content/ad-slot.ts"]) {
    t.match(results[ENTRY_POINTS.indexOf(f)]!.stdout, /--log-format json\|pretty/, `${f} takes --log-format`);
  }
  for (const version of results.slice(ENTRY_POINTS.length)) {
    t.equal(version.code, 0, "--version exits 0");
    t.match(version.stdout, new RegExp(VERSION.replace(/\./g, "\\.")), `--version prints ${VERSION}`);
  }
});

t.test("a negative number after an option is its value, refused by the option's own check (not parseArgs' 'ambiguous')", async (t) => {
  const [relay, adSlot] = await bounded([
    () => run("plugins/relay/relay.ts", ["--capacity", "-3", "--key", "x", "--listen", "/ip4/127.0.0.1/tcp/0"]),
    () => run("plugins/paid-content/ad-slot.ts", ["site", "--price", "-1", "--payee", "cc1x", "--advertiser", "http://127.0.0.1:1/"]),
  ], 2);
  t.equal(relay!.code, 1, relay!.stderr);
  t.match(relay!.stderr, /--capacity must be a non-negative integer, got "-3"/, "the relay names its option and the value");
  t.notMatch(relay!.stderr, /ambiguous/);
  t.equal(adSlot!.code, 1);
  t.match(adSlot!.stderr, /^[A-Z_]+: .*amount/i, "the ad slot refuses the price as an amount, its code first like every service plugin");
  t.notMatch(adSlot!.stderr + adSlot!.stdout, /ambiguous/);
});

t.test("a command line parseArgs refuses (an unknown option, a value missing) exits 2 with the reason and the usage, on every plugin", async (t) => {
  const plugins = ENTRY_POINTS.filter((f) => f.startsWith("plugins/"));
  const results = await bounded(plugins.map((f) => () => run(f, f.endsWith("ad-slot.ts") ? ["site", "--bogus", "1"] : ["--bogus", "1"])), 3);
  plugins.forEach((f, i) => {
    const r = results[i]!;
    t.equal(r.code, 2, `${f}: exit 2 (${r.stderr.slice(0, 200)})`);
    t.match(r.stderr, /USAGE: .*'--bogus'/, `${f}: names the unknown option`);
    t.match(r.stderr, /\nusage: /, `${f}: prints its usage`);
    t.notMatch(r.stderr, /ERR_PARSE_ARGS|at parseArgs|node:internal/, `${f}: no parser internals or stack`);
  });
  const [missing, notNumber] = await bounded([
    () => run("plugins/relay/relay.ts", ["--key"]),
    () => run("plugins/storage-provider/client.ts", ["--key", "k.json", "--file", "f", "--duration", "abc"]),
  ], 2);
  t.equal(missing!.code, 2, "an option without its value");
  t.match(missing!.stderr, /USAGE: .*--key/);
  t.equal(notNumber!.code, 1);
  t.match(notNumber!.stdout, /"code":"USAGE".*--duration must be a non-negative integer/, "the storage client's deal mode checks its numbers before BigInt does");
  t.notMatch(notNumber!.stdout, /BigInt/);
});
