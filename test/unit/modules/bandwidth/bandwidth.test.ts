/**
 * Proof of bandwidth (chain/bandwidth.ts, proofs/bandwidth.ts): the witness assignment, every
 * rejection of bandwidth.attest with its code, the median credit, reputation and bans, the
 * bandwidth pool, and duplicate-attestation evidence, through the real transition: every block is
 * built with buildBlock and re-applied by a follower that must reach the same root and events, and
 * the supply invariant is checked after each.
 */
import fc from "fast-check";
import t, { type Test } from "tap";
import { decodeBlock, makeBlock, type Block } from "../../../../chain/block.ts";
import { compareBytes, equalBytes, toHex } from "../../../../primitives/bytes.ts";
import { decode, encode, type CborValue } from "../../../../primitives/codec.ts";
import {
  assignWitnesses, attestSignBytes, BANDWIDTH_RECORD_EPOCHS, BandwidthErrorCode, checkAttestation, conflictingAttestation, creditedThroughput,
  listAssignments, lowerMedian, readLookbackSeed, readRelayEpoch, readSnapshot, readWitnessRecord, signAttestation, verifyAttestationSignature, witnessCandidates,
  type Attestation, type WitnessCandidate,
} from "../../../../modules/bandwidth/bandwidth.ts";
import { epochOfHeight, epochSeed, firstHeightOfEpoch, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import { EvidencePool } from "../../../../chain/evidence-pool.ts";
import { decodeEvidence, encodeEvidence, EvidenceErrorCode, evidenceHash, evidenceRoot, evidenceSubject, validateEvidenceBasic, verifyEvidence, type Evidence } from "../../../../chain/evidence.ts";
import { sha256 } from "../../../../primitives/hash.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import { rewardSchedule } from "../../../../modules/rewards/rewards.ts";
import { ProviderKind, readProvider, reputationBps, signDealAcceptance, type DealTerms } from "../../../../modules/storage/storage.ts";
import { applyBlock, type BuiltBlock, type ChainEvent } from "../../../../chain/transition.ts";
import { decodeTx, encodeTxBody, TxErrorCode, txParticipants, validateTxBasic, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { StorageProver } from "../../../../proofs/storage.ts";
import { defaultChainParams } from "../../../../chain/params.ts";
import { devnetGenesisFile } from "../../../../genesis/devnet.ts";
import { GenesisErrorCode, validateAndComplete, type GenesisFile } from "../../../../genesis/schema.ts";
import { advanceChecked, build, newTestChain, supplyHolds, testKey, tx, type TestChain } from "../../../helpers/chain.ts";
import { pseudoRandomBytes } from "../../../helpers/random.ts";
import { OpCode } from "../../../../modules/index.ts";
import { DuplicateAttestationErrorCode, duplicateAttestationEvidence, type DuplicateAttestationEvidence } from "../../../../modules/bandwidth/evidence.ts";
import { BandwidthKey } from "../../../../modules/bandwidth/records.ts";

const FEE = 1000n;
const FUNDS = 10_000_000_000n;
const COLLATERAL = 1_000_000n;
/** Relay capacity: bytes per second. */
const CAPACITY = 100_000n;
const V0 = testKey(601);
const WITNESS_POOL = [611, 612, 613, 614, 615, 616].map(testKey);
const [R1, R2, R3] = [testKey(621), testKey(622), testKey(623)] as [KeyPair, KeyPair, KeyPair];
const OTHER = testKey(631);
const CLIENT = testKey(632);
const ALL = [V0, ...WITNESS_POOL, R1, R2, R3, OTHER, CLIENT];

/** 8-block epochs; a validator weighing as much as a witness provider, so that draws matter. */
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: 8,
  minValidatorStake: "100000",
  witnessesPerRelay: 5,
  attestQuorum: 3,
  minProbeBytes: 1000,
  attestSlashBps: 1000,
  // witness pay and the per-IP limit have their own tests below
  witnessShareBps: 0,
  witnessToleranceBps: 2000,
  maxRelaysPerIp: 100,
  reputationWindowEpochs: 4,
  collateralPerByte: "1",
  emissionPerEpoch: "1000000",
  emissionDecayBps: 0,
  storageShareBps: 5000,
  bandwidthShareBps: 3000,
  validatorShareBps: 2000,
};

function newChain(params: Partial<GenesisFile["params"]> = {}): TestChain {
  return newTestChain({ validators: [{ key: V0, power: COLLATERAL }], params: { ...PARAMS, ...params }, balances: ALL.slice(1).map((key) => ({ key, amount: FUNDS })) });
}

const height = (chain: TestChain) => chain.state.meta().height;
const L = (chain: TestChain) => chain.genesis.params.epochLength;
const id = (chain: TestChain) => chain.genesis.chainId;
const hex = (k: Uint8Array) => toHex(k);
const keyOf = (pub: Uint8Array): KeyPair => ALL.find((k) => equalBytes(k.publicKey, pub))!;
const events = <K extends ChainEvent["kind"]>(b: BuiltBlock, kind: K) => b.events.filter((e): e is Extract<ChainEvent, { kind: K }> => e.kind === kind);

/**
 * One block with `txs`, re-applied by a follower (the events' JSON forms are the RPC's, checked by
 * its own tests). Fails the test on a rejected transaction or a broken supply invariant.
 */
function step(t: Test, chain: TestChain, txs: SignedTx[] = [], evidence?: Evidence[]): BuiltBlock {
  const built = advanceChecked((m) => t.fail(m), chain, txs, evidence ? { evidence } : {});
  if (built.rejected.length > 0) t.fail(`rejected at height ${built.block.header.height}: ${built.rejected[0]!.error.code}`);
  if (!supplyHolds(chain.state)) t.fail(`supply invariant broken at height ${height(chain)}`);
  return built;
}
/** The chain's next block with `evidence` forced in. */
function blockWithEvidence(chain: TestChain, evidence: Evidence[]): Block {
  const b = build(chain, []).block;
  return makeBlock({ ...b.header, evidenceRoot: evidenceRoot(evidence) }, b.txs, b.lastCommit, evidence);
}
/** The chain seed after the last block of `epoch` (the lookback seed of epoch + 1's draws), from the block list. */
function lastSeedOf(blocks: readonly BuiltBlock[], epoch: bigint): Uint8Array | undefined {
  return blocks.find((x) => x.block.header.height === lastHeightOfEpoch(epoch, 8))?.state.meta().seed;
}
function toHeight(t: Test, chain: TestChain, h: bigint): BuiltBlock[] {
  const out: BuiltBlock[] = [];
  while (height(chain) < h) out.push(step(t, chain));
  return out;
}
/**
 * The first epoch in which relays registered in epoch 0 are assigned: the lookback takes the
 * snapshot frozen at the end of epoch E - 2 (keys present at the ends of epochs 0 and 1) and the
 * seed of epoch E - 1.
 */
const E = 3n;
/** Until the next block is the second of `epoch` (its witnesses are assigned). */
const toWindow = (t: Test, chain: TestChain, epoch: bigint) => toHeight(t, chain, firstHeightOfEpoch(epoch, L(chain)));
/** Until the next block is the last of `epoch`. */
const toEpochEnd = (t: Test, chain: TestChain, epoch: bigint) => toHeight(t, chain, lastHeightOfEpoch(epoch, L(chain)) - 1n);

/** Transactions from several senders in one block, each sender's nonces in order. */
function txs(chain: TestChain, list: readonly [KeyPair, Operation][]): SignedTx[] {
  const nonces = new Map<string, bigint>();
  return list.map(([key, op]) => {
    const k = hex(key.publicKey);
    const n = nonces.get(k) ?? chain.state.account(key.publicKey).nonce;
    nonces.set(k, n + 1n);
    return tx(chain, key, n, op);
  });
}
const registerOp = (kind: number, capacity = COLLATERAL, collateral = COLLATERAL): Operation => ({ type: "provider.register", kind, collateral, capacity, multiaddr: "/ip4/127.0.0.1/tcp/4001" });

/** The witness pool registers as storage providers and R1, R2 as relays, in one block of epoch 0. */
function setup(t: Test, chain: TestChain): void {
  const b = step(t, chain, txs(chain, [
    ...WITNESS_POOL.map((k): [KeyPair, Operation] => [k, registerOp(ProviderKind.STORAGE)]),
    [R1, registerOp(ProviderKind.BANDWIDTH, CAPACITY)],
    [R2, registerOp(ProviderKind.BANDWIDTH, CAPACITY)],
  ]));
  t.same(b.receipts.map((r) => r.code), b.receipts.map(() => ""), "providers and relays register");
}

function attest(chain: TestChain, witness: KeyPair, relay: KeyPair, epoch: bigint, throughput: bigint, over: Partial<Attestation> = {}): Attestation {
  const a = signAttestation(id(chain), witness, { relay: relay.publicKey, epoch, bytes: 1_000_000n, throughput, latency: 2_000n });
  return { ...a, ...over };
}
const attestOp = (a: Attestation): Operation => ({ type: "bandwidth.attest", attestation: a });
const witnessesOf = (chain: TestChain, relay: KeyPair, epoch: bigint): KeyPair[] => readRelayEpoch(chain.state, relay.publicKey, epoch)!.witnesses.map(keyOf);

// ---- the assignment, pure ----

const key32 = (i: number): Uint8Array => sha256(new TextEncoder().encode(`candidate ${i}`));
function candidates(weights: readonly bigint[]): WitnessCandidate[] {
  return weights.map((weight, i) => ({ key: key32(i), weight })).sort((a, b) => compareBytes(a.key, b.key));
}

t.test("assignWitnesses: deterministic, never the relay, no repeats, min(w, eligible) witnesses, in draw order", async (t) => {
  const seed = sha256(new TextEncoder().encode("seed"));
  const cs = candidates([5n, 1n, 7n, 3n, 3n, 9n, 2n, 4n]);
  const relay = cs[2]!.key;
  const a = assignWitnesses(seed, relay, cs, 5);
  t.same(a, assignWitnesses(seed, relay, cs, 5), "the same inputs draw the same witnesses");
  t.equal(a.length, 5);
  t.notOk(a.some((k) => equalBytes(k, relay)), "never the relay");
  t.equal(new Set(a.map(hex)).size, 5, "no repeats");
  t.notSame(a.map(hex), [...a].sort(compareBytes).map(hex), "in draw order, not key order (for this seed)");
  t.notSame(assignWitnesses(sha256(seed), relay, cs, 5).map(hex), a.map(hex), "another seed draws differently");
  t.same(assignWitnesses(seed, relay, cs, 7).map(hex), cs.filter((c) => !equalBytes(c.key, relay)).map((c) => hex(c.key)), "as many eligible as w: all of them, in key order");
  t.same(assignWitnesses(seed, relay, cs, 16).length, 7, "fewer eligible than w: all of them");
  t.same(assignWitnesses(seed, key32(99), cs.slice(0, 3), 5).map(hex), cs.slice(0, 3).map((c) => hex(c.key)), "a relay that is not a candidate: all candidates");
  t.same(assignWitnesses(seed, relay, [], 5), [], "no candidate, no witness");
  t.same(assignWitnesses(seed, relay, cs, 0), [], "w = 0");
  t.throws(() => assignWitnesses(seed, relay, [...cs].reverse(), 3), RangeError, "candidates out of key order");
  t.throws(() => assignWitnesses(seed, relay, [cs[0]!, cs[0]!], 1), RangeError, "a duplicate candidate");
  t.throws(() => assignWitnesses(seed, relay, [{ ...cs[0]!, weight: 0n }], 1), RangeError, "a zero weight");
  // extreme skew: the relay holds nearly all the weight, every draw lands on it, and the rest is
  // filled by weight descending, then key ascending
  const skew = [{ key: relay, weight: 1n << 200n }, ...cs.filter((c) => !equalBytes(c.key, relay)).map((c) => ({ key: c.key, weight: 1n }))].sort((x, y) => compareBytes(x.key, y.key));
  const heavy = { ...skew.find((c) => !equalBytes(c.key, relay))! };
  const skew2 = skew.map((c) => (equalBytes(c.key, heavy.key) ? { key: c.key, weight: 2n } : c));
  const fallback = assignWitnesses(seed, relay, skew2, 3);
  const rest = skew2.filter((c) => !equalBytes(c.key, relay) && !equalBytes(c.key, heavy.key)).map((c) => hex(c.key));
  t.same(fallback.map(hex), [hex(heavy.key), ...rest.slice(0, 2)], "the bounded fallback: by weight descending, then key");
});

t.test("assignWitnesses is weighted: a candidate with 10x the weight is drawn far more often", async (t) => {
  const cs = candidates([10n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n]);
  const heavy = hex(key32(0));
  const relay = key32(999);
  const counts = new Map<string, number>();
  const seeds = pseudoRandomBytes(32 * 2000, 7);
  for (let i = 0; i < 2000; i++) {
    const [first] = assignWitnesses(seeds.subarray(32 * i, 32 * i + 32), relay, cs, 1);
    counts.set(hex(first!), (counts.get(hex(first!)) ?? 0) + 1);
  }
  const h = counts.get(heavy) ?? 0;
  const lightMax = Math.max(...[...counts].filter(([k]) => k !== heavy).map(([, n]) => n));
  // expected: 10/19 = 53% for the heavy one, 1/19 = 5% for each light one
  t.ok(h > 800 && h < 1300, `the heavy candidate drawn ${h} times of 2000`);
  t.ok(h > 5 * lightMax, `10x the weight, drawn ${h} vs at most ${lightMax}`);
  // with w = 3 the heavy candidate is almost always among the witnesses
  let among = 0;
  for (let i = 0; i < 500; i++) if (assignWitnesses(seeds.subarray(32 * i, 32 * i + 32), relay, cs, 3).some((k) => hex(k) === heavy)) among++;
  t.ok(among > 400, `among 3 witnesses ${among} times of 500`);
});

t.test("assignWitnesses: properties over random candidate sets", async (t) => {
  const cand = fc.uniqueArray(fc.record({ key: fc.uint8Array({ minLength: 32, maxLength: 32 }), weight: fc.oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: 1n << 80n })) }), {
    selector: (c) => hex(c.key), minLength: 0, maxLength: 30,
  });
  fc.assert(
    fc.property(cand, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat({ max: 40 }), fc.integer({ min: 1, max: 16 }), (raw, seed, relayPick, w) => {
      const cs = [...raw].sort((a, b) => compareBytes(a.key, b.key));
      const relay = relayPick < cs.length ? cs[relayPick]!.key : seed;
      const out = assignWitnesses(seed, relay, cs, w);
      const eligible = cs.filter((c) => !equalBytes(c.key, relay));
      if (out.length !== Math.min(w, eligible.length)) return false;
      if (out.some((k) => equalBytes(k, relay))) return false;
      if (new Set(out.map(hex)).size !== out.length) return false;
      if (!out.every((k) => eligible.some((c) => equalBytes(c.key, k)))) return false;
      return out.map(hex).join() === assignWitnesses(seed, relay, cs, w).map(hex).join();
    }),
    { numRuns: 300, seed: 4242 },
  );
  t.pass("min(w, eligible) distinct eligible witnesses, deterministically");
});

