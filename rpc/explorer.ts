/**
 * The explorer page (rpc/explorer/): static files served by the RPC listener at /explorer/.
 * The page itself reads only the public JSON-RPC and its WebSocket, from the same origin.
 * Every .html and .js file of the folder is served (read once, at start); adding a view module
 * needs no change here.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8" };
const DIR = new URL("./explorer/", import.meta.url);

export function registerExplorer(app: FastifyInstance): void {
  const headers = { "cache-control": "no-cache", "x-content-type-options": "nosniff" };
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(DIR)) {
    const type = TYPES[name.slice(name.lastIndexOf(".") + 1)];
    if (type !== undefined && /^[a-z0-9-]+\.[a-z]+$/.test(name)) files.set(name, { type, body: readFileSync(new URL(name, DIR)) });
  }
  const index = files.get("index.html");
  if (!index) throw new Error("rpc/explorer/index.html is missing");
  app.get("/explorer", async (_req, reply) => reply.redirect("/explorer/"));
  app.get("/explorer/", async (_req, reply) => reply.headers(headers).type(index.type).send(index.body));
  app.get<{ Params: { file: string } }>("/explorer/:file", async (req, reply) => {
    const f = files.get(req.params.file);
    if (!f) return reply.code(404).type("text/plain; charset=utf-8").send("not found\n");
    return reply.headers(headers).type(f.type).send(f.body);
  });
}
