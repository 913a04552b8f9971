/**
 * primitives/keys.ts: the chain's ONE ed25519 verification rule, key derivation and `cc` addresses.
 *
 * Vectors: RFC 8032 section 7.1 (TEST 1, TEST 2, TEST 3, TEST SHA(abc)); BIP-350 bech32m
 * valid/invalid strings. The edge-case signatures (small-order and mixed-order keys and nonces,
 * non-canonical encodings, S >= L) are constructed here with @noble/curves point arithmetic.
 *
 * Every vector is checked against four verifiers:
 *   ours        primitives/keys.ts `verify` (encoding pre-checks, then node:crypto, cofactorless);
 *   reference   an independent cofactorless implementation of the same rule on noble points
 *               (strict decoding, small-order rejection by point arithmetic, [S]B == R + [k]A);
 *               it must agree with ours on EVERY vector;
 *   noble       `ed25519.verify(sig, msg, pub, { zip215: false })`; it must agree with ours
 *               wherever our encoding pre-checks pass, EXCEPT that noble 2.x checks the
 *               COFACTORED equation, so it accepts signatures with a low-order component in A or
 *               R that ours rejects (pinned below as a known divergence: nothing in the chain may
 *               use noble to predict what the chain accepts);
 *   raw         node:crypto verify without our pre-checks, to show what the pre-checks stop.
 */
import t from "tap";
import fc from "fast-check";
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { ed25519, ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { bech32, bech32m } from "@scure/base";
import { concatBytes, fromHex, toHex, utf8 } from "../../../primitives/bytes.ts";
import { encode } from "../../../primitives/codec.ts";
import { Tag, taggedHash } from "../../../primitives/hash.ts";
import {
  ADDRESS_PREFIX,
  KeyError,
  KeyErrorCode,
  fromAddress,
  generateKeyPair,
  isAddress,
  keyPairFromSeed,
  passesEncodingRules,
  toAddress,
  verify,
} from "../../../primitives/keys.ts";

type Point = InstanceType<typeof ed25519.Point>;
const Point = ed25519.Point;
const B = Point.BASE;
const L = Point.Fn.ORDER;
const P = Point.Fp.ORDER;

// ---- helpers ----

function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}
function fromLe(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}
const mod = (a: bigint, m: bigint) => ((a % m) + m) % m;
/** k = SHA-512(R || A || M) mod L, over the bytes as given (RFC 8032 5.1.7). */
const challenge = (R: Uint8Array, A: Uint8Array, M: Uint8Array) => mod(fromLe(sha512(concatBytes(R, A, M))), L);
/** [s]P for any s >= 0 (noble's multiplyUnsafe wants s < L). */
function mul(p: Point, s: bigint): Point {
  s = mod(s, L);
  return s === 0n ? Point.ZERO : p.multiplyUnsafe(s);
}
/** [n]T for a torsion point T (the scalar is NOT reduced mod L). */
function mulSmall(p: Point, n: number): Point {
  let r = Point.ZERO;
  for (let i = 0; i < n; i++) r = r.add(p);
  return r;
}
let scalarCounter = 1000n;
/** Deterministic "random" scalars in [1, L). */
function scalar(): bigint {
  scalarCounter += 1n;
  return mod(fromLe(sha512(utf8.encode(`scalar ${scalarCounter}`))), L - 1n) + 1n;
}

const SPKI = Buffer.from("302a300506032b6570032100", "hex");
/** node:crypto verify with no pre-checks at all. */
function rawVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI, pub]), format: "der", type: "spki" });
    return nodeVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}
function nobleStrict(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    return ed25519.verify(sig, msg, pub, { zip215: false });
  } catch {
    return false;
  }
}
/** Independent cofactorless reference of the chain's rule, built from noble point arithmetic. */
function refVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (pub.length !== 32 || sig.length !== 64) return false;
  const Rb = sig.subarray(0, 32);
  const S = fromLe(sig.subarray(32));
  if (S >= L) return false;
  let A: Point;
  let R: Point;
  try {
    A = Point.fromBytes(pub, false); // strict: y < p, and no "negative zero" x
    R = Point.fromBytes(Rb, false);
  } catch {
    return false;
  }
  if (A.isSmallOrder() || R.isSmallOrder()) return false;
  const k = challenge(Rb, pub, msg);
  return mul(B, S).equals(R.add(mul(A, k)));
}

