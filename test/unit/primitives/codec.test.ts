/**
 * primitives/codec.ts (strict deterministic CBOR, docs/protocol.md section 1) and primitives/amount.ts.
 *
 * The canonical-form invariant under test: decode(x) succeeds  =>  encode(decode(x)) == x,
 * for every byte string x; so hashing the received bytes and hashing the re-encoded object agree.
 * Byte strings for the rejections are hand-written from RFC 8949 (major types, additional info).
 */
import t from "tap";
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { AmountError, AmountErrorCode, U64_MAX, UNITS_PER_CLC, addU64, formatClc, isU64, parseClc, parseUnits, subU64 } from "../../../primitives/amount.ts";
import { equalBytes, fromHex, toHex } from "../../../primitives/bytes.ts";
import { asArray, asBool, asBytes, asInt, asString, asU64, asUint, CBOR_INT_MAX, CBOR_INT_MIN, decode, encode, int, u64, type CborValue } from "../../../primitives/codec.ts";
import { CodecError, CodecErrorCode } from "../../../primitives/errors.ts";
import { decode as cborgDecode, encode as cborgEncode } from "cborg";

/** The CodecError code decode(hex) throws, or "accepted". */
function decodeCode(bytes: Uint8Array, maxBytes?: number): string {
  try {
    decode(bytes, maxBytes);
    return "accepted";
  } catch (e) {
    return e instanceof CodecError ? e.code : `not a CodecError: ${String(e)}`;
  }
}
function codeOf(f: () => unknown): string {
  try {
    f();
    return "no error";
  } catch (e) {
    return e instanceof CodecError || e instanceof AmountError ? e.code : `unexpected: ${String(e)}`;
  }
}

// ---- arbitraries: the data model (unsigned integers, bytes, text, booleans, null, arrays) ----

const leafArb: fc.Arbitrary<CborValue> = fc.oneof(
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.bigInt({ min: 0n, max: U64_MAX }),
  fc.constantFrom(0n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, U64_MAX),
  fc.uint8Array({ maxLength: 80 }),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.boolean(),
  fc.constant(null),
);
const valueArb: fc.Arbitrary<CborValue> = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leafArb, fc.array(tie("value"), { maxLength: 6 })),
})).value;

/** What decode gives back: integers up to 2^53 - 1 as numbers, larger ones as bigints. */
function normalize(v: CborValue): CborValue {
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalize);
  return v;
}

