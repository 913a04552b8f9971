import t from "tap";
import fc from "fast-check";
import { toHex } from "../../../primitives/bytes.ts";
import {
  Mempool,
  MempoolError,
  MempoolErrorCode,
  defaultMempoolOptions,
  type MempoolOptions,
  type PoolTx,
} from "../../../chain/mempool.ts";

interface TestTx extends PoolTx {
  readonly id: number;
}

function senderOf(s: number): Uint8Array {
  return new Uint8Array(32).fill(s);
}

let nextId = 1;
/** A tx of sender `s`; `id` fixes the hash (big-endian id in the first 4 bytes), so lower id = lower hash. */
function mk(s: number, nonce: number | bigint, fee: number | bigint, size = 100, id = nextId++): TestTx {
  const hash = new Uint8Array(32);
  new DataView(hash.buffer).setUint32(0, id);
  hash[31] = s;
  return { id, hash, sender: senderOf(s), nonce: BigInt(nonce), fee: BigInt(fee), size };
}

/** Account nonces by sender byte, editable by the test. */
function accounts(): { nonces: Map<number, bigint>; deps: { accountNonce(sender: Uint8Array): bigint } } {
  const nonces = new Map<number, bigint>();
  return { nonces, deps: { accountNonce: (sender) => nonces.get(sender[0]!) ?? 0n } };
}

function pool(opts: Partial<MempoolOptions> = {}): { p: Mempool<TestTx>; nonces: Map<number, bigint> } {
  const a = accounts();
  return { p: new Mempool<TestTx>(opts, a.deps), nonces: a.nonces };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof MempoolError) return e.code;
    throw e;
  }
  return undefined;
}

const ids = (txs: readonly TestTx[]): number[] => txs.map((x) => x.id);
const nonces = (txs: readonly TestTx[]): bigint[] => txs.map((x) => x.nonce);

t.test("defaults and option validation", async (t) => {
  t.same(defaultMempoolOptions, {
    maxTxs: 10_000,
    maxBytes: 32 * 1024 * 1024,
    maxPerSender: 64,
    maxNonceGap: 64,
    replaceBumpPercent: 10,
  });
  const { p } = pool({ maxTxs: 5 });
  t.equal(p.opts.maxTxs, 5);
  t.equal(p.opts.maxPerSender, 64, "unspecified options take the default");
  t.throws(() => pool({ maxTxs: -1 }), RangeError);
  t.throws(() => pool({ replaceBumpPercent: 2.5 }), RangeError);
  t.equal(MempoolErrorCode.NONCE_TOO_LOW, "MEMPOOL_NONCE_TOO_LOW");
});

