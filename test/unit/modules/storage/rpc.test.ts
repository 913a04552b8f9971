/**
 * Proof of storage over JSON-RPC: the real method table on a real server (127.0.0.1, ephemeral
 * port) through the typed client, over a real BlockStore fed with blocks from the real transition
 * (4-block epochs). Checks providers, deals and the store's deal index, challenges, proof
 * submission with the chain's own early check, the per-epoch reward index, and bad params.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { epochOfHeight as epochOfHeightForExit } from "../../../../chain/epoch.ts";
import { EXIT_UNBONDING_EPOCHS } from "../../../../modules/storage/storage.ts";
import t, { type Test } from "tap";
import { fromHex, toHex } from "../../../../primitives/bytes.ts";
import { epochOfHeight, epochSeed, firstHeightOfEpoch, lastHeightOfEpoch } from "../../../../chain/epoch.ts";
import { toAddress, type KeyPair } from "../../../../primitives/keys.ts";
import { Mempool } from "../../../../chain/mempool.ts";
import { rewardSchedule } from "../../../../modules/rewards/rewards.ts";
import { dealId, ProviderKind, signDealAcceptance, StorageErrorCode, type DealTerms } from "../../../../modules/storage/storage.ts";
import { BlockStore } from "../../../../chain/store.ts";
import { signTx, TxErrorCode, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { challengeIndices, StorageProver } from "../../../../proofs/storage.ts";
import { genesisState, type GenesisFile } from "../../../../genesis/schema.ts";
import { RpcClient, RpcClientError } from "../../../../rpc/client.ts";
import { RpcErrorCode } from "../../../../rpc/errors.ts";
import { startRpcServer } from "../../../../rpc/server.ts";
import { StorageRpcErrorCode } from "../../../../modules/storage/rpc.ts";
import { advanceChecked, newTestChain, supplyHolds, testKey, txNext, type TestChain } from "../../../helpers/chain.ts";
import { pseudoRandomBytes as bytes } from "../../../helpers/random.ts";
import { testRpcContext } from "../../../helpers/rpc-context.ts";
import { methods } from "../../../../modules/rpc.ts";

const PROVIDER = testKey(501);
const PROVIDER2 = testKey(502);
const RELAY = testKey(503);
const CLIENT = testKey(504);
const CLIENT2 = testKey(505);
const FUNDS = 1_000_000_000_000n;
const K = 4;
const PARAMS: Partial<GenesisFile["params"]> = {
  epochLength: 4, challengesPerDeal: K, maxMissedProofs: 2, missSlashBps: 1000, collateralPerByte: "1", emissionPerEpoch: "1000000", emissionDecayBps: 100,
  storageShareBps: 5000, bandwidthShareBps: 3000, validatorShareBps: 2000, reputationWindowEpochs: 4, maxDealEpochs: 50,
};

interface World {
  chain: TestChain;
  store: BlockStore;
  mempool: Mempool<SignedTx>;
  client: RpcClient;
  /** deals: CLIENT with PROVIDER (a: 3 epochs, b: 1 epoch), CLIENT2 with PROVIDER2 (c) */
  a: Uint8Array;
  b: Uint8Array;
  c: Uint8Array;
  provers: Map<string, StorageProver>;
}

async function commit(t: Test, w: Pick<World, "chain" | "store">, txs: SignedTx[]): Promise<void> {
  const built = advanceChecked((m) => t.fail(m), w.chain, txs);
  t.equal(built.rejected.length, 0, "no transaction left out");
  for (const [i, r] of built.receipts.entries()) if (!r.ok) t.fail(`tx ${i} at height ${built.block.header.height} failed: ${r.code}`);
  if (!supplyHolds(w.chain.state)) t.fail("supply invariant broken");
  await w.store.commitBlock(built.block, w.chain.lastCommit!, built);
}

const height = (w: World) => w.chain.state.meta().height;
const L = (w: World) => w.chain.genesis.params.epochLength;
async function toHeight(t: Test, w: World, h: bigint): Promise<void> {
  while (height(w) < h) await commit(t, w, []);
}

function dealOp(chain: TestChain, tm: DealTerms, provider: KeyPair, client: KeyPair): Operation {
  return { type: "storage.deal", terms: tm, providerSignature: signDealAcceptance(chain.genesis.chainId, provider, client.publicKey, tm) };
}

