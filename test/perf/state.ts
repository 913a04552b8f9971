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
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
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
import { benchCommit } from "./commit.ts";
import { buildWorld, prng } from "./fixtures.ts";
import { fmtInt, fmtRatio, verdict } from "./stats.ts";

const ACCOUNTS = Number(process.env.STATE_BENCH_ACCOUNTS ?? 1_000_000);
const READS = 100_000;
const CHUNK = 100_000;
const TARGETS = { rssMiB: 400, coldHot: 0.5, commit: 0.7 };
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

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** In a fresh process: open the store as the node does, read accounts cold then hot. */
async function child(dir: string, rootHex: string, n: number): Promise<void> {
  const root = fromHex(rootHex);
  const t0 = performance.now();
  const store = await BlockStore.open(dir, chain);
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

async function main(): Promise<void> {
  if (process.argv[2] === "child") return child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
  const tmp = mkdtempSync(join(tmpdir(), "cloudcoin-state-bench-"));
  try {
    console.log(`== 1. A state of ${fmtInt(ACCOUNTS)} accounts on disk (default cache ${DEFAULT_STATE_CACHE_BYTES / MiB} MiB) ==`);
    const dir = join(tmp, "chain");
    const g0 = performance.now();
    const root = await generate(dir, ACCOUNTS);
    console.log(`  generated in ${((performance.now() - g0) / 1000).toFixed(1)} s; root ${toHex(root).slice(0, 16)}...`);
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "child", dir, toHex(root), String(ACCOUNTS)], { encoding: "utf8" });
    const line = r.stdout.split("\n").find((l) => l.startsWith("FIGURES "));
    if (r.status !== 0 || line === undefined) throw new Error(`child failed (${r.status}): ${r.stderr}`);
    const f = JSON.parse(line.slice(8)) as ChildFigures;
    const coldHot = f.coldPerSec / f.hotPerSec;
    console.log(`  open (rolling check + loadState): ${f.openMs.toFixed(0)} ms`);
    console.log(`  RSS after open: ${f.rssOpenMiB.toFixed(0)} MiB; after ${fmtInt(READS * 2)} account reads: ${f.rssAfterMiB.toFixed(0)} MiB (heap used ${f.heapUsedMiB.toFixed(0)} MiB)`);
    console.log(`    target <= ${TARGETS.rssMiB} MiB -> ${f.rssAfterMiB <= TARGETS.rssMiB ? "MET" : "MISSED"}`);
    if (f.rssAnonMiB !== null && f.rssFileMiB !== null) {
      console.log(`    of which anonymous ${f.rssAnonMiB.toFixed(0)} MiB, file-backed ${f.rssFileMiB.toFixed(0)} MiB (table files LevelDB maps; the database is ${f.dbMiB.toFixed(0)} MiB)`);
    }
    console.log(`  account reads, ${fmtInt(READS)} random accounts: cold ${fmtInt(f.coldPerSec)}/s, hot ${fmtInt(f.hotPerSec)}/s`);
    console.log(`    cold / hot ${fmtRatio(coldHot)} -> ${verdict(coldHot, TARGETS.coldHot)}`);
    rmSync(dir, { recursive: true, force: true });

    console.log(`\n== 2. Commit of a 10,000-transfer block on a state of 100,000 accounts vs a raw batch ==`);
    const world = buildWorld({ senders: 2_000, totalAccounts: 100_000 });
    const c = await benchCommit(world, { txs: 10_000, reps: 3, tmpDir: tmp, seed: 101 }, (s) => console.log(s));
    console.log(`  ${fmtInt(c.puts)} puts; root (disk tree, cold cache) ${c.rootMs.toFixed(0)} ms; commitBlock ${c.writeMs.toFixed(0)} ms; raw batch ${c.rawWriteMs.toFixed(0)} ms`);
    console.log(`    raw / commitBlock ${fmtRatio(c.writeRatio)} -> ${verdict(c.writeRatio, TARGETS.commit)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
