/**
 * Payment channels over JSON-RPC: the real method table on a real server (127.0.0.1, ephemeral
 * port), over a real BlockStore fed with blocks from the real transition. Checks the channel
 * index (listChannels), the node-local voucher store, and the `sign` tier of paych_redeem.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import t, { type Test } from "tap";
import { fromHex, toHex } from "../../../../primitives/bytes.ts";
import { toAddress, type KeyPair } from "../../../../primitives/keys.ts";
import { Mempool } from "../../../../chain/mempool.ts";
import { channelId, encodeVoucher, PaychErrorCode, readChannel, signVoucher, type Voucher } from "../../../../modules/paych/paych.ts";
import { BlockStore } from "../../../../chain/store.ts";
import { openVoucherStore, type VoucherStore } from "../../../../modules/paych/vouchers.ts";
import { CodedError } from "../../../../primitives/errors.ts";
import { signTx, type Operation, type SignedTx } from "../../../../chain/tx.ts";
import { genesisState } from "../../../../genesis/schema.ts";
import type { RpcContext } from "../../../../rpc/context.ts";
import { RpcErrorCode } from "../../../../rpc/errors.ts";
import { RpcAppErrorCode } from "../../../../rpc/methods.ts";
import { startRpcServer, type RpcServer } from "../../../../rpc/server.ts";
import { advanceChecked, newTestChain, testKey, tx, txNext, type TestChain } from "../../../helpers/chain.ts";
import { testRpcContext } from "../../../helpers/rpc-context.ts";
import { methods } from "../../../../modules/rpc.ts";
import { VERIFIED_VOUCHERS_MAX, voucherSignatureChecks } from "../../../../modules/paych/rpc.ts";
import { GateErrorCode, VoucherGate, watchCloses } from "../../../../plugins/paid-content/vouchers.ts";

const PAYER = testKey(401);
const PAYEE = testKey(402);
const OTHER = testKey(403);
const TOKEN = "paych-test-sign-token";

interface World {
  chain: TestChain;
  store: BlockStore;
  vouchers: VoucherStore;
  mempool: Mempool<SignedTx>;
  dir: string;
  /** channels opened in setup: payer -> payee */
  a: Uint8Array; // PAYER -> PAYEE, deposit 1000
  b: Uint8Array; // PAYER -> OTHER
  c: Uint8Array; // OTHER -> PAYEE
  d: Uint8Array; // PAYER -> PAYEE, deposit 50
}

async function commit(t: Test, w: Pick<World, "chain" | "store">, txs: SignedTx[]): Promise<void> {
  const built = advanceChecked((m) => t.fail(m), w.chain, txs);
  t.equal(built.rejected.length, 0, "no transaction left out");
  await w.store.commitBlock(built.block, w.chain.lastCommit!, built);
}

async function setup(t: Test): Promise<World> {
  const chain = newTestChain({ balances: [PAYER, PAYEE, OTHER].map((key) => ({ key, amount: 1_000_000_000n })), params: { minSettleDelay: 1 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloudcoin-paych-"));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = await BlockStore.open(dir, { chainId: chain.genesis.chainId, genesisHash: chain.genesis.hash, genesisState: () => genesisState(chain.genesis) });
  const open = (from: KeyPair, nonce: bigint, to: KeyPair, deposit: bigint) => tx(chain, from, nonce, { type: "paych.open", payee: to.publicKey, deposit, settleDelay: 2n });
  await commit(t, { chain, store }, [open(PAYER, 0n, PAYEE, 1000n), open(PAYER, 1n, OTHER, 100n), open(OTHER, 0n, PAYEE, 100n)]);
  await commit(t, { chain, store }, [open(PAYER, 2n, PAYEE, 50n)]);
  const vouchers = await openVoucherStore(store);
  const mempool = new Mempool<SignedTx>({}, { accountNonce: (sender) => chain.state.account(sender).nonce });
  return {
    chain, store, vouchers, mempool, dir,
    a: channelId(PAYER.publicKey, 0n), b: channelId(PAYER.publicKey, 1n), c: channelId(OTHER.publicKey, 0n), d: channelId(PAYER.publicKey, 2n),
  };
}

function contextOf(w: World, serviceKey: KeyPair | null): RpcContext {
  return testRpcContext(w, {
    vouchers: w.vouchers,
    serviceAccount: serviceKey ? serviceKey.publicKey : null,
    submitServiceTx: (op: Operation) => {
      if (!serviceKey) throw new CodedError(RpcAppErrorCode.NO_SERVICE_KEY, "no service key");
      const nonce = w.chain.state.account(serviceKey.publicKey).nonce + BigInt(w.mempool.pending(serviceKey.publicKey).length);
      const signed = signTx({ chainId: w.chain.genesis.chainId, nonce, fee: w.chain.genesis.params.minTxFee, op }, serviceKey);
      w.mempool.add(signed);
      return signed;
    },
  });
}

async function serve(t: Test, ctx: RpcContext): Promise<RpcServer> {
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [{ token: TOKEN, permissions: ["sign"] }], checkResults: true }, methods, ctx);
  t.teardown(() => server.close());
  return server;
}

interface Reply {
  result?: any;
  error?: { code: number; message: string; data?: any };
}

let nextId = 1;
async function call(server: RpcServer, method: string, params: unknown, token?: string): Promise<Reply> {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  });
  return (await res.json()) as Reply;
}

