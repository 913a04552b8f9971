/**
 * Storage orders (modules/storage/orders.ts) through the real transition: the lookback placement,
 * acceptance, declines, expiry and redraws, the order's escrow from posting to refund, every refusal
 * with its own code, and the storage pool: network deals only, each provider capped at its share of
 * the collateral. Every block is built with buildBlock and replayed by a follower (advanceChecked),
 * and the supply invariant (order escrow included) is checked after each.
 */
import t, { type Test } from "tap";
import { equalBytes, toHex } from "../../../../primitives/bytes.ts";
import { Tag } from "../../../../primitives/hash.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import { epochOfHeight, epochSeed, firstHeightOfEpoch, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import type { BuiltBlock, ChainEvent } from "../../../../chain/transition.ts";
import { TxErrorCode, validateTxBasic, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { weightedDraw } from "../../../../proofs/draw.ts";
import { StorageProver } from "../../../../proofs/storage.ts";
import type { GenesisFile } from "../../../../genesis/schema.ts";
import { rewardSchedule } from "../../../../modules/rewards/rewards.ts";
import { networkDealId, pendingPlacementsOf, placementFailureCharge, readOrder, readStorageSnapshot, MAX_ORDER_REPLICAS } from "../../../../modules/storage/orders.ts";
import { OrderStatus, PlacementStatus, StorageKey } from "../../../../modules/storage/records.ts";
import { DealStatus, readDeal, readProvider, signDealAcceptance, StorageErrorCode, type DealTerms } from "../../../../modules/storage/storage.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, tx, txNext, type TestChain } from "../../../helpers/chain.ts";
import { pseudoRandomBytes as bytes } from "../../../helpers/random.ts";

const FUNDS = 1_000_000_000_000n;
const CLIENT = testKey(501);
const STORERS = [testKey(502), testKey(503), testKey(504), testKey(505)] as const;
const LATE = testKey(506);
const COLLATERAL = 1_000_000n;
const CAPACITY = 100_000n;
const L = 4;
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: L,
  challengesPerDeal: 4,
  collateralPerByte: "1",
  emissionPerEpoch: "1000000",
  emissionDecayBps: 0,
  reputationWindowEpochs: 4,
  maxDealEpochs: 50,
  minStoragePrice: "2000000",
  placementWindowEpochs: 1,
  orderPlacementEpochs: 3,
};
const DATA = new StorageProver(bytes(3000, 77), 256);

function newChain(params: Partial<GenesisFile["params"]> = {}): TestChain {
  return newTestChain({ params: { ...PARAMS, ...params }, balances: [CLIENT, ...STORERS, LATE].map((key) => ({ key, amount: FUNDS })) });
}

const height = (chain: TestChain) => chain.state.meta().height;
const events = <K extends ChainEvent["kind"]>(b: BuiltBlock, kind: K) => b.events.filter((e): e is Extract<ChainEvent, { kind: K }> => e.kind === kind);

function step(t: Test, chain: TestChain, txs: SignedTx[] = []): BuiltBlock {
  const built = advanceChecked((m) => t.fail(m), chain, txs);
  if (built.rejected.length > 0) t.fail(`rejected at height ${built.block.header.height}: ${built.rejected[0]!.error.code}`);
  if (!supplyHolds(chain.state)) t.fail(`supply invariant broken at height ${height(chain)}`);
  return built;
}
function run(t: Test, chain: TestChain, key: KeyPair, op: Operation): { code: string; built: BuiltBlock } {
  const built = step(t, chain, [txNext(chain, key, op)]);
  return { code: built.receipts[0]!.code, built };
}
/** Empty blocks until the chain is at `h`; returns them. */
function toHeight(t: Test, chain: TestChain, h: bigint): BuiltBlock[] {
  const out: BuiltBlock[] = [];
  while (height(chain) < h) out.push(step(t, chain));
  return out;
}
const register = (t: Test, chain: TestChain, keys: readonly KeyPair[], collateral = COLLATERAL) =>
  step(t, chain, keys.map((k) => txNext(chain, k, { type: "provider.register", kind: 0, collateral, capacity: CAPACITY, multiaddr: "/ip4/127.0.0.1/tcp/1" })));