t.test("round trip: decode(encode(v)) is v and re-encodes to identical bytes", async (t) => {
  fc.assert(
    fc.property(valueArb, (v) => {
      const bytes = encode(v);
      const back = decode(bytes);
      return isDeepStrictEqual(back, normalize(v)) && equalBytes(encode(back), bytes);
    }),
    { numRuns: 400, seed: 20240601 },
  );
  // fixed points of the encoding, from RFC 8949 appendix A
  const appendixA: [CborValue, string][] = [
    [0, "00"],
    [23, "17"],
    [24, "1818"],
    [100, "1864"],
    [1000, "1903e8"],
    [1_000_000, "1a000f4240"],
    [1_000_000_000_000, "1b000000e8d4a51000"],
    [18446744073709551615n, "1bffffffffffffffff"],
    [false, "f4"],
    [true, "f5"],
    [null, "f6"],
    [new Uint8Array(0), "40"],
    [fromHex("01020304"), "4401020304"],
    ["", "60"],
    ["a", "6161"],
    ["IETF", "6449455446"],
    ["\u00fc", "62c3bc"],
    ["\u6c34", "63e6b0b4"],
    ["\ud800\udd51", "64f0908591"],
    [[], "80"],
    [[1, 2, 3], "83010203"],
    [[1, [2, 3], [4, 5]], "8301820203820405"],
    [Array.from({ length: 25 }, (_, i) => i + 1), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"],
  ];
  for (const [v, hex] of appendixA) {
    t.equal(toHex(encode(v)), hex, `encode ${hex}`);
    t.same(decode(fromHex(hex)), normalize(v), `decode ${hex}`);
  }
});

t.test("non-canonical and out-of-model inputs are rejected with their codes", async (t) => {
  const M = CodecErrorCode.MALFORMED;
  const N = CodecErrorCode.NON_CANONICAL;
  const cases: [string, string, string][] = [
    // integers and lengths must be minimal
    ["1817", M, "23 in two bytes"],
    ["190017", M, "23 in three bytes"],
    ["1a00000017", M, "23 in five bytes"],
    ["1b0000000000000017", M, "23 in nine bytes"],
    ["1900ff", M, "255 in three bytes"],
    ["1b00000000ffffffff", M, "2^32 - 1 in nine bytes"],
    ["3817", M, "-24 in two bytes"],
    ["5801ff", M, "byte string length not minimal"],
    ["780161", M, "text string length not minimal"],
    ["9800", M, "array length not minimal"],
    ["990001" + "00", M, "array length in three bytes"],
    // floats, of every width, integral or not
    ["f93c00", N, "1.0 as a half float"],
    ["f93e00", N, "1.5 as a half float"],
    ["fa3fc00000", N, "1.5 as a single float"],
    ["fb3ff8000000000000", N, "1.5 as a double float"],
    ["f98000", N, "-0.0"],
    ["f90000", N, "+0.0"],
    ["8201f93e00", N, "a float inside an array"],
    ["f97e00", M, "NaN"],
    ["fa7fc00000", M, "NaN as a single float"],
    ["f97c00", M, "Infinity"],
    ["f9fc00", M, "-Infinity"],
    // indefinite lengths
    ["9f01ff", M, "indefinite-length array"],
    ["5f4101ff", M, "indefinite-length byte string"],
    ["7f6161ff", M, "indefinite-length text string"],
    ["bfff", M, "indefinite-length map"],
    ["ff", M, "a lone break"],
    // maps, any
    ["a0", N, "empty map"],
    ["a10102", N, "map {1: 2}"],
    ["a1616101", N, "map {'a': 1}"],
    ["a201020304", N, "map {1: 2, 3: 4}"],
    ["8101a0", M, "a map after a complete item (trailing)"],
    ["8201a0", N, "map inside an array"],
    // simple values and tags
    ["f7", M, "undefined"],
    ["f0", M, "simple value 16"],
    ["f820", M, "simple value 32"],
    ["c074323031332d30332d32315432303a30343a30305a", M, "tag 0 (date)"],
    ["c249010000000000000000", M, "tag 2 (bignum 2^64)"],
    ["d90100" + "00", M, "a 2-byte tag"],
    // reserved additional information, invalid text
    ["1c", M, "additional info 28"],
    ["1f", M, "additional info 31 on an integer"],
    ["62fffe", N, "invalid UTF-8"],
    ["62c0af", N, "overlong UTF-8"],
    ["63eda080", N, "UTF-8 of a surrogate"],
    ["61ff", N, "a lone 0xff byte as text"],
    ["63efbbbf", N, "text that is only a byte-order mark (the decoder drops it)"],
    ["64efbbbf61", N, "text led by a byte-order mark"],
    ["8263efbbbf01", N, "a byte-order mark inside an array"],
    // trailing and missing bytes
    ["0100", M, "trailing byte after an integer"],
    ["8100" + "00", M, "trailing byte after an array"],
    ["f6f6", M, "two items"],
    ["", M, "empty input"],
    ["5b7fffffffffffffff", M, "byte string claiming 2^63 bytes"],
    ["5affffffff00", M, "byte string claiming 4 GiB"],
    ["9bffffffffffffffff", M, "array claiming 2^64 - 1 items"],
    ["9affffffff", M, "array claiming 4 Gi items"],
  ];
  for (const [hex, code, what] of cases) t.equal(decodeCode(fromHex(hex)), code, `${what} (${hex})`);
});

t.test("truncated input: every proper prefix of a valid encoding is rejected", async (t) => {
  const samples: CborValue[] = [
    [1, [2, 3], new Uint8Array(40).fill(7), "text \u00fc", U64_MAX, 2n ** 40n, true, null, []],
    U64_MAX,
    "a longer text string that needs a one-byte length",
    new Uint8Array(300),
    Array.from({ length: 30 }, (_, i) => i * 1000),
  ];
  let prefixes = 0;
  const bad: string[] = [];
  for (const v of samples) {
    const bytes = encode(v);
    for (let n = 0; n < bytes.length; n++) {
      prefixes++;
      const code = decodeCode(bytes.subarray(0, n));
      if (code !== CodecErrorCode.MALFORMED) bad.push(`${toHex(bytes).slice(0, 16)}.. prefix ${n}: ${code}`);
    }
  }
  fc.assert(
    fc.property(valueArb, (v) => {
      const bytes = encode(v);
      for (let n = 0; n < bytes.length; n++) {
        prefixes++;
        if (decodeCode(bytes.subarray(0, n)) !== CodecErrorCode.MALFORMED) return false;
      }
      return true;
    }),
    { numRuns: 150, seed: 7 },
  );
  t.same(bad, [], "all prefixes MALFORMED");
  t.ok(prefixes > 1000, `${prefixes} prefixes checked`);
});

t.test("canonical-form invariant on arbitrary and mutated bytes", async (t) => {
  // any byte string: decode either throws a CodecError, or the bytes are exactly the encoding
  const check = (bytes: Uint8Array): boolean => {
    let v: CborValue;
    try {
      v = decode(bytes);
    } catch (e) {
      return e instanceof CodecError;
    }
    return equalBytes(encode(v), bytes);
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), check), { numRuns: 3000, seed: 11 });
  // single-byte mutations and appended bytes of valid encodings
  fc.assert(
    fc.property(valueArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
      const bytes = new Uint8Array(encode(v));
      const i = at % bytes.length;
      bytes[i] = byte;
      const extended = new Uint8Array([...encode(v), byte]);
      return check(bytes) && check(extended) && decodeCode(extended) === CodecErrorCode.MALFORMED;
    }),
    { numRuns: 1500, seed: 12 },
  );
  t.pass("invariant held");
});