interface Expect {
  /** what ours (and the reference) must say */
  ok: boolean;
  /** what raw node:crypto says, when the vector is meant to show it */
  raw?: boolean;
  /** noble strict's answer where it is allowed to differ from ours (the cofactored divergence) */
  nobleDiverges?: boolean;
}
function check(t: Tap, name: string, pub: Uint8Array, msg: Uint8Array, sig: Uint8Array, e: Expect): void {
  t.equal(verify(pub, msg, sig), e.ok, `${name}: ours`);
  t.equal(refVerify(pub, msg, sig), e.ok, `${name}: cofactorless reference agrees`);
  if (passesEncodingRules(pub, sig)) {
    if (e.nobleDiverges === undefined) t.equal(nobleStrict(pub, msg, sig), e.ok, `${name}: noble strict agrees`);
    else t.equal(nobleStrict(pub, msg, sig), e.nobleDiverges, `${name}: noble strict (cofactored) says ${e.nobleDiverges}`);
  } else {
    t.equal(e.ok, false, `${name}: failing the encoding rules means rejection`);
  }
  if (e.raw !== undefined) t.equal(rawVerify(pub, msg, sig), e.raw, `${name}: raw node:crypto says ${e.raw}`);
}
type Tap = Pick<typeof t, "equal" | "ok">;

/** The 8-torsion, computed independently: [L]Q for random points Q until one has order 8. */
function torsionSubgroup(): Point[] {
  for (let i = 0; ; i++) {
    let q: Point;
    try {
      q = Point.fromBytes(sha512(utf8.encode(`torsion seed ${i}`)).subarray(0, 32), false);
    } catch {
      continue;
    }
    const T = q.multiplyUnsafe(L - 1n).add(q); // [L]Q: only the torsion component survives
    if (!T.double().double().is0()) return Array.from({ length: 8 }, (_, j) => mulSmall(T, j));
  }
}
const TORSION = torsionSubgroup();
const orderOf = (p: Point) => [1, 2, 4, 8].find((n) => mulSmall(p, n).is0())!;

/** A signature on `msg` by secret scalar `a` for the key bytes `A` (which may carry torsion). */
function signWith(a: bigint, A: Uint8Array, msg: Uint8Array, r = scalar(), Rbytes = mul(B, r).toBytes()): Uint8Array {
  const k = challenge(Rbytes, A, msg);
  return concatBytes(Rbytes, le32(mod(r + k * a, L)));
}
/** First message "prefix i" whose challenge under (R, A) satisfies `pred`. */
function findMessage(prefix: string, R: Uint8Array, A: Uint8Array, pred: (k: bigint) => boolean): Uint8Array {
  for (let i = 0; i < 10_000; i++) {
    const m = utf8.encode(`${prefix} ${i}`);
    if (pred(challenge(R, A, m))) return m;
  }
  throw new Error("no message found");
}

// ---- RFC 8032 section 7.1 ----

