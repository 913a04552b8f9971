/**
 * Transaction admission (node/tx-ingest.ts): signatures checked on the real worker pool, results
 * in arrival order, bounded admission; and over real JSON-RPC on a real node, tx_send past the
 * bound answers the typed BUSY error (-32006) while every transaction it took is finalized.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import t from "tap";
import { Mempool, MempoolErrorCode } from "../../../chain/mempool.ts";
import { clearVerifiedTxCache, isTxVerified, signTx, TxErrorCode, validateTxBasic, type SignedTx } from "../../../chain/tx.ts";
import { applyBlock } from "../../../chain/transition.ts";
import { toHex } from "../../../primitives/bytes.ts";
import { devnetFaucetKey, devnetGenesis } from "../../../genesis/devnet.ts";
import { CloudcoinNode } from "../../../node/node.ts";
import { applyBlockVerifying, IngestErrorCode, PEER_HEADROOM, preverifyTxs, TxIngest } from "../../../node/tx-ingest.ts";
import { VerifyPool, type BatchVerifier } from "../../../node/verify-pool.ts";
import { RpcErrorCode } from "../../../rpc/errors.ts";
import { build, newTestChain, testKey } from "../../helpers/chain.ts";
import { rpc, waitFor } from "../../helpers/process.ts";

const chain = newTestChain({ balances: Array.from({ length: 8 }, (_, i) => ({ key: testKey(300 + i), amount: 10n ** 15n })) });
const chainId = chain.genesis.chainId;
let amount = 1n;
const transfer = (sender: number, nonce: bigint): SignedTx =>
  signTx({ chainId, nonce, fee: 1000n, op: { type: "transfer", to: testKey(1).publicKey, amount } }, testKey(300 + sender));

function ingestOf(verifier: BatchVerifier, opts: { maxPending?: number; maxPooled?: number } = {}) {
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (s) => chain.state.account(s).nonce });
  const order: string[] = [];
  const ingest = new TxIngest(opts, {
    chainId, verifier, pooled: () => mempool.size, has: (h) => mempool.has(h),
    admit: (tx) => {
      mempool.add(tx);
      order.push(`${toHex(tx.sender).slice(0, 8)}/${tx.nonce}`);
    },
  });
  return { mempool, ingest, order };
}

t.test("signatures on the worker pool: forged ones refused, the rest admitted in arrival order", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  const { mempool, ingest } = ingestOf(pool);
  const txs = Array.from({ length: 8 }, (_, s) => Array.from({ length: 10 }, (_, n) => transfer(s, BigInt(n)))).flat();
  const forged = transfer(0, 10n);
  const bad = { ...forged, signature: forged.signature.slice() };
  bad.signature[3]! ^= 1;
  const wrongChain = signTx({ chainId: "other", nonce: 11n, fee: 1000n, op: { type: "transfer", to: testKey(1).publicKey, amount: 1n } }, testKey(300));
  const results = await ingest.submit([...txs, bad, wrongChain, txs[0]!]);
  t.equal(results.slice(0, 80).filter((r) => r === null).length, 80, "the 80 valid ones were admitted");
  t.equal(results[80]?.code, TxErrorCode.BAD_SIGNATURE, "a forged signature found by a worker");
  t.equal(results[81]?.code, TxErrorCode.WRONG_CHAIN_ID, "stateless rules before any signature check");
  t.equal(results[82]?.code, MempoolErrorCode.ALREADY_KNOWN, "a repeat within the same submission");
  t.equal(mempool.size, 80);
  t.equal(ingest.pending, 0, "nothing waits any more");
  // the pool order is the submission order even when later checks finish first
  amount = 2n; // new hashes: nothing is in the verified-signature cache yet
  const { ingest: i2, order } = ingestOf(pool);
  const big = Array.from({ length: 64 }, (_, n) => transfer(1, BigInt(n % 60)));
  const small = transfer(2, 0n);
  await Promise.all([i2.submit(big), i2.submit([small])]);
  t.equal(order.length, 61);
  t.equal(order[60], `${toHex(small.sender).slice(0, 8)}/0`, "the large first submission was admitted before the small second one");

});

t.test("a proposal's transactions are checked on the pool before execution: valid ones cached, forged ones left to the block's validation", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  amount = 7n; // fresh hashes, not in the verified-signature cache
  const txs = Array.from({ length: 40 }, (_, n) => transfer(n % 8, BigInt(100 + n)));
  const forged = transfer(1, 200n);
  const bad = { ...forged, signature: forged.signature.slice() };
  bad.signature[5]! ^= 1;
  t.notOk(txs.some(isTxVerified), "nothing known before");
  await preverifyTxs([...txs, bad], pool);
  t.ok(txs.every(isTxVerified), "every valid signature is known verified: executing the block is a lookup");
  t.notOk(isTxVerified(bad), "a forged signature is not remembered");
  t.throws(() => validateTxBasic(bad, chainId), { code: TxErrorCode.BAD_SIGNATURE }, "so the block's own validation still refuses it");
  // a pool that fails leaves everything to the block's validation, and does not reject
  amount = 8n;
  const more = [transfer(2, 300n), transfer(3, 300n)];
  await preverifyTxs(more, { verifyMany: () => Promise.reject(new Error("pool closed")) });
  t.notOk(more.some(isTxVerified), "nothing remembered when the pool failed");
});

t.test("a block executes while the pool checks its signatures: applyBlock's answer, whichever signature fails", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  const { params } = chain.genesis;
  const forge = (tx: SignedTx): SignedTx => {
    const signature = tx.signature.slice();
    signature[7]! ^= 1;
    return { ...tx, signature };
  };
  const blockOf = (txs: SignedTx[]) => build(chain, txs).block;
  const same = (a: () => unknown, b: () => unknown): { code?: string; message?: string } => {
    const grab = (f: () => unknown) => {
      try {
        f();
        return {};
      } catch (e) {
        return { code: (e as { code?: string }).code, message: (e as Error).message };
      }
    };
    const x = grab(a);
    t.same(x, grab(b), "the same error as applyBlock");
    return x;
  };

  // valid: the same result as applyBlock, every signature now known
  amount = 11n;
  const valid = Array.from({ length: 48 }, (_, n) => transfer(n % 8, BigInt(n >> 3)));
  const block = blockOf(valid);
  clearVerifiedTxCache();
  const calls: number[] = [];
  const counting: BatchVerifier = { verifyMany: (items) => (calls.push(items.length), pool.verifyMany(items)) };
  const result = await applyBlockVerifying(chain.state, block, params, chainId, counting);
  t.same(calls, [48], "all 48 unchecked signatures went to the pool in one request");
  t.ok(valid.every(isTxVerified), "and are remembered");
  clearVerifiedTxCache();
  t.same(result.state.root(), applyBlock(chain.state, block, params, chainId).state.root(), "the state applyBlock reaches");
  t.same(result.receipts, applyBlock(chain.state, block, params, chainId).receipts);
  // all known: nothing sent
  calls.length = 0;
  await applyBlockVerifying(chain.state, block, params, chainId, counting);
  t.same(calls, [], "signatures already verified are not sent again");

  // a forged signature in the middle: refused as applyBlock refuses it, at its index
  amount = 12n;
  const withForged = Array.from({ length: 48 }, (_, n) => transfer(n % 8, BigInt(n >> 3)));
  withForged[29] = forge(withForged[29]!);
  const bad = blockOf(withForged);
  clearVerifiedTxCache();
  let error: unknown;
  await applyBlockVerifying(chain.state, bad, params, chainId, pool).catch((e) => (error = e));
  t.match(error, { code: TxErrorCode.BAD_SIGNATURE, data: { index: 29 } }, "BAD_SIGNATURE at index 29");
  clearVerifiedTxCache();
  same(() => { throw error; }, () => applyBlock(chain.state, bad, params, chainId));
  t.notOk(isTxVerified(withForged[29]!), "the forged one is not remembered");

  // a transaction for another chain, validly signed: the stateless rules still run in the fast pass
  amount = 13n;
  const other = Array.from({ length: 40 }, (_, n) => transfer(n % 8, BigInt(n >> 3)));
  other[35] = signTx({ chainId: "another-chain", nonce: 4n, fee: 1000n, op: { type: "transfer", to: testKey(1).publicKey, amount } }, testKey(303));
  const foreign = blockOf(other);
  clearVerifiedTxCache();
  error = undefined;
  await applyBlockVerifying(chain.state, foreign, params, chainId, pool).catch((e) => (error = e));
  t.match(error, { code: TxErrorCode.WRONG_CHAIN_ID, data: { index: 35 } }, "WRONG_CHAIN_ID at index 35, every signature being valid");
  clearVerifiedTxCache();
  same(() => { throw error; }, () => applyBlock(chain.state, foreign, params, chainId));

  // both: a forged signature before the foreign transaction: the forged one is the first error
  other[3] = forge(other[3]!);
  const both = blockOf(other);
  clearVerifiedTxCache();
  error = undefined;
  await applyBlockVerifying(chain.state, both, params, chainId, pool).catch((e) => (error = e));
  t.match(error, { code: TxErrorCode.BAD_SIGNATURE, data: { index: 3 } }, "the first bad transaction in block order");

  // a failing pool: the ordinary path's answer
  clearVerifiedTxCache();
  const failing: BatchVerifier = { verifyMany: () => Promise.reject(new Error("pool closed")) };
  const again = await applyBlockVerifying(chain.state, block, params, chainId, failing);
  t.same(again.state.root(), result.state.root(), "a failed pool changes nothing but the speed");
  clearVerifiedTxCache();
  error = undefined;
  await applyBlockVerifying(chain.state, bad, params, chainId, failing).catch((e) => (error = e));
  t.match(error, { code: TxErrorCode.BAD_SIGNATURE, data: { index: 29 } });
});

t.test("admission is bounded: past maxPending or maxPooled a submission is refused BUSY, taking none", async (t) => {
  amount = 3n;
  // a verifier that answers when told to, so the waiting transactions stay waiting
  const held: (() => void)[] = [];
  const gated: BatchVerifier = { verifyMany: (items) => new Promise((resolve) => held.push(() => resolve(items.map(() => true)))) };
  const { mempool, ingest } = ingestOf(gated, { maxPending: 3, maxPooled: 5 });
  const first = ingest.submit([transfer(0, 0n), transfer(0, 1n)]);
  await t.rejects(ingest.submit([transfer(1, 0n), transfer(1, 1n)]), { code: IngestErrorCode.BUSY }, "2 waiting + 2 > maxPending 3");
  const second = ingest.submit([transfer(1, 0n)]);
  t.equal(ingest.pending, 3);
  t.equal(ingest.refused, 1);
  held.splice(0).forEach((go) => go());
  t.same((await Promise.all([first, second])).flat(), [null, null, null], "what was taken was admitted");
  t.equal(mempool.size, 3);
  const third = ingest.submit([transfer(2, 0n), transfer(2, 1n)]);
  await t.rejects(ingest.submit([transfer(3, 0n)]), { code: IngestErrorCode.BUSY }, "3 pooled + 2 waiting + 1 > maxPooled 5");
  held.splice(0).forEach((go) => go());
  t.same(await third, [null, null]);
  t.equal(mempool.size, 5);
  // a peer's gossip gets PEER_HEADROOM times the bounds: a full pool for clients still takes it
  await t.rejects(ingest.submit([transfer(4, 0n)]), { code: IngestErrorCode.BUSY }, "a client is refused at maxPooled");
  const fromPeer = ingest.submit([transfer(4, 0n), transfer(4, 1n), transfer(5, 0n)], "peer");
  await t.rejects(ingest.submit([transfer(6, 0n), transfer(6, 1n), transfer(6, 2n), transfer(6, 3n)], "peer"), { code: IngestErrorCode.BUSY }, `3 waiting + 4 > ${3 * PEER_HEADROOM} for a peer`);
  held.splice(0).forEach((go) => go());
  t.same(await fromPeer, [null, null, null], "taken from a peer past the clients' bound");
  t.equal(mempool.size, 8);
  await t.rejects(ingest.submit([transfer(7, 0n), transfer(7, 1n), transfer(7, 2n)], "peer"), { code: IngestErrorCode.BUSY }, `8 pooled + 3 > ${5 * PEER_HEADROOM} for a peer`);
  t.equal(ingest.refused, 5, "every refusal counted");
  // refuse() is busy() counted: what tx_send calls before decoding anything
  t.equal(ingest.refuse(1, "peer"), null, "room for one more from a peer");
  const refusal = ingest.refuse(1);
  t.equal(refusal?.code, IngestErrorCode.BUSY);
  t.equal(ingest.refused, 6, "a refusal by refuse() is counted too");
  // thousands of these a second under overload: no stack is captured for them
  t.equal(refusal?.stack?.split("\n").length, 1, "a BUSY refusal carries no stack frames");
  t.match(refusal?.stack, /^IngestError: the node is busy/);
  t.same(refusal?.data, { pending: 0, pooled: 8, maxPending: 3, maxPooled: 5 }, "what the bounds were");
});

t.test("tx_send over real JSON-RPC on a real node: past the bound the typed BUSY error; what it took is finalized", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "cloudcoin-ingest-"));
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const node = await CloudcoinNode.start({
    home, rpcHost: "127.0.0.1", rpcPort: 0, logLevel: "silent", logDestination: quiet, p2pListen: ["/ip4/127.0.0.1/tcp/0"], txIngest: { maxPooled: 4 },
  });
  t.teardown(async () => {
    await node.stop();
    rmSync(home, { recursive: true, force: true });
  });
  const faucet = devnetFaucetKey();
  const devnetChainId = devnetGenesis().chainId;
  const send = (nonce: bigint) => signTx({ chainId: devnetChainId, nonce, fee: 1_000_000n, op: { type: "transfer", to: testKey(9).publicKey, amount: 1n } }, faucet);
  const txs = Array.from({ length: 10 }, (_, i) => send(BigInt(i)));
  // one JSON-RPC batch: its calls start in the same turn, so the first four fill the bound
  const res = await fetch(node.rpc.url, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(txs.map((tx, i) => ({ jsonrpc: "2.0", id: i, method: "tx_send", params: { tx: toHex(tx.bytes) } }))),
  });
  const answers = (await res.json()) as { id: number; result?: { hash: string }; error?: { code: number; data?: { code?: string } } }[];
  const taken = answers.filter((a) => a.result !== undefined);
  const busy = answers.filter((a) => a.error !== undefined);
  t.same(taken.map((a) => a.id), [0, 1, 2, 3], "the first four were taken");
  t.same(taken.map((a) => a.result!.hash), txs.slice(0, 4).map((tx) => toHex(tx.hash)));
  t.equal(busy.length, 6);
  t.ok(busy.every((a) => a.error!.code === RpcErrorCode.BUSY && a.error!.data?.code === IngestErrorCode.BUSY), "the rest: BUSY (-32006) with its typed code");
  for (const a of taken) {
    await waitFor(`tx ${a.id} finalized`, async () => ((await rpc(node.rpc.url, "tx_get", { hash: a.result!.hash })).result.status === "finalized" ? true : undefined));
  }
  // room again: the refused ones are taken now
  const later = await rpc(node.rpc.url, "tx_send", { tx: toHex(txs[4]!.bytes) });
  t.equal(later.result?.hash, toHex(txs[4]!.hash), "once blocks took the pool, a refused transaction is accepted");
  const doc = (await rpc(node.rpc.url, "rpc_discover")).result;
  const sendErrors = doc.methods.find((m: { name: string }) => m.name === "tx_send").errors as { code: number }[];
  t.ok(sendErrors.some((e) => e.code === RpcErrorCode.BUSY), "the OpenRPC document lists BUSY for tx_send");
});
