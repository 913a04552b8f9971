/**
 * The layering rules of the source tree (docs/architecture.md): every relative import in the
 * repository is read and checked, so a change that breaks a rule fails here, naming the file and
 * the import.
 *
 *   primitives/  imports nothing else in the repository
 *   proofs/      imports only primitives/
 *   chain/       never imports modules/ (nor rpc/, p2p/, node/, plugins/, genesis/)
 *   modules/     never imports node/, p2p/ or plugins/
 *   p2p/, rpc/   never import each other, modules/, node/ or plugins/
 *   common/      imports only primitives/ (what the node and the plugins share: the logger)
 *   plugins/     never import node/
 *   the pure core (primitives/, proofs/, modules/ except their rpc files, chain/ except the block
 *   store) imports no I/O: no classic-level, libp2p, fastify, node:fs, node:net or node:http
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "../.."));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mts|mjs)$/.test(name)) out.push(rel);
  }
  return out;
}

const IMPORT_RE = /(?:from\s+|import\s*\(\s*|import\s+)["']([^"']+)["']/g;

/** Every import of `file`: the top folder of a relative target in the repository, or the package name. */
function importsOf(file: string): { spec: string; top: string | null }[] {
  const src = readFileSync(join(ROOT, file), "utf8");
  const out: { spec: string; top: string | null }[] = [];
  for (const m of src.matchAll(IMPORT_RE)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) out.push({ spec, top: relative(ROOT, join(ROOT, dirname(file), spec)).split(sep)[0]! });
    else out.push({ spec, top: null });
  }
  return out;
}

const IO = /^(classic-level|libp2p|@libp2p\/|@chainsafe\/libp2p|fastify|@fastify\/|node:fs|fs$|node:net|node:http|ws$)/;

interface Rule {
  readonly folder: string;
  readonly allowed?: readonly string[];
  readonly forbidden?: readonly string[];
  /** files of the folder exempt from the I/O rule (the edges that own I/O) */
  readonly pure?: (file: string) => boolean;
}

const RULES: readonly Rule[] = [
  { folder: "primitives", allowed: ["primitives"], pure: () => true },
  { folder: "proofs", allowed: ["primitives", "proofs"], pure: () => true },
  { folder: "chain", forbidden: ["modules", "rpc", "p2p", "node", "plugins", "genesis", "test"], pure: (f) => !/chain\/store\.ts$/.test(f) },
  { folder: "modules", forbidden: ["node", "p2p", "plugins", "test"], pure: (f) => !/\/rpc\.ts$|modules\/rpc\.ts$/.test(f) },
  { folder: "p2p", forbidden: ["rpc", "modules", "node", "plugins", "test"] },
  { folder: "rpc", forbidden: ["p2p", "modules", "node", "plugins", "test"] },
  { folder: "common", allowed: ["primitives", "common"] },
  { folder: "plugins", forbidden: ["node", "test"] },
];

for (const rule of RULES) {
  t.test(`${rule.folder}/ keeps its layer`, async (t) => {
    const bad: string[] = [];
    const files = sources(rule.folder);
    t.ok(files.length > 0, `${rule.folder}/ has source files`);
    for (const f of files) {
      for (const { spec, top } of importsOf(f)) {
        if (top !== null) {
          if (rule.allowed && !rule.allowed.includes(top)) bad.push(`${f}: imports ${spec} (${top}/ is not allowed here)`);
          if (rule.forbidden?.includes(top)) bad.push(`${f}: imports ${spec} (${top}/ is forbidden here)`);
        } else if (rule.pure?.(f) && IO.test(spec)) {
          bad.push(`${f}: imports ${spec} (I/O in the pure core)`);
        }
      }
    }
    t.same(bad, [], `no import of ${rule.folder}/ breaks the rules`);
  });
}

t.test("the checker sees a violation when there is one", async (t) => {
  // the rules are only worth something if the import scanner finds imports at all: the kernel's
  // transition imports the registry, and the node imports the modules
  t.ok(importsOf("chain/transition.ts").some((i) => i.top === "chain" && i.spec.endsWith("registry.ts")), "relative imports are resolved to their folder");
  t.ok(importsOf("node/node.ts").some((i) => i.top === "modules"), "node/ importing modules/ is seen");
  t.ok(importsOf("chain/store.ts").some((i) => i.top === null && i.spec === "classic-level"), "package imports are seen");
});