const RFC8032 = [
  {
    name: "TEST 1",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    msg: "",
    sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    pub: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    msg: "af82",
    sig: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
  {
    name: "TEST SHA(abc)",
    seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    pub: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    msg: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    sig: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
  },
];

t.test("RFC 8032 7.1 vectors: key from seed, signature, verification", async (t) => {
  for (const v of RFC8032) {
    const kp = keyPairFromSeed(fromHex(v.seed));
    const msg = fromHex(v.msg);
    t.equal(toHex(kp.publicKey), v.pub, `${v.name}: public key`);
    t.equal(toHex(kp.sign(msg)), v.sig, `${v.name}: signature`);
    t.equal(toHex(kp.seed), v.seed, `${v.name}: seed kept`);
    check(t, v.name, fromHex(v.pub), msg, fromHex(v.sig), { ok: true, raw: true });
    const other = msg.length ? concatBytes(msg.subarray(1)) : new Uint8Array([0]);
    check(t, `${v.name} other message`, fromHex(v.pub), other, fromHex(v.sig), { ok: false });
    const badSig = fromHex(v.sig);
    badSig[40]! ^= 1;
    check(t, `${v.name} flipped S bit`, fromHex(v.pub), msg, badSig, { ok: false });
    t.ok(messageIsAsPublished(v), `${v.name}: message`);
  }
  t.throws(() => keyPairFromSeed(new Uint8Array(31)), { code: KeyErrorCode.BAD_SEED });
});
/** TEST SHA(abc)'s message is SHA-512("abc"); the other messages are as printed. */
function messageIsAsPublished(v: (typeof RFC8032)[number]): boolean {
  return v.name !== "TEST SHA(abc)" || toHex(sha512(utf8.encode("abc"))) === v.msg;
}

t.test("signing agrees with noble and verifying agrees with every verifier on random keys", async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (seed, msg) => {
      const kp = keyPairFromSeed(seed);
      const sig = kp.sign(msg);
      if (toHex(kp.publicKey) !== toHex(ed25519.getPublicKey(seed))) return false;
      if (toHex(sig) !== toHex(ed25519.sign(msg, seed))) return false;
      return verify(kp.publicKey, msg, sig) && refVerify(kp.publicKey, msg, sig) && nobleStrict(kp.publicKey, msg, sig);
    }),
    { numRuns: 60, seed: 42 },
  );
  // random single-bit corruptions of a valid (key, message, signature): all verifiers agree
  const kp = generateKeyPair();
  const msg = utf8.encode("corrupt me");
  const sig = kp.sign(msg);
  let disagreements = 0;
  let accepted = 0;
  for (let bit = 0; bit < 8 * 96; bit++) {
    const pub = new Uint8Array(kp.publicKey);
    const s = new Uint8Array(sig);
    if (bit < 256) pub[bit >> 3]! ^= 1 << (bit & 7);
    else s[(bit - 256) >> 3]! ^= 1 << (bit & 7);
    const ours = verify(pub, msg, s);
    if (ours) accepted++;
    if (ours !== refVerify(pub, msg, s)) disagreements++;
    if (passesEncodingRules(pub, s) && ours !== nobleStrict(pub, msg, s)) disagreements++;
  }
  t.equal(accepted, 0, "no single-bit corruption verifies");
  t.equal(disagreements, 0, "no verifier disagrees on any corruption");
  // verify works on views into larger buffers (byteOffset != 0), and the key cache keeps keys apart
  const big = new Uint8Array(200);
  big.set(kp.publicKey, 7);
  big.set(sig, 100);
  t.equal(verify(big.subarray(7, 39), msg, big.subarray(100, 164)), true, "subarray views verify");
  t.equal(verify(generateKeyPair().publicKey, msg, sig), false, "another key does not");
  t.equal(verify(kp.publicKey, msg, sig), true, "and the first key still does");
});

t.test("a signature does not carry over to another chain id or another domain tag", async (t) => {
  const kp = keyPairFromSeed(new Uint8Array(32).fill(9));
  const body = (chainId: string) => encode([chainId, 7, 1_000_000_000n, new Uint8Array(32).fill(1), "transfer"]);
  const devnet = body("cloudcoin-devnet-1");
  const testnet = body("cloudcoin-testnet-1");
  t.not(toHex(devnet), toHex(testnet), "the payloads differ only in the chain id");
  const sig = kp.sign(devnet);
  t.equal(verify(kp.publicKey, devnet, sig), true, "valid on its own chain");
  t.equal(verify(kp.publicKey, testnet, sig), false, "invalid on the other chain");
  // the same, with the tagged hashes that transactions and votes actually sign
  const txDev = taggedHash(Tag.TX, devnet);
  const sigTx = kp.sign(txDev);
  t.equal(verify(kp.publicKey, txDev, sigTx), true);
  t.equal(verify(kp.publicKey, taggedHash(Tag.TX, testnet), sigTx), false, "tx hash on another chain");
  t.equal(verify(kp.publicKey, taggedHash(Tag.VOTE, devnet), sigTx), false, "same bytes under the vote tag");
});

// ---- S must be canonical (S < L) ----

