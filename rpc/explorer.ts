/**
 * The explorer page (rpc/explorer/): static files served by the RPC listener at /explorer/.
 * The page itself reads only the public JSON-RPC from the same origin.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const files = {
  "index.html": "text/html; charset=utf-8",
  "explorer.js": "text/javascript; charset=utf-8",
} as const;

export function registerExplorer(app: FastifyInstance): void {
  const content = Object.fromEntries(
    Object.keys(files).map((name) => [name, readFileSync(new URL(`./explorer/${name}`, import.meta.url))]),
  ) as Record<keyof typeof files, Buffer>;
  const headers = { "cache-control": "no-cache", "x-content-type-options": "nosniff" };
  app.get("/explorer", async (_req, reply) => reply.redirect("/explorer/"));
  app.get("/explorer/", async (_req, reply) => reply.headers(headers).type(files["index.html"]).send(content["index.html"]));
  app.get("/explorer/explorer.js", async (_req, reply) => reply.headers(headers).type(files["explorer.js"]).send(content["explorer.js"]));
}