t.test("the one-pass canonical check accepts exactly what the re-encoding round trip accepts", async (t) => {
  // the rule before the one-pass check: cborg's strict decode, nothing outside the data model, and
  // re-encoding the value gives the very bytes
  const opts = { strict: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false, allowNaN: false, rejectDuplicateMapKeys: true, allowBigInt: true, useMaps: true } as const;
  const outside = (v: unknown): boolean =>
    Array.isArray(v) ? v.some(outside) : typeof v === "number" ? !Number.isInteger(v) : !(typeof v === "bigint" || typeof v === "string" || typeof v === "boolean" || v === null || v instanceof Uint8Array);
  const reference = (bytes: Uint8Array): string => {
    let v: unknown;
    try {
      v = cborgDecode(bytes, opts);
    } catch {
      return CodecErrorCode.MALFORMED;
    }
    if (outside(v)) return CodecErrorCode.NON_CANONICAL;
    try {
      return equalBytes(cborgEncode(v), bytes) ? "accepted" : CodecErrorCode.NON_CANONICAL;
    } catch {
      return CodecErrorCode.NON_CANONICAL;
    }
  };
  const same = (bytes: Uint8Array): boolean => decodeCode(bytes) === reference(bytes);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), same), { numRuns: 5000, seed: 21 });
  // text-heavy: random bytes as the body of a text string, alone and inside an array
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 23 }), (body) => same(new Uint8Array([0x60 | body.length, ...body])) && same(new Uint8Array([0x82, 0x01, 0x60 | body.length, ...body]))),
    { numRuns: 5000, seed: 22 },
  );
  // floats of each width with random bits (the old rule let integral ones past 2^53 through when they re-encode the same)
  fc.assert(
    fc.property(fc.constantFrom(0xf9, 0xfa, 0xfb), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.boolean(), (head, bits, big) => {
      const body = bits.subarray(0, head === 0xf9 ? 2 : head === 0xfa ? 4 : 8);
      if (big) body[0] = head === 0xf9 ? body[0]! : (body[0]! & 0x80) | (head === 0xfa ? 0x5f : 0x44); // exponents past 2^53
      return same(new Uint8Array([head, ...body])) && same(new Uint8Array([0x82, head, ...body, 0x01]));
    }),
    { numRuns: 5000, seed: 24 },
  );
  // valid encodings with one byte changed, removed or appended
  fc.assert(
    fc.property(valueArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
      const enc = encode(v);
      const i = at % enc.length;
      const changed = new Uint8Array(enc);
      changed[i] = byte;
      const removed = new Uint8Array([...enc.subarray(0, i), ...enc.subarray(i + 1)]);
      return same(enc) && same(changed) && same(removed) && same(new Uint8Array([...enc, byte]));
    }),
    { numRuns: 3000, seed: 23 },
  );
  t.pass("the same verdict and code on every input");
});

