// rpc_discover: the OpenRPC document generated from the node's real method table, fetched from
// a real server on 127.0.0.1. rpc_discover touches no context, so the context is empty.
import t from "tap";
import { z } from "zod";
import type { RpcContext } from "../../../rpc/context.ts";
import { DISCOVER_METHOD, openRpcDocument, withDiscover, type OpenRpcDocument } from "../../../rpc/openrpc.ts";
import { startRpcServer } from "../../../rpc/server.ts";
import { defineMethod, type MethodTable } from "../../../rpc/table.ts";
import { methods } from "../../../modules/rpc.ts";

const VERSION = "9.8.7-test";
const table = withDiscover(methods, { title: "Cloudcoin node", version: VERSION });

async function discover(url: string): Promise<{ text: string; doc: OpenRpcDocument }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: DISCOVER_METHOD }) });
  const text = await res.text();
  const body = JSON.parse(text) as { result: OpenRpcDocument; error?: unknown };
  if (body.error !== undefined) throw new Error(`rpc_discover failed: ${text}`);
  return { text, doc: body.result };
}

t.test("rpc_discover over a real server", async (t) => {
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, checkResults: true }, table, {} as RpcContext);
  t.teardown(() => server.close());
  const { text, doc } = await discover(server.url);

  t.equal(doc.openrpc, "1.3.2");
  t.same(doc.info, { title: "Cloudcoin node", version: VERSION }, "info carries the node version");

  t.test("the method list is exactly the typed client's table plus rpc_discover, sorted", async (t) => {
    const names = doc.methods.map((m) => m.name);
    t.same(names, [...Object.keys(methods), DISCOVER_METHOD].sort());
    t.same(names, [...names].sort(), "sorted by name");
    t.equal(new Set(names).size, names.length, "no duplicates");
  });

  t.test("each entry carries its description and permission", async (t) => {
    for (const m of doc.methods) {
      const spec = table[m.name]!;
      t.equal(m.description, spec.description, `${m.name} description`);
      t.equal(m["x-permission"], spec.permission, `${m.name} x-permission`);
    }
    t.equal(doc.methods.find((m) => m.name === "paych_redeem")?.["x-permission"], "sign");
    t.equal(doc.methods.find((m) => m.name === "tx_send")?.["x-permission"], "write");
    t.equal(doc.methods.find((m) => m.name === DISCOVER_METHOD)?.["x-permission"], "read");
  });

  t.test("params and required follow the zod schemas", async (t) => {
    const byName = (n: string) => doc.methods.find((m) => m.name === n)!;
    const getBlock = byName("chain_getBlock");
    t.same(getBlock.params.map((p) => [p.name, p.required]), [["height", false], ["hash", false], ["full", false]]);
    t.same(getBlock.params[1]!.schema, { type: "string", pattern: "^[0-9a-fA-F]{64}$" });
    t.same(getBlock.params[2]!.schema, { type: "boolean", default: false });
    // height: an integer or a decimal string on input (the bigint transform is not wire shape)
    t.same((getBlock.params[0]!.schema["anyOf"] as Array<{ type: string }>).map((s) => s.type), ["integer", "string"]);

    const account = byName("state_getAccount");
    t.same(account.params.map((p) => [p.name, p.required]), [["address", true], ["proof", false], ["height", false]]);
    t.equal(account.params[0]!.schema["type"], "string");
    const result = account.result.schema as { type: string; required: string[]; properties: Record<string, unknown> };
    t.equal(result.type, "object");
    t.ok(result.required.includes("balance") && result.required.includes("stateRoot"), "result required keys");
    t.notOk(result.required.includes("proof"), "an optional result key is not required");

    const txGet = byName("tx_get");
    t.same(txGet.params.map((p) => [p.name, p.required]), [["hash", true]]);
    t.same(byName("node_status").params, []);

    // every method: param names in the zod object's declared order (the positional order)
    for (const m of doc.methods) {
      t.same(m.params.map((p) => p.name), Object.keys((table[m.name]!.params as z.ZodObject).shape), `${m.name} param order`);
    }
  });

  t.test("the real table refuses unknown param keys and keeps its object refinements", async (t) => {
    const call = async (method: string, params: unknown) => {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 7, method, params }) });
      return (await res.json()) as { error?: { code: number; data: { issues: { path: string; message: string }[] } } };
    };
    // refused before the handler runs (the context here is empty: a handler would throw -32603)
    const typo = await call("chain_getBlock", { heigth: 1 });
    t.equal(typo.error?.code, -32602);
    t.same(typo.error?.data.issues[0], { path: "heigth", message: 'unknown param "heigth"' });
    const both = await call("chain_getBlock", { height: 1, hash: "00".repeat(32) });
    t.equal(both.error?.code, -32602, "the object's refine still runs on the strict schema");
    t.match(both.error?.data.issues[0]?.message, /exactly one of height and hash/);
    t.equal((await call(DISCOVER_METHOD, { verbose: true })).error?.code, -32602, "rpc_discover takes no params");
    t.equal((await call("storage_listDeals", { client: "cc1x", providr: "x" })).error?.data.issues.some((i) => i.path === "providr"), true, "named among other issues");
  });

  t.test("the document is stable between calls and memoized per table", async (t) => {
    const again = await discover(server.url);
    t.equal(again.text, text, "byte-identical answer");
    t.equal(openRpcDocument(table, { title: "x", version: "y" }), openRpcDocument(table, { title: "x", version: "y" }), "same object");
    t.ok(Object.isFrozen(openRpcDocument(table, { title: "x", version: "y" }).methods[0]), "cached copy is frozen");
  });
});