const orderOp = (replicas: number, over: Partial<Extract<Operation, { type: "storage.order" }>> = {}): Operation => ({
  type: "storage.order", root: DATA.root, size: DATA.size, chunkSize: BigInt(DATA.chunkSize), pricePerEpoch: 10n, durationEpochs: 2n, replicas, ...over,
});
const key = (pub: Uint8Array): KeyPair => [CLIENT, ...STORERS, LATE].find((k) => equalBytes(k.publicKey, pub))!;
/**
 * The failure charge of an order of DATA for `duration` epochs posted now, by its definition: this
 * epoch's storage pool x size x collateralPerByte x duration / the storage collateral, rounded up.
 */
function expectedCharge(chain: TestChain, duration: bigint, collateral: bigint): bigint {
  const pool = rewardSchedule(chain.state, chain.genesis.params).storagePool;
  return (pool * DATA.size * duration + collateral - 1n) / collateral;
}

/** A chain with the STORERS registered in epoch 0 and an order of `replicas` posted in epoch 1; returns its id. */
function withOrder(t: Test, chain: TestChain, replicas: number): Uint8Array {
  register(t, chain, STORERS);
  toHeight(t, chain, BigInt(L)); // the order lands in epoch 1
  const posted = run(t, chain, CLIENT, orderOp(replicas));
  t.equal(posted.code, "", "the order lands");
  return posted.built.receipts[0]!.txHash;
}

