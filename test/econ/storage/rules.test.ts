/**
 * Chain rules of storage orders the economics rest on, checked on real blocks (./world.ts: every
 * block replayed by a follower, the supply invariant after each): every refusal has its own code and
 * takes nothing but the fee; placement never lands on the client's key, twice on one provider, or on
 * a provider not yet in the lookback snapshot; an exiting provider's collateral is not returned while
 * a placement still holds part of it.
 */
import t, { type Test } from "tap";
import { firstHeightOfEpoch, lastHeightOfEpoch } from "../../../chain/epoch.ts";
import type { Operation } from "../../../chain/tx.ts";
import { listOpenOrders, readOrder } from "../../../modules/storage/orders.ts";
import { OrderStatus, PlacementStatus } from "../../../modules/storage/records.ts";
import { ProviderStatus, readProvider, StorageErrorCode } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import { econSize } from "../harness.ts";
import { COLLATERAL, hex, L, newWorld, realDataset, sign, step, toHeight, type ProviderSpec, type World } from "./world.ts";

// the runner's 180 s per file, scaled with the size (npm run econ plays five times as long)
t.setTimeout(econSize(180_000));

const V = testKey(7601);
const P = [0, 1, 2, 3].map((i): ProviderSpec => ({ name: `p${i}`, key: testKey(7610 + i), collateral: COLLATERAL, behaviour: "honest" }));
const CLIENT = testKey(7620);
const DATA = realDataset(1, 4096, 512);
const orderOp = (over: Partial<Extract<Operation, { type: "storage.order" }>> = {}): Operation => ({
  type: "storage.order", root: DATA.root, size: DATA.size, chunkSize: BigInt(DATA.chunkSize), pricePerEpoch: 1000n, durationEpochs: 4n, replicas: 2, ...over,
});

function world(t: Test, params: Parameters<typeof newWorld>[1]["params"] = {}, providers = P): World {
  return newWorld(t, { validators: [{ key: V, power: 1_000_000n }], providers, clients: [{ name: "client", key: CLIENT, orders: () => [] }], params });
}

/** One transaction in its own block: its receipt code. */
function send(w: World, key: typeof V, op: Operation): string {
  return step(w, sign(w, [[key, op]])).receipts[0]!.code;
}

const toEpochStart = (w: World, e: bigint) => toHeight(w, firstHeightOfEpoch(e, L));
const toEpochEnd = (w: World, e: bigint) => toHeight(w, lastHeightOfEpoch(e, L));

t.test("an exiting provider's collateral stays locked while a placement holds part of it (a long acceptance window)", async (t) => {
  // a window longer than the exit's unbonding: the placement outlives the unbonding
  const w = world(t, { placementWindowEpochs: 6, orderPlacementEpochs: 2 }, P.slice(0, 1));
  const p = P[0]!.key;
  t.equal(send(w, CLIENT, orderOp({ replicas: 1 })), "", "the order lands in epoch 0");
  // registered in epoch 0: in the snapshot of epoch 1, drawn from epoch 3
  toEpochStart(w, 3n);
  const o = listOpenOrders(w.chain.state)[0]!;
  t.same(o.placements.map((x) => [x.epoch, x.deadline]), [[3n, 8n]], "placed at epoch 3, to accept by epoch 8");
  t.equal(send(w, p, { type: "provider.exit" }), "", "the placed provider exits in epoch 3 (unbonding through epoch 6)");
  const lock = readProvider(w.chain.state, p.publicKey)!.locked;
  t.ok(lock > 0n, "the placement holds part of its collateral");
  // through the end of its unbonding (epoch 6) and of the placement's window (epoch 8)
  for (let e = 3n; e <= 9n; e++) {
    toEpochEnd(w, e);
    const pr = readProvider(w.chain.state, p.publicKey)!;
    const pending = readOrder(w.chain.state, o.id)!.placements.some((x) => x.status === PlacementStatus.PENDING);
    if (pending) t.ok(pr.status === ProviderStatus.EXITING && pr.locked >= lock, `end of epoch ${e}: the placement is pending, the collateral stays locked`);
    t.ok(pr.locked >= 0n && pr.used >= 0n, `end of epoch ${e}: nothing negative`);
  }
  const after = readProvider(w.chain.state, p.publicKey)!;
  t.equal(after.status, ProviderStatus.EXITED, "once the placement expired, the collateral went back");
  t.equal(readOrder(w.chain.state, o.id)!.status, OrderStatus.EXPIRED, "the order expired and refunded");
});

