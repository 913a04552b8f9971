/**
 * Providers, storage deals, storage proofs, the end-of-epoch settlement, reputation, bans and
 * the emission (chain/storage.ts, chain/rewards.ts) through the real transition: every block is
 * built with buildBlock and re-applied by a follower that must reach the same root and events,
 * and the supply invariant (provider collateral and deal escrow included) is checked after each.
 */
import fc from "fast-check";
import t, { type Test } from "tap";
import { encode } from "../../../../primitives/codec.ts";
import { toHex } from "../../../../primitives/bytes.ts";
import { epochOfHeight, epochSeed, firstHeightOfEpoch, lastHeightOfEpoch, proofWindow } from "../../../../chain/epoch.ts";
import type { KeyPair } from "../../../../primitives/keys.ts";
import { rewardSchedule } from "../../../../modules/rewards/rewards.ts";
import {
  BAN_EPOCHS, challengesFor, dealId, dealSignBytes, DealStatus, listActiveDeals, listProviders, MAX_CHALLENGES_PER_DEAL, ProviderKind, ProviderStatus,
  readDeal, readProvider, reputationBps, signDealAcceptance, StorageErrorCode, type DealTerms, type Provider, type StorageDeal,
  EXIT_UNBONDING_EPOCHS,
} from "../../../../modules/storage/storage.ts";
import { ExecErrorCode, type BuiltBlock, type ChainEvent } from "../../../../chain/transition.ts";
import { decodeTx, MAX_TX_BYTES, TxErrorCode, validateTxBasic, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { challengeIndices, MAX_CHUNK_COUNT, MAX_CHUNK_SIZE, MAX_PATH_LENGTH, StorageProver } from "../../../../proofs/storage.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, transfer, tx, txNext, type TestChain } from "../../../helpers/chain.ts";
import type { GenesisFile } from "../../../../genesis/schema.ts";
import { devnetParams } from "../../../../genesis/devnet.ts";
import { pseudoRandomBytes as bytes } from "../../../helpers/random.ts";
import { OpCode } from "../../../../modules/index.ts";
import { listOpenOrders, networkDealId, pendingPlacementsOf } from "../../../../modules/storage/orders.ts";
import { PlacementStatus } from "../../../../modules/storage/records.ts";

const FEE = 1000n;
const FUNDS = 1_000_000_000_000n;
const PROVIDER = testKey(401);
const PROVIDER2 = testKey(402);
const CLIENT = testKey(403);
const OTHER = testKey(404);
const RELAY = testKey(405);
const KEYS = [PROVIDER, PROVIDER2, CLIENT, OTHER, RELAY];
const COLLATERAL = 1_000_000n;
const CAPACITY = 100_000n;
const K = 4;

/** Small numbers so that every rule is reached in a few blocks: 4-block epochs. */
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: 4,
  challengesPerDeal: K,
  maxMissedProofs: 3,
  missSlashBps: 1000,
  collateralPerByte: "1",
  emissionPerEpoch: "1000000",
  emissionDecayBps: 100,
  storageShareBps: 5000,
  bandwidthShareBps: 3000,
  validatorShareBps: 2000,
  reputationWindowEpochs: 4,
  maxDealEpochs: 50,
};

/**
 * What the validator pool mints in an epoch with `commits` commits when one validator holds all the
 * power and signs every block: per block, the proposer's base and full bonus plus the signer's share.
 */
function soloValidatorPool(pool: bigint, epochLength: number, commits: number): bigint {
  const P = pool / BigInt(epochLength);
  const base = BigInt(devnetParams().proposerBaseBps);
  const bonus = BigInt(devnetParams().proposerBonusBps);
  return BigInt(commits) * ((P * (base + bonus)) / 10_000n + (P * (10_000n - base - bonus)) / 10_000n);
}

function newChain(params: Partial<GenesisFile["params"]> = {}): TestChain {
  return newTestChain({ params: { ...PARAMS, ...params }, balances: KEYS.map((key) => ({ key, amount: FUNDS })) });
}

function step(t: Test, chain: TestChain, txs: SignedTx[]): BuiltBlock {
  const built = advanceChecked((m) => t.fail(m), chain, txs);
  if (built.rejected.length > 0) t.fail(`rejected at height ${built.block.header.height}: ${built.rejected[0]!.error.code}`);
  if (!supplyHolds(chain.state)) t.fail(`supply invariant broken at height ${chain.state.meta().height}`);
  return built;
}

/** One transaction in its own block: its receipt code ("" when ok) and the block. */
function run(t: Test, chain: TestChain, key: KeyPair, op: Operation): { code: string; built: BuiltBlock } {
  const built = step(t, chain, [txNext(chain, key, op)]);
  return { code: built.receipts[0]!.code, built };
}

const height = (chain: TestChain) => chain.state.meta().height;
const balance = (chain: TestChain, key: KeyPair) => chain.state.account(key.publicKey).balance;
const provider = (chain: TestChain, key: KeyPair): Provider => readProvider(chain.state, key.publicKey)!;
const deal = (chain: TestChain, id: Uint8Array): StorageDeal => readDeal(chain.state, id)!;
const L = (chain: TestChain) => chain.genesis.params.epochLength;
/** The epoch of the next block. */
const nextEpoch = (chain: TestChain) => epochOfHeight(height(chain) + 1n, L(chain));
const events = <K extends ChainEvent["kind"]>(b: BuiltBlock, kind: K) => b.events.filter((e): e is Extract<ChainEvent, { kind: K }> => e.kind === kind);
/** The events of providers and deals (validator rewards at an epoch's end are none of them). */
const storageEvents = (b: BuiltBlock) => b.events.filter((e) => e.kind.startsWith("storage") || e.kind.startsWith("provider") || (e.kind === "reward" && e.pool !== "validator"));

/** Advances with empty blocks until the chain is at `h`; returns the blocks. */
function toHeight(t: Test, chain: TestChain, h: bigint): BuiltBlock[] {
  const out: BuiltBlock[] = [];
  while (height(chain) < h) out.push(step(t, chain, []));
  return out;
}
/** Until the next block is the second block of `epoch` (the first in its proof window). */
const toWindow = (t: Test, chain: TestChain, epoch: bigint) => toHeight(t, chain, firstHeightOfEpoch(epoch, L(chain)));
/** Until the next block is the last block of `epoch`. */
const toEpochEnd = (t: Test, chain: TestChain, epoch: bigint) => toHeight(t, chain, lastHeightOfEpoch(epoch, L(chain)) - 1n);

function register(t: Test, chain: TestChain, key: KeyPair, collateral = COLLATERAL, capacity = CAPACITY, kind: number = ProviderKind.STORAGE): BuiltBlock {
  const { code, built } = run(t, chain, key, { type: "provider.register", kind, collateral, capacity, multiaddr: "/ip4/127.0.0.1/tcp/4001" });
  t.equal(code, "", `${toHex(key.publicKey).slice(0, 8)} registers`);
  return built;
}

function terms(chain: TestChain, prover: StorageProver, over: Partial<DealTerms> = {}, to: KeyPair = PROVIDER): DealTerms {
  return {
    provider: to.publicKey, root: prover.root, size: prover.size, chunkSize: BigInt(prover.chunkSize), pricePerEpoch: 1000n, durationEpochs: 3n,
    collateral: 10_000n, expiresAtHeight: height(chain) + 10n, ...over,
  };
}

function dealOp(chain: TestChain, tm: DealTerms, signer: KeyPair = PROVIDER, client: KeyPair = CLIENT): Operation {
  return { type: "storage.deal", terms: tm, providerSignature: signDealAcceptance(chain.genesis.chainId, signer, client.publicKey, tm) };
}

function makeDeal(t: Test, chain: TestChain, tm: DealTerms, signer: KeyPair = PROVIDER, client: KeyPair = CLIENT): Uint8Array {
  const { code } = run(t, chain, client, dealOp(chain, tm, signer, client));
  t.equal(code, "", "the deal lands");
  return dealId(chain.genesis.chainId, client.publicKey, tm);
}

