/**
 * Strategy 3 of issue #15, duplicate roots, on real blocks (./world.ts): the attacker tries to make
 * its provider hold the same (regenerable) root several times, by direct deals and by orders, to
 * multiply the bytes it proves from one set of answers.
 */
import t from "tap";
import { toHex } from "../../../primitives/bytes.ts";
import type { Operation } from "../../../chain/tx.ts";
import { listOpenOrders, readOrder } from "../../../modules/storage/orders.ts";
import { OrderStatus } from "../../../modules/storage/records.ts";
import { listActiveDeals, readDeal, signDealAcceptance, StorageErrorCode, type DealTerms } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import { econSize } from "../harness.ts";
import { RegenerableData } from "./regenerable.ts";
import {
  byName, COLLATERAL, epochNow, formatOutcomes, height, hex, MIN_PRICE_PER_GIB, newWorld, outcome, playEpoch, sign, step, wealthOf, type ClientSpec, type OrderPlan, type ProviderSpec, type World,
} from "./world.ts";

// the runner's 180 s per file, scaled with the size (npm run econ plays five times as long)
t.setTimeout(econSize(180_000));

const V = testKey(7001);
const HONEST = [0, 1, 2].map((i): ProviderSpec => ({ name: `honest ${i}`, key: testKey(7010 + i), collateral: COLLATERAL, behaviour: "honest" }));
const AP: ProviderSpec = { name: "attacker provider", key: testKey(7020), collateral: COLLATERAL, behaviour: "fake" };
const AC = testKey(7021);
const SIZE = 64n * 1024n;
const price = (SIZE * MIN_PRICE_PER_GIB + (1n << 30n) - 1n) / (1n << 30n);

/** No two live deals or pending placements of one root at one provider. */
function duplicates(w: World): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (p: Uint8Array, root: Uint8Array, what: string) => {
    const k = `${hex(p)}/${toHex(root)}`;
    if (seen.has(k)) out.push(`${what} at ${hex(p).slice(0, 8)}`);
    seen.add(k);
  };
  for (const d of listActiveDeals(w.chain.state)) add(d.provider, d.root, "deal");
  for (const o of listOpenOrders(w.chain.state)) for (const p of o.placements) if (p.status === 0) add(p.provider, o.root, "placement");
  return out;
}

function directDeal(w: World, terms: DealTerms): Operation {
  return { type: "storage.deal", terms, providerSignature: signDealAcceptance(w.chain.genesis.chainId, AP.key, AC.publicKey, terms) };
}

t.test("one root, one provider: a second direct deal or a placement on a provider holding the root is refused or never drawn", async (t) => {
  const zeros = RegenerableData.zeros(SIZE, 1024);
  let plans: OrderPlan[] = [];
  const client: ClientSpec = { name: "attacker client", key: AC, orders: () => plans.splice(0) };
  const w = newWorld(t, { validators: [{ key: V, power: 1_000_000n }], providers: [...HONEST, AP], clients: [client] });
  const terms = (durationEpochs: bigint): DealTerms => ({
    provider: AP.key.publicKey, root: zeros.root, size: SIZE, chunkSize: 1024n, pricePerEpoch: price, durationEpochs, collateral: SIZE, expiresAtHeight: height(w) + 10n,
  });
  // direct deals: the first lands, the same root again under other terms is refused
  const b = step(w, sign(w, [[AC, directDeal(w, terms(30n))], [AC, directDeal(w, terms(31n))]]));
  t.same(b.receipts.map((r) => r.code), ["", StorageErrorCode.ROOT_HELD], "the same root twice to one provider: STORAGE_ROOT_HELD");
  // the direct deal is proven by regeneration (no pool: a direct deal is paid its price only)
  const id = listActiveDeals(w.chain.state)[0]!.id;
  w.provers.set(hex(id), zeros);

  // an order of that root, 3 replicas: never placed on the provider that holds it
  plans = [{ data: zeros.dataset(() => true), replicas: 3, durationEpochs: 30n }];
  const first = epochNow(w) + 1n;
  for (let e = first; e < first + 4n; e++) playEpoch(w, e);
  const order1 = [...w.datasets.keys()][0]!;
  const o1 = readOrder(w.chain.state, Uint8Array.from(Buffer.from(order1, "hex")))!;
  t.equal(o1.status, OrderStatus.FILLED, "the order is filled by the three honest providers");
  t.notOk(o1.placements.some((p) => hex(p.provider) === hex(AP.key)), "never drawn on the provider holding the root");
  t.equal(byName(w, "attacker provider").storageReward, 0n, "the direct deal earned nothing of the pool");

  // the same root ordered again: every provider holds it, nothing can be placed; the order expires and refunds
  const acc = byName(w, "attacker client");
  const before = { wealth: wealthOf(w, AC.publicKey), fees: acc.fees, paid: acc.pricesPaid };
  plans = [{ data: zeros.dataset(() => true), replicas: 1, durationEpochs: 6n }];
  const again = epochNow(w) + 1n;
  for (let e = again; e < again + 7n; e++) {
    playEpoch(w, e);
    t.same(duplicates(w), [], `epoch ${e}: no provider holds a root twice`);
  }
  const o2 = readOrder(w.chain.state, Uint8Array.from(Buffer.from([...w.datasets.keys()][1]!, "hex")))!;
  t.equal(o2.placements.length, 0, "the second order of the root is never placed");
  t.equal(o2.status, OrderStatus.EXPIRED, "it expires");
  t.equal(o2.escrow, 0n, "its escrow went back");
  t.equal(before.wealth - wealthOf(w, AC.publicKey), acc.fees - before.fees + (acc.pricesPaid - before.paid), "the client lost its fee and the direct deal's prices, nothing of the order's escrow");
});

