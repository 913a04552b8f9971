/**
 * Adversarial witness strategies against honest ones on real blocks (issue #16;
 * docs/protocol.md sections 6 and 7): silent witnesses against a competitor, two of seven colluders with one honest
 * witness present (the rest silent, or attesting), lying minorities, a down relay whose failure is
 * attested (and two witnesses claiming it is up), borrowed weight, and exit-to-escape. Each block is replayed
 * by a follower and the supply invariant is checked after it (./world.ts). Pass: no strategy earns
 * more per unit of capital than an honest relay or witness, and a relay's credited value moves by 0
 * with fewer than a quorum of colluders.
 */
import t from "tap";
import { equalBytes } from "../../../primitives/bytes.ts";
import type { KeyPair } from "../../../primitives/keys.ts";
import { firstHeightOfEpoch } from "../../../chain/epoch.ts";
import { BandwidthErrorCode, readRelayEpoch, readWitnessRecord } from "../../../modules/bandwidth/bandwidth.ts";
import { duplicateAttestationEvidence } from "../../../modules/bandwidth/evidence.ts";
import { ProviderStatus, readProvider } from "../../../modules/storage/storage.ts";
import { testKey } from "../../helpers/chain.ts";
import {
  attestation, COLLATERAL, earnedBy, earnedFrom, FIRST_EPOCH, hex, newWorld, playEpoch, step, toEpochEnd, toWindow, txs, type World,
} from "./world.ts";

const V = testKey(4001);
const WITNESSES = Array.from({ length: 12 }, (_, i) => testKey(4010 + i));
const RELAYS = Array.from({ length: 4 }, (_, i) => testKey(4040 + i));
const ALL = [V, ...WITNESSES, ...RELAYS];
const keyOf = (pub: Uint8Array): KeyPair => ALL.find((k) => equalBytes(k.publicKey, pub))!;
const T = 500_000n;

function world(t: Parameters<typeof newWorld>[0], extra: KeyPair[] = []): World {
  return newWorld(t, { validators: [{ key: V, power: COLLATERAL }], witnesses: [...WITNESSES, ...extra].map((key) => ({ key })), relays: RELAYS.map((key) => ({ key })) });
}
const perCapital = (earned: bigint, capital: bigint) => Number((earned * 1_000_000n) / capital) / 1_000_000;
/** The witnesses of `relay` in `epoch`, in draw order. */
const witnessesOf = (w: World, relay: KeyPair, epoch: bigint) => readRelayEpoch(w.chain.state, relay.publicKey, epoch)!.witnesses;
const credited = (w: World, relay: KeyPair, epoch: bigint) => readRelayEpoch(w.chain.state, relay.publicKey, epoch)!.credited;