const hexV = (v: Voucher) => toHex(encodeVoucher(v));
const sign = (w: World, channel: Uint8Array, amount: bigint, nonce: bigint, key: KeyPair = PAYER) => signVoucher(w.chain.genesis.chainId, key, { channel, amount, nonce });

t.test("paych_get and paych_list over the store's channel index", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const got = await call(server, "paych_get", { channel: toHex(w.a) });
  t.same(got.result, {
    id: toHex(w.a), payer: toAddress(PAYER.publicKey), payee: toAddress(PAYEE.publicKey), deposit: "1000", redeemed: "0", remaining: "1000",
    nonce: "0", settleDelay: 2, closingAt: 0, state: "open",
  });
  t.equal((await call(server, "paych_get", { channel: toHex(channelId(OTHER.publicKey, 77n)) })).result, null, "unknown channel: null");
  t.equal((await call(server, "paych_get", { channel: "abcd" })).error?.code, RpcErrorCode.INVALID_PARAMS, "not hex32");

  const ids = (r: Reply) => (r.result.channels as { id: string }[]).map((c) => c.id);
  const sorted = (xs: Uint8Array[]) => xs.map(toHex).sort();
  t.same(ids(await call(server, "paych_list", { payer: toAddress(PAYER.publicKey) })), sorted([w.a, w.b, w.d]), "by payer, in id order");
  t.same(ids(await call(server, "paych_list", { payee: toAddress(PAYEE.publicKey) })), sorted([w.a, w.c, w.d]), "by payee");
  t.same(ids(await call(server, "paych_list", { payee: toAddress(OTHER.publicKey) })), [toHex(w.b)], "the other payee");
  t.same(ids(await call(server, "paych_list", { payer: toAddress(PAYEE.publicKey) })), [], "no channels");
  // paging, one at a time
  const seen: string[] = [];
  let cursor: string | null | undefined;
  for (let i = 0; i < 5; i++) {
    const page = await call(server, "paych_list", { payer: toAddress(PAYER.publicKey), limit: 1, ...(cursor ? { cursor } : {}) });
    seen.push(...ids(page));
    cursor = page.result.nextCursor;
    if (!cursor) break;
  }
  t.same(seen, sorted([w.a, w.b, w.d]), "pages cover every channel once");
  t.equal((await call(server, "paych_list", {})).error?.code, RpcErrorCode.INVALID_PARAMS, "neither payer nor payee");
  t.equal((await call(server, "paych_list", { payer: toAddress(PAYER.publicKey), payee: toAddress(PAYEE.publicKey) })).error?.code, RpcErrorCode.INVALID_PARAMS, "both");
  t.equal((await call(server, "paych_list", { payer: toAddress(PAYER.publicKey), limit: 101 })).error?.code, RpcErrorCode.INVALID_PARAMS, "limit above 100");
  // state transitions show in the JSON
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.close", channel: w.d })]);
  const closing = (await call(server, "paych_get", { channel: toHex(w.d) })).result;
  t.equal(closing.state, "closing");
  t.equal(closing.closingAt, Number(w.chain.state.meta().height) + 2);
  await commit(t, w, []);
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.withdraw", channel: w.d })]);
  const settled = (await call(server, "paych_get", { channel: toHex(w.d) })).result;
  t.same([settled.state, settled.remaining], ["settled", "0"]);
  await w.store.close();
});

