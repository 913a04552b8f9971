/**
 * Figure 3, ceiling server: bare fastify doing the minimum a JSON-RPC method must do — read
 * the body as text, JSON.parse it, validate one param with zod, answer a constant-shaped
 * result. Same framework, same body handling (text parser) as the real server, nothing else.
 *
 * Run by test/perf/rpc.ts as a child process: node --import tsx test/perf/rpc-bare-server.ts
 */
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { z } from "zod";
import { serveForParent } from "./child.ts";

const params = z.object({ address: z.string().min(1).max(128) });
const ZERO_ROOT = "0".repeat(64);

serveForParent(async () => {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  const asText = (_req: unknown, body: string, done: (err: null, body: string) => void): void => done(null, body);
  app.addContentTypeParser("application/json", { parseAs: "string" }, asText);
  app.addContentTypeParser("*", { parseAs: "string" }, asText);
  app.post("/", async (req, reply) => {
    const body = JSON.parse(typeof req.body === "string" ? req.body : "") as { id?: unknown; params?: unknown };
    const p = params.parse(body.params);
    const result = { address: p.address, balance: "0", nonce: "0", staked: "0", unbonding: [], height: 0, stateRoot: ZERO_ROOT };
    return reply.type("application/json; charset=utf-8").send(JSON.stringify({ jsonrpc: "2.0", result, id: body.id ?? null }));
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
});