t.test("the credited throughput is the lower median of a quorum, capped at the capacity", async (t) => {
  t.equal(lowerMedian([5n]), 5n);
  t.equal(lowerMedian([4n, 1n, 3n, 2n]), 2n, "even count: the lower of the two middle values");
  t.equal(lowerMedian([9n, 1n, 5n]), 5n);
  t.throws(() => lowerMedian([]), RangeError);
  t.equal(creditedThroughput([10n, 20n], 3, 100n), 0n, "below the quorum: nothing");
  t.equal(creditedThroughput([10n, 20n, 30n], 3, 100n), 20n);
  t.equal(creditedThroughput([10n, 20n, 30n], 3, 15n), 15n, "capped at the capacity");
  t.equal(creditedThroughput([], 1, 15n), 0n);
});

// ---- bandwidth.attest ----

t.test("the chain assigns witnesses at the end of each epoch's first block from the lookback; the records are pruned after 4 epochs", async (t) => {
  const chain = newChain();
  setup(t, chain);
  const blocks = toHeight(t, chain, firstHeightOfEpoch(E, L(chain)));
  t.same(blocks.flatMap((b) => events(b, "bandwidthAssign")).map((e) => e.epoch), [E, E], "nothing assigned before epoch E: the relays were in no snapshot");
  const assignBlock = blocks.at(-1)!;
  const assigned = events(assignBlock, "bandwidthAssign");
  t.same(assigned.map((e) => [hex(e.relay), e.epoch, e.witnesses.length]), [R1, R2].map((r) => [hex(r.publicKey), E, 5]).sort(), "both relays get 5 witnesses, in key order");
  const seed = readLookbackSeed(chain.state, E - 1n)!;
  t.same(seed, lastSeedOf(blocks, E - 1n), "the seed is the previous epoch's: the chain seed after its last block");
  t.notSame(seed, epochSeed(chain.state, E), "not the epoch's own, which its first proposer knew in advance");
  t.notSame(seed, epochSeed(blocks.find((b) => b.block.header.height === firstHeightOfEpoch(E - 1n, 8))!.state, E - 1n), "nor the seed of the previous epoch's first block, which the proposer of the block before it could know");
  const cs = readSnapshot(chain.state, E - 2n)!.candidates;
  t.same(
    cs.map((c) => [hex(c.key), c.weight]),
    [V0, ...WITNESS_POOL, R1, R2].map((k) => k.publicKey).sort(compareBytes).map((k) => [hex(k), COLLATERAL]),
    "candidates: the validator by power and every active provider by collateral, by key, bonded through epoch E - 2",
  );
  for (const r of [R1, R2]) {
    const rec = readRelayEpoch(chain.state, r.publicKey, E)!;
    t.same(rec.witnesses.map(hex), assignWitnesses(seed, r.publicKey, cs, 5).map(hex), "anyone can recompute the assignment from the seed and the snapshot");
    t.same([rec.epoch, rec.attestations, rec.credited, rec.punished, rec.limited], [E, [], null, [], 0]);
    t.notOk(rec.witnesses.some((k) => equalBytes(k, r.publicKey)), "a relay never witnesses itself");
  }
  t.same(listAssignments(chain.state, E).map((a) => [hex(a.relay), a.witnesses.map(hex)]), [R1, R2].map((r) => [hex(r.publicKey), readRelayEpoch(chain.state, r.publicKey, E)!.witnesses.map(hex)]).sort());
  t.same(listAssignments(chain.state, E - 1n), []);
  t.same(listAssignments(chain.state, E + 1n), []);
  // a key that is both validator and provider weighs the sum at a boundary; the snapshot takes the minimum over two boundaries
  step(t, chain, txs(chain, [[V0, registerOp(ProviderKind.STORAGE, 500_000n, 500_000n)]]));
  t.equal(witnessCandidates(chain.state, chain.genesis.params).find((c) => equalBytes(c.key, V0.publicKey))!.weight, COLLATERAL + 500_000n, "power + collateral");
  toWindow(t, chain, E + 1n);
  // (V0 may also have been left out for missing its witness duties in E: then its weight is 0)
  t.ok((readSnapshot(chain.state, E)!.candidates.find((c) => equalBytes(c.key, V0.publicKey))?.weight ?? 0n) <= COLLATERAL, "added weight counts only once bonded for a whole epoch");
  // R1 and R2 are not attested in epoch E: not judged (no ban); their witnesses all missed and are banned as witnesses
  t.equal(readProvider(chain.state, R1.publicKey)!.bannedUntil, 0n, "a relay nobody attested is not banned");
  t.same(readProvider(chain.state, R1.publicKey)!.reputation, [], "nor is its reputation touched");
  const missed = readRelayEpoch(chain.state, R1.publicKey, E)!.witnesses[0]!;
  t.ok(readWitnessRecord(chain.state, missed).bannedUntil > E + 1n, "a silent witness is banned");
  t.notOk(readSnapshot(chain.state, E)!.candidates.some((c) => equalBytes(c.key, missed)), "a witness banned for the next epoch is no candidate of the snapshot");
  // records of epoch E are kept through epoch E + 3 and deleted at the end of epoch E + 4's first block
  toWindow(t, chain, E + BigInt(BANDWIDTH_RECORD_EPOCHS) - 1n);
  t.ok(readRelayEpoch(chain.state, R1.publicKey, E), "kept for 4 epochs");
  toWindow(t, chain, E + BigInt(BANDWIDTH_RECORD_EPOCHS));
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E), undefined, "deleted after");
  t.equal(chain.state.get(BandwidthKey.relaysOfEpoch(E)), undefined, "with the epoch's relay list");
  t.equal(readSnapshot(chain.state, E), undefined, "and the epoch's snapshot");
  t.same(listAssignments(chain.state, E), []);
});

