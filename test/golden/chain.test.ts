/**
 * The golden chain: one deterministic chain that exercises every operation, both evidence kinds and
 * every event kind, block by block pinned to test/golden/chain.golden.json (block hash, state root,
 * receipts root, each receipt's (txHash, ok, code), and every event in its RPC JSON form).
 *
 * It is a safety net for refactors that must not change consensus (e.g. moving the kernel and the
 * services into primitives/ and modules/): any change to encoding, hashing, execution order,
 * events or state layout shows up here as the first height and field that differ.
 *
 * Regenerate the fixture (instead of comparing against it):
 *
 *   GOLDEN_UPDATE=1 node scripts/test.mjs test/golden/chain.test.ts
 *
 * WARNING: updating the fixture is only for a DELIBERATE consensus change (a new rule, a changed
 * encoding or event, a bug fix that changes what the chain computes). Say so, and why, in the commit
 * message that carries the new fixture. A refactor must pass against the old fixture unchanged.
 *
 * Everything here is deterministic: keys from testKey/insecureDevKey, block times from the helpers,
 * made-up block hashes from sha256 of fixed labels; no clock, no Math.random.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { readRelayEpoch } from "../../modules/bandwidth/bandwidth.ts";
import { equalBytes, toHex } from "../../primitives/bytes.ts";
import { epochSeed } from "../../chain/epoch.ts";
import type { Evidence } from "../../chain/evidence.ts";
import { signVote } from "../../chain/vote.ts";
import { duplicateVoteEvidence } from "../../modules/staking/evidence.ts";
import { duplicateAttestationEvidence } from "../../modules/bandwidth/evidence.ts";
import { sha256 } from "../../primitives/hash.ts";
import type { KeyPair } from "../../primitives/keys.ts";
import { channelId, signVoucher } from "../../modules/paych/paych.ts";
import { dealId, ProviderKind, signDealAcceptance, type DealTerms } from "../../modules/storage/storage.ts";
import { networkDealId, readOrder } from "../../modules/storage/orders.ts";
import { type BuiltBlock, type ChainEvent } from "../../chain/transition.ts";
import { opName, type Operation, type SignedTx } from "../../chain/tx.ts";
import { VoteType } from "../../chain/vote.ts";
import type { GenesisFile } from "../../genesis/schema.ts";
import { signAttestation, type Attestation } from "../../proofs/bandwidth.ts";
import { StorageProver } from "../../proofs/storage.ts";
import { eventJson } from "../../rpc/json.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, tx, type TestChain } from "../helpers/chain.ts";
import { pseudoRandomBytes } from "../helpers/random.ts";

const FIXTURE = fileURLToPath(new URL("./chain.golden.json", import.meta.url));
const UPDATE = process.env.GOLDEN_UPDATE === "1";

/** Every operation of chain/tx.ts OpCode: the chain must carry each at least once. */
const REQUIRED_OPS = [
  "transfer", "stake", "unstake", "validator.register", "validator.unjail", "provider.register", "provider.exit", "storage.deal", "storage.proof",
  "storage.order", "storage.accept", "storage.decline", "bandwidth.attest", "paych.open", "paych.fund", "paych.redeem", "paych.close", "paych.withdraw",
] as const;
/** Every kind of ChainEvent (chain/exec.ts): the chain must emit each at least once. */
const REQUIRED_EVENTS = [
  "transfer", "fee", "stake", "unstake", "validatorRegister", "unjail", "unbonded", "slash", "jail", "paychOpen", "paychFund", "paychRedeem", "paychClose",
  "paychWithdraw", "providerRegister", "providerExit", "providerCollateralReturned", "providerBan", "storageDeal", "storageProof", "storagePayment",
  "storageSlash", "storageDealEnd", "storageOrder", "storagePlacement", "storagePlacementEnd", "storageOrderEnd", "bandwidthAssign", "bandwidthAttest", "bandwidthCredit", "bandwidthUnjudged", "witnessMiss", "attestSlash", "reward",
] as const satisfies readonly ChainEvent["kind"][];
/** Finer variants that must occur too. */
const REQUIRED_VARIANTS = [
  "providerRegister:storage", "providerRegister:bandwidth", "jail:downtime", "jail:doubleSign", "evidence:duplicateVote", "evidence:duplicateAttestation",
  "reward:storage", "reward:bandwidth", "reward:witness", "reward:validator", "storageDealEnd:completed", "bandwidthCredit:credited", "bandwidthCredit:notCredited",
  "receipt:failed", "bandwidthUnjudged:fewAttestations", "storagePlacementEnd:declined", "storagePlacementEnd:expired", "storageOrderEnd:expired",
] as const;

