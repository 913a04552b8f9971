/**
 * State on disk (issue 20): what a node holding a large state costs in memory, and what reading
 * and committing it costs.
 *
 *  1. State size. STATE_BENCH_ACCOUNTS accounts (default 1,000,000; the issue also asks for
 *     10,000,000) are generated straight into a block store (records 'S' and the state tree's node
 *     records 'N', built with chain/smt.ts pagedUpdate in chunks, as chain/store.ts lays them out),
 *     not through blocks. A fresh child process then opens the store as the node does (open with
 *     its rolling check, loadState: nothing is loaded) and reports:
 *       - open time and RSS after opening, and after reading 100,000 random accounts twice;
 *       - the account read of state_getAccount (ChainState.account: the store's cache, else one
 *         LevelDB getSync) over 100,000 random accounts, cold (the cache starts empty) and hot
 *         (the same accounts again). Target: cold >= 0.5 of hot.
 *     Target: RSS <= 400 MiB with the default cache.
 *  2. Commit of a 10,000-transfer block on a 100,000-account state against a raw classic-level
 *     batch of the same puts (test/perf/commit.ts). Target: raw / commitBlock >= 0.7.
 *
 *   node --import tsx test/perf/state.ts            (or: npm run bench state)
 *   STATE_BENCH_ACCOUNTS=10000000 node --import tsx test/perf/state.ts
 *   STATE_BENCH_ONLY=commit node --import tsx test/perf/state.ts   (figure 2 only)
 *
 * STATE_BENCH_DIR=<dir> keeps the generated state in <dir> (it is not removed at the end) and
 * reuses it on the next run with the same STATE_BENCH_ACCOUNTS: 10,000,000 accounts take about
 * half an hour to generate on two cores, the measurements a minute.
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import autocannon from "autocannon";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClassicLevel } from "classic-level";
import "../../modules/index.ts";
import { concatBytes, fromHex, toHex, u64be, utf8 } from "../../primitives/bytes.ts";
import { sha256 } from "../../primitives/hash.ts";
import { pagedUpdate } from "../../chain/smt.ts";
import { encodeAccount, StateKey, type StateChange } from "../../chain/state.ts";
import { BlockStore, DEFAULT_STATE_CACHE_BYTES } from "../../chain/store.ts";
import { devnetGenesis } from "../../genesis/devnet.ts";
import { genesisState } from "../../genesis/schema.ts";
import { benchCacheUpdate, benchCommit } from "./commit.ts";
import { buildWorld, prng } from "./fixtures.ts";
import { serveForParent } from "./child.ts";
import { headOnlyStore, startBenchRpcServer } from "./rpc-bench-server.ts";
import { spawnServer, type ServerHandle } from "./rpc.ts";
import { toAddress } from "../../primitives/keys.ts";
import { fmtInt, fmtRatio, median, verdict } from "./stats.ts";

const ACCOUNTS = Number(process.env.STATE_BENCH_ACCOUNTS ?? 1_000_000);
const READS = 100_000;
/** STATE_BENCH_MAX_OPEN_FILES: LevelDB's table cache of the measured store, for comparing (default: the store's). */
const STORE_OPTIONS = process.env.STATE_BENCH_MAX_OPEN_FILES ? { maxOpenFiles: Number(process.env.STATE_BENCH_MAX_OPEN_FILES) } : {};
const CHUNK = 100_000;
/** STATE_BENCH_ONLY=commit: only figure 2 (the commit), which needs no generated state. */
const ONLY = process.env.STATE_BENCH_ONLY;
/** STATE_BENCH_COMMIT_REPS: the measured repetitions of figure 2 (default 7). */
const COMMIT_REPS = Number(process.env.STATE_BENCH_COMMIT_REPS ?? 7);
const TARGETS = { rssMiB: 400, coldHot: 0.5, commit: 0.7 };
/** Load of the HTTP figure: connections, and requests of other accounts first (JIT, connections; not counted). */
const RPC_CONNECTIONS = 50;
const RPC_WARMUP = 10_000;
const MiB = 1024 * 1024;