t.test("the snapshot of epoch k holds only keys bonded through the whole of k: one registered or exiting during k is no candidate of the draws it feeds", async (t) => {
  const chain = newChain();
  setup(t, chain);
  const [NEWBIE, LEAVER] = [CLIENT, WITNESS_POOL[0]!];
  const k = 1n;
  // the middle of epoch k: NEWBIE registers, LEAVER exits
  toHeight(t, chain, firstHeightOfEpoch(k, L(chain)) + 3n);
  const b = step(t, chain, txs(chain, [[NEWBIE, registerOp(ProviderKind.STORAGE)], [LEAVER, { type: "provider.exit" }]]));
  t.same(b.receipts.map((r) => r.code), ["", ""]);
  toHeight(t, chain, lastHeightOfEpoch(k, L(chain)));
  const has = (epoch: bigint, key: KeyPair) => readSnapshot(chain.state, epoch)!.candidates.some((c) => equalBytes(c.key, key.publicKey));
  t.notOk(has(k, NEWBIE), "registered during k: not in S_k (it was not bonded at k's start)");
  t.notOk(has(k, LEAVER), "exited during k: not in S_k");
  t.ok(has(k, WITNESS_POOL[1]!), "a provider bonded through k is");
  t.ok(witnessCandidates(chain.state, chain.genesis.params).some((c) => equalBytes(c.key, NEWBIE.publicKey)), "though NEWBIE is in the boundary B_k");
  toWindow(t, chain, k + 2n);
  t.notOk(listAssignments(chain.state, k + 2n).some((a) => a.witnesses.some((w) => equalBytes(w, NEWBIE.publicKey) || equalBytes(w, LEAVER.publicKey))), "so neither witnesses in epoch k + 2, whose draw S_k feeds");
  toHeight(t, chain, lastHeightOfEpoch(k + 1n, L(chain)));
  t.same(readSnapshot(chain.state, k + 1n)!.candidates.find((c) => equalBytes(c.key, NEWBIE.publicKey))?.weight, COLLATERAL, "bonded through the whole of k + 1: in S_{k+1}, with its collateral");
  t.notOk(has(k + 1n, LEAVER), "an exited key never comes back");
});

