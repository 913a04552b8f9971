/**
 * What ships beside the code: the LICENSE, the Dockerfile and the systemd unit. The unit is
 * checked by systemd's own verifier where it exists, and its command is run; the Dockerfile's
 * sources must exist and its command is run as the container would (with --help); `docker build`
 * runs only where a Docker engine answers (none on the CI machine: it says so and skips).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (f: string) => readFileSync(join(ROOT, f), "utf8");
/** The V8 flag every shipped launcher starts the node with (docs/operator-guide.md, Memory). */
const YOUNG_GENERATION_FLAG = "--max-semi-space-size=32";
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

t.test("LICENSE matches the package's license", async (t) => {
  t.match(read("LICENSE"), /^MIT License/);
  t.equal((JSON.parse(read("package.json")) as { license: string }).license, "MIT");
});

t.test("the systemd unit verifies and its command starts the node CLI", async (t) => {
  const unit = read("contrib/systemd/cloudcoin.service");
  const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  t.equal(exec[1], YOUNG_GENERATION_FLAG, "node runs with the young generation the node is measured with");
  t.same(exec.slice(3), ["start", "--log-format", "json"], "it starts the node, logging JSON for the journal");
  t.match(unit, /^Restart=on-failure$/m);
  t.match(unit, /^KillSignal=SIGTERM$/m, "stops with SIGTERM, which the node handles");
  // the unit as installed points at /opt/cloudcoin; here, at this checkout
  const local = unit.replaceAll("/opt/cloudcoin", ROOT).replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`);
  const script = exec[2]!.replace("/opt/cloudcoin", ROOT);
  t.ok(existsSync(script), `${script} exists`);
  const help = spawnSync(process.execPath, [YOUNG_GENERATION_FLAG, script, "start", "--help"], { encoding: "utf8", timeout: 60_000 });
  t.equal(help.status, 0, "its command runs");
  t.match(help.stdout, /cloudcoin start/);
  if (!has("systemd-analyze")) return void t.skip("systemd-analyze is not installed here: the unit's syntax is not verified", () => undefined);
  const dir = mkdtempSync(join(tmpdir(), "cloudcoin-unit-"));
  writeFileSync(join(dir, "cloudcoin.service"), local);
  const verify = spawnSync("systemd-analyze", ["verify", join(dir, "cloudcoin.service")], { encoding: "utf8" });
  t.equal(verify.status, 0, `systemd-analyze verify passes: ${verify.stderr.trim()}`);
  t.equal(verify.stderr.replace(/.*(No such file|Failed to get|Cannot find unit|\/var\/lib).*\n?/g, "").trim(), "", "and warns of nothing in the unit itself");
});

t.test("the Dockerfile copies what exists and runs the node CLI", async (t) => {
  const docker = read("Dockerfile");
  for (const m of docker.matchAll(/^COPY (\S+)/gm)) for (const src of m[1]!.split(/\s+/)) t.ok(existsSync(join(ROOT, src)), `COPY ${src} exists`);
  const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(docker)![1]!) as string[];
  const cmd = JSON.parse(/^CMD (.+)$/m.exec(docker)![1]!) as string[];
  t.same(entry, ["node", YOUNG_GENERATION_FLAG, "bin/cloudcoin.js"]);
  const run = spawnSync(process.execPath, [...entry.slice(1), ...cmd, "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.equal(run.status, 0, `the container's command parses: ${run.stderr.slice(0, 200)}`);
  const engine = has("docker") && spawnSync("docker", ["info"], { timeout: 20_000 }).status === 0;
  if (!engine) return void t.skip("no Docker engine answers on this machine (docker info failed): the image is not built here", () => undefined);
  const build = spawnSync("docker", ["build", "-q", "-t", "cloudcoin-test", ROOT], { encoding: "utf8", timeout: 600_000 });
  t.equal(build.status, 0, `docker build: ${build.stderr.slice(-300)}`);
});

t.test("the CLI runs compiled JavaScript; what the build generates is never committed", async (t) => {
  const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
  t.match(pkg.scripts.prepare, /scripts\/build\.mjs/, "npm install builds dist/ (its prepare step)");
  t.equal(pkg.scripts.start, `node ${YOUNG_GENERATION_FLAG} bin/cloudcoin.js start`, "npm start runs the CLI through bin/, which picks dist/ when it is current");
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" });
  if (git("rev-parse", "--is-inside-work-tree").status !== 0) return void t.skip("not a git checkout", () => undefined);
  t.equal(git("check-ignore", "-q", "dist/node/cli.js").status, 0, "dist/ is ignored by git");
  t.equal(git("ls-files", "dist").stdout, "", "and nothing under it is committed");
  if (!existsSync(join(ROOT, "dist", "BUILD"))) return void t.skip("dist/ is not built here (npm run build)", () => undefined);
  const run = spawnSync(process.execPath, [join(ROOT, "bin", "cloudcoin.js"), "--version"], { encoding: "utf8", timeout: 60_000 });
  t.equal(run.status, 0);
  if (/older than the sources/.test(run.stderr)) return void t.skip("dist/ is older than the sources here (edited since the build): bin/ falls back to tsx", () => undefined);
  t.equal(run.stderr, "", "bin/ ran the build without a warning");
  const compiled = spawnSync(process.execPath, [join(ROOT, "dist", "node", "cli.js"), "--version"], { encoding: "utf8", timeout: 60_000 });
  t.equal(compiled.stdout, run.stdout, "the compiled CLI answers as bin/ does");
});