/** The correct proof of `id` for `epoch`, whose seed the chain must know. */
function proofOp(chain: TestChain, prover: StorageProver, id: Uint8Array, epoch: bigint): Extract<Operation, { type: "storage.proof" }> {
  const seed = epochSeed(chain.state, epoch);
  if (!seed) throw new Error(`no seed for epoch ${epoch} at height ${height(chain)}`);
  return { type: "storage.proof", deal: id, epoch, chunks: prover.answer(seed, id, chain.genesis.params.challengesPerDeal) };
}

const PROVER = new StorageProver(bytes(3000, 42), 256); // 12 chunks, the last one 184 bytes

// ---- the happy path ----

t.test("register, direct deal, prove: the price is paid; a direct deal earns nothing of the storage pool; the validator pool is minted", async (t) => {
  const chain = newChain();
  const p0 = balance(chain, PROVIDER);
  const reg = register(t, chain, PROVIDER);
  t.same(
    { ...provider(chain, PROVIDER), key: undefined },
    {
      key: undefined, kind: ProviderKind.STORAGE, collateral: COLLATERAL, locked: 0n, capacity: CAPACITY, used: 0n, multiaddr: "/ip4/127.0.0.1/tcp/4001",
      registeredAt: height(chain), status: ProviderStatus.ACTIVE, bannedUntil: 0n, strikes: 0, lastFailureEpoch: 0n, activeDeals: 0, reputation: [], releaseEpoch: 0n,
    },
    "the provider record",
  );
  t.equal(balance(chain, PROVIDER), p0 - COLLATERAL - FEE, "the collateral left the balance");
  t.same(events(reg, "providerRegister").map((e) => [e.providerKind, e.collateral, e.capacity]), [["storage", COLLATERAL, CAPACITY]]);
  t.same(listProviders(chain.state).map((p) => toHex(p.key)), [toHex(PROVIDER.publicKey)]);

  const c0 = balance(chain, CLIENT);
  const tm = terms(chain, PROVER);
  const landing = nextEpoch(chain);
  const id = makeDeal(t, chain, tm);
  const d = deal(chain, id);
  t.same(
    [d.escrow, d.collateral, d.collateralLeft, d.chunkCount, d.chunkSize, d.startEpoch, d.status, d.lastProvenEpoch, d.challenged, d.misses],
    [3000n, 10_000n, 10_000n, 12n, 256, landing + 1n, DealStatus.ACTIVE, null, 0n, 0],
    "the deal record: escrow = price x duration, first challenged in the next epoch",
  );
  t.equal(balance(chain, CLIENT), c0 - 3000n - FEE, "the escrow left the client's balance");
  const p = provider(chain, PROVIDER);
  t.same([p.collateral, p.locked, p.used, p.activeDeals], [COLLATERAL, 10_000n, 3000n, 1], "collateral locked, capacity taken");
  t.same(listActiveDeals(chain.state).map((x) => toHex(x.id)), [toHex(id)]);
  t.same(challengesFor(chain.state, PROVIDER.publicKey, landing, chain.genesis.params), [], "not challenged in the epoch it landed in");

  const start = d.startEpoch;
  toWindow(t, chain, start);
  const seed = epochSeed(chain.state, start)!;
  t.ok(seed, "the seed of the epoch is known after its first block");
  t.same(seed, chain.state.meta().seed, "and is the chain seed after that block");
  const ch = challengesFor(chain.state, PROVIDER.publicKey, start, chain.genesis.params)!;
  t.same(ch, [{ deal: id, chunkCount: 12n, indices: challengeIndices(seed, id, 12n, K), proven: false }], "challengesFor lists the deal's k indices");
  t.equal(challengesFor(chain.state, PROVIDER.publicKey, start + 1n, chain.genesis.params), undefined, "no challenges for a future epoch");
  t.same(challengesFor(chain.state, OTHER.publicKey, start, chain.genesis.params), [], "none for someone without deals");
  const proof = run(t, chain, PROVIDER, proofOp(chain, PROVER, id, start));
  t.equal(proof.code, "", "the proof is accepted");
  t.same(events(proof.built, "storageProof").map((e) => e.epoch), [start]);
  t.equal(deal(chain, id).lastProvenEpoch, start, "the deal notes the proven epoch");
  t.equal(challengesFor(chain.state, PROVIDER.publicKey, start, chain.genesis.params)![0]!.proven, true);

  toEpochEnd(t, chain, start);
  const schedule = rewardSchedule(chain.state, chain.genesis.params);
  t.equal(schedule.epoch, start);
  t.equal(schedule.storagePool, (schedule.reward * 5000n) / 10_000n);
  const before = { minted: chain.state.meta().minted, provider: balance(chain, PROVIDER), validator: balance(chain, chain.validator) };
  const end = step(t, chain, []);
  t.same(events(end, "storagePayment").map((e) => [toHex(e.deal), e.epoch, e.amount]), [[toHex(id), start, 1000n]], "pricePerEpoch paid");
  const rewards = events(end, "reward");
  t.same(
    rewards.map((e) => [e.pool, toHex(e.to), e.amount, e.basis, e.reputationBps, e.epoch]),
    [["validator", toHex(chain.validator.publicKey), schedule.validatorPool, BigInt(L(chain)), 10_000, start]],
    "a direct deal (the client chose the provider) earns no storage reward; the validator signed every block of the epoch; no bandwidth reward",
  );
  t.equal(chain.state.meta().minted - before.minted, schedule.validatorPool, "meta.minted grows by exactly what was minted: the unearned storage pool is not");
  t.equal(balance(chain, PROVIDER) - before.provider, 1000n, "the provider got the price only");
  t.equal(balance(chain, chain.validator) - before.validator, schedule.validatorPool, "the validator got the validator pool");
  t.same([deal(chain, id).escrow, deal(chain, id).challenged], [2000n, 1n]);
  t.same(provider(chain, PROVIDER).reputation, [{ epoch: start, made: 1, due: 1 }], "the reputation window records the epoch");
  const next = rewardSchedule(chain.state, chain.genesis.params);
  t.same([next.epoch, next.reward], [start + 1n, (schedule.reward * 9900n) / 10_000n], "the next epoch's reward decayed by 1%");
  t.equal(epochSeed(chain.state, start), undefined, "the past epoch's seed is gone");
  t.equal(epochSeed(chain.state, start + 1n), undefined, "the next epoch's is not known before its first block");

  // two more proven epochs complete the deal
  for (const e of [start + 1n, start + 2n]) {
    toWindow(t, chain, e);
    t.equal(run(t, chain, PROVIDER, proofOp(chain, PROVER, id, e)).code, "", `epoch ${e} proven`);
  }
  toEpochEnd(t, chain, start + 2n);
  const last = step(t, chain, []);
  t.same(events(last, "storageDealEnd").map((e) => [e.reason, e.refunded, e.unlocked]), [["completed", 0n, 10_000n]], "the deal completes");
  t.same([deal(chain, id).status, deal(chain, id).escrow, deal(chain, id).collateralLeft, deal(chain, id).endedAt], [DealStatus.COMPLETED, 0n, 0n, start + 2n]);
  const after = provider(chain, PROVIDER);
  t.same([after.collateral, after.locked, after.used, after.activeDeals], [COLLATERAL, 0n, 0n, 0], "collateral unlocked, capacity freed");
  t.same(listActiveDeals(chain.state), [], "no active deal left");
  t.equal(balance(chain, CLIENT), c0 - 3000n - FEE, "the client paid exactly 3 epochs");
  toWindow(t, chain, start + 3n);
  t.equal(run(t, chain, PROVIDER, { type: "storage.proof", deal: id, epoch: start + 3n, chunks: PROVER.answer(epochSeed(chain.state, start + 3n)!, id, K) }).code, StorageErrorCode.DEAL_ENDED, "a proof for an ended deal");
});

