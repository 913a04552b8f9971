/**
 * The documents in docs/ and the README name only what exists: every JSON-RPC method named in
 * docs/rpc-guide.md is in the node's OpenRPC document (or is a WebSocket subscription method),
 * every `cloudcoin <command> [<subcommand>]` in docs/ and the README is a command of the CLI
 * whose usage lists that subcommand, every test file and source file a document cites exists,
 * and every relative link resolves inside the repository (none points outside it).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import "../../../modules/index.ts";
import { methods } from "../../../modules/rpc.ts";
import { openRpcDocument, withDiscover } from "../../../rpc/openrpc.ts";
import { subscriptionMethodStubs } from "../../../rpc/ws.ts";
import { commands } from "../../../node/commands.ts";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "../../.."));
const DOCS = ["docs/protocol.md", "docs/operator-guide.md", "docs/rpc-guide.md", "docs/architecture.md", "README.md"];
const read = (f: string) => readFileSync(join(ROOT, f), "utf8");

t.test("every RPC method the wallet guide names exists", async (t) => {
  const known = new Set([...openRpcDocument(withDiscover(methods, { title: "t", version: "0" }), { title: "t", version: "0" }).methods.map((m) => m.name), ...Object.keys(subscriptionMethodStubs())]);
  const named = new Set([...read("docs/rpc-guide.md").matchAll(/`([a-z]+_[a-zA-Z]+)`/g)].map((m) => m[1]!));
  t.ok(named.size >= 30, `the guide names the methods (${named.size})`);
  t.same([...named].filter((n) => !known.has(n)), [], "no method named in docs/rpc-guide.md is missing from rpc_discover");
  const missing = [...known].filter((n) => !named.has(n));
  t.same(missing, [], "and every method of the node is in the guide");
});

t.test("every `cloudcoin` command the documents name exists, with its subcommand", async (t) => {
  let checked = 0;
  for (const f of DOCS) {
    for (const m of read(f).matchAll(/\bcloudcoin ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
      const [, name, sub] = m;
      if (name === "node" || name === "devnet" || name === "explorer") continue; // prose: "the Cloudcoin node", not commands
      checked++;
      const cmd = commands[name!];
      if (!t.ok(cmd, `${f}: cloudcoin ${name} is a command`)) continue;
      // a following lowercase word is a subcommand when the usage lists subcommands (`keys new|show …`)
      if (sub && new RegExp(`cloudcoin ${name} [<(]?[a-z|-]+`).test(cmd!.usage) && /[|<]/.test(cmd!.usage.split("\n")[0]!)) {
        t.ok(new RegExp(`\\b${sub}\\b`).test(cmd!.usage), `${f}: cloudcoin ${name} ${sub}: the usage lists ${sub}`);
      }
    }
  }
  t.ok(checked >= 10, `commands were found in the documents (${checked})`);
});

t.test("files the documents cite exist, and links stay inside the repository", async (t) => {
  for (const f of DOCS) {
    const text = read(f);
    for (const m of text.matchAll(/`((?:test|chain|modules|primitives|proofs|rpc|node|p2p|plugins|common|genesis|contrib|scripts)\/[A-Za-z0-9_./-]+\.(?:ts|mjs|js|md|service))`/g)) {
      t.ok(existsSync(join(ROOT, m[1]!)), `${f} cites ${m[1]}`);
    }
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^https?:/.test(target)) continue;
      const abs = normalize(join(ROOT, dirname(f), target));
      t.notOk(relative(ROOT, abs).startsWith(".."), `${f}: ${target} stays inside the repository`);
      t.ok(existsSync(abs), `${f}: ${target} exists`);
    }
    t.notMatch(text, /DESIGN\.md|\.\.\/shared/, `${f} cites no document users do not have`);
  }
});

/** Every file of the repository (not node_modules, the build, git's or tap's own), relative to ROOT. */
function repositoryFiles(dir = ""): string[] {
  const skip = new Set(["node_modules", "dist", ".git", ".tap", "data", ".cloudcoin"]);
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = dir === "" ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) return skip.has(e.name) ? [] : repositoryFiles(rel);
    return e.isFile() ? [rel] : [];
  });
}

t.test("no file of the repository cites a document a clone does not have; every README's links resolve inside it", async (t) => {
  const files = repositoryFiles().filter((f) => /\.(ts|mjs|js|md|json|html|service|ya?ml)$|(^|\/)(Dockerfile|LICENSE|run)$/.test(f));
  t.ok(files.length > 100, `the repository's text files (${files.length})`);
  const citing = files.filter((f) => f !== "test/unit/docs/docs.test.ts" && /DESIGN\.md|STACK\.md|STYLE\.md|\.\.\/shared\/[A-Z]|\/work\/shared/.test(read(f)));
  t.same(citing, [], "no file names the team's design notes, which a clone does not have");
  for (const f of files.filter((x) => x.endsWith(".md") && !DOCS.includes(x))) {
    for (const m of read(f).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^https?:/.test(m[1]!)) continue;
      const abs = normalize(join(ROOT, dirname(f), m[1]!));
      t.ok(!relative(ROOT, abs).startsWith("..") && existsSync(abs), `${f}: ${m[1]} is a file of the repository`);
    }
  }
});

t.test("every test a document cites by name is a test of that file", async (t) => {
  // `test/x.test.ts` ("title", "…part of a title…"): "…" stands for words left out, so each
  // quoted name must match one line of the file (a t.test title, or an assertion's message) with
  // its pieces in order.
  let checked = 0;
  for (const f of DOCS) {
    for (const m of read(f).matchAll(/`(test\/[A-Za-z0-9_./-]+\.ts)` \(([^)]*)\)/g)) {
      const [, path, inner] = m;
      if (!existsSync(join(ROOT, path!))) continue; // reported by the test above
      const lines = read(path!).split("\n");
      for (const q of inner!.matchAll(/"([^"]+)"/g)) {
        checked++;
        const pieces = q[1]!.split("…").map((p) => p.trim()).filter((p) => p !== "");
        const found = lines.some((line) => {
          let at = 0;
          for (const p of pieces) {
            const i = line.indexOf(p, at);
            if (i < 0) return false;
            at = i + p.length;
          }
          return true;
        });
        t.ok(found, `${f}: ${path} has a test or assertion "${q[1]}"`);
      }
    }
  }
  t.ok(checked >= 20, `test names were found in the documents (${checked})`);
});