t.test("ALREADY_KNOWN for the same hash", async (t) => {
  const { p } = pool();
  const a = mk(1, 0, 10);
  p.add(a);
  const err = (() => {
    try {
      p.add(a);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof MempoolError);
  t.equal((err as MempoolError).code, MempoolErrorCode.ALREADY_KNOWN);
  // Same hash even with a higher fee is still the same tx.
  t.equal(codeOf(() => p.add({ ...a, fee: 1000n })), MempoolErrorCode.ALREADY_KNOWN);
  t.equal(p.size, 1);
});

t.test("NONCE_TOO_LOW below the account nonce", async (t) => {
  const { p, nonces: n } = pool();
  n.set(1, 5n);
  t.equal(codeOf(() => p.add(mk(1, 4, 10))), MempoolErrorCode.NONCE_TOO_LOW);
  t.equal(codeOf(() => p.add(mk(1, 5, 10))), undefined, "the account nonce itself is accepted");
  try {
    p.add(mk(1, 0, 10));
    t.fail("should throw");
  } catch (e) {
    t.same((e as MempoolError).data, { nonce: 0n, accountNonce: 5n });
  }
});

t.test("NONCE_TOO_HIGH beyond account nonce + maxNonceGap", async (t) => {
  const { p, nonces: n } = pool({ maxNonceGap: 3 });
  n.set(1, 10n);
  t.equal(codeOf(() => p.add(mk(1, 14, 10))), MempoolErrorCode.NONCE_TOO_HIGH);
  t.equal(codeOf(() => p.add(mk(1, 13, 10))), undefined, "exactly maxNonceGap ahead waits in the pool");
  t.equal(p.size, 1);
});

t.test("replacement: bump rule, replaced result, counters", async (t) => {
  const { p } = pool({ replaceBumpPercent: 10 });
  const old = mk(1, 0, 100, 50);
  p.add(old);
  p.add(mk(1, 1, 100, 50));
  t.equal(codeOf(() => p.add(mk(1, 0, 109))), MempoolErrorCode.REPLACEMENT_UNDERPRICED);
  t.equal(codeOf(() => p.add(mk(1, 0, 100))), MempoolErrorCode.REPLACEMENT_UNDERPRICED);
  t.ok(p.has(old.hash), "underpriced replacement leaves the old tx");
  const neu = mk(1, 0, 110, 70);
  const r = p.add(neu);
  t.equal(r.replaced, old);
  t.same(r.evicted, []);
  t.notOk(p.has(old.hash));
  t.equal(p.get(neu.hash), neu);
  t.equal(p.size, 2);
  t.equal(p.bytes, 120);
  t.same(ids(p.pending(senderOf(1))), [neu.id, p.pending(senderOf(1))[1]!.id]);
  t.same(nonces(p.pending(senderOf(1))), [0n, 1n]);

  // Fractional threshold rounds up: old fee 5, bump 10% -> at least 5.5, so 5 fails and 6 passes.
  const { p: q } = pool({ replaceBumpPercent: 10 });
  q.add(mk(2, 0, 5));
  t.equal(codeOf(() => q.add(mk(2, 0, 5))), MempoolErrorCode.REPLACEMENT_UNDERPRICED);
  t.equal(codeOf(() => q.add(mk(2, 0, 6))), undefined);
});

t.test("SENDER_FULL at maxPerSender, replacement still allowed", async (t) => {
  const { p } = pool({ maxPerSender: 2 });
  p.add(mk(1, 0, 10));
  p.add(mk(1, 1, 10));
  t.equal(codeOf(() => p.add(mk(1, 2, 1000))), MempoolErrorCode.SENDER_FULL);
  t.equal(codeOf(() => p.add(mk(1, 1, 20))), undefined, "a replacement is not a new slot");
  t.equal(codeOf(() => p.add(mk(2, 0, 10))), undefined, "other senders unaffected");
  t.equal(p.size, 3);
});

t.test("TX_TOO_LARGE when a tx can never fit", async (t) => {
  const { p } = pool({ maxBytes: 1000 });
  p.add(mk(1, 0, 1, 400));
  t.equal(codeOf(() => p.add(mk(2, 0, 1_000_000, 1001))), MempoolErrorCode.TX_TOO_LARGE);
  t.equal(p.size, 1, "nothing evicted");
});

t.test("full by count: evicts the cheapest queue tail, never a middle tx", async (t) => {
  const { p } = pool({ maxTxs: 4 });
  const a0 = mk(1, 0, 1); // cheapest tx overall, but not a tail
  const a1 = mk(1, 1, 50);
  const b0 = mk(2, 0, 10); // cheapest tail
  const c0 = mk(3, 0, 30);
  for (const x of [a0, a1, b0, c0]) p.add(x);

  t.equal(codeOf(() => p.add(mk(4, 0, 10))), MempoolErrorCode.POOL_FULL, "equal fee does not evict");
  t.equal(p.size, 4);

  const d0 = mk(4, 0, 11);
  const r = p.add(d0);
  t.same(ids(r.evicted), [b0.id]);
  t.equal(r.replaced, undefined);
  t.ok(p.has(a0.hash), "middle tx kept");
  t.notOk(p.has(b0.hash));
  t.same(nonces(p.pending(senderOf(1))), [0n, 1n], "queue stays gap-free");
  t.equal(p.size, 4);

  // Now tails are a1(50), c0(30), d0(11). Next newcomer with fee 40 evicts d0, not a0.
  const r2 = p.add(mk(5, 0, 40));
  t.same(ids(r2.evicted), [d0.id]);
});

t.test("full: eviction follows a queue whose tail changed", async (t) => {
  const { p } = pool({ maxTxs: 3 });
  const b0 = mk(2, 0, 10);
  const a0 = mk(1, 0, 50);
  const a1 = mk(1, 1, 5); // sender 1's tail drops from 50 to 5
  for (const x of [b0, a0, a1]) p.add(x);
  const r = p.add(mk(3, 0, 7));
  t.same(ids(r.evicted), [a1.id]);

  // Evicting a tail raises sender 1's tail back to 50, so the second eviction takes b0.
  const { p: q } = pool({ maxBytes: 300 });
  for (const x of [b0, a0, a1]) q.add(x);
  const r2 = q.add(mk(3, 0, 20, 200));
  t.same(ids(r2.evicted), [a1.id, b0.id]);
});

t.test("full by bytes: evicts several tails, atomically", async (t) => {
  const { p } = pool({ maxBytes: 1000 });
  const a0 = mk(1, 0, 5, 300);
  const a1 = mk(1, 1, 3, 300);
  const b0 = mk(2, 0, 4, 300);
  for (const x of [a0, a1, b0]) p.add(x);
  t.equal(p.bytes, 900);

  // Needs 500 more bytes -> evicts a1 (3), then b0 (4); a0 (fee 5) is not reached.
  const big = mk(3, 0, 6, 500);
  const r = p.add(big);
  t.same(ids(r.evicted), [a1.id, b0.id]);
  t.equal(p.bytes, 800);
  t.equal(p.size, 2);
  t.same(nonces(p.pending(senderOf(1))), [0n]);

  // Needs 900 bytes freed: evicting a0 (5) is fine, big (6) is not -> nothing changes.
  const before = [...p.pending(senderOf(1)), ...p.pending(senderOf(3))];
  t.equal(codeOf(() => p.add(mk(4, 0, 6, 900))), MempoolErrorCode.POOL_FULL);
  t.same([...p.pending(senderOf(1)), ...p.pending(senderOf(3))], before, "failed add rolled back");
  t.equal(p.bytes, 800);
  t.equal(p.size, 2);
});

t.test("full: never evicts the newcomer's own predecessor", async (t) => {
  const { p } = pool({ maxTxs: 2 });
  const a0 = mk(1, 0, 1);
  const b0 = mk(2, 0, 5);
  p.add(a0);
  p.add(b0);
  // a0 is the cheapest tail, but evicting it would leave a1 behind a gap.
  t.equal(codeOf(() => p.add(mk(1, 1, 100))), MempoolErrorCode.POOL_FULL);
  t.same(ids(p.pending(senderOf(1))), [a0.id]);
  // A newcomer that fills a gap may evict its own sender's later tail.
  const { p: q } = pool({ maxTxs: 2 });
  const c0 = mk(3, 0, 9);
  const c2 = mk(3, 2, 1);
  q.add(c0);
  q.add(c2);
  const r = q.add(mk(3, 1, 2));
  t.same(ids(r.evicted), [c2.id]);
  t.same(nonces(q.pending(senderOf(3))), [0n, 1n]);
});

t.test("replacement that needs room evicts others, rollback restores the old tx", async (t) => {
  const { p } = pool({ maxBytes: 500 });
  const a0 = mk(1, 0, 10, 200);
  const b0 = mk(2, 0, 20, 300);
  p.add(a0);
  p.add(b0);
  // Replacing a0 with a 300-byte tx: 600 > 500; b0 (20) is not cheaper than 11 -> POOL_FULL.
  t.equal(codeOf(() => p.add(mk(1, 0, 11, 300))), MempoolErrorCode.POOL_FULL);
  t.ok(p.has(a0.hash), "old tx restored");
  t.equal(p.bytes, 500);
  const r = p.add(mk(1, 0, 25, 300));
  t.equal(r.replaced, a0);
  t.same(ids(r.evicted), [b0.id]);
  t.equal(p.bytes, 300);
});

t.test("select: fee priority across senders, nonce order within a sender", async (t) => {
  const { p, nonces: n } = pool();
  n.set(1, 3n);
  const a3 = mk(1, 3, 5);
  const a4 = mk(1, 4, 100); // high fee but behind a3
  const b0 = mk(2, 0, 50);
  const b1 = mk(2, 1, 1);
  const c0 = mk(3, 0, 20);
  for (const x of [a4, b1, c0, a3, b0]) p.add(x);
  t.same(ids(p.select({ maxTxs: 100, maxBytes: 1e9 })), [b0.id, c0.id, a3.id, a4.id, b1.id]);
  t.equal(p.size, 5, "select does not remove");
});

t.test("select: equal fees ordered by hash, independent of insertion order", async (t) => {
  const x = mk(1, 0, 7, 100, 0x30);
  const y = mk(2, 0, 7, 100, 0x10);
  const z = mk(3, 0, 7, 100, 0x20);
  const { p } = pool();
  for (const tx of [x, y, z]) p.add(tx);
  const { p: q } = pool();
  for (const tx of [z, x, y]) q.add(tx);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })), [0x10, 0x20, 0x30]);
  t.same(ids(q.select({ maxTxs: 10, maxBytes: 1e9 })), [0x10, 0x20, 0x30]);
});