t.test("paych_checkVoucher and paych_submitVoucher: answers and every rejection code", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const check = (v: Voucher | string) => call(server, "paych_checkVoucher", { voucher: typeof v === "string" ? v : hexV(v) });
  const submit = (v: Voucher) => call(server, "paych_submitVoucher", { voucher: hexV(v) });

  t.same((await check(sign(w, w.a, 100n, 1n))).result, {
    ok: true, channel: toHex(w.a), amount: "100", nonce: "1", payable: "100", remaining: "900", settleDelay: 2, closingAt: 0, state: "open",
  }, "with the channel's settle delay and closing state");
  // a payee learns that the payer closed the channel, and how long it has to redeem
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.close", channel: w.d })]);
  const closedAt = w.chain.state.meta().height;
  t.match((await check(sign(w, w.d, 10n, 1n))).result, { settleDelay: 2, closingAt: Number(closedAt) + 2, state: "closing" }, "closing: closingAt is when the payer may withdraw");
  t.same((await submit(sign(w, w.a, 100n, 1n))).result, { stored: true, channel: toHex(w.a), amount: "100", nonce: "1" }, "stored");
  t.same((await submit(sign(w, w.a, 100n, 1n))).result, { stored: false, channel: toHex(w.a), amount: "100", nonce: "1" }, "the same voucher again: not stored, no error");
  t.same((await check(sign(w, w.a, 250n, 2n))).result?.payable, "150", "payable over the best held voucher");
  t.equal((await call(server, "paych_get", { channel: toHex(w.a) })).result.bestVoucher?.nonce, "1", "paych_get shows the best voucher");

  // redeem 300 on chain: payable is then over the redeemed amount
  await commit(t, w, [txNext(w.chain, PAYEE, { type: "paych.redeem", voucher: sign(w, w.a, 300n, 3n) })]);
  t.equal(readChannel(w.chain.state, w.a)?.redeemed, 300n);
  t.same((await check(sign(w, w.a, 310n, 4n))).result?.payable, "10", "payable over the redeemed amount");

  const wrongChain = signVoucher("another-chain", PAYER, { channel: w.a, amount: 400n, nonce: 5n });
  const cases: [string, Voucher | string, string][] = [
    ["not a voucher", "00", PaychErrorCode.MALFORMED],
    ["a voucher with a short signature", hexV(sign(w, w.a, 400n, 5n)).slice(0, -2), PaychErrorCode.MALFORMED],
    ["unknown channel", sign(w, channelId(OTHER.publicKey, 50n), 1n, 1n), PaychErrorCode.UNKNOWN_CHANNEL],
    ["signed by the payee", sign(w, w.a, 400n, 5n, PAYEE), PaychErrorCode.BAD_SIGNATURE],
    ["signed for another chain", wrongChain, PaychErrorCode.BAD_SIGNATURE],
    ["beyond the deposit", sign(w, w.a, 1001n, 5n), PaychErrorCode.EXCEEDS_DEPOSIT],
    ["nonce of the redeemed voucher", sign(w, w.a, 400n, 3n), PaychErrorCode.STALE_NONCE],
    ["below the redeemed amount", sign(w, w.a, 299n, 5n), PaychErrorCode.NOT_MONOTONIC],
  ];
  for (const [name, v, code] of cases) {
    for (const method of ["check", "submit"] as const) {
      const r = method === "check" ? await check(v) : typeof v === "string" ? await call(server, "paych_submitVoucher", { voucher: v }) : await submit(v);
      t.equal(r.error?.code, RpcErrorCode.SERVER_ERROR, `${method} ${name}: -32000`);
      t.equal(r.error?.data?.code, code, `${method} ${name}: ${code}`);
    }
  }
  // against the best held voucher (nonce 1, amount 100 was overtaken on chain; store a better one)
  t.equal((await submit(sign(w, w.a, 500n, 10n))).result?.stored, true);
  t.equal((await check(sign(w, w.a, 500n, 10n))).error?.data?.code, PaychErrorCode.STALE_NONCE, "check: the best held nonce is stale");
  t.equal((await check(sign(w, w.a, 450n, 11n))).error?.data?.code, PaychErrorCode.NOT_MONOTONIC, "check: below the best held amount");
  t.equal((await submit(sign(w, w.a, 450n, 11n))).error?.data?.code, PaychErrorCode.NOT_MONOTONIC, "submit: a higher nonce for less is refused");
  t.same((await submit(sign(w, w.a, 480n, 9n))).result?.stored, false, "submit: an older voucher is not stored");
  t.equal(w.vouchers.getBestVoucher(w.a)?.nonce, 10n, "the best one stays");

  // settled channel: closed
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.close", channel: w.d })]);
  t.equal((await check(sign(w, w.d, 10n, 1n))).result?.payable, "10", "valid during the settle delay");
  await commit(t, w, []);
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.withdraw", channel: w.d })]);
  t.equal((await check(sign(w, w.d, 10n, 1n))).error?.data?.code, PaychErrorCode.CLOSED, "check: settled channel");
  t.equal((await submit(sign(w, w.d, 10n, 1n))).error?.data?.code, PaychErrorCode.CLOSED, "submit: settled channel");

  // the best voucher survives a restart (it is on disk), and checking needs no disk at all
  await w.store.close();
  const reopened = await BlockStore.open(w.dir, { chainId: w.chain.genesis.chainId, genesisHash: w.chain.genesis.hash, genesisState: () => genesisState(w.chain.genesis) });
  const again = await openVoucherStore(reopened);
  t.equal(toHex(encodeVoucher(again.getBestVoucher(w.a)!)), hexV(sign(w, w.a, 500n, 10n)), "reloaded from disk");
  await reopened.close();
  t.equal((await check(sign(w, w.a, 600n, 12n))).result?.payable, "100", "paych_checkVoucher answers with the database closed");
});