t.test("silent and lying colluders below a quorum move a relay's credit by 0, earn less than honest witnesses, and ban no relay", async (t) => {
  const w = world(t);
  const E = FIRST_EPOCH;
  // epoch E: everybody honest (the baseline)
  playEpoch(w, E, () => T, keyOf);
  const honest = new Map(RELAYS.map((r) => [hex(r), credited(w, r, E)]));
  t.same([...honest.values()], RELAYS.map(() => T), "honest: every relay credited its throughput");

  // epoch E + 1: against R0, 3 of its 7 witnesses stay silent; against R1, 3 report 1/100; against R2, 3 report 100x
  const [R0, R1, R2, R3] = RELAYS as [KeyPair, KeyPair, KeyPair, KeyPair];
  toWindow(w, E + 1n);
  const silent = witnessesOf(w, R0, E + 1n).slice(0, 3);
  const low = witnessesOf(w, R1, E + 1n).slice(0, 3);
  const high = witnessesOf(w, R2, E + 1n).slice(0, 3);
  const before = new Map(ALL.map((k) => [hex(k), { bandwidth: earnedFrom(w, k, "bandwidth"), witness: earnedFrom(w, k, "witness") }]));
  playEpoch(w, E + 1n, (relay, wit) => {
    if (equalBytes(relay, R0.publicKey) && silent.some((k) => equalBytes(k, wit))) return null;
    if (equalBytes(relay, R1.publicKey) && low.some((k) => equalBytes(k, wit))) return T / 100n;
    if (equalBytes(relay, R2.publicKey) && high.some((k) => equalBytes(k, wit))) return T * 100n;
    return T;
  }, keyOf);
  for (const r of [R0, R1, R2, R3]) t.equal(credited(w, r, E + 1n), T, `${hex(r).slice(0, 8)}: credited value moved by 0 with 3 of 7 colluders`);
  t.same(w.events.filter((e) => e.kind === "providerBan"), [], "no relay banned");
  const gain = (k: KeyPair | Uint8Array, pool: "bandwidth" | "witness") => earnedFrom(w, k, pool) - before.get(hex(k))![pool];
  const relayGain = RELAYS.map((r) => gain(r, "bandwidth"));
  t.same(relayGain, relayGain.map(() => relayGain[0]), "every relay earned the same: the colluders bought nothing against R0, R1, R2");
  const colluders = [...new Set([...silent, ...low, ...high].map(hex))];
  // Witness pay per assignment: every witness here has the same capital, and assignments are drawn
  // by capital, so per assignment is per unit of capital without the luck of how many relays drew
  // a key in this one epoch (keys drawn for no relay earn nothing, honest or not).
  const assignments = new Map<string, bigint>();
  for (const r of RELAYS) for (const k of witnessesOf(w, r, E + 1n)) assignments.set(hex(k), (assignments.get(hex(k)) ?? 0n) + 1n);
  const honestWitnesses = ALL.filter((k) => !colluders.includes(hex(k)) && assignments.has(hex(k)));
  const perAssignment = (ks: (KeyPair | Uint8Array)[]) =>
    ks.reduce((s, k) => s + gain(k, "witness"), 0n) / ks.reduce((s, k) => s + (assignments.get(hex(k)) ?? 0n), 0n);
  const colluderAvg = perAssignment(colluders.map((h) => keyOf(Buffer.from(h, "hex"))));
  const honestAvg = perAssignment(honestWitnesses);
  t.comment(`epoch E+1 witness pay per assignment (capital ${COLLATERAL} each): honest ${honestAvg} (${perCapital(honestAvg, COLLATERAL)}/unit), colluders ${colluderAvg} (${perCapital(colluderAvg, COLLATERAL)}/unit)`);
  t.ok(colluderAvg < honestAvg, "colluders earn less per unit of capital than honest witnesses");
  t.ok(silent.every((k) => readWitnessRecord(w.chain.state, k).bannedUntil > E + 2n), "silent witnesses missed a service epoch and are banned as witnesses");
  t.comment(`honest relay: ${relayGain[0]} per epoch from the relay pool on ${COLLATERAL} (${perCapital(relayGain[0]!, COLLATERAL)}/unit)`);
});

t.test("two of seven colluders with one honest witness present: the relay is not judged (no credit, no ban); the old rule credited the liars", async (t) => {
  const w = world(t);
  const E = FIRST_EPOCH;
  const R0 = RELAYS[0]!;
  toWindow(w, E);
  const ws = witnessesOf(w, R0, E);
  const [c1, c2, honest] = ws;
  const rep = readProvider(w.chain.state, R0.publicKey)!.reputation;
  playEpoch(w, E, (relay, wit) => {
    if (!equalBytes(relay, R0.publicKey)) return T;
    if (equalBytes(wit, c1!) || equalBytes(wit, c2!)) return T * 10n;
    return equalBytes(wit, honest!) ? T : null;
  }, keyOf);
  t.equal(credited(w, R0, E), null, "not judged: credited moves by 0");
  t.same(readProvider(w.chain.state, R0.publicKey)!.reputation, rep, "reputation untouched");
  t.equal(readProvider(w.chain.state, R0.publicKey)!.bannedUntil, 0n, "not banned");
  t.ok(w.events.some((e) => e.kind === "bandwidthUnjudged" && equalBytes(e.relay, R0.publicKey) && e.reason === "fewAttestations"));
  // the colluders' attestations of R0 pay nothing (R0 is not judged); their other assignments pay as
  // an honest witness's do: per assignment they earn less than the witnesses of the other relays
  const assignments = new Map<string, bigint>();
  for (const r of RELAYS) for (const k of witnessesOf(w, r, E)) assignments.set(hex(k), (assignments.get(hex(k)) ?? 0n) + 1n);
  const perAssignment = (ks: Uint8Array[]) => ks.reduce((s, k) => s + earnedFrom(w, k, "witness"), 0n) / ks.reduce((s, k) => s + assignments.get(hex(k))!, 0n);
  const others = [...assignments.keys()].filter((h) => !ws.some((k) => hex(k) === h)).map((h) => Buffer.from(h, "hex"));
  const colluderPay = perAssignment([c1!, c2!]);
  const otherPay = perAssignment(others);
  t.comment(`witness pay per assignment: colluders ${colluderPay}, witnesses of the other relays only ${otherPay}`);
  t.ok(colluderPay < otherPay, "the colluders earn less per assignment (per unit of capital) than witnesses that only served honest relays");
  t.comment("the old rule (quorum 3 of 5, lower median of [T, 10T, 10T]) would have credited 10T, capped at the capacity");
});

