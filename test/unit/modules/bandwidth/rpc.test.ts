/**
 * Proof of bandwidth over JSON-RPC (rpc/bandwidth-methods.ts): the real method table on a real
 * server (127.0.0.1, ephemeral port, results checked against their schemas) through the typed
 * client, over a real BlockStore fed with blocks from the real transition (8-block epochs).
 * Checks the witness assignment against an independent recomputation from the epoch seed and the
 * candidate set (both read through the RPC), paging and the witness filter, relays and their
 * attestations through settlement, every refusal of proof_submitBandwidth with its code, the
 * evidence a double attestation becomes, and the JSON of blocks, transactions and evidence that
 * carry attestations.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t, { type Test } from "tap";
import { compareBytes, equalBytes, fromHex, toHex } from "../../../../primitives/bytes.ts";
import {
  assignWitnesses, attestSignBytes, BandwidthErrorCode, lowerMedian, readRelayEpoch, signAttestation, type Attestation, type WitnessCandidate,
} from "../../../../modules/bandwidth/bandwidth.ts";
import { firstHeightOfEpoch, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import { EvidencePool } from "../../../../chain/evidence-pool.ts";
import { verifyEvidence, type Evidence } from "../../../../chain/evidence.ts";
import { fromAddress, toAddress, type KeyPair } from "../../../../primitives/keys.ts";
import { Mempool } from "../../../../chain/mempool.ts";
import { ProviderKind } from "../../../../modules/storage/storage.ts";
import { BlockStore } from "../../../../chain/store.ts";
import { signTx, TxErrorCode, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { genesisState, type GenesisFile } from "../../../../genesis/schema.ts";
import { BandwidthRpcErrorCode } from "../../../../modules/bandwidth/rpc.ts";
import { RpcClient, RpcClientError, type ResultOf } from "../../../../rpc/client.ts";
import { RpcErrorCode } from "../../../../rpc/errors.ts";
import { evidenceJson } from "../../../../rpc/json.ts";
import { startRpcServer } from "../../../../rpc/server.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, txNext, type TestChain } from "../../../helpers/chain.ts";
import { testRpcContext } from "../../../helpers/rpc-context.ts";
import { methods } from "../../../../modules/rpc.ts";
import { duplicateAttestationEvidence, type DuplicateAttestationEvidence } from "../../../../modules/bandwidth/evidence.ts";
import { attestationJson } from "../../../../modules/bandwidth/json.ts";

const FUNDS = 10_000_000_000n;
const COLLATERAL = 1_000_000n;
/** Relay capacity, bytes per second. */
const CAPACITY = 100_000n;
const MULTIADDR = "/ip4/127.0.0.1/tcp/4001";
const V0 = testKey(701);
const WITNESS_POOL = [711, 712, 713, 714, 715, 716].map(testKey);
const RELAYS = [testKey(721), testKey(722), testKey(723)] as const;
const [R1, R2] = RELAYS;
const OTHER = testKey(731);
const ALL = [V0, ...WITNESS_POOL, ...RELAYS, OTHER];
const L = 8;
const W = 5;
const QUORUM = 3;
/** The chain's minProbeBytes here (bandwidth_getAssignments states it). */
const MIN_PROBE = 1000;
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L, minValidatorStake: "100000", witnessesPerRelay: W, attestQuorum: QUORUM, minProbeBytes: MIN_PROBE, attestSlashBps: 1000,
  reputationWindowEpochs: 4, collateralPerByte: "1", emissionPerEpoch: "1000000", emissionDecayBps: 0,
  storageShareBps: 5000, bandwidthShareBps: 3000, validatorShareBps: 2000,
  // the three relays share 127.0.0.1; witness pay has its own tests
  maxRelaysPerIp: 10, witnessShareBps: 0,
};
/** The first epoch relays registered at height 1 are assigned in (the lookback: snapshot of E - 2, seed of E - 1). */
const E = 3n;
const e = (k: number) => Number(E) + k;

interface World {
  chain: TestChain;
  store: BlockStore;
  mempool: Mempool<SignedTx>;
  pool: EvidencePool;
  client: RpcClient;
  /** Every call of ctx.reportEvidence, and what it answered (or threw). */
  reported: { ev: Evidence; outcome: boolean | string }[];
  /** Transactions ctx.submitTx admitted, in order. */
  submitted: SignedTx[];
}

const addr = (k: KeyPair | Uint8Array) => toAddress(k instanceof Uint8Array ? k : k.publicKey);
const keyOf = (a: string): KeyPair => ALL.find((k) => addr(k) === a)!;
const height = (w: World) => w.chain.state.meta().height;
const chainId = (w: World) => w.chain.genesis.chainId;