t.test("a toy table: required from optionality, defaults and nested objects", async (t) => {
  const toy: MethodTable<unknown> = {
    zeta_last: defineMethod({ description: "z", params: z.object({}), result: z.null(), permission: "admin", handler: () => null }),
    alpha_first: defineMethod({
      description: "a",
      params: z.object({ must: z.string(), maybe: z.number().optional(), dflt: z.int().default(3), nested: z.object({ x: z.boolean() }) }),
      result: z.object({ ok: z.boolean() }),
      permission: "write",
      handler: () => ({ ok: true }),
    }),
  };
  const doc = openRpcDocument(withDiscover(toy, { title: "toy", version: "1" }), { title: "toy", version: "1" });
  t.same(doc.methods.map((m) => m.name), ["alpha_first", "rpc_discover", "zeta_last"]);
  const a = doc.methods[0]!;
  t.same(a.params.map((p) => [p.name, p.required]), [["must", true], ["maybe", false], ["dflt", false], ["nested", true]]);
  t.match(a.params[3]!.schema, { type: "object", properties: { x: { type: "boolean" } }, required: ["x"] });
  t.same(a.result.schema, { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false });
  t.equal(doc.methods[2]!["x-permission"], "admin");
  t.throws(() => withDiscover(withDiscover(toy, { title: "t", version: "1" }), { title: "t", version: "1" }), TypeError, "rpc_discover cannot be added twice");
});

t.test("the document is valid OpenRPC (the official meta-schema) and says where the node answers and how each method fails", async (t) => {
  const { Ajv } = await import("ajv");
  const { default: metaModule } = await import("@open-rpc/meta-schema");
  const meta = (metaModule as unknown as { openrpcDocument?: object }).openrpcDocument ?? (metaModule as object);
  let url = "";
  const served = withDiscover(methods, { title: "Cloudcoin node", version: VERSION, servers: () => [{ name: "test node", url }] });
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, checkResults: true }, served, {} as RpcContext);
  t.teardown(() => server.close());
  url = server.url;
  const { doc } = await discover(server.url);
  // The OpenRPC meta-schema checks every part of the document; the JSON Schemas inside it (params
  // and results, made by zod's own converter) it refers to another meta-schema for, whose
  // self-references Ajv cannot resolve: those subschemas are taken as any JSON value here.
  const structural = JSON.parse(JSON.stringify(meta), (_k, v) =>
    v && typeof v === "object" && typeof v.$ref === "string" && v.$ref.startsWith("https://meta.json-schema.tools") ? {} : v) as Record<string, unknown>;
  delete structural.$schema;
  const ajv = new Ajv({ strict: false, validateFormats: false });
  const valid = ajv.validate(structural, doc);
  t.ok(valid, `valid against the OpenRPC meta-schema${valid ? "" : `: ${JSON.stringify(ajv.errors?.slice(0, 3))}`}`);
  t.notOk(ajv.validate(structural, { ...doc, methods: [{ ...doc.methods[0]!, errors: [{ message: "no code" }] }] }), "the check does fail a broken document");
  t.same(doc.servers, [{ name: "test node", url: server.url }], "servers: this node's URL");
  const errorsOf = (name: string) => doc.methods.find((m) => m.name === name)!.errors;
  t.ok(errorsOf("tx_send").some((e) => e.code === -32000 && (e.data as { code: string }).code === "TX_BAD_SIGNATURE"), "tx_send lists its typed codes");
  t.ok(errorsOf("paych_checkVoucher").some((e) => (e.data as { code?: string } | undefined)?.code === "PAYCH_BAD_SIGNATURE"), "paych_checkVoucher lists PAYCH_*");
  t.ok(errorsOf("paych_redeem").some((e) => e.code === -32001), "a sign-tier method lists unauthorized");
  t.notOk(errorsOf("chain_getHead").some((e) => e.code === -32001), "a read method does not");
  for (const m of doc.methods) t.ok(m.errors.some((e) => e.code === -32602), `${m.name} lists invalid params`);
});