async function setup(t: Test): Promise<World> {
  const chain = newTestChain({ params: PARAMS, balances: [PROVIDER, PROVIDER2, RELAY, CLIENT, CLIENT2].map((key) => ({ key, amount: FUNDS })) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-storage-rpc-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(dir, { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  t.teardown(() => store.close());
  const reg = (key: KeyPair, kind: number) => txNext(chain, key, { type: "provider.register", kind, collateral: 1_000_000n, capacity: 100_000n, multiaddr: "/ip4/127.0.0.1/tcp/4001" });
  await commit(t, { chain, store }, [reg(PROVIDER, ProviderKind.STORAGE), reg(PROVIDER2, ProviderKind.STORAGE), reg(RELAY, ProviderKind.BANDWIDTH)]);
  const provers = new Map<string, StorageProver>();
  const deal = (provider: KeyPair, client: KeyPair, data: Uint8Array, durationEpochs: bigint) => {
    const prover = new StorageProver(data, 256);
    const tm: DealTerms = {
      provider: provider.publicKey, root: prover.root, size: prover.size, chunkSize: 256n, pricePerEpoch: 1000n, durationEpochs, collateral: 10_000n,
      expiresAtHeight: chain.state.meta().height + 10n,
    };
    const id = dealId(chain.genesis.chainId, client.publicKey, tm);
    provers.set(toHex(id), prover);
    return { id, tx: txNext(chain, client, dealOp(chain, tm, provider, client)) };
  };
  const a = deal(PROVIDER, CLIENT, bytes(3000, 1), 3n);
  const c = deal(PROVIDER2, CLIENT2, bytes(1000, 3), 3n);
  await commit(t, { chain, store }, [a.tx, c.tx]);
  const b = deal(PROVIDER, CLIENT, bytes(700, 2), 1n);
  await commit(t, { chain, store }, [b.tx]);
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => chain.state.account(sender).nonce });
  const w = { chain, store, mempool, a: a.id, b: b.id, c: c.id, provers } as Omit<World, "client">;
  const ctx = testRpcContext({ chain, store, mempool });

  const server = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [], checkResults: true }, methods, ctx);
  t.teardown(() => server.close());
  return { ...w, client: new RpcClient(server.url) };
}

/** The typed client's error for a call that must fail: its JSON-RPC code and typed code. */
async function failure(p: Promise<unknown>): Promise<{ rpcCode: number; code: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcClientError) return { rpcCode: e.rpcCode, code: e.code };
    throw e;
  }
  throw new Error("the call succeeded");
}

const addr = (k: KeyPair) => toAddress(k.publicKey);