t.test("share: byte strings are plain views into the input, the same values and verdicts as copies", async (t) => {
  const v: CborValue = [new Uint8Array([1, 2, 3]), [new Uint8Array(300).fill(7), "text", 5], new Uint8Array(0)];
  const bytes = encode(v);
  const shared = decode(bytes, undefined, { share: true }) as [Uint8Array, [Uint8Array, string, number], Uint8Array];
  t.same(shared, decode(bytes), "the same value");
  for (const b of [shared[0], shared[1][0]]) {
    t.equal(Object.getPrototypeOf(b), Uint8Array.prototype, "a plain Uint8Array (whose slice copies)");
    t.equal(b.buffer, bytes.buffer, "a view into the input");
  }
  t.equal(Object.getPrototypeOf(shared[2]), Uint8Array.prototype, "the empty byte string too");
  const copy = shared[0].slice();
  copy[0] = 9;
  t.equal(bytes[2], 1, "slice still copies: the input is untouched");
  t.same(decode(encode(new Uint8Array([4])), undefined, { share: true }), new Uint8Array([4]), "a bare byte string");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 48 }), (b) => decodeCode(b) === shareCode(b)),
    { numRuns: 3000, seed: 25 },
  );
});

function shareCode(bytes: Uint8Array): string {
  try {
    decode(bytes, undefined, { share: true });
    return "accepted";
  } catch (e) {
    return e instanceof CodecError ? e.code : `not a CodecError: ${String(e)}`;
  }
}

t.test("oversize input is rejected before any decoding", async (t) => {
  const small = encode([1, 2, 3]);
  t.equal(decodeCode(small, small.length), "accepted", "exactly maxBytes is fine");
  t.equal(decodeCode(small, small.length - 1), CodecErrorCode.TOO_LARGE, "one byte over maxBytes");
  const big = new Uint8Array(16 * 1024 * 1024 + 1);
  t.equal(decodeCode(big), CodecErrorCode.TOO_LARGE, "default limit is 16 MiB");
  const okBig = encode(new Uint8Array(1024 * 1024));
  t.equal(decodeCode(okBig), "accepted", "a 1 MiB byte string under the default limit");
  // deep nesting: rejected (the decoder runs out of stack), never a crash
  const deep = new Uint8Array(100_001).fill(0x81);
  deep[100_000] = 0x00;
  t.equal(decodeCode(deep), CodecErrorCode.MALFORMED, "100,000 nested arrays");
});