// ---- the scenario ----

const CLC = 1_000_000_000n;
const L = 8;
/**
 * Small numbers so that every rule is reached in 48 blocks: 8-block epochs, short windows (the
 * unbonding as short as the genesis allows: the 4 epochs double-attestation evidence is accepted). Relays
 * registered in epoch 0 are first assigned witnesses in epoch 3 (the lookback of issue #16).
 */
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L,
  minValidatorStake: CLC.toString(),
  maxValidators: 10,
  unbondingBlocks: 32,
  evidenceMaxAgeBlocks: 6,
  jailBlocks: 10,
  slashDoubleSignBps: 1000,
  downtimeWindow: 8,
  downtimeMinSigned: 4,
  downtimeJailBlocks: 6,
  emissionPerEpoch: "1000000",
  emissionDecayBps: 100,
  storageShareBps: 5000,
  bandwidthShareBps: 3000,
  validatorShareBps: 2000,
  challengesPerDeal: 4,
  maxDealEpochs: 50,
  collateralPerByte: "1",
  missSlashBps: 1000,
  maxMissedProofs: 3,
  reputationWindowEpochs: 4,
  witnessesPerRelay: 3,
  attestQuorum: 2,
  minProbeBytes: 1000,
  attestSlashBps: 1000,
  minSettleDelay: 3,
  witnessShareBps: 1000,
  witnessToleranceBps: 2000,
  maxRelaysPerIp: 2,
  minStoragePrice: "1000",
  placementWindowEpochs: 1,
  orderPlacementEpochs: 2,
};

const V = [testKey(901), testKey(902), testKey(903), testKey(904)] as [KeyPair, KeyPair, KeyPair, KeyPair];
const ALICE = testKey(911);
const PAYER = testKey(912);
const PAYEE = testKey(913);
const CLIENT = testKey(914);
const PROVIDER = testKey(915);
const RELAY = testKey(916);
const POOR = testKey(917);
/** Storage providers the network places an order on. */
const STORERS = [testKey(918), testKey(919), testKey(920)];
const USERS = [ALICE, PAYER, PAYEE, CLIENT, PROVIDER, RELAY, ...STORERS];
const FUNDS = 1000n * CLC;
const COLLATERAL = 1_000_000n;
const CAPACITY = 100_000n;
const PROVER = new StorageProver(pseudoRandomBytes(3000, 42), 256); // 12 chunks
const ORDERED = new StorageProver(pseudoRandomBytes(2000, 43), 256); // the network-placed data
/** V3 leaves blocks 2..6 unsigned: the commits of those blocks (recorded in 3..7) miss it 5 times, one more than the window allows. */
const absentAt = (h: bigint): KeyPair[] => (h >= 2n && h <= 6n ? [V[3]] : []);

interface BlockRecord {
  height: number;
  hash: string;
  stateRoot: string;
  receiptsRoot: string;
  receipts: { txHash: string; ok: boolean; code: string }[];
  events: unknown[];
}

interface Golden {
  genesisHash: string;
  blocks: BlockRecord[];
  final: { height: number; minted: string; burned: string; genesisSupply: string };
}

interface Run {
  golden: Golden;
  ops: Set<string>;
  events: Set<string>;
  variants: Set<string>;
  problems: string[];
}