t.test("an order is placed by the lookback two epochs later, accepted, proven and paid; the client's escrow moves into the deals", async (t) => {
  const chain = newChain();
  register(t, chain, STORERS);
  toHeight(t, chain, BigInt(L));
  const before = chain.state.account(CLIENT.publicKey).balance;
  const posted = run(t, chain, CLIENT, orderOp(2));
  const id = posted.built.receipts[0]!.txHash;
  const order = readOrder(chain.state, id)!;
  t.same([order.escrow, order.firstPlacementEpoch, order.closeEpoch, order.status], [40n, 3n, 5n, OrderStatus.OPEN], "escrow = price x duration x replicas; drawn from epoch 1 + 2");
  const charge = expectedCharge(chain, 2n, 4n * COLLATERAL);
  t.ok(charge > 0n);
  t.same([order.failureCharge, order.bond, order.burned, order.dropped], [charge, 2n * charge, 0n, 0], "the failure charge is the pool a replica could earn over its duration; the bond holds one per replica");
  t.equal(chain.state.account(CLIENT.publicKey).balance, before - 40n - 2n * charge - 1000n, "the escrow, the bond and the fee left the client");
  t.same(events(posted.built, "storageOrder").map((e) => [e.replicas, e.escrow, e.firstPlacementEpoch, e.closeEpoch, e.bond]), [[2, 40n, 3n, 5n, 2n * charge]]);
  // a provider that registers after the snapshot the draw uses is never placed
  register(t, chain, [LATE], COLLATERAL * 100n);
  // epoch 2's first block: nothing placed yet
  const e2 = toHeight(t, chain, firstHeightOfEpoch(2n, L));
  t.same(e2.flatMap((b) => events(b, "storagePlacement")), [], "no placement before firstPlacementEpoch");
  const snapshot = readStorageSnapshot(chain.state, 1n)!;
  t.same(snapshot.providers.map((p) => toHex(p.key)).sort(), STORERS.map((k) => toHex(k.publicKey)).sort(), "the snapshot of epoch 1 holds the storers bonded through it, not LATE");
  toHeight(t, chain, lastHeightOfEpoch(2n, L));
  const drawSeed = chain.state.meta().seed; // the chain seed after the last block of epoch 2
  const placing = toHeight(t, chain, firstHeightOfEpoch(3n, L)).at(-1);
  const placed = events(placing!, "storagePlacement");
  const expected = weightedDraw(Tag.PLACEMENT, drawSeed, id, snapshot.providers.map((p) => ({ key: p.key, weight: p.free })), 2);
  t.same(placed.map((e) => toHex(e.provider)), expected.map(toHex), "the placement is the weighted draw over the snapshot of epoch 1 with the seed of epoch 2: anyone can recompute it");
  t.same(placed.map((e) => [e.epoch, e.deadline]), [[3n, 3n], [3n, 3n]], "drawn at the first block of epoch 3, to accept within it");
  t.notOk(placed.some((e) => equalBytes(e.provider, LATE.publicKey)), "never LATE, despite its collateral");
  const [a, b] = expected.map(key) as [KeyPair, KeyPair];
  t.same([readProvider(chain.state, a.publicKey)!.locked, readProvider(chain.state, a.publicKey)!.used], [DATA.size, DATA.size], "the placement locks size x collateralPerByte and takes the room");
  t.same(pendingPlacementsOf(chain.state, a.publicKey).map((x) => toHex(x.order.id)), [toHex(id)], "the provider sees what to fetch");

  const acc = step(t, chain, [txNext(chain, a, { type: "storage.accept", order: id }), txNext(chain, b, { type: "storage.accept", order: id })]);
  t.same(acc.receipts.map((r) => r.code), ["", ""], "both accept");
  t.same(events(acc, "storageOrderEnd").map((e) => [e.status, e.accepted, e.refunded]), [["filled", 2, 2n * charge]], "the order is filled: the whole bond back");
  const dealA = networkDealId(chain.genesis.chainId, id, a.publicKey);
  const d = readDeal(chain.state, dealA)!;
  t.same([d.order && toHex(d.order), d.escrow, d.collateral, d.startEpoch, d.status], [toHex(id), 20n, DATA.size, 4n, DealStatus.ACTIVE], "a network deal with its share of the escrow");
  t.equal(readOrder(chain.state, id)!.escrow, 0n, "all of the order's escrow is in its deals");
  t.equal(chain.state.get(StorageKey.openOrders), undefined, "no open order left");

  // epoch 4: both prove; the pool is theirs, each capped at its quarter of the snapshot's collateral
  toHeight(t, chain, firstHeightOfEpoch(4n, L));
  const proof = (k: KeyPair): Operation => {
    const deal = networkDealId(chain.genesis.chainId, id, k.publicKey);
    return { type: "storage.proof", deal, epoch: 4n, chunks: DATA.answer(epochSeed(chain.state, 4n)!, deal, 4) };
  };
  t.same(step(t, chain, [txNext(chain, a, proof(a)), txNext(chain, b, proof(b))]).receipts.map((r) => r.code), ["", ""]);
  toHeight(t, chain, lastHeightOfEpoch(4n, L) - 1n);
  const pool = rewardSchedule(chain.state, chain.genesis.params).storagePool;
  const end = step(t, chain);
  const capSnapshot = readStorageSnapshot(chain.state, 3n)!;
  const total = capSnapshot.providers.reduce((s, p) => s + p.collateral, 0n);
  const rewards = events(end, "reward").filter((e) => e.pool === "storage");
  t.same(
    rewards.map((e) => [toHex(e.to), e.amount, e.basis]).sort(),
    [a, b].map((k) => [toHex(k.publicKey), (pool * DATA.size) / total, DATA.size]).sort(),
    "each earns the pool x its proven collateral (size x collateralPerByte) / all of the snapshot's storage collateral (LATE's included)",
  );
  t.ok(rewards.every((e) => e.amount <= (pool * capSnapshot.providers.find((p) => equalBytes(p.key, e.to))!.collateral) / total), "never above its own collateral share");
  t.ok(rewards.reduce((s, e) => s + e.amount, 0n) < pool, "a network that is not full does not mint the whole pool");
  t.same(events(end, "storagePayment").map((e) => e.network), [true, true], "both paid their price, as network deals");
});

