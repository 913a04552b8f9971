/**
 * State sync of a large state (issue #20): "State sync of a 1,000,000-account state completes,
 * verified, and the node then follows the chain."
 *
 * A serving store holds STATE_SYNC_BENCH_ACCOUNTS accounts (default 1,000,000; generated straight
 * into its records and tree nodes as test/perf/state.ts does, then one real block on top, committed
 * with a real commit, so the snapshot is the state after block 1). A fresh store fetches it over
 * real libp2p hosts on 127.0.0.1 with the node's own client (p2p/state-sync.ts: offer checked
 * against the genesis set, manifest folded to the root, every chunk checked, installed, the root
 * checked again), then takes block 2 (with transfers) on top and must reach its state root.
 *
 * Ceiling, in the same run: the same 'S' and 'N' records copied from the serving database into an
 * empty one with classic-level batches, no network, no checks. The ratio copy / sync is what the
 * protocol and its verification cost on top of moving the bytes. Both hosts run in this process
 * (one core's worth). Timings are reported, never asserted; a root that does not match fails.
 *
 *   node --import tsx test/perf/state-sync.ts     (or: npm run bench state-sync)
 */
import { join } from "node:path";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { ClassicLevel } from "classic-level";
import pino from "pino";
import "../../modules/index.ts";
import { concatBytes, equalBytes, toHex, u64be, utf8 } from "../../primitives/bytes.ts";
import { sha256 } from "../../primitives/hash.ts";
import { pagedUpdate } from "../../chain/smt.ts";
import { VoteType, voteSignBytes, type Block, type Commit } from "../../chain/block.ts";
import { encodeAccount, StateKey, type StateChange } from "../../chain/state.ts";
import { BlockStore } from "../../chain/store.ts";
import { applyBlock, buildBlock } from "../../chain/transition.ts";
import { signTx } from "../../chain/tx.ts";
import { devnetFaucetKey, devnetGenesis, devnetValidatorKey } from "../../genesis/devnet.ts";
import { genesisState } from "../../genesis/schema.ts";
import { P2PHost } from "../../p2p/host.ts";
import { snapshotHandler, snapshotProtocol, StateSyncClient } from "../../p2p/state-sync.ts";
import { benchTempDir } from "./lifecycle.ts";
import { fmtInt, fmtRatio } from "./stats.ts";

const ACCOUNTS = Number(process.env.STATE_SYNC_BENCH_ACCOUNTS ?? 1_000_000);
const CHUNK = 100_000;
const MiB = 1024 * 1024;
const g = devnetGenesis();
const chain = { chainId: g.chainId, genesisHash: g.hash, genesisState: () => genesisState(g) };
const validator = devnetValidatorKey();
const generatedKey = (i: number): Uint8Array => sha256(utf8.encode("state-sync-bench"), u64be(i));
const S = (k: Uint8Array) => concatBytes(utf8.encode("S"), k);
const N = (p: Uint8Array) => concatBytes(utf8.encode("N"), p);

function commitOf(block: Block): Commit {
  const msg = voteSignBytes(g.chainId, VoteType.PRECOMMIT, block.header.height, 0, block.hash);
  return { height: block.header.height, round: 0, blockHash: block.hash, signatures: [{ validatorIndex: 0, signature: validator.sign(msg) }] };
}

/** Adds `n` generated accounts to the (genesis) store at `dir`; returns the new root. */
async function generate(dir: string, n: number): Promise<Uint8Array> {
  await (await BlockStore.open(dir, chain)).close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
  await db.open({ compression: false });
  let root: Uint8Array = new Uint8Array(32);
  try {
    for (let from = 0; from < n; from += CHUNK) {
      const changes: StateChange[] = [];
      for (let i = from; i < Math.min(n, from + CHUNK); i++) changes.push([StateKey.account(generatedKey(i)), encodeAccount({ balance: 1_000_000n + BigInt(i), nonce: 0n, staked: 0n, unbonding: [] })]);
      const r = pagedUpdate((p) => db.getSync(N(p)), changes);
      const batch = db.batch();
      for (const [k, v] of changes) batch.put(S(k), v!);
      for (const [p, rec] of r.writes) {
        if (rec === null) batch.del(N(p));
        else batch.put(N(p), rec);
      }
      await batch.write();
      root = r.root;
    }
  } finally {
    await db.close();
  }
  return root;
}

/** The ceiling: every 'S' and 'N' record copied into an empty database in batches. */
async function rawCopy(from: string, to: string): Promise<{ ms: number; records: number; bytes: number }> {
  const src = new ClassicLevel<Uint8Array, Uint8Array>(from, { keyEncoding: "view", valueEncoding: "view" });
  const dst = new ClassicLevel<Uint8Array, Uint8Array>(to, { keyEncoding: "view", valueEncoding: "view" });
  await src.open({ compression: false });
  await dst.open({ compression: false });
  const t0 = performance.now();
  let records = 0;
  let bytes = 0;
  try {
    for (const prefix of [0x53, 0x4e]) {
      let batch = dst.batch();
      for await (const [k, v] of src.iterator({ gte: new Uint8Array([prefix]), lt: new Uint8Array([prefix + 1]) })) {
        batch.put(k, v);
        records++;
        bytes += k.length + v.length;
        if (batch.length >= 10_000) {
          await batch.write();
          batch = dst.batch();
        }
      }
      await batch.write({ sync: true });
    }
  } finally {
    await src.close();
    await dst.close();
  }
  return { ms: performance.now() - t0, records, bytes };
}

