/**
 * Start-up cost of the block store's integrity checks (chain/store.ts, issue #21) on a store of N
 * blocks (default 1000, a few transfers each): open with no check, the rolling check over all N
 * heights (the first start after they were committed), the rolling check with nothing new, and the
 * full check (state replayed from genesis); and the cost of the head mark written per commit.
 *   node --import tsx test/perf/store-check.ts [N]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { open, rename } from "node:fs/promises";
import { BlockStore } from "../../chain/store.ts";
import { genesisState } from "../../genesis/schema.ts";
import { advance, newTestChain, testKey, txNext } from "../helpers/chain.ts";

const n = Number(process.argv[2] ?? 1000);
const chain = newTestChain();
const co = { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) };
const root = fs.mkdtempSync(path.join(os.tmpdir(), "store-check-"));
const dir = path.join(root, "chain");
try {
  const s = await BlockStore.open(dir, co);
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const txs = Array.from({ length: 4 }, (_, j) => txNext(chain, chain.faucet, { type: "transfer", to: testKey(j).publicKey, amount: 1000n }));
    const b = advance(chain, txs);
    await s.commitBlock(b.block, chain.lastCommit!, b);
  }
  const buildAndCommit = performance.now() - t0;
  await s.close();
  const timeOpen = async (opts: Parameters<typeof BlockStore.open>[2]): Promise<number> => {
    const t = performance.now();
    const st = await BlockStore.open(dir, co, opts);
    await st.loadState(() => genesisState(chain.genesis).root());
    const ms = performance.now() - t;
    await st.close();
    return ms;
  };
  const none = await timeOpen({ check: "none" });
  const rollingAll = await timeOpen({ check: "rolling" });
  const rollingNone = await timeOpen({ check: "rolling" });
  const none2 = await timeOpen({ check: "none" });
  const full = await timeOpen({ check: "full" });
  // the head mark alone, as commitBlock writes it
  const f = path.join(root, "mark");
  t0 = performance.now();
  for (let i = 0; i < 200; i++) {
    const fh = await open(`${f}.tmp`, "w");
    await fh.writeFile(JSON.stringify({ height: String(i), hash: "00".repeat(32) }));
    await fh.close();
    await rename(`${f}.tmp`, f);
  }
  const markMs = (performance.now() - t0) / 200;
  const r = (x: number) => Math.round(x);
  console.log(JSON.stringify({ blocks: n, buildAndCommitMs: r(buildAndCommit), openNoCheckMs: [r(none), r(none2)], openRollingAllHeightsMs: r(rollingAll), openRollingNothingNewMs: r(rollingNone), openFullMs: r(full), headMarkPerCommitMsNoFsync: markMs.toFixed(2), load: os.loadavg().map((x) => x.toFixed(2)) }));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