t.test("select: stops at gaps and ignores stale txs", async (t) => {
  const { p, nonces: n } = pool();
  const a0 = mk(1, 0, 10);
  const a1 = mk(1, 1, 10);
  const a3 = mk(1, 3, 99); // behind a gap at nonce 2
  const b1 = mk(2, 1, 99); // sender 2's account nonce is 0: not executable
  for (const x of [a0, a1, a3, b1]) p.add(x);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })), [a0.id, a1.id]);
  // Filling the gap makes the run contiguous.
  const a2 = mk(1, 2, 1);
  p.add(a2);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })), [a0.id, a1.id, a2.id, a3.id]);
  // Account nonce advanced without a commit notice: stale a0 is not selected.
  n.set(1, 1n);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })), [a1.id, a2.id, a3.id]);
});

t.test("select: respects maxTxs and maxBytes", async (t) => {
  const { p } = pool();
  const a0 = mk(1, 0, 50, 600);
  const a1 = mk(1, 1, 49, 100);
  const b0 = mk(2, 0, 40, 300);
  const c0 = mk(3, 0, 30, 200);
  for (const x of [a0, a1, b0, c0]) p.add(x);
  t.same(ids(p.select({ maxTxs: 2, maxBytes: 1e9 })), [a0.id, a1.id]);
  t.same(p.select({ maxTxs: 0, maxBytes: 1e9 }), []);
  // 500 bytes: a0 (600) does not fit, so sender 1 is skipped entirely (a1 needs a0);
  // b0 (300) and c0 (200) fill the block exactly.
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 500 })), [b0.id, c0.id]);
  // 1000 bytes: a0, a1 (700), then b0 (300) fits, c0 does not.
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1000 })), [a0.id, a1.id, b0.id]);
});