// ---- every cheat ----

t.test("every cheat fails with its own code, consuming only the fee and nonce", async (t) => {
  // 20-block epochs: every proof case fits in one proof window
  const chain = newChain({ epochLength: 20 });
  register(t, chain, PROVIDER);
  register(t, chain, PROVIDER2);
  register(t, chain, RELAY, COLLATERAL, CAPACITY, ProviderKind.BANDWIDTH);

  type Case = [name: string, key: KeyPair, op: Operation, code: string];
  const check = (t: Test, cases: Case[], watch: () => unknown) => {
    for (const [name, key, op, code] of cases) {
      const before = { balance: balance(chain, key), nonce: chain.state.account(key.publicKey).nonce, watched: watch() };
      const { code: got, built } = run(t, chain, key, op);
      t.equal(got, code, name);
      t.equal(balance(chain, key), before.balance - FEE, `${name}: only the fee is taken`);
      t.equal(chain.state.account(key.publicKey).nonce, before.nonce + 1n, `${name}: the nonce is consumed`);
      t.same(watch(), before.watched, `${name}: providers and deals unchanged`);
      t.same(storageEvents(built), [], `${name}: no provider or storage event`);
    }
  };
  const watchAll = () => [listProviders(chain.state), listActiveDeals(chain.state)];
  const sig = (tm: DealTerms, signer: KeyPair, client: KeyPair = CLIENT) => signDealAcceptance(chain.genesis.chainId, signer, client.publicKey, tm);
  const good = terms(chain, PROVER, { expiresAtHeight: 1000n });
  const free = COLLATERAL;
  check(t, [
    ["register twice", PROVIDER, { type: "provider.register", kind: 0, collateral: COLLATERAL, capacity: 1n, multiaddr: "/dns/x" }, StorageErrorCode.PROVIDER_ALREADY_REGISTERED],
    ["collateral below capacity x collateralPerByte", OTHER, { type: "provider.register", kind: 0, collateral: 999n, capacity: 1000n, multiaddr: "/dns/x" }, StorageErrorCode.PROVIDER_COLLATERAL_TOO_LOW],
    ["collateral beyond the balance", OTHER, { type: "provider.register", kind: 0, collateral: FUNDS, capacity: 1000n, multiaddr: "/dns/x" }, ExecErrorCode.INSUFFICIENT_BALANCE],
    ["exit by someone who never registered", OTHER, { type: "provider.exit" }, StorageErrorCode.PROVIDER_NOT_REGISTERED],
    ["deal without enough escrow", CLIENT, dealOp(chain, { ...good, pricePerEpoch: FUNDS / 2n }), StorageErrorCode.INSUFFICIENT_ESCROW],
    ["deal whose escrow overflows u64", CLIENT, dealOp(chain, { ...good, pricePerEpoch: (1n << 64n) - 1n, durationEpochs: 2n }), StorageErrorCode.INSUFFICIENT_ESCROW],
    ["deal without enough provider collateral", CLIENT, dealOp(chain, { ...good, collateral: free + 1n }), StorageErrorCode.INSUFFICIENT_COLLATERAL],
    ["deal signed by someone else", CLIENT, { type: "storage.deal", terms: good, providerSignature: sig(good, OTHER) }, StorageErrorCode.BAD_ACCEPTANCE],
    ["deal whose price was changed after signing", CLIENT, { type: "storage.deal", terms: { ...good, pricePerEpoch: 1n }, providerSignature: sig(good, PROVIDER) }, StorageErrorCode.BAD_ACCEPTANCE],
    ["an acceptance for another client", OTHER, { type: "storage.deal", terms: good, providerSignature: sig(good, PROVIDER, CLIENT) }, StorageErrorCode.BAD_ACCEPTANCE],
    ["expired acceptance", CLIENT, dealOp(chain, { ...good, expiresAtHeight: height(chain) }), StorageErrorCode.ACCEPTANCE_EXPIRED],
    ["chunk size not a power of two", CLIENT, dealOp(chain, { ...good, chunkSize: 300n }), StorageErrorCode.BAD_CHUNK_SIZE],
    ["chunk size below 256", CLIENT, dealOp(chain, { ...good, chunkSize: 128n }), StorageErrorCode.BAD_CHUNK_SIZE],
    ["chunk size above 64 KiB", CLIENT, dealOp(chain, { ...good, chunkSize: 131_072n }), StorageErrorCode.BAD_CHUNK_SIZE],
    ["size 0", CLIENT, dealOp(chain, { ...good, size: 0n }), StorageErrorCode.BAD_SIZE],
    ["more than 2^40 chunks", CLIENT, dealOp(chain, { ...good, size: MAX_CHUNK_COUNT * 256n + 1n }), StorageErrorCode.BAD_SIZE],
    ["duration 0", CLIENT, dealOp(chain, { ...good, durationEpochs: 0n }), StorageErrorCode.BAD_DURATION],
    ["duration above maxDealEpochs", CLIENT, dealOp(chain, { ...good, durationEpochs: 51n }), StorageErrorCode.BAD_DURATION],
    ["beyond the provider's capacity", CLIENT, dealOp(chain, { ...good, size: CAPACITY + 1n, collateral: CAPACITY + 1n, pricePerEpoch: 1000n }), StorageErrorCode.PROVIDER_CAPACITY_EXCEEDED],
    ["a price under minStoragePrice", CLIENT, dealOp(chain, { ...good, pricePerEpoch: 0n }), StorageErrorCode.PRICE_TOO_LOW],
    ["a collateral under size x collateralPerByte", CLIENT, dealOp(chain, { ...good, collateral: good.size - 1n }), StorageErrorCode.DEAL_COLLATERAL_TOO_LOW],
    ["a bandwidth relay as storage provider", CLIENT, dealOp(chain, terms(chain, PROVER, { expiresAtHeight: 1000n }, RELAY), RELAY), StorageErrorCode.PROVIDER_WRONG_KIND],
    ["an unregistered provider", CLIENT, dealOp(chain, terms(chain, PROVER, { expiresAtHeight: 1000n }, OTHER), OTHER), StorageErrorCode.PROVIDER_NOT_REGISTERED],
    ["a deal with oneself", PROVIDER, dealOp(chain, good, PROVIDER, PROVIDER), StorageErrorCode.SELF_DEAL],
  ], watchAll);

  const id = makeDeal(t, chain, good);
  t.equal(run(t, chain, CLIENT, dealOp(chain, good)).code, StorageErrorCode.DEAL_EXISTS, "the same acceptance twice makes one deal");
  check(t, [
    ["the same root again with the same provider", CLIENT, dealOp(chain, { ...good, expiresAtHeight: 999n }), StorageErrorCode.ROOT_HELD],
    ["the same root again, by another client", OTHER, dealOp(chain, { ...good, expiresAtHeight: 999n }, PROVIDER, OTHER), StorageErrorCode.ROOT_HELD],
  ], watchAll);
  t.equal(run(t, chain, CLIENT, dealOp(chain, { ...good, provider: PROVIDER2.publicKey }, PROVIDER2)).code, "", "another provider may hold the same root");
  const start = deal(chain, id).startEpoch;
  // a second deal landing in the start epoch: first challenged one epoch later
  toWindow(t, chain, start);
  const prover2 = new StorageProver(bytes(1000, 7), 512);
  const id2 = makeDeal(t, chain, terms(chain, prover2, { expiresAtHeight: 1000n }));
  t.equal(deal(chain, id2).startEpoch, start + 1n);

  const good1 = proofOp(chain, PROVER, id, start);
  const [c0, c1, c2, c3] = good1.chunks as [typeof good1.chunks[0], typeof good1.chunks[0], typeof good1.chunks[0], typeof good1.chunks[0]];
  const notChallenged = PROVER.prove((c0.index + 1n) % 12n);
  const flippedPath = { ...c0, path: c0.path.map((h, i) => (i === 0 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h)) };
  const flippedChunk = { ...c0, chunk: c0.chunk.map((b, j) => (j === 3 ? b ^ 1 : b)) };
  const shortChunk = { ...c0, chunk: c0.chunk.subarray(0, c0.chunk.length - 1) };
  const withChunks = (chunks: typeof good1.chunks) => ({ ...good1, chunks });
  const watchDeal = () => [readDeal(chain.state, id), readDeal(chain.state, id2)];
  check(t, [
    ["a chunk that is not challenged", PROVIDER, withChunks([notChallenged, c1, c2, c3]), StorageErrorCode.WRONG_CHUNK],
    ["too few chunks", PROVIDER, withChunks([c0, c1, c2]), StorageErrorCode.WRONG_CHUNK],
    ["too many chunks", PROVIDER, withChunks([c0, c1, c2, c3, c0]), StorageErrorCode.WRONG_CHUNK],
    ["the right chunks in another order", PROVIDER, withChunks([c3, c2, c1, c0]), c0.index === c3.index && c1.index === c2.index ? "" : StorageErrorCode.WRONG_CHUNK],
    ["a chunk of the wrong length", PROVIDER, withChunks([shortChunk, c1, c2, c3]), StorageErrorCode.WRONG_CHUNK],
    ["a wrong audit path", PROVIDER, withChunks([flippedPath, c1, c2, c3]), StorageErrorCode.BAD_PATH],
    ["a changed chunk", PROVIDER, withChunks([flippedChunk, c1, c2, c3]), StorageErrorCode.BAD_PATH],
    ["a future epoch", PROVIDER, { ...good1, epoch: start + 1n }, StorageErrorCode.WRONG_EPOCH],
    ["an epoch before the deal's first challenge", PROVIDER, { ...good1, deal: id2 }, StorageErrorCode.WRONG_EPOCH],
    ["a past epoch (late)", PROVIDER, { ...good1, epoch: start - 1n }, StorageErrorCode.LATE_PROOF],
    ["a proof for another provider's deal", PROVIDER2, good1, StorageErrorCode.NOT_DEAL_PROVIDER],
    ["a proof by an unregistered sender", OTHER, good1, StorageErrorCode.PROVIDER_NOT_REGISTERED],
    ["a proof for an unknown deal", PROVIDER, { ...good1, deal: new Uint8Array(32).fill(7) }, StorageErrorCode.UNKNOWN_DEAL],
  ], watchDeal);
  t.equal(run(t, chain, PROVIDER, good1).code, "", "the honest proof");
  check(t, [["the same proof again (replay)", PROVIDER, good1, StorageErrorCode.DUPLICATE_PROOF]], watchDeal);
  // the window closes with the epoch's last block: the next epoch's first block cannot carry its own proof yet
  toHeight(t, chain, lastHeightOfEpoch(start, L(chain)));
  const first = firstHeightOfEpoch(start + 1n, L(chain));
  t.equal(height(chain) + 1n, first, "the next block is the first of the next epoch");
  const stale = { type: "storage.proof" as const, deal: id, epoch: start + 1n, chunks: good1.chunks };
  t.equal(run(t, chain, PROVIDER, stale).code, StorageErrorCode.WRONG_EPOCH, "a proof in the first block of its epoch (seed not known yet)");
  t.equal(run(t, chain, PROVIDER, proofOp(chain, PROVER, id, start + 1n)).code, "", "from the second block on it is accepted");
  t.equal(run(t, chain, PROVIDER, { ...good1, epoch: start }).code, StorageErrorCode.LATE_PROOF, "a proof for the previous epoch is late");
  t.same(proofWindow(start, 20), { from: firstHeightOfEpoch(start, 20) + 1n, to: lastHeightOfEpoch(start, 20) });
});