t.test("a declined placement burns a failure charge of the client's bond, an expired one is the provider's missed service epoch; both are drawn again; the order closes and refunds", async (t) => {
  const chain = newChain();
  const id = withOrder(t, chain, 2);
  const charge = readOrder(chain.state, id)!.failureCharge;
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const first = readOrder(chain.state, id)!.placements.map((p) => key(p.provider));
  const [decliner, silent] = first as [KeyPair, KeyPair];
  const burnedBefore = chain.state.meta().burned;
  const declinerBalance = chain.state.account(decliner.publicKey).balance;
  const declined = run(t, chain, decliner, { type: "storage.decline", order: id });
  t.equal(declined.code, "");
  t.same(events(declined.built, "storagePlacementEnd").map((e) => [e.reason, e.burned, e.dropped]), [["declined", charge, false]]);
  t.same([readOrder(chain.state, id)!.bond, readOrder(chain.state, id)!.burned], [charge, charge], "one failure charge burned from the bond");
  t.equal(chain.state.meta().burned - burnedBefore, charge + events(declined.built, "fee").reduce((s, e) => s + e.burned, 0n), "burned: counted in the supply");
  t.equal(chain.state.account(decliner.publicKey).balance, declinerBalance - 1000n, "the decliner pays only its fee: a burn, not a payment to it");
  t.same([readProvider(chain.state, decliner.publicKey)!.locked, readProvider(chain.state, decliner.publicKey)!.used], [0n, 0n], "the decline releases the collateral and the room");
  t.equal(run(t, chain, decliner, { type: "storage.accept", order: id }).code, StorageErrorCode.PLACEMENT_CLOSED, "a declined placement cannot be accepted");
  toHeight(t, chain, lastHeightOfEpoch(3n, L) - 1n);
  const end3 = step(t, chain);
  t.same(events(end3, "storagePlacementEnd").map((e) => [toHex(e.provider), e.reason, e.burned]), [[toHex(silent.publicKey), "expired", 0n]], "the silent placement expires; the client's bond is untouched");
  t.same(events(end3, "providerBan").map((e) => toHex(e.provider)), [toHex(silent.publicKey)], "a missed service epoch: banned");
  t.same(readProvider(chain.state, silent.publicKey)!.reputation, [{ epoch: 3n, made: 0, due: 1 }], "recorded in its reputation");
  t.notOk(readProvider(chain.state, decliner.publicKey)!.reputation.length, "the decliner's record is untouched");
  const silentBefore = readProvider(chain.state, silent.publicKey);
  const placementOf = (k: KeyPair) => readOrder(chain.state, id)!.placements.filter((p) => equalBytes(p.provider, k.publicKey));
  const placementBefore = placementOf(silent);
  t.equal(run(t, chain, silent, { type: "storage.accept", order: id }).code, StorageErrorCode.PLACEMENT_EXPIRED, "an acceptance after the window: its own code");
  t.equal(run(t, chain, silent, { type: "storage.decline", order: id }).code, StorageErrorCode.PLACEMENT_EXPIRED, "and so is a decline after it");
  t.same([readProvider(chain.state, silent.publicKey), placementOf(silent)], [silentBefore, placementBefore], "neither changes the provider or its placement");
  // epoch 4's first block drew both replicas again, never on the two that had their turn
  const again = readOrder(chain.state, id)!.placements.slice(2);
  t.equal(again.length, 2, "both replicas drawn again");
  t.notOk(again.some((p) => first.some((k) => equalBytes(k.publicKey, p.provider))), "never twice on a provider");
  const taker = key(again[0]!.provider);
  t.equal(run(t, chain, taker, { type: "storage.accept", order: id }).code, "");
  // the other stays silent: the order closes at the end of epoch 5 with one replica
  toHeight(t, chain, lastHeightOfEpoch(5n, L) - 1n);
  const before = chain.state.account(CLIENT.publicKey).balance;
  const closing = step(t, chain);
  const ends = events(closing, "storageOrderEnd");
  t.same(ends.map((e) => [e.status, e.accepted, e.refunded]), [["expired", 1, 20n + charge]], "the order closes: one replica's escrow and the bond left back");
  const slashed = events(closing, "storageSlash").reduce((s, e) => s + e.amount, 0n);
  t.same(events(closing, "storageSlash").map((e) => toHex(e.provider)), [toHex(taker.publicKey)], "(the taker never proved epoch 5: slashed to the client)");
  t.equal(chain.state.account(CLIENT.publicKey).balance - before, 20n + charge + slashed, "the client got the unplaced replica's escrow and the bond left back");
  t.equal(readOrder(chain.state, id)!.status, OrderStatus.EXPIRED);
  t.same(readOrder(chain.state, id)!.placements.map((p) => p.status), [PlacementStatus.DECLINED, PlacementStatus.EXPIRED, PlacementStatus.ACCEPTED, PlacementStatus.EXPIRED]);
  t.equal(run(t, chain, taker, { type: "storage.accept", order: id }).code, StorageErrorCode.ORDER_CLOSED);
});