t.test("onBlockCommitted prunes included and stale txs", async (t) => {
  const { p, nonces: n } = pool();
  const a0 = mk(1, 0, 10, 100);
  const a1 = mk(1, 1, 10, 100);
  const a2 = mk(1, 2, 10, 100);
  const b0 = mk(2, 0, 10, 100);
  const b1 = mk(2, 1, 10, 100);
  const c0 = mk(3, 0, 10, 100);
  for (const x of [a0, a1, a2, b0, b1, c0]) p.add(x);
  // Block included a0 and a1 (sender 1 -> nonce 2); sender 2's b0 was included via
  // another copy with a different hash (nonce -> 1), so b0 is stale; sender 3 untouched.
  n.set(1, 2n);
  n.set(2, 1n);
  p.onBlockCommitted([a0.hash, a1.hash, mk(9, 0, 0).hash], [senderOf(2)]);
  t.same(ids(p.pending(senderOf(1))), [a2.id]);
  t.same(ids(p.pending(senderOf(2))), [b1.id]);
  t.same(ids(p.pending(senderOf(3))), [c0.id]);
  t.equal(p.size, 3);
  t.equal(p.bytes, 300);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })).sort(), [a2.id, b1.id, c0.id].sort());

  // Senders of included txs are re-read even if not listed as touched: the block held c0
  // and another sender-3 tx at nonce 1, so c1 is stale; sender 1 is neither, so a2 stays.
  const c1 = mk(3, 1, 10, 100);
  p.add(c1);
  n.set(1, 5n);
  n.set(3, 2n);
  p.onBlockCommitted([c0.hash], []);
  t.same(p.pending(senderOf(3)), []);
  t.same(ids(p.pending(senderOf(1))), [a2.id], "sender 1 not touched: stale a2 kept");
});

