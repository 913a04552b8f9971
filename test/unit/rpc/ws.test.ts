// JSON-RPC over WebSocket (rpc/ws.ts) against a real server on 127.0.0.1 with the `ws` client:
// request/response, batches, permissions, every subscription topic fed with synthetic blocks
// built by test/helpers/chain.ts, and the limits (subscriptions, slow consumers, frame size).
import { setImmediate as tick } from "node:timers/promises";
import t from "tap";
import WebSocket from "ws";
import { z } from "zod";
import type { Block } from "../../../chain/block.ts";
import { toHex } from "../../../primitives/bytes.ts";
import { toAddress } from "../../../primitives/keys.ts";
import type { BlockResult } from "../../../chain/transition.ts";
import { signTx } from "../../../chain/tx.ts";
import { insecureDevKey } from "../../../genesis/devnet.ts";
import { startRpcServer, type RpcRateLimit, type RpcServer } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";
import { subscriptionMethodStubs, Subscriptions, TokenBucket, type WsLimits } from "../../../rpc/ws.ts";
import { advance, newTestChain } from "../../helpers/chain.ts";

const TOKEN = "s3cret-sign-token";

/** test_wait calls block until the test calls `release`. */
let release: () => void = () => undefined;
let gate = Promise.resolve();
function closeGate(): void {
  gate = new Promise((resolve) => (release = resolve));
}

/** Calls of test_count that ran. */
let counted = 0;

const table: MethodTable<object> = {
  test_wait: defineMethod({
    description: "resolves when the test opens the gate",
    params: z.object({}),
    result: z.boolean(),
    permission: "read",
    handler: async () => {
      await gate;
      return true;
    },
  }),
  test_add: defineMethod({
    description: "a + b",
    params: z.object({ a: z.number(), b: z.number() }),
    result: z.number(),
    permission: "read",
    handler: ({ a, b }) => a + b,
  }),
  test_count: defineMethod({
    description: "counts its calls in `counted`",
    params: z.object({}),
    result: z.number(),
    permission: "read",
    handler: () => ++counted,
  }),
  test_sign: defineMethod({
    description: "needs the sign tier",
    params: z.object({}),
    result: z.string(),
    permission: "sign",
    handler: () => "signed",
  }),
  ...subscriptionMethodStubs<object>(),
};

async function server(limits: Partial<WsLimits> = {}, rateLimit?: RpcRateLimit | false): Promise<{ rpc: RpcServer; subs: Subscriptions; wsUrl: string }> {
  const subs = new Subscriptions(limits);
  const rpc = await startRpcServer({ host: "127.0.0.1", port: 0, tokens: [{ token: TOKEN, permissions: ["sign"] }], ...(rateLimit !== undefined ? { rateLimit } : {}) }, table, {}, subs);
  return { rpc, subs, wsUrl: rpc.url.replace(/^http/, "ws") };
}

interface Msg {
  id?: number | string | null;
  method?: string;
  params?: { subscription: string; result: any };
  result?: any;
  error?: { code: number; message: string; data?: any };
}

/** A test client: every message kept in order; calls resolve with their response. */
class Client {
  readonly messages: Msg[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  #nextId = 1;
  #pending = new Map<number, (m: Msg) => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on("message", (data) => {
      const parsed = JSON.parse(data.toString()) as Msg | Msg[];
      if (Array.isArray(parsed)) {
        this.messages.push(...parsed);
        return;
      }
      this.messages.push(parsed);
      if (typeof parsed.id === "number") this.#pending.get(parsed.id)?.(parsed);
    });
  }

  static open(url: string, opts: WebSocket.ClientOptions = {}): Promise<Client> {
    const ws = new WebSocket(url, opts);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new Client(ws)));
      ws.once("error", reject);
    });
  }

  call(method: string, params: unknown = {}): Promise<Msg> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  async subscribe(params: { topic: string; address?: string }): Promise<string> {
    const r = await this.call("chain_subscribe", params);
    if (typeof r.result !== "string") throw new Error(`subscribe failed: ${JSON.stringify(r)}`);
    return r.result;
  }

  /** Waits for a response to a fresh call: everything sent before it has arrived. */
  async sync(): Promise<void> {
    await this.call("test_add", { a: 0, b: 0 });
  }

  results(sub: string): any[] {
    return this.messages.filter((m) => m.method === "chain_subscription" && m.params?.subscription === sub).map((m) => m.params!.result);
  }

  notifications(): Msg[] {
    return this.messages.filter((m) => m.method === "chain_subscription");
  }
}

