// Per-client rate limit on the JSON-RPC POST route (@fastify/rate-limit), against a real server
// on 127.0.0.1. The window is short so the test can wait it out.
import t from "tap";
import { z } from "zod";
import { RpcErrorCode } from "../../../rpc/errors.ts";
import { startRpcServer } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";

const table: MethodTable<unknown> = {
  test_ping: defineMethod({ description: "pong", params: z.object({}), result: z.literal("pong"), permission: "read", handler: () => "pong" as const }),
};

const ping = (url: string, id: number): Promise<Response> =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id, method: "test_ping" }) });

t.test("the N+1-th request in a window is refused with -32005 and HTTP 429", async (t) => {
  const observed: Array<[string, boolean, number | undefined]> = [];
  const window = 400;
  const server = await startRpcServer(
    { host: "127.0.0.1", port: 0, rateLimit: { max: 3, timeWindowMs: window }, observe: (m, _s, ok, code) => observed.push([m, ok, code]) },
    table,
    undefined,
  );
  t.teardown(() => server.close());

  // The process's first fetch sets up its HTTP client and the connection (measured here: up to
  // ~170 ms of the window on a loaded machine, vs ~15 ms for a later request). GET /health, which the
  // limit does not count (checked below), does that before the clock starts.
  const warm = await fetch(new URL("/health", server.url));
  await warm.arrayBuffer();
  t.equal(warm.status, 200);
  const started = Date.now();
  for (let i = 1; i <= 3; i++) {
    const res = await ping(server.url, i);
    t.equal(res.status, 200, `request ${i} served`);
    t.equal(res.headers.get("x-ratelimit-remaining"), null, "no quota headers on an answered request");
    t.same(await res.json(), { jsonrpc: "2.0", result: "pong", id: i });
  }
  const limited = await ping(server.url, 4);
  t.ok(Date.now() - started < window, "the four requests fell in one window (else the test proves nothing)");
  t.equal(limited.status, 429);
  t.match(limited.headers.get("content-type") ?? "", /application\/json/);
  t.ok(limited.headers.get("retry-after") !== null, "retry-after header");
  t.equal(limited.headers.get("x-ratelimit-limit"), "3", "the refusal says the limit");
  t.equal(limited.headers.get("x-ratelimit-remaining"), "0");
  t.same(await limited.json(), { jsonrpc: "2.0", error: { code: RpcErrorCode.RATE_LIMITED, message: "rate limited" }, id: null });
  t.same(observed.at(-1), ["(transport)", false, RpcErrorCode.RATE_LIMITED], "the refusal reaches the observe hook");

  // GET /health is not limited
  t.equal((await fetch(new URL("/health", server.url))).status, 200);

  // The window's reset is the event: ask until a request is served (a refusal does not move the
  // reset), bounded by the test's timeout.
  let after = await ping(server.url, 5);
  while (after.status === 429) {
    await after.arrayBuffer();
    await new Promise((r) => setTimeout(r, 25));
    after = await ping(server.url, 5);
  }
  t.equal(after.status, 200, "served again after the window");
  t.same(await after.json(), { jsonrpc: "2.0", result: "pong", id: 5 });
});

t.test("rateLimit: false serves any number of requests; the default is generous", async (t) => {
  for (const rateLimit of [false, undefined] as const) {
    const server = await startRpcServer({ host: "127.0.0.1", port: 0, ...(rateLimit === false ? { rateLimit } : {}) }, table, undefined);
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => ping(server.url, i).then((r) => r.status)));
    t.same(new Set(statuses), new Set([200]), `rateLimit ${String(rateLimit)}: 50 requests served`);
    await server.close();
  }
});

t.test("a bad limit is refused at start", async (t) => {
  await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0, rateLimit: { max: 0, timeWindowMs: 1000 } }, table, undefined), RangeError);
  await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0, rateLimit: { max: 5, timeWindowMs: 1.5 } }, table, undefined), RangeError);
});