t.test("a replica whose failure the bond can no longer pay is dropped: never drawn again, and the order closes at once", async (t) => {
  const chain = newChain({ orderPlacementEpochs: 6 });
  const id = withOrder(t, chain, 1);
  const charge = readOrder(chain.state, id)!.failureCharge;
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const first = key(readOrder(chain.state, id)!.placements[0]!.provider);
  const d1 = run(t, chain, first, { type: "storage.decline", order: id });
  t.same(events(d1.built, "storagePlacementEnd").map((e) => [e.burned, e.dropped]), [[charge, false]], "the first decline burns the bond's one charge");
  toHeight(t, chain, firstHeightOfEpoch(4n, L));
  const second = readOrder(chain.state, id)!.placements[1];
  t.ok(second && second.status === PlacementStatus.PENDING, "drawn again");
  const before = chain.state.account(CLIENT.publicKey).balance;
  const d2 = run(t, chain, key(second!.provider), { type: "storage.decline", order: id });
  t.same(events(d2.built, "storagePlacementEnd").map((e) => [e.burned, e.dropped]), [[0n, true]], "the bond is spent: nothing burned, the replica dropped");
  t.same(events(d2.built, "storageOrderEnd").map((e) => [e.status, e.accepted, e.refunded]), [["expired", 0, 20n]], "nothing left to place: the order closes and refunds its escrow");
  t.equal(chain.state.account(CLIENT.publicKey).balance, before + 20n);
  t.same([readOrder(chain.state, id)!.status, readOrder(chain.state, id)!.dropped, readOrder(chain.state, id)!.bond], [OrderStatus.EXPIRED, 1, 0n]);
  const later = toHeight(t, chain, firstHeightOfEpoch(6n, L));
  t.same(later.flatMap((b) => events(b, "storagePlacement")), [], "never drawn again");
});