t.test("remove and pending", async (t) => {
  const { p } = pool();
  const a0 = mk(1, 0, 10, 100);
  const a1 = mk(1, 1, 10, 120);
  p.add(a1);
  p.add(a0);
  t.same(ids(p.pending(senderOf(1))), [a0.id, a1.id], "nonce order regardless of arrival");
  t.same(p.pending(senderOf(7)), []);
  t.equal(p.remove(a0.hash), true);
  t.equal(p.remove(a0.hash), false);
  t.equal(p.size, 1);
  t.equal(p.bytes, 120);
  t.same(p.select({ maxTxs: 10, maxBytes: 1e9 }), [], "a1 waits behind the gap");
  t.equal(p.remove(a1.hash), true);
  t.equal(p.size, 0);
  t.equal(p.bytes, 0);
  // An emptied sender can queue again and becomes selectable.
  p.add(a0);
  t.same(ids(p.select({ maxTxs: 10, maxBytes: 1e9 })), [a0.id]);
});

// ---------------------------------------------------------------------------------------
// Property test: random adds, removes and block commits against the invariants.

type Op =
  | { kind: "add"; s: number; ahead: number; fee: number; size: number; hashByte: number }
  | { kind: "readd"; pick: number }
  | { kind: "remove"; pick: number }
  | { kind: "commit"; maxTxs: number; maxBytes: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("add" as const),
      s: fc.integer({ min: 1, max: 5 }),
      ahead: fc.integer({ min: -1, max: 7 }),
      fee: fc.integer({ min: 0, max: 20 }),
      size: fc.integer({ min: 1, max: 400 }),
      hashByte: fc.integer({ min: 0, max: 255 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("readd" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("commit" as const),
      maxTxs: fc.integer({ min: 0, max: 8 }),
      maxBytes: fc.integer({ min: 0, max: 1500 }),
    }),
  },
);

const optsArb = fc.record({
  maxTxs: fc.integer({ min: 1, max: 12 }),
  maxBytes: fc.integer({ min: 400, max: 2500 }),
  maxPerSender: fc.integer({ min: 1, max: 6 }),
  maxNonceGap: fc.integer({ min: 0, max: 6 }),
  replaceBumpPercent: fc.integer({ min: 0, max: 50 }),
});

const better = (a: TestTx, b: TestTx): boolean =>
  a.fee !== b.fee ? a.fee > b.fee : toHex(a.hash) < toHex(b.hash);