const g = devnetGenesis();
const chain = { chainId: g.chainId, genesisHash: g.hash, genesisState: () => genesisState(g) };
const S = (k: Uint8Array) => concatBytes(utf8.encode("S"), k);
const N = (p: Uint8Array) => concatBytes(utf8.encode("N"), p);

/** The i-th generated account's public key (32 pseudo-random bytes). */
const generatedKey = (i: number): Uint8Array => sha256(utf8.encode("state-bench"), u64be(i));

/** Writes `n` accounts into the store at `dir` (height 0) and returns the new state root. */
async function generate(dir: string, n: number): Promise<Uint8Array> {
  await (await BlockStore.open(dir, chain)).close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open({ compression: false }); // as chain/store.ts opens it
  let root: Uint8Array = new Uint8Array(32);
  try {
    for (let from = 0; from < n; from += CHUNK) {
      const changes: StateChange[] = [];
      for (let i = from; i < Math.min(n, from + CHUNK); i++) {
        changes.push([StateKey.account(generatedKey(i)), encodeAccount({ balance: 1_000_000n + BigInt(i), nonce: BigInt(i % 7), staked: 0n, unbonding: [] })]);
      }
      const r = pagedUpdate((p) => db.getSync(N(p)), changes);
      const batch = db.batch();
      for (const [k, v] of changes) batch.put(S(k), v!);
      for (const [p, rec] of r.writes) {
        if (rec === null) batch.del(N(p));
        else batch.put(N(p), rec);
      }
      await batch.write();
      root = r.root;
      if ((from / CHUNK) % 10 === 9 || from + CHUNK >= n) console.log(`  generated ${fmtInt(Math.min(n, from + CHUNK))} accounts`);
    }
  } finally {
    await db.close();
  }
  return root;
}

interface ChildFigures {
  /** The resident set split as Linux counts it (/proc/self/status): anonymous memory (heaps,
   * LevelDB's caches) and file-backed pages (LevelDB maps its table files: pages a read touched
   * stay resident, clean, and the kernel takes them back under memory pressure). */
  rssAnonMiB: number | null;
  rssFileMiB: number | null;
  dbMiB: number;
  openMs: number;
  rssOpenMiB: number;
  rssAfterMiB: number;
  coldPerSec: number;
  hotPerSec: number;
  heapUsedMiB: number;
}

function rssSplit(): { rssAnonMiB: number | null; rssFileMiB: number | null } {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kib = (name: string): number | null => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
      return m ? Number(m[1]) / 1024 : null;
    };
    return { rssAnonMiB: kib("RssAnon"), rssFileMiB: kib("RssFile") };
  } catch {
    return { rssAnonMiB: null, rssFileMiB: null }; // not Linux
  }
}

/** Bytes of the files in `dir` (one LevelDB's compaction may remove a file while this runs). */
function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** In a fresh process: open the store as the node does, read accounts cold then hot. */
async function child(dir: string, rootHex: string, n: number): Promise<void> {
  const root = fromHex(rootHex);
  const t0 = performance.now();
  const store = await BlockStore.open(dir, chain, STORE_OPTIONS);
  const state = await store.loadState(() => root);
  const openMs = performance.now() - t0;
  globalThis.gc?.();
  const rssOpenMiB = process.memoryUsage().rss / MiB;
  const next = prng(7);
  const keys = Array.from({ length: READS }, () => generatedKey(Math.floor(next() * n)));
  let sum = 0n;
  const c0 = performance.now();
  for (const k of keys) sum += state.account(k).balance;
  const coldMs = performance.now() - c0;
  const h0 = performance.now();
  for (const k of keys) sum -= state.account(k).balance;
  const hotMs = performance.now() - h0;
  if (sum !== 0n) throw new Error("cold and hot reads disagree");
  globalThis.gc?.();
  const figures: ChildFigures = {
    openMs,
    rssOpenMiB,
    rssAfterMiB: process.memoryUsage().rss / MiB,
    coldPerSec: READS / (coldMs / 1000),
    hotPerSec: READS / (hotMs / 1000),
    heapUsedMiB: process.memoryUsage().heapUsed / MiB,
    ...rssSplit(),
    dbMiB: dirBytes(dir) / MiB,
  };
  await store.close();
  console.log(`FIGURES ${JSON.stringify(figures)}`);
}