t.test("non-canonical S (S + L, S + 2L, ...) is rejected", async (t) => {
  const kp = keyPairFromSeed(fromHex(RFC8032[0]!.seed));
  const msg = fromHex(RFC8032[0]!.msg);
  const sig = kp.sign(msg);
  const S = fromLe(sig.subarray(32));
  // [S + jL]B = [S]B because [L]B = 0: the equation still holds, only the S < L rule stops it
  t.ok(B.multiplyUnsafe(L - 1n).add(B).is0(), "[L]B = 0");
  for (let j = 1n; S + j * L < 1n << 256n; j++) {
    const mal = concatBytes(sig.subarray(0, 32), le32(S + j * L));
    check(t, `S + ${j}L`, kp.publicKey, msg, mal, { ok: false });
  }
  // the boundary itself, on the encoding rule alone
  const R = sig.subarray(0, 32);
  t.equal(passesEncodingRules(kp.publicKey, concatBytes(R, le32(L - 1n))), true, "S = L - 1 passes");
  t.equal(passesEncodingRules(kp.publicKey, concatBytes(R, le32(L))), false, "S = L fails");
  t.equal(passesEncodingRules(kp.publicKey, concatBytes(R, le32((1n << 256n) - 1n))), false, "S = 2^256 - 1 fails");
  t.equal(passesEncodingRules(kp.publicKey, concatBytes(R, le32(0n))), true, "S = 0 passes");
});

// ---- the 8-torsion ----

t.test("the small-order list in keys.ts is exactly the 8-torsion", async (t) => {
  t.equal(new Set(TORSION.map((p) => p.toHex())).size, 8, "eight distinct torsion points");
  t.same(TORSION.map(orderOf).sort(), [1, 2, 4, 4, 8, 8, 8, 8], "orders 1, 2, 4, 4, 8, 8, 8, 8");
  t.same(TORSION.map((p) => p.toHex()).sort(), [...ED25519_TORSION_SUBGROUP].sort(), "the same set as noble's constant");
  const ys = new Set<string>();
  const R0 = mul(B, scalar()).toBytes();
  const A0 = mul(B, scalar()).toBytes();
  for (const p of TORSION) {
    const enc = p.toBytes();
    for (const signBit of [0, 0x80]) {
      const e = new Uint8Array(enc);
      e[31] = (e[31]! & 0x7f) | signBit;
      t.equal(passesEncodingRules(e, concatBytes(R0, le32(1n))), false, `A = ${toHex(e)} rejected`);
      t.equal(passesEncodingRules(A0, concatBytes(e, le32(1n))), false, `R = ${toHex(e)} rejected`);
    }
    const y = new Uint8Array(enc);
    y[31]! &= 0x7f;
    ys.add(toHex(y));
  }
  // The table in the source is exactly the set of y-coordinates of the torsion (5 values).
  const src = readFileSync(new URL("../../../primitives/keys.ts", import.meta.url), "utf8");
  const table = /const SMALL_ORDER_Y = \[([\s\S]*?)\]/.exec(src);
  t.ok(table, "found SMALL_ORDER_Y in keys.ts");
  const listed = new Set([...(table?.[1] ?? "").matchAll(/"([0-9a-f]{64})"/g)].map((m) => m[1]!));
  t.same([...listed].sort(), [...ys].sort(), "SMALL_ORDER_Y = { y(T) : T in the 8-torsion }");
  // and nothing else is rejected: random prime-order points and mixed-order points pass
  for (let i = 0; i < 64; i++) {
    const q = mul(B, scalar());
    const mixed = q.add(TORSION[1 + (i % 7)]!);
    t.equal(passesEncodingRules(q.toBytes(), concatBytes(R0, le32(1n))), true, `prime-order A #${i} passes`);
    t.equal(passesEncodingRules(A0, concatBytes(q.toBytes(), le32(1n))), true, `prime-order R #${i} passes`);
    t.equal(passesEncodingRules(mixed.toBytes(), concatBytes(R0, le32(1n))), true, `mixed-order A #${i} passes the encoding rules`);
  }
});