t.test("paych_submitVoucher does not verify again a signature paych_checkVoucher just verified (same bytes)", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const check = (v: Voucher) => call(server, "paych_checkVoucher", { voucher: hexV(v) });
  const submit = (v: Voucher) => call(server, "paych_submitVoucher", { voucher: hexV(v) });
  const v = sign(w, w.a, 123n, 1n);
  const before = voucherSignatureChecks.count;
  t.equal((await check(v)).result?.ok, true);
  t.equal(voucherSignatureChecks.count, before + 1, "checked once");
  t.equal((await submit(v)).result?.stored, true);
  t.equal(voucherSignatureChecks.count, before + 1, "submitted without a second verification");
  // other bytes are verified: a new voucher, and a tampered one (never remembered)
  t.equal((await submit(sign(w, w.a, 124n, 2n))).result?.stored, true);
  t.equal(voucherSignatureChecks.count, before + 2, "another voucher is verified");
  const bad = { ...sign(w, w.a, 200n, 3n) };
  const sig = new Uint8Array(bad.signature);
  sig[3] = sig[3]! ^ 1;
  for (let i = 0; i < 2; i++) {
    const r = await check({ ...bad, signature: sig });
    t.equal(r.error?.data?.code, PaychErrorCode.BAD_SIGNATURE, `tampered, try ${i + 1}: refused`);
  }
  t.equal(voucherSignatureChecks.count, before + 4, "a bad signature is verified every time (not cached)");
  // the terms are still checked on a cached voucher: once redeemed past it, it is stale
  await commit(t, w, [txNext(w.chain, PAYEE, { type: "paych.redeem", voucher: sign(w, w.a, 300n, 5n) })]);
  t.equal((await check(v)).error?.data?.code, PaychErrorCode.STALE_NONCE, "a remembered signature does not skip the terms");
  t.ok(VERIFIED_VOUCHERS_MAX >= 1024, "the cache is bounded");
});

