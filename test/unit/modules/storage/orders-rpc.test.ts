/**
 * Storage orders over JSON-RPC: the real method table on a real server (127.0.0.1, ephemeral port)
 * through the typed client, over a real BlockStore fed with blocks from the real transition
 * (4-block epochs). Three providers register in epoch 0; two clients post orders in epoch 1; the
 * network places them at the first block of epoch 3; providers accept, decline or let placements
 * expire, and the orders fill or close. Checked through storage_getOrder, storage_listOrders (the
 * store's order index and the state's open list, paged), storage_getPlacements, provider_get's
 * pendingPlacements and storage_getDeal, plus bad params.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t, { type Test } from "tap";
import { toHex } from "../../../../primitives/bytes.ts";
import { toAddress, type KeyPair } from "../../../../primitives/keys.ts";
import { Mempool } from "../../../../chain/mempool.ts";
import { firstHeightOfEpoch, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import { BlockStore } from "../../../../chain/store.ts";
import type { Operation, SignedTx } from "../../../../chain/tx.ts";
import { ProviderKind } from "../../../../modules/storage/storage.ts";
import { networkDealId, placementFailureCharge } from "../../../../modules/storage/orders.ts";
import { StorageProver } from "../../../../proofs/storage.ts";
import { genesisState, type GenesisFile } from "../../../../genesis/schema.ts";
import { RpcClient, RpcClientError, type ResultOf } from "../../../../rpc/client.ts";
import { RpcErrorCode } from "../../../../rpc/errors.ts";
import { startRpcServer } from "../../../../rpc/server.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, tx, txNext, type TestChain } from "../../../helpers/chain.ts";
import { pseudoRandomBytes as bytes } from "../../../helpers/random.ts";
import { testRpcContext } from "../../../helpers/rpc-context.ts";
import { methods } from "../../../../modules/rpc.ts";

const PROVIDERS = [testKey(601), testKey(602), testKey(603)];
const CLIENT = testKey(604);
const CLIENT2 = testKey(605);
const FUNDS = 1_000_000_000_000n;
const L = 4;
const PRICE = 1000n;
const DURATION = 5n;
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L, challengesPerDeal: 2, maxMissedProofs: 2, collateralPerByte: "1", emissionPerEpoch: "1000000", reputationWindowEpochs: 4, maxDealEpochs: 50,
  placementWindowEpochs: 1, orderPlacementEpochs: 3,
};

interface World {
  chain: TestChain;
  store: BlockStore;
  client: RpcClient;
}

async function commit(t: Test, w: Pick<World, "chain" | "store">, txs: SignedTx[]) {
  const built = advanceChecked((m) => t.fail(m), w.chain, txs);
  t.same(built.rejected.map((r) => r.error.code), [], "no transaction left out");
  for (const [i, r] of built.receipts.entries()) if (!r.ok) t.fail(`tx ${i} at height ${built.block.header.height} failed: ${r.code}`);
  if (!supplyHolds(w.chain.state)) t.fail("supply invariant broken");
  await w.store.commitBlock(built.block, w.chain.lastCommit!, built);
  return built;
}
const height = (w: World) => w.chain.state.meta().height;
async function toHeight(t: Test, w: World, h: bigint): Promise<void> {
  while (height(w) < h) await commit(t, w, []);
}

async function setup(t: Test): Promise<World> {
  const chain = newTestChain({ params: PARAMS, balances: [...PROVIDERS, CLIENT, CLIENT2].map((key) => ({ key, amount: FUNDS })) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-orders-rpc-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(dir, { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  t.teardown(() => store.close());
  await commit(t, { chain, store }, PROVIDERS.map((key) =>
    txNext(chain, key, { type: "provider.register", kind: ProviderKind.STORAGE, collateral: 1_000_000n, capacity: 100_000n, multiaddr: "/ip4/127.0.0.1/tcp/4001/http" })));
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => chain.state.account(sender).nonce });
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [], checkResults: true }, methods, testRpcContext({ chain, store, mempool }));
  t.teardown(() => server.close());
  return { chain, store, client: new RpcClient(server.url) };
}

async function failure(p: Promise<unknown>): Promise<{ rpcCode: number; code: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcClientError) return { rpcCode: e.rpcCode, code: e.code };
    throw e;
  }
  throw new Error("the call succeeded");
}

const addr = (k: KeyPair) => toAddress(k.publicKey);
/** Signs transactions for one block: each key's nonces follow on from the state's. */
function batch(chain: TestChain): (key: KeyPair, op: Operation) => SignedTx {
  const next = new Map<string, bigint>();
  return (key, op) => {
    const n = next.get(toHex(key.publicKey)) ?? chain.state.account(key.publicKey).nonce;
    next.set(toHex(key.publicKey), n + 1n);
    return tx(chain, key, n, op);
  };
}
const byAddress = (a: string) => PROVIDERS.find((k) => addr(k) === a)!;
type Order = NonNullable<ResultOf<"storage_getOrder">>;

