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