t.test("readers reject wrong shapes (CODEC_WRONG_SHAPE) and out-of-range values (CODEC_OUT_OF_RANGE)", async (t) => {
  const S = CodecErrorCode.WRONG_SHAPE;
  const R = CodecErrorCode.OUT_OF_RANGE;
  // asU64
  t.equal(asU64(decode(fromHex("1bffffffffffffffff")), "x"), U64_MAX, "u64 max from the wire");
  t.equal(asU64(0, "x"), 0n);
  t.equal(asU64(Number.MAX_SAFE_INTEGER, "x"), BigInt(Number.MAX_SAFE_INTEGER));
  t.equal(codeOf(() => asU64(2n ** 64n, "x")), R, "2^64");
  t.equal(codeOf(() => asU64(-1, "x")), R, "-1");
  t.equal(codeOf(() => asU64(-1n, "x")), R, "-1n");
  t.equal(codeOf(() => asU64(decode(fromHex("20")), "x")), R, "a negative integer from the wire");
  t.equal(codeOf(() => asU64(decode(fromHex("3bffffffffffffffff")), "x")), R, "-2^64 from the wire");
  t.equal(codeOf(() => asU64(1.5, "x")), S, "1.5");
  t.equal(codeOf(() => asU64(2 ** 53, "x")), S, "an unsafe number");
  t.equal(codeOf(() => asU64("1", "x")), S, "a string");
  t.equal(codeOf(() => asU64(null, "x")), S, "null");
  t.equal(codeOf(() => asU64(new Uint8Array(8), "x")), S, "bytes");
  // asUint
  t.equal(asUint(7, "i"), 7);
  t.equal(asUint(0xffff_ffff, "i"), 0xffff_ffff);
  t.equal(codeOf(() => asUint(2 ** 32, "i")), R, "2^32");
  t.equal(codeOf(() => asUint(11, "i", 10)), R, "over the given max");
  t.equal(codeOf(() => asUint(-1, "i")), R, "-1");
  t.equal(codeOf(() => asUint(7n, "i")), S, "a bigint");
  t.equal(codeOf(() => asUint(0.5, "i")), S, "0.5");
  // asBytes
  t.same(asBytes(new Uint8Array(32), "b", 32), new Uint8Array(32));
  t.equal(codeOf(() => asBytes(new Uint8Array(31), "b", 32)), S, "31 of 32 bytes");
  t.equal(codeOf(() => asBytes(new Uint8Array(33), "b", 32)), S, "33 of 32 bytes");
  t.equal(codeOf(() => asBytes("00", "b")), S, "a string");
  t.equal(codeOf(() => asBytes([0], "b")), S, "an array");
  // asArray
  t.same(asArray([1, 2], "a", 2), [1, 2]);
  t.same(asArray([], "a"), []);
  t.equal(codeOf(() => asArray([1, 2], "a", 3)), S, "wrong length");
  t.equal(codeOf(() => asArray(new Uint8Array(2), "a")), S, "bytes");
  t.equal(codeOf(() => asArray(1, "a")), S, "a number");
  // asString
  t.equal(asString("x".repeat(256), "s"), "x".repeat(256));
  t.equal(codeOf(() => asString("x".repeat(257), "s")), R, "over the default 256");
  t.equal(codeOf(() => asString("abc", "s", 2)), R, "over the given max");
  t.equal(codeOf(() => asString(5, "s")), S, "a number");
  t.equal(codeOf(() => asString(new Uint8Array(1), "s")), S, "bytes");
  // asBool
  t.equal(asBool(true, "f"), true);
  t.equal(codeOf(() => asBool(1, "f")), S, "1 is not a boolean");
  t.equal(codeOf(() => asBool(null, "f")), S, "null is not a boolean");
  // errors carry the field name
  try {
    asBytes(1, "tx.sender", 32);
  } catch (e) {
    t.match((e as Error).message, /tx\.sender/, "the message names the field");
  }
  // u64() keeps small values numbers and round-trips every u64 through the wire
  t.equal(u64(5n), 5);
  t.equal(u64(2n ** 53n), 2n ** 53n);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (x) => asU64(asArray(decode(encode([u64(x)])), "v", 1)[0], "v") === x),
    { numRuns: 300, seed: 3 },
  );
});

// ---- amount.ts ----

t.test("amounts: u64 arithmetic never wraps", async (t) => {
  const O = AmountErrorCode.OVERFLOW;
  const U = AmountErrorCode.UNDERFLOW;
  t.equal(addU64(U64_MAX - 5n, 5n), U64_MAX);
  t.equal(addU64(U64_MAX, 0n), U64_MAX);
  t.equal(codeOf(() => addU64(U64_MAX, 1n)), O, "U64_MAX + 1 overflows");
  t.equal(codeOf(() => addU64(U64_MAX, U64_MAX)), O, "U64_MAX + U64_MAX overflows");
  t.equal(codeOf(() => addU64(2n ** 63n, 2n ** 63n)), O, "2^63 + 2^63 overflows");
  t.equal(subU64(5n, 5n), 0n);
  t.equal(subU64(U64_MAX, U64_MAX), 0n);
  t.equal(codeOf(() => subU64(0n, 1n)), U, "0 - 1 underflows");
  t.equal(codeOf(() => subU64(5n, 6n)), U, "5 - 6 underflows");
  t.equal(codeOf(() => subU64(0n, U64_MAX)), U, "0 - U64_MAX underflows");
  // operands outside u64 are refused, so a negative amount can never come out
  const I = AmountErrorCode.INVALID;
  t.equal(codeOf(() => addU64(5n, -10n)), I, "adding a negative amount");
  t.equal(codeOf(() => addU64(-5n, 1n)), I, "a negative augend");
  t.equal(codeOf(() => subU64(5n, -1n)), I, "subtracting a negative amount");
  t.equal(codeOf(() => subU64(U64_MAX + 10n, 1n)), I, "an operand over u64");
  t.ok(isU64(0n) && isU64(U64_MAX) && !isU64(-1n) && !isU64(U64_MAX + 1n), "isU64 bounds");
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (a, b) => {
      const sumOk = a + b <= U64_MAX;
      const add = codeOf(() => addU64(a, b));
      const sub = codeOf(() => subU64(a, b));
      return (sumOk ? add === "no error" && addU64(a, b) === a + b : add === O) && (a >= b ? sub === "no error" && subU64(a, b) === a - b : sub === U);
    }),
    { numRuns: 500, seed: 5 },
  );
});