t.test("the paid-content gate refuses short settle delays and closing channels, and redeems by itself when the payer closes", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const gate = new VoucherGate({ rpcUrl: server.url, payee: toAddress(PAYEE.publicKey), token: TOKEN, minSettleDelay: 3 });
  // channel a settles 2 blocks after a close: below the gate's minimum
  t.match(await gate.accept(hexV(sign(w, w.a, 100n, 1n)), 100n), { ok: false, code: GateErrorCode.SETTLE_DELAY_TOO_SHORT }, "a settle delay below the gate's minimum");
  const nonce = w.chain.state.account(PAYER.publicKey).nonce;
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.open", payee: PAYEE.publicKey, deposit: 1000n, settleDelay: 5n })]);
  const e = channelId(PAYER.publicKey, nonce);
  t.match(await gate.accept(hexV(sign(w, e, 300n, 1n)), 300n), { ok: true, paid: 300n }, "a channel with a long enough delay");
  const watch = watchCloses(gate, 3_600_000); // polled by hand below
  t.teardown(() => watch.stop());
  t.same(await watch.poll(), [], "nothing closing: nothing redeemed");
  // the payer closes; the next poll redeems through the node's service key (the test commits what it submits)
  await commit(t, w, [txNext(w.chain, PAYER, { type: "paych.close", channel: e })]);
  const closingAt = readChannel(w.chain.state, e)!.closingAt;
  const polled = watch.poll();
  const redeem = await until(() => w.mempool.pending(PAYEE.publicKey)[0]);
  t.same(redeem.op.type, "paych.redeem");
  await commit(t, w, [redeem]);
  const settled = await polled;
  t.match(settled, [{ channel: toHex(e), status: "redeemed", amount: "300" }], "redeemed on its own");
  t.equal(readChannel(w.chain.state, e)!.redeemed, 300n);
  t.ok(w.chain.state.meta().height < closingAt, "before the payer may withdraw");
  t.same(await watch.poll(), [], "nothing more to redeem");
  t.match(await gate.accept(hexV(sign(w, e, 600n, 2n)), 300n), { ok: false, code: GateErrorCode.CHANNEL_CLOSING }, "no more service on a closing channel");
});

/** Polls `f` until it returns something (or fails after 10 s). */
async function until<T>(f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("timed out");
}

t.test("concurrent paych_submitVoucher of many vouchers for one channel leaves exactly the best", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const n = 60;
  // nonces 1..n with amounts increasing with the nonce: the best first, then the rest scrambled, some twice
  const vs = Array.from({ length: n }, (_, i) => sign(w, w.a, BigInt(10 * (i + 1)), BigInt(i + 1)));
  const order = [n - 1, ...[...vs.keys()].map((i) => (i * 37) % n).filter((i) => i !== n - 1), 0, n - 1, 5];
  const replies = await Promise.all(order.map((i) => call(server, "paych_submitVoucher", { voucher: hexV(vs[i]!) })));
  t.ok(replies.every((r) => r.result !== undefined), "every submission is answered without error");
  const best = w.vouchers.getBestVoucher(w.a);
  t.equal(best?.nonce, BigInt(n), "the best nonce is kept");
  t.equal(best?.amount, BigInt(10 * n), "with its amount");
  t.equal(replies.filter((r, k) => r.result.stored && order[k] === n - 1).length, 1, "the best voucher was stored exactly once");
  t.same((await call(server, "paych_get", { channel: toHex(w.a) })).result.bestVoucher, { amount: String(10 * n), nonce: String(n) });
  await w.store.close();
  const reopened = await BlockStore.open(w.dir, { chainId: w.chain.genesis.chainId, genesisHash: w.chain.genesis.hash, genesisState: () => genesisState(w.chain.genesis) });
  t.equal((await openVoucherStore(reopened)).getBestVoucher(w.a)?.nonce, BigInt(n), "and it is the one on disk");
  await reopened.close();
});

t.test("VoucherStore.putBestVoucher serialises writes started in the same tick", async (t) => {
  const w = await setup(t);
  const n = 40;
  const vs = Array.from({ length: n }, (_, i) => sign(w, w.b, BigInt(i + 1), BigInt(i + 1)));
  // the best first: every later write starts while it is still in flight
  const stored = await Promise.all([vs[n - 1]!, ...vs.slice(0, n - 1).reverse(), vs[n - 1]!].map((v) => w.vouchers.putBestVoucher(v)));
  t.same(stored.map((s, i) => (s ? i : -1)).filter((i) => i >= 0), [0], "only the first (the best) was stored");
  t.equal(w.vouchers.getBestVoucher(w.b)?.nonce, BigInt(n));
  // increasing order in one tick: each one is better than the last, the last wins
  const up = Array.from({ length: n }, (_, i) => sign(w, w.c, BigInt(i + 1), BigInt(i + 1), OTHER));
  t.ok((await Promise.all(up.map((v) => w.vouchers.putBestVoucher(v)))).every(Boolean), "each better one is stored");
  t.equal(w.vouchers.getBestVoucher(w.c)?.nonce, BigInt(n));
  // a failed write (higher nonce, lower amount) does not block the queue
  await t.rejects(w.vouchers.putBestVoucher(sign(w, w.b, 1n, BigInt(n + 1))), { code: PaychErrorCode.NOT_MONOTONIC });
  t.equal(await w.vouchers.putBestVoucher(sign(w, w.b, BigInt(n), BigInt(n + 2))), true, "the queue goes on");
  await w.store.close();
  const reopened = await BlockStore.open(w.dir, { chainId: w.chain.genesis.chainId, genesisHash: w.chain.genesis.hash, genesisState: () => genesisState(w.chain.genesis) });
  const again = await openVoucherStore(reopened);
  t.same([again.getBestVoucher(w.b)?.nonce, again.getBestVoucher(w.c)?.nonce], [BigInt(n + 2), BigInt(n)], "the disk holds the same best vouchers");
  await reopened.close();
});