t.test("the failure charge follows the pool rate: more collateral, a smaller charge; no pool, no charge", async (t) => {
  const chain = newChain();
  register(t, chain, STORERS);
  t.equal(placementFailureCharge(chain.state, chain.genesis.params, DATA.size, 2n), expectedCharge(chain, 2n, 4n * COLLATERAL));
  register(t, chain, [LATE], COLLATERAL * 4n);
  t.equal(placementFailureCharge(chain.state, chain.genesis.params, DATA.size, 2n), expectedCharge(chain, 2n, 8n * COLLATERAL), "LATE doubles the collateral: half the charge");
  t.equal(placementFailureCharge(chain.state, chain.genesis.params, DATA.size, 4n), expectedCharge(chain, 4n, 8n * COLLATERAL), "twice the duration: twice the charge");
  const dry = newChain({ emissionPerEpoch: "0" });
  register(t, dry, STORERS);
  t.equal(placementFailureCharge(dry.state, dry.genesis.params, DATA.size, 2n), 0n, "a chain that mints no storage pool charges nothing: a declined placement could not have earned anything");
  // a balance that covers the escrow but not the bond is refused
  const poor = testKey(507);
  const chain2 = newTestChain({ params: PARAMS, balances: [...[CLIENT, ...STORERS].map((k) => ({ key: k, amount: FUNDS })), { key: poor, amount: 1000n + 40n + 1n }] });
  register(t, chain2, STORERS);
  const refused = run(t, chain2, poor, orderOp(2));
  t.equal(refused.code, StorageErrorCode.INSUFFICIENT_ESCROW, "escrow without the bond: refused");
  t.equal(chain2.state.account(poor.publicKey).balance, 41n, "only the fee taken");
});

t.test("every refusal has its own code and changes nothing but the fee and nonce", async (t) => {
  // a long window: the placement stays pending through every case
  const chain = newChain({ maxBlockBytes: 4096, placementWindowEpochs: 4, orderPlacementEpochs: 1 });
  const id = withOrder(t, chain, 1);
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const placed = key(readOrder(chain.state, id)!.placements[0]!.provider);
  const other = STORERS.find((k) => !equalBytes(k.publicKey, placed.publicKey))!;
  const watch = () => [readOrder(chain.state, id), chain.state.get(StorageKey.openOrders), STORERS.map((k) => readProvider(chain.state, k.publicKey))];
  const cases: [string, KeyPair, Operation, string][] = [
    ["a price under minStoragePrice per GiB", CLIENT, orderOp(1, { pricePerEpoch: 2n }), StorageErrorCode.PRICE_TOO_LOW],
    ["more replicas than providers other than the client", CLIENT, orderOp(5), StorageErrorCode.TOO_MANY_REPLICAS],
    ["a client that is a provider counts itself out", STORERS[0], orderOp(4), StorageErrorCode.TOO_MANY_REPLICAS],
    ["proofs that would not fit a block", CLIENT, orderOp(3, { size: 300_000n, chunkSize: 1024n, pricePerEpoch: 1000n }), StorageErrorCode.PROOFS_TOO_LARGE],
    ["an order without the escrow", CLIENT, orderOp(1, { pricePerEpoch: FUNDS }), StorageErrorCode.INSUFFICIENT_ESCROW],
    ["an escrow beyond u64", CLIENT, orderOp(2, { pricePerEpoch: (1n << 64n) - 1n, durationEpochs: 50n }), StorageErrorCode.INSUFFICIENT_ESCROW],
    ["a duration over maxDealEpochs", CLIENT, orderOp(1, { durationEpochs: 51n }), StorageErrorCode.BAD_DURATION],
    ["accepting an unknown order", placed, { type: "storage.accept", order: new Uint8Array(32).fill(3) }, StorageErrorCode.UNKNOWN_ORDER],
    ["accepting an order not placed on the sender", other, { type: "storage.accept", order: id }, StorageErrorCode.NOT_PLACED],
    ["declining an order not placed on the sender", other, { type: "storage.decline", order: id }, StorageErrorCode.NOT_PLACED],
    ["accepting by a key that is no provider", CLIENT, { type: "storage.accept", order: id }, StorageErrorCode.NOT_PLACED],
  ];
  for (const [name, k, op, code] of cases) {
    const before = { balance: chain.state.account(k.publicKey).balance, watched: watch() };
    const { code: got, built } = run(t, chain, k, op);
    t.equal(got, code, name);
    t.equal(chain.state.account(k.publicKey).balance, before.balance - 1000n, `${name}: only the fee is taken`);
    t.same(watch(), before.watched, `${name}: orders and providers unchanged`);
    t.same(built.events.filter((e) => e.kind.startsWith("storage")), [], `${name}: no storage event`);
  }
  // a direct deal on the root the placed provider now holds
  const terms: DealTerms = {
    provider: placed.publicKey, root: DATA.root, size: DATA.size, chunkSize: BigInt(DATA.chunkSize), pricePerEpoch: 10n, durationEpochs: 1n, collateral: DATA.size,
    expiresAtHeight: height(chain) + 5n,
  };
  const direct: Operation = { type: "storage.deal", terms, providerSignature: signDealAcceptance(chain.genesis.chainId, placed, CLIENT.publicKey, terms) };
  t.equal(run(t, chain, CLIENT, direct).code, StorageErrorCode.ROOT_HELD, "a provider never holds one root twice: a placement counts");
  // an exiting provider cannot accept
  t.equal(run(t, chain, placed, { type: "provider.exit" }).code, "");
  t.equal(run(t, chain, placed, { type: "storage.accept", order: id }).code, StorageErrorCode.PROVIDER_EXITING, "an exiting provider declines, it does not accept");
  const exitDecline = run(t, chain, placed, { type: "storage.decline", order: id });
  t.equal(exitDecline.code, "");
  t.same(events(exitDecline.built, "storagePlacementEnd").map((e) => [e.burned, e.dropped]), [[0n, false]], "an exiting provider's decline burns nothing: it could not accept");

  // stateless: never in a block
  const bad = (op: Operation) => {
    try {
      validateTxBasic(txNext(chain, CLIENT, op), chain.genesis.chainId);
      return "";
    } catch (e) {
      return (e as { code: string }).code;
    }
  };
  t.equal(bad(orderOp(0)), TxErrorCode.INVALID_OPERATION, "0 replicas");
  t.equal(bad(orderOp(MAX_ORDER_REPLICAS + 1)), TxErrorCode.INVALID_OPERATION, "too many replicas");
  t.equal(bad(orderOp(1, { chunkSize: 100n })), TxErrorCode.INVALID_OPERATION, "a bad chunk size");
  t.equal(bad(orderOp(1, { size: 0n })), TxErrorCode.INVALID_OPERATION, "size 0");
  t.equal(bad(orderOp(1, { durationEpochs: 0n })), TxErrorCode.INVALID_OPERATION, "duration 0");
  t.equal(bad(orderOp(1)), "", "the good order passes");
});

