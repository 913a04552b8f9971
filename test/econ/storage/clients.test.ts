/**
 * Strategy 4 of issue #15 on real blocks (./world.ts): a client that orders storage and never
 * serves the data. The providers drawn for it cannot fetch it: three decline (no penalty for them;
 * each decline burns a failure charge of the client's placement bond), three stay silent (the placement expires: a missed service epoch, with its ban). An honest client orders
 * real data at the same time so that every provider has something to lose.
 */
import t from "tap";
import { testKey } from "../../helpers/chain.ts";
import { econSize } from "../harness.ts";
import { readOrder } from "../../../modules/storage/orders.ts";
import { OrderStatus, PlacementStatus } from "../../../modules/storage/records.ts";
import {
  byName, COLLATERAL, formatAccount, formatOutcomes, hex, newWorld, outcome, playEpochs, realDataset, wealthOf, type ClientSpec, type ProviderSpec,
} from "./world.ts";

// the runner's 180 s per file, scaled with the size (npm run econ plays five times as long)
t.setTimeout(econSize(180_000));

t.test("a client that never serves its data gains nothing: its escrow comes back, each decline burns a failure charge; a silent provider loses what a declining one keeps", async (t) => {
  const decliners = [0, 1, 2].map((i): ProviderSpec => ({ name: `declines ${i}`, key: testKey(7110 + i), collateral: COLLATERAL, behaviour: "honest" }));
  const silent = [0, 1, 2].map((i): ProviderSpec => ({ name: `silent ${i}`, key: testKey(7120 + i), collateral: COLLATERAL, behaviour: "silent" }));
  let seed = 1;
  const honestClient: ClientSpec = {
    name: "honest client", key: testKey(7130), orders: () => [0, 1].map(() => ({ data: realDataset(seed++, 8192, 512), replicas: 2, durationEpochs: 6n })),
  };
  const mute: ClientSpec = {
    name: "mute client", key: testKey(7131), orders: () => [{ data: realDataset(1000 + seed++, 8192, 512, () => false), replicas: 2, durationEpochs: 6n }],
  };
  const w = newWorld(t, { validators: [{ key: testKey(7101), power: 1_000_000n }], providers: [...decliners, ...silent], clients: [honestClient, mute] });
  const start = wealthOf(w, mute.key.publicKey);
  const last = 3n + BigInt(econSize(14));
  playEpochs(w, 1n, last);
  // let its last orders close: no more orders, to the last one's close epoch
  const muteOrders = w.events.filter(({ event }) => event.kind === "storageOrder" && hex(event.client) === hex(mute.key)).map(({ event }) => event.kind === "storageOrder" ? event : undefined!);
  const closes = muteOrders.reduce((a, o) => (o.closeEpoch > a ? o.closeEpoch : a), 0n);
  w.clients.length = 0;
  playEpochs(w, last + 1n, closes + 1n);

  const orders = muteOrders.map((o) => readOrder(w.chain.state, o.order)!);
  t.ok(orders.length >= 10, `${orders.length} orders never served`);
  t.ok(orders.every((o) => o.status === OrderStatus.EXPIRED && o.escrow === 0n && o.bond === 0n), "every one expired with its escrow and the bond left refunded");
  t.ok(orders.every((o) => o.placements.every((p) => p.status === PlacementStatus.DECLINED || p.status === PlacementStatus.EXPIRED)), "every placement was declined or expired: no deal");
  const m = byName(w, "mute client");
  t.equal(m.pricesPaid, 0n, "it paid no price");
  const burned = orders.reduce((a, o) => a + o.burned, 0n);
  const declines = orders.reduce((a, o) => a + o.placements.filter((p) => p.status === PlacementStatus.DECLINED).length, 0);
  t.ok(declines > 0, `${declines} placements declined`);
  t.equal(burned, orders.reduce((a, o) => a + o.failureCharge * BigInt(Math.min(o.replicas, o.placements.filter((p) => p.status === PlacementStatus.DECLINED).length)), 0n),
    "each decline burned one failure charge while the bond held one");
  t.equal(wealthOf(w, mute.key.publicKey), start - m.fees - burned, `it lost exactly its fees (${m.fees}) and the charges its declines burned (${burned}): no gain`);

  // the providers drawn for it
  const bans = new Map<string, number>();
  for (const { event } of w.events) if (event.kind === "providerBan") bans.set(hex(event.provider), (bans.get(hex(event.provider)) ?? 0) + 1);
  t.ok(decliners.every((p) => !bans.has(hex(p.key))), "a provider that declines is never banned");
  t.ok(silent.every((p) => byName(w, p.name).expired > 0 && (bans.get(hex(p.key)) ?? 0) > 0), "a silent one misses a service epoch per expired placement and is banned");
  const d = decliners.map((p) => outcome(w, p.name, [p.name]));
  const s = silent.map((p) => outcome(w, p.name, [p.name]));
  t.comment(formatOutcomes("returns per unit of capital", [...d, ...s, outcome(w, "mute client", ["mute client"])]));
  for (const p of [...decliners, ...silent]) t.comment(formatAccount(byName(w, p.name)));
  const mean = (xs: { returnPpm: number }[]) => xs.reduce((a, x) => a + x.returnPpm, 0) / xs.length;
  t.comment(`declining: ${mean(d).toFixed(0)} ppm; staying silent: ${mean(s).toFixed(0)} ppm (${(100 - (100 * mean(s)) / mean(d)).toFixed(0)}% less)`);
  t.ok(mean(s) < mean(d), "staying silent earns less than declining");
});