async function commit(t: Test, w: World, txs: SignedTx[] = [], evidence?: Evidence[]): Promise<void> {
  const built = advanceChecked((m) => t.fail(m), w.chain, txs, evidence ? { evidence } : {});
  if (built.rejected.length > 0) t.fail(`${built.rejected.length} transactions left out at height ${built.block.header.height}`);
  for (const [i, r] of built.receipts.entries()) if (!r.ok) t.fail(`tx ${i} at height ${built.block.header.height} failed: ${r.code}`);
  if (evidence && built.block.evidence.length !== evidence.length) t.fail("evidence left out");
  if (!supplyHolds(w.chain.state)) t.fail("supply invariant broken");
  await w.store.commitBlock(built.block, w.chain.lastCommit!, built);
  for (const tx of txs) w.mempool.remove(tx.hash);
  w.pool.prune(built.block.evidence, w.chain.state, height(w), chainId(w), w.chain.genesis.params);
}
async function toHeight(t: Test, w: World, h: bigint): Promise<void> {
  while (height(w) < h) await commit(t, w);
}
/** Commits the submitted transactions not yet in a block, in submission order. */
async function commitSubmitted(t: Test, w: World): Promise<SignedTx[]> {
  const txs = w.submitted.filter((tx) => w.mempool.has(tx.hash));
  await commit(t, w, txs);
  return txs;
}

const registerOp = (kind: number, capacity = COLLATERAL): Operation => ({ type: "provider.register", kind, collateral: COLLATERAL, capacity, multiaddr: MULTIADDR });

/**
 * The witness pool registers as storage providers and the three relays as bandwidth relays, at
 * height 1. `reportEvidence: false`: a context without evidence reporting.
 */
async function setup(t: Test, opts: { reportEvidence?: boolean } = {}): Promise<World> {
  const chain = newTestChain({ validators: [{ key: V0, power: COLLATERAL }], params: PARAMS, balances: ALL.slice(1).map((key) => ({ key, amount: FUNDS })) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-bandwidth-rpc-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(dir, { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  t.teardown(() => store.close());
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => chain.state.account(sender).nonce });
  const pool = new EvidencePool();
  const w = { chain, store, mempool, pool, reported: [], submitted: [] } as Omit<World, "client"> as World;
  const ctx = testRpcContext(
    { chain, store, mempool, onSubmit: (tx) => w.submitted.push(tx) },
    {
      evidencePool: pool,
      // as the node does: pooled if valid (EvidenceError otherwise); absent when opts.reportEvidence is false
      reportEvidence: opts.reportEvidence === false ? undefined : (ev) => {
        try {
          const added = pool.add(ev, w.chain.state, height(w), chain.genesis.chainId, chain.genesis.params);
          w.reported.push({ ev, outcome: added });
          return added;
        } catch (e) {
          w.reported.push({ ev, outcome: (e as { code: string }).code });
          throw e;
        }
      },
    },
  );
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [], checkResults: true }, methods, ctx);
  t.teardown(() => server.close());
  w.client = new RpcClient(server.url);
  await commit(t, w, [
    ...WITNESS_POOL.map((k) => txNext(chain, k, registerOp(ProviderKind.STORAGE))),
    ...RELAYS.map((k) => txNext(chain, k, registerOp(ProviderKind.BANDWIDTH, CAPACITY))),
  ]);
  return w;
}

/** The typed client's error for a call that must fail. */
async function failure(p: Promise<unknown>): Promise<{ rpcCode: number; code: string; data: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcClientError) return { rpcCode: e.rpcCode, code: e.code, data: e.data ?? {} };
    throw e;
  }
  throw new Error("the call succeeded");
}

const nonceOf = (w: World, k: KeyPair) => w.chain.state.account(k.publicKey).nonce + BigInt(w.mempool.pending(k.publicKey).length);
const attestOp = (a: Attestation): Operation => ({ type: "bandwidth.attest", attestation: a });
/** A signed transaction from `sender` (by default OTHER: anyone may carry an attestation), as hex. */
const signHex = (w: World, op: Operation, sender: KeyPair = OTHER) => toHex(signTx({ chainId: chainId(w), nonce: nonceOf(w, sender), fee: 1000n, op }, sender).bytes);
function attest(w: World, witness: KeyPair, relay: KeyPair | Uint8Array, epoch: bigint, throughput: bigint, latency = 2_000n): Attestation {
  return signAttestation(chainId(w), witness, { relay: relay instanceof Uint8Array ? relay : relay.publicKey, epoch, bytes: 1_000_000n, throughput, latency });
}
const submit = (w: World, a: Attestation, sender: KeyPair = OTHER) => w.client.call("proof_submitBandwidth", { tx: signHex(w, attestOp(a), sender) });
async function witnessesOf(w: World, relay: KeyPair, epoch: bigint): Promise<KeyPair[]> {
  const r = await w.client.call("bandwidth_getAttestations", { relay: addr(relay), epoch: Number(epoch) });
  return r.witnesses.map(keyOf);
}

/** The candidate snapshot the assignment of `epoch` was drawn from, read through the RPC (bandwidth_getSnapshot), sorted by key. */
async function candidatesByRpc(t: Test, w: World, epoch: bigint): Promise<WitnessCandidate[]> {
  const snap = await w.client.call("bandwidth_getSnapshot", { epoch: Number(epoch - 2n) });
  t.ok(snap.known, "the snapshot is kept");
  return snap.candidates.map((c) => ({ key: fromAddress(c.address), weight: BigInt(c.weight) })).sort((a, b) => compareBytes(a.key, b.key));
}

