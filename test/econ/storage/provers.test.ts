/**
 * Strategy 5 of issue #15 on real blocks (./world.ts): a provider that accepts every placement
 * without fetching anything and never proves, among five honest providers.
 */
import t from "tap";
import { testKey } from "../../helpers/chain.ts";
import { econSize } from "../harness.ts";
import { readDeal, DealStatus } from "../../../modules/storage/storage.ts";
import {
  byName, COLLATERAL, formatAccount, formatOutcomes, hex, newWorld, outcome, playEpochs, realDataset, type ClientSpec, type ProviderSpec,
} from "./world.ts";

// the runner's 180 s per file, scaled with the size (npm run econ plays five times as long)
t.setTimeout(econSize(180_000));

t.test("a provider that accepts and never proves is slashed to the client each missed epoch, fails its deals, is banned, and earns less than honest", async (t) => {
  const honest = [0, 1, 2, 3, 4].map((i): ProviderSpec => ({ name: `honest ${i}`, key: testKey(7210 + i), collateral: COLLATERAL, behaviour: "honest" }));
  const lazy: ProviderSpec = { name: "never proves", key: testKey(7220), collateral: COLLATERAL, behaviour: "neverProve" };
  let seed = 1;
  const clients: ClientSpec[] = [0, 1].map((i) => ({
    name: `client ${i}`, key: testKey(7230 + i), orders: () => [0, 1].map(() => ({ data: realDataset(seed++, 8192, 512), replicas: 2, durationEpochs: 6n })),
  }));
  const w = newWorld(t, { validators: [{ key: testKey(7201), power: 1_000_000n }], providers: [...honest, lazy], clients });
  playEpochs(w, 1n, 3n + BigInt(econSize(16)));
  const p = w.chain.genesis.params;

  const deals = w.events.flatMap(({ event }) => (event.kind === "storageDeal" && hex(event.provider) === hex(lazy.key) ? [event] : []));
  t.ok(deals.length > 0, `it accepted ${deals.length} placements`);
  const slashes = w.events.flatMap(({ event }) => (event.kind === "storageSlash" ? [event] : []));
  t.ok(slashes.every((s) => hex(s.provider) === hex(lazy.key)), "only it is slashed");
  const ended = deals.map((d) => readDeal(w.chain.state, d.deal)!).filter((d) => d.status !== DealStatus.ACTIVE);
  t.ok(ended.length > 0 && ended.every((d) => d.status === DealStatus.FAILED && d.misses === p.maxMissedProofs), `its ${ended.length} ended deals all failed after ${p.maxMissedProofs} misses`);
  for (const d of ended) {
    const mine = slashes.filter((s) => hex(s.deal) === hex(d.id));
    t.equal(mine.length, p.maxMissedProofs, "one slash per missed epoch");
    t.ok(mine.every((s) => s.amount === (d.collateral * BigInt(p.missSlashBps)) / 10_000n && hex(s.client) === hex(d.client)), "missSlashBps of the collateral, to the deal's client");
  }
  const bans = w.events.flatMap(({ event }) => (event.kind === "providerBan" && hex(event.provider) === hex(lazy.key) ? [event] : []));
  t.ok(bans.length > 0, `banned ${bans.length} times (strikes ${bans.map((b) => b.strikes).join(", ")})`);
  const l = byName(w, lazy.name);
  t.equal(l.pricesReceived, 0n, "never paid a price");
  t.equal(l.storageReward, 0n, "never paid from the pool");
  t.equal(l.slashed, byName(w, "client 0").slashReceived + byName(w, "client 1").slashReceived, "what it lost went to its clients");

  const h = honest.map((x) => outcome(w, x.name, [x.name]));
  const o = outcome(w, lazy.name, [lazy.name]);
  t.comment(formatOutcomes("returns per unit of capital", [...h, o]));
  t.comment(formatAccount(l));
  t.ok(h.every((x) => x.returnPpm > o.returnPpm), "every honest provider earns more per unit of capital");
  t.ok(o.gain < 0n, `it loses: ${o.gain}`);
});
