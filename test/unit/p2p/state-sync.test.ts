/**
 * The state sync protocol (p2p/state-sync.ts) over real libp2p hosts on 127.0.0.1 and real block
 * stores in temp dirs: a fresh node installs an honest peer's snapshot (chunks fetched from every
 * peer offering it, some in several pages); a peer that forges a record is penalized and its chunks
 * come from the other; malformed requests cost the requester, a height no longer kept answers null.
 */
import t, { type Test } from "tap";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { toHex } from "../../../primitives/bytes.ts";
import { asArray, decode, encode } from "../../../primitives/codec.ts";
import type { Block, Commit } from "../../../chain/block.ts";
import { BlockStore } from "../../../chain/store.ts";
import type { BuiltBlock } from "../../../chain/transition.ts";
import { StateSyncErrorCode, type TrustRoot } from "../../../chain/snapshot.ts";
import { genesisState, type Genesis } from "../../../genesis/schema.ts";
import { P2PHost, PeerMisbehaviour, type RequestHandler } from "../../../p2p/host.ts";
import {
  decodeChunkPage,
  decodeOffer,
  encodeChunkRequest,
  encodeLightBlockRequest,
  encodeManifestRequest,
  encodeOfferRequest,
  offerHeight,
  snapshotHandler,
  snapshotProtocol,
  StateSyncClient,
} from "../../../p2p/state-sync.ts";
import { BlockSync, decodeBlocks, encodeBlocksRequest, storeBlockSource, syncHandler } from "../../../p2p/sync.ts";
import { verifyCommit } from "../../../chain/block.ts";
import { applyBlock } from "../../../chain/transition.ts";
import { advance, fundingChain, newTestChain, testKey, tx, type TestChain } from "../../helpers/chain.ts";

const log = pino({ level: "silent" });
const chainOf = (gen: Genesis) => ({ chainId: gen.chainId, genesisHash: gen.hash, genesisState: () => genesisState(gen) });

