// JSON-RPC layer against a real fastify server on 127.0.0.1 (ephemeral port), driven over fetch.
// The conformance part replays the examples of JSON-RPC 2.0 specification section 7, adapted
// to a toy method table; the rest throws malformed input at it and checks it keeps serving.
import fc from "fast-check";
import t, { type Test } from "tap";
import { z } from "zod";
import { CodedError } from "../../../primitives/errors.ts";
import { dispatch } from "../../../rpc/dispatch.ts";
import { RpcError, RpcErrorCode } from "../../../rpc/errors.ts";
import { startRpcServer, type RpcLogger } from "../../../rpc/server.ts";
import { defineMethod, JsonText, type MethodTable, type Permission } from "../../../rpc/table.ts";

interface ToyCtx {
  /** Where test_notify records its calls, so a test can see a notification ran. */
  notified: string[];
}

const num = z.number();
const wideShape = Object.fromEntries(
  Array.from({ length: 20 }, (_, i) => [`f${i}`, z.number({ error: `must be a number ${"x".repeat(500)}` })]),
);

/** test_text's answer, with a string an id-splicing or re-serializing bug would mangle. */
const TEXT_RESULT = '{"n":7,"s":"quote \\" and \\u2028 and ]}"}';

const table: MethodTable<ToyCtx> = {
  test_add: defineMethod({
    description: "a + b",
    params: z.object({ a: num, b: num }),
    result: num,
    permission: "read",
    handler: ({ a, b }) => a + b,
  }),
  test_subtract: defineMethod({
    description: "minuend - subtrahend",
    params: z.object({ minuend: num, subtrahend: num }),
    result: num,
    permission: "read",
    handler: async ({ minuend, subtrahend }) => minuend - subtrahend,
  }),
  test_getData: defineMethod({
    description: "fixed data",
    params: z.object({}),
    result: z.tuple([z.string(), z.number()]),
    permission: "read",
    handler: () => ["hello", 5] as [string, number],
  }),
  test_notify: defineMethod({
    description: "records a message in ctx",
    params: z.object({ msg: z.string() }),
    result: z.null(),
    permission: "write",
    handler: ({ msg }, ctx: ToyCtx) => {
      ctx.notified.push(msg);
      return null;
    },
  }),
  test_fail: defineMethod({
    description: "throws a CodedError",
    params: z.object({}),
    result: z.null(),
    permission: "read",
    handler: () => {
      // `code` in data must not shadow the error's own code; the bigint must serialize.
      throw new CodedError("TEST_FAILED", "it failed", { amount: 5n, code: "SPOOFED", bytes: new Uint8Array([1, 255]) });
    },
  }),
  test_boom: defineMethod({
    description: "throws a plain Error",
    params: z.object({}),
    result: z.null(),
    permission: "read",
    handler: () => {
      throw new Error("secret: /var/lib/cloudcoin/db is corrupt");
    },
  }),
  test_limited: defineMethod({
    description: "throws an RpcError",
    params: z.object({}),
    result: z.null(),
    permission: "read",
    handler: () => {
      throw new RpcError(RpcErrorCode.RATE_LIMITED, "slow down", { retryAfterMs: 10 });
    },
  }),
  test_badResult: defineMethod({
    description: "returns a value its result schema rejects",
    params: z.object({}),
    result: num,
    permission: "read",
    handler: () => "not a number" as unknown as number,
  }),
  test_text: defineMethod({
    description: "answers with text made in advance (JsonText): well formed, off its schema, or not JSON",
    params: z.object({ which: z.enum(["ok", "offSchema", "notJson"]) }),
    result: z.object({ n: z.number(), s: z.string() }),
    permission: "read",
    handler: ({ which }) =>
      new JsonText<{ n: number; s: string }>(which === "ok" ? TEXT_RESULT : which === "offSchema" ? '{"n":"seven","s":"x"}' : '{"n":7,'),
  }),
  test_wide: defineMethod({
    description: "twenty required params",
    params: z.object(wideShape),
    result: z.null(),
    permission: "read",
    handler: () => null,
  }),
  test_sign: defineMethod({
    description: "needs sign",
    params: z.object({}),
    result: z.string(),
    permission: "sign",
    handler: () => "signed",
  }),
  test_admin: defineMethod({
    description: "needs admin",
    params: z.object({}),
    result: z.string(),
    permission: "admin",
    handler: () => "admin ok",
  }),
};

