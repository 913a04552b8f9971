import t from "tap";
import { keyPairFromSeed, verify } from "../../../primitives/keys.ts";
import { VerifyPool, inlineVerifier } from "../../../node/verify-pool.ts";

const key = keyPairFromSeed(new Uint8Array(32).fill(3));
const msg = (i: number) => new Uint8Array([i & 255, i >> 8, 7]);

t.test("the worker pool gives exactly the chain rule's answers, batched, in order", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  t.equal(pool.size, 2);
  const cases: [Uint8Array, Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < 300; i++) {
    const sig = key.sign(msg(i));
    if (i % 3 === 1) sig[5]! ^= 1; // forged
    if (i % 7 === 2) sig[63]! |= 0x20; // non-canonical S (S >= L)
    cases.push([key.publicKey, msg(i), sig]);
  }
  // small-order public key (identity) with an equation-satisfying signature: the rule rejects it
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const rSig = new Uint8Array(64);
  rSig[0] = 1;
  cases.push([identity, msg(1), rSig]);
  const got = await Promise.all(cases.map(([p, m, s]) => pool.verify(p, m, s)));
  const want = cases.map(([p, m, s]) => verify(p, m, s));
  t.same(got, want);
  t.ok(want.includes(true) && want.includes(false), "both outcomes occur");
  t.same(await Promise.all(cases.slice(0, 5).map(([p, m, s]) => inlineVerifier.verify(p, m, s))), want.slice(0, 5));
});

t.test("keys, messages and signatures that are views into one large buffer (a decoded block) get the same answers", async (t) => {
  const pool = await VerifyPool.start(2);
  t.teardown(() => pool.close());
  // 64 items laid out in one 1 MiB buffer, at odd offsets, as a block's transactions are
  const big = new Uint8Array(1 << 20);
  const items: [Uint8Array, Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < 64; i++) {
    const at = 1_001 + i * 131;
    const sig = key.sign(msg(i));
    if (i % 5 === 3) sig[9]! ^= 4; // forged
    big.set(key.publicKey, at);
    big.set(msg(i), at + 32);
    big.set(sig, at + 35);
    items.push([big.subarray(at, at + 32), big.subarray(at + 32, at + 35), big.subarray(at + 35, at + 99)]);
  }
  const want = items.map(([p, m, s]) => verify(p, m, s));
  t.same(await pool.verifyMany(items), want, "verifyMany");
  t.same(await Promise.all(items.map(([p, m, s]) => pool.verify(p, m, s))), want, "verify");
  t.equal(want.filter((x) => !x).length, 13, "the forged ones are refused, the others verify");
  t.equal(items[0]![0].buffer.byteLength, 1 << 20, "the caller's views are left as they were");
  // many one-item requests in one tick (tx_send in a JSON-RPC batch) share a batch and keep their answers
  t.same(await Promise.all(items.map((it) => pool.verifyMany([it]))), want.map((w) => [w]), "one-item requests of one tick");
});

t.test("a closed pool refuses new work and answers what was in flight", async (t) => {
  const pool = await VerifyPool.start(1);
  const pending = pool.verify(key.publicKey, msg(1), key.sign(msg(1)));
  await pool.close();
  t.equal(await pending, true);
  await t.rejects(pool.verify(key.publicKey, msg(1), key.sign(msg(1))), /closed/);
});