function tmpDir(t: Test, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-ss-p2p-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

interface Made {
  readonly chain: TestChain;
  readonly blocks: { block: Block; commit: Commit; built: BuiltBlock }[];
}
const makeChain = (n: number, perBlock = 12): Made => fundingChain(n, perBlock);

async function storeWith(t: Test, made: Made, name: string, history = 100): Promise<BlockStore> {
  const store = await BlockStore.open(tmpDir(t, name), chainOf(made.chain.genesis), { stateHistory: history });
  t.teardown(() => store.close());
  for (const b of made.blocks) await store.commitBlock(b.block, b.commit, b.built);
  return store;
}

async function host(t: Test, protocols: Map<string, RequestHandler>, bootstrap: string[] = []): Promise<P2PHost> {
  const h = await P2PHost.start({ privateKey: await generateKeyPair("Ed25519"), listen: bootstrap.length === 0 ? ["/ip4/127.0.0.1/tcp/0"] : [], bootstrap, log, topics: new Map(), protocols });
  t.teardown(() => h.stop());
  return h;
}

/** A handler that serves `inner`'s answers but changes the value of one record in every chunk page. */
function forging(inner: RequestHandler): RequestHandler {
  return {
    maxRequestBytes: inner.maxRequestBytes,
    async respond(req, from) {
      const res = await inner.respond(req, from);
      if (asArray(decode(req), "req")[0] !== 2) return res;
      const page = decodeChunkPage(res);
      if (page === null || page.records.length === 0) return res;
      page.records[0] = [page.records[0]![0], new Uint8Array([0xde, 0xad])];
      return encode([page.records, page.more]);
    },
  };
}

t.test("offerHeight: a multiple of the interval still kept, else the head", async (t) => {
  t.equal(offerHeight({ head: { height: 0n }, stateFrom: 0n, base: 1n }, 10), undefined);
  t.equal(offerHeight({ head: { height: 7n }, stateFrom: 0n, base: 1n }, 10), 7n);
  t.equal(offerHeight({ head: { height: 27n }, stateFrom: 0n, base: 1n }, 10), 20n);
  t.equal(offerHeight({ head: { height: 27n }, stateFrom: 22n, base: 1n }, 10), 27n);
  t.equal(offerHeight({ head: { height: 27n }, stateFrom: 15n, base: 21n }, 10), 27n);
});

t.test("the server: malformed requests are the requester's fault; a height not kept answers null", async (t) => {
  const made = makeChain(5);
  const store = await storeWith(t, made, "s", 2);
  const h = snapshotHandler(store, { depth: 4, interval: 1 });
  for (const bad of [new Uint8Array([0xff]), encode([9]), encode([1]), encode([2, 4, 1 << 4, null]), encode([2, 4, 0, new Uint8Array(5)]), encode("x")]) {
    const e = await h.respond(bad, "p").then(() => undefined, (e: unknown) => e);
    t.ok(e instanceof PeerMisbehaviour && e.points > 0, `refused as the requester's fault: ${toHex(bad)}`);
  }
  const offer = decodeOffer(await h.respond(encodeOfferRequest(), "p"));
  t.equal(offer?.height, 5n, "the head is offered with interval 1");
  t.equal(decode(await h.respond(encodeManifestRequest(1n), "p")), null, "manifest of a pruned height: null");
  t.equal(decode(await h.respond(encodeChunkRequest(1n, 0, null), "p")), null, "chunk of a pruned height: null");
  t.not(decode(await h.respond(encodeManifestRequest(5n), "p")), null);
});

t.test("a fresh node installs the snapshot from its peers; a forging peer is penalized and avoided", async (t) => {
  const made = makeChain(12);
  const honestStore = await storeWith(t, made, "honest");
  const lyingStore = await storeWith(t, made, "lying");
  const opts = { depth: 6, interval: 5, pageBytes: 200 };
  const honest = await host(t, new Map([[snapshotProtocol(made.chain.genesis.chainId), snapshotHandler(honestStore, opts)]]));
  const liar = await host(t, new Map([[snapshotProtocol(made.chain.genesis.chainId), forging(snapshotHandler(lyingStore, opts))]]));
  const client = await host(t, new Map(), [honest.listenAddresses()[0]!, liar.listenAddresses()[0]!]);
  const target = await BlockStore.open(tmpDir(t, "fresh"), chainOf(made.chain.genesis));
  t.teardown(() => target.close());

  const ss = new StateSyncClient({
    net: { connectedPeers: () => client.peers().map((p) => p.peerId), request: (p, proto, d, max) => client.request(p, proto, d, max), penalize: (p, n, r) => client.penalize(p, n, r) },
    target,
    chainId: made.chain.genesis.chainId,
    genesisValidators: genesisState(made.chain.genesis).validators(),
    log,
    opts: { timeoutMs: 30_000, concurrency: 4 },
  });
  // wait for both peers, so that both are offered chunks to serve
  for (let i = 0; i < 100 && client.peers().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(client.peers().length, 2, "connected to both peers");
  const r = await ss.run();
  t.equal(r.height, 10n, "the latest multiple of the interval");
  t.ok(r.chunks > 1 && r.records > 100, `${r.chunks} chunks, ${r.records} records`);
  t.equal(target.head.height, 10n);
  t.equal(target.base, 10n);
  const state = await target.loadState(() => new Uint8Array(32), { full: true });
  t.equal(toHex(state.root()), toHex(made.blocks[9]!.block.header.stateRoot));
  t.ok(client.banned().some((b) => b.peerId === liar.peerId), "the forging peer is banned");
  t.notOk(client.banned().some((b) => b.peerId === honest.peerId), "the honest one is not");
  // and the blocks after the snapshot apply over it
  await target.commitBlock(made.blocks[10]!.block, made.blocks[10]!.commit, made.blocks[10]!.built);
  t.equal(target.head.height, 11n);
});

t.test("no peer with a snapshot: STATE_SYNC_NO_SNAPSHOT when the time is up", async (t) => {
  const made = makeChain(1);
  const target = await BlockStore.open(tmpDir(t, "fresh"), chainOf(made.chain.genesis));
  t.teardown(() => target.close());
  const ss = new StateSyncClient({
    net: { connectedPeers: () => [], request: () => Promise.reject(new Error("no")), penalize: () => undefined },
    target,
    chainId: made.chain.genesis.chainId,
    genesisValidators: genesisState(made.chain.genesis).validators(),
    log,
    opts: { timeoutMs: 300 },
  });
  await t.rejects(ss.run(), { code: StateSyncErrorCode.NO_SNAPSHOT });
  t.equal(target.head.height, 0n);
});

/**
 * Twelve blocks in which four new validators join (from height 3) and the four genesis validators
 * leave (at 6): from height 6 on, the set that signs shares no key with the genesis set.
 */
function setChangeChain(): Made {
  const P = 1_000_000_000_000n;
  const old = [testKey(910), testKey(911), testKey(912), testKey(913)];
  const fresh = [testKey(920), testKey(921), testKey(922), testKey(923)];
  const chain = newTestChain({ validators: old.map((key) => ({ key, power: P })), balances: fresh.map((key) => ({ key, amount: 10n * P })) });
  chain.keys.push(...fresh);
  const made: Made = { chain, blocks: [] };
  const step = (txs: Parameters<typeof advance>[1] = []) => {
    const built = advance(chain, txs);
    made.blocks.push({ block: built.block, commit: chain.lastCommit!, built });
  };
  step(fresh.flatMap((k) => [tx(chain, k, 0n, { type: "stake", amount: P }), tx(chain, k, 1n, { type: "validator.register", name: "fresh" })]));
  step();
  step();
  step(old.map((k) => tx(chain, k, chain.state.account(k.publicKey).nonce, { type: "unstake", amount: P })));
  for (let i = 0; i < 8; i++) step(); // 5..12: the old set left at 6
  return made;
}

/**
 * A fresh node (its own host and store) state-syncing from `server` with the info-level log kept
 * (`lines`); `run` is the client's run, started. With `trust`, a checkpoint for both.
 */
async function syncFrom(t: Test, made: Made, server: P2PHost, name: string, timeoutMs: number, trust?: TrustRoot) {
  const chain = made.chain;
  const client = await host(t, new Map(), [server.listenAddresses()[0]!]);
  const target = await BlockStore.open(tmpDir(t, name), chainOf(chain.genesis), trust ? { checkpoint: trust } : {});
  t.teardown(() => target.close());
  const lines: Record<string, unknown>[] = [];
  const ss = new StateSyncClient({
    net: { connectedPeers: () => client.peers().map((p) => p.peerId), request: (p, proto, d, max) => client.request(p, proto, d, max), penalize: (p, n, r) => client.penalize(p, n, r) },
    target,
    chainId: chain.genesis.chainId,
    genesisValidators: genesisState(chain.genesis).validators(),
    ...(trust ? { trust } : {}),
    log: pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }),
    opts: { timeoutMs },
  });
  return { client, target, lines, run: ss.run() };
}

