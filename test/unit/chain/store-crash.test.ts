/**
 * Crash consistency of chain/store.ts (docs/protocol.md section 2: one atomic batch per block, so a
 * crash leaves either the old block or the new one, never half).
 *
 * A child process (fixtures/commit-loop.ts) commits blocks in a loop on a real classic-level
 * store; the test SIGKILLs it mid-loop, reopens the store and checks that everything agrees with
 * the head, then restarts the child on the same directory (it resumes from the stored head) and
 * kills it again, six times in all.
 */
import t, { type Test } from "tap";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClassicLevel } from "classic-level";
import { readU64be, toHex } from "../../../primitives/bytes.ts";
import { verifyCommit, type Block } from "../../../chain/block.ts";
import { totalHeld, totalHeldOf } from "../../../chain/state.ts";
import { BlockStore } from "../../../chain/store.ts";
import { applyBlock } from "../../../chain/transition.ts";
import { txParticipants } from "../../../chain/tx.ts";
import { devnetFaucetKey, devnetGenesis, devnetValidatorKey } from "../../../genesis/devnet.ts";
import { genesisState } from "../../../genesis/schema.ts";

const g = devnetGenesis();
const chainId = g.chainId;
const fixture = fileURLToPath(new URL("./fixtures/commit-loop.ts", import.meta.url));
const chain = { chainId, genesisHash: g.hash, genesisState: () => genesisState(g) };
const genesisRoot = () => genesisState(g).root();
const hex = toHex;

/** Blocks to wait for before each kill, and a little extra delay so the kill lands at different points of the loop. */
const RUNS = [
  { blocks: 3, extraDelayMs: 0 },
  { blocks: 7, extraDelayMs: 3 },
  { blocks: 12, extraDelayMs: 1 },
  // three more: a kill lands inside a write only now and then (a block takes a few ms), so
  // more kills make a non-atomic commit far more likely to be caught
  { blocks: 2, extraDelayMs: 2 },
  { blocks: 5, extraDelayMs: 0 },
  { blocks: 9, extraDelayMs: 4 },
] as const;
/** Kill the child after this long even if it has not printed enough. */
const KILL_AFTER_MS = 8_000;
/** Runs past the third start only before this much time has gone by, so the test stays well under a minute. */
const EXTRA_RUNS_BEFORE_MS = 30_000;

// Raw key prefixes of the layout documented at the top of chain/store.ts.
const RAW = { block: 0x42, hash: 0x48, commit: 0x4b, receipts: 0x52, changes: 0x43, tx: 0x54, account: 0x41 } as const;

interface RunResult {
  start: bigint | undefined;
  committed: bigint[];
  reachedTarget: boolean;
}

/** Runs the child until it has printed `blocks` committed heights (or the time limit), then SIGKILLs it. */
function runChild(t: Test, dir: string, blocks: number, extraDelayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", fixture, dir], { stdio: ["ignore", "pipe", "pipe"] });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const result: RunResult = { start: undefined, committed: [], reachedTarget: false };
    let killed = false;
    let stdoutBuf = "";
    let stderr = "";
    const kill = () => {
      if (killed) return;
      killed = true;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(kill, KILL_AFTER_MS);
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.stdout!.on("data", (d: Buffer) => {
      stdoutBuf += d.toString("utf8");
      let nl: number;
      while ((nl = stdoutBuf.indexOf("\n")) >= 0) {
        const line = stdoutBuf.slice(0, nl);
        stdoutBuf = stdoutBuf.slice(nl + 1);
        const m = /^(start|committed) (\d+)$/.exec(line);
        if (!m) {
          reject(new Error(`unexpected child output: ${JSON.stringify(line)}`));
          kill();
          return;
        }
        if (m[1] === "start") result.start = BigInt(m[2]!);
        else result.committed.push(BigInt(m[2]!));
        if (!result.reachedTarget && result.committed.length >= blocks) {
          result.reachedTarget = true;
          if (extraDelayMs > 0) setTimeout(kill, extraDelayMs);
          else kill();
        }
      }
    });
    child.on("error", reject);
    // "close", not "exit": every line the child wrote before it died is read by then.
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (!killed || signal !== "SIGKILL") {
        reject(new Error(`child exited by itself (code ${code}, signal ${signal}):\n${stderr}`));
        return;
      }
      resolve(result);
    });
  });
}