const ADMIN_TOKEN = "admin-token-0123456789abcdef";
const READ_TOKEN = "read-token-0123456789abcdef";

const logs: { level: string; obj: object; msg: string }[] = [];
const logger: RpcLogger = {
  info: (obj, msg) => logs.push({ level: "info", obj, msg }),
  warn: (obj, msg) => logs.push({ level: "warn", obj, msg }),
  error: (obj, msg) => logs.push({ level: "error", obj, msg }),
};

const ctx: ToyCtx = { notified: [] };
const srv = await startRpcServer(
  {
    host: "127.0.0.1",
    port: 0,
    tokens: [
      { token: ADMIN_TOKEN, permissions: ["sign", "admin"] },
      { token: READ_TOKEN, permissions: ["read"] },
    ],
    logger,
  },
  table,
  ctx,
);
t.teardown(() => srv.close());

interface Reply {
  status: number;
  contentType: string | null;
  text: string;
}

/** POSTs a body (objects are JSON-encoded) and returns status, content type and text. */
async function post(body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const raw = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(srv.url, {
    method: "POST",
    headers: raw instanceof Uint8Array ? headers : { "content-type": "application/json", ...headers },
    body: raw,
  });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

/** POSTs and parses the JSON-RPC response, asserting HTTP 200 + JSON. */
async function rpc(t: Tap, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await post(body, headers);
  t.equal(r.status, 200, "HTTP 200");
  t.match(r.contentType, /^application\/json/, "json content type");
  return JSON.parse(r.text);
}

type Tap = Test;

function call(method: string, params?: unknown, id: unknown = 1): object {
  return params === undefined ? { jsonrpc: "2.0", method, id } : { jsonrpc: "2.0", method, params, id };
}

/** Error code of a single response (fails the test if it is not an error). */
async function errorCode(t: Tap, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await rpc(t, body, headers);
  t.ok(res.error, "is an error response");
  t.notOk("result" in res, "no result member next to error");
  return res.error?.code;
}

async function stillServing(t: Tap): Promise<void> {
  t.strictSame(await rpc(t, call("test_add", { a: 40, b: 2 }, "alive")), { jsonrpc: "2.0", result: 42, id: "alive" });
}

t.test("spec section 7 examples", async (t) => {
  t.test("positional params", async (t) => {
    t.strictSame(await rpc(t, call("test_subtract", [42, 23], 1)), { jsonrpc: "2.0", result: 19, id: 1 });
    t.strictSame(await rpc(t, call("test_subtract", [23, 42], 2)), { jsonrpc: "2.0", result: -19, id: 2 });
  });

  t.test("named params", async (t) => {
    t.strictSame(await rpc(t, call("test_subtract", { subtrahend: 23, minuend: 42 }, 3)), { jsonrpc: "2.0", result: 19, id: 3 });
    t.strictSame(await rpc(t, call("test_subtract", { minuend: 42, subtrahend: 23 }, 4)), { jsonrpc: "2.0", result: 19, id: 4 });
  });

  t.test("notification: executed, not answered", async (t) => {
    const before = ctx.notified.length;
    const r = await post({ jsonrpc: "2.0", method: "test_notify", params: ["n1"] });
    t.equal(r.status, 204);
    t.equal(r.text, "");
    t.strictSame(ctx.notified.slice(before), ["n1"]);
    // Unknown method as a notification: still no reply.
    const r2 = await post({ jsonrpc: "2.0", method: "foobar" });
    t.equal(r2.status, 204);
    t.equal(r2.text, "");
  });

  t.test("non-existent method", async (t) => {
    const res = await rpc(t, { jsonrpc: "2.0", method: "foobar", id: "1" });
    t.equal(res.error.code, -32601);
    t.equal(res.id, "1");
  });

  t.test("invalid JSON", async (t) => {
    const res = await rpc(t, '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
    t.strictSame(res, { jsonrpc: "2.0", error: { code: -32700, message: "parse error" }, id: null });
  });

  t.test("invalid Request object", async (t) => {
    const res = await rpc(t, { jsonrpc: "2.0", method: 1, params: "bar" });
    t.equal(res.error.code, -32600);
    t.equal(res.id, null);
  });

  t.test("batch, invalid JSON", async (t) => {
    const res = await rpc(t, '[{"jsonrpc": "2.0", "method": "test_add", "params": [1,2], "id": "1"},{"jsonrpc": "2.0", "method"]');
    t.notOk(Array.isArray(res), "a single response, not an array");
    t.equal(res.error.code, -32700);
    t.equal(res.id, null);
  });

  t.test("empty array", async (t) => {
    const res = await rpc(t, "[]");
    t.notOk(Array.isArray(res), "a single response, not an array");
    t.equal(res.error.code, -32600);
    t.equal(res.id, null);
  });

  t.test("invalid batch [1]", async (t) => {
    const res = await rpc(t, [1]);
    t.ok(Array.isArray(res));
    t.strictSame(
      res.map((r: any) => [r.error.code, r.id]),
      [[-32600, null]],
    );
  });

  t.test("invalid batch [1,2,3]", async (t) => {
    const res = await rpc(t, [1, 2, 3]);
    t.strictSame(
      res.map((r: any) => [r.error.code, r.id]),
      [
        [-32600, null],
        [-32600, null],
        [-32600, null],
      ],
    );
  });

  t.test("mixed batch", async (t) => {
    const before = ctx.notified.length;
    const res = await rpc(t, [
      { jsonrpc: "2.0", method: "test_add", params: [1, 2], id: "1" },
      { jsonrpc: "2.0", method: "test_notify", params: ["hello"] },
      { jsonrpc: "2.0", method: "test_subtract", params: [42, 23], id: "2" },
      { foo: "boo" },
      { jsonrpc: "2.0", method: "foo.get", params: { name: "myself" }, id: "5" },
      { jsonrpc: "2.0", method: "test_getData", id: "9" },
    ]);
    t.strictSame(
      res.map((r: any) => ("error" in r ? { error: r.error.code, id: r.id } : { result: r.result, id: r.id })),
      [
        { result: 3, id: "1" },
        { result: 19, id: "2" },
        { error: -32600, id: null },
        { error: -32601, id: "5" },
        { result: ["hello", 5], id: "9" },
      ],
    );
    t.strictSame(ctx.notified.slice(before), ["hello"]);
  });

  t.test("batch of only notifications", async (t) => {
    const r = await post([
      { jsonrpc: "2.0", method: "test_notify", params: [1, 2, 4] }, // invalid params: still silent
      { jsonrpc: "2.0", method: "test_notify", params: ["x"] },
    ]);
    t.equal(r.status, 204);
    t.equal(r.text, "");
  });
});

t.test("request shape", async (t) => {
  t.test("ids are echoed exactly; null id is a request, not a notification", async (t) => {
    const ids = ["abc", "", "ïd \u2028 ✓", 0, -7, 1.5, 9007199254740991, null];
    for (const [i, id] of ids.entries()) {
      const res = await rpc(t, call("test_add", [1, 1], id));
      // (U+2028 in an assertion message would break the TAP stream, hence the index.)
      t.strictSame(res, { jsonrpc: "2.0", result: 2, id }, `id #${i}`);
    }
  });

  t.test("ids of a wrong type are invalid requests with id null", async (t) => {
    for (const id of [true, false, {}, [], [1], { a: 1 }]) {
      const res = await rpc(t, call("test_add", [1, 1], id));
      t.equal(res.error?.code, -32600, `id ${JSON.stringify(id)}`);
      t.equal(res.id, null);
    }
    // 1e400 overflows to Infinity and cannot be echoed.
    const res = await rpc(t, '{"jsonrpc":"2.0","method":"test_add","params":[1,1],"id":1e400}');
    t.equal(res.error?.code, -32600);
    t.equal(res.id, null);
  });

  t.test("wrong jsonrpc, method, params: invalid request, id echoed", async (t) => {
    const bad: object[] = [
      { method: "test_add", params: [1, 2], id: 7 },
      { jsonrpc: "1.0", method: "test_add", params: [1, 2], id: 7 },
      { jsonrpc: 2, method: "test_add", params: [1, 2], id: 7 },
      { jsonrpc: "2.0", params: [1, 2], id: 7 },
      { jsonrpc: "2.0", method: null, id: 7 },
      { jsonrpc: "2.0", method: ["test_add"], id: 7 },
      { jsonrpc: "2.0", method: "test_add", params: null, id: 7 },
      { jsonrpc: "2.0", method: "test_add", params: "1,2", id: 7 },
      { jsonrpc: "2.0", method: "test_add", params: 12, id: 7 },
      { jsonrpc: "2.0", method: "test_add", params: true, id: 7 },
    ];
    for (const req of bad) {
      const res = await rpc(t, req);
      t.equal(res.error?.code, -32600, JSON.stringify(req));
      t.equal(res.id, 7);
    }
    for (const top of ["1", '"str"', "null", "true"]) {
      const res = await rpc(t, top);
      t.equal(res.error?.code, -32600, top);
      t.equal(res.id, null);
    }
  });

  t.test("prototype names are not methods, and params cannot pollute", async (t) => {
    for (const m of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "__defineGetter__"]) {
      t.equal(await errorCode(t, call(m, {})), -32601, m);
    }
    // an own "__proto__" key is an unknown param like any other: refused, and nothing polluted
    const res = await rpc(t, '{"jsonrpc":"2.0","method":"test_add","params":{"a":1,"b":2,"__proto__":{"a":"x","polluted":1}},"id":1}');
    t.equal(res.error?.code, -32602);
    t.same(res.error?.data.issues.map((i: { path: string }) => i.path), ["__proto__"]);
    t.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });

  t.test("absent params means {}", async (t) => {
    t.strictSame(await rpc(t, call("test_getData")), { jsonrpc: "2.0", result: ["hello", 5], id: 1 });
    t.equal(await errorCode(t, call("test_add")), -32602);
  });
});

t.test("invalid params", async (t) => {
  t.test("wrong types, with path and message in data", async (t) => {
    const res = await rpc(t, call("test_add", { a: "1", b: 2 }));
    t.equal(res.error.code, -32602);
    t.equal(res.error.data.issues.length, 1);
    t.equal(res.error.data.issues[0].path, "a");
    t.type(res.error.data.issues[0].message, "string");
    for (const params of [{ a: true, b: 1 }, { a: null, b: 1 }, { a: [1], b: 1 }, { a: { n: 1 }, b: 1 }, [1, "2"]]) {
      t.equal(await errorCode(t, call("test_add", params)), -32602, JSON.stringify(params));
    }
  });

  t.test("unknown param keys are refused, each named, and the handler does not run", async (t) => {
    const res = await rpc(t, call("test_add", { a: 1, b: 2, c: 3, bb: 4 }));
    t.equal(res.error.code, -32602);
    t.same(res.error.data.issues, [
      { path: "c", message: 'unknown param "c"' },
      { path: "bb", message: 'unknown param "bb"' },
    ]);
    t.equal(await errorCode(t, call("test_getData", { extra: true })), -32602, "also for a method without params");
    const before = ctx.notified.length;
    t.equal(await errorCode(t, call("test_notify", { msg: "x", typo: 1 })), -32602);
    t.equal(ctx.notified.length, before, "not executed");
    t.strictSame(await rpc(t, call("test_add", { a: 1, b: 2 })), { jsonrpc: "2.0", result: 3, id: 1 });
  });

  t.test("positional: too many or too few", async (t) => {
    t.equal(await errorCode(t, call("test_add", [1, 2, 3])), -32602);
    const res = await rpc(t, call("test_add", [1]));
    t.equal(res.error.code, -32602);
    t.equal(res.error.data.issues[0].path, "b");
  });

  t.test("summary is capped in count and length", async (t) => {
    const res = await rpc(t, call("test_wide", {}));
    t.equal(res.error.code, -32602);
    t.equal(res.error.data.issues.length, 10);
    t.equal(res.error.data.omitted, 10);
    for (const i of res.error.data.issues) t.ok(i.message.length <= 200, "message clipped");
  });

  t.test("huge numbers", async (t) => {
    // Overflows to Infinity, which z.number() rejects.
    t.equal(await errorCode(t, '{"jsonrpc":"2.0","method":"test_add","params":[1e400,1],"id":1}'), -32602);
    t.equal(await errorCode(t, `{"jsonrpc":"2.0","method":"test_add","params":[${"9".repeat(100_000)},1],"id":1}`), -32602);
    const res = await rpc(t, '{"jsonrpc":"2.0","method":"test_add","params":[123456789012345678901234567890,1],"id":1}');
    t.equal(res.result, 123456789012345678901234567890 + 1);
  });
});

t.test("handler errors", async (t) => {
  t.test("CodedError -> -32000 with data.code", async (t) => {
    const res = await rpc(t, call("test_fail", {}, "f"));
    t.strictSame(res, {
      jsonrpc: "2.0",
      error: { code: -32000, message: "it failed", data: { amount: "5", code: "TEST_FAILED", bytes: "01ff" } },
      id: "f",
    });
  });

  t.test("RpcError keeps its code", async (t) => {
    const res = await rpc(t, call("test_limited", {}));
    t.strictSame(res.error, { code: -32005, message: "slow down", data: { retryAfterMs: 10 } });
  });

  t.test("plain Error -> -32603, nothing leaked, cause logged", async (t) => {
    logs.length = 0;
    const r = await post(call("test_boom", {}, 9));
    t.equal(r.status, 200);
    t.strictSame(JSON.parse(r.text), { jsonrpc: "2.0", error: { code: -32603, message: "internal error" }, id: 9 });
    t.notMatch(r.text, /secret|cloudcoin|Error/);
    const logged = logs.find((l) => l.level === "warn" && (l.obj as { method?: string }).method === "test_boom");
    t.ok(logged, "logged through the injected logger");
    t.match((logged?.obj as { err?: Error }).err?.message, /secret/);
  });

  t.test("a result given as text goes out verbatim, whatever the id", async (t) => {
    for (const id of [1, "a\"b", null, -0.5]) {
      const r = await post(call("test_text", { which: "ok" }, id));
      t.equal(r.status, 200);
      t.equal(r.text, `{"jsonrpc":"2.0","result":${TEXT_RESULT},"id":${JSON.stringify(id)}}`);
      t.strictSame(JSON.parse(r.text), { jsonrpc: "2.0", result: { n: 7, s: 'quote " and \u2028 and ]}' }, id });
    }
    const batch = JSON.parse((await post([call("test_text", { which: "ok" }, 1), call("test_add", { a: 1, b: 2 }, 2)])).text);
    t.strictSame(batch, [{ jsonrpc: "2.0", result: { n: 7, s: 'quote " and \u2028 and ]}' }, id: 1 }, { jsonrpc: "2.0", result: 3, id: 2 }]);
  });

  t.test("a result text off its schema or not JSON is an internal error when results are checked", async (t) => {
    logs.length = 0;
    t.equal(await errorCode(t, call("test_text", { which: "offSchema" })), -32603);
    t.ok(logs.some((l) => l.msg === "rpc result failed its schema"));
    t.equal(await errorCode(t, call("test_text", { which: "notJson" })), -32603);
    // Unchecked (a production node), the text is trusted as it is: only a handler bug could make it wrong.
    const unchecked = await dispatch(table, JSON.stringify(call("test_text", { which: "offSchema" }, 3)), ctx, { allowedPermissions: new Set(["read"]), maxBatch: 10, checkResults: false });
    t.equal(unchecked, '{"jsonrpc":"2.0","result":{"n":"seven","s":"x"},"id":3}');
    await stillServing(t);
  });

  t.test("result failing its schema is an internal error, logged", async (t) => {
    logs.length = 0;
    t.equal(await errorCode(t, call("test_badResult", {})), -32603);
    t.ok(logs.some((l) => l.msg === "rpc result failed its schema"));
  });
});

t.test("permissions", async (t) => {
  const bearer = (tok: string) => ({ authorization: `Bearer ${tok}` });

  t.test("no token: read and write only", async (t) => {
    for (const m of ["test_sign", "test_admin"]) {
      const res = await rpc(t, call(m, {}));
      t.equal(res.error?.code, -32001, m);
      t.match(res.error?.message, m === "test_sign" ? /requires sign permission/ : /requires admin permission/);
    }
    t.equal((await rpc(t, call("test_add", [1, 2]))).result, 3);
    const r = await post({ jsonrpc: "2.0", method: "test_notify", params: ["w"] });
    t.equal(r.status, 204, "write allowed without a token");
  });

  t.test("admin token: sign and admin", async (t) => {
    t.equal((await rpc(t, call("test_sign", {}), bearer(ADMIN_TOKEN))).result, "signed");
    t.equal((await rpc(t, call("test_admin", {}), bearer(ADMIN_TOKEN))).result, "admin ok");
    t.equal((await rpc(t, call("test_add", [1, 2]), bearer(ADMIN_TOKEN))).result, 3);
    // The auth scheme is case-insensitive (RFC 7235).
    t.equal((await rpc(t, call("test_admin", {}), { authorization: `bearer ${ADMIN_TOKEN}` })).result, "admin ok");
  });

  t.test("read-only token cannot call admin or sign", async (t) => {
    t.equal(await errorCode(t, call("test_admin", {}), bearer(READ_TOKEN)), -32001);
    t.equal(await errorCode(t, call("test_sign", {}), bearer(READ_TOKEN)), -32001);
    t.equal((await rpc(t, call("test_add", [2, 2]), bearer(READ_TOKEN))).result, 4);
  });

  t.test("wrong or malformed token: HTTP 401", async (t) => {
    const wrong = [
      bearer("nope"),
      bearer(ADMIN_TOKEN.slice(0, -1) + "X"), // same length
      bearer(ADMIN_TOKEN + "X"),
      { authorization: `Basic ${ADMIN_TOKEN}` },
      { authorization: ADMIN_TOKEN },
      { authorization: "Bearer" },
      { authorization: "" },
    ];
    for (const h of wrong) {
      const r = await post(call("test_add", [1, 2]), h);
      t.equal(r.status, 401, JSON.stringify(h));
      t.strictSame(JSON.parse(r.text).error.code, -32001);
    }
  });
});

t.test("transport", async (t) => {
  t.test("content types: any or none reaches the dispatcher", async (t) => {
    const body = JSON.stringify(call("test_add", [1, 2]));
    for (const ct of ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "foo/bar; x=y"]) {
      const r = await post(body, { "content-type": ct });
      t.equal(r.status, 200, ct);
      t.equal(JSON.parse(r.text).result, 3, ct);
    }
    const r = await post(new TextEncoder().encode(body)); // no content type at all
    t.equal(r.status, 200);
    t.equal(JSON.parse(r.text).result, 3);
  });

  t.test("malformed JSON or empty body is a -32700, not an HTTP 400", async (t) => {
    for (const body of ["", " ", "{", "{]", "nul", '{"a":1,}', "\u0000"]) {
      t.equal(await errorCode(t, body), -32700, JSON.stringify(body));
    }
  });

  t.test("oversized body: 413 with a JSON-RPC error, server keeps serving", async (t) => {
    const r = await post(JSON.stringify({ ...call("test_add", [1, 2]), pad: "x".repeat(1024 * 1024) }));
    t.equal(r.status, 413);
    t.equal(JSON.parse(r.text).error.code, -32600);
    await stillServing(t);
  });

  t.test("batch size cap", async (t) => {
    const batch = (n: number) => Array.from({ length: n }, (_, i) => call("test_add", [i, 1], i));
    const res100 = await rpc(t, batch(100));
    t.equal(res100.length, 100);
    t.strictSame(
      res100.map((r: any) => r.id),
      Array.from({ length: 100 }, (_, i) => i),
      "responses in request order",
    );
    const res101 = await rpc(t, batch(101));
    t.notOk(Array.isArray(res101));
    t.equal(res101.error.code, -32600);
  });

  t.test("GET /health", async (t) => {
    const res = await fetch(new URL("/health", srv.url));
    t.equal(res.status, 200);
    t.strictSame(await res.json(), { ok: true });
  });
});