t.test("an offer signed by a set that replaced the genesis set is traced by bisection over the wire", async (t) => {
  const made = setChangeChain();
  const chain = made.chain;
  const served = await storeWith(t, made, "served");
  const server = await host(t, new Map([[snapshotProtocol(chain.genesis.chainId), snapshotHandler(served, { depth: 4, interval: 10 })]]));
  const { target, lines, run } = await syncFrom(t, made, server, "fresh", 20_000);
  const r = await run;
  t.equal(r.height, 10n);
  t.ok(lines.some((l) => l.msg === "state sync: the offer's validator set traced to the trusted set by bisection" && l.from === 0), "traced from genesis by bisection");
  t.ok(lines.some((l) => l.msg === "state sync: fetching a snapshot" && l.trust === "bisection"));
  t.equal(toHex((await target.loadState(() => new Uint8Array(32))).root()), toHex(made.blocks[9]!.block.header.stateRoot));
  // the light block request: below the base or above the head, null
  const h = snapshotHandler(target, { depth: 4 });
  t.equal(decode(await h.respond(encodeLightBlockRequest(3n), "p")), null, "no header below the base");
  t.not(decode(await h.respond(encodeLightBlockRequest(10n), "p")), null, "the base's header");
});

t.test("a checkpoint: the snapshot is traced from the checkpoint's set; a peer with another block there is penalized and never used", async (t) => {
  const made = setChangeChain();
  const chain = made.chain;
  const served = await storeWith(t, made, "served");
  const server = await host(t, new Map([[snapshotProtocol(chain.genesis.chainId), snapshotHandler(served, { depth: 4, interval: 10 })]]));
  const sync = (name: string, trust: TrustRoot, timeoutMs: number) => syncFrom(t, made, server, name, timeoutMs, trust);
  // the checkpoint at 8 (the new set alone): height 10 is vouched for by it, no bisection from genesis
  const good = await sync("good", { height: 8n, hash: made.blocks[7]!.block.hash }, 20_000);
  const r = await good.run;
  t.equal(r.height, 10n);
  t.ok(good.lines.some((l) => l.msg === "state sync: the checkpoint's block and set verified" && l.height === 8), "the checkpoint's block came from the peer and checked");
  t.ok(good.lines.some((l) => l.msg === "state sync: fetching a snapshot" && l.trust === "skipping"), "the offer trusted from the checkpoint's set");
  t.notOk(good.lines.some((l) => typeof l.msg === "string" && l.msg.includes("by bisection")), "no bisection from genesis");
  t.equal(toHex((await good.target.loadState(() => new Uint8Array(32))).root()), toHex(made.blocks[9]!.block.header.stateRoot));

  // a checkpoint the peer's history contradicts (another hash at 8): refused, penalized, nothing installed
  const bad = await sync("bad", { height: 8n, hash: made.blocks[8]!.block.hash }, 1_500);
  await t.rejects(bad.run, { code: StateSyncErrorCode.NO_SNAPSHOT });
  t.ok(bad.client.banned().some((b) => b.peerId === server.peerId), "the peer whose block at the checkpoint differs is banned");
  t.equal(bad.target.head.height, 0n, "nothing installed");
  // a checkpoint above every offer: no snapshot is trusted from below it
  const high = await sync("high", { height: 11n, hash: made.blocks[10]!.block.hash }, 1_500);
  await t.rejects(high.run, { code: StateSyncErrorCode.NO_SNAPSHOT });
  t.notOk(high.client.banned().some((b) => b.peerId === server.peerId), "an offer below the checkpoint is not the peer's fault");
});