t.test("every bad attestation fails with its own code, consuming only the fee and nonce", async (t) => {
  // 20-block epochs: every case fits in one epoch
  const chain = newChain({ epochLength: 20 });
  setup(t, chain);
  const p = chain.genesis.params;
  // the first block of epoch 1: the witnesses are not assigned yet
  toHeight(t, chain, firstHeightOfEpoch(E, L(chain)) - 1n);
  const early = step(t, chain, txs(chain, [[WITNESS_POOL[0]!, attestOp(attest(chain, WITNESS_POOL[0]!, R1, E, 50_000n))]]));
  t.equal(early.receipts[0]!.code, BandwidthErrorCode.ATTEST_WRONG_EPOCH, "an attestation in its epoch's first block");
  // R3 registers in epoch E: not in the snapshot E's assignment came from
  step(t, chain, txs(chain, [[R3, registerOp(ProviderKind.BANDWIDTH, CAPACITY)]]));
  const ws = witnessesOf(chain, R1, E);
  const assigned = ws[0]!;
  const unassigned = [...WITNESS_POOL, V0, R2].find((k) => !ws.some((w) => equalBytes(w.publicKey, k.publicKey)))!;
  const good = attest(chain, assigned, R1, E, 50_000n);
  const record = () => readRelayEpoch(chain.state, R1.publicKey, E);

  const cases: [string, KeyPair, Attestation, string][] = [
    ["an unassigned witness", unassigned, attest(chain, unassigned, R1, E, 50_000n), BandwidthErrorCode.NOT_ASSIGNED],
    ["a key in no snapshot", OTHER, attest(chain, OTHER, R1, E, 50_000n), BandwidthErrorCode.WITNESS_NOT_IN_SNAPSHOT],
    ["an unregistered relay", assigned, attest(chain, assigned, OTHER, E, 50_000n), BandwidthErrorCode.RELAY_NOT_REGISTERED],
    ["a storage provider as relay", assigned, attest(chain, assigned, WITNESS_POOL[5]!, E, 50_000n), BandwidthErrorCode.RELAY_NOT_REGISTERED],
    ["a future epoch", assigned, attest(chain, assigned, R1, E + 1n, 50_000n), BandwidthErrorCode.ATTEST_WRONG_EPOCH],
    ["a relay registered in this epoch", assigned, attest(chain, assigned, R3, E, 50_000n), BandwidthErrorCode.ATTEST_WRONG_EPOCH],
    ["a probe below minProbeBytes", assigned, signAttestation(id(chain), assigned, { ...good, bytes: 999n }), BandwidthErrorCode.PROBE_TOO_SMALL],
    ["a signature by another key", assigned, { ...good, signature: unassigned.sign(attestSignBytes(id(chain), good)) }, BandwidthErrorCode.BAD_SIGNATURE],
    ["changed after signing", assigned, { ...good, throughput: 60_000n }, BandwidthErrorCode.BAD_SIGNATURE],
    ["signed for another chain", assigned, signAttestation("another-chain", assigned, good), BandwidthErrorCode.BAD_SIGNATURE],
  ];
  // carried by OTHER: the assigned witness may be the proposer, which gets a share of every fee
  const sender = OTHER;
  for (const [name, , a, code] of cases) {
    const before = { balance: chain.state.account(sender.publicKey).balance, nonce: chain.state.account(sender.publicKey).nonce, record: record() };
    const b = step(t, chain, txs(chain, [[sender, attestOp(a)]]));
    t.equal(b.receipts[0]!.code, code, name);
    t.equal(chain.state.account(sender.publicKey).balance, before.balance - FEE, `${name}: only the fee is taken`);
    t.equal(chain.state.account(sender.publicKey).nonce, before.nonce + 1n, `${name}: the nonce is consumed`);
    t.same(record(), before.record, `${name}: the record is unchanged`);
    t.same(events(b, "bandwidthAttest"), [], `${name}: no event`);
  }
  // the honest attestation, carried by someone else (who pays the fee)
  const ok = step(t, chain, txs(chain, [[OTHER, attestOp(good)]]));
  t.equal(ok.receipts[0]!.code, "", "an assigned witness's attestation, sent by anyone");
  t.same(events(ok, "bandwidthAttest").map((e) => [hex(e.relay), e.epoch, hex(e.witness), e.throughput, hex(e.txHash)]), [[hex(R1.publicKey), E, hex(assigned.publicKey), 50_000n, hex(ok.block.txs[0]!.hash)]]);
  t.same(record()!.attestations, [{ witness: assigned.publicKey, bytes: good.bytes, throughput: good.throughput, latency: good.latency, signature: good.signature }]);
  // the same witness again: identical, or with other measurements
  const next = height(chain) + 1n;
  const changed = attest(chain, assigned, R1, E, 70_000n);
  t.throws(() => checkAttestation(chain.state, good, next, p, id(chain)), { code: BandwidthErrorCode.ATTEST_DUPLICATE, data: { existing: 0 } }, "the identical attestation again");
  t.throws(() => checkAttestation(chain.state, changed, next, p, id(chain)), { code: BandwidthErrorCode.ATTEST_DUPLICATE, data: { existing: 0 } }, "another attestation by the same witness");
  const dup = step(t, chain, txs(chain, [[assigned, attestOp(good)], [assigned, attestOp(changed)]]));
  t.same(dup.receipts.map((r) => r.code), [BandwidthErrorCode.ATTEST_DUPLICATE, BandwidthErrorCode.ATTEST_DUPLICATE], "both rejected in a block");
  t.equal(record()!.attestations.length, 1);
  t.same(conflictingAttestation(chain.state, changed), good, "the stored attestation conflicts with the changed one: evidence material");
  t.equal(conflictingAttestation(chain.state, good), undefined, "the identical one conflicts with nothing");
  t.equal(conflictingAttestation(chain.state, attest(chain, ws[1]!, R1, E, 1n)), undefined, "nor one by a witness that has not attested");
  t.doesNotThrow(() => validateEvidenceBasic(duplicateAttestationEvidence(id(chain), changed, conflictingAttestation(chain.state, changed)!), id(chain)));
  // a second assigned witness is accepted in the last block of the epoch; in the next epoch it is late
  toEpochEnd(t, chain, E);
  const late = attest(chain, ws[1]!, R1, E, 50_000n);
  t.doesNotThrow(() => checkAttestation(chain.state, late, height(chain) + 1n, p, id(chain)), "the epoch's last block still takes it");
  step(t, chain);
  const replay = step(t, chain, txs(chain, [[ws[1]!, attestOp(late)], [OTHER, attestOp(good)]]));
  t.same(replay.receipts.map((r) => r.code), [BandwidthErrorCode.ATTEST_LATE, BandwidthErrorCode.ATTEST_LATE], "attestations for the previous epoch (a replay) are late");
});