t.test("amounts: parseClc / formatClc / parseUnits", async (t) => {
  const vectors: [string, bigint][] = [
    ["0", 0n],
    ["1", UNITS_PER_CLC],
    ["1.5", 1_500_000_000n],
    ["0.000000001", 1n],
    ["0.1", 100_000_000n],
    ["123.456789", 123_456_789_000n],
    ["18446744073.709551615", U64_MAX],
  ];
  for (const [s, units] of vectors) {
    t.equal(parseClc(s), units, `parseClc("${s}")`);
    t.equal(formatClc(units), s, `formatClc(${units})`);
  }
  t.equal(parseClc("1.500000000"), 1_500_000_000n, "trailing zeros are accepted");
  t.equal(formatClc(parseClc("1.500000000")), "1.5", "and formatted away");
  t.equal(parseClc("0.0"), 0n);
  t.equal(codeOf(() => parseClc("18446744073.709551616")), AmountErrorCode.OVERFLOW, "U64_MAX + 1 unit");
  t.equal(codeOf(() => parseClc("99999999999")), AmountErrorCode.OVERFLOW, "too many CLC");
  for (const s of ["", "01", "1.", ".5", "1.0000000001", "-1", "+1", "1e9", " 1", "1 ", "1,5", "0x10", "\uff11", "1..2", "NaN", "Infinity"]) {
    t.equal(codeOf(() => parseClc(s)), AmountErrorCode.INVALID, `parseClc(${JSON.stringify(s)}) is invalid`);
  }
  t.throws(() => parseClc("-3"), /cannot be negative/, "a negative amount is named as such");
  t.throws(() => parseClc("1.0000000001"), /at most 9 decimals/, "the 9-decimal limit is named");
  t.throws(() => parseClc("abc"), /at most 9 decimals, e\.g\. 1\.5/, "what an amount looks like");
  t.equal(parseUnits("0"), 0n);
  t.equal(parseUnits("18446744073709551615"), U64_MAX);
  t.equal(codeOf(() => parseUnits("18446744073709551616")), AmountErrorCode.OVERFLOW);
  for (const s of ["", "01", "-1", "1.0", "1e3", " 1", "0x1"]) {
    t.equal(codeOf(() => parseUnits(s)), AmountErrorCode.INVALID, `parseUnits(${JSON.stringify(s)}) is invalid`);
  }
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (u) => {
      const s = formatClc(u);
      return parseClc(s) === u && /^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/.test(s) && parseUnits(u.toString()) === u;
    }),
    { numRuns: 1000, seed: 9 },
  );
});

t.test("signed integers: asInt / int cover [-2^64, 2^64) and round-trip canonically", async (t) => {
  for (const v of [0n, -1n, 1n, -24n, -25n, -(2n ** 53n), -(2n ** 53n) - 1n, -(2n ** 63n), CBOR_INT_MIN, CBOR_INT_MAX, 2n ** 53n + 1n]) {
    const bytes = encode(int(v));
    t.equal(asInt(decode(bytes), "x"), v, `${v}`);
    t.same(encode(int(asInt(decode(bytes), "x"))), bytes);
  }
  t.equal(toHex(encode(int(-1n))), "20", "major type 1");
  t.equal(toHex(encode(int(CBOR_INT_MIN))), "3bffffffffffffffff");
  t.throws(() => int(CBOR_INT_MIN - 1n), RangeError);
  t.throws(() => int(CBOR_INT_MAX + 1n), RangeError);
  t.equal(codeOf(() => asInt("5", "x")), CodecErrorCode.WRONG_SHAPE);
  t.equal(codeOf(() => asInt(1.5, "x")), CodecErrorCode.WRONG_SHAPE);
  t.equal(codeOf(() => asInt(CBOR_INT_MIN - 1n, "x")), CodecErrorCode.OUT_OF_RANGE);
  t.equal(codeOf(() => asU64(-1, "x")), CodecErrorCode.OUT_OF_RANGE, "unsigned fields still refuse negatives");
});