/** The i-th generated account's balance (see generate). */
const generatedBalance = (i: number): bigint => 1_000_000n + BigInt(i);

/**
 * In a fresh process: the node's JSON-RPC server (the real method table and server, as
 * test/perf/rpc-bench-server.ts sets it up) over the store, opened as the node opens it; the
 * parent loads it (child.ts protocol).
 */
function rpcChild(dir: string, rootHex: string): void {
  serveForParent(async () => {
    const store = await BlockStore.open(dir, chain, STORE_OPTIONS);
    const state = await store.loadState(() => fromHex(rootHex));
    const server = await startBenchRpcServer("state", {
      chainId: g.chainId,
      genesisHash: g.hash,
      params: g.params,
      store: headOnlyStore("state (state_getAccount over HTTP)", store.head, store.base),
      headState: () => state,
    });
    return {
      port: server.port,
      close: async () => {
        await server.close();
        await store.close();
      },
    };
  });
}

interface HttpFigures {
  coldPerSec: number;
  hotPerSec: number;
  coldCpuUs: number;
  hotCpuUs: number;
  rssMiB: number | null;
}

/** The server process's resident set (Linux), MiB. */
function rssOfPid(pid: number | undefined): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * state_getAccount over HTTP on a fresh server: RPC_WARMUP requests for other accounts (not
 * counted), then `keys` in order (cold: no account asked before), then the same again (hot).
 * Every answer's status counted; a few answers checked for the right balance.
 */
async function httpColdHot(dir: string, rootHex: string, accounts: readonly number[], cap?: MemoryCap): Promise<HttpFigures> {
  const server: ServerHandle = await spawnServer("state", fileURLToPath(import.meta.url), 120_000, ["rpc-child", dir, rootHex], cap?.wrap);
  try {
    const body = (i: number, id: number) => JSON.stringify({ jsonrpc: "2.0", id, method: "state_getAccount", params: { address: toAddress(generatedKey(i)) } });
    const pass = async (name: string, list: readonly number[]): Promise<{ perSec: number; cpuUs: number }> => {
      const bodies = list.map((i, k) => body(i, k));
      let next = 0;
      const cpu0 = await server.cpuUs();
      const t0 = performance.now();
      const r = await autocannon({
        url: server.url,
        connections: RPC_CONNECTIONS,
        amount: bodies.length,
        timeout: 30,
        method: "POST",
        headers: { "content-type": "application/json" },
        requests: [{ setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! }) }],
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpuUs = (await server.cpuUs()) - cpu0;
      if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0 || r.requests.total < bodies.length) {
        throw new Error(`state_getAccount ${name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx, ${r.requests.total} of ${bodies.length} answered`);
      }
      return { perSec: bodies.length / seconds, cpuUs: cpuUs / bodies.length };
    };
    const check = async (i: number): Promise<void> => {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: body(i, 1) });
      const reply = (await res.json()) as { result?: { balance?: string } };
      if (reply.result?.balance !== generatedBalance(i).toString()) throw new Error(`state_getAccount of account ${i}: ${JSON.stringify(reply).slice(0, 200)}`);
    };
    const warm = accounts.slice(0, RPC_WARMUP);
    const measured = accounts.slice(RPC_WARMUP);
    await pass("warm-up", warm);
    const cold = await pass("cold", measured);
    const hot = await pass("hot", measured);
    for (const i of [measured[0]!, measured[measured.length - 1]!]) await check(i);
    return { coldPerSec: cold.perSec, hotPerSec: hot.perSec, coldCpuUs: cold.cpuUs, hotCpuUs: hot.cpuUs, rssMiB: rssOfPid(server.pid) };
  } finally {
    await server.stop();
  }
}

/**
 * A memory cgroup capping a child process at `bytes` (page cache included, no swap), where this
 * process may make one (root; cgroup v1's memory controller, or v2 with memory delegated):
 * `wrap` turns a command into one that first moves itself into the cgroup. Undefined, with the
 * reason, elsewhere.
 */
interface MemoryCap {
  /** A command that first moves itself into the cgroup. */
  wrap(cmd: string, args: readonly string[]): [string, string[]];
  peakMiB(): number | null;
  remove(): void;
}