t.test("property: counters, gap-free eviction, select order and limits", async (t) => {
  let checks = 0;
  fc.assert(
    fc.property(optsArb, fc.array(opArb, { minLength: 10, maxLength: 80 }), (opts, ops) => {
      const { p, nonces: acct } = pool(opts);
      const all: TestTx[] = [];
      let id = 1;
      const fail = (msg: string): never => {
        throw new Error(msg);
      };

      const checkContents = (): void => {
        const live = all.filter((x) => p.has(x.hash));
        if (p.size !== live.length) fail(`size ${p.size} != ${live.length}`);
        const bytes = live.reduce((n, x) => n + x.size, 0);
        if (p.bytes !== bytes) fail(`bytes ${p.bytes} != ${bytes}`);
        let queued = 0;
        for (let s = 1; s <= 5; s++) {
          const q = p.pending(senderOf(s));
          queued += q.length;
          if (q.length > opts.maxPerSender) fail("maxPerSender exceeded");
          for (let i = 1; i < q.length; i++) if (q[i]!.nonce <= q[i - 1]!.nonce) fail("pending not sorted");
          for (const x of q) if (p.get(x.hash) !== x) fail("pending tx not gettable");
        }
        if (queued !== p.size) fail("pending union != size");
        if (p.size > opts.maxTxs || p.bytes > opts.maxBytes) fail("pool over capacity");
      };

      const checkSelect = (maxTxs: number, maxBytes: number): TestTx[] => {
        const sel = p.select({ maxTxs, maxBytes });
        if (sel.length > maxTxs) fail("select over maxTxs");
        // Replay: each pick must be the best head that still fits; every better head must not fit.
        const next = new Map<number, bigint>();
        for (let s = 1; s <= 5; s++) next.set(s, acct.get(s) ?? 0n);
        const skipped = new Set<number>();
        let left = maxBytes;
        const headOf = (s: number): TestTx | undefined =>
          skipped.has(s) ? undefined : p.pending(senderOf(s)).find((x) => x.nonce === next.get(s));
        for (const x of sel) {
          const s = x.sender[0]!;
          if (!p.has(x.hash)) fail("selected tx not in pool");
          if (x.nonce !== next.get(s)) fail(`sender ${s} out of order or gapped`);
          for (let o = 1; o <= 5; o++) {
            const h = headOf(o);
            if (h !== undefined && h !== x && better(h, x)) {
              if (h.size <= left) fail("a better executable tx was passed over");
              skipped.add(o);
            }
          }
          if (x.size > left) fail("select over maxBytes");
          left -= x.size;
          next.set(s, x.nonce + 1n);
        }
        if (sel.length < maxTxs) {
          for (let s = 1; s <= 5; s++) {
            const h = headOf(s);
            if (h !== undefined && h.size <= left) fail("select stopped early");
          }
        }
        return sel;
      };

      /** The eviction rule by linear scan: cheapest tail (fee, then highest hash) while over capacity. */
      const wasInPlan = (tx: TestTx): TestTx[] | "POOL_FULL" => {
        const queues = new Map<number, TestTx[]>();
        for (let s = 1; s <= 5; s++) queues.set(s, p.pending(senderOf(s)));
        let count = p.size;
        let bytes = p.bytes;
        const own = queues.get(tx.sender[0]!)!;
        const oldIdx = own.findIndex((x) => x.nonce === tx.nonce);
        if (oldIdx >= 0) {
          count--;
          bytes -= own[oldIdx]!.size;
          own.splice(oldIdx, 1);
        }
        const plan: TestTx[] = [];
        while (count + 1 > opts.maxTxs || bytes + tx.size > opts.maxBytes) {
          let worst: TestTx | undefined;
          for (const q of queues.values()) {
            const tail = q[q.length - 1];
            if (tail !== undefined && (worst === undefined || better(worst, tail))) worst = tail;
          }
          if (worst === undefined || tx.fee <= worst.fee) return "POOL_FULL";
          if (worst.sender[0] === tx.sender[0] && worst.nonce < tx.nonce) return "POOL_FULL";
          queues.get(worst.sender[0]!)!.pop();
          count--;
          bytes -= worst.size;
          plan.push(worst);
        }
        return plan;
      };

      for (const op of ops) {
        if (op.kind === "add" || op.kind === "readd") {
          let tx: TestTx;
          if (op.kind === "add") {
            const base = acct.get(op.s) ?? 0n;
            tx = mk(op.s, base + BigInt(op.ahead), op.fee, op.size, id++);
            tx.hash[0] = op.hashByte; // random tie-break order; id in bytes 1..3 keeps it unique
          } else {
            if (all.length === 0) continue;
            tx = all[op.pick % all.length]!;
          }
          const before = new Set(all.filter((x) => p.has(x.hash)));
          const plan = wasInPlan(tx);
          const wasIn = p.has(tx.hash);
          let res: ReturnType<typeof p.add> | undefined;
          try {
            res = p.add(tx);
          } catch (e) {
            if (!(e instanceof MempoolError)) throw e;
            if (wasIn && e.code !== MempoolErrorCode.ALREADY_KNOWN) fail("known tx not ALREADY_KNOWN");
            if (e.code === MempoolErrorCode.POOL_FULL && plan !== "POOL_FULL") fail("POOL_FULL but could evict");
            const after = all.filter((x) => p.has(x.hash));
            if (after.length !== before.size || after.some((x) => !before.has(x))) fail("failed add changed pool");
          }
          if (op.kind === "add") all.push(tx);
          if (res !== undefined) {
            if (!p.has(tx.hash)) fail("added tx missing");
            if (plan === "POOL_FULL" || ids(res.evicted).join() !== ids(plan).join()) fail("eviction differs from plan");
            for (const ev of res.evicted) {
              if (p.has(ev.hash)) fail("evicted tx still present");
              if (ev.fee >= tx.fee) fail("evicted a tx paying at least as much");
              const later = p.pending(ev.sender).filter((x) => x.nonce > ev.nonce);
              if (later.length > 0) fail("eviction left a gap");
            }
          }
        } else if (op.kind === "remove") {
          if (all.length === 0) continue;
          const x = all[op.pick % all.length]!;
          const was = p.has(x.hash);
          if (p.remove(x.hash) !== was || p.has(x.hash)) fail("remove inconsistent");
        } else {
          // Build and commit a block from select.
          const sel = checkSelect(op.maxTxs, op.maxBytes);
          const touched = new Map<number, Uint8Array>();
          for (const x of sel) {
            const s = x.sender[0]!;
            acct.set(s, x.nonce + 1n);
            touched.set(s, x.sender);
          }
          p.onBlockCommitted(
            sel.map((x) => x.hash),
            touched.values(),
          );
          for (const x of sel) if (p.has(x.hash)) fail("included tx not pruned");
          for (const s of touched.keys()) {
            for (const x of p.pending(senderOf(s))) if (x.nonce < acct.get(s)!) fail("stale tx not pruned");
          }
        }
        checkContents();
        checks++;
      }
      checkSelect(opts.maxTxs, opts.maxBytes);
      checkSelect(3, 500);
    }),
    { numRuns: 300, seed: 0x5eed },
  );
  t.ok(checks > 3000, `ran ${checks} checked steps`);
});