/** Every page of bandwidth_getAssignments with `limit`, following nextCursor. */
async function walk(t: Test, w: World, params: { epoch?: number; witness?: string }, limit: number) {
  const relays: string[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const page: ResultOf<"bandwidth_getAssignments"> = await w.client.call("bandwidth_getAssignments", { ...params, limit, ...(cursor ? { cursor } : {}) });
    if (page.assignments.length > limit) t.fail(`a page of ${page.assignments.length} with limit ${limit}`);
    relays.push(...page.assignments.map((a) => a.relay));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null && pages < 100);
  return { relays, pages };
}

const relaysByKey = () => [...RELAYS].sort((a, b) => compareBytes(a.publicKey, b.publicKey)).map(addr);

t.test("bandwidth_getAssignments: known from the epoch's first block, recomputable from the seed, filtered and paged", async (t) => {
  const w = await setup(t);
  // epoch 0: the relays registered in its first block are not assigned in it
  const e0 = await w.client.call("bandwidth_getAssignments", {});
  t.same([e0.epoch, e0.known, e0.assignments, e0.nextCursor], [0, true, [], null], "epoch 0: known, but nobody was registered before its first block");

  // the last block of epoch E - 1: epoch E's witnesses are not drawn yet
  await toHeight(t, w, lastHeightOfEpoch(E - 1n, L));
  const before = await w.client.call("bandwidth_getAssignments", {});
  t.same(before, {
    epoch: e(0), known: false, headHeight: e(0) * L, window: { from: e(0) * L + 2, to: e(1) * L }, witnessesPerRelay: W, quorum: QUORUM, minProbeBytes: MIN_PROBE,
    seedEpoch: e(-1), seed: null, snapshotEpoch: e(-2), assignments: [], nextCursor: null,
  }, "the current epoch (of the next block) before its first block: not known");
  t.same((await w.client.call("bandwidth_getAssignments", { epoch: e(0) })).known, false);
  t.same((await w.client.call("bandwidth_getAssignments", { epoch: e(-1) })).assignments, [], "epoch E - 1: known, nobody assigned (no snapshot had the relays)");

  for (const epoch of [E, E + 1n]) {
    await toHeight(t, w, firstHeightOfEpoch(epoch, L));
    const page = await w.client.call("bandwidth_getAssignments", {});
    t.same([page.epoch, page.known, page.headHeight, page.window, page.nextCursor], [Number(epoch), true, Number(firstHeightOfEpoch(epoch, L)), { from: Number(firstHeightOfEpoch(epoch, L)) + 1, to: Number(lastHeightOfEpoch(epoch, L)) }, null], `epoch ${epoch}: known from its first block`);
    t.same(page.assignments.map((a) => a.relay), relaysByKey(), "every relay, in key order");
    t.same(await w.client.call("bandwidth_getAssignments", { epoch: Number(epoch) }), page, "the same as by number");
    t.same(await w.client.call("bandwidth_getAssignments", { epoch: String(epoch) as unknown as number }), page, "the epoch as a decimal string");

    // the independent recomputation: the seed of the previous epoch, the snapshot frozen two epochs before
    t.same([page.seedEpoch, page.snapshotEpoch], [Number(epoch) - 1, Number(epoch) - 2], "the lookback: which seed and snapshot");
    const ch = await w.client.call("storage_getChallenges", { provider: addr(WITNESS_POOL[0]!), epoch: Number(epoch) });
    t.ok(ch.known && ch.seed !== null && ch.seed !== page.seed, "not the epoch's own seed");
    const seed = fromHex(page.seed!);
    const cs = await candidatesByRpc(t, w, epoch);
    t.equal(cs.length, 1 + WITNESS_POOL.length + RELAYS.length, "the validator, the storage providers and the relays, bonded through the snapshot's epoch");
    for (const a of page.assignments) {
      const relay = fromAddress(a.relay);
      t.same(a.witnesses, assignWitnesses(seed, relay, cs, W).map(addr), `${a.relay.slice(0, 12)}: the witnesses drawn from the seed`);
      t.equal(a.witnesses.length, W);
      t.notOk(a.witnesses.includes(a.relay), "never the relay itself");
      t.equal(new Set(a.witnesses).size, W, "no witness twice");
      t.equal(a.multiaddr, MULTIADDR, "with the relay's multiaddr");
      t.equal(a.limited, null, "within the per-IP limit");
    }

    // the witness filter: exactly the relays each candidate must probe
    let hits = 0;
    for (const c of cs) {
      const mine = await w.client.call("bandwidth_getAssignments", { epoch: Number(epoch), witness: addr(c.key) });
      const expected = page.assignments.filter((a) => a.witnesses.includes(addr(c.key)));
      t.same(mine.assignments, expected, `witness ${addr(c.key).slice(0, 12)}: ${expected.length} relays`);
      hits += mine.assignments.length;
      const walked = await walk(t, w, { epoch: Number(epoch), witness: addr(c.key) }, 1);
      t.same(walked.relays, expected.map((a) => a.relay), "and page by page");
    }
    t.equal(hits, RELAYS.length * W, "every (relay, witness) pair once across the filters");
    t.same((await w.client.call("bandwidth_getAssignments", { witness: addr(OTHER) })).assignments, [], "an address that witnesses nothing");

    // paging: pages of one walk every relay exactly once
    const one = await walk(t, w, {}, 1);
    t.same(one.relays, relaysByKey(), "limit 1: every relay once, in key order");
    t.equal(one.pages, RELAYS.length, "in 3 pages, the last without a cursor");
    const two = await walk(t, w, {}, 2);
    t.same([two.relays, two.pages], [relaysByKey(), 2]);
    t.same((await w.client.call("bandwidth_getAssignments", { limit: RELAYS.length })).nextCursor, null, "an exactly full page has no cursor");
    const last = relaysByKey().at(-1)!;
    t.same((await w.client.call("bandwidth_getAssignments", { cursor: last })).assignments, [], "a cursor past the last relay");
  }

  // bad params
  for (const [name, params] of [
    ["a negative epoch", { epoch: -1 }], ["a fractional epoch", { epoch: 1.5 }], ["limit 0", { limit: 0 }], ["limit 101", { limit: 101 }],
    ["a hex cursor", { cursor: toHex(R1.publicKey) }], ["a bad witness", { witness: "cc1nope" }], ["an unknown param", { relay: addr(R1) }],
  ] as const) {
    t.equal((await failure(w.client.call("bandwidth_getAssignments", params as never))).rpcCode, RpcErrorCode.INVALID_PARAMS, name);
  }

  // the records of epoch E are kept while E is one of the last 4, then known = false
  await toHeight(t, w, firstHeightOfEpoch(E + 3n, L));
  t.equal((await w.client.call("bandwidth_getAssignments", { epoch: e(0) })).assignments.length, RELAYS.length, "epoch E is still kept in epoch E + 3");
  await toHeight(t, w, firstHeightOfEpoch(E + 4n, L));
  t.equal(readRelayEpoch(w.chain.state, R1.publicKey, E), undefined, "the chain pruned epoch E");
  for (const epoch of [0, e(0)]) {
    const old = await w.client.call("bandwidth_getAssignments", { epoch });
    t.same([old.known, old.assignments, old.nextCursor], [false, [], null], `epoch ${epoch}: older than the kept records`);
  }
  t.same((await w.client.call("bandwidth_getAssignments", { epoch: e(1) })).known, true, "epoch E + 1 is kept");
  t.same((await w.client.call("bandwidth_getAssignments", { epoch: e(5) })).known, false, "a future epoch");
  t.same((await w.client.call("bandwidth_getAssignments", { epoch: "9999999999999999999" as unknown as number })).known, false, "a 19-digit epoch");
});