t.test("paych_redeem needs the sign tier and a service key, and redeems the best voucher", async (t) => {
  const w = await setup(t);
  const server = await serve(t, contextOf(w, PAYEE));
  const redeem = (channel: Uint8Array, token?: string) => call(server, "paych_redeem", { channel: toHex(channel) }, token);

  const refused = await redeem(w.a);
  t.equal(refused.error?.code, RpcErrorCode.UNAUTHORIZED, "without a token: refused");
  t.equal(w.mempool.size, 0, "nothing submitted");
  const wrongToken = await fetch(server.url, {
    method: "POST", headers: { authorization: "Bearer nope" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "paych_redeem", params: { channel: toHex(w.a) } }),
  });
  t.equal(wrongToken.status, 401, "a wrong token: HTTP 401");
  t.equal((await redeem(w.a, TOKEN)).error?.data?.code, RpcAppErrorCode.NO_VOUCHER, "with a token but no voucher held");

  await call(server, "paych_submitVoucher", { voucher: hexV(sign(w, w.a, 200n, 1n)) });
  await call(server, "paych_submitVoucher", { voucher: hexV(sign(w, w.a, 700n, 2n)) });
  const ok = await redeem(w.a, TOKEN);
  t.match(ok.result, { hash: /^[0-9a-f]{64}$/ }, "with a token: a tx hash");
  const pending = w.mempool.get(fromHex(ok.result.hash));
  t.equal(pending?.op.type, "paych.redeem", "a paych.redeem is in the mempool");
  t.same(pending?.sender && toHex(pending.sender), toHex(PAYEE.publicKey), "signed by the service key");
  const before = w.chain.state.account(PAYEE.publicKey).balance;
  await commit(t, w, [pending!]);
  t.equal(w.chain.state.account(PAYEE.publicKey).balance, before + 700n - pending!.fee, "the best voucher (700) was redeemed");
  t.equal((await redeem(w.a, TOKEN)).error?.data?.code, PaychErrorCode.STALE_NONCE, "redeeming it again is refused before any tx is sent");

  // a channel whose payee is not the service key
  await call(server, "paych_submitVoucher", { voucher: hexV(sign(w, w.b, 10n, 1n)) });
  t.equal((await redeem(w.b, TOKEN)).error?.data?.code, PaychErrorCode.NOT_PAYEE, "not the service key's channel");

  // a node without a service key
  const bare = await serve(t, contextOf(w, null));
  const noKey = await call(bare, "paych_redeem", { channel: toHex(w.a) }, TOKEN);
  t.equal(noKey.error?.code, RpcErrorCode.SERVER_ERROR);
  t.equal(noKey.error?.data?.code, RpcAppErrorCode.NO_SERVICE_KEY, "NO_SERVICE_KEY");
  t.equal((await call(bare, "paych_redeem", { channel: toHex(w.a) })).error?.code, RpcErrorCode.UNAUTHORIZED, "and still the token first");
  // a node without a p2p layer: the net_* methods say so with a typed code
  for (const method of ["net_info", "net_peers", "node_syncing"]) {
    const r = await call(bare, method, {});
    t.equal(r.error?.data?.code, RpcAppErrorCode.NO_NETWORK, `${method}: NO_NETWORK`);
  }
  await w.store.close();
});