t.test("block sync: a state-synced peer serves heights from its base only, and the client takes the rest from another peer", async (t) => {
  const made = makeChain(14, 2);
  const full = await storeWith(t, made, "full");
  // a peer installed by state sync at 10, then following to 14
  const synced = await BlockStore.open(tmpDir(t, "synced"), chainOf(made.chain.genesis));
  t.teardown(() => synced.close());
  await synced.beginStateSync(10n);
  const recs: [Uint8Array, Uint8Array][] = [];
  for await (const r of (await full.stateAt(10n)).tree.entries()) recs.push(r);
  await synced.putSnapshotRecords(recs);
  await synced.finishStateSync({ block: made.blocks[9]!.block, commit: made.blocks[9]!.commit, validators: (await full.getValidators(10n))! });
  for (const b of made.blocks.slice(10)) await synced.commitBlock(b.block, b.commit, b.built);
  const g = made.chain.genesis;
  const servers = new Map([["synced", syncHandler(storeBlockSource(synced, g.hash))], ["full", syncHandler(storeBlockSource(full, g.hash))]]);
  t.same(decodeBlocks(await servers.get("synced")!.respond(encodeBlocksRequest(1n, 5), "c")), [], "nothing below the base");
  t.equal(decodeBlocks(await servers.get("synced")!.respond(encodeBlocksRequest(10n, 5), "c")).length, 5, "from the base on");

  // a fresh client that hears of the state-synced peer first
  const client = await BlockStore.open(tmpDir(t, "client"), chainOf(g));
  t.teardown(() => client.close());
  let state = await client.loadState(() => genesisState(g).root());
  const asked: string[] = [];
  const sync = new BlockSync({
    net: {
      connectedPeers: () => ["synced", "full"],
      request: async (peer, _proto, data) => {
        const req = asArray(decode(data), "req");
        if (req[0] === 1) asked.push(`${peer}:${req[1]}`);
        return servers.get(peer)!.respond(data, "client");
      },
      penalize: () => t.fail("no peer is at fault"),
    },
    target: {
      headHeight: () => client.head.height,
      applySynced: async (block, commit) => {
        verifyCommit(g.chainId, state.validators(), block.header.height, block.hash, commit);
        const r = applyBlock(state, block, g.params, g.chainId);
        await client.commitBlock(block, commit, r);
        state = r.state;
      },
    },
    chainId: g.chainId,
    genesisHash: g.hash,
    log,
  });
  await sync.initialSync(0);
  await sync.stop();
  t.equal(client.head.height, 14n, "caught up to the head");
  t.ok(asked.includes("full:1"), `the blocks below the synced peer's base came from the full peer (asked: ${asked.join(" ")})`);
});