t.test("bandwidth_getRelay and bandwidth_getAttestations through an epoch and its settlement", async (t) => {
  const w = await setup(t);
  t.equal(await w.client.call("bandwidth_getRelay", { address: addr(WITNESS_POOL[0]!) }), null, "a storage provider: null");
  t.equal(await w.client.call("bandwidth_getRelay", { address: addr(OTHER) }), null, "never registered: null");
  t.equal((await failure(w.client.call("bandwidth_getRelay", { address: "cc1nope" }))).rpcCode, RpcErrorCode.INVALID_PARAMS);
  const r0 = await w.client.call("bandwidth_getRelay", { address: addr(R1) });
  t.match(r0, { address: addr(R1), kind: "bandwidth", status: "active", collateral: "1000000", capacity: "100000", multiaddr: MULTIADDR, registeredAt: 1, banned: false, current: null }, "a relay not yet assigned: current null");
  const none = await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: e(0) });
  t.same(none, { relay: addr(R1), epoch: e(0), known: false, witnesses: [], attestations: [], credited: null, quorum: QUORUM, punished: [], judged: null, reason: null }, "epoch E before its first block: unknown");

  await toHeight(t, w, firstHeightOfEpoch(E, L));
  const ws1 = await witnessesOf(w, R1, E);
  const ws2 = await witnessesOf(w, R2, E);
  t.same((await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.current, { epoch: e(0), witnesses: ws1.map(addr), attestations: 0, credited: null, judged: null, reason: null }, "the current epoch: its witnesses, nothing attested, not judged yet");

  // R1: four attestations over two blocks, not in draw order; R2: two (below the quorum)
  const tp = [50_000n, 10_000n, 90_000n, 70_000n];
  const order = [2, 0, 3, 1];
  const r1 = order.map((i) => attest(w, ws1[i]!, R1, E, tp[i]!, 1_000n + BigInt(i)));
  for (const a of r1.slice(0, 2)) await submit(w, a);
  await submit(w, attest(w, ws2[0]!, R2, E, 40_000n));
  await commitSubmitted(t, w);
  for (const a of r1.slice(2)) await submit(w, a);
  await submit(w, attest(w, ws2[1]!, R2, E, 40_000n));
  await commitSubmitted(t, w);
  const got = await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: e(0) });
  t.same(got, {
    relay: addr(R1), epoch: e(0), known: true, witnesses: ws1.map(addr), attestations: r1.map(attestationJson), credited: null, quorum: QUORUM, punished: [], judged: null, reason: null,
  }, "in inclusion order, every field; not credited before the settlement");
  t.same((await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.current, { epoch: e(0), witnesses: ws1.map(addr), attestations: 4, credited: null, judged: null, reason: null });
  t.same(await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: String(e(0)) as unknown as number }), got, "the epoch as a decimal string");

  // the settlement at the end of epoch E
  await toHeight(t, w, lastHeightOfEpoch(E, L));
  const settled = await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: e(0) });
  t.equal(lowerMedian(tp), 50_000n, "the lower median of 10k, 50k, 70k, 90k (not 60k, not 70k)");
  t.equal(settled.credited, "50000", "credited: the lower median");
  t.same([settled.judged, settled.reason], [true, null], "judged");
  t.same(settled.attestations, got.attestations, "the attestations stay");
  t.match(await w.client.call("bandwidth_getAttestations", { relay: addr(R2), epoch: e(0) }), { credited: null, judged: false, reason: "fewAttestations" }, "2 of 5: below the quorum, not judged");
  t.match(await w.client.call("bandwidth_getAttestations", { relay: addr(RELAYS[2]), epoch: e(0) }), { credited: null, judged: false, reason: "fewAttestations" }, "nobody attested: not judged");
  t.equal((await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.current, null, "the next block is epoch E + 1's first: no current record yet");
  // bandwidth_getRelay's `last`: the settled epoch, judged or not and why
  t.same((await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.last, { epoch: e(0), witnesses: ws1.map(addr), attestations: 4, credited: "50000", judged: true, reason: null }, "last: epoch E, judged and credited");
  t.match((await w.client.call("bandwidth_getRelay", { address: addr(R2) }))?.last, { epoch: e(0), attestations: 2, credited: null, judged: false, reason: "fewAttestations" }, "last: R2 not judged, too few attestations");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(R2) }), { banned: false, reputationBps: 10_000 }, "R2 was not judged: not banned, reputation untouched");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(R1) }), { banned: false, reputationBps: 10_000 });

  await toHeight(t, w, firstHeightOfEpoch(E + 1n, L));
  t.equal((await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.last?.epoch, e(0), "still epoch E's verdict through E + 1");
  const cur = (await w.client.call("bandwidth_getRelay", { address: addr(R1) }))?.current;
  t.same([cur?.epoch, cur?.attestations, cur?.credited, cur?.witnesses], [e(1), 0, null, (await witnessesOf(w, R1, E + 1n)).map(addr)], "epoch E + 1's record");
  t.equal((await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: e(0) })).credited, "50000", "epoch E is still readable");
  for (const [name, relay, epoch] of [["a future epoch", R1, e(2)], ["epoch E - 1 (not assigned)", R1, e(-1)], ["a storage provider", WITNESS_POOL[0]!, e(0)], ["an unknown address", OTHER, e(0)]] as const) {
    t.same((await w.client.call("bandwidth_getAttestations", { relay: addr(relay), epoch })).known, false, name);
  }
  t.equal((await failure(w.client.call("bandwidth_getAttestations", { relay: addr(R1) } as never))).rpcCode, RpcErrorCode.INVALID_PARAMS, "the epoch is required");
});