t.test("malformed input does not crash or hang the server", async (t) => {
  t.test("100k-deep nesting", async (t) => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    const deepObj = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);
    const top = await rpc(t, deep(100_000));
    t.strictSame(
      top.map((r: any) => r.error.code),
      [-32600],
    );
    t.equal(await errorCode(t, `{"jsonrpc":"2.0","method":"test_add","params":{"a":${deep(100_000)},"b":1},"id":1}`), -32602);
    t.equal(await errorCode(t, `{"jsonrpc":"2.0","method":"test_add","params":{"a":${deepObj(100_000)},"b":1},"id":1}`), -32602);
    t.equal(await errorCode(t, `{"jsonrpc":"2.0","method":"test_add","params":[1,1],"id":${deep(100_000)}}`), -32600);
    t.equal(await errorCode(t, `{"jsonrpc":"2.0","method":${deepObj(100_000)},"id":1}`), -32600);
    t.equal(await errorCode(t, "[".repeat(100_000)), -32700);
    await stillServing(t);
  });

  t.test("random bytes", async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const r = await post(bytes, { "content-type": "application/json" });
        if (r.status !== 200) return false;
        const res = JSON.parse(r.text);
        // Random bytes are never a valid call; every answer is an error with a known code.
        const all = Array.isArray(res) ? res : [res];
        return all.every((x) => x.jsonrpc === "2.0" && x.id === null && [-32700, -32600].includes(x.error?.code));
      }),
      { numRuns: 150, seed: 42 },
    );
    await stillServing(t);
  });

  t.test("random request objects", async (t) => {
    const knownCodes = new Set<number>(Object.values(RpcErrorCode));
    const validId = fc.oneof(fc.string(), fc.integer(), fc.constant(null));
    const request = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant("2.0"), fc.jsonValue()),
        method: fc.oneof(fc.constantFrom(...Object.keys(table), "__proto__", "nope_x"), fc.jsonValue()),
        params: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 4 }), fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
        id: fc.oneof(validId, fc.jsonValue()),
      },
      { requiredKeys: ["id"] },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const r = await post(req);
        if (r.status !== 200) return false;
        const res = JSON.parse(r.text);
        if (res.jsonrpc !== "2.0" || "result" in res === "error" in res) return false;
        if ("error" in res && !knownCodes.has(res.error.code)) return false;
        // A well-formed id is echoed; a malformed one becomes null.
        const idOk = req.id === null || typeof req.id === "string" || typeof req.id === "number";
        return idOk ? Object.is(res.id, req.id) || (Object.is(req.id, -0) && res.id === 0) : res.id === null;
      }),
      { numRuns: 200, seed: 7 },
    );
    await stillServing(t);
  });
});