t.test("statically invalid and malformed bandwidth.attest never enter a block; the wire form round-trips", async (t) => {
  const chain = newChain();
  const a = attest(chain, WITNESS_POOL[0]!, R1, 3n, 50_000n);
  const signed = tx(chain, OTHER, 0n, attestOp(a));
  const back = decodeTx(signed.bytes);
  t.same(back.op, attestOp(a), "round trip");
  t.same(back.bytes, signed.bytes);
  t.ok(equalBytes(encodeTxBody(back), back.bodyBytes), "re-encoding gives the same bytes");
  const body = decode(back.bodyBytes) as CborValue[];
  t.same(body[4], [OpCode.BANDWIDTH_ATTEST, a.relay, 3, 1_000_000, 50_000, 2_000, a.witness, a.signature], "[8, relay, epoch, bytes, throughput, latency, witness, signature]");
  t.doesNotThrow(() => validateTxBasic(back, id(chain)));
  t.ok(verifyAttestationSignature(id(chain), a));
  const max = attest(chain, WITNESS_POOL[0]!, R1, (1n << 64n) - 1n, (1n << 64n) - 1n, {});
  t.same(decodeTx(tx(chain, OTHER, 0n, attestOp(max)).bytes).op, attestOp(max), "u64 extremes round-trip");
  t.same(txParticipants(signed).map(hex), [OTHER, WITNESS_POOL[0]!, R1].map((k) => hex(k.publicKey)), "the sender, the witness and the relay");
  t.doesNotThrow(() => validateTxBasic(tx(chain, OTHER, 0n, attestOp(signAttestation(id(chain), WITNESS_POOL[0]!, { ...a, throughput: 0n }))), id(chain)), "a failed probe (throughput 0) is attested");
  for (const [name, over] of [["zero bytes", { bytes: 0n }]] as const) {
    const bad = tx(chain, OTHER, 0n, attestOp(signAttestation(id(chain), WITNESS_POOL[0]!, { ...a, ...over })));
    t.throws(() => validateTxBasic(bad, id(chain)), { code: TxErrorCode.INVALID_OPERATION }, name);
    t.throws(() => applyBlock(chain.state, build(chain, [bad]).block, chain.genesis.params, id(chain)), { code: TxErrorCode.INVALID_OPERATION, data: { index: 0 } }, `${name}: a block carrying it is invalid`);
  }
  t.doesNotThrow(() => validateTxBasic(tx(chain, OTHER, 0n, attestOp(signAttestation(id(chain), WITNESS_POOL[0]!, { ...a, latency: 0n }))), id(chain)), "latency 0 is allowed");
  const wire = (op: unknown[]) => encode([encode([id(chain), OTHER.publicKey, 0, 1000, op as never]), new Uint8Array(64)]);
  const good = [OpCode.BANDWIDTH_ATTEST, a.relay, 3, 1_000_000, 50_000, 2_000, a.witness, a.signature];
  t.doesNotThrow(() => decodeTx(wire(good)));
  const malformed: [string, unknown[]][] = [
    ["no arguments", [OpCode.BANDWIDTH_ATTEST]],
    ["6 arguments", good.slice(0, 7)],
    ["8 arguments", [...good, 1]],
    ["a 31-byte relay", good.map((x, i) => (i === 1 ? a.relay.subarray(1) : x))],
    ["a 33-byte witness", good.map((x, i) => (i === 6 ? new Uint8Array(33) : x))],
    ["a 63-byte signature", good.map((x, i) => (i === 7 ? a.signature.subarray(1) : x))],
    ["a negative epoch", good.map((x, i) => (i === 2 ? -1 : x))],
    ["throughput as bytes", good.map((x, i) => (i === 4 ? new Uint8Array(8) : x))],
    ["the attestation nested", [OpCode.BANDWIDTH_ATTEST, good.slice(1)]],
  ];
  for (const [name, op] of malformed) t.throws(() => decodeTx(wire(op)), { code: TxErrorCode.MALFORMED }, name);
  // the sign bytes bind every field and the chain
  const base = hex(attestSignBytes(id(chain), a));
  for (const [name, over] of Object.entries({ relay: { relay: R2.publicKey }, epoch: { epoch: 4n }, bytes: { bytes: 1n }, throughput: { throughput: 1n }, latency: { latency: 1n }, witness: { witness: OTHER.publicKey } })) {
    t.not(hex(attestSignBytes(id(chain), { ...a, ...over })), base, `the signature covers ${name}`);
  }
  t.not(hex(attestSignBytes("other-chain", a)), base, "and the chain id");
});

// ---- settlement and minting ----

/** Every assigned witness of `relay` attests `honest`, except the first `liars` who report `lie`. */
function attestAll(chain: TestChain, relay: KeyPair, epoch: bigint, honest: bigint, liars = 0, lie = 0n, count = 5): [KeyPair, Operation][] {
  return witnessesOf(chain, relay, epoch).slice(0, count).map((w, i): [KeyPair, Operation] => [w, attestOp(attest(chain, w, relay, epoch, i < liars ? lie : honest))]);
}