function runScenario(): Run {
  const problems: string[] = [];
  const fail = (m: string) => problems.push(m);
  const chain: TestChain = newTestChain({
    validators: V.map((key) => ({ key, power: 10n * CLC })),
    params: PARAMS,
    balances: USERS.map((key) => ({ key, amount: FUNDS })),
  });
  // ALICE becomes a validator: the helpers sign commits with every known key in the set
  chain.keys.push(ALICE);
  const id = chain.genesis.chainId;
  const height = () => chain.state.meta().height;
  const blocks: BlockRecord[] = [];
  const ops = new Set<string>();
  const events = new Set<string>();
  const variants = new Set<string>();

  /** One block: transactions from several senders (nonces in order per sender), optional evidence, expected receipt codes. */
  const block = (list: readonly [KeyPair, Operation][], expect: readonly string[], evidence: Evidence[] = []): BuiltBlock => {
    const h = height() + 1n;
    const nonces = new Map<string, bigint>();
    const txs: SignedTx[] = list.map(([key, op]) => {
      const k = toHex(key.publicKey);
      const n = nonces.get(k) ?? chain.state.account(key.publicKey).nonce;
      nonces.set(k, n + 1n);
      return tx(chain, key, n, op);
    });
    const built = advanceChecked(fail, chain, txs, { absent: absentAt(h), ...(evidence.length > 0 ? { evidence } : {}) });
    if (built.rejected.length > 0) fail(`height ${h}: transaction ${built.rejected[0]!.tx.op.type} left out: ${built.rejected[0]!.error.code} ${built.rejected[0]!.error.message}`);
    if (built.rejectedEvidence.length > 0) fail(`height ${h}: evidence left out: ${built.rejectedEvidence[0]!.error.code} ${built.rejectedEvidence[0]!.error.message}`);
    if (!supplyHolds(chain.state)) fail(`height ${h}: the supply invariant is broken`);
    const codes = built.receipts.map((r) => r.code);
    if (JSON.stringify(codes) !== JSON.stringify(expect)) fail(`height ${h}: receipt codes ${JSON.stringify(codes)}, the scenario expects ${JSON.stringify(expect)}`);
    for (const x of built.block.txs) ops.add(opName(x.op));
    for (const r of built.receipts) if (!r.ok) variants.add("receipt:failed");
    for (const ev of built.block.evidence) variants.add(`evidence:${ev.kind}`);
    for (const e of built.events) {
      events.add(e.kind);
      if (e.kind === "providerRegister") variants.add(`providerRegister:${e.providerKind}`);
      if (e.kind === "jail") variants.add(`jail:${e.reason}`);
      if (e.kind === "reward") variants.add(`reward:${e.pool}`);
      if (e.kind === "storageDealEnd") variants.add(`storageDealEnd:${e.reason}`);
      if (e.kind === "storagePlacementEnd") variants.add(`storagePlacementEnd:${e.reason}`);
      if (e.kind === "storageOrderEnd") variants.add(`storageOrderEnd:${e.status}`);
      if (e.kind === "bandwidthCredit") variants.add(`bandwidthCredit:${e.credited > 0n ? "credited" : "notCredited"}`);
      if (e.kind === "bandwidthUnjudged") variants.add(`bandwidthUnjudged:${e.reason}`);
    }
    const hdr = built.block.header;
    blocks.push({
      height: Number(hdr.height),
      hash: toHex(built.block.hash),
      stateRoot: toHex(hdr.stateRoot),
      receiptsRoot: toHex(hdr.receiptsRoot),
      receipts: built.receipts.map((r) => ({ txHash: toHex(r.txHash), ok: r.ok, code: r.code })),
      events: built.events.map((e) => JSON.parse(JSON.stringify(eventJson(e))) as unknown),
    });
    return built;
  };
  const emptyUntil = (h: bigint) => {
    while (height() < h) block([], []);
  };
  const at = (h: bigint) => {
    emptyUntil(h - 1n);
    if (height() + 1n !== h) fail(`the scenario wanted height ${h} next, the chain is at ${height()}`);
  };

  const regOp = (kind: number): Operation => ({ type: "provider.register", kind, collateral: COLLATERAL, capacity: CAPACITY, multiaddr: "/ip4/127.0.0.1/tcp/4001" });
  const channel = channelId(PAYER.publicKey, 0n);
  const voucher = (amount: bigint, nonce: bigint): Operation => ({ type: "paych.redeem", voucher: signVoucher(id, PAYER, { channel, amount, nonce }) });
  const terms: DealTerms = {
    provider: PROVIDER.publicKey, root: PROVER.root, size: PROVER.size, chunkSize: BigInt(PROVER.chunkSize), pricePerEpoch: 1000n, durationEpochs: 3n,
    collateral: 10_000n, expiresAtHeight: 20n,
  };
  const deal = dealId(id, CLIENT.publicKey, terms);
  const proof = (epoch: bigint): Extract<Operation, { type: "storage.proof" }> => {
    const seed = epochSeed(chain.state, epoch);
    if (!seed) throw new Error(`no seed for epoch ${epoch} at height ${height()}`);
    return { type: "storage.proof", deal, epoch, chunks: PROVER.answer(seed, deal, chain.genesis.params.challengesPerDeal) };
  };
  const keyOf = (pub: Uint8Array): KeyPair => {
    const k = [...V, ...USERS, POOR].find((x) => equalBytes(x.publicKey, pub));
    if (!k) throw new Error(`no key for ${toHex(pub)}`);
    return k;
  };
  const witnesses = (epoch: bigint): KeyPair[] => {
    const rec = readRelayEpoch(chain.state, RELAY.publicKey, epoch);
    if (!rec) throw new Error(`RELAY is not assigned in epoch ${epoch}`);
    return rec.witnesses.map(keyOf);
  };
  const attestation = (w: KeyPair, epoch: bigint, throughput: bigint): Attestation =>
    signAttestation(id, w, { relay: RELAY.publicKey, epoch, bytes: 1_000_000n, throughput, latency: 2_000n });
  const attestOp = (a: Attestation): Operation => ({ type: "bandwidth.attest", attestation: a });

  // ---- epoch 0 (heights 1..8): funds, registrations, a deal, a whole payment channel, V3's downtime ----
  at(1n);
  block([
    [chain.faucet, { type: "transfer", to: POOR.publicKey, amount: 5000n }],
    [POOR, { type: "transfer", to: ALICE.publicKey, amount: 1_000_000n }], // more than POOR holds
  ], ["", "INSUFFICIENT_BALANCE"]);
  block([
    [PROVIDER, regOp(ProviderKind.STORAGE)],
    [RELAY, regOp(ProviderKind.BANDWIDTH)],
    [ALICE, { type: "stake", amount: 5n * CLC }],
    [ALICE, { type: "validator.register", name: "alice" }],
    [PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: 10_000n, settleDelay: 3n }],
    ...STORERS.map((k): [KeyPair, Operation] => [k, regOp(ProviderKind.STORAGE)]),
  ], ["", "", "", "", "", "", "", ""]); // 2
  block([
    [ALICE, { type: "stake", amount: 2n * FUNDS }],
    [ALICE, { type: "validator.register", name: "alice again" }],
    [CLIENT, { type: "storage.deal", terms, providerSignature: signDealAcceptance(id, PROVIDER, CLIENT.publicKey, terms) }],
    [PAYER, { type: "paych.fund", channel, amount: 5000n }],
    [PROVIDER, regOp(ProviderKind.STORAGE)],
  ], ["INSUFFICIENT_BALANCE", "ALREADY_REGISTERED", "", "", "PROVIDER_ALREADY_REGISTERED"]); // 3
  block([[PAYEE, voucher(4000n, 1n)], [PAYEE, voucher(4000n, 1n)]], ["", "PAYCH_STALE_NONCE"]); // 4
  block([[PAYER, { type: "paych.close", channel }]], [""]); // 5: closingAt 8
  block([[PAYER, { type: "paych.withdraw", channel }], [PAYEE, voucher(6000n, 2n)]], ["PAYCH_SETTLE_DELAY", ""]); // 6
  block([[V[3], { type: "validator.unjail" }]], ["STILL_JAILED"]); // 7: V3 jailed for downtime at the start of this block
  block([[PAYER, { type: "paych.withdraw", channel }]], [""]); // 8: end of epoch 0

  // ---- epoch 1 (9..16): the deal is proven, ALICE unstakes, V3 unjails; RELAY is in no snapshot yet ----
  block([], []); // 9
  const good = proof(1n);
  const c0 = good.chunks[0]!;
  const badPath = { ...good, chunks: [{ ...c0, path: c0.path.map((x, i) => (i === 0 ? x.map((b, j) => (j === 0 ? b ^ 1 : b)) : x)) }, ...good.chunks.slice(1)] };
  block([
    [PROVIDER, badPath],
    [PROVIDER, good],
    [PAYEE, attestOp(attestation(PAYEE, 1n, 60_000n))], // RELAY is first assigned in epoch 3
  ], ["STORAGE_PROOF_BAD_PATH", "", "BANDWIDTH_ATTEST_WRONG_EPOCH"]); // 10
  const order = (replicas: number, pricePerEpoch: bigint): Operation => ({
    type: "storage.order", root: ORDERED.root, size: ORDERED.size, chunkSize: BigInt(ORDERED.chunkSize), pricePerEpoch, durationEpochs: 2n, replicas,
  });
  const ordered = block([
    [ALICE, { type: "unstake", amount: 2n * CLC }],
    [ALICE, { type: "unstake", amount: 100n * CLC }],
    [CLIENT, order(2, 1000n)], // placed from epoch 3 (the lookback), closes at the end of epoch 4
    [CLIENT, order(9, 1000n)],
    [CLIENT, order(2, 0n)],
  ], ["", "INSUFFICIENT_STAKE", "", "STORAGE_TOO_MANY_REPLICAS", "STORAGE_PRICE_TOO_LOW"]); // 11: released at 43
  const orderId = ordered.receipts[2]!.txHash;
  at(13n);
  block([[V[3], { type: "validator.unjail" }]], [""]); // 13
  emptyUntil(16n); // 16: end of epoch 1: payment, the storage and validator pools

  // ---- epoch 2 (17..24): V1 double-signs, PROVIDER misses and exits (its collateral locked through epoch 5) ----
  block([], []); // 17
  const [hashA, hashB] = [sha256(new TextEncoder().encode("golden block A")), sha256(new TextEncoder().encode("golden block B"))];
  const doubleVote = duplicateVoteEvidence(
    signVote(id, V[1], { type: VoteType.PRECOMMIT, height: 16n, round: 0, blockHash: hashA }),
    signVote(id, V[1], { type: VoteType.PRECOMMIT, height: 16n, round: 0, blockHash: hashB }),
  );
  block([], [], [doubleVote]); // 18
  block([[PROVIDER, { type: "provider.exit" }]], [""]); // 19: exit with a deal active
  emptyUntil(24n); // 24: end of epoch 2: slash and ban PROVIDER

  // ---- epoch 3 (25..32): RELAY's witnesses (seed of epoch 2, snapshot of epoch 1) attest; the deal's last epoch is proven ----
  // 25: witnesses of epoch 3 assigned; a channel with a settle delay below minSettleDelay is refused
  block([[PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: 100n, settleDelay: 2n }]], ["PAYCH_SETTLE_DELAY_TOO_SHORT"]);
  const w3 = witnesses(3n);
  const unassigned = [...V, ALICE].find((k) => !w3.includes(k))!;
  // PROVIDER exited in epoch 2: if it was drawn (it was bonded through epoch 1) its attestation is refused
  const w3codes = w3.map((k) => (k === PROVIDER ? "BANDWIDTH_WITNESS_UNBONDED" : ""));
  block([
    [PROVIDER, proof(3n)],
    [w3[0]!, attestOp(attestation(w3[0]!, 3n, 50_000n))],
    [w3[1]!, attestOp(attestation(w3[1]!, 3n, 60_000n))],
    [w3[2]!, attestOp(attestation(w3[2]!, 3n, 70_000n))],
    [PAYEE, attestOp(attestation(PAYEE, 3n, 60_000n))], // in no snapshot
    [unassigned, attestOp(attestation(unassigned, 3n, 60_000n))], // a candidate, not RELAY's witness
  ], ["", ...w3codes, "BANDWIDTH_WITNESS_NOT_IN_SNAPSHOT", "BANDWIDTH_NOT_ASSIGNED"]); // 26
  // the order was placed at the end of block 25 (seed of epoch 2, storage snapshot of epoch 1): two of the three STORERS
  const placed = readOrder(chain.state, orderId)!.placements.map((x) => keyOf(x.provider));
  const [taker, decliner] = placed as [KeyPair, KeyPair];
  const third = STORERS.find((k) => !placed.includes(k))!;
  block([
    [taker, { type: "storage.accept", order: orderId }],
    [decliner, { type: "storage.decline", order: orderId }],
    [third, { type: "storage.accept", order: orderId }],
    [decliner, { type: "storage.accept", order: orderId }],
  ], ["", "", "STORAGE_NOT_PLACED", "STORAGE_PLACEMENT_CLOSED"]); // 27
  const networkDeal = networkDealId(id, orderId, taker.publicKey);
  const held: DealTerms = { ...terms, provider: taker.publicKey, root: ORDERED.root, size: ORDERED.size, collateral: ORDERED.size, expiresAtHeight: 40n };
  block([[CLIENT, { type: "storage.deal", terms: held, providerSignature: signDealAcceptance(id, taker, CLIENT.publicKey, held) }]], ["STORAGE_ROOT_HELD"]); // 28
  emptyUntil(29n);
  block([[V[1], { type: "validator.unjail" }]], ["TOMBSTONED"]); // 30: past V1's jail time, but a double-signer never unjails
  emptyUntil(32n); // 32: end of epoch 3: the deal completes, RELAY credited, relay and witness pay

  // ---- epoch 4 (33..40): a quorum attests a failed probe; one witness is silent, one double-attests ----
  block([], []); // 33
  const w4 = witnesses(4n);
  const failed = attestation(w4[0]!, 4n, 0n);
  const networkProof = (epoch: bigint): Operation => ({
    type: "storage.proof", deal: networkDeal, epoch, chunks: ORDERED.answer(epochSeed(chain.state, epoch)!, networkDeal, chain.genesis.params.challengesPerDeal),
  });
  // the declined replica was drawn again at the end of block 33: onto the third storer, which stays silent
  block([
    [w4[0]!, attestOp(failed)],
    [w4[1]!, attestOp(attestation(w4[1]!, 4n, 0n))],
    [taker, networkProof(4n)],
  ], ["", "", ""]); // 34: w4[2] stays silent
  const doubleAttest = duplicateAttestationEvidence(id, failed, attestation(w4[0]!, 4n, 45_000n));
  block([], [], [doubleAttest]); // 35
  emptyUntil(40n); // 40: end of epoch 4: RELAY judged, not credited, banned; w4[2] missed

  // ---- epoch 5 (41..48): the banned RELAY is assigned, nobody attests: not judged; PROVIDER's collateral returns ----
  block([[third, { type: "storage.accept", order: orderId }]], ["STORAGE_ORDER_CLOSED"]); // 41: its placement expired, the order closed
  block([[taker, networkProof(5n)]], [""]); // 42: the network deal's last epoch
  emptyUntil(48n); // 48 (43: ALICE's unbonding of height 11 released)

  const m = chain.state.meta();
  return {
    golden: {
      genesisHash: toHex(chain.genesis.hash),
      blocks,
      final: { height: Number(m.height), minted: m.minted.toString(), burned: m.burned.toString(), genesisSupply: m.genesisSupply.toString() },
    },
    ops,
    events,
    variants,
    problems,
  };
}

