/**
 * POST / is answered on node:http directly (rpc/server.ts fastPost) unless CORS is configured, when
 * fastify answers it. Both must answer alike: the same requests, raw over HTTP/1.1 on 127.0.0.1,
 * against a server of each kind, give the same status, content type, body and refusal headers.
 */
import t, { type Test } from "tap";
import { request } from "node:http";
import { z } from "zod";
import { startRpcServer, type RpcServer, type RpcServerOptions } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";

const table: MethodTable<unknown> = {
  test_echo: defineMethod({ description: "echo", params: z.object({ s: z.string() }), result: z.string(), permission: "read", handler: ({ s }) => s }),
  test_later: defineMethod({ description: "async", params: z.object({}), result: z.literal("later"), permission: "read", handler: async () => "later" as const }),
  test_admin: defineMethod({ description: "admin", params: z.object({}), result: z.literal("ok"), permission: "admin", handler: () => "ok" as const }),
};

interface Answer {
  status: number;
  type: string | undefined;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request on a fresh connection; `chunks` are written one by one (chunked when no content-length is given). */
function send(server: RpcServer, chunks: readonly (string | Buffer)[], headers: Record<string, string> = {}, path = "/"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: server.address, port: server.port, method: "POST", path, headers: { "content-type": "application/json", ...headers }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], body: Buffer.concat(parts).toString("utf8"), headers: res.headers }));
    });
    req.on("error", reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** A request; id null makes it a notification (no id member). */
const call = (method: string, params: unknown, id: number | null = 1): string => JSON.stringify({ jsonrpc: "2.0", method, params, ...(id === null ? {} : { id }) });
const withLength = (body: string | Buffer): Record<string, string> => ({ "content-length": String(Buffer.byteLength(body)) });

async function pair(t: Test, opts: Partial<RpcServerOptions> = {}): Promise<{ fast: RpcServer; fastify: RpcServer }> {
  const base = { host: "127.0.0.1", port: 0, bodyLimit: 4096, tokens: [{ token: "s3cret", permissions: ["admin" as const] }], ...opts };
  const fast = await startRpcServer(base, table, undefined);
  // an allowed origin turns the fastify route on; these requests send no Origin header
  const fastify = await startRpcServer({ ...base, cors: ["https://wallet.example"] }, table, undefined);
  t.teardown(async () => {
    await fast.close();
    await fastify.close();
  });
  return { fast, fastify };
}

t.test("the same requests get the same answers from both routes", async (t) => {
  const { fast, fastify } = await pair(t);
  const multibyte = Buffer.from(call("test_echo", ["grüße 🌍"]), "utf8");
  const cases: [string, readonly (string | Buffer)[], Record<string, string>, string?][] = [
    ["a call", [call("test_echo", ["hi"])], withLength(call("test_echo", ["hi"]))],
    ["an async handler", [call("test_later", [])], {}],
    ["a batch", [`[${call("test_echo", ["a"], 1)},${call("test_echo", ["b"], 2)}]`], {}],
    ["a notification: 204, no body", [call("test_echo", ["n"], null)], {}],
    ["malformed JSON", ["{"], {}],
    ["an empty body", [], { "content-length": "0" }],
    ["chunked, a character split across chunks", [multibyte.subarray(0, 40), multibyte.subarray(40)], {}],
    ["no content type", [call("test_echo", ["x"])], { "content-type": "" }],
    ["another content type", [call("test_echo", ["x"])], { "content-type": "text/plain" }],
    ["admin without a token: refused by dispatch", [call("test_admin", [])], {}],
    ["admin with the token", [call("test_admin", [])], { authorization: "Bearer s3cret" }],
    ["a wrong token: 401", [call("test_echo", ["x"])], { authorization: "Bearer nope" }],
    ["another scheme: 401", [call("test_echo", ["x"])], { authorization: "Basic czNjcmV0" }],
    ["a declared length over the limit: 413", ["x".repeat(5000)], withLength("x".repeat(5000))],
    ["a chunked body over the limit: 413", ["x".repeat(3000), "y".repeat(3000)], {}],
    ["a query string (fastify on both)", [call("test_echo", ["q"])], {}, "/?q=1"],
  ];
  for (const [name, chunks, headers, path] of cases) {
    const hs = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ""));
    const a = await send(fast, chunks, hs, path);
    const b = await send(fastify, chunks, hs, path);
    t.same({ status: a.status, type: a.type, body: a.body, auth: a.headers["www-authenticate"] }, { status: b.status, type: b.type, body: b.body, auth: b.headers["www-authenticate"] }, name);
  }
  // and the answers are the right ones, not just equal
  t.same(JSON.parse((await send(fast, [multibyte], {})).body).result, "grüße 🌍", "utf-8 decoded whole");
  t.equal((await send(fast, [call("test_echo", ["n"], null)], {})).status, 204);
  t.equal((await send(fast, ["x".repeat(5000)], withLength("x".repeat(5000)))).status, 413);
  t.equal((await send(fast, [call("test_echo", ["x"])], { authorization: "Bearer nope" })).status, 401);
  t.equal(JSON.parse((await send(fast, [call("test_echo", ["after"])], {})).body).result, "after", "still serving after the refusals");
});

t.test("the rate limit refuses the same request on both routes, with the same headers", async (t) => {
  const { fast, fastify } = await pair(t, { rateLimit: { max: 2, timeWindowMs: 60_000 } });
  const answers: Answer[][] = [];
  for (const server of [fast, fastify]) {
    const out: Answer[] = [];
    for (let i = 0; i < 3; i++) out.push(await send(server, [call("test_echo", [String(i)])], {}));
    answers.push(out);
  }
  const [a, b] = answers as [Answer[], Answer[]];
  t.same(a.map((x) => x.status), [200, 200, 429], "fast route: the third request of the window is refused");
  t.same(b.map((x) => x.status), [200, 200, 429], "fastify route: the same");
  t.equal(a[2]!.body, b[2]!.body, "the same JSON-RPC error");
  t.equal(a[2]!.type, b[2]!.type);
  for (const h of ["x-ratelimit-limit", "x-ratelimit-remaining"]) t.equal(a[2]!.headers[h], b[2]!.headers[h], h);
  t.equal(a[2]!.headers["x-ratelimit-limit"], "2");
  for (const h of ["retry-after", "x-ratelimit-reset"]) {
    const [x, y] = [Number(a[2]!.headers[h]), Number(b[2]!.headers[h])];
    t.ok(x > 0 && x <= 60 && Math.abs(x - y) <= 1, `${h}: ${x} and ${y} seconds`);
  }
  t.equal(a[0]!.headers["x-ratelimit-remaining"], undefined, "no quota headers on an answered request");
});