t.test("a relay registered under a DNS name is reported noIp; failures attested as throughput 0 fail a relay; a silent witness misses a service epoch (bandwidth_getWitness)", async (t) => {
  const w = await setup(t);
  // OTHER registers a relay under a DNS name at height 2: in the snapshots from epoch 0 on, like the others
  const DNS = "/dns4/relay.example/tcp/4001";
  await commit(t, w, [txNext(w.chain, OTHER, { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral: COLLATERAL, capacity: CAPACITY, multiaddr: DNS })]);
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(OTHER) }), { multiaddr: DNS, ipGroup: null, current: null, last: null }, "at once: no IP group");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(R1) }), { ipGroup: "ip4:127.0.0.1" }, "an /ip4 relay: its address");

  await toHeight(t, w, firstHeightOfEpoch(E, L));
  t.same((await w.client.call("bandwidth_getRelay", { address: addr(OTHER) }))?.current, { epoch: e(0), witnesses: [], attestations: 0, credited: null, judged: false, reason: "noIp" }, "no witnesses, not judged: noIp");
  const page = await w.client.call("bandwidth_getAssignments", { limit: 100 });
  t.match(page.assignments.find((a) => a.relay === addr(OTHER)), { witnesses: [], limited: "noIp" }, "bandwidth_getAssignments says so too");

  // every assigned witness attests except one key, silent; R1 and R2 are measured, RELAYS[2] is down (throughput 0)
  const assigned = page.assignments.filter((a) => a.witnesses.length > 0);
  const silent = assigned[0]!.witnesses[0]!;
  const down = RELAYS[2];
  t.same((await w.client.call("bandwidth_getWitness", { address: silent })), { address: silent, banned: false, bannedUntil: 0, strikes: 0, lastFailureEpoch: 0, reputationBps: 10_000, reputation: [] }, "before: a clean record");
  let due = 0;
  for (const a of assigned) {
    for (const [i, wit] of a.witnesses.entries()) {
      if (wit === silent) {
        due++;
        continue;
      }
      const failed = a.relay === addr(down);
      const x = signAttestation(chainId(w), keyOf(wit), { relay: fromAddress(a.relay), epoch: E, bytes: BigInt(MIN_PROBE), throughput: failed ? 0n : 50_000n + BigInt(i), latency: failed ? 0n : 1_000n });
      await submit(w, x);
    }
  }
  await commitSubmitted(t, w);
  t.ok(due > 0, `the silent key was assigned ${due} relay(s)`);
  await toHeight(t, w, lastHeightOfEpoch(E, L));

  const downView = await w.client.call("bandwidth_getAttestations", { relay: addr(down), epoch: e(0) });
  t.ok(downView.attestations.length >= QUORUM && downView.attestations.every((x) => x.throughput === "0"), "the down relay: a quorum of failure attestations");
  t.same([downView.judged, downView.credited], [true, "0"], "judged, credited 0");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(down) }), { banned: true, strikes: 1, bannedUntil: e(2) }, "a failed service epoch: banned for the next epoch");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(R1) }), { banned: false, strikes: 0 }, "a measured relay keeps its standing");
  t.match(await w.client.call("bandwidth_getRelay", { address: addr(OTHER) }), { banned: false, strikes: 0, reputationBps: 10_000 }, "the noIp relay: never judged, never banned");

  const rec = await w.client.call("bandwidth_getWitness", { address: silent });
  t.same(rec, { address: silent, banned: true, bannedUntil: e(2), strikes: 1, lastFailureEpoch: e(0), reputationBps: 0, reputation: [{ epoch: e(0), made: 0, due }] }, "the silent witness: a missed service epoch, banned from the draw for one epoch");
  for (const wit of new Set(assigned.flatMap((a) => a.witnesses).filter((x) => x !== silent))) {
    const r = await w.client.call("bandwidth_getWitness", { address: wit });
    t.match(r, { banned: false, strikes: 0, reputationBps: 10_000 }, "a witness that attested everything (failures included) keeps its standing");
    t.equal(r.reputation.length, 1);
    t.equal(r.reputation[0]!.made, r.reputation[0]!.due);
  }
  const stranger = addr(testKey(799));
  t.same(await w.client.call("bandwidth_getWitness", { address: stranger }), { address: stranger, banned: false, bannedUntil: 0, strikes: 0, lastFailureEpoch: 0, reputationBps: 10_000, reputation: [] }, "a key never assigned: an empty record");
  t.equal((await failure(w.client.call("bandwidth_getWitness", { address: "cc1nope" }))).rpcCode, RpcErrorCode.INVALID_PARAMS);
});