async function rawHeights(db: ClassicLevel<Uint8Array, Uint8Array>, prefix: number): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const k of db.keys({ gt: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) out.push(readU64be(k, 1));
  return out;
}
async function rawValues(db: ClassicLevel<Uint8Array, Uint8Array>, prefix: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const v of db.values({ gt: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) out.push(v);
  return out;
}

async function fromAsync<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const range = (n: bigint): bigint[] => Array.from({ length: Number(n) }, (_, i) => BigInt(i + 1));

/** Reopens the store after a crash and checks that everything agrees with its head. Returns the head height. */
async function checkConsistent(t: Test, dir: string): Promise<bigint> {
  const store = await BlockStore.open(dir, chain);
  let head: bigint;
  let totalTxs = 0;
  let totalAccountEntries = 0;
  try {
    head = store.head.height;
    // full: every state record, not only the tree's root, must be the head's
    const state = await store.loadState(genesisRoot, { full: true });
    const meta = state.meta();
    t.equal(meta.height, head, "state is at the head height");
    t.equal(hex(state.lastBlockHash), hex(store.head.hash), "loaded state is labelled with the head hash");
    if (head > 0n) {
      const headBlock = await store.getBlock(head);
      t.ok(headBlock, "the head block exists");
      t.equal(headBlock && hex(headBlock.hash), hex(store.head.hash), "head hash is the head block's");
      t.equal(headBlock && hex(headBlock.header.stateRoot), hex(state.root()), "loadState root == head block's stateRoot");
    }
    t.equal(await store.getCommit(head + 1n), undefined, "no commit above the head");
    t.equal(await store.getReceipts(head + 1n), undefined, "no receipts above the head");
    t.equal(await store.getStateChanges(head + 1n), undefined, "no state changes above the head");
    t.equal(totalHeld(state), meta.genesisSupply + meta.minted - meta.burned, "supply invariant (state read through the tree)");
    t.equal(totalHeldOf(await fromAsync(store.stateRecords())), meta.genesisSupply + meta.minted - meta.burned, "supply invariant (the stored records)");
    // the recent heights the writer kept (stateHistory 3 in fixtures/commit-loop.ts) are whole too
    for (let h = head - 1n; h >= 0n && h >= head - 3n; h--) {
      const old = await store.stateAt(h);
      const want = h === 0n ? genesisRoot() : (await store.getBlock(h))!.header.stateRoot;
      t.equal(hex(old.root()), hex(want), `the kept state at ${h} has its header's root`);
      const m = old.meta();
      t.equal(totalHeld(old), m.genesisSupply + m.minted - m.burned, `supply invariant at ${h}`);
    }

    // Replay the stored chain from genesis: every block is valid on its parent, its commit
    // finalizes it, and the stored receipts, changes and tx index are what executing it gives.
    let replay = genesisState(g);
    const problems: string[] = [];
    const expectedIndex = new Map<string, string[]>();
    for (const h of range(head)) {
      const block: Block | undefined = await store.getBlock(h);
      if (!block) {
        problems.push(`block ${h} missing`);
        break;
      }
      const res = applyBlock(replay, block, g.params, chainId);
      replay = res.state;
      const commit = await store.getCommit(h);
      if (!commit) problems.push(`commit ${h} missing`);
      else verifyCommit(chainId, replay.validators(), h, block.hash, commit);
      const byHash = await store.getBlockByHash(block.hash);
      if (!byHash || byHash.header.height !== h) problems.push(`block ${h} not found by hash`);
      const receipts = await store.getReceipts(h);
      if (!receipts || receipts.length !== res.receipts.length || receipts.some((r, i) => hex(r.txHash) !== hex(res.receipts[i]!.txHash) || r.ok !== res.receipts[i]!.ok || r.code !== res.receipts[i]!.code || r.fee !== res.receipts[i]!.fee)) {
        problems.push(`receipts ${h} differ from execution`);
      }
      const changes = await store.getStateChanges(h);
      const asText = (cs: readonly (readonly [Uint8Array, Uint8Array | null])[]) => JSON.stringify(cs.map(([k, v]) => [hex(k), v && hex(v)]));
      if (!changes || asText(changes) !== asText(res.changes)) problems.push(`state changes ${h} differ from execution`);
      for (const [i, tx] of block.txs.entries()) {
        totalTxs++;
        const st = await store.getTx(tx.hash);
        if (!st) problems.push(`tx ${h}/${i} not found by hash`);
        else if (st.height !== h || st.index !== i || hex(st.receipt.txHash) !== hex(tx.hash)) problems.push(`tx ${h}/${i} found at ${st.height}/${st.index}`);
        for (const who of txParticipants(tx)) {
          totalAccountEntries++;
          const k = hex(who);
          expectedIndex.set(k, [`${h}/${i}/${hex(tx.hash)}`, ...(expectedIndex.get(k) ?? [])]);
        }
      }
    }
    t.same(problems, [], `blocks 1..${head}: present, valid, indexed`);
    t.equal(hex(replay.root()), hex(state.root()), "replaying the stored blocks gives the stored state");

    for (const pk of [devnetFaucetKey().publicKey, devnetValidatorKey().publicKey]) if (!expectedIndex.has(hex(pk))) expectedIndex.set(hex(pk), []);
    const indexProblems: string[] = [];
    for (const [k, want] of expectedIndex) {
      const got = (await store.listAccountTxs(Buffer.from(k, "hex"), { limit: 1_000_000 })).map((e) => `${e.height}/${e.index}/${hex(e.hash)}`);
      if (JSON.stringify(got) !== JSON.stringify(want)) indexProblems.push(`account ${k.slice(0, 8)}: ${got.length} entries, expected ${want.length}`);
    }
    t.same(indexProblems, [], "each account's index holds exactly the txs of the blocks");
  } finally {
    await store.close();
  }

  // Nothing of a half-written block anywhere in the database.
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open();
  try {
    const heights = range(head);
    t.same(await rawHeights(db, RAW.block), heights, "block records are exactly 1..head");
    t.same(await rawHeights(db, RAW.commit), heights, "commit records are exactly 1..head");
    t.same(await rawHeights(db, RAW.receipts), heights, "receipt records are exactly 1..head");
    t.same(await rawHeights(db, RAW.changes), heights, "state-change records are exactly 1..head");
    const hashIndex = (await rawValues(db, RAW.hash)).map((v) => readU64be(v)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    t.same(hashIndex, heights, "hash index entries are exactly 1..head");
    const txIndex = await rawValues(db, RAW.tx);
    t.equal(txIndex.length, totalTxs, "one tx index entry per stored tx");
    t.ok(txIndex.every((v) => v.length === 12), "tx index values are fixed-width (height, index)");
    t.notOk(txIndex.some((v) => readU64be(v) > head), "no tx index entry above the head");
    t.equal((await rawValues(db, RAW.account)).length, totalAccountEntries, "one account index entry per tx participant");
  } finally {
    await db.close();
  }
  return head;
}

t.test("SIGKILL during the commit loop leaves a consistent store, kill after kill", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-store-crash-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

  const started = Date.now();
  let observedHead = 0n;
  let printedDurable = 0n;
  for (const [i, run] of RUNS.entries()) {
    if (i >= 3 && Date.now() - started > EXTRA_RUNS_BEFORE_MS) {
      t.comment(`slow machine: stopping after ${i} runs`);
      break;
    }
    const r = await runChild(t, dir, run.blocks, run.extraDelayMs);
    t.equal(r.start, observedHead, `run ${i + 1}: the child resumed from the head the last reopen saw`);
    t.same(r.committed, r.committed.map((_, j) => observedHead + BigInt(j) + 1n), `run ${i + 1}: consecutive heights from the head`);
    if (!r.reachedTarget) t.comment(`run ${i + 1}: only ${r.committed.length} of ${run.blocks} blocks before the ${KILL_AFTER_MS} ms limit`);
    printedDurable = r.committed[r.committed.length - 1] ?? observedHead;

    const head = await checkConsistent(t, dir);
    t.ok(head >= printedDurable, `run ${i + 1}: head ${head} is not behind the last height printed as committed (${printedDurable})`);
    t.ok(head <= printedDurable + 1n, `run ${i + 1}: at most the block in flight was committed without being printed`);
    observedHead = head;
  }
  t.ok(observedHead > 0n, `blocks were committed across the runs (head ${observedHead})`);
});