t.test("a provider that makes itself ineligible after the snapshot moves no draw: it keeps its weight and is skipped", async (t) => {
  const chain = newChain();
  register(t, chain, [...STORERS, LATE]);
  toHeight(t, chain, BigInt(L));
  // epoch 1: eight orders of one replica, each of its own data
  const data = Array.from({ length: 8 }, (_, i) => new StorageProver(bytes(3000, 300 + i), 256));
  const nonce = chain.state.account(CLIENT.publicKey).nonce;
  const posted = step(t, chain, data.map((d, i) => tx(chain, CLIENT, nonce + BigInt(i), orderOp(1, { root: d.root, size: d.size }))));
  t.same(posted.receipts.map((r) => r.code), data.map(() => ""), "the orders land");
  const ids = posted.receipts.map((r) => r.txHash);
  // epoch 2: LATE, a candidate of the snapshot the draw uses, exits (an exiting provider is not
  // placed); the chain seed after epoch 2's last block then draws the placements of epoch 3
  toHeight(t, chain, firstHeightOfEpoch(2n, L));
  const snapshot = readStorageSnapshot(chain.state, 1n)!;
  t.ok(snapshot.providers.some((p) => equalBytes(p.key, LATE.publicKey)), "LATE is a candidate of the snapshot");
  t.equal(run(t, chain, LATE, { type: "provider.exit" }).code, "");
  toHeight(t, chain, lastHeightOfEpoch(2n, L));
  const seed = chain.state.meta().seed;
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const full = snapshot.providers.map((p) => ({ key: p.key, weight: p.free }));
  const placed = ids.map((id) => readOrder(chain.state, id)!.placements.map((p) => toHex(p.provider)));
  const skipping = ids.map((id) => weightedDraw(Tag.PLACEMENT, seed, id, full, 1, LATE.publicKey).map(toHex));
  t.same(placed, skipping, "each placement is the draw over the whole snapshot, LATE skipped where a draw lands on it");
  t.notOk(placed.flat().includes(toHex(LATE.publicKey)), "never on the exiting provider");
  // what dropping LATE from the candidates would have drawn: other providers, for some orders
  const dropped = ids.map((id) => weightedDraw(Tag.PLACEMENT, seed, id, full.filter((c) => !equalBytes(c.key, LATE.publicKey)), 1).map(toHex));
  const moved = placed.filter((p, i) => p[0] !== dropped[i]![0]).length;
  t.ok(moved > 0, `dropping it would have moved ${moved} of ${ids.length} placements: a re-roll its owner could choose`);
});