t.test("statically invalid and malformed operations never enter a block; the wire forms round-trip", async (t) => {
  const chain = newChain();
  const tm = terms(chain, PROVER);
  const id = dealId(chain.genesis.chainId, CLIENT.publicKey, tm);
  const ops: Operation[] = [
    { type: "provider.register", kind: ProviderKind.STORAGE, collateral: 5n, capacity: 5n, multiaddr: "/ip4/1.2.3.4/tcp/1" },
    { type: "provider.register", kind: ProviderKind.BANDWIDTH, collateral: (1n << 64n) - 1n, capacity: 1n, multiaddr: "x".repeat(256) },
    { type: "provider.exit" },
    dealOp(chain, tm),
    { type: "storage.proof", deal: id, epoch: 3n, chunks: PROVER.answer(new Uint8Array(32), id, K) },
  ];
  for (const op of ops) {
    const signed = tx(chain, CLIENT, 0n, op);
    const back = decodeTx(signed.bytes);
    t.same(back.op, op, `${op.type} round-trips`);
    t.same(back.bytes, signed.bytes, `${op.type} re-encodes to the same bytes`);
    t.doesNotThrow(() => validateTxBasic(back, chain.genesis.chainId), `${op.type} is statically valid`);
  }
  const invalid: [string, Operation][] = [
    ["kind 2", { type: "provider.register", kind: 2, collateral: 5n, capacity: 5n, multiaddr: "/x" }],
    ["capacity 0", { type: "provider.register", kind: 0, collateral: 5n, capacity: 0n, multiaddr: "/x" }],
    ["empty multiaddr", { type: "provider.register", kind: 0, collateral: 5n, capacity: 5n, multiaddr: "" }],
    ["control character in the multiaddr", { type: "provider.register", kind: 0, collateral: 5n, capacity: 5n, multiaddr: "/ip4/1.2.3.4\n" }],
    ["a proof without chunks", { type: "storage.proof", deal: id, epoch: 3n, chunks: [] }],
  ];
  for (const [name, op] of invalid) {
    t.throws(() => validateTxBasic(tx(chain, CLIENT, 0n, op), chain.genesis.chainId), { code: TxErrorCode.INVALID_OPERATION }, name);
  }
  const wire = (op: unknown[]) => encode([encode([chain.genesis.chainId, CLIENT.publicKey, 0, 1000, op as never]), new Uint8Array(64)]);
  const termsWire = [PROVIDER.publicKey, PROVER.root, 3000, 256, 1000, 3, 10000, 50];
  const chunkWire = [0, new Uint8Array(256), [new Uint8Array(32)]];
  const malformed: [string, unknown[]][] = [
    ["register without multiaddr", [OpCode.PROVIDER_REGISTER, 0, 5, 5]],
    ["register with a multiaddr of 257 characters", [OpCode.PROVIDER_REGISTER, 0, 5, 5, "x".repeat(257)]],
    ["register with a negative collateral", [OpCode.PROVIDER_REGISTER, 0, -5, 5, "/x"]],
    ["register with kind 256", [OpCode.PROVIDER_REGISTER, 256, 5, 5, "/x"]],
    ["exit with an argument", [OpCode.PROVIDER_EXIT, 1]],
    ["deal with 7 terms", [OpCode.STORAGE_DEAL, termsWire.slice(0, 7), new Uint8Array(64)]],
    ["deal with a short root", [OpCode.STORAGE_DEAL, [PROVIDER.publicKey, PROVER.root.subarray(1), ...termsWire.slice(2)], new Uint8Array(64)]],
    ["deal with a short signature", [OpCode.STORAGE_DEAL, termsWire, new Uint8Array(63)]],
    ["deal with the terms as bytes", [OpCode.STORAGE_DEAL, encode(termsWire as never), new Uint8Array(64)]],
    ["proof with a short deal id", [OpCode.STORAGE_PROOF, id.subarray(1), 3, [chunkWire]]],
    ["proof without chunks list", [OpCode.STORAGE_PROOF, id, 3]],
    ["proof of 13 chunks", [OpCode.STORAGE_PROOF, id, 3, Array.from({ length: MAX_CHALLENGES_PER_DEAL + 1 }, () => chunkWire)]],
    ["proof with a chunk over 64 KiB", [OpCode.STORAGE_PROOF, id, 3, [[0, new Uint8Array(MAX_CHUNK_SIZE + 1), []]]]],
    ["proof with a path of 41 hashes", [OpCode.STORAGE_PROOF, id, 3, [[0, new Uint8Array(256), Array.from({ length: MAX_PATH_LENGTH + 1 }, () => new Uint8Array(32))]]]],
    ["proof with a 31-byte hash", [OpCode.STORAGE_PROOF, id, 3, [[0, new Uint8Array(256), [new Uint8Array(31)]]]]],
    ["proof with a chunk of 2 fields", [OpCode.STORAGE_PROOF, id, 3, [[0, new Uint8Array(256)]]]],
  ];
  for (const [name, op] of malformed) t.throws(() => decodeTx(wire(op)), { code: TxErrorCode.MALFORMED }, name);
  t.doesNotThrow(() => decodeTx(wire([OpCode.STORAGE_DEAL, termsWire, new Uint8Array(64)])), "the well-formed deal decodes");

  // the largest proof: MAX_CHALLENGES_PER_DEAL chunks of 64 KiB with 40-hash paths fits a transaction
  const big: Operation = {
    type: "storage.proof", deal: id, epoch: 1n,
    chunks: Array.from({ length: MAX_CHALLENGES_PER_DEAL }, (_, i) => ({ index: BigInt(i), chunk: new Uint8Array(MAX_CHUNK_SIZE), path: Array.from({ length: MAX_PATH_LENGTH }, () => new Uint8Array(32)) })),
  };
  const bigTx = tx(chain, PROVIDER, 0n, big);
  t.ok(bigTx.size <= MAX_TX_BYTES, `the largest proof is ${bigTx.size} bytes <= ${MAX_TX_BYTES}`);
  t.same(decodeTx(bigTx.bytes).op, big, "and decodes");
  // the sign bytes bind every term, the client and the chain
  const base = toHex(dealSignBytes(chain.genesis.chainId, CLIENT.publicKey, tm));
  for (const [name, over] of Object.entries({ provider: { provider: OTHER.publicKey }, root: { root: new Uint8Array(32) }, size: { size: 3001n }, chunkSize: { chunkSize: 512n }, pricePerEpoch: { pricePerEpoch: 1001n }, durationEpochs: { durationEpochs: 4n }, collateral: { collateral: 1n }, expiresAtHeight: { expiresAtHeight: 1n } })) {
    t.not(toHex(dealSignBytes(chain.genesis.chainId, CLIENT.publicKey, { ...tm, ...over })), base, `the acceptance covers ${name}`);
  }
  t.not(toHex(dealSignBytes("other-chain", CLIENT.publicKey, tm)), base, "and the chain id");
  t.not(toHex(dealSignBytes(chain.genesis.chainId, OTHER.publicKey, tm)), base, "and the client");
  t.not(toHex(dealId(chain.genesis.chainId, CLIENT.publicKey, tm)), base, "the deal id is not the sign bytes");
});

