/**
 * The block store's cache of head state (chain/store.ts StateCache): whatever the order of reads,
 * commits (small layers copied in, large ones kept as generations), evictions and clears, a lookup
 * gives the head's value or nothing, never an older value; and it stays within its bound.
 */
import fc from "fast-check";
import t from "tap";
import { StateCache } from "../../../chain/store.ts";

const RECORD = 0;
const NODE = 1;
type Kind = typeof RECORD | typeof NODE;
type Op =
  | { type: "read"; kind: Kind; id: number }
  | { type: "commit"; size: number; seed: number; deletes: boolean }
  | { type: "clear" };

const ID_SPACE = 9_000;
const idOf = (n: number): string => String.fromCharCode(65 + (n % 7)) + n.toString(36);

/** The layer of a commit: `size` ids picked by `seed` (records and nodes), each a new value or null. */
function layer(truth: Map<string, Uint8Array | null>[], op: Extract<Op, { type: "commit" }>, version: number): [Map<string, Uint8Array | null>, Map<string, Uint8Array | null>] {
  const maps: [Map<string, Uint8Array | null>, Map<string, Uint8Array | null>] = [new Map(), new Map()];
  let x = op.seed >>> 0;
  for (let i = 0; i < op.size; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    const kind = (x >>> 16) & 1;
    const id = idOf((x >>> 3) % ID_SPACE);
    const v = op.deletes && (x & 7) === 0 ? null : new Uint8Array([version & 255, i & 255, (version >> 8) & 255]);
    maps[kind]!.set(id, v);
    truth[kind]!.set(id, v);
  }
  return maps;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ type: fc.constant("read" as const), kind: fc.constantFrom(RECORD as Kind, NODE as Kind), id: fc.nat({ max: ID_SPACE - 1 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant("commit" as const), size: fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 4_096, max: 6_000 })), seed: fc.nat(), deletes: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ type: "clear" as const }) },
);

t.test("a lookup gives the head's value or nothing, whatever the reads, commits, evictions and clears", async (t) => {
  let checks = 0;
  let adopted = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 30, maxLength: 150 }), fc.constantFrom(4_000, 200_000, 1_500_000, 8_000_000), (ops, max) => {
      const cache = new StateCache(max);
      // the head's value of every id (absent from the map: never written, so the database has none)
      const truth: Map<string, Uint8Array | null>[] = [new Map(), new Map()];
      let version = 0;
      for (const op of ops) {
        if (op.type === "read") {
          // as the store reads: the cache, else the database (the truth), put into the cache;
          // false when the cache answers other than the truth
          const read = (id: string): boolean => {
            const want = truth[op.kind]!.get(id) ?? null;
            const got = cache.get(op.kind, id);
            if (got === undefined) {
              cache.set(op.kind, id, want);
              return true;
            }
            checks++;
            return got === want || (got !== null && want !== null && Buffer.compare(got, want) === 0);
          };
          if (!read(idOf(op.id))) return false;
          // and the neighbours of what was read, so generations fill and are dropped
          for (let d = 1; d <= 40; d++) if (!read(idOf((op.id + d * 97) % ID_SPACE))) return false;
        } else if (op.type === "commit") {
          const [records, nodes] = layer(truth, op, ++version);
          const before = cache.size.generations;
          cache.adopt(records, nodes);
          if (records.size + nodes.size >= 4_096 && cache.size.generations > before) adopted++;
        } else cache.clear();
        if (cache.size.generations > 8) return false;
      }
      return true;
    }),
    { numRuns: 80, seed: 20261204 },
  );
  t.ok(checks > 10_000, `${checks} cache hits compared with the head's value`);
  t.ok(adopted > 0, `${adopted} large layers kept as generations`);
});

t.test("the bound: old generations are dropped, a layer larger than the bound clears the cache", async (t) => {
  const cache = new StateCache(1_000_000);
  const big = (n: number, tag: number): Map<string, Uint8Array | null> => new Map(Array.from({ length: n }, (_, i) => [`n${i}`, new Uint8Array([tag])]));
  cache.set(NODE, "n1", new Uint8Array([0]));
  cache.adopt(new Map(), big(5_000, 1));
  t.same(cache.get(NODE, "n1"), new Uint8Array([1]), "the layer shadows the older read");
  t.equal(cache.size.generations, 3, "a read generation above the layer, the layer, the older read generation");
  for (let tag = 2; tag < 12; tag++) cache.adopt(new Map(), big(4_100, tag));
  t.ok(cache.size.bytes <= 1_000_000, `within the bound (${cache.size.bytes} bytes)`);
  t.ok(cache.size.generations <= 8);
  t.same(cache.get(NODE, "n1"), new Uint8Array([11]), "the newest layer's value");
  t.equal(cache.get(NODE, "n4500"), undefined, "entries only older layers held are gone with them");
  // a layer larger than the whole bound is not kept, and nothing older stays visible
  cache.adopt(new Map(), big(20_000, 99));
  t.equal(cache.get(NODE, "n1"), undefined, "cleared: no stale value of an id the dropped layer rewrote");
  t.same(cache.size, { bytes: 0, generations: 1 });
  // a small layer is copied into the newest generation, replacing what it held
  cache.set(RECORD, "r", new Uint8Array([5]));
  cache.adopt(new Map([["r", null]]), new Map());
  t.equal(cache.get(RECORD, "r"), null, "a deletion is remembered as absent");
  t.equal(cache.size.generations, 1);
});