t.test("small-order public keys are rejected even with signatures that satisfy the equation", async (t) => {
  // A = T (small order), R = [r]B, S = r, and a message whose k is 0 mod ord(T): then
  // [S]B = R = R + [k]T holds exactly (cofactorless), so only the small-order rule stops it.
  let rawAccepted = 0;
  const encodings: [string, Uint8Array][] = [];
  for (const p of TORSION) encodings.push([`T of order ${orderOf(p)} ${p.toHex().slice(0, 8)}`, p.toBytes()]);
  // the non-canonical "negative zero" encodings of the two points with x = 0 (y = 1 and y = -1)
  encodings.push(["identity with sign bit", fromHex("0100000000000000000000000000000000000000000000000000000000000080")]);
  encodings.push(["y = -1 with sign bit", fromHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]);
  for (const [name, A] of encodings) {
    const ord = BigInt(orderOf(Point.fromBytes(A, true)));
    const r = scalar();
    const R = mul(B, r).toBytes();
    const msg = findMessage(`small-order key ${name}`, R, A, (k) => k % ord === 0n);
    const sig = concatBytes(R, le32(r));
    t.ok(mul(B, r).equals(mul(B, r).add(mulSmall(Point.fromBytes(A, true), Number(challenge(R, A, msg) % 8n)))), `${name}: equation holds`);
    if (rawVerify(A, msg, sig)) rawAccepted++;
    check(t, `A = ${name}`, A, msg, sig, { ok: false });
    t.equal(passesEncodingRules(A, sig), false, `${name}: stopped by the encoding rules`);
  }
  t.ok(rawAccepted >= 1, `raw node:crypto accepts ${rawAccepted} of ${encodings.length} of these; the pre-check is what protects us`);
  t.comment(`raw node:crypto accepted ${rawAccepted}/${encodings.length} small-order-key signatures`);

  // A = identity, R = identity, S = 0: valid for EVERY message under [S]B = R + [k]A
  const id = TORSION[0]!.toBytes();
  t.equal(toHex(id), "0100000000000000000000000000000000000000000000000000000000000000");
  const zeroSig = concatBytes(id, new Uint8Array(32));
  for (const m of ["pay alice 1", "pay mallory 1000000", ""]) {
    check(t, `A = R = identity, S = 0, "${m}"`, id, utf8.encode(m), zeroSig, { ok: false, raw: true });
  }
});

t.test("small-order R is rejected", async (t) => {
  const a = scalar();
  const A = mul(B, a).toBytes();
  // R = identity, S = k a: [S]B = [k]A = R + [k]A holds exactly
  const id = TORSION[0]!.toBytes();
  const msg = utf8.encode("small-order nonce");
  check(t, "R = identity, S = ka", A, msg, signWith(a, A, msg, 0n, id), { ok: false, raw: true });
  // the other seven: S = k a satisfies the cofactored equation only ([8]T = 0)
  for (const p of TORSION.slice(1)) {
    const R = p.toBytes();
    const sig = signWith(a, A, msg, 0n, R);
    check(t, `R = T of order ${orderOf(p)} ${p.toHex().slice(0, 8)}`, A, msg, sig, { ok: false, raw: false });
    t.equal(nobleStrict(A, msg, sig), true, "noble strict accepts it (it has no small-order R check): our pre-check rejects it");
  }
});