// ---- misses, slashes, bans ----

t.test("missed epochs slash the collateral to the client; maxMissedProofs misses end the deal and refund the escrow; bans escalate 1, 6, 144", async (t) => {
  const chain = newChain();
  register(t, chain, PROVIDER);
  const c0 = balance(chain, CLIENT);
  const id = makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 10n }));
  const start = deal(chain, id).startEpoch;
  const banLengths: bigint[] = [];
  for (let miss = 1; miss <= 3; miss++) {
    const e = start + BigInt(miss - 1);
    toEpochEnd(t, chain, e);
    const p0 = provider(chain, PROVIDER);
    const cb = balance(chain, CLIENT);
    const minted0 = chain.state.meta().minted;
    const schedule = rewardSchedule(chain.state, chain.genesis.params);
    const end = step(t, chain, []);
    t.same(events(end, "storageSlash").map((x) => [x.amount, x.misses, x.epoch]), [[1000n, miss, e]], `miss ${miss}: 10% of the original collateral slashed`);
    t.same(events(end, "storagePayment"), [], `miss ${miss}: nothing paid`);
    t.same(events(end, "reward").map((x) => x.pool), ["validator"], `miss ${miss}: no storage reward`);
    t.equal(chain.state.meta().minted - minted0, soloValidatorPool(schedule.validatorPool, L(chain), L(chain)), `miss ${miss}: only the validator pool minted`);
    const bans = events(end, "providerBan");
    t.same(bans.map((b) => [b.epoch, b.strikes]), [[e, miss]], `miss ${miss}: a failed epoch is a strike`);
    banLengths.push(bans[0]!.until - e - 1n);
    const p = provider(chain, PROVIDER);
    t.equal(p.collateral, p0.collateral - 1000n, `miss ${miss}: the provider's collateral shrank`);
    t.equal(p.bannedUntil, bans[0]!.until);
    t.same(p.reputation.at(-1), { epoch: e, made: 0, due: 1 });
    if (miss < 3) {
      t.equal(balance(chain, CLIENT), cb + 1000n, `miss ${miss}: the slash went to the client`);
      t.same([deal(chain, id).misses, deal(chain, id).collateralLeft, deal(chain, id).status], [miss, 10_000n - 1000n * BigInt(miss), DealStatus.ACTIVE]);
      t.equal(p.locked, 10_000n - 1000n * BigInt(miss));
    } else {
      t.same(events(end, "storageDealEnd").map((x) => [x.reason, x.refunded, x.unlocked]), [["failed", 10_000n, 7000n]], "the third miss ends the deal");
      t.equal(balance(chain, CLIENT), cb + 1000n + 10_000n, "slash and the whole escrow back to the client");
      t.equal(balance(chain, CLIENT), c0 - FEE + 3000n, "the client is 3 slashes up");
      t.same([deal(chain, id).status, deal(chain, id).escrow, deal(chain, id).collateralLeft, deal(chain, id).misses], [DealStatus.FAILED, 0n, 0n, 3]);
      t.same([p.locked, p.used, p.activeDeals, p.collateral], [0n, 0n, 0, COLLATERAL - 3000n], "the rest of the collateral is free again");
      t.same(listActiveDeals(chain.state), []);
    }
  }
  t.same(banLengths, [1n, 6n, 144n], "bans of 1, 6, then 144 epochs");
  t.same(BAN_EPOCHS, [1n, 6n, 144n]);
  t.equal(reputationBps(provider(chain, PROVIDER), start + 2n, 4), 0, "nothing proven: reputation 0");
  const tm = terms(chain, PROVER, { expiresAtHeight: height(chain) + 10n, pricePerEpoch: 7n });
  t.equal(run(t, chain, CLIENT, dealOp(chain, tm)).code, StorageErrorCode.PROVIDER_BANNED, "a banned provider takes no deal");
});

