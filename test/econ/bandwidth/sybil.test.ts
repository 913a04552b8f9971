/**
 * Sybil relays behind one IP (issue #16; docs/protocol.md section 6, Tor's rule), on real blocks replayed
 * by a follower with the supply invariant checked (./world.ts): one link registers four relays
 * behind one IPv4 address, each probed at the link's full throughput. At most maxRelaysPerIp (2)
 * are assigned witnesses (most collateral, then key); the others are refused as
 * BANDWIDTH_RELAY_IP_LIMIT and earn nothing. Pass: the Sybil link earns less per unit of capital
 * than honest relays.
 */
import t from "tap";
import { equalBytes } from "../../../primitives/bytes.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { BandwidthErrorCode, readRelayEpoch, RelayLimit } from "../../../modules/bandwidth/bandwidth.ts";
import { testKey } from "../../helpers/chain.ts";
import { attestation, COLLATERAL, earnedFrom, FIRST_EPOCH, hex, newWorld, playEpoch, step, txs } from "./world.ts";

const V = testKey(4201);
const WITNESSES = Array.from({ length: 12 }, (_, i) => testKey(4210 + i));
const HONEST = Array.from({ length: 4 }, (_, i) => testKey(4240 + i));
const SYBILS = Array.from({ length: 4 }, (_, i) => testKey(4250 + i));
const ALL = [V, ...WITNESSES, ...HONEST, ...SYBILS];
const keyOf = (pub: Uint8Array): KeyPair => ALL.find((k) => equalBytes(k.publicKey, pub))!;
const T = 500_000n;

t.test("four relays behind one IP: two are credited, the others refused; the Sybil link earns less per unit of capital than an honest relay", async (t) => {
  const w = newWorld(t, {
    validators: [{ key: V, power: COLLATERAL }],
    witnesses: WITNESSES.map((key) => ({ key })),
    relays: [...HONEST.map((key) => ({ key })), ...SYBILS.map((key, i) => ({ key, ip: "192.0.2.7", collateral: COLLATERAL + BigInt(i) }))],
  });
  const E = FIRST_EPOCH;
  const codes: string[] = [];
  for (const e of [E, E + 1n]) codes.push(...playEpoch(w, e, () => T, keyOf));
  const limited = SYBILS.filter((s) => readRelayEpoch(w.chain.state, s.publicKey, E)!.limited === RelayLimit.IP_LIMIT);
  t.same(limited.map(hex), SYBILS.slice(0, 2).map(hex), "the two with the least collateral get no witnesses");
  // an attestation for a limited relay is refused with its own code
  const b = step(w, txs(w, [[w.carrier, { type: "bandwidth.attest", attestation: attestation(w, WITNESSES[0]!, SYBILS[0]!.publicKey, E + 2n, T) }]]));
  t.equal(b.receipts[0]!.code, BandwidthErrorCode.ATTEST_WRONG_EPOCH, "(epoch E + 2 is not assigned in its first block)");
  const sybilEarned = SYBILS.reduce((s, k) => s + earnedFrom(w, k, "bandwidth"), 0n);
  const sybilCapital = SYBILS.reduce((s, _k, i) => s + COLLATERAL + BigInt(i), 0n);
  const honestEarned = earnedFrom(w, HONEST[0]!, "bandwidth");
  const per = (e: bigint, c: bigint) => Number((e * 1_000_000n) / c) / 1_000_000;
  t.comment(`two epochs: an honest relay earned ${honestEarned} on ${COLLATERAL} (${per(honestEarned, COLLATERAL)}/unit); the Sybil link ${sybilEarned} on ${sybilCapital} (${per(sybilEarned, sybilCapital)}/unit)`);
  t.ok(per(sybilEarned, sybilCapital) < per(honestEarned, COLLATERAL), "the Sybil link earns less per unit of capital");
  t.ok(sybilEarned <= 2n * honestEarned + 2n, "and at most what two honest relays earn");
  t.equal(codes.length > 0, true);
});

t.test("the refusal: an attestation for a relay over its per-IP limit is BANDWIDTH_RELAY_IP_LIMIT; without an IP, BANDWIDTH_RELAY_NO_IP", async (t) => {
  const DNS = testKey(4260);
  const w = newWorld(t, {
    validators: [{ key: V, power: COLLATERAL }],
    witnesses: WITNESSES.map((key) => ({ key })),
    relays: [...SYBILS.slice(0, 3).map((key) => ({ key, ip: "192.0.2.9" }))],
  });
  w.chain.keys.push(DNS);
  step(w, txs(w, [[w.carrier, { type: "transfer", to: DNS.publicKey, amount: 10n * COLLATERAL }]]));
  step(w, txs(w, [[DNS, { type: "provider.register", kind: 1, collateral: COLLATERAL, capacity: COLLATERAL, multiaddr: "/dns4/relay.example/tcp/4001" }]]));
  const E = FIRST_EPOCH + 1n;
  const { toWindow } = await import("./world.ts");
  toWindow(w, E);
  const over = SYBILS.slice(0, 3).find((s) => readRelayEpoch(w.chain.state, s.publicKey, E)!.limited === RelayLimit.IP_LIMIT)!;
  t.ok(over, "one of three is over the limit");
  t.equal(readRelayEpoch(w.chain.state, DNS.publicKey, E)!.limited, RelayLimit.NO_IP, "a /dns4 relay has no IP");
  const b = step(w, txs(w, [
    [w.carrier, { type: "bandwidth.attest", attestation: attestation(w, WITNESSES[0]!, over.publicKey, E, T) }],
    [w.carrier, { type: "bandwidth.attest", attestation: attestation(w, WITNESSES[0]!, DNS.publicKey, E, T) }],
  ]));
  t.same(b.receipts.map((r) => r.code), [BandwidthErrorCode.RELAY_IP_LIMIT, BandwidthErrorCode.RELAY_NO_IP]);
  const { toEpochEnd } = await import("./world.ts");
  toEpochEnd(w, E);
  t.same(
    w.events.filter((e) => e.kind === "bandwidthUnjudged" && e.epoch === E).map((e) => (e.kind === "bandwidthUnjudged" ? e.reason : "")).filter((r) => r !== "fewAttestations").sort(),
    ["ipLimit", "noIp"],
    "both not judged, with the reason",
  );
});