t.test("failures are attested: the other five witnesses present outvote two colluders; a relay that is down is judged on throughput 0 and its honest witnesses are paid", async (t) => {
  const w = world(t);
  const E = FIRST_EPOCH;
  const [R0, R1] = RELAYS as [KeyPair, KeyPair];
  toWindow(w, E);
  const ws0 = witnessesOf(w, R0, E);
  const ws1 = witnessesOf(w, R1, E);
  // R0: two colluders claim 10T, the other five measure T. R1 is down: its witnesses attest 0, except
  // two colluders that claim it is up (T): the relay's owner buying a credit it did not earn
  const [c1, c2] = ws0;
  const [u1, u2] = ws1;
  const before = new Map(ALL.map((k) => [hex(k), earnedFrom(w, k, "witness")]));
  playEpoch(w, E, (relay, wit) => {
    if (equalBytes(relay, R0.publicKey)) return equalBytes(wit, c1!) || equalBytes(wit, c2!) ? T * 10n : T;
    if (equalBytes(relay, R1.publicKey)) return equalBytes(wit, u1!) || equalBytes(wit, u2!) ? T : 0n;
    return T;
  }, keyOf);
  t.equal(credited(w, R0, E), T, "R0: the lower median of [T x5, 10T x2] is T: moved by 0");
  t.equal(credited(w, R1, E), 0n, "R1 (down): the lower median of [0 x5, T x2] is 0: judged, no credit, moved by 0 by two claiming it up");
  t.ok(readProvider(w.chain.state, R1.publicKey)!.bannedUntil > E + 1n, "R1: a failed service epoch, banned");
  t.equal(earnedFrom(w, R1, "bandwidth"), 0n, "R1 earns nothing from the relay pool");
  const gain = (k: Uint8Array) => earnedFrom(w, k, "witness") - before.get(hex(k))!;
  const onlyFor = (ws: readonly Uint8Array[], exclude: readonly Uint8Array[]) => ws.filter((k) => !exclude.some((x) => equalBytes(x, k)));
  // a witness's pay counts its paid attestations across relays; compare witnesses assigned the same number of relays
  const assignments = new Map<string, number>();
  for (const r of RELAYS) for (const k of witnessesOf(w, r, E)) assignments.set(hex(k), (assignments.get(hex(k)) ?? 0) + 1);
  const honestFailure = onlyFor(ws1, [u1!, u2!, ...ws0]);
  t.ok(honestFailure.length > 0, "R1 has witnesses that attested its failure honestly (and are not R0's)");
  for (const k of honestFailure) t.ok(gain(k) > 0n, `${hex(k).slice(0, 8)}: paid for attesting R1's failure (at its median, 0)`);
  for (const liar of [c1!, c2!, u1!, u2!]) {
    const peers = [...assignments.keys()].filter((h) => assignments.get(h) === assignments.get(hex(liar)) && ![c1!, c2!, u1!, u2!].some((x) => hex(x) === h));
    if (peers.length === 0) continue;
    const peerPay = peers.reduce((s, h) => s + gain(Buffer.from(h, "hex")), 0n) / BigInt(peers.length);
    t.ok(gain(liar) < peerPay, `${hex(liar).slice(0, 8)} (a liar, ${assignments.get(hex(liar))} assignment(s)): ${gain(liar)} < ${peerPay}, the mean of honest witnesses with as many`);
  }
});

t.test("borrowed weight: a witness that exits after the assignment cannot attest, earns nothing, and its collateral stays locked", async (t) => {
  const BIG = testKey(4090);
  const w = newWorld(t, {
    validators: [{ key: V, power: COLLATERAL }],
    witnesses: [...WITNESSES.map((key) => ({ key })), { key: BIG, collateral: 10n * COLLATERAL }],
    relays: RELAYS.map((key) => ({ key })),
  });
  const E = FIRST_EPOCH;
  toWindow(w, E);
  const assigned = RELAYS.filter((r) => witnessesOf(w, r, E).some((k) => equalBytes(k, BIG.publicKey)));
  t.ok(assigned.length > 0, `the heavy witness is assigned to ${assigned.length} relays`);
  const lockedFrom = w.chain.state.account(BIG.publicKey).balance;
  step(w, txs(w, [[BIG, { type: "provider.exit" }]]));
  const codes = playEpoch(w, E, () => T, (pub) => (equalBytes(pub, BIG.publicKey) ? BIG : keyOf(pub)));
  t.equal(codes.filter((c) => c === BandwidthErrorCode.WITNESS_UNBONDED).length, assigned.length, "its attestations are refused: WITNESS_UNBONDED");
  t.equal(earnedBy(w, BIG), 0n, "it earns nothing");
  t.equal(readProvider(w.chain.state, BIG.publicKey)!.status, ProviderStatus.EXITING, "its collateral stays locked (exiting)");
  t.equal(w.chain.state.account(BIG.publicKey).balance, lockedFrom - 1000n, "nothing came back but the fee was paid");
  const honestEarned = earnedBy(w, WITNESSES.find((k) => earnedBy(w, k) > 0n)!);
  t.comment(`borrowed weight: 0 on ${10n * COLLATERAL} locked for 4 epochs; an honest witness: ${honestEarned} on ${COLLATERAL} in one epoch`);
  for (const r of RELAYS) t.equal(credited(w, r, E), T, "every relay still credited by the honest rest");
});

