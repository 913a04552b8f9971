/**
 * e2e (issue #21): a full node's block store damaged while it was down (SIGKILL, then garbage in
 * the middle of its .log, or its CURRENT file deleted) is refused at start with a typed error and
 * named by `cloudcoin verify-store`; started with --resync it cuts its store back, syncs the rest
 * from its peer (a one-validator network on 127.0.0.1) and ends with every block hash equal to
 * the peer's. Checked through the CLI's exit codes and JSON-RPC only.
 */
import t, { type Test } from "tap";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { headHeight, initNetwork, waitForHeight } from "../helpers/network.ts";
import { rpc, runCli, startNode } from "../helpers/process.ts";

t.setTimeout(240_000);
const dir = mkdtempSync(join(tmpdir(), "cloudcoin-repair-"));
// Not faster than this: a full node catching up with a chain at 100 ms blocks stops answering
// RPC (its event loop starves; seen on the base commit too, reported with issue #21).
const net = await initNetwork(join(dir, "net"), 1, 1, { blockIntervalMs: 500 });
t.teardown(async () => {
  await net.stopAll();
  rmSync(dir, { recursive: true, force: true });
});
const full = net.members[1]!;
const chainDir = join(full.home, "data", "chain");

/** Every block 1..height of node1 has node0's hash. */
async function sameBlocks(t: Test, height: number): Promise<void> {
  let differ = 0;
  for (let h = 1; h <= height; h++) {
    const [a, b] = await Promise.all([rpc(net.url(0), "chain_getBlock", { height: h }), rpc(net.url(1), "chain_getBlock", { height: h })]);
    if (!b.result || a.result?.header.hash !== b.result.header.hash) differ++;
  }
  t.equal(differ, 0, `heights 1..${height}: every block on node1 is node0's`);
}

/** `cloudcoin start` on node1 without --resync: it must refuse and exit. */
async function refusedStart(): Promise<{ code: number | null; stderr: string }> {
  return runCli(["start", "--home", full.home, "--rpc-port", "0", "--p2p-listen", full.listen], 60_000);
}

t.test("CURRENT deleted: refused without touching the directory; --resync moves it aside and syncs from genesis", async (t) => {
  await net.start(0);
  await net.start(1);
  await waitForHeight(net.url(1), 8, 90_000);
  await net.kill(1);
  rmSync(join(chainDir, "CURRENT"));
  const r = await refusedStart();
  t.equal(r.code, 1, "start refuses");
  t.match(r.stderr, /\[STORE_UNRECOGNISED\]/);
  t.ok(!readdirSync(chainDir).includes("CURRENT"), "no new database was made over it");
  const p = await startNode(full.home, ["--p2p-listen", full.listen, "--resync"], 60_000);
  full.proc = p;
  t.ok(readdirSync(join(full.home, "data")).some((f) => f.startsWith("chain.damaged-")), "the old directory is kept aside");
  const target = await headHeight(net.url(0));
  await waitForHeight(net.url(1), target, 90_000);
  await sameBlocks(t, target);
});

t.test("garbage in the full node's .log: refused and named; --resync cuts back and syncs the same blocks", async (t) => {
  await waitForHeight(net.url(1), (await headHeight(net.url(1))) + 12, 90_000);
  await net.kill(1);
  const logs = readdirSync(chainDir).filter((f) => f.endsWith(".log")).map((f) => join(chainDir, f));
  logs.sort((a, b) => statSync(b).size - statSync(a).size);
  const size = statSync(logs[0]!).size;
  const fd = openSync(logs[0]!, "r+");
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 2));
  closeSync(fd);

  const v = await runCli(["verify-store", "--home", full.home, "--json"]);
  t.equal(v.code, 1, "verify-store exits 1");
  const verr = JSON.parse(v.stderr.trim().split("\n").at(-1)!) as { error: { code: string; data?: { height?: string } } };
  t.ok(["STORE_DAMAGED", "STORE_ROLLED_BACK"].includes(verr.error.code), `verify-store: ${verr.error.code} ${JSON.stringify(verr.error.data)}`);

  const r = await refusedStart();
  t.equal(r.code, 1, "start refuses");
  t.match(r.stderr, /\[STORE_(DAMAGED|ROLLED_BACK)\]/, "with the store's error code");
  t.match(r.stderr, /--resync/, "and the way out");

  const p = await startNode(full.home, ["--p2p-listen", full.listen, "--resync"], 60_000);
  full.proc = p;
  t.ok(p.logs.some((l) => l.includes("the block store was cut back")), "says what it cut");
  const target = await headHeight(net.url(0));
  await waitForHeight(net.url(1), target, 90_000).catch((e) => {
    t.comment(p.logs.filter((l) => !l.includes("finalized block")).slice(-30).map((l) => l.slice(0, 400)).join("\n"));
    throw e;
  });
  await sameBlocks(t, target);
  await net.kill(1);
  const ok = await runCli(["verify-store", "--home", full.home]);
  t.equal(ok.code, 0, `verify-store then passes: ${ok.stdout.trim()}`);
});