t.test("orders: posted, listed, placed, accepted, declined, expired, redrawn, filled and closed", async (t) => {
  const w = await setup(t);
  const c = w.client;
  const orderOp = (seed: number, replicas: number) => {
    const prover = new StorageProver(bytes(3000, seed), 256);
    return { type: "storage.order" as const, root: prover.root, size: prover.size, chunkSize: 256n, pricePerEpoch: PRICE, durationEpochs: DURATION, replicas };
  };
  // epoch 1: A (2 replicas) and B (1) by CLIENT, C (1) by CLIENT2
  await toHeight(t, w, firstHeightOfEpoch(1n, L) - 1n);
  const send = batch(w.chain);
  const txA = send(CLIENT, orderOp(1, 2));
  const txB = send(CLIENT, orderOp(2, 1));
  const txC = send(CLIENT2, orderOp(3, 1));
  await commit(t, w, [txA, txB, txC]);
  const [A, B, C] = [txA, txB, txC].map((x) => toHex(x.hash)) as [string, string, string];

  const a0 = (await c.call("storage_getOrder", { id: A }))!;
  const charge = placementFailureCharge(w.chain.state, w.chain.genesis.params, 3000n, DURATION);
  t.same(a0, {
    id: A, client: addr(CLIENT), root: toHex(orderOp(1, 2).root), size: "3000", chunkSize: 256, pricePerEpoch: String(PRICE), durationEpochs: Number(DURATION),
    replicas: 2, escrow: String(PRICE * DURATION * 2n), bond: String(2n * charge), failureCharge: String(charge), burned: "0", dropped: 0, createdAt: Number(firstHeightOfEpoch(1n, L)), firstPlacementEpoch: 3, closeEpoch: 5, status: "open",
    accepted: 0, pending: 0, placements: [], deals: [],
  }, "an order before its first placement epoch: escrow held, nothing placed");
  t.equal(await c.call("storage_getOrder", { id: "00".repeat(32) }), null, "unknown order: null");
  t.equal((await failure(c.call("storage_getOrder", { id: "abcd" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "a short id");

  // listing: by client through the store's index, every open order from the state, paged
  const ids = (r: { orders: { id: string }[] }) => r.orders.map((o) => o.id);
  t.same(ids(await c.call("storage_listOrders", { client: addr(CLIENT) })), [A, B].sort(), "CLIENT's orders, in id order");
  t.same(ids(await c.call("storage_listOrders", { client: addr(CLIENT2) })), [C]);
  t.same(ids(await c.call("storage_listOrders", { client: addr(PROVIDERS[0]!) })), [], "no orders");
  t.same(ids(await c.call("storage_listOrders", {})), [A, B, C].sort(), "without client: every open order");
  for (const client of [addr(CLIENT), undefined]) {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const page: ResultOf<"storage_listOrders"> = await c.call("storage_listOrders", { limit: 1, ...(client ? { client } : {}), ...(cursor ? { cursor } : {}) });
      seen.push(...ids(page));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    t.same(seen, (client ? [A, B] : [A, B, C]).sort(), `pages of one cover every order once (${client ? "by client" : "open"})`);
  }
  t.equal((await failure(c.call("storage_listOrders", { limit: 101 }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "limit above 100");
  t.equal((await failure(c.call("storage_listOrders", { client: "cc1nope" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "bad client");
  t.equal((await failure(c.call("storage_listOrders", { cursor: "zz" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "bad cursor");
  t.equal((await failure(c.call("storage_getPlacements", {} as { provider: string }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "no provider");
  t.equal((await failure(c.call("storage_getPlacements", { provider: "x" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "bad provider");

  // nothing is placed before epoch 3 (the lookback)
  await toHeight(t, w, lastHeightOfEpoch(2n, L));
  for (const p of PROVIDERS) t.same((await c.call("storage_getPlacements", { provider: addr(p) })).placements, [], "no placement before epoch 3");

  // the first block of epoch 3 draws 2 + 1 + 1 replicas
  await commit(t, w, []);
  const placed = new Map<string, ResultOf<"storage_getPlacements">["placements"]>();
  for (const p of PROVIDERS) {
    const r = await c.call("storage_getPlacements", { provider: addr(p) });
    t.match(r, { provider: addr(p), epoch: 3, headHeight: Number(firstHeightOfEpoch(3n, L)) });
    placed.set(addr(p), r.placements);
    t.equal((await c.call("provider_get", { address: addr(p) }))!.pendingPlacements, r.placements.length, "provider_get counts the pending placements");
    for (const x of r.placements) {
      const op = x.order === A ? orderOp(1, 2) : x.order === B ? orderOp(2, 1) : orderOp(3, 1);
      t.same(x, {
        order: x.order, client: x.order === C ? addr(CLIENT2) : addr(CLIENT), root: toHex(op.root), size: "3000", chunkSize: 256, pricePerEpoch: String(PRICE),
        durationEpochs: Number(DURATION), epoch: 3, deadline: 3, deadlineHeight: Number(lastHeightOfEpoch(3n, L)),
      }, "what to fetch, and until when");
    }
  }
  t.equal([...placed.values()].flat().length, 4, "four replicas placed");
  const onA = [...placed].filter(([, ps]) => ps.some((x) => x.order === A)).map(([a]) => a);
  t.equal(onA.length, 2, "A's two replicas on two providers");
  const a1 = (await c.call("storage_getOrder", { id: A }))!;
  t.equal(a1.pending, 2);
  t.same(a1.placements.map((p) => [p.provider, p.status, p.epoch, p.deadline, p.deal]).sort(), onA.map((p) => [p, "pending", 3, 3, null]).sort());

  // A: the first accepts, the second lets it expire; every other placement is declined
  const [acceptor, expirer] = onA as [string, string];
  const third = PROVIDERS.map(addr).find((p) => !onA.includes(p))!;
  const send3 = batch(w.chain);
  const txs = [send3(byAddress(acceptor), { type: "storage.accept", order: txA.hash })];
  for (const [p, ps] of placed) {
    for (const x of ps) {
      if (x.order !== A) txs.push(send3( byAddress(p), { type: "storage.decline", order: (x.order === B ? txB : txC).hash }));
    }
  }
  await commit(t, w, txs);
  const deal1 = toHex(networkDealId(w.chain.genesis.chainId, txA.hash, byAddress(acceptor).publicKey));
  const a2 = (await c.call("storage_getOrder", { id: A }))!;
  t.match(a2, { status: "open", accepted: 1, pending: 1, deals: [deal1], escrow: String(PRICE * DURATION) }, "one replica accepted: its escrow moved to its deal");
  t.same(a2.placements.find((p) => p.provider === acceptor), { provider: acceptor, epoch: 3, deadline: 3, deadlineHeight: 16, status: "accepted", deal: deal1 });
  t.match(await c.call("storage_getDeal", { id: deal1 }), { provider: acceptor, client: addr(CLIENT), order: A, network: true, escrow: String(PRICE * DURATION) }, "a network deal");
  t.same((await c.call("storage_getDeal", { id: deal1 }))!.placement, { provider: acceptor, epoch: 3, deadline: 3, deadlineHeight: 16, status: "accepted", deal: deal1 }, "with the placement it came from");
  t.same((await c.call("storage_getPlacements", { provider: acceptor })).placements, [], "accepted: no longer pending");
  t.equal((await c.call("provider_get", { address: acceptor }))!.pendingPlacements, 0);
  t.same((await c.call("storage_getPlacements", { provider: expirer })).placements.map((x) => x.order), [A], "the other still has to act");
  const b1 = (await c.call("storage_getOrder", { id: B }))!;
  t.match(b1, { status: "open", accepted: 0, pending: 0, bond: "0", burned: String(charge), dropped: 0 }, "B's decline burned its bond's one failure charge");
  t.same(b1.placements.map((p) => p.status), ["declined"]);

  // epoch 4: A's expired replica is drawn onto the third provider (never twice on one), B again on another one
  await toHeight(t, w, firstHeightOfEpoch(4n, L));
  const a3 = (await c.call("storage_getOrder", { id: A }))!;
  t.same(a3.placements.map((p) => [p.provider, p.status, p.epoch]).sort(), [[acceptor, "accepted", 3], [expirer, "expired", 3], [third, "pending", 4]].sort(), "expired, then redrawn");
  t.same((await c.call("storage_getPlacements", { provider: third })).placements.filter((x) => x.order === A).map((x) => [x.epoch, x.deadline]), [[4, 4]]);
  const b2 = (await c.call("storage_getOrder", { id: B }))!;
  t.equal(b2.placements.length, 2, "B drawn again");
  t.not(b2.placements[1]!.provider, b2.placements[0]!.provider, "on another provider");
  t.equal(b2.placements[1]!.status, "pending");

  // the third accepts A: filled; B's second placement is left to expire (a decline now would drop it: its bond is spent)
  const send4 = batch(w.chain);
  await commit(t, w, [send4(byAddress(third), { type: "storage.accept", order: txA.hash })]);
  const a4: Order = (await c.call("storage_getOrder", { id: A }))!;
  t.match(a4, { status: "filled", accepted: 2, pending: 0, escrow: "0" });
  t.equal(a4.deals.length, 2, "two network deals");
  t.same(ids(await c.call("storage_listOrders", { client: addr(CLIENT), openOnly: true })), [B], "openOnly: filled orders left out");
  t.notOk(ids(await c.call("storage_listOrders", {})).includes(A), "a filled order leaves the open list");

  // after its close epoch (5) B expires: nothing accepted, its escrow refunded (the burned charge is gone)
  await toHeight(t, w, lastHeightOfEpoch(5n, L));
  const b3 = (await c.call("storage_getOrder", { id: B }))!;
  t.match(b3, { status: "expired", accepted: 0, escrow: "0", bond: "0", burned: String(charge), dropped: 0 });
  t.same(ids(await c.call("storage_listOrders", { client: addr(CLIENT), openOnly: true })), [], "no open order left");
  t.same(ids(await c.call("storage_listOrders", { client: addr(CLIENT) })), [A, B].sort(), "closed orders stay listed by client");
});
