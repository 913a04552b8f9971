/**
 * chain/registry.ts: the registry refuses two owners of anything the kernel dispatches on, and
 * the installed module list (modules/index.ts) registers every op code, event kind and evidence
 * kind the chain uses.
 */
import t from "tap";
import { Registry, RegistryErrorCode, type ModuleSpec, type OpSpec } from "../../../chain/registry.ts";
import { MODULES, OpCode, registry } from "../../../modules/index.ts";

const empty = (name: string, extra: Partial<ModuleSpec> = {}): ModuleSpec => ({ name, ops: [], events: [], records: [], errors: {}, ...extra });
const bank = MODULES.find((m) => m.name === "bank")!;
const transfer = bank.ops[0] as OpSpec;

t.test("duplicates are refused at start, naming the module and what it repeats", async (t) => {
  const cases: [string, ModuleSpec[]][] = [
    ["a module name", [empty("a"), empty("a")]],
    ["an op code", [empty("a", { ops: [transfer] }), empty("b", { ops: [{ ...transfer, type: "other" as never }] })]],
    ["an op type", [empty("a", { ops: [transfer] }), empty("b", { ops: [{ ...transfer, code: 99 }] })]],
    ["an event kind", [empty("a", { events: [bank.events[0]!] }), empty("b", { events: [bank.events[0]!] })]],
    ["the kernel's fee event", [empty("a", { events: [{ ...bank.events[0]!, kind: "fee" }] })]],
    ["a key prefix", [empty("a", { records: [{ prefix: 0x30, name: "x" }] }), empty("b", { records: [{ prefix: 0x30, name: "y" }] })]],
    ["the kernel's account prefix", [empty("a", { records: [{ prefix: 0x01, name: "x" }] })]],
    ["a global record name", [empty("a", { globals: ["meta"] })]],
    ["a store code", [empty("a", { localSpaces: [{ code: 0x60, name: "x" }] }), empty("b", { indexes: [{ code: 0x60, name: "y", kind: "transfer", entries: () => [] }] })]],
    ["an evidence code", [empty("a", { evidence: [MODULES[1]!.evidence![0]!] }), empty("b", { evidence: [{ ...MODULES[1]!.evidence![0]!, kind: "other" as never }] })]],
  ];
  for (const [what, modules] of cases) t.throws(() => new Registry(modules), { code: RegistryErrorCode.DUPLICATE }, what);
  t.doesNotThrow(() => new Registry(MODULES), "the real module list has no duplicate");
});

t.test("the installed registry knows every op, event and evidence kind", async (t) => {
  const reg = registry;
  for (const [name, code] of Object.entries(OpCode)) t.equal(reg.opByCode(code)?.code, code, `${name} (${code}) is registered`);
  t.equal(reg.ops().length, Object.keys(OpCode).length, "and nothing else");
  const kinds = reg.events().map((e) => e.kind);
  t.equal(new Set(kinds).size, kinds.length, "event kinds are unique");
  for (const e of reg.events()) t.ok(e.schema, `${e.kind} has a JSON schema`);
  t.same(reg.evidenceKinds().map((e) => [e.code, e.kind]), [[1, "duplicateVote"], [2, "duplicateAttestation"]], "both evidence kinds");
  t.same([...reg.storeCodes.keys()].sort((a, b) => a - b), [0x44, 0x45, 0x49, 0x4a, 0x4f, 0x50, 0x51, 0x58], "store codes: deals, mints, storage payments, orders by client, channels, vouchers");
  t.same(reg.indexesFor("transfer"), [], "events without an index feed none");
});
