/**
 * table.ts fastParams: a hot method's own check of its usual params may only skip the schema's work,
 * never change an answer. The dispatcher consults it first and falls back to the strict schema;
 * state_getAccount's (accountParams) is held here to its schema on random params, both directly and
 * through whole answers, compared with the same table without it.
 */
import t from "tap";
import fc from "fast-check";
import { z } from "zod";
import { toAddress } from "../../../primitives/keys.ts";
import { dispatch, type DispatchOptions } from "../../../rpc/dispatch.ts";
import { defineMethod, strictParams, type MethodTable } from "../../../rpc/table.ts";
import { accountParams } from "../../../rpc/methods.ts";
import type { RpcContext } from "../../../rpc/context.ts";
import { StoreError, StoreErrorCode } from "../../../chain/store.ts";
import { methods } from "../../../modules/rpc.ts";
import { advance, newTestChain, testKey, transfer } from "../../helpers/chain.ts";

const opts: DispatchOptions = { allowedPermissions: new Set(["read", "write"]), maxBatch: 10, checkResults: true };

t.test("the dispatcher takes fastParams' answer, and the schema's when it has none", async (t) => {
  const seen: unknown[] = [];
  const table: MethodTable<unknown> = {
    test_echo: defineMethod({
      description: "echoes its params",
      params: z.object({ n: z.int(), s: z.string().default("d") }),
      result: z.object({ n: z.number(), s: z.string() }),
      permission: "read",
      fastParams: (input) => (input["n"] === 7 && Object.keys(input).length === 1 ? { n: 7, s: "d" } : undefined),
      handler: (p) => (seen.push(p), p),
    }),
  };
  const call = async (params: string) => JSON.parse((await dispatch(table, `{"jsonrpc":"2.0","id":1,"method":"test_echo","params":${params}}`, {}, opts))!);
  t.same((await call('{"n":7}')).result, { n: 7, s: "d" }, "fast path");
  t.same((await call("[7]")).result, { n: 7, s: "d" }, "positional params reach it mapped to names");
  t.same((await call('{"n":8,"s":"x"}')).result, { n: 8, s: "x" }, "the schema when it declines");
  t.equal((await call('{"n":"7"}')).error.code, -32602, "errors come from the schema");
  t.equal((await call('{"n":7,"x":1}')).error.data.issues[0].path, "x", "unknown keys too");
  t.equal(seen.length, 3);
});

// ---- state_getAccount ----

const chain = newTestChain();
const alice = testKey(1);
advance(chain, [transfer(chain, chain.faucet, 0n, alice, 77n)]);
const head = chain.state;
const headHeight = head.meta().height;
const ctx = {
  headState: () => head,
  store: {
    head: { height: headHeight, hash: new Uint8Array(32) },
    base: 1n,
    stateAt: async (h: bigint) => {
      if (h === headHeight) return head;
      throw new StoreError(StoreErrorCode.STATE_PRUNED, `the state at height ${h} is not kept`, { height: h.toString() });
    },
  },
} as unknown as RpcContext;
const withoutFast: MethodTable<RpcContext> = { ...methods, state_getAccount: { ...methods.state_getAccount, fastParams: undefined } };

const good = toAddress(alice.publicKey);
const value = fc.oneof(
  fc.constantFrom(good, good.toUpperCase(), good.slice(0, -1) + (good.endsWith("q") ? "p" : "q"), good.slice(1), `${good} `, "cc1", ""),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => toAddress(k)),
  fc.boolean(),
  fc.constantFrom(0, 1, -1, 1.5, Number(headHeight), "1", "01", "18446744073709551615", null),
  fc.string({ maxLength: 8 }),
  fc.array(fc.boolean(), { maxLength: 2 }),
  fc.constant({}),
);
const key = fc.constantFrom("address", "address", "address", "proof", "proof", "height", "extra", "__proto__", "Address", "constructor");
/** Params as JSON text (JSON.parse then makes "__proto__" an own key, as a request would). */
const paramsText = fc.oneof(
  fc.array(fc.tuple(key, value), { maxLength: 4 }).map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`),
  fc.array(value, { maxLength: 4 }).map((vs) => JSON.stringify(vs)),
  fc.constantFrom(`{"address":${JSON.stringify(good)}}`, `{"address":${JSON.stringify(good)},"proof":false}`, `{"address":${JSON.stringify(good)},"proof":true}`, "[]", "{}"),
);

t.test("accountParams answers only what the strict schema would, and the same", async (t) => {
  const schema = strictParams(methods.state_getAccount.params);
  let fast = 0;
  fc.assert(
    fc.property(paramsText, (text) => {
      const input = JSON.parse(text) as unknown;
      if (Array.isArray(input)) return true;
      const got = accountParams(input as Record<string, unknown>);
      if (got === undefined) return true;
      fast++;
      const want = schema.safeParse(input);
      t.ok(want.success, `the schema accepts ${text}`);
      t.same(got, want.data, text);
    }),
    { numRuns: 4000, seed: 42 },
  );
  t.ok(fast > 100, `the fast path was taken (${fast} times)`);
});

t.test("state_getAccount answers every params the same with and without its fast path", async (t) => {
  fc.assert(
    fc.asyncProperty(paramsText, fc.boolean(), async (text, check) => {
      const body = `{"jsonrpc":"2.0","id":3,"method":"state_getAccount","params":${text}}`;
      const o = { ...opts, checkResults: check };
      const [a, b] = [await dispatch(methods, body, ctx, o), await dispatch(withoutFast, body, ctx, o)];
      if (a !== b) t.fail(`${text}:\n  fast ${a}\n  slow ${b}`);
      return a === b;
    }),
    { numRuns: 3000, seed: 43 },
  );
  const answer = JSON.parse((await dispatch(methods, `{"jsonrpc":"2.0","id":1,"method":"state_getAccount","params":{"address":"${good}"}}`, ctx, opts))!);
  t.equal(answer.result.balance, "77");
  t.equal(answer.result.address, good);
});