t.test("a minority of lying witnesses cannot move the credit; the pool is split by credited x reputation; capacity caps it", async (t) => {
  const chain = newChain();
  setup(t, chain);
  const T1 = 50_000n;
  const T2 = 30_000n;
  toWindow(t, chain, E);
  const b = step(t, chain, txs(chain, [...attestAll(chain, R1, E, T1, 2, T1 * 100n), ...attestAll(chain, R2, E, T2, 2, T2 / 100n)]));
  t.same(b.receipts.map((r) => r.code), b.receipts.map(() => ""), "10 attestations accepted");
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E)!.attestations.length, 5);
  toEpochEnd(t, chain, E);
  const schedule = rewardSchedule(chain.state, chain.genesis.params);
  const minted0 = chain.state.meta().minted;
  const bal = [R1, R2].map((r) => chain.state.account(r.publicKey).balance);
  const end = step(t, chain);
  t.same(events(end, "bandwidthCredit").map((e) => [hex(e.relay), e.epoch, e.attestations, e.credited]), [[hex(R1.publicKey), E, 5, T1], [hex(R2.publicKey), E, 5, T2]].sort(), "2 of 5 reporting 100x or 1/100 leave the honest median");
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E)!.credited, T1, "the record notes the credit");
  const P = schedule.bandwidthPool;
  const w1 = T1 * 10_000n;
  const w2 = T2 * 10_000n;
  const expected = [[hex(R1.publicKey), (P * w1) / (w1 + w2), T1, 10_000], [hex(R2.publicKey), (P * w2) / (w1 + w2), T2, 10_000]].sort();
  t.same(events(end, "reward").filter((r) => r.pool === "bandwidth").map((r) => [hex(r.to), r.amount, r.basis, r.reputationBps]), expected, "the pool split by credited throughput x reputation, rounded down");
  t.same([P, (P * w1) / (w1 + w2), (P * w2) / (w1 + w2)], [300_000n, 187_500n, 112_500n], "exactly 187500 and 112500");
  const minted = events(end, "reward").reduce((s, r) => s + r.amount, 0n);
  t.equal(chain.state.meta().minted - minted0, minted, "meta.minted grows by exactly what was minted");
  t.equal(minted, 187_500n + 112_500n + schedule.validatorPool, "the bandwidth and validator pools (no storage was proven)");
  t.same([R1, R2].map((r, i) => chain.state.account(r.publicKey).balance - bal[i]!), [187_500n, 112_500n], "paid to the relays");
  t.same(readProvider(chain.state, R1.publicKey)!.reputation, [{ epoch: E, made: 1, due: 1 }], "a credited epoch");

  // epoch E + 1: R2's honest throughput exceeds its capacity: credited the capacity
  toWindow(t, chain, E + 1n);
  step(t, chain, txs(chain, [...attestAll(chain, R1, E + 1n, T1), ...attestAll(chain, R2, E + 1n, CAPACITY * 3n, 0, 0n, 3)]));
  toEpochEnd(t, chain, E + 1n);
  const end2 = step(t, chain);
  t.same(events(end2, "bandwidthCredit").map((e) => [hex(e.relay), e.attestations, e.credited]), [[hex(R1.publicKey), 5, T1], [hex(R2.publicKey), 3, CAPACITY]].sort(), "a quorum of 3 suffices; capped at the capacity");
});

t.test("fewer than a quorum of attestations: not judged (no credit, no ban, reputation untouched); a judged failure is banned and earns nothing", async (t) => {
  const chain = newChain();
  setup(t, chain);
  const T = 40_000n;
  toWindow(t, chain, E);
  step(t, chain, txs(chain, [...attestAll(chain, R1, E, T, 0, 0n, 2), ...attestAll(chain, R2, E, T)]));
  toEpochEnd(t, chain, E);
  const P = rewardSchedule(chain.state, chain.genesis.params).bandwidthPool;
  const end = step(t, chain);
  t.same(events(end, "bandwidthCredit").map((e) => [hex(e.relay), e.attestations, e.credited]), [[hex(R2.publicKey), 5, T]], "only R2 is judged");
  t.same(events(end, "bandwidthUnjudged").map((e) => [hex(e.relay), e.attestations, e.reason]), [[hex(R1.publicKey), 2, "fewAttestations"]], "2 of 5 is below the quorum: R1 is not judged");
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E)!.credited, null);
  t.same(events(end, "providerBan"), [], "no relay is banned for its witnesses' silence");
  t.same(readProvider(chain.state, R1.publicKey)!.reputation, [], "its reputation is untouched");
  const silent = witnessesOf(chain, R1, E).slice(2).map((k) => hex(k.publicKey)).sort();
  t.same(events(end, "witnessMiss").map((e) => hex(e.witness)).filter((k) => silent.includes(k)), silent, "its silent witnesses missed");
  t.same(events(end, "reward").filter((r) => r.pool === "bandwidth").map((r) => [hex(r.to), r.amount]), [[hex(R2.publicKey), P]], "all of the pool to the credited relay");

  // epoch E + 1: a quorum attests R1 failed (throughput 0): judged, not credited, banned for E + 2
  toWindow(t, chain, E + 1n);
  step(t, chain, txs(chain, [...attestAll(chain, R1, E + 1n, 0n), ...attestAll(chain, R2, E + 1n, T)]));
  toEpochEnd(t, chain, E + 1n);
  const end1 = step(t, chain);
  t.same(events(end1, "bandwidthCredit").map((e) => [hex(e.relay), e.attestations, e.credited]), [[hex(R1.publicKey), 5, 0n], [hex(R2.publicKey), 5, T]].sort(), "failed probes are attested: credited 0");
  t.same(events(end1, "providerBan").map((e) => [hex(e.provider), e.epoch, e.until, e.strikes]), [[hex(R1.publicKey), E + 1n, E + 3n, 1]], "banned for epoch E + 2 (1 epoch, first strike)");
  t.same(readProvider(chain.state, R1.publicKey)!.reputation, [{ epoch: E + 1n, made: 0, due: 1 }]);
  t.equal(reputationBps(readProvider(chain.state, R1.publicKey)!, E + 1n, 4), 0);

  // epoch E + 2: R1 is banned, still assigned, proves its service, earns nothing
  toWindow(t, chain, E + 2n);
  t.ok(readRelayEpoch(chain.state, R1.publicKey, E + 2n), "a banned relay is assigned");
  step(t, chain, txs(chain, [...attestAll(chain, R1, E + 2n, T), ...attestAll(chain, R2, E + 2n, T)]));
  toEpochEnd(t, chain, E + 2n);
  const P2 = rewardSchedule(chain.state, chain.genesis.params).bandwidthPool;
  const end2 = step(t, chain);
  t.same(events(end2, "bandwidthCredit").map((e) => e.credited), [T, T], "both credited");
  t.same(events(end2, "reward").filter((r) => r.pool === "bandwidth").map((r) => [hex(r.to), r.amount]), [[hex(R2.publicKey), P2]], "the banned relay earns nothing");
  t.equal(reputationBps(readProvider(chain.state, R1.publicKey)!, E + 2n, 4), 5000, "reputation 1 of 2");
  t.same(events(end2, "providerBan"), [], "a credited epoch is no failure");
  t.equal(P, P2);
});