// ---- the fixture ----

/** One line per block header, receipt and event: small diffs when something changes. */
function formatGolden(g: Golden): string {
  const blocks = g.blocks.map((b) => {
    const head = JSON.stringify({ height: b.height, hash: b.hash, stateRoot: b.stateRoot, receiptsRoot: b.receiptsRoot }).slice(0, -1);
    const list = (name: string, xs: unknown[]) => (xs.length === 0 ? `"${name}": []` : `"${name}": [\n${xs.map((x) => `      ${JSON.stringify(x)}`).join(",\n")}\n    ]`);
    return `    ${head},\n    ${list("receipts", b.receipts)},\n    ${list("events", b.events)}}`;
  });
  return `{\n  "genesisHash": ${JSON.stringify(g.genesisHash)},\n  "final": ${JSON.stringify(g.final)},\n  "blocks": [\n${blocks.join(",\n")}\n  ]\n}\n`;
}

/** The differences between one block's record and the fixture's, field by field (empty if none). */
function diffBlock(want: BlockRecord, got: BlockRecord): string[] {
  const out: string[] = [];
  for (const f of ["height", "hash", "stateRoot", "receiptsRoot"] as const) {
    if (want[f] !== got[f]) out.push(`${f}: expected ${want[f]}, got ${got[f]}`);
  }
  for (const f of ["receipts", "events"] as const) {
    const w = want[f] as unknown[];
    const g = got[f] as unknown[];
    if (w.length !== g.length) out.push(`${f}: expected ${w.length}, got ${g.length}`);
    for (let i = 0; i < Math.max(w.length, g.length); i++) {
      const a = JSON.stringify(w[i]);
      const b = JSON.stringify(g[i]);
      if (a !== b) out.push(`${f}[${i}]: expected ${a ?? "nothing"}, got ${b ?? "nothing"}`);
    }
  }
  return out;
}