t.test("non-canonical encodings (y >= p) of A and R are rejected", async (t) => {
  const pPlus = (n: bigint, sign = false) => le32(P + n + (sign ? 1n << 255n : 0n));
  // identity encoded as y = p + 1 (both sign bits) and y = 0 encoded as y = p
  const nonCanonicalSmall: [string, Uint8Array][] = [
    ["y = p + 1 (identity)", pPlus(1n)],
    ["y = p + 1, sign bit", pPlus(1n, true)],
    ["y = p (order 4)", pPlus(0n)],
    ["y = p, sign bit", pPlus(0n, true)],
  ];
  let rawAccepted = 0;
  for (const [name, A] of nonCanonicalSmall) {
    const ord = BigInt(orderOf(Point.fromBytes(A, true)));
    const r = scalar();
    const R = mul(B, r).toBytes();
    const msg = findMessage(`non-canonical key ${name}`, R, A, (k) => k % ord === 0n);
    const sig = concatBytes(R, le32(r));
    if (rawVerify(A, msg, sig)) rawAccepted++;
    check(t, `A: ${name}`, A, msg, sig, { ok: false });
    t.equal(nobleStrict(A, msg, sig), false, `A: ${name}: noble strict rejects y >= p`);
  }
  t.ok(rawAccepted >= 1, `raw node:crypto accepts ${rawAccepted} non-canonical small-order keys`);
  // R = identity encoded as y = p + 1, with S = k a (k over the non-canonical bytes)
  const a = scalar();
  const A = mul(B, a).toBytes();
  const msg = utf8.encode("non-canonical nonce");
  const sig = signWith(a, A, msg, 0n, pPlus(1n));
  check(t, "R: y = p + 1 (identity)", A, msg, sig, { ok: false });
  t.equal(ed25519.verify(sig, msg, A, { zip215: true }), true, "it is a valid ZIP-215 signature: only the encoding rule stops it");

  // Non-canonical encodings of points that are NOT small order (y = p + 3 etc. are on the curve
  // for y = 3, 4, 5, 6, 9, ...): no signature can be built for them without a discrete log, so
  // pin the encoding rule itself, byte by byte, around p, for A and for R.
  const A0 = mul(B, scalar()).toBytes();
  const R0 = mul(B, scalar()).toBytes();
  const smallOrderYs = new Set(TORSION.map((p) => fromLe(p.toBytes()) & ((1n << 255n) - 1n)));
  let onCurveNonCanonical = 0;
  for (let y = P - 25n; y < 1n << 255n; y++) {
    for (const sign of [0n, 1n << 255n]) {
      const e = le32(y + sign);
      const expected = y < P && !smallOrderYs.has(y);
      t.equal(passesEncodingRules(e, concatBytes(R0, le32(1n))), expected, `A with y = p ${y >= P ? "+" : "-"} ${y >= P ? y - P : P - y}${sign ? " (sign)" : ""}`);
      t.equal(passesEncodingRules(A0, concatBytes(e, le32(1n))), expected, `R with y = p ${y >= P ? "+" : "-"} ${y >= P ? y - P : P - y}${sign ? " (sign)" : ""}`);
      if (y >= P) {
        try {
          Point.fromBytes(e, true);
          onCurveNonCanonical++;
        } catch {
          /* not on the curve */
        }
      }
    }
  }
  t.ok(onCurveNonCanonical > 4, `${onCurveNonCanonical} of the y >= p encodings name real curve points, and all are rejected`);
});

// ---- mixed-order keys and nonces: where cofactored and cofactorless verification split ----

t.test("mixed-order A and R: ours (cofactorless) rejects what only the cofactored equation accepts", async (t) => {
  const a = scalar();
  for (const T of TORSION.filter((p) => orderOf(p) === 8)) {
    const Aprime = mul(B, a).add(T).toBytes(); // A' = A + T: not small order, passes the encoding rules
    t.equal(passesEncodingRules(Aprime, concatBytes(mul(B, 1n).toBytes(), le32(1n))), true, "A' passes the encoding rules");
    const r = scalar();
    const R = mul(B, r).toBytes();
    // k != 0 mod 8: [S]B = R + [k]A, so R + [k]A' = [S]B + [k]T != [S]B (cofactorless fails),
    // while [8][S]B = [8](R + [k]A') (cofactored holds)
    const bad = findMessage(`mixed-order ${T.toHex().slice(0, 8)}`, R, Aprime, (k) => k % 8n !== 0n);
    const sigBad = signWith(a, Aprime, bad, r);
    check(t, `A' = A + T${T.toHex().slice(0, 6)}, k != 0 mod 8`, Aprime, bad, sigBad, { ok: false, raw: false, nobleDiverges: true });
    // k = 0 mod 8: [k]T = 0, the exact equation holds, and every verifier accepts
    const good = findMessage(`mixed-order ok ${T.toHex().slice(0, 8)}`, R, Aprime, (k) => k % 8n === 0n);
    check(t, `A' = A + T${T.toHex().slice(0, 6)}, k = 0 mod 8`, Aprime, good, signWith(a, Aprime, good, r), { ok: true, raw: true });
  }
  // R' = [r]B + T with S = r + k a: cofactorless always fails, cofactored always holds
  const A = mul(B, a).toBytes();
  for (const T of TORSION.slice(1)) {
    const r = scalar();
    const Rprime = mul(B, r).add(T).toBytes();
    const msg = utf8.encode(`mixed-order nonce ${T.toHex().slice(0, 8)}`);
    const sig = signWith(a, A, msg, r, Rprime);
    t.equal(passesEncodingRules(A, sig), true, "R' passes the encoding rules");
    check(t, `R' = R + T${T.toHex().slice(0, 6)} (order ${orderOf(T)})`, A, msg, sig, { ok: false, raw: false, nobleDiverges: true });
  }
});