t.test("a banned provider is paid its price and takes no deal; strikes reset after a clean window", async (t) => {
  const chain = newChain({ maxMissedProofs: 20 });
  register(t, chain, PROVIDER);
  register(t, chain, PROVIDER2);
  const prover2 = new StorageProver(bytes(1000, 9), 256);
  const id1 = makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 20n }));
  const id2 = makeDeal(t, chain, terms(chain, prover2, { durationEpochs: 20n }, PROVIDER2), PROVIDER2);
  const s = deal(chain, id2).startEpoch;
  t.equal(deal(chain, id1).startEpoch, s, "both deals start together");
  /** One epoch: who proves; returns the last block. */
  const epoch = (e: bigint, prove1: boolean, prove2: boolean, extra: () => void = () => {}) => {
    toWindow(t, chain, e);
    const txs: SignedTx[] = [];
    if (prove1) txs.push(txNext(chain, PROVIDER, proofOp(chain, PROVER, id1, e)));
    if (prove2) txs.push(txNext(chain, PROVIDER2, proofOp(chain, prover2, id2, e)));
    t.same(step(t, chain, txs).receipts.map((r) => r.code), txs.map(() => ""), `epoch ${e}: proofs accepted`);
    extra();
    toEpochEnd(t, chain, e);
    return step(t, chain, []);
  };
  const storageRewards = (b: BuiltBlock) => events(b, "reward").filter((r) => r.pool === "storage").map((r) => [toHex(r.to).slice(0, 8), r.amount, r.basis, r.reputationBps]);
  const p1 = toHex(PROVIDER.publicKey).slice(0, 8);
  const p2 = toHex(PROVIDER2.publicKey).slice(0, 8);

  // epoch s: provider 1 misses, provider 2 proves; provider 1 banned for s+1
  let end = epoch(s, false, true);
  t.same(storageRewards(end), [], `epoch ${s}: direct deals earn no storage reward`);
  t.equal(provider(chain, PROVIDER).bannedUntil, s + 2n, "banned for one epoch");
  // epoch s+1: provider 1 proves while banned: paid, no new deal
  end = epoch(s + 1n, true, true, () => {
    t.equal(run(t, chain, CLIENT, dealOp(chain, terms(chain, new StorageProver(bytes(300, 3), 256)))).code, StorageErrorCode.PROVIDER_BANNED, "no deal while banned");
  });
  t.same(events(end, "storagePayment").map((e) => toHex(e.provider).slice(0, 8)), [p1, p2].sort(), "both paid their price");
  // epoch s+2: both prove; provider 1's reputation over the window: (0 + 1 + 1) / 3
  end = epoch(s + 2n, true, true);
  const rep1 = Math.floor((2 * 10_000) / 3);
  t.equal(reputationBps(provider(chain, PROVIDER), s + 2n, 4), rep1);
  t.equal(provider(chain, PROVIDER).strikes, 1);
  // s+3: clean, s+4: clean -> a whole window (4 epochs) since the failure at s: strikes reset
  epoch(s + 3n, true, true);
  t.equal(provider(chain, PROVIDER).strikes, 1, "three clean epochs are not a window");
  epoch(s + 4n, true, true);
  t.equal(provider(chain, PROVIDER).strikes, 0, "four are: the strikes reset");
  t.equal(reputationBps(provider(chain, PROVIDER), s + 4n, 4), 10_000, "the failure left the window");
  t.same(provider(chain, PROVIDER).reputation.map((r) => r.epoch), [s + 1n, s + 2n, s + 3n, s + 4n], "the window keeps the last 4 epochs");
  end = epoch(s + 5n, false, true);
  t.same(events(end, "providerBan").map((b) => [b.strikes, b.until]), [[1, s + 7n]], "the next failure is a first strike again: 1 epoch");
});

t.test("strikes decay without dues too: a failure after a whole clean window is a first strike again", async (t) => {
  const chain = newChain({ maxMissedProofs: 1 });
  register(t, chain, PROVIDER);
  register(t, chain, PROVIDER2);
  makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 1n }));
  const id2 = makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 1n }, PROVIDER2), PROVIDER2);
  const s = deal(chain, id2).startEpoch;
  toEpochEnd(t, chain, s);
  const first = step(t, chain, []);
  t.same(events(first, "storageDealEnd").map((e) => e.reason), ["failed", "failed"], "one miss ends a deal when maxMissedProofs is 1");
  t.same(events(first, "providerBan").map((b) => [b.strikes, b.until]), [[1, s + 2n], [1, s + 2n]], "both banned for one epoch");
  // provider 2 fails again 3 epochs later (within the 4-epoch window): second strike, 6 epochs
  toWindow(t, chain, s + 2n);
  makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 1n, pricePerEpoch: 2n }, PROVIDER2), PROVIDER2);
  toEpochEnd(t, chain, s + 3n);
  t.same(events(step(t, chain, []), "providerBan").map((b) => [toHex(b.provider), b.strikes, b.until]), [[toHex(PROVIDER2.publicKey), 2, s + 3n + 7n]], "a second strike within the window: 6 epochs");
  // provider 1 fails 6 epochs later, with no proof due in between: the strikes decayed
  toWindow(t, chain, s + 5n);
  makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 1n, pricePerEpoch: 3n }));
  toEpochEnd(t, chain, s + 6n);
  t.same(events(step(t, chain, []), "providerBan").map((b) => [toHex(b.provider), b.strikes, b.until]), [[toHex(PROVIDER.publicKey), 1, s + 6n + 2n]], "a failure after a clean window: 1 epoch");
});

// ---- exit ----

t.test("exit keeps the collateral locked (slashable) for EXIT_UNBONDING_EPOCHS, and until the last deal ends", async (t) => {
  const chain = newChain();
  register(t, chain, PROVIDER);
  register(t, chain, PROVIDER2);
  const b2 = balance(chain, PROVIDER2);
  const quick = run(t, chain, PROVIDER2, { type: "provider.exit" });
  t.equal(quick.code, "");
  const exitEpoch = epochOfHeight(height(chain), L(chain));
  t.same(events(quick.built, "providerExit").map((e) => [e.returned, e.activeDeals]), [[0n, 0]], "nothing is returned at once");
  t.same([provider(chain, PROVIDER2).status, provider(chain, PROVIDER2).collateral, provider(chain, PROVIDER2).releaseEpoch], [ProviderStatus.EXITING, COLLATERAL, exitEpoch + EXIT_UNBONDING_EPOCHS - 1n], "exiting, collateral locked");
  t.equal(run(t, chain, PROVIDER2, { type: "provider.exit" }).code, StorageErrorCode.PROVIDER_EXITING, "exit twice");
  t.equal(run(t, chain, CLIENT, dealOp(chain, terms(chain, PROVER, {}, PROVIDER2), PROVIDER2)).code, StorageErrorCode.PROVIDER_EXITING, "no deal with an exiting provider");
  toEpochEnd(t, chain, exitEpoch + EXIT_UNBONDING_EPOCHS - 2n);
  t.same(events(step(t, chain, []), "providerCollateralReturned"), [], "still locked at the end of the epoch before its release epoch");
  toEpochEnd(t, chain, exitEpoch + EXIT_UNBONDING_EPOCHS - 1n);
  const rel = step(t, chain, []);
  t.same(events(rel, "providerCollateralReturned").map((x) => [x.amount, x.epoch]), [[COLLATERAL, exitEpoch + EXIT_UNBONDING_EPOCHS - 1n]], "returned at the end of its release epoch");
  t.equal(balance(chain, PROVIDER2), b2 + COLLATERAL - 2n * FEE, "the collateral is back (two fees paid)");
  t.same([provider(chain, PROVIDER2).status, provider(chain, PROVIDER2).collateral], [ProviderStatus.EXITED, 0n], "the record stays, exited");
  t.equal(run(t, chain, PROVIDER2, { type: "provider.exit" }).code, StorageErrorCode.PROVIDER_NOT_REGISTERED, "exit after exited");
  t.equal(run(t, chain, CLIENT, dealOp(chain, terms(chain, PROVER, {}, PROVIDER2), PROVIDER2)).code, StorageErrorCode.PROVIDER_NOT_REGISTERED, "no deal with an exited provider");
  register(t, chain, PROVIDER2, 5000n, 5000n);
  t.same([provider(chain, PROVIDER2).status, provider(chain, PROVIDER2).collateral], [ProviderStatus.ACTIVE, 5000n], "an exited provider may register again");
  t.equal(listProviders(chain.state).length, 2, "and is listed once");

  // with a deal lasting beyond the unbonding: returned when the last deal ends
  const id = makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: EXIT_UNBONDING_EPOCHS + 1n }));
  const start = deal(chain, id).startEpoch;
  const ex = run(t, chain, PROVIDER, { type: "provider.exit" });
  t.same(events(ex.built, "providerExit").map((e) => [e.returned, e.activeDeals]), [[0n, 1]], "with a deal active nothing is returned yet");
  t.equal(provider(chain, PROVIDER).status, ProviderStatus.EXITING);
  t.equal(run(t, chain, PROVIDER, { type: "provider.exit" }).code, StorageErrorCode.PROVIDER_EXITING, "exit while exiting");
  t.equal(run(t, chain, CLIENT, dealOp(chain, terms(chain, new StorageProver(bytes(500), 256)))).code, StorageErrorCode.PROVIDER_EXITING, "no new deal while exiting");
  const last = start + EXIT_UNBONDING_EPOCHS;
  for (let e = start; e <= last; e++) {
    toWindow(t, chain, e);
    t.equal(run(t, chain, PROVIDER, proofOp(chain, PROVER, id, e)).code, "", `an exiting provider still proves epoch ${e}`);
    toEpochEnd(t, chain, e);
    const end = step(t, chain, []);
    if (e < last) t.same(events(end, "providerCollateralReturned"), [], `epoch ${e}: the deal is still active`);
    else {
      t.same(events(end, "storageDealEnd").map((x) => x.reason), ["completed"]);
      t.same(events(end, "providerCollateralReturned").map((x) => [x.amount, x.epoch]), [[COLLATERAL, e]], "the last deal ended: the collateral is returned");
      t.same([provider(chain, PROVIDER).status, provider(chain, PROVIDER).collateral, provider(chain, PROVIDER).locked], [ProviderStatus.EXITED, 0n, 0n]);
    }
  }
  toWindow(t, chain, last + 1n);
  t.equal(run(t, chain, PROVIDER, { type: "storage.proof", deal: id, epoch: last + 1n, chunks: PROVER.answer(epochSeed(chain.state, last + 1n)!, id, K) }).code, StorageErrorCode.DEAL_ENDED, "a late proof after exit gets a clear error");
});

