/**
 * The storage-provider plugin following storage orders, in process against a real RPC server over
 * a real BlockStore, with blocks made from the mempool by the real transition every 100 ms
 * (8-block epochs, a 2-epoch acceptance window). Three providers (startStorageProvider) and a
 * client (postOrder): an order of 2 replicas is placed, announced, fetched, root-checked,
 * accepted and proven; an order whose client serves the wrong bytes, then nothing, is declined by
 * each provider placed before its deadline. Plus the pure decision (placementAction) and the
 * multiaddr and source parsers.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import { epochOfHeight } from "../../../chain/epoch.ts";
import type { GenesisFile } from "../../../genesis/schema.ts";
import { startStorageProvider, type StorageProvider } from "../../../plugins/storage-provider/provider.ts";
import { fileRoot, postOrder, serveFile } from "../../../plugins/storage-provider/client.ts";
import { httpUrlOfMultiaddr, sendAndWait } from "../../../plugins/storage-provider/deals.ts";
import { parseSource, placementAction, PlacementError, type PlacementJob } from "../../../plugins/storage-provider/placements.ts";
import { testKey } from "../../helpers/chain.ts";
import { liveChain } from "../../helpers/live-chain.ts";
import { pseudoRandomBytes as bytes } from "../../helpers/random.ts";

const L = 8;
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L, challengesPerDeal: 2, maxMissedProofs: 3, collateralPerByte: "1", emissionPerEpoch: "1000000", placementWindowEpochs: 2,
  // four placement epochs: the bad order's first provider declines three blocks before its deadline, and
  // on a loaded machine that decline can land in the next epoch's first block, after that epoch's draw;
  // the redraw then happens one epoch later rather than never
  orderPlacementEpochs: 4,
};
const PROVIDERS = [testKey(701), testKey(702), testKey(703)];
const CLIENT = testKey(704);
const FUNDS = 1_000_000_000_000n;

const job = (over: Partial<PlacementJob> = {}): PlacementJob => ({
  info: { order: "aa".repeat(32), client: "cc1x", root: "bb".repeat(32), size: "100", chunkSize: 256, pricePerEpoch: "1", durationEpochs: 2, epoch: 3, deadline: 4, deadlineHeight: 40 },
  state: "fetching", sources: [], failures: 0, ...over,
});

t.test("placementAction: fetch while a source is known (one at a time), accept once fetched, decline near the deadline or when the accept was refused, resend a stuck transaction", async (t) => {
  const o = { declineMarginBlocks: 3, resendAfterBlocks: 3 };
  t.equal(placementAction(job(), 30, o), "wait", "no source yet, time left: wait");
  t.equal(placementAction(job({ sources: ["http://x/"] }), 30, o), "fetch");
  t.equal(placementAction(job({ sources: ["http://x/"] }), 37, o), "decline", "three blocks before the last one: decline rather than expire");
  t.equal(placementAction(job(), 37, o), "decline");
  t.equal(placementAction(job({ state: "fetched" }), 38, o), "accept", "fetched: accept even late in the window");
  t.equal(placementAction(job({ state: "fetched" }), 40, o), "wait", "no block of the window left: nothing can land");
  t.equal(placementAction(job({ state: "accepting", sentAtHeight: 30 }), 32, o), "wait", "an accept in flight");
  t.equal(placementAction(job({ state: "accepting", sentAtHeight: 30 }), 33, o), "accept", "not landed after 3 blocks: again");
  t.equal(placementAction(job({ state: "declining", sentAtHeight: 30 }), 34, o), "decline");
  t.equal(placementAction(job({ sources: ["http://x/"], fetching: true }), 30, o), "wait", "a fetch running: no second one");
  t.equal(placementAction(job({ sources: ["http://x/"], fetching: true }), 37, o), "decline", "still running near the deadline: decline");
  t.equal(placementAction(job({ state: "refused" }), 30, o), "decline", "an accept the chain refused: decline");
});

t.test("httpUrlOfMultiaddr and parseSource", async (t) => {
  t.equal(httpUrlOfMultiaddr("/ip4/127.0.0.1/tcp/8710/http"), "http://127.0.0.1:8710/");
  t.equal(httpUrlOfMultiaddr("/ip6/::1/tcp/80/https"), "https://[::1]:80/");
  t.equal(httpUrlOfMultiaddr("/dns4/host.example/tcp/443/https/"), "https://host.example:443/");
  t.equal(httpUrlOfMultiaddr("/ip4/127.0.0.1/tcp/4001"), undefined, "no http: none");
  t.equal(httpUrlOfMultiaddr("/ip4/127.0.0.1/tcp/70000/http"), undefined, "port out of range");
  t.equal(parseSource("http://127.0.0.1:5/data/ab"), "http://127.0.0.1:5/data/ab");
  for (const bad of [undefined, 7, "ftp://x/", "not a url", "http://x/" + "a".repeat(2048)]) {
    let code: string | undefined;
    try {
      parseSource(bad);
    } catch (e) {
      code = e instanceof PlacementError ? e.code : "not a PlacementError";
    }
    t.equal(code, "BAD_SOURCE", `refused: ${String(bad).slice(0, 20)}`);
  }
});

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number, detail?: () => Promise<unknown>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `: ${JSON.stringify(await detail(), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test("providers follow their placements: fetch from the client, check the root, accept, prove; wrong or missing data is declined", async (t) => {
  const net = await liveChain(t, { params: PARAMS, balances: [...PROVIDERS, CLIENT].map((key) => ({ key, amount: FUNDS })) }, 100);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-orders-plugin-data-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logs = new Map<string, { kind: string; data: Record<string, unknown> }[]>();
  const providers: StorageProvider[] = [];
  for (const [i, key] of PROVIDERS.entries()) {
    const lines: { kind: string; data: Record<string, unknown> }[] = [];
    const p = await startStorageProvider({
      rpcUrl: net.rpcUrl, key, dir: path.join(dir, `p${i}`), collateral: 10_000_000n, capacity: 1_000_000n, pricePerMiB: 1n, pollMs: 50, declineMarginBlocks: 3,
      report: (kind, data) => lines.push({ kind, data }),
    });
    logs.set(p.address, lines);
    providers.push(p);
    t.teardown(() => p.close());
  }
  const registeredAt = net.height();
  // the placement snapshot needs the providers at two epoch boundaries
  await until("an epoch boundary after the registrations", async () => (epochOfHeight(net.height(), L) > epochOfHeight(registeredAt, L) ? true : undefined), 20_000);

  // an order of 2 replicas: the client serves the file until both are accepted
  const file = path.join(dir, "data.bin");
  fs.writeFileSync(file, bytes(20_000, 9));
  const clientLog: string[] = [];
  const outcome = await postOrder({
    rpcUrl: net.rpcUrl, key: CLIENT, file, chunkSize: 1024, replicas: 2, pricePerEpoch: 100n, durationEpochs: 20n, pollMs: 50, timeoutMs: 30_000,
    report: (kind) => clientLog.push(kind),
  });
  t.match(outcome, { ok: true, status: "filled", replicas: 2, accepted: 2, escrow: "0", root: toHex((await fileRoot(file, 1024)).root), size: "20000" });
  t.equal(outcome.deals.length, 2);
  t.ok(outcome.served >= 2, "each placed provider downloaded the file");
  t.ok(clientLog.includes("ANNOUNCED") && clientLog.includes("ACCEPTED"), "the client told the providers and saw them accept");
  const holders = outcome.placements.filter((p) => p.status === "accepted").map((p) => p.provider);
  for (const [i, dealId] of outcome.deals.entries()) {
    const d = await net.rpc.call("storage_getDeal", { id: dealId });
    t.match(d, { order: outcome.order, network: true, status: "active", root: outcome.root, provider: holders[i] });
    const held = providers.find((p) => p.address === d!.provider)!;
    t.equal(held.deals.get(dealId)?.order, outcome.order, "the provider keeps the data as the network deal");
    t.ok(logs.get(held.address)!.some((l) => l.kind === "FETCHED" && l.data.order === outcome.order), "reported FETCHED");
  }
  // proven like any deal
  const proven = await until("a proof of each network deal", async () => {
    const ds = await Promise.all(outcome.deals.map((id) => net.rpc.call("storage_getDeal", { id })));
    return ds.every((d) => d!.lastProvenEpoch !== null) ? ds : undefined;
  }, 20_000);
  t.ok(proven.every((d) => d!.misses === 0), "no epoch missed");

  // an order whose client serves other bytes under its root, then goes away: each placed provider declines
  const other = path.join(dir, "other.bin");
  fs.writeFileSync(other, bytes(20_000, 10));
  const wanted = path.join(dir, "wanted.bin");
  fs.writeFileSync(wanted, bytes(20_000, 11));
  const root = await fileRoot(wanted, 1024);
  const chainId = (await net.rpc.call("node_status", {})).chainId;
  const sent = await sendAndWait(net.rpc, chainId, CLIENT, {
    type: "storage.order", root: root.root, size: root.size, chunkSize: 1024n, pricePerEpoch: 100n, durationEpochs: 20n, replicas: 1,
  });
  const liar = await serveFile(other, toHex(root.root), "127.0.0.1", 0);
  t.teardown(() => new Promise<void>((r) => liar.server.close(() => r())));
  const first = await until("the bad order's first placement", async () => (await net.rpc.call("storage_getOrder", { id: sent.hash }))?.placements[0], 20_000);
  const placedOn = providers.find((p) => p.address === first.provider)!;
  const res = await fetch(new URL(`placements/${sent.hash}`, placedOn.url), {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ source: new URL(`data/${toHex(root.root)}`, liar.url).href }),
  });
  t.equal(res.status, 202, "the announcement is taken");
  t.equal((await fetch(new URL(`placements/${sent.hash}`, placedOn.url), { method: "POST", headers: { "content-type": "application/json" }, body: "{\"source\":\"ftp://x\"}" })).status, 400, "a bad source: 400");
  t.equal((await fetch(new URL("placements/xyz", placedOn.url), { method: "POST", headers: { "content-type": "application/json" }, body: "{\"source\":\"http://x/\"}" })).status, 400, "a bad order id: 400");
  const ended = await until("both placements declined", async () => {
    const o = await net.rpc.call("storage_getOrder", { id: sent.hash });
    return o && o.placements.length >= 2 && o.placements.slice(0, 2).every((p) => p.status === "declined") ? o : undefined;
  }, 30_000, async () => ({ order: await net.rpc.call("storage_getOrder", { id: sent.hash }), height: net.height(), logs: [...logs.values()].map((l) => l.filter((x) => x.data.order === sent.hash)) }));
  t.not(ended.placements[1]!.provider, ended.placements[0]!.provider, "redrawn on another provider");
  t.same(ended.deals, [], "no deal");
  t.ok(logs.get(first.provider)!.some((l) => l.kind === "FETCH_FAILED" && l.data.code === "WRONG_ROOT"), "the first provider found the root wrong");
  t.ok(logs.get(ended.placements[1]!.provider)!.some((l) => l.kind === "DECLINE" && l.data.order === sent.hash), "the second, never told where to fetch, declined");
  // declined, not expired: no missed service epoch for either (a strike here could only come from a late proof on a loaded machine)
  for (const p of providers) t.notOk(p.deals.list().some((d) => d.order === sent.hash), "no provider keeps data for the declined order");
});