t.test("verify is total: wrong lengths and wrong types give false, never a throw", async (t) => {
  const kp = generateKeyPair();
  const msg = utf8.encode("m");
  const sig = kp.sign(msg);
  const any = (x: unknown) => x as never;
  const cases: [string, () => boolean][] = [
    ["31-byte key", () => verify(kp.publicKey.subarray(1), msg, sig)],
    ["33-byte key", () => verify(concatBytes(kp.publicKey, new Uint8Array(1)), msg, sig)],
    ["empty key", () => verify(new Uint8Array(0), msg, sig)],
    ["63-byte signature", () => verify(kp.publicKey, msg, sig.subarray(1))],
    ["65-byte signature", () => verify(kp.publicKey, msg, concatBytes(sig, new Uint8Array(1)))],
    ["empty signature", () => verify(kp.publicKey, msg, new Uint8Array(0))],
    ["null key", () => verify(any(null), msg, sig)],
    ["undefined signature", () => verify(kp.publicKey, msg, any(undefined))],
    ["hex-string key", () => verify(any(toHex(kp.publicKey)), msg, sig)],
    ["null message", () => verify(kp.publicKey, any(null), sig)],
    ["string message", () => verify(kp.publicKey, any("m"), sig)],
    ["array key", () => verify(any([...kp.publicKey]), msg, sig)],
  ];
  for (const [name, f] of cases) {
    let r: boolean | string;
    try {
      r = f();
    } catch (e) {
      r = `threw: ${(e as Error).message}`;
    }
    t.equal(r, false, name);
  }
  t.equal(verify(kp.publicKey, msg, sig), true, "the untouched triple verifies");
});

// ---- bech32m and addresses ----