t.test("dispatch on its own", async (t) => {
  const opts = { allowedPermissions: new Set<Permission>(["read", "write"]), maxBatch: 3 };
  t.equal(await dispatch(table, '{"jsonrpc":"2.0","method":"test_notify","params":["d"]}', ctx, opts), undefined);
  t.strictSame(JSON.parse((await dispatch(table, JSON.stringify(call("test_add", [2, 3], "d")), ctx, opts)) ?? ""), {
    jsonrpc: "2.0",
    result: 5,
    id: "d",
  });
  const big = JSON.parse((await dispatch(table, JSON.stringify([1, 2, 3, 4]), ctx, opts)) ?? "");
  t.equal(big.error.code, -32600, "maxBatch honoured");
});

t.test("server construction validates the table and options", async (t) => {
  const ok = table.test_add!;
  for (const name of ["getBlock", "chain_get_block", "Chain_getBlock", "chain_", "_x", "__proto__", "chain_get1", "a.b"]) {
    await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0 }, { [name]: ok }, ctx), TypeError, name);
  }
  const badPerm = { ...ok, permission: "root" as Permission };
  await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0 }, { test_x: badPerm }, ctx), TypeError);
  await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0, tokens: [{ token: "", permissions: ["admin"] }] }, table, ctx), TypeError);
  await t.rejects(startRpcServer({ host: "127.0.0.1", port: 0, maxBatch: 0 }, table, ctx), RangeError);
});