t.test("an exiting provider stays slashable through its unbonding: a proof it misses then is slashed to the client, and only the rest returns", async (t) => {
  const chain = newChain();
  register(t, chain, PROVIDER);
  const id = makeDeal(t, chain, terms(chain, PROVER, { durationEpochs: 2n }));
  const start = deal(chain, id).startEpoch;
  toHeight(t, chain, firstHeightOfEpoch(start, L(chain)) - 1n);
  t.equal(run(t, chain, PROVIDER, { type: "provider.exit" }).code, "", "exits in the epoch before its deal's first challenge");
  const release = provider(chain, PROVIDER).releaseEpoch;
  t.ok(release > start + 1n, "the deal ends inside the unbonding");
  const clientBefore = balance(chain, CLIENT);
  const slashes: bigint[] = [];
  for (let e = start; e <= start + 1n; e++) {
    // it proves nothing: the exit does not take it out of its deal's challenges
    toEpochEnd(t, chain, e);
    const end = step(t, chain, []);
    const s = events(end, "storageSlash");
    t.same(s.map((x) => [toHex(x.provider), toHex(x.client), x.epoch]), [[toHex(PROVIDER.publicKey), toHex(CLIENT.publicKey), e]], `epoch ${e}: the exiting provider's miss is slashed`);
    slashes.push(...s.map((x) => x.amount));
    t.same(events(end, "providerCollateralReturned"), [], `epoch ${e}: nothing returned during the unbonding`);
  }
  const slashed = slashes.reduce((a, b) => a + b, 0n);
  t.equal(slashed, 2n * ((10_000n * 1000n) / 10_000n), "missSlashBps of the deal's collateral for each missed epoch");
  t.equal(provider(chain, PROVIDER).collateral, COLLATERAL - slashed, "taken from the exiting collateral");
  const escrowBack = 2n * 1000n; // two unpaid epochs: the escrow goes back when the deal ends
  t.equal(balance(chain, CLIENT), clientBefore + slashed + escrowBack, "the client got the slashes and its escrow");
  toEpochEnd(t, chain, release);
  const rel = step(t, chain, []);
  t.same(events(rel, "providerCollateralReturned").map((x) => x.amount), [COLLATERAL - slashed], "at the end of the unbonding only what was not slashed returns");
});

// ---- emission ----

t.test("unearned pools are not minted", async (t) => {
  // no validator share: with no proven storage nothing at all is minted, a relay and a failing provider notwithstanding
  const chain = newChain({ storageShareBps: 7000, bandwidthShareBps: 3000, validatorShareBps: 0 });
  register(t, chain, RELAY, COLLATERAL, CAPACITY, ProviderKind.BANDWIDTH);
  register(t, chain, PROVIDER);
  const id = makeDeal(t, chain, terms(chain, PROVER));
  const start = deal(chain, id).startEpoch;
  const blocks = toHeight(t, chain, lastHeightOfEpoch(start + 1n, L(chain)));
  t.equal(chain.state.meta().minted, 0n, "nothing minted");
  t.same(blocks.flatMap((b) => events(b, "reward")), [], "no reward event");
  t.ok(blocks.some((b) => events(b, "storageSlash").length > 0), "the provider did miss (and was slashed)");
  t.ok(supplyHolds(chain.state));

  // default split, nobody proves: exactly the validator pool each epoch, and the reward decays
  const plain = newChain();
  let expected = 0n;
  let reward = 1_000_000n;
  for (let e = 0n; e < 3n; e++) {
    toEpochEnd(t, plain, e);
    t.equal(rewardSchedule(plain.state, plain.genesis.params).reward, reward, `epoch ${e}: the reward`);
    const end = step(t, plain, []);
    const commits = e === 0n ? 3 : 4;
    const pool = soloValidatorPool((reward * 2000n) / 10_000n, L(plain), commits);
    t.same(events(end, "reward").map((r) => [r.pool, r.amount, r.basis]), [["validator", pool, BigInt(commits)]], `epoch ${e}: only the validator pool (epoch 0's first block carries no commit)`);
    expected += pool;
    reward = (reward * 9900n) / 10_000n;
  }
  t.equal(plain.state.meta().minted, expected, "meta.minted is the sum of the validator pools");
});

t.test("the validator pool is paid block by block: the proposer's base and bonus by the power it included, the signers' share by power", async (t) => {
  const V = [testKey(411), testKey(412), testKey(413), testKey(414)];
  const powers = [40n, 30n, 20n, 10n].map((p) => p * 1_000_000_000_000n);
  const total = powers.reduce((a, b) => a + b, 0n);
  const chain = newTestChain({ validators: V.map((key, i) => ({ key, power: powers[i]! })), params: { ...PARAMS, minValidatorStake: "1000000000000" } });
  const { proposerBaseBps: base, proposerBonusBps: bonus } = chain.genesis.params;
  // V[3] (10%) misses the commits of blocks 1 and 2; every other signature is there
  const absent = (h: bigint) => (h <= 2n ? [V[3]!] : []);
  let end: BuiltBlock | undefined;
  // epoch 0 = blocks 1..4; commits of blocks 1, 2, 3 are in blocks 2, 3, 4, each with the pool P
  const P = (1_000_000n * 2000n) / 10_000n / 4n;
  const expected = new Map<string, bigint>();
  const add = (pk: Uint8Array, x: bigint) => expected.set(toHex(pk), (expected.get(toHex(pk)) ?? 0n) + x);
  while (height(chain) < 4n) {
    const h = height(chain) + 1n;
    end = advanceChecked((m) => t.fail(m), chain, [], { absent: absent(h) });
    if (h === 1n) continue;
    const signers = V.map((_, i) => i).filter((i) => !(i === 3 && h - 1n <= 2n));
    const signedPower = signers.reduce((a, i) => a + powers[i]!, 0n);
    add(end.block.header.proposer, (P * (BigInt(base) * total + BigInt(bonus) * signedPower)) / (10_000n * total));
    for (const i of signers) add(V[i]!.publicKey, (P * BigInt(10_000 - base - bonus) * powers[i]!) / (10_000n * total));
  }
  const blocks = [3n, 3n, 3n, 1n];
  const got = new Map(events(end!, "reward").map((r) => [toHex(r.to), [r.amount, r.basis]]));
  V.forEach((v, i) => t.same(got.get(toHex(v.publicKey)), [expected.get(toHex(v.publicKey)), blocks[i]], `validator ${i}`));
  t.ok(supplyHolds(chain.state));
});