/** 1,2,3,5,7,8 -> "1-3, 5, 7-8" */
function ranges(xs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length; i++) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j;
  }
  return out.join(", ");
}

t.test("the golden chain", async (t) => {
  const started = performance.now();
  const run = runScenario();
  t.comment(`${run.golden.blocks.length} blocks built in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const sound = [
    t.same(run.problems, [], "the scenario runs as written: every receipt code as expected, nothing left out, the supply invariant after every block, followers agree"),
    t.same(REQUIRED_OPS.filter((o) => !run.ops.has(o)), [], "every operation occurs"),
    t.same(REQUIRED_EVENTS.filter((e) => !run.events.has(e)), [], "every event kind occurs"),
    t.same(REQUIRED_VARIANTS.filter((v) => !run.variants.has(v)), [], "both provider kinds, both jail reasons, both evidence kinds, all three pools, failed receipts"),
  ].every(Boolean);

  if (UPDATE) {
    if (!sound) {
      t.fail("GOLDEN_UPDATE=1: the scenario no longer covers what it must; the fixture is left as it was");
      return;
    }
    writeFileSync(FIXTURE, formatGolden(run.golden));
    t.comment(`GOLDEN_UPDATE=1: wrote ${FIXTURE}`);
    return;
  }
  let want: Golden;
  try {
    want = JSON.parse(readFileSync(FIXTURE, "utf8")) as Golden;
  } catch (e) {
    t.fail(`cannot read the fixture ${FIXTURE} (${(e as Error).message}); generate it with GOLDEN_UPDATE=1`);
    return;
  }
  t.equal(run.golden.genesisHash, want.genesisHash, "the genesis (params included) is the fixture's");
  const n = Math.max(want.blocks.length, run.golden.blocks.length);
  const differing: number[] = [];
  let first: { height: number; diffs: string[] } | undefined;
  for (let i = 0; i < n; i++) {
    const w = want.blocks[i];
    const g = run.golden.blocks[i];
    const diffs = !w ? ["block: not in the fixture"] : !g ? ["block: not produced"] : diffBlock(w, g);
    if (diffs.length === 0) continue;
    const h = w?.height ?? g?.height ?? i + 1;
    differing.push(h);
    first ??= { height: h, diffs };
  }
  if (first !== undefined) {
    const fields = [...new Set(first.diffs.map((d) => d.slice(0, d.indexOf(":"))))];
    t.fail(`first difference from the golden fixture at height ${first.height}, in ${fields.join(", ")} (${differing.length} of ${n} heights differ)`, {
      height: first.height,
      differences: first.diffs.slice(0, 20).concat(first.diffs.length > 20 ? [`... and ${first.diffs.length - 20} more`] : []),
      differingHeights: ranges(differing),
    });
  } else {
    t.pass(`all ${n} blocks match the fixture: hash, state root, receipts root, receipts and events`);
  }
  t.same(run.golden.final, want.final, "final minted and burned");
});
