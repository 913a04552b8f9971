/**
 * proofs/draw.ts: excluded candidates keep their weight and are skipped, so excluding one more
 * candidate never re-rolls the draw (the storage placement relies on it: a provider that makes its
 * own key ineligible after the seed is known must not get a new draw for its other keys).
 */
import t from "tap";
import { compareBytes, equalBytes, toHex } from "../../../primitives/bytes.ts";
import { sha256, Tag } from "../../../primitives/hash.ts";
import { weightedDraw, type WeightedKey } from "../../../proofs/draw.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const candidates: WeightedKey[] = Array.from({ length: 12 }, (_, i) => ({ key: sha256(enc(`c${i}`)), weight: BigInt(1 + ((i * 7) % 5)) * 1000n }))
  .sort((a, b) => compareBytes(a.key, b.key));
const hexes = (keys: Uint8Array[]) => keys.map(toHex);

t.test("excluding a key by value or by predicate is the same draw", async (t) => {
  for (let i = 0; i < 50; i++) {
    const seed = sha256(enc(`seed ${i}`));
    const k = candidates[i % candidates.length]!.key;
    t.same(hexes(weightedDraw(Tag.PLACEMENT, seed, enc("s"), candidates, 3, (c) => equalBytes(c.key, k))), hexes(weightedDraw(Tag.PLACEMENT, seed, enc("s"), candidates, 3, k)));
  }
});

t.test("excluding one more candidate moves no draw: the result is the same unless it was chosen, and then the earlier choices stay", async (t) => {
  let changed = 0;
  for (let i = 0; i < 200; i++) {
    const seed = sha256(enc(`seed ${i}`));
    const n = 1 + (i % 3);
    const base = new Set([i % 12, (i * 5) % 12].map((j) => toHex(candidates[j]!.key)));
    const before = weightedDraw(Tag.PLACEMENT, seed, enc("order"), candidates, n, (c) => base.has(toHex(c.key)));
    const extra = candidates[(i * 7 + 3) % 12]!.key;
    const after = weightedDraw(Tag.PLACEMENT, seed, enc("order"), candidates, n, (c) => base.has(toHex(c.key)) || equalBytes(c.key, extra));
    t.notOk(after.some((k) => base.has(toHex(k)) || equalBytes(k, extra)), "never an excluded candidate");
    const at = before.findIndex((k) => equalBytes(k, extra));
    if (at < 0) {
      if (JSON.stringify(hexes(after)) !== JSON.stringify(hexes(before))) t.fail(`draw ${i}: excluding an unchosen candidate changed the result`);
    } else {
      changed++;
      if (JSON.stringify(hexes(after.slice(0, at))) !== JSON.stringify(hexes(before.slice(0, at)))) t.fail(`draw ${i}: the choices before the excluded one moved`);
    }
  }
  t.ok(changed > 0, `the extra candidate was chosen in ${changed} of 200 draws (the case where the rest may differ)`);
});