const BIP350_VALID = [
  "A1LQFN3A",
  "a1lqfn3a",
  "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
  "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
  "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
  "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
  "?1v759aa",
];
const BIP350_INVALID = [
  "\x201xj0phk", // HRP character out of range
  "\x7f1g6xzxy", // HRP character out of range
  "\x801vctc34", // HRP character out of range
  "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4", // too long
  "qyrz8wqd2c9m", // no separator
  "1qyrz8wqd2c9m", // empty HRP
  "y1b0jsk6g", // invalid data character
  "lt1igcx5c0", // invalid data character
  "in1muywd", // too short checksum
  "mm1crxm3i", // invalid character in checksum
  "au1s5cgom", // invalid character in checksum
  "M1VUXWEZ", // checksum calculated with uppercase form of HRP
  "16plkw9", // empty HRP
  "1p2gdwpf", // empty HRP
];
/** BIP-173 valid bech32 strings: their checksums are NOT valid bech32m. */
const BIP173_VALID = ["A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "?1ezyfcl"];

t.test("BIP-350 vectors through @scure/base", async (t) => {
  t.equal(BIP350_VALID[4]!.length, 90, "the 90-character vector is intact");
  for (const s of BIP350_VALID) {
    const { prefix, words } = bech32m.decode(s as `${string}1${string}`);
    t.equal(bech32m.encode(prefix, words), s.toLowerCase(), `valid: ${s.slice(0, 24)}`);
  }
  for (const s of BIP350_INVALID) t.throws(() => bech32m.decode(s as `${string}1${string}`), `invalid: ${JSON.stringify(s).slice(0, 30)}`);
  for (const s of BIP173_VALID) {
    t.doesNotThrow(() => bech32.decode(s as `${string}1${string}`), `bech32 accepts ${s.slice(0, 20)}`);
    t.throws(() => bech32m.decode(s as `${string}1${string}`), `bech32m rejects the bech32 checksum of ${s.slice(0, 20)}`);
  }
});

t.test("addresses: round trip and the rules of fromAddress", async (t) => {
  const badAddress = { code: KeyErrorCode.BAD_ADDRESS, constructor: KeyError };
  for (let i = 0; i < 50; i++) {
    const pub = generateKeyPair().publicKey;
    const addr = toAddress(pub);
    if (!addr.startsWith(`${ADDRESS_PREFIX}1`) || addr.length !== 61 || toHex(fromAddress(addr)) !== toHex(pub) || !isAddress(addr)) {
      t.fail(`round trip failed for ${toHex(pub)}`);
    }
  }
  const pub = keyPairFromSeed(fromHex(RFC8032[0]!.seed)).publicKey;
  const addr = toAddress(pub);
  t.equal(toHex(fromAddress(addr)), toHex(pub), "round trip");
  t.match(addr, /^cc1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/, "lowercase, cc1, 52 data + 6 checksum characters");
  t.same([...fromAddress(addr)], [...pub]);
  const words = bech32m.toWords(pub);

  t.throws(() => fromAddress(bech32m.encode("cd", words)), badAddress, "wrong prefix");
  t.throws(() => fromAddress(bech32m.encode("c", words)), badAddress, "short prefix");
  t.throws(() => fromAddress(bech32m.encode("ccc", words)), badAddress, "long prefix");
  t.throws(() => fromAddress(bech32.encode("cc", words)), badAddress, "bech32 (not bech32m) checksum");
  t.throws(() => fromAddress(bech32m.encode("cc", bech32m.toWords(pub.subarray(1)))), badAddress, "31-byte payload");
  t.throws(() => fromAddress(bech32m.encode("cc", bech32m.toWords(concatBytes(pub, new Uint8Array(1))))), badAddress, "33-byte payload");
  t.throws(() => fromAddress(bech32m.encode("cc", [])), badAddress, "empty payload");
  const padded = [...words];
  padded[padded.length - 1]! |= 1; // 256 bits in 52 words leave 4 padding bits, which must be 0
  t.throws(() => fromAddress(bech32m.encode("cc", padded)), badAddress, "non-zero padding bits (a second spelling of one key)");
  const mixed = addr.slice(0, 10) + addr.slice(10, 11).toUpperCase() + addr.slice(11);
  t.not(mixed, addr);
  t.throws(() => fromAddress(mixed), badAddress, "mixed case");
  t.throws(() => fromAddress("CC" + addr.slice(2)), badAddress, "mixed case in the prefix");
  // BIP-350: an all-uppercase string is the same address (for QR codes); it names the same key
  t.equal(toHex(fromAddress(addr.toUpperCase())), toHex(pub), "all uppercase is the same address");
  for (const junk of ["", "cc1", "cc", "1", `${addr}q`, addr.slice(0, -1), `${addr} `, ` ${addr}`, "x".repeat(200)]) {
    t.throws(() => fromAddress(junk), badAddress, `junk ${JSON.stringify(junk).slice(0, 20)}`);
    t.equal(isAddress(junk), false);
  }
  t.throws(() => toAddress(pub.subarray(1)), badAddress, "toAddress wants 32 bytes");

  // every single-character substitution is caught by the checksum
  const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  let caught = 0;
  let tried = 0;
  for (let i = 3; i < addr.length; i++) {
    for (const c of charset) {
      if (c === addr[i]) continue;
      tried++;
      try {
        fromAddress(addr.slice(0, i) + c + addr.slice(i + 1));
      } catch (e) {
        if (e instanceof KeyError && e.code === KeyErrorCode.BAD_ADDRESS) caught++;
      }
    }
  }
  t.equal(caught, tried, `all ${tried} single-character substitutions rejected`);
});

t.test("decoded addresses are cached without sharing the cached bytes", async (t) => {
  const key = keyPairFromSeed(new Uint8Array(32).fill(42));
  const addr = toAddress(key.publicKey);
  const first = fromAddress(addr);
  first.fill(0);
  t.same(fromAddress(addr), key.publicKey, "a caller mutating its copy does not corrupt the cache");
  t.not(fromAddress(addr), fromAddress(addr), "each call returns its own array");
  t.throws(() => fromAddress(addr.slice(0, -1) + (addr.endsWith("q") ? "p" : "q")), { code: "BAD_ADDRESS" }, "bad checksums are never cached as good");
});
