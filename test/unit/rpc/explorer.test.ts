/** The explorer's static files: every module of rpc/explorer/ is served, nothing else is. */
import { readdirSync } from "node:fs";
import Fastify from "fastify";
import t from "tap";
import { registerExplorer } from "../../../rpc/explorer.ts";

t.test("serves the page and each of its modules; unknown names and traversal get 404", async (t) => {
  const app = Fastify();
  registerExplorer(app);
  t.teardown(() => app.close());
  const index = await app.inject({ url: "/explorer/" });
  t.equal(index.statusCode, 200);
  t.match(index.headers["content-type"], /text\/html/);
  t.match(index.body, /<script type="module" src="explorer.js">/);
  t.equal((await app.inject({ url: "/explorer" })).statusCode, 302, "/explorer redirects to /explorer/");
  const modules = readdirSync(new URL("../../../rpc/explorer/", import.meta.url)).filter((f) => f.endsWith(".js"));
  t.ok(modules.includes("storage.js") && modules.includes("chain.js") && modules.includes("lib.js"));
  for (const f of modules) {
    const r = await app.inject({ url: `/explorer/${f}` });
    t.equal(r.statusCode, 200, `${f} is served`);
    t.match(r.headers["content-type"], /text\/javascript/);
    t.equal(r.headers["x-content-type-options"], "nosniff");
    // every relative import of a module is itself served
    for (const m of r.body.matchAll(/from "\.\/([^"]+)"/g)) t.ok(modules.includes(m[1]!), `${f} imports ${m[1]}, which is served`);
  }
  for (const bad of ["/explorer/nope.js", "/explorer/..%2fexplorer.ts", "/explorer/%2e%2e%2f%2e%2e%2fpackage.json"]) {
    t.equal((await app.inject({ url: bad })).statusCode, 404, `${bad}: 404`);
  }
});