function memoryCap(bytes: number): MemoryCap | string {
  let lines: string[];
  try {
    lines = readFileSync("/proc/self/cgroup", "utf8").split("\n");
  } catch {
    return "no /proc/self/cgroup (not Linux)";
  }
  const v1 = lines.map((l) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/.exec(l)).find((m) => m !== null);
  const v2 = lines.map((l) => /^0::(.*)$/.exec(l)).find((m) => m !== null);
  let dir: string;
  let files: { limit: string[]; peak: string };
  if (v1) {
    dir = join("/sys/fs/cgroup/memory", v1[1]!, `cloudcoin-state-bench-${process.pid}`);
    files = { limit: ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"], peak: "memory.max_usage_in_bytes" };
  } else if (v2 && existsSync("/sys/fs/cgroup/cgroup.controllers")) {
    dir = join("/sys/fs/cgroup", v2[1]!, `cloudcoin-state-bench-${process.pid}`);
    files = { limit: ["memory.max"], peak: "memory.peak" };
  } else {
    return "no memory cgroup found";
  }
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, files.limit[0]!), String(bytes));
    if (v1 && existsSync(join(dir, files.limit[1]!))) writeFileSync(join(dir, files.limit[1]!), String(bytes));
    if (!v1 && existsSync(join(dir, "memory.swap.max"))) writeFileSync(join(dir, "memory.swap.max"), "0");
  } catch (e) {
    try {
      rmdirSync(dir);
    } catch {
      // not made
    }
    return `cannot make a memory cgroup (${(e as Error).message.split("\n")[0]}; needs root and a writable cgroup tree)`;
  }
  return {
    wrap: (cmd, args) => ["/bin/sh", ["-c", `echo $$ > ${join(dir, "cgroup.procs")} && exec "$@"`, "sh", cmd, ...args]],
    peakMiB: () => {
      try {
        return Number(readFileSync(join(dir, files.peak), "utf8").trim()) / MiB;
      } catch {
        return null;
      }
    },
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // a cgroup directory goes with rmdir once empty; left behind it holds nothing
      }
    },
  };
}

/**
 * Drops the database's files from the page cache (GNU dd's nocache: posix_fadvise DONTNEED), so
 * that a capped process reading them is charged for the pages it brings in: pages already cached
 * stay charged to whichever cgroup read them first, and a cap would not see them. False where it
 * cannot (no GNU dd).
 */
function evictFromPageCache(dir: string): boolean {
  const r = spawnSync("/bin/sh", ["-c", 'for f in "$1"/*; do dd if="$f" iflag=nocache count=0 status=none || exit 1; done', "sh", dir], { encoding: "utf8" });
  return r.status === 0;
}

/** The direct-read child (`child`) in a fresh process, optionally wrapped (memoryCap); its figures, or why it failed. */
function runChild(dir: string, root: Uint8Array, wrap?: MemoryCap["wrap"]): ChildFigures | string {
  const args = ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "child", dir, toHex(root), String(ACCOUNTS)];
  const [cmd, argv] = wrap ? wrap(process.execPath, args) : [process.execPath, args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", maxBuffer: 64 * MiB });
  const line = r.stdout.split("\n").find((l) => l.startsWith("FIGURES "));
  if (r.status !== 0 || line === undefined) return `child failed (status ${r.status}, signal ${r.signal}): ${r.stderr.slice(-500)}`;
  return JSON.parse(line.slice(8)) as ChildFigures;
}

/**
 * The generated state: in a temporary directory, or with STATE_BENCH_DIR in that directory, reused
 * when it already holds a state of ACCOUNTS accounts (its root is kept beside it in root.json).
 */
async function generatedState(tmp: string): Promise<{ dir: string; root: Uint8Array; keep: boolean }> {
  const kept = process.env.STATE_BENCH_DIR;
  const dir = kept ? join(kept, `chain-${ACCOUNTS}`) : join(tmp, "chain");
  const meta = `${dir}.root.json`;
  if (kept && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, "utf8")) as { accounts: number; root: string };
    if (m.accounts === ACCOUNTS) {
      console.log(`  reusing the state generated in ${dir}; root ${m.root.slice(0, 16)}...`);
      return { dir, root: fromHex(m.root), keep: true };
    }
  }
  if (kept) {
    mkdirSync(kept, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
  }
  const g0 = performance.now();
  const root = await generate(dir, ACCOUNTS);
  console.log(`  generated in ${((performance.now() - g0) / 1000).toFixed(1)} s; root ${toHex(root).slice(0, 16)}...`);
  if (kept) writeFileSync(meta, JSON.stringify({ accounts: ACCOUNTS, root: toHex(root) }));
  return { dir, root, keep: kept !== undefined };
}