t.test("proof_submitBandwidth: every refusal with its code, double attestations become evidence, an accepted one reaches the mempool", async (t) => {
  const w = await setup(t);
  await toHeight(t, w, firstHeightOfEpoch(E, L));
  const ws = await witnessesOf(w, R1, E);
  const unassigned = [V0, ...WITNESS_POOL, R2].find((k) => !ws.includes(k))!;
  const [A, B, C] = ws as [KeyPair, KeyPair, KeyPair];
  const refused = async (name: string, p: Promise<unknown>, code: string) => {
    const f = await failure(p);
    t.same([f.rpcCode, f.code], [RpcErrorCode.SERVER_ERROR, code], name);
    return f;
  };

  await refused("an unassigned witness", submit(w, attest(w, unassigned, R1, E, 50_000n)), BandwidthErrorCode.NOT_ASSIGNED);
  await refused("an unregistered relay", submit(w, attest(w, A, OTHER, E, 50_000n)), BandwidthErrorCode.RELAY_NOT_REGISTERED);
  await refused("a storage provider as relay", submit(w, attest(w, A, WITNESS_POOL.find((k) => k !== A)!, E, 50_000n)), BandwidthErrorCode.RELAY_NOT_REGISTERED);
  await refused("a future epoch", submit(w, attest(w, A, R1, E + 1n, 50_000n)), BandwidthErrorCode.ATTEST_WRONG_EPOCH);
  await refused("a probe below minProbeBytes", submit(w, signAttestation(chainId(w), A, { relay: R1.publicKey, epoch: E, bytes: 999n, throughput: 1n, latency: 1n })), BandwidthErrorCode.PROBE_TOO_SMALL);
  const good = attest(w, A, R1, E, 50_000n);
  await refused("a signature by another key", submit(w, { ...good, signature: unassigned.sign(attestSignBytes(chainId(w), good)) }), BandwidthErrorCode.BAD_SIGNATURE);
  await refused("changed after signing", submit(w, { ...good, throughput: 60_000n }), BandwidthErrorCode.BAD_SIGNATURE);
  await refused("signed for another chain", submit(w, signAttestation("another-chain", A, good)), BandwidthErrorCode.BAD_SIGNATURE);
  await refused("a transfer", w.client.call("proof_submitBandwidth", { tx: signHex(w, { type: "transfer", to: R1.publicKey, amount: 1n }) }), BandwidthRpcErrorCode.NOT_AN_ATTESTATION);
  const zeroBytes = signHex(w, attestOp(signAttestation(chainId(w), A, { relay: R1.publicKey, epoch: E, bytes: 0n, throughput: 0n, latency: 1n })));
  await refused("zero bytes", w.client.call("proof_submitBandwidth", { tx: zeroBytes }), TxErrorCode.INVALID_OPERATION);
  await refused("not a transaction", w.client.call("proof_submitBandwidth", { tx: "00" }), TxErrorCode.MALFORMED);
  const hex = signHex(w, attestOp(good));
  const badTxSig = hex.slice(0, -2) + (parseInt(hex.slice(-2), 16) ^ 1).toString(16).padStart(2, "0");
  await refused("a transaction signature that does not verify", w.client.call("proof_submitBandwidth", { tx: badTxSig }), TxErrorCode.BAD_SIGNATURE);
  for (const [name, params] of [
    ["not hex", { tx: "xyz" }], ["an odd number of digits", { tx: hex.slice(1) }], ["no tx", {}], ["a number", { tx: 12 }], ["an extra param", { tx: hex, epoch: 1 }],
    ["too long", { tx: "00".repeat(4097) }], ["positional, one too many", [hex, 1]],
  ] as const) {
    t.same((await failure(w.client.call("proof_submitBandwidth", params as never))).rpcCode, RpcErrorCode.INVALID_PARAMS, `${name}: -32602`);
  }
  t.same([w.submitted.length, w.mempool.size, w.reported.length], [0, 0, 0], "nothing refused reached the mempool or the evidence pool");

  // accepted: once in the mempool, with what it attests
  const ok = await submit(w, good);
  t.same(ok, { hash: ok.hash, relay: addr(R1), epoch: e(0), witness: addr(A) });
  t.equal(w.submitted.length, 1, "submitTx called once");
  t.equal(toHex(w.submitted[0]!.hash), ok.hash);
  t.same(w.mempool.get(fromHex(ok.hash))?.op, attestOp(good), "the attestation is in the mempool");
  const pending = await w.client.call("tx_get", { hash: ok.hash });
  t.same([pending.status, pending.tx?.op.attestation], ["pending", attestationJson(good)], "tx_get shows it pending, with its attestation");
  await commitSubmitted(t, w);

  // the same attestation again (carried by someone else): a plain duplicate, no evidence
  const dupSame = await refused("the identical attestation again", submit(w, good, WITNESS_POOL.find((k) => k !== A)!), BandwidthErrorCode.ATTEST_DUPLICATE);
  t.same([dupSame.data.existing, dupSame.data.evidence], [0, false], "data: the stored index, no evidence");
  t.equal(w.reported.length, 0, "nothing reported");

  // other measurements by the same witness: a double attestation, reported once as evidence
  const changed = attest(w, A, R1, E, 90_000n);
  const dup = await refused("another attestation by the same witness", submit(w, changed), BandwidthErrorCode.ATTEST_DUPLICATE);
  t.same([dup.data.existing, dup.data.evidence], [0, true], "data.evidence: the double attestation was reported");
  t.equal(w.reported.length, 1, "reportEvidence called once");
  const ev = w.reported[0]!.ev as DuplicateAttestationEvidence;
  t.equal(ev.kind, "duplicateAttestation");
  t.same(ev, duplicateAttestationEvidence(chainId(w), good, changed), "the stored and the new attestation, in canonical order");
  t.doesNotThrow(() => verifyEvidence(w.chain.state, ev, chainId(w), w.chain.genesis.params, height(w) + 1n), "valid evidence for the next block");
  t.equal(w.reported[0]!.outcome, true, "newly pooled");
  t.same(w.pool.list(), [ev]);
  const again = await refused("the same double attestation again", submit(w, changed), BandwidthErrorCode.ATTEST_DUPLICATE);
  t.same([again.data.evidence, w.reported.length, w.reported[1]?.outcome], [false, 2, false], "already pooled: evidence false");
  // a second attestation whose signature is forged is no evidence against the witness
  const forged = { ...changed, throughput: 1n, signature: unassigned.sign(attestSignBytes(chainId(w), { ...changed, throughput: 1n })) };
  const notEv = await refused("a forged second attestation", submit(w, forged), BandwidthErrorCode.ATTEST_DUPLICATE);
  t.same([notEv.data.evidence, w.reported.at(-1)?.outcome, w.pool.list().length], [false, "EVIDENCE_BAD_SIGNATURE", 1], "not valid evidence: refused by the pool, evidence false");
  t.equal(w.submitted.length, 1, "no duplicate reached the mempool");

  // the JSON of the evidence: pooled, then in a block
  const pooled = await w.client.call("chain_getEvidence", {});
  t.same(pooled, { height: null, evidence: [evidenceJson(ev)] }, "chain_getEvidence lists the pooled duplicate attestation");
  await commit(t, w, [], w.pool.list());
  const h = Number(height(w));
  t.same(await w.client.call("chain_getEvidence", { height: h }), { height: h, evidence: [evidenceJson(ev)] }, "and the block's");
  t.same((await w.client.call("chain_getBlock", { height: h, full: true }))?.evidence, [evidenceJson(ev)], "chain_getBlock carries it");
  t.same((await w.client.call("bandwidth_getAttestations", { relay: addr(R1), epoch: e(0) })).punished, [addr(A)], "the witness was punished");
  t.same(w.pool.list(), [], "the pool dropped the included evidence");
  const after = await refused("once punished", submit(w, changed), BandwidthErrorCode.ATTEST_DUPLICATE);
  t.same([after.data.evidence, w.reported.at(-1)?.outcome], [false, "EVIDENCE_ALREADY_PUNISHED"], "no second evidence for a punished witness");

  // a signature that is not the witness's, by a witness that has not attested
  await refused("a forged attestation by an assigned witness", submit(w, { ...attest(w, B, R1, E, 1n), signature: unassigned.sign(attestSignBytes(chainId(w), attest(w, B, R1, E, 1n))) }), BandwidthErrorCode.BAD_SIGNATURE);

  // an attestation for epoch 1 is late once epoch 2 is current (from epoch 1's last block on, the next block is epoch 2's)
  const lateOne = attest(w, C, R1, E, 50_000n);
  await toHeight(t, w, lastHeightOfEpoch(E, L) - 1n);
  const inTime = await submit(w, lateOne);
  t.same([inTime.epoch, inTime.witness], [e(0), addr(C)], "epoch 1's last block still takes it");
  w.mempool.remove(fromHex(inTime.hash));
  await toHeight(t, w, lastHeightOfEpoch(E, L));
  const late = await refused("an earlier epoch", submit(w, lateOne), BandwidthErrorCode.ATTEST_LATE);
  t.equal(late.data.epoch, String(e(1)), "data: the current epoch");
  await refused("epoch 2 in its first block: not assigned yet", submit(w, attest(w, C, R1, E + 1n, 50_000n)), BandwidthErrorCode.ATTEST_WRONG_EPOCH);
  await toHeight(t, w, firstHeightOfEpoch(E + 1n, L));
  await refused("an earlier epoch, in the next", submit(w, lateOne), BandwidthErrorCode.ATTEST_LATE);
  t.equal(w.submitted.length, 2, "two accepted in all");
});