t.test("the same data under many orders: one deal per provider and root, and the pool share stays within the collateral share", async (t) => {
  const zeros = RegenerableData.zeros(SIZE, 1024);
  // every epoch, four orders of the same root, served only to its own provider
  const client: ClientSpec = {
    name: "attacker client", key: AC, orders: () => Array.from({ length: 4 }, () => ({ data: zeros.dataset((p) => hex(p) === hex(AP.key)), replicas: 1, durationEpochs: 1000n })),
  };
  let n = 0;
  const honestClient: ClientSpec = {
    name: "client", key: testKey(7030),
    orders: () => [{ data: RegenerableData.prg(n++, 8192n, 512).dataset(() => true), replicas: 2, durationEpochs: 6n }],
  };
  const w = newWorld(t, { validators: [{ key: V, power: 1_000_000n }], providers: [...HONEST, AP], clients: [client, honestClient] });
  const last = 3n + BigInt(econSize(10));
  for (let e = 1n; e <= last; e++) {
    playEpoch(w, e);
    t.same(duplicates(w), [], `epoch ${e}: no provider holds a root twice`);
  }
  const apDeals = w.events.filter(({ event }) => event.kind === "storageDeal" && hex(event.provider) === hex(AP.key) && hex(readDeal(w.chain.state, event.deal)!.root) === hex(zeros.root)).length;
  const orders = w.events.filter(({ event }) => event.kind === "storageOrder" && hex(event.client) === hex(AC)).length;
  t.equal(apDeals, 1, `${orders} orders of one root: its provider holds one deal of it`);
  t.same(w.overCap, [], "no provider's reward exceeded its collateral share of an epoch's pool");
  const share = Number(byName(w, "attacker provider").storageReward) / Number((w.chain.genesis.params.emissionPerEpoch * 8_000n) / 10_000n * (last - 3n));
  t.comment(`the attacker provider's share of the pool offered: ${(share * 100).toFixed(1)}% (collateral share 25%)`);
  t.ok(share <= 0.25 + 1e-9, "within its collateral share");
  // the pass criterion: one person (its client and its provider) earns no more per unit of capital than an honest provider
  const h = HONEST.map((p) => outcome(w, p.name, [p.name]));
  const mean = h.reduce((a, o) => a + o.returnPpm, 0) / h.length;
  const sd = Math.sqrt(h.reduce((a, o) => a + (o.returnPpm - mean) ** 2, 0) / (h.length - 1));
  const attacker = outcome(w, "attacker (client and provider)", ["attacker client", "attacker provider"]);
  t.comment(formatOutcomes(`honest mean ${mean.toFixed(0)} ppm (sd ${sd.toFixed(0)})`, [...h, attacker]));
  t.ok(attacker.returnPpm <= mean + 2 * sd, `the attacker's return ${attacker.returnPpm.toFixed(0)} <= the honest providers' ${mean.toFixed(0)} + ${(2 * sd).toFixed(0)} ppm`);
});