/** Two blocks: a transfer faucet -> bob (height 1), then an empty one (height 2). */
function blocks(): { built: { block: Block; result: Pick<BlockResult, "receipts" | "events"> }[]; bob: string; txHash: string } {
  const chain = newTestChain();
  const bob = insecureDevKey("ws-test-bob");
  const tx = signTx({ chainId: chain.genesis.chainId, nonce: 0n, fee: chain.genesis.params.minTxFee, op: { type: "transfer", to: bob.publicKey, amount: 5n } }, chain.faucet);
  const b1 = advance(chain, [tx]);
  const b2 = advance(chain, []);
  return { built: [b1, b2].map((b) => ({ block: b.block, result: b })), bob: toAddress(bob.publicKey), txHash: toHex(tx.hash) };
}

t.test("request/response, batches, parse errors and permissions over the socket", async (t) => {
  const { rpc, wsUrl } = await server();
  t.teardown(() => rpc.close());
  const c = await Client.open(wsUrl);

  t.same((await c.call("test_add", { a: 1, b: 2 })).result, 3);
  t.same((await c.call("test_add", [4, 5])).result, 9, "positional params");
  t.equal((await c.call("test_add", { a: "x", b: 1 })).error?.code, -32602);
  t.equal((await c.call("nope_nope")).error?.code, -32601);

  // a batch: two calls and a notification, answered as one array
  const before = c.messages.length;
  c.ws.send(JSON.stringify([
    { jsonrpc: "2.0", id: "a", method: "test_add", params: { a: 1, b: 1 } },
    { jsonrpc: "2.0", method: "test_add", params: { a: 1, b: 1 } },
    { jsonrpc: "2.0", id: "b", method: "test_add", params: { a: 2, b: 2 } },
  ]));
  // responses on a socket may come in any order (calls run concurrently): wait for both
  while (c.messages.slice(before).filter((m) => m.id === "a" || m.id === "b").length < 2) await tick();
  const batch = c.messages.slice(before).filter((m) => m.id === "a" || m.id === "b");
  t.same(batch.map((m) => [m.id, m.result]), [["a", 2], ["b", 4]]);

  // invalid JSON: -32700 with id null, and the socket stays usable
  c.ws.send("{not json");
  await c.sync();
  const parseError = c.messages.find((m) => m.error?.code === -32700);
  t.ok(parseError, "parse error answered");
  t.equal(parseError?.id, null);
  t.equal(c.ws.readyState, WebSocket.OPEN);
  t.same((await c.call("test_add", { a: 2, b: 3 })).result, 5, "still serving after the parse error");

  // sign tier: refused without a token, granted by header or ?token=
  t.equal((await c.call("test_sign")).error?.code, -32001);
  const withHeader = await Client.open(wsUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal((await withHeader.call("test_sign")).result, "signed");
  const withQuery = await Client.open(`${wsUrl}?token=${TOKEN}`);
  t.equal((await withQuery.call("test_sign")).result, "signed");
  // a wrong token is refused at the upgrade with 401
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${wsUrl}?token=wrong`);
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("open", () => resolve(101));
    ws.once("error", () => undefined);
  });
  t.equal(refused, 401);

  // the subscription methods exist only on sockets
  const http = (await (await fetch(rpc.url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribe", params: { topic: "newHeads" } }) })).json()) as Msg;
  t.equal(http.error?.code, -32601);
  t.equal(http.error?.data?.code, "WS_ONLY");
  for (const x of [c, withHeader, withQuery]) x.ws.close();
});

t.test("each topic delivers its notifications, only to its subscribers; unsubscribe stops them", async (t) => {
  const { rpc, subs, wsUrl } = await server();
  t.teardown(() => rpc.close());
  const { built, bob, txHash } = blocks();
  const [heads, fin, addr, events, other, idle] = await Promise.all([0, 1, 2, 3, 4, 5].map(() => Client.open(wsUrl)));
  const sHeads = await heads!.subscribe({ topic: "newHeads" });
  const sFin = await fin!.subscribe({ topic: "finalizedBlocks" });
  const sAddr = await addr!.subscribe({ topic: "addressTxs", address: bob });
  const sEvents = await events!.subscribe({ topic: "events" });
  await other!.subscribe({ topic: "addressTxs", address: toAddress(insecureDevKey("nobody").publicKey) });
  t.not(sHeads, sFin, "ids are distinct");
  t.equal(subs.subscriptions, 5);

  t.equal((await idle!.call("chain_subscribe", { topic: "addressTxs" })).error?.code, -32602, "addressTxs needs an address");
  t.equal((await idle!.call("chain_subscribe", { topic: "nope" })).error?.code, -32602);
  t.equal((await idle!.call("chain_subscribe", { topic: "newHeads", address: bob })).error?.code, -32602, "address only for addressTxs");

  for (const b of built) subs.publishBlock(b.block, b.result);
  const all = [heads!, fin!, addr!, events!, other!, idle!];
  await Promise.all(all.map((c) => c.sync()));

  const headers = heads!.results(sHeads);
  t.same(headers.map((h) => h.height), [1, 2]);
  t.equal(headers[0].hash, toHex(built[0]!.block.hash));
  t.equal(headers[1].parentHash, headers[0].hash);
  t.equal(heads!.notifications().length, 2, "nothing else on the newHeads socket");

  const finBlocks = fin!.results(sFin);
  t.same(finBlocks.map((b) => b.header.height), [1, 2]);
  t.same(finBlocks[0].txs, [txHash], "block JSON with tx hashes");
  t.same(finBlocks[1].txs, []);

  const txs = addr!.results(sAddr);
  t.equal(txs.length, 1);
  t.same(txs[0], { hash: txHash, height: 1, index: 0, receipt: { ok: true, code: null, fee: built[0]!.result.receipts[0]!.fee.toString() } });

  const ev = events!.results(sEvents);
  t.ok(ev.length >= 2, "transfer and fee events");
  t.ok(ev.every((e) => typeof e.kind === "string" && typeof e.height === "number"));
  const transfer = ev.find((e) => e.kind === "transfer");
  t.match(transfer, { height: 1, txHash, to: bob, amount: "5" });
  t.equal(ev.length, built.reduce((n, b) => n + b.result.events.length, 0), "every event of every block");

  t.equal(other!.notifications().length, 0, "an uninvolved address hears nothing");
  t.equal(idle!.notifications().length, 0, "no subscription, no notification");

  // unsubscribe stops the notifications; a second unsubscribe answers false
  t.equal((await heads!.call("chain_unsubscribe", { subscription: sHeads })).result, true);
  t.equal((await heads!.call("chain_unsubscribe", { subscription: sHeads })).result, false);
  t.equal((await fin!.call("chain_unsubscribe", { subscription: sHeads })).result, false, "another connection's id is unknown here");
  subs.publishBlock(built[1]!.block, built[1]!.result);
  await Promise.all(all.map((c) => c.sync()));
  t.equal(heads!.results(sHeads).length, 2, "no more headers after unsubscribe");
  t.equal(fin!.results(sFin).length, 3, "the others keep receiving");

  // closing a socket drops its subscriptions
  addr!.ws.close();
  await addr!.closed;
  await tick();
  t.equal(subs.subscriptions, 3);
  for (const c of all) c.ws.close();
});

t.test("at most 32 subscriptions per connection", async (t) => {
  const { rpc, wsUrl } = await server();
  t.teardown(() => rpc.close());
  const c = await Client.open(wsUrl);
  const ids: string[] = [];
  for (let i = 0; i < 32; i++) ids.push(await c.subscribe({ topic: "newHeads" }));
  const refused = await c.call("chain_subscribe", { topic: "events" });
  t.equal(refused.error?.code, -32000);
  t.equal(refused.error?.data?.code, "TOO_MANY_SUBSCRIPTIONS");
  t.equal((await c.call("chain_unsubscribe", { subscription: ids[0] })).result, true);
  t.type(await c.subscribe({ topic: "events" }), "string", "room again after an unsubscribe");
  c.ws.close();
});

t.test("a consumer that never reads is disconnected with 1008; a well-behaved one keeps receiving", async (t) => {
  const { rpc, subs, wsUrl } = await server({ maxBufferedBytes: 256 * 1024, maxQueued: 256 });
  t.teardown(() => rpc.close());
  const { built } = blocks();
  const good = await Client.open(wsUrl);
  const slow = await Client.open(wsUrl);
  const sGood = await good.subscribe({ topic: "newHeads" });
  for (let i = 0; i < 32; i++) await slow.subscribe({ topic: "newHeads" });
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

  let published = 0;
  const deadline = Date.now() + 60_000;
  while (subs.connections === 2 && Date.now() < deadline) {
    subs.publishBlock(built[0]!.block, built[0]!.result);
    published++;
    await tick();
  }
  t.equal(subs.connections, 1, `the slow consumer was cut after ${published} blocks`);
  // a few more blocks for the good one
  for (let i = 0; i < 10; i++) {
    subs.publishBlock(built[0]!.block, built[0]!.result);
    published++;
    await tick();
  }
  await good.sync();
  t.equal(good.results(sGood).length, published, "the well-behaved consumer got every notification");
  t.equal(good.ws.readyState, WebSocket.OPEN);

  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const closed = await slow.closed;
  t.equal(closed.code, 1008);
  t.match(closed.reason, /slow consumer/);
  good.ws.close();
});

t.test("at most maxInFlight requests of one socket run at once", async (t) => {
  const { rpc, wsUrl } = await server({ maxInFlight: 2 });
  t.teardown(() => rpc.close());
  const c = await Client.open(wsUrl);
  closeGate();
  const first = [c.call("test_wait"), c.call("test_wait")];
  const before = c.messages.length;
  c.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 99, method: "test_wait" }));
  while (c.messages.length === before) await tick();
  t.equal(c.messages[before]?.error?.code, -32005, "the third concurrent request is refused");
  release();
  t.same((await Promise.all(first)).map((m) => m.result), [true, true]);
  t.equal((await c.call("test_add", { a: 1, b: 1 })).result, 2, "room again once they finished");
  c.ws.close();
});

t.test("per-connection message rate limit: over it refused unrun with -32005; a client that keeps flooding is cut (1008)", async (t) => {
  // 5 messages per hour: nothing refills while the test runs
  const { rpc, wsUrl } = await server({}, { max: 5, timeWindowMs: 3_600_000 });
  t.teardown(() => rpc.close());
  const c = await Client.open(wsUrl);
  const ranBefore = counted;
  for (let i = 0; i < 5; i++) t.equal(typeof (await c.call("test_count")).result, "number", `message ${i + 1} within the limit runs`);
  t.equal(counted, ranBefore + 5);

  /** Sends one raw frame and waits for the one message it gets back. */
  const refusedAnswer = async (): Promise<Msg> => {
    const before = c.messages.length;
    c.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1000 + before, method: "test_count", params: {} }));
    while (c.messages.length === before) await tick();
    return c.messages[before]!;
  };
  const sixth = await refusedAnswer();
  t.equal(sixth.error?.code, -32005, "the 6th message is rate limited");
  t.same(sixth.error?.data, { max: 5, timeWindowMs: 3_600_000 });
  t.equal(sixth.id, null);
  t.equal(counted, ranBefore + 5, "and did not run");

  // another connection of the same client has a bucket of its own
  const other = await Client.open(wsUrl);
  t.equal(typeof (await other.call("test_count")).result, "number");
  other.ws.close();

  // messages 7..10 are refused too (answered); the 11th, beyond twice the limit, closes the socket
  for (let i = 7; i <= 10; i++) t.equal((await refusedAnswer()).error?.code, -32005, `message ${i} refused`);
  c.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 11, method: "test_count", params: {} }));
  const closed = await c.closed;
  t.equal(closed.code, 1008);
  t.match(closed.reason, /rate limit/);
  t.equal(counted, ranBefore + 6, "only the 5 allowed messages and the other connection's one ran");
});

t.test("rateLimit false: no per-connection message limit", async (t) => {
  const { rpc, wsUrl } = await server({}, false);
  t.teardown(() => rpc.close());
  const c = await Client.open(wsUrl);
  for (let i = 0; i < 30; i++) t.equal((await c.call("test_add", { a: i, b: 1 })).result, i + 1);
  t.equal(c.ws.readyState, WebSocket.OPEN);
  c.ws.close();
});

t.test("TokenBucket: starts full, spends one token a take, refills at capacity per window", async (t) => {
  let now = 0;
  const b = new TokenBucket(3, 300, () => now);
  t.same([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  now = 99;
  t.equal(b.take(), false, "less than one token refilled after 99 ms");
  now = 100;
  t.same([b.take(), b.take()], [true, false], "one token per 100 ms");
  now = 10_000;
  t.same([b.take(), b.take(), b.take(), b.take()], [true, true, true, false], "never more than capacity");
  t.throws(() => new TokenBucket(0, 1000), RangeError);
});

t.test("oversized frames close the socket (1009); closing the server closes every socket", async (t) => {
  const { rpc, wsUrl } = await server({ maxPayload: 1024 });
  const big = await Client.open(wsUrl);
  big.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "test_add", params: { a: 1, b: 2, pad: "x".repeat(2000) } }));
  t.equal((await big.closed).code, 1009);

  const a = await Client.open(wsUrl);
  const b = await Client.open(wsUrl);
  await a.subscribe({ topic: "newHeads" });
  await rpc.close();
  t.equal((await a.closed).code, 1001);
  t.equal((await b.closed).code, 1001);
});