t.test("blocks and transactions carrying bandwidth.attest fit the result schemas", async (t) => {
  const w = await setup(t);
  await toHeight(t, w, firstHeightOfEpoch(E, L));
  const ws = await witnessesOf(w, R1, E);
  const as = ws.slice(0, 3).map((k, i) => attest(w, k, R1, E, 10_000n * BigInt(i + 1), BigInt(i)));
  const hashes: string[] = [];
  for (const a of as) hashes.push((await submit(w, a)).hash);
  const txs = await commitSubmitted(t, w);
  t.same(txs.map((x) => toHex(x.hash)), hashes);
  const h = Number(height(w));
  const full = await w.client.call("chain_getBlock", { height: h, full: true });
  const fullTxs = full!.txs as { hash: string; op: { type: string; attestation?: unknown } }[];
  t.same(fullTxs.map((x) => [x.hash, x.op.type, x.op.attestation]), as.map((a, i) => [hashes[i], "bandwidth.attest", attestationJson(a)]), "chain_getBlock full: each op with its attestation");
  t.same((await w.client.call("chain_getBlock", { height: h }))?.txs, hashes, "not full: the hashes");
  const byHash = await w.client.call("chain_getBlock", { hash: full!.header.hash });
  t.same(byHash, await w.client.call("chain_getBlock", { height: h }), "by hash");
  for (const [i, hash] of hashes.entries()) {
    const got = await w.client.call("tx_get", { hash });
    t.same([got.status, got.height, got.index, got.receipt, got.tx?.op], ["finalized", h, i, { ok: true, code: null, fee: "1000" }, { type: "bandwidth.attest", attestation: attestationJson(as[i]!) }], `tx_get ${i}`);
  }
  t.same(attestationJson(as[0]!), {
    relay: addr(R1), epoch: e(0), bytes: "1000000", throughput: "10000", latency: "0", witness: addr(ws[0]!), signature: toHex(as[0]!.signature),
  }, "the attestation JSON: addresses, decimal strings, hex signature");
  const listed = await w.client.call("tx_listByAddress", { address: addr(ws[0]!) });
  t.ok(JSON.stringify(listed).includes(hashes[0]!), "the witness's history lists the attestation");
  t.ok(equalBytes(fromHex(hashes[0]!), txs[0]!.hash));
});

t.test("proof_submitBandwidth without ctx.reportEvidence: a double attestation is a plain duplicate, data.evidence false", async (t) => {
  const w = await setup(t, { reportEvidence: false });
  await toHeight(t, w, firstHeightOfEpoch(E, L));
  const [A] = await witnessesOf(w, R1, E);
  await submit(w, attest(w, A!, R1, E, 50_000n));
  await commitSubmitted(t, w);
  const f = await failure(submit(w, attest(w, A!, R1, E, 90_000n)));
  t.same([f.code, f.data.existing, f.data.evidence], [BandwidthErrorCode.ATTEST_DUPLICATE, 0, false]);
  t.same([w.reported.length, w.pool.list().length, w.submitted.length], [0, 0, 1], "nothing reported, nothing more submitted");
});