t.test("exit-to-escape and unstake-to-escape: double-attestation evidence reaches exiting collateral and unbonding stake", async (t) => {
  const V2 = testKey(4002);
  const w = newWorld(t, {
    validators: [{ key: V, power: COLLATERAL }, { key: V2, power: COLLATERAL }],
    witnesses: WITNESSES.map((key) => ({ key })),
    relays: RELAYS.map((key) => ({ key })),
  });
  const E = FIRST_EPOCH;
  toWindow(w, E);
  // a provider witness and a validator witness, each assigned to some relay
  const pick = (pred: (k: Uint8Array) => boolean) => {
    for (const r of RELAYS) for (const k of witnessesOf(w, r, E)) if (pred(k)) return { relay: r, witness: k };
    return undefined;
  };
  const prov = pick((k) => WITNESSES.some((x) => equalBytes(x.publicKey, k)))!;
  // the validator witness: evidence needs two signed attestations, not an assignment; when V2 is
  // drawn, its first attestation is also carried on chain
  const drawn = pick((k) => equalBytes(k, V2.publicKey));
  const val = drawn ?? { relay: RELAYS[0]!, witness: V2.publicKey };
  const key = (pub: Uint8Array) => (equalBytes(pub, V2.publicKey) ? V2 : keyOf(pub));
  const a1 = attestation(w, key(prov.witness), prov.relay.publicKey, E, T);
  const a2 = attestation(w, key(prov.witness), prov.relay.publicKey, E, T * 2n);
  const ops: [KeyPair, import("../../../chain/tx.ts").Operation][] = [[w.carrier, { type: "bandwidth.attest", attestation: a1 }], [key(prov.witness), { type: "provider.exit" }]];
  const v1 = attestation(w, V2, val.relay.publicKey, E, T);
  const v2 = attestation(w, V2, val.relay.publicKey, E, T * 3n);
  if (drawn) ops.push([w.carrier, { type: "bandwidth.attest", attestation: v1 }]);
  ops.push([V2, { type: "unstake", amount: COLLATERAL }]);
  const b = step(w, txs(w, ops));
  t.same(b.receipts.map((r) => r.code), b.receipts.map(() => ""), "attested, then exited / unstaked everything");
  toEpochEnd(w, E);
  toWindow(w, E + 2n);
  const collateral = readProvider(w.chain.state, prov.witness)!.collateral;
  t.equal(w.chain.state.account(V2.publicKey).staked, 0n, "V2 holds no stake: all of it unbonds");
  const evidence = [duplicateAttestationEvidence(w.chain.genesis.chainId, a1, a2), duplicateAttestationEvidence(w.chain.genesis.chainId, v1, v2)];
  const burned0 = w.chain.state.meta().burned;
  const ev = step(w, [], { evidence });
  t.equal(ev.block.evidence.length, evidence.length, "the evidence is accepted two epochs later (no EVIDENCE_UNKNOWN_WITNESS)");
  const slashes = ev.events.filter((e) => e.kind === "attestSlash");
  t.equal(slashes[0]!.amount, (collateral * 1000n) / 10_000n, "10% of the exiting collateral burned");
  t.equal(slashes[1]!.amount, (COLLATERAL * 1000n) / 10_000n, "10% of the unbonding stake burned");
  t.equal(w.chain.state.account(V2.publicKey).unbonding.reduce((a, u) => a + u.amount, 0n), COLLATERAL - slashes[1]!.amount, "taken from its unbonding entry");
  t.comment(`unstake-to-escape (V2 ${drawn ? "drawn, its first attestation on chain" : "not drawn: signed only"}): ${slashes[1]!.amount} burned from the unbonding stake`);
  t.ok(w.chain.state.meta().burned - burned0 >= slashes.reduce((s, e) => s + e.amount, 0n));
  t.comment(`exit-to-escape: ${slashes[0]!.amount} burned of ${collateral} still locked; escaping bought nothing`);
  t.equal(firstHeightOfEpoch(E, 4) > 0n, true);
});