// ---- the supply invariant under random mixes ----

t.test("supply invariant over random mixes of registrations, deals, orders, placements, proofs, misses, exits and transfers", async (t) => {
  const provers = [new StorageProver(bytes(300, 1), 256), new StorageProver(bytes(2000, 2), 512), new StorageProver(bytes(5000, 3), 256)];
  const providers = [PROVIDER, PROVIDER2, RELAY];
  const clients = [CLIENT, OTHER];
  const action = fc.record({
    kind: fc.constantFrom("register", "deal", "order", "order", "accept", "accept", "decline", "prove", "prove", "prove", "badProof", "exit", "transfer", "empty"),
    replicas: fc.integer({ min: 1, max: 2 }),
    p: fc.nat({ max: 2 }),
    c: fc.nat({ max: 1 }),
    data: fc.nat({ max: 2 }),
    kindOf: fc.constantFrom(0, 0, 1),
    collateral: fc.bigInt({ min: 1_000n, max: 20_000n }),
    capacity: fc.bigInt({ min: 1_000n, max: 20_000n }),
    price: fc.bigInt({ min: 1n, max: 500n }),
    duration: fc.bigInt({ min: 1n, max: 4n }),
    dealCollateral: fc.bigInt({ min: 0n, max: 5_000n }),
    deal: fc.nat({ max: 20 }),
    amount: fc.bigInt({ min: 1n, max: 10_000n }),
  });
  const seen = { deals: 0, proofs: 0, rewards: 0, slashes: 0, ends: 0, placements: 0, expired: 0, declined: 0, orderEnds: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(action, { minLength: 1, maxLength: 5 }), { minLength: 12, maxLength: 30 }), async (blocks) => {
      const chain = newChain({ epochLength: 3, maxMissedProofs: 2, missSlashBps: 3000, collateralPerByte: "1", placementWindowEpochs: 2, orderPlacementEpochs: 3 });
      const deals: { id: Uint8Array; prover: StorageProver; provider: KeyPair }[] = [];
      for (const actions of blocks) {
        const nonces = new Map<KeyPair, bigint>();
        const next = (k: KeyPair) => {
          const n = nonces.get(k) ?? chain.state.account(k.publicKey).nonce;
          nonces.set(k, n + 1n);
          return n;
        };
        const txs: SignedTx[] = [];
        const epoch = nextEpoch(chain);
        const seed = epochSeed(chain.state, epoch);
        for (const a of actions) {
          const prov = providers[a.p]!;
          const client = clients[a.c]!;
          // proofs go to the active deals (mostly the right ones), the rest to any deal ever tried
          const active = listActiveDeals(chain.state).map((x) => deals.find((y) => toHex(y.id) === toHex(x.id))!);
          const pool = active.length > 0 && a.deal % 5 !== 0 ? active : deals;
          const d = pool.length > 0 ? pool[a.deal % pool.length]! : undefined;
          switch (a.kind) {
            case "register":
              // mostly enough collateral for the capacity (1 unit per byte), sometimes not
              txs.push(tx(chain, prov, next(prov), { type: "provider.register", kind: a.kindOf, collateral: a.capacity + a.collateral - 2_000n, capacity: a.capacity, multiaddr: "/dns/p" }));
              break;
            case "deal": {
              const prover = provers[a.data]!;
              const tm = terms(chain, prover, { pricePerEpoch: a.price, durationEpochs: a.duration, collateral: a.dealCollateral }, prov);
              deals.push({ id: dealId(chain.genesis.chainId, client.publicKey, tm), prover, provider: prov });
              txs.push(tx(chain, client, next(client), dealOp(chain, tm, prov, client)));
              break;
            }
            case "order": {
              const prover = provers[a.data]!;
              txs.push(tx(chain, client, next(client), {
                type: "storage.order", root: prover.root, size: prover.size, chunkSize: BigInt(prover.chunkSize), pricePerEpoch: a.price, durationEpochs: a.duration,
                replicas: a.replicas,
              }));
              break;
            }
            case "accept":
            case "decline": {
              // a provider with a placement to answer, if any
              const placedOn = providers.map((k) => ({ k, placed: pendingPlacementsOf(chain.state, k.publicKey) })).filter((x) => x.placed.length > 0);
              const pick = placedOn[a.p % Math.max(1, placedOn.length)];
              const prov = pick?.k;
              const o = pick?.placed[a.deal % pick.placed.length]?.order;
              if (prov && o && !txs.some((x) => x.op.type === "storage.accept" || x.op.type === "storage.decline")) {
                txs.push(tx(chain, prov, next(prov), { type: a.kind === "accept" ? "storage.accept" : "storage.decline", order: o.id }));
                if (a.kind === "accept") deals.push({ id: networkDealId(chain.genesis.chainId, o.id, prov.publicKey), prover: provers.find((x) => toHex(x.root) === toHex(o.root))!, provider: prov });
              }
              break;
            }
            case "prove":
            case "badProof":
              if (d && seed) {
                const chunks = d.prover.answer(seed, d.id, K);
                const bad = a.kind === "badProof" ? [{ ...chunks[0]!, chunk: chunks[0]!.chunk.map((b) => b ^ 0xff) }, ...chunks.slice(1)] : chunks;
                txs.push(tx(chain, d.provider, next(d.provider), { type: "storage.proof", deal: d.id, epoch, chunks: bad }));
              }
              break;
            case "exit":
              txs.push(tx(chain, prov, next(prov), { type: "provider.exit" }));
              break;
            case "transfer":
              txs.push(transfer(chain, client, next(client), prov, a.amount));
              break;
            case "empty":
              break;
          }
        }
        const built = advanceChecked((m) => {
          throw new Error(m);
        }, chain, txs);
        if (built.rejected.length > 0) throw new Error(`rejected: ${built.rejected[0]!.error.code}`);
        if (!supplyHolds(chain.state)) return false;
        seen.deals += built.events.filter((e) => e.kind === "storageDeal").length;
        seen.proofs += built.events.filter((e) => e.kind === "storageProof").length;
        seen.rewards += built.events.filter((e) => e.kind === "reward" && e.pool === "storage").length;
        seen.slashes += built.events.filter((e) => e.kind === "storageSlash").length;
        seen.ends += built.events.filter((e) => e.kind === "storageDealEnd").length;
        seen.placements += built.events.filter((e) => e.kind === "storagePlacement").length;
        seen.expired += built.events.filter((e) => e.kind === "storagePlacementEnd" && e.reason === "expired").length;
        seen.declined += built.events.filter((e) => e.kind === "storagePlacementEnd" && e.reason === "declined").length;
        seen.orderEnds += built.events.filter((e) => e.kind === "storageOrderEnd").length;
        // the orders' placements: every pending one holds its size and collateral at its provider
        const pending = listOpenOrders(chain.state).flatMap((o) => o.placements.filter((x) => x.status === PlacementStatus.PENDING).map((x) => ({ o, x })));
        // the provider records agree with the deals
        for (const p of listProviders(chain.state)) {
          const active = listActiveDeals(chain.state).filter((x) => toHex(x.provider) === toHex(p.key));
          const placed = pending.filter((y) => toHex(y.x.provider) === toHex(p.key));
          if (active.length !== p.activeDeals) return false;
          if (active.reduce((s, x) => s + x.collateralLeft, 0n) + placed.reduce((s, y) => s + y.o.size, 0n) !== p.locked) return false;
          if (active.reduce((s, x) => s + x.size, 0n) + placed.reduce((s, y) => s + y.o.size, 0n) !== p.used) return false;
          if (p.locked > p.collateral || p.used > p.capacity) return false;
        }
      }
      return true;
    }),
    { numRuns: 40, seed: 20261122 },
  );
  t.ok(Object.values(seen).every((n) => n > 0), `the runs exercised every path: ${JSON.stringify(seen)}`);
});
