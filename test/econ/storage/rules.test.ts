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
import { ProviderStatus, readProvider } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import { COLLATERAL, L, newWorld, realDataset, sign, step, toHeight, type ProviderSpec, type World } from "./world.ts";

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