t.test("a relay with fewer assignable witnesses than the quorum is not judged", async (t) => {
  // only the validator and one provider besides the relay: 2 witnesses < quorum 3
  const chain = newChain();
  step(t, chain, txs(chain, [[WITNESS_POOL[0]!, registerOp(ProviderKind.STORAGE)], [R1, registerOp(ProviderKind.BANDWIDTH, CAPACITY)]]));
  toWindow(t, chain, E);
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E)!.witnesses.length, 2);
  step(t, chain, txs(chain, attestAll(chain, R1, E, 10_000n)));
  toEpochEnd(t, chain, E);
  const end = step(t, chain);
  t.same([events(end, "bandwidthCredit"), events(end, "providerBan"), events(end, "reward").filter((r) => r.pool === "bandwidth")], [[], [], []], "no credit, no ban, no reward");
  t.same(events(end, "bandwidthUnjudged").map((e) => e.reason), ["fewWitnesses"]);
  t.same(readProvider(chain.state, R1.publicKey)!.reputation, [], "no reputation entry");
  t.equal(readRelayEpoch(chain.state, R1.publicKey, E)!.credited, null);
});


t.test("duplicate-attestation evidence: codec, every rejection, the slash of free collateral and stake, once", async (t) => {
  const chain = newChain();
  setup(t, chain);
  const W = WITNESS_POOL[0]!;
  // W stakes, and locks part of its collateral in a deal with CLIENT
  const prover = new StorageProver(pseudoRandomBytes(1000, 3), 256);
  const terms: DealTerms = {
    provider: W.publicKey, root: prover.root, size: prover.size, chunkSize: BigInt(prover.chunkSize), pricePerEpoch: 10n, durationEpochs: 10n, collateral: 200_000n, expiresAtHeight: 100n,
  };
  const dealTx = tx(chain, CLIENT, 0n, { type: "storage.deal", terms, providerSignature: signDealAcceptance(id(chain), W, CLIENT.publicKey, terms) });
  const pre = step(t, chain, [...txs(chain, [[W, { type: "stake", amount: 500_000n }]]), dealTx]);
  t.same(pre.receipts.map((r) => r.code), ["", ""], "W stakes; the deal lands");
  toWindow(t, chain, E);
  const p = chain.genesis.params;
  const H = height(chain) + 1n;
  const x = attest(chain, W, R1, E, 50_000n);
  const y = attest(chain, W, R1, E, 90_000n);
  const ev = duplicateAttestationEvidence(id(chain), x, y);
  t.same(duplicateAttestationEvidence(id(chain), y, x), ev, "one canonical order");
  t.ok(compareBytes(attestSignBytes(id(chain), ev.a), attestSignBytes(id(chain), ev.b)) < 0);
  // codec
  const bytes = encodeEvidence(ev);
  t.same((decode(bytes) as CborValue[])[0], 2, "kind 2");
  t.same(decodeEvidence(bytes), ev);
  t.same(encodeEvidence(decodeEvidence(bytes)), bytes);
  t.same(evidenceSubject(ev, L(chain)), { offender: W.publicKey, height: firstHeightOfEpoch(E, L(chain)) });
  for (const [name, v] of [
    ["a 6-field attestation", [2, (decode(bytes) as CborValue[])[1]!, ((decode(bytes) as CborValue[])[2] as CborValue[]).slice(0, 6)]],
    ["one attestation", (decode(bytes) as CborValue[]).slice(0, 2)],
    ["a short signature", [2, (decode(bytes) as CborValue[])[1]!, ((decode(bytes) as CborValue[])[2] as CborValue[]).map((f, i) => (i === 6 ? new Uint8Array(63) : f))]],
  ] as [string, CborValue][]) {
    t.throws(() => decodeEvidence(encode(v)), { code: EvidenceErrorCode.MALFORMED }, name);
  }

  // every rejection
  const W2 = WITNESS_POOL[1]!;
  const raw = (a: Attestation, b: Attestation): DuplicateAttestationEvidence => ({ kind: "duplicateAttestation", a, b });
  const forged = { ...y, signature: W2.sign(attestSignBytes(id(chain), y)) };
  const cases: [string, Evidence, bigint, string][] = [
    ["non-canonical order", raw(ev.b, ev.a), H, EvidenceErrorCode.NOT_CANONICAL],
    ["identical attestations", raw(x, { ...x }), H, DuplicateAttestationErrorCode.SAME_ATTESTATION],
    ["a forged signature", duplicateAttestationEvidence(id(chain), x, forged), H, EvidenceErrorCode.BAD_SIGNATURE],
    ["different witnesses", duplicateAttestationEvidence(id(chain), x, attest(chain, W2, R1, E, 90_000n)), H, DuplicateAttestationErrorCode.DIFFERENT_WITNESSES],
    ["different relays", duplicateAttestationEvidence(id(chain), x, attest(chain, W, R2, E, 90_000n)), H, DuplicateAttestationErrorCode.DIFFERENT_RELAYS],
    ["different epochs", duplicateAttestationEvidence(id(chain), x, attest(chain, W, R1, E - 1n, 90_000n)), H, DuplicateAttestationErrorCode.DIFFERENT_EPOCHS],
    ["in its epoch's first block", ev, firstHeightOfEpoch(E, L(chain)), EvidenceErrorCode.FROM_FUTURE],
    ["about a future epoch", duplicateAttestationEvidence(id(chain), attest(chain, W, R1, E + 1n, 1n), attest(chain, W, R1, E + 1n, 2n)), H, EvidenceErrorCode.FROM_FUTURE],
    ["too old", ev, firstHeightOfEpoch(E + BigInt(BANDWIDTH_RECORD_EPOCHS), L(chain)), EvidenceErrorCode.TOO_OLD],
    ["a witness with neither collateral nor stake", duplicateAttestationEvidence(id(chain), attest(chain, OTHER, R1, E, 1n), attest(chain, OTHER, R1, E, 2n)), H, DuplicateAttestationErrorCode.UNKNOWN_WITNESS],
  ];
  for (const [name, e, at, code] of cases) t.throws(() => verifyEvidence(chain.state, e, id(chain), p, at), { code }, name);
  const caseNamed = (name: string): Evidence => cases.find((c) => c[0] === name)![1];
  t.doesNotThrow(() => verifyEvidence(chain.state, ev, id(chain), p, firstHeightOfEpoch(E - 1n + BigInt(BANDWIDTH_RECORD_EPOCHS), L(chain))), "3 epochs later it is still accepted");
  const built0 = build(chain, [], { evidence: [caseNamed("non-canonical order"), caseNamed("a forged signature")] });
  t.same([built0.block.evidence.length, built0.rejectedEvidence.map((r) => r.error.code)], [0, [EvidenceErrorCode.NOT_CANONICAL, EvidenceErrorCode.BAD_SIGNATURE]], "the builder leaves invalid evidence out");

  // the pool holds evidence about an epoch whose first block is not below the next block
  const pool = new EvidencePool();
  const future = duplicateAttestationEvidence(id(chain), attest(chain, W, R1, E + 1n, 1n), attest(chain, W, R1, E + 1n, 2n));
  t.equal(pool.add(future, chain.state, height(chain), id(chain), p), true, "about the next epoch: pooled after the stateless checks");
  t.equal(pool.add(ev, chain.state, height(chain), id(chain), p), true);
  t.throws(() => pool.add(caseNamed("a forged signature"), chain.state, height(chain), id(chain), p), { code: EvidenceErrorCode.BAD_SIGNATURE });

  // the effect: free collateral and stake burned, locked collateral untouched, recorded once
  const before = { provider: readProvider(chain.state, W.publicKey)!, staked: chain.state.account(W.publicKey).staked, burned: chain.state.meta().burned };
  const locked = before.provider.locked;
  t.ok(locked > 0n, "part of W's collateral is locked in the deal");
  const fromCollateral = ((before.provider.collateral - locked) * 1000n) / 10_000n;
  const fromStake = (500_000n * 1000n) / 10_000n;
  const b = step(t, chain, [], [ev]);
  t.same(b.block.evidence, [ev]);
  t.same(events(b, "attestSlash"), [{ kind: "attestSlash", witness: W.publicKey, relay: R1.publicKey, epoch: E, amount: fromCollateral + fromStake }]);
  const after = readProvider(chain.state, W.publicKey)!;
  t.same([after.collateral, after.locked], [before.provider.collateral - fromCollateral, locked], "10% of the free collateral burned; the locked part untouched");
  t.equal(chain.state.account(W.publicKey).staked, 500_000n - fromStake, "10% of the stake burned");
  t.equal(chain.state.meta().burned - before.burned, fromCollateral + fromStake, "burned counted (no fees in this block)");
  t.ok(supplyHolds(chain.state));
  t.same(readRelayEpoch(chain.state, R1.publicKey, E)!.punished.map(hex), [hex(W.publicKey)], "recorded in the relay's record");
  // a second inclusion
  const again = duplicateAttestationEvidence(id(chain), x, attest(chain, W, R1, E, 1n));
  for (const [name, e] of [["the same evidence", ev], ["another pair for the same relay and epoch", again]] as const) {
    t.throws(() => verifyEvidence(chain.state, e, id(chain), p, height(chain) + 1n), { code: EvidenceErrorCode.ALREADY_PUNISHED }, name);
    t.throws(() => applyBlock(chain.state, blockWithEvidence(chain, [e]), p, id(chain)), { code: EvidenceErrorCode.ALREADY_PUNISHED, data: { index: 0 } }, `${name}: the block is invalid`);
  }
  const twice = build(chain, [], { evidence: [ev, again] });
  t.same([twice.block.evidence.length, twice.rejectedEvidence.map((r) => r.error.code)], [0, [EvidenceErrorCode.ALREADY_PUNISHED, EvidenceErrorCode.ALREADY_PUNISHED]]);
  pool.prune([ev], chain.state, height(chain), id(chain), p);
  t.same(pool.list().map((e) => hex(evidenceHash(e))), [hex(evidenceHash(future))], "the pool drops the included one, keeps the future one");

  // about a relay without a record (never assigned): punished once through the epoch's marks; a validator's stake shrinks
  const ghost = testKey(699);
  const ev2 = duplicateAttestationEvidence(id(chain), attest(chain, V0, ghost, E, 5n), attest(chain, V0, ghost, E, 6n));
  const staked = chain.state.account(V0.publicKey).staked;
  const b2 = step(t, chain, [], [ev2]);
  t.equal(b2.block.evidence.length, 1);
  t.equal(chain.state.account(V0.publicKey).staked, staked - (staked * 1000n) / 10_000n, "a validator witness loses 10% of its stake");
  t.ok(chain.state.get(BandwidthKey.attestPunished(E)), "marked for the epoch");
  t.throws(() => verifyEvidence(chain.state, ev2, id(chain), p, height(chain) + 1n), { code: EvidenceErrorCode.ALREADY_PUNISHED });
  step(t, chain);
  t.equal(chain.state.nextValidators()[0]!.power, chain.state.account(V0.publicKey).staked, "its power follows its stake");
  // the block with the evidence round-trips through the wire
  const back = decodeBlock(b2.block.bytes);
  t.same(back.evidence, [ev2]);
  // marks are pruned with the records
  toWindow(t, chain, E + BigInt(BANDWIDTH_RECORD_EPOCHS));
  t.equal(chain.state.get(BandwidthKey.attestPunished(E)), undefined, "the marks of epoch E are gone after 4 epochs");
  t.equal(epochOfHeight(height(chain), L(chain)), E + 4n);
});