async function main(): Promise<void> {
  if (process.argv[2] === "child") return child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
  if (process.argv[2] === "rpc-child") return rpcChild(process.argv[3]!, process.argv[4]!);
  const tmp = mkdtempSync(join(tmpdir(), "cloudcoin-state-bench-"));
  try {
    if (ONLY !== "commit") await stateFigures(tmp);
    await commitFigures(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Figure 1: the state of ACCOUNTS accounts on disk. */
async function stateFigures(tmp: string): Promise<void> {
  console.log(`== 1. A state of ${fmtInt(ACCOUNTS)} accounts on disk (default cache ${DEFAULT_STATE_CACHE_BYTES / MiB} MiB) ==`);
  const { dir, root, keep } = await generatedState(tmp);
  const f = runChild(dir, root);
  if (typeof f === "string") throw new Error(f);
  const coldHot = f.coldPerSec / f.hotPerSec;
  console.log(`  open (rolling check + loadState): ${f.openMs.toFixed(0)} ms`);
  console.log(`  RSS after open: ${f.rssOpenMiB.toFixed(0)} MiB; after ${fmtInt(READS * 2)} account reads: ${f.rssAfterMiB.toFixed(0)} MiB (heap used ${f.heapUsedMiB.toFixed(0)} MiB)`);
  console.log(`    target <= ${TARGETS.rssMiB} MiB -> ${f.rssAfterMiB <= TARGETS.rssMiB ? "MET" : "MISSED"}`);
  if (f.rssAnonMiB !== null && f.rssFileMiB !== null) {
    console.log(`    of which anonymous ${f.rssAnonMiB.toFixed(0)} MiB, file-backed ${f.rssFileMiB.toFixed(0)} MiB (table files LevelDB maps; the database is ${f.dbMiB.toFixed(0)} MiB)`);
  }
  console.log(`  account reads in the store (ChainState.account: the store's cache, else one LevelDB read), ${fmtInt(READS)} random accounts: cold ${fmtInt(f.coldPerSec)}/s, hot ${fmtInt(f.hotPerSec)}/s`);
  console.log(`    cold / hot ${fmtRatio(coldHot)} -> ${verdict(coldHot, TARGETS.coldHot)}`);

  // What a wallet sees: state_getAccount over HTTP on the node's RPC server, a fresh process.
  const next = prng(11);
  const accounts = Array.from({ length: RPC_WARMUP + READS }, () => Math.floor(next() * ACCOUNTS));
  const hf = await httpColdHot(dir, toHex(root), accounts);
  const httpRatio = hf.coldPerSec / hf.hotPerSec;
  console.log(`  state_getAccount over HTTP (the node's RPC server, ${RPC_CONNECTIONS} connections), ${fmtInt(READS)} random accounts after ${fmtInt(RPC_WARMUP)} others:`);
  console.log(`    cold ${fmtInt(hf.coldPerSec)} req/s (${hf.coldCpuUs.toFixed(0)} µs CPU/req), hot ${fmtInt(hf.hotPerSec)} req/s (${hf.hotCpuUs.toFixed(0)} µs CPU/req); server RSS after ${hf.rssMiB === null ? "?" : hf.rssMiB.toFixed(0)} MiB`);
  console.log(`    cold / hot ${fmtRatio(httpRatio)} -> ${verdict(httpRatio, TARGETS.coldHot)}`);

  // Memory the kernel can take back: the same reads with the process capped at the RSS target
  // (a memory cgroup counting page cache too, no swap). Mapped table pages are reclaimed; a
  // node that needed more than the cap for itself would be killed.
  const cap = memoryCap(TARGETS.rssMiB * MiB);
  if (typeof cap === "string") {
    console.log(`  under a ${TARGETS.rssMiB} MiB memory cap: not measured: ${cap}`);
  } else {
    if (!evictFromPageCache(dir)) console.log(`  (could not drop the database from the page cache: pages cached before are not charged to the capped process)`);
    try {
      const capped = runChild(dir, root, cap.wrap);
      if (typeof capped === "string") {
        console.log(`  under a ${TARGETS.rssMiB} MiB memory cap (cgroup): FAILED: ${capped}`);
      } else {
        const peak = cap.peakMiB();
        console.log(`  under a ${TARGETS.rssMiB} MiB memory cap (cgroup, page cache counted): finished; RSS after ${capped.rssAfterMiB.toFixed(0)} MiB (anonymous ${capped.rssAnonMiB?.toFixed(0) ?? "?"}, file-backed ${capped.rssFileMiB?.toFixed(0) ?? "?"}), peak charged ${peak === null ? "?" : peak.toFixed(0)} MiB`);
        console.log(`    store reads: cold ${fmtInt(capped.coldPerSec)}/s, hot ${fmtInt(capped.hotPerSec)}/s`);
      }
    } finally {
      cap.remove();
    }
    // the RPC server too, in a cgroup of its own, under the same load as above
    const serverCap = memoryCap(TARGETS.rssMiB * MiB);
    if (typeof serverCap !== "string") {
      evictFromPageCache(dir);
      try {
        const ch = await httpColdHot(dir, toHex(root), accounts, serverCap);
        const peak = serverCap.peakMiB();
        console.log(`    state_getAccount over HTTP: cold ${fmtInt(ch.coldPerSec)} req/s, hot ${fmtInt(ch.hotPerSec)} req/s; server RSS after ${ch.rssMiB === null ? "?" : ch.rssMiB.toFixed(0)} MiB, peak charged ${peak === null ? "?" : peak.toFixed(0)} MiB -> runs within ${TARGETS.rssMiB} MiB: MET`);
      } catch (e) {
        console.log(`    state_getAccount over HTTP under the cap: FAILED: ${(e as Error).message.slice(0, 300)}`);
      } finally {
        serverCap.remove();
      }
    }
  }
  console.log(`  load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

/** Figure 2: the commit of a 10,000-transfer block against a raw batch. */
async function commitFigures(tmp: string): Promise<void> {
  console.log(`\n== 2. Commit of a 10,000-transfer block on a state of 100,000 accounts vs a raw batch ==`);
  const world = buildWorld({ senders: 2_000, totalAccounts: 100_000 });
  const c = await benchCommit(world, { txs: 10_000, reps: COMMIT_REPS, tmpDir: tmp, seed: 101 }, (s) => console.log(s));
  const mmm = (xs: readonly number[]) => `min ${Math.min(...xs).toFixed(0)} / median ${median(xs).toFixed(0)} / max ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`  ${fmtInt(c.ops)} batch operations; root (disk tree, cold cache) median ${c.rootMs.toFixed(0)} ms`);
  console.log(`  wall: commitBlock ${mmm(c.writeSamples)}; raw batch ${mmm(c.rawSamples)}`);
  console.log(`  CPU (this process, all threads): commitBlock ${mmm(c.writeCpuSamples)}; raw batch ${mmm(c.rawCpuSamples)}`);
  console.log(`    raw / commitBlock per repetition, wall: ${c.rawSamples.map((r, i) => fmtRatio(r / c.writeSamples[i]!)).join(" ")}; median ${fmtRatio(c.writeRatio)} -> ${verdict(c.writeRatio, TARGETS.commit)}`);
  console.log(`    raw / commitBlock per repetition, CPU:  ${c.rawCpuSamples.map((r, i) => fmtRatio(r / c.writeCpuSamples[i]!)).join(" ")}; median ${fmtRatio(c.cpuRatio)} -> ${verdict(c.cpuRatio, TARGETS.commit)}`);
  const u = benchCacheUpdate({ records: 12_000, nodes: 90_000, blocks: 8, reps: 3 });
  console.log(`  of which the state cache's update (12,000 records and 90,000 tree nodes, CPU per block): kept as a generation ${u.adoptMs.toFixed(1)} ms; put in one entry at a time, as before, ${u.setMs.toFixed(1)} ms`);
}

await main();