async function main(): Promise<void> {
  const tmp = await benchTempDir("cloudcoin-statesync-bench-");
  console.log(`== State sync of a state of ${fmtInt(ACCOUNTS)} accounts over libp2p on 127.0.0.1 ==`);
  const srcDir = join(tmp, "source");
  const g0 = performance.now();
  const root0 = await generate(srcDir, ACCOUNTS);
  const source = await BlockStore.open(srcDir, chain);
  const state0 = await source.loadState(() => root0);
  // block 1 on top: the snapshot is a committed block's state
  const b1 = buildBlock(state0, [], { chainId: g.chainId, params: g.params, proposer: validator, time: g.genesisTime + 1000n, lastCommit: null });
  const c1 = commitOf(b1.block);
  await source.commitBlock(b1.block, c1, b1);
  console.log(`  serving store built in ${((performance.now() - g0) / 1000).toFixed(1)} s (block 1 on the generated state)`);

  const silent = pino({ level: "silent" });
  const server = await P2PHost.start({ privateKey: await generateKeyPair("Ed25519"), listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [], log: silent, topics: new Map(), protocols: new Map([[snapshotProtocol(g.chainId), snapshotHandler(source)]]) });
  const client = await P2PHost.start({ privateKey: await generateKeyPair("Ed25519"), listen: [], bootstrap: [server.listenAddresses()[0]!], log: silent, topics: new Map(), protocols: new Map() });
  const target = await BlockStore.open(join(tmp, "target"), chain);
  try {
    const progress = pino({ level: "info" }, { write: (s: string) => {
      const l = JSON.parse(s) as Record<string, unknown>;
      if (l.msg === "state sync: fetching chunks") console.log(`    ${l.chunks}/${l.total} chunks, ${fmtInt(Number(l.records))} records, ${l.chunksPerSecond} chunks/s, ETA ${l.etaSeconds} s`);
    } });
    const ss = new StateSyncClient({
      net: { connectedPeers: () => client.peers().map((p) => p.peerId), request: (p, proto, d, max) => client.request(p, proto, d, max, 60_000), penalize: (p, n, r) => client.penalize(p, n, r) },
      target,
      chainId: g.chainId,
      genesisValidators: genesisState(g).validators(),
      log: progress,
      opts: { timeoutMs: 3_600_000 },
    });
    const rssBefore = process.memoryUsage().rss / MiB;
    const r = await ss.run();
    const syncMs = r.ms;
    const rssAfter = process.memoryUsage().rss / MiB;
    // finishStateSync checked the written tree's root; loadState checks it again against block 1
    const state = await target.loadState(() => new Uint8Array(32));
    if (!equalBytes(state.root(), b1.block.header.stateRoot)) throw new Error("the synced state's root is not block 1's");
    console.log(`  synced: ${fmtInt(r.records)} records (${(r.bytes / MiB).toFixed(1)} MiB of keys and values) in ${r.chunks} chunks, ${(syncMs / 1000).toFixed(1)} s`);
    console.log(`    ${fmtInt(r.records / (syncMs / 1000))} records/s; RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB (both stores and hosts in this process); root ${toHex(state.root()).slice(0, 16)}... = block 1's`);

    // the node then follows the chain: block 2 with transfers, applied over the synced state
    const faucet = devnetFaucetKey();
    const txs = Array.from({ length: 100 }, (_, i) => signTx({ chainId: g.chainId, nonce: BigInt(i), fee: 1000n, op: { type: "transfer", to: generatedKey(i * 7919), amount: 1n + BigInt(i) } }, faucet));
    const b2 = buildBlock(b1.state, txs, { chainId: g.chainId, params: g.params, proposer: validator, time: g.genesisTime + 2000n, lastCommit: c1 });
    if (b2.rejected.length > 0) throw new Error(`block 2 left out ${b2.rejected.length} transfers`);
    const applied = applyBlock(state, b2.block, g.params, g.chainId);
    await target.commitBlock(b2.block, commitOf(b2.block), applied);
    if (!equalBytes((await target.loadState(() => new Uint8Array(32))).root(), b2.block.header.stateRoot)) throw new Error("block 2's root not reached");
    console.log(`  then block 2 (${txs.length} transfers) applied over the synced state: root matches the chain's`);

    await client.stop();
    await server.stop();
    await source.close(); // LevelDB locks its directory: the copy opens it itself
    const copy = await rawCopy(srcDir, join(tmp, "copy"));
    console.log(`  ceiling: raw copy of the same ${fmtInt(copy.records)} 'S' and 'N' records into an empty database: ${(copy.ms / 1000).toFixed(1)} s`);
    console.log(`    copy / sync ${fmtRatio(copy.ms / syncMs)} (what fetching over the network and checking every chunk costs)`);
  } finally {
    await client.stop().catch(() => undefined);
    await server.stop().catch(() => undefined);
    await target.close();
    if (source.head.height > 0n) await source.close().catch(() => undefined);
  }
}

await main();