t.test("every refusal of an order, an acceptance or a decline has its own code and takes only the fee", async (t) => {
  // blocks of 300 kB: four replicas of 64 KiB-chunk proofs do not fit
  const w = world(t, { maxBlockBytes: 300_000 });
  const [p0, p1] = P.map((p) => p.key) as [typeof V, typeof V];
  const big = { size: 64n << 20n, chunkSize: 65_536n };
  const cases: [string, typeof V, Operation, string][] = [
    ["a price under the minimum", CLIENT, orderOp({ pricePerEpoch: 0n }), StorageErrorCode.PRICE_TOO_LOW],
    ["more replicas than providers", CLIENT, orderOp({ replicas: 5 }), StorageErrorCode.TOO_MANY_REPLICAS],
    ["more replicas than providers other than the client", p0, orderOp({ replicas: 4 }), StorageErrorCode.TOO_MANY_REPLICAS],
    ["an escrow beyond the balance", CLIENT, orderOp({ pricePerEpoch: 1n << 40n, durationEpochs: 1000n }), StorageErrorCode.INSUFFICIENT_ESCROW],
    ["proofs that would not fit a block", CLIENT, orderOp({ ...big, pricePerEpoch: 1n << 20n, replicas: 4 }), StorageErrorCode.PROOFS_TOO_LARGE],
    ["a duration beyond maxDealEpochs", CLIENT, orderOp({ durationEpochs: 1001n }), StorageErrorCode.BAD_DURATION],
    ["accepting an unknown order", p1, { type: "storage.accept", order: new Uint8Array(32).fill(7) }, StorageErrorCode.UNKNOWN_ORDER],
    ["declining an unknown order", p1, { type: "storage.decline", order: new Uint8Array(32).fill(7) }, StorageErrorCode.UNKNOWN_ORDER],
  ];
  for (const [what, key, op, code] of cases) {
    const before = w.chain.state.account(key.publicKey).balance;
    const orders = listOpenOrders(w.chain.state).length;
    t.equal(send(w, key, op), code, `${what}: ${code}`);
    t.equal(w.chain.state.account(key.publicKey).balance, before - 1000n, "only the fee is taken");
    t.equal(listOpenOrders(w.chain.state).length, orders, "no order opened");
  }
  t.equal(send(w, CLIENT, orderOp({ ...big, pricePerEpoch: 1n << 20n, replicas: 2 })), "", "two replicas of the same proofs fit");

  // an order placed on two of the four: the others are refused, a decline closes the placement
  t.equal(send(w, CLIENT, orderOp()), "", "a small order");
  const id = listOpenOrders(w.chain.state).find((o) => o.size === DATA.size)!.id;
  const d = readOrder(w.chain.state, id)!.firstPlacementEpoch;
  toEpochStart(w, d);
  const placed = readOrder(w.chain.state, id)!.placements.map((x) => x.provider);
  t.equal(placed.length, 2, "placed on two providers");
  const [a, b] = P.filter((p) => placed.some((k) => hex(k) === hex(p.key))).map((p) => p.key) as [typeof V, typeof V];
  const outsider = P.find((p) => !placed.some((k) => hex(k) === hex(p.key)))!.key;
  // all in the placement's epoch (one block: the window is this epoch), in this order
  const acc = { type: "storage.accept", order: id } as const;
  const dec = { type: "storage.decline", order: id } as const;
  const codes = step(w, sign(w, [[outsider, acc], [outsider, dec], [a, dec], [a, acc], [b, acc], [b, acc]])).receipts.map((r) => r.code);
  t.same(codes, [StorageErrorCode.NOT_PLACED, StorageErrorCode.NOT_PLACED, "", StorageErrorCode.PLACEMENT_CLOSED, "", StorageErrorCode.PLACEMENT_CLOSED], [
    "accepting or declining an order placed on others: STORAGE_NOT_PLACED", "a placed provider declines, then accepting: STORAGE_PLACEMENT_CLOSED",
    "the other accepts; accepting twice: STORAGE_PLACEMENT_CLOSED",
  ].join("; "));
  // the declined replica is drawn again, never on a provider drawn before for this order
  toEpochStart(w, d + 1n);
  const again = readOrder(w.chain.state, id)!.placements;
  t.equal(again.length, 3, "the declined replica is drawn again at the next epoch");
  t.notOk([a, b].some((k) => hex(k) === hex(again[2]!.provider)), "on a provider not drawn before for this order");
  const c = P.find((p) => hex(p.key) === hex(again[2]!.provider))!.key;
  t.same(step(w, sign(w, [[c, acc], [a, acc]])).receipts.map((r) => r.code), ["", StorageErrorCode.ORDER_CLOSED], "it accepts: filled; accepting a filled order: STORAGE_ORDER_CLOSED");
  t.equal(readOrder(w.chain.state, id)!.status, OrderStatus.FILLED, "filled");
});

t.test("placement: never the client's own provider key, never twice on one provider, never before the provider is in the snapshot", async (t) => {
  const late = testKey(7630);
  const w = world(t);
  const [p0] = P.map((p) => p.key) as [typeof V];
  step(w, sign(w, [[w.chain.faucet, { type: "transfer", to: late.publicKey, amount: 10n ** 12n }]]));
  // the client is provider p0; three replicas: the three others
  toEpochStart(w, 1n);
  t.equal(send(w, p0, orderOp({ replicas: 3 })), "", "provider p0 orders as a client in epoch 1");
  const id = listOpenOrders(w.chain.state)[0]!.id;
  toEpochStart(w, 3n);
  const first = readOrder(w.chain.state, id)!.placements.map((x) => hex(x.provider));
  t.same([...first].sort(), P.slice(1).map((p) => hex(p.key)).sort(), "placed on the three other providers, never its own key");
  // a late provider registers in epoch 3; one placed provider declines
  const declining = P.find((p) => hex(p.key) === first[0])!.key;
  const b = step(w, sign(w, [
    [late, { type: "provider.register", kind: 0, collateral: COLLATERAL, capacity: COLLATERAL, multiaddr: "/dns4/late/tcp/1" }],
    [declining, { type: "storage.decline", order: id }],
  ]));
  t.same(b.receipts.map((r) => r.code), ["", ""], "registered and declined in epoch 3");
  const byEpoch = new Map<bigint, string[]>();
  for (let e = 4n; e <= 7n; e++) {
    toEpochStart(w, e);
    byEpoch.set(e, readOrder(w.chain.state, id)!.placements.filter((x) => x.epoch === e).map((x) => hex(x.provider)));
  }
  t.same(byEpoch.get(4n), [], "epoch 4: nobody (the decliner is not drawn twice, the client never, the others hold it)");
  t.same(byEpoch.get(5n), [], "epoch 5: the late provider is not in the snapshot of epoch 3 (not bonded through all of it)");
  t.same(byEpoch.get(6n), [hex(late)], "epoch 6: drawn from the snapshot of epoch 4");
  t.same(byEpoch.get(7n), [], "then the order is closed");
});