// ---- parameters ----

t.test("the bandwidth parameters are validated and covered by the genesis hash", async (t) => {
  const file = devnetGenesisFile();
  const g = validateAndComplete(file);
  t.same(
    [g.params.witnessesPerRelay, g.params.attestQuorum, g.params.minProbeBytes, g.params.attestSlashBps],
    [defaultChainParams.witnessesPerRelay, defaultChainParams.attestQuorum, defaultChainParams.minProbeBytes, defaultChainParams.attestSlashBps],
  );
  t.same([defaultChainParams.witnessesPerRelay, defaultChainParams.attestQuorum, defaultChainParams.minProbeBytes, defaultChainParams.attestSlashBps], [7, 4, 1_048_576, 1000], "the defaults");
  t.same([defaultChainParams.witnessShareBps, defaultChainParams.witnessToleranceBps, defaultChainParams.maxRelaysPerIp], [1000, 2000, 2], "the witness and per-IP defaults");
  for (const [k, v] of Object.entries({ witnessesPerRelay: 6, attestQuorum: 3, minProbeBytes: 1000, attestSlashBps: 7, witnessShareBps: 5, witnessToleranceBps: 6, maxRelaysPerIp: 3 })) {
    t.not(hex(validateAndComplete({ ...file, params: { ...file.params, [k]: v } }).hash), hex(g.hash), `the hash covers ${k}`);
  }
  const bad: [string, Partial<GenesisFile["params"]>, RegExp][] = [
    ["no witness", { witnessesPerRelay: 0 }, /params\.witnessesPerRelay/],
    ["17 witnesses", { witnessesPerRelay: 17, attestQuorum: 3 }, /params\.witnessesPerRelay/],
    ["a quorum of 0", { attestQuorum: 0 }, /params\.attestQuorum/],
    ["a quorum above the witnesses", { witnessesPerRelay: 3, attestQuorum: 4 }, /params\.attestQuorum: 4 exceeds witnessesPerRelay 3/],
    ["probes of 0 bytes", { minProbeBytes: 0 }, /params\.minProbeBytes/],
    ["probes above 1 GiB", { minProbeBytes: 2 ** 30 + 1 }, /params\.minProbeBytes/],
    ["a slash over 100%", { attestSlashBps: 10_001 }, /params\.attestSlashBps/],
    ["a witness share over 100%", { witnessShareBps: 10_001 }, /params\.witnessShareBps/],
    ["a negative tolerance", { witnessToleranceBps: -1 }, /params\.witnessToleranceBps/],
    ["no relay per IP", { maxRelaysPerIp: 0 }, /params\.maxRelaysPerIp/],
    ["a missing bandwidth parameter", { attestQuorum: undefined }, /params\.attestQuorum/],
  ];
  for (const [name, over, message] of bad) t.throws(() => validateAndComplete({ ...file, params: { ...file.params, ...over } }), { code: GenesisErrorCode.INVALID, message }, name);
});