t.test("provider_get and provider_list", async (t) => {
  const w = await setup(t);
  const p = await w.client.call("provider_get", { address: addr(PROVIDER) });
  t.match(p, {
    address: addr(PROVIDER), kind: "storage", status: "active", collateral: "1000000", locked: "20000", freeCollateral: "980000", capacity: "100000",
    used: "3700", multiaddr: "/ip4/127.0.0.1/tcp/4001", registeredAt: 1, activeDeals: 2, banned: false, strikes: 0, reputationBps: 10_000, reputation: [], releaseEpoch: null,
  });
  t.equal((await w.client.call("provider_get", { address: addr(RELAY) }))?.kind, "bandwidth");
  t.equal(await w.client.call("provider_get", { address: addr(CLIENT) }), null, "never registered: null");
  t.same(await failure(w.client.call("provider_get", { address: "cc1nope" })), { rpcCode: RpcErrorCode.INVALID_PARAMS, code: "RPC_INVALID_PARAMS" });

  const sortedKeys = (ks: KeyPair[]) => ks.map((k) => toHex(k.publicKey)).sort();
  const byKey = (ks: KeyPair[]) => sortedKeys(ks).map((h) => addr([PROVIDER, PROVIDER2, RELAY].find((k) => toHex(k.publicKey) === h)!));
  t.same((await w.client.call("provider_list", {})).providers.map((x) => x.address), byKey([PROVIDER, PROVIDER2, RELAY]), "all, in key order");
  t.same((await w.client.call("provider_list", { kind: "storage" })).providers.map((x) => x.address), byKey([PROVIDER, PROVIDER2]), "storage only");
  t.same((await w.client.call("provider_list", { kind: "bandwidth" })).providers.map((x) => x.address), [addr(RELAY)], "bandwidth only");
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 5; i++) {
    const page: { providers: { address: string }[]; nextCursor: string | null } = await w.client.call("provider_list", { limit: 1, ...(cursor ? { cursor } : {}) });
    seen.push(...page.providers.map((x) => x.address));
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  t.same(seen, byKey([PROVIDER, PROVIDER2, RELAY]), "pages of one cover every provider once");
  t.equal((await failure(w.client.call("provider_list", { limit: 101 }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "limit above 100");
  t.equal((await failure(w.client.call("provider_list", { kind: "relay" as "storage" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "unknown kind");
  t.equal((await failure(w.client.call("provider_list", { cursor: "zz" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "bad cursor");

  // the relay exits: exiting (collateral locked) through its unbonding, then gone from the default list, there with includeExited
  await commit(t, w, [txNext(w.chain, RELAY, { type: "provider.exit" })]);
  const releaseEpoch = epochOfHeightForExit(height(w), L(w)) + EXIT_UNBONDING_EPOCHS - 1n;
  t.match(await w.client.call("provider_get", { address: addr(RELAY) }), { status: "exiting", releaseEpoch: Number(releaseEpoch) }, "exiting until the end of its release epoch");
  const release = lastHeightOfEpoch(releaseEpoch, L(w));
  while (height(w) < release - 1n) await commit(t, w, []);
  t.match(await w.client.call("provider_get", { address: addr(RELAY) }), { status: "exiting", releaseEpoch: Number(releaseEpoch) }, "still exiting in the release epoch's last block but one");
  await commit(t, w, []);
  t.match(await w.client.call("provider_get", { address: addr(RELAY) }), { status: "exited", releaseEpoch: null }, "released with that epoch's last block: exited, no release epoch");
  t.same((await w.client.call("provider_list", { kind: "bandwidth" })).providers, [], "exited providers are left out");
  t.equal((await w.client.call("provider_list", { kind: "bandwidth", includeExited: true })).providers.length, 1);
});

t.test("storage_getDeal and storage_listDeals over the store's deal index", async (t) => {
  const w = await setup(t);
  const d = await w.client.call("storage_getDeal", { id: toHex(w.a) });
  const prover = w.provers.get(toHex(w.a))!;
  t.same(d, {
    id: toHex(w.a), client: addr(CLIENT), provider: addr(PROVIDER), root: toHex(prover.root), size: "3000", chunkSize: 256, chunkCount: "12", pricePerEpoch: "1000",
    durationEpochs: 3, collateral: "10000", collateralLeft: "10000", escrow: "3000", createdAt: 2, startEpoch: 1, challenged: 0, misses: 0,
    lastProvenEpoch: null, status: "active", endedAt: null, order: null, network: false, placement: null,
  }, "a direct deal: no order, no placement");
  t.equal(await w.client.call("storage_getDeal", { id: "00".repeat(32) }), null, "unknown: null");
  t.equal((await failure(w.client.call("storage_getDeal", { id: "abcd" }))).rpcCode, RpcErrorCode.INVALID_PARAMS);

  const ids = (r: { deals: { id: string }[] }) => r.deals.map((x) => x.id);
  const sorted = (xs: Uint8Array[]) => xs.map(toHex).sort();
  t.same(ids(await w.client.call("storage_listDeals", { client: addr(CLIENT) })), sorted([w.a, w.b]), "by client, in id order");
  t.same(ids(await w.client.call("storage_listDeals", { provider: addr(PROVIDER) })), sorted([w.a, w.b]), "by provider");
  t.same(ids(await w.client.call("storage_listDeals", { provider: addr(PROVIDER2) })), [toHex(w.c)]);
  t.same(ids(await w.client.call("storage_listDeals", { client: addr(PROVIDER) })), [], "none");
  t.same(ids(await w.client.call("storage_listDeals", {})), sorted([w.a, w.b, w.c]), "neither: every active deal");
  const page1 = await w.client.call("storage_listDeals", { client: addr(CLIENT), limit: 1 });
  t.ok(page1.nextCursor, "a full page has a cursor");
  const page2 = await w.client.call("storage_listDeals", { client: addr(CLIENT), limit: 1, cursor: page1.nextCursor! });
  t.same([...ids(page1), ...ids(page2)], sorted([w.a, w.b]), "two pages of one");
  t.equal((await failure(w.client.call("storage_listDeals", { client: addr(CLIENT), provider: addr(PROVIDER) }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "both");
  t.equal((await failure(w.client.call("storage_listDeals", { client: addr(CLIENT), limit: 0 }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "limit 0");

  // deal b (one epoch) is missed and ends at the end of epoch 1; a and c stay active
  await toHeight(t, w, lastHeightOfEpoch(1n, L(w)));
  const b = await w.client.call("storage_getDeal", { id: toHex(w.b) });
  t.same([b?.status, b?.misses, b?.endedAt, b?.escrow], ["completed", 1, 1, "0"], "b ended after its only epoch (missed: escrow refunded)");
  t.same(ids(await w.client.call("storage_listDeals", { client: addr(CLIENT), activeOnly: true })), [toHex(w.a)], "activeOnly leaves the ended deal out");
  t.same(ids(await w.client.call("storage_listDeals", { client: addr(CLIENT) })), sorted([w.a, w.b]), "without activeOnly it is listed");
  t.same(ids(await w.client.call("storage_listDeals", { activeOnly: true })), sorted([w.a, w.c]));
});

t.test("storage_getChallenges, proof_submitStorage and rewards_getEpoch through an epoch", async (t) => {
  const w = await setup(t);
  // deals landed in epoch 0 (heights 1-4) and are first challenged in epoch 1 (heights 5-8)
  t.equal(epochOfHeight(height(w), L(w)), 0n);
  const early = await w.client.call("storage_getChallenges", { provider: addr(PROVIDER) });
  t.same([early.epoch, early.challenges.length], [0, 0], "nothing challenged in the landing epoch");
  const future = await w.client.call("storage_getChallenges", { provider: addr(PROVIDER), epoch: 1 });
  t.same([future.known, future.seed, future.window], [false, null, { from: 6, to: 8 }], "epoch 1: not known yet, its window is 6..8");

  await toHeight(t, w, firstHeightOfEpoch(1n, L(w)));
  const seed = epochSeed(w.chain.state, 1n)!;
  const ch = await w.client.call("storage_getChallenges", { provider: addr(PROVIDER) });
  t.same([ch.epoch, ch.known, ch.seed, ch.headHeight, ch.window, ch.challengesPerDeal], [1, true, toHex(seed), 5, { from: 6, to: 8 }, K]);
  const expect = [w.a, w.b].sort((x, y) => (toHex(x) < toHex(y) ? -1 : 1)).map((id) => {
    const p = w.provers.get(toHex(id))!;
    return { dealId: toHex(id), chunkCount: p.chunkCount.toString(), indices: challengeIndices(seed, id, p.chunkCount, K).map(String), proven: false };
  });
  t.same(ch.challenges, expect, "each deal's k indices, as the chain derives them");
  t.same((await w.client.call("storage_getChallenges", { provider: addr(PROVIDER2) })).challenges.map((c) => c.dealId), [toHex(w.c)]);
  t.equal((await failure(w.client.call("storage_getChallenges", { provider: addr(PROVIDER), epoch: -1 }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "negative epoch");
  t.equal((await failure(w.client.call("storage_getChallenges", { provider: "x" }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "bad address");

  // proof_submitStorage: a good proof of deal a, from the indices the RPC gave
  const proverA = w.provers.get(toHex(w.a))!;
  const chA = ch.challenges.find((c) => c.dealId === toHex(w.a))!;
  const proofOp = (id: Uint8Array, epoch: bigint, chunks = chA.indices.map((i) => proverA.prove(BigInt(i)))): Operation => ({ type: "storage.proof", deal: id, epoch, chunks });
  const nonceOf = (k: KeyPair) => w.chain.state.account(k.publicKey).nonce + BigInt(w.mempool.pending(k.publicKey).length);
  const sign = (k: KeyPair, op: Operation) => toHex(signTx({ chainId: w.chain.genesis.chainId, nonce: nonceOf(k), fee: 1000n, op }, k).bytes);
  const submit = (hex: string) => w.client.call("proof_submitStorage", { tx: hex });

  // refused before the mempool, with the chain's codes
  const wrongChunks = proofOp(w.a, 1n, chA.indices.map((i) => ({ ...proverA.prove(BigInt(i)), chunk: new Uint8Array(proverA.prove(BigInt(i)).chunk).fill(7) })));
  t.same(await failure(submit(sign(PROVIDER, wrongChunks))), { rpcCode: RpcErrorCode.SERVER_ERROR, code: StorageErrorCode.BAD_PATH }, "tampered chunks: STORAGE_PROOF_BAD_PATH");
  const shifted = proofOp(w.a, 1n, chA.indices.map((i) => proverA.prove((BigInt(i) + 1n) % 12n)));
  t.equal((await failure(submit(sign(PROVIDER, shifted)))).code, StorageErrorCode.WRONG_CHUNK, "other chunks: STORAGE_PROOF_WRONG_CHUNK");
  t.equal((await failure(submit(sign(PROVIDER, proofOp(w.a, 2n))))).code, StorageErrorCode.WRONG_EPOCH, "a future epoch");
  t.equal((await failure(submit(sign(PROVIDER2, proofOp(w.a, 1n))))).code, StorageErrorCode.NOT_DEAL_PROVIDER, "another provider's deal");
  t.equal((await failure(submit(sign(PROVIDER, { type: "transfer", to: CLIENT.publicKey, amount: 1n })))).code, StorageRpcErrorCode.NOT_A_STORAGE_PROOF, "a transfer: NOT_A_STORAGE_PROOF");
  t.equal((await failure(submit("00"))).code, TxErrorCode.MALFORMED, "not a transaction: TX_MALFORMED");
  const good = sign(PROVIDER, proofOp(w.a, 1n));
  const badSig = good.slice(0, -2) + (parseInt(good.slice(-2), 16) ^ 1).toString(16).padStart(2, "0");
  t.equal((await failure(submit(badSig))).code, TxErrorCode.BAD_SIGNATURE, "a signature that does not verify: TX_BAD_SIGNATURE, before any state check");
  t.equal((await failure(submit("xyz"))).rpcCode, RpcErrorCode.INVALID_PARAMS, "not hex: invalid params");
  t.equal(w.mempool.size, 0, "nothing refused reached the mempool");

  const ok = await submit(sign(PROVIDER, proofOp(w.a, 1n)));
  t.same([ok.deal, ok.epoch], [toHex(w.a), 1]);
  const pending = w.mempool.get(fromHex(ok.hash));
  t.equal(pending?.op.type, "storage.proof", "the proof is in the mempool");
  await commit(t, w, [pending!]);
  const after = await w.client.call("storage_getChallenges", { provider: addr(PROVIDER) });
  t.same(after.challenges.map((c) => [c.dealId, c.proven]), expect.map((c) => [c.dealId, c.dealId === toHex(w.a)]), "deal a proven, b not");
  t.equal((await failure(submit(sign(PROVIDER, proofOp(w.a, 1n))))).code, StorageErrorCode.DUPLICATE_PROOF, "proving twice is refused");

  // the epoch ends: a is paid and earns the storage pool, b is slashed and ends
  const current = await w.client.call("rewards_getEpoch", { epoch: 1 });
  const schedule = rewardSchedule(w.chain.state, w.chain.genesis.params);
  t.same(current, {
    epoch: 1, status: "current", reward: schedule.reward.toString(),
    pools: {
      storage: schedule.storagePool.toString(), bandwidth: schedule.bandwidthPool.toString(),
      witness: ((schedule.bandwidthPool * BigInt(w.chain.genesis.params.witnessShareBps)) / 10_000n).toString(), validator: schedule.validatorPool.toString(),
    },
    minted: "0", endedAtHeight: null, firstHeight: 5, lastHeight: 8, mints: [], storagePayments: null,
  }, "the epoch in progress: its schedule, no mints");
  t.equal(await w.client.call("rewards_getEpoch", { epoch: 2 }), null, "a future epoch: null");
  const mintedBefore = w.chain.state.meta().minted;
  await toHeight(t, w, lastHeightOfEpoch(1n, L(w)));
  const ended = await w.client.call("rewards_getEpoch", { epoch: 1 });
  t.same(ended, {
    epoch: 1, status: "ended", reward: schedule.reward.toString(),
    pools: current!.pools, minted: schedule.validatorPool.toString(), endedAtHeight: 8, firstHeight: 5, lastHeight: 8,
    mints: [{ to: addr(w.chain.validator), amount: schedule.validatorPool.toString(), pool: "validator", basis: "4", reputationBps: 10_000 }],
    storagePayments: { network: { deals: 0, amount: "0" }, direct: { deals: 1, amount: "1000" } },
  }, "what was minted to whom and why: the validator by signed blocks; the direct deal earns nothing of the storage pool (it is paid its price)");
  t.equal(w.chain.state.meta().minted - mintedBefore, BigInt(ended!.minted), "the index agrees with meta.minted");
  const e0 = await w.client.call("rewards_getEpoch", { epoch: 0 });
  t.same([e0?.status, e0?.mints.map((m) => m.pool)], ["ended", ["validator"]], "epoch 0: only the validator earned");
  t.equal((await failure(w.client.call("rewards_getEpoch", { epoch: "1.5" as unknown as number }))).rpcCode, RpcErrorCode.INVALID_PARAMS, "a non-integer epoch");
  t.equal((await w.client.call("provider_get", { address: addr(PROVIDER) }))?.reputationBps, 5000, "provider_get shows the reputation");
  t.equal((await w.client.call("provider_get", { address: addr(PROVIDER) }))?.banned, true, "and the ban for the missed proof");
});