t.test("the client's own provider key is never drawn for its order, and a provider holding the root is skipped", async (t) => {
  const chain = newChain();
  register(t, chain, STORERS);
  // STORERS[1] holds the root already, by a direct deal with CLIENT
  const terms: DealTerms = {
    provider: STORERS[1].publicKey, root: DATA.root, size: DATA.size, chunkSize: BigInt(DATA.chunkSize), pricePerEpoch: 10n, durationEpochs: 10n, collateral: DATA.size,
    expiresAtHeight: 100n,
  };
  t.equal(run(t, chain, CLIENT, { type: "storage.deal", terms, providerSignature: signDealAcceptance(chain.genesis.chainId, STORERS[1], CLIENT.publicKey, terms) }).code, "");
  toHeight(t, chain, BigInt(L));
  // STORERS[0] orders two replicas: the only providers left are STORERS[2] and STORERS[3], whatever the draw
  const posted = run(t, chain, STORERS[0], orderOp(2));
  const id = posted.built.receipts[0]!.txHash;
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const placed = readOrder(chain.state, id)!.placements.map((p) => toHex(p.provider)).sort();
  t.same(placed, [STORERS[2], STORERS[3]].map((k) => toHex(k.publicKey)).sort(), "neither the client nor the root's holder");
  t.equal(epochOfHeight(height(chain), L), 3n);
});

t.test("an exiting provider's collateral waits for its pending placement to close", async (t) => {
  // a window longer than the exit's unbonding
  const chain = newChain({ placementWindowEpochs: 8, orderPlacementEpochs: 1 });
  const id = withOrder(t, chain, 1);
  toHeight(t, chain, firstHeightOfEpoch(3n, L));
  const placed = key(readOrder(chain.state, id)!.placements[0]!.provider);
  t.equal(run(t, chain, placed, { type: "provider.exit" }).code, "");
  const release = readProvider(chain.state, placed.publicKey)!.releaseEpoch;
  const blocks = toHeight(t, chain, lastHeightOfEpoch(release + 1n, L));
  t.same(blocks.flatMap((b) => events(b, "providerCollateralReturned")), [], "not returned while the placement holds part of it");
  t.equal(readProvider(chain.state, placed.publicKey)!.locked, DATA.size);
  const rest = toHeight(t, chain, lastHeightOfEpoch(10n, L));
  t.same(rest.flatMap((b) => events(b, "storagePlacementEnd")).map((e) => e.reason), ["expired"], "the placement expires at the end of its window");
  t.same(rest.flatMap((b) => events(b, "providerCollateralReturned")).map((e) => e.amount), [COLLATERAL], "then all of the collateral returns");
  t.same([readProvider(chain.state, placed.publicKey)!.locked, readProvider(chain.state, placed.publicKey)!.used], [0n, 0n]);
});
