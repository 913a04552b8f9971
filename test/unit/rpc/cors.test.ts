/** CORS (--rpc-cors): off by default; allowed origins get preflight and answers they can read; others do not. */
import t from "tap";
import { z } from "zod";
import { startRpcServer } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";
import { ConfigErrorCode, resolveStartConfig } from "../../../node/config.ts";

const table: MethodTable<unknown> = {
  test_ping: defineMethod({ description: "pong", params: z.object({}), result: z.literal("pong"), permission: "read", handler: () => "pong" as const }),
};
const WALLET = "https://wallet.example";
const preflight = (url: string, origin: string) =>
  fetch(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
const post = (url: string, origin: string) =>
  fetch(url, { method: "POST", headers: { origin, "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "test_ping" }) });

t.test("without --rpc-cors no origin is allowed", async (t) => {
  const server = await startRpcServer({ host: "127.0.0.1", port: 0 }, table, undefined);
  t.teardown(() => server.close());
  const res = await post(server.url, WALLET);
  t.equal(res.status, 200, "the call itself is answered (same-origin tools and curl are unaffected)");
  t.equal(res.headers.get("access-control-allow-origin"), null, "but a browser page elsewhere cannot read it");
  t.equal((await preflight(server.url, WALLET)).headers.get("access-control-allow-origin"), null, "no preflight approval");
});

t.test("an allowed origin gets its preflight and readable answers; another origin does not", async (t) => {
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, cors: [WALLET] }, table, undefined);
  t.teardown(() => server.close());
  const pre = await preflight(server.url, WALLET);
  t.ok(pre.status === 204 || pre.status === 200, `preflight answered (${pre.status})`);
  t.equal(pre.headers.get("access-control-allow-origin"), WALLET);
  t.match(pre.headers.get("access-control-allow-methods") ?? "", /POST/);
  t.match((pre.headers.get("access-control-allow-headers") ?? "").toLowerCase(), /content-type/);
  const res = await post(server.url, WALLET);
  t.equal(res.headers.get("access-control-allow-origin"), WALLET);
  t.same(await res.json(), { jsonrpc: "2.0", result: "pong", id: 1 });
  const other = await post(server.url, "https://evil.example");
  t.not(other.headers.get("access-control-allow-origin"), "https://evil.example", "another origin is not approved");
});

t.test("--rpc-cors is parsed and checked like the other settings", async (t) => {
  t.same(resolveStartConfig({ env: {}, flags: {} }).rpcCors, [], "default: none");
  t.same(resolveStartConfig({ env: {}, flags: { rpcCors: "https://a.example, http://127.0.0.1:5173" } }).rpcCors, ["https://a.example", "http://127.0.0.1:5173"]);
  t.same(resolveStartConfig({ env: { CLOUDCOIN_RPC_CORS: "*" }, flags: {} }).rpcCors, ["*"]);
  t.throws(() => resolveStartConfig({ env: {}, flags: { rpcCors: "wallet.example" } }), { code: ConfigErrorCode.INVALID }, "an origin without a scheme is refused");
});
