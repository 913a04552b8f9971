/**
 * rpc/client.ts against a real HTTP server that answers what a node (or something that is not a
 * node) might: every failure gets a named code (the typed data.code, else RPC_<name of the
 * JSON-RPC code>, else RPC_ERROR), never "RPC_undefined" or "RPC_-32001" (issue #18, finding 8).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { RpcClient } from "../../../rpc/client.ts";

t.test("every error answer becomes a named code with a message", async (t) => {
  let answer = "";
  let status = 200;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => server.close());
  const client = new RpcClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const failure = async (body: unknown, httpStatus = 200): Promise<{ code: string; message: string }> => {
    answer = typeof body === "string" ? body : JSON.stringify(body);
    status = httpStatus;
    try {
      await client.call("node_status", {});
    } catch (e) {
      return { code: (e as { code: string }).code, message: (e as Error).message };
    }
    throw new Error("the call did not fail");
  };
  const cases: [string, unknown, number, RegExp, RegExp][] = [
    ["a typed error", { jsonrpc: "2.0", id: 1, error: { code: -32000, message: "too poor", data: { code: "MEMPOOL_INSUFFICIENT_BALANCE" } } }, 200, /^MEMPOOL_INSUFFICIENT_BALANCE$/, /too poor/],
    ["no token", { jsonrpc: "2.0", id: 1, error: { code: -32001, message: "unauthorized" } }, 401, /^RPC_UNAUTHORIZED$/, /--token or CLOUDCOIN_RPC_TOKEN/],
    ["rate limited", { jsonrpc: "2.0", id: 1, error: { code: -32005, message: "slow down" } }, 429, /^RPC_RATE_LIMITED$/, /slow down/],
    ["an unknown JSON-RPC code", { jsonrpc: "2.0", id: 1, error: { code: -1234, message: "odd" } }, 200, /^RPC_ERROR$/, /odd/],
    ["an error without code or message", { jsonrpc: "2.0", id: 1, error: {} }, 500, /^RPC_INTERNAL_ERROR$/, /HTTP 500 with an error without a message/],
    ["not JSON", "<html>bad gateway</html>", 502, /^RPC_PARSE_ERROR$/, /HTTP 502 with a non-JSON body/],
    ["no result", { jsonrpc: "2.0", id: 1 }, 200, /^RPC_INTERNAL_ERROR$/, /without a JSON-RPC result/],
  ];
  for (const [what, body, httpStatus, code, message] of cases) {
    const f = await failure(body, httpStatus);
    t.match(f.code, code, `${what}: ${f.code}`);
    t.match(f.message, message, `${what}: the message says what happened`);
    t.notMatch(f.code, /undefined|-?\d/, `${what}: no undefined or bare number in the code`);
  }
  const down = new RpcClient("http://127.0.0.1:1/");
  await t.rejects(down.call("node_status", {}), { code: "RPC_UNREACHABLE", message: /is it running\? \(--rpc URL\)/ }, "no node: RPC_UNREACHABLE with what to check");
});