t.test("admission: a sender that cannot cover the op's debit plus the fee is refused; ops with no debit pass", async (t) => {
  await import("../../../modules/index.ts");
  const { checkSenderCovers } = await import("../../../chain/mempool.ts");
  const { newTestChain, tx, testKey } = await import("../../helpers/chain.ts");
  const alice = testKey(41);
  const bob = testKey(42);
  const chain = newTestChain({ balances: [{ key: alice, amount: 10_000n }] });
  const code = (f: () => void): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  const covers = (op: Parameters<typeof tx>[3], fee = 1000n) => code(() => checkSenderCovers(chain.state, tx(chain, alice, 0n, op, fee)));
  t.equal(covers({ type: "transfer", to: bob.publicKey, amount: 9_000n }), undefined, "amount + fee = balance: admitted");
  t.equal(covers({ type: "transfer", to: bob.publicKey, amount: 9_001n }), MempoolErrorCode.INSUFFICIENT_BALANCE, "one unit short: refused");
  t.equal(covers({ type: "transfer", to: bob.publicKey, amount: 9_000n }, 1001n), MempoolErrorCode.INSUFFICIENT_BALANCE, "a higher fee counts too");
  t.equal(covers({ type: "stake", amount: 10_000n }), MempoolErrorCode.INSUFFICIENT_BALANCE, "a stake is a debit");
  t.equal(covers({ type: "paych.open", payee: bob.publicKey, deposit: 9_500n, settleDelay: 100n }), MempoolErrorCode.INSUFFICIENT_BALANCE, "a channel deposit is a debit");
  t.equal(covers({ type: "unstake", amount: 1_000_000n }), undefined, "an unstake moves stake, not balance: the transition judges it");
  t.equal(covers({ type: "provider.register", kind: 0, collateral: 9_001n, capacity: 1n, multiaddr: "" }), MempoolErrorCode.INSUFFICIENT_BALANCE, "provider collateral is a debit");
  t.equal(covers({ type: "provider.register", kind: 0, collateral: 9_000n, capacity: 1n, multiaddr: "" }), undefined, "collateral + fee = balance: admitted");
  const root = new Uint8Array(32);
  t.equal(
    covers({ type: "storage.order", root, size: 1n, chunkSize: 1n, pricePerEpoch: 1_001n, durationEpochs: 3n, replicas: 3 }),
    MempoolErrorCode.INSUFFICIENT_BALANCE, "an order's escrow (price x duration x replicas) is a debit",
  );
  t.equal(covers({ type: "storage.order", root, size: 1n, chunkSize: 1n, pricePerEpoch: 1_001n, durationEpochs: 3n, replicas: 3 }, 0n), undefined, "the same order without its fee: admitted");
  const terms = { provider: bob.publicKey, root, size: 1n, chunkSize: 1n, pricePerEpoch: 4_600n, durationEpochs: 2n, collateral: 0n, expiresAtHeight: 10n };
  t.equal(covers({ type: "storage.deal", terms, providerSignature: new Uint8Array(64) }), MempoolErrorCode.INSUFFICIENT_BALANCE, "a direct deal's escrow is a debit");
  const err = (() => {
    try {
      checkSenderCovers(chain.state, tx(chain, alice, 0n, { type: "transfer", to: bob.publicKey, amount: 50_000n }));
    } catch (e) {
      return e as { message: string; data?: Record<string, unknown> };
    }
  })();
  t.match(err, { message: /balance 10000 cannot cover 50000 plus the fee 1000/, data: { balance: "10000", needed: "51000" } }, "the error says what was short");
});
