/**
 * chain/state.ts account records: decodeAccount reads the canonical encoding in one pass of its own
 * and leaves everything else to strict cborg. Here both are held to the general decoder (cborg plus
 * the codec readers, decodeAccountGeneral, as the reference): on random accounts, on every integer width
 * and its boundaries, on unbonding lists past 23 entries, and on random damage to valid records.
 */
import t from "tap";
import fc from "fast-check";
import { CodecError } from "../../../primitives/errors.ts";
import { decodeAccount, decodeAccountGeneral, encodeAccount, type Account } from "../../../chain/state.ts";

const U64_MAX = (1n << 64n) - 1n;

/** The general decoder (cborg plus the codec readers), which decodeAccount falls back to. */
const reference = (b: Uint8Array, trusted: boolean): Account => decodeAccountGeneral(b, trusted);

type Outcome = { account: Account } | { error: string };
function outcome(f: () => Account): Outcome {
  try {
    return { account: f() };
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return { error: e.code };
  }
}

const boundary = fc.constantFrom(0n, 1n, 23n, 24n, 255n, 256n, 65_535n, 65_536n, 0xffff_ffffn, 0x1_0000_0000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, U64_MAX - 1n, U64_MAX);
const u64 = fc.oneof(boundary, fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: 100_000n }));
const account = fc.record({
  balance: u64,
  nonce: u64,
  staked: u64,
  unbonding: fc.oneof(fc.array(fc.record({ amount: u64, releaseHeight: u64 }), { maxLength: 4 }), fc.array(fc.record({ amount: u64, releaseHeight: u64 }), { minLength: 20, maxLength: 40 })),
});

t.test("decodeAccount reads back every account encodeAccount writes, as the general decoder does", async (t) => {
  fc.assert(
    fc.property(account, (generated) => {
      // plain objects, as the decoders make (fast-check's records have no prototype)
      const a: Account = { ...generated, unbonding: generated.unbonding.map((u) => ({ ...u })) };
      const b = encodeAccount(a);
      for (const trusted of [true, false]) {
        const got = decodeAccount(b, trusted);
        t.strictSame(got, a);
        t.strictSame(got, reference(b, trusted));
      }
    }),
    { numRuns: 2000, seed: 11 },
  );
});

t.test("decodeAccount answers damaged and non-canonical records exactly as the general decoder does", async (t) => {
  const damage = fc.record({ kind: fc.constantFrom("flip", "set", "cut", "append", "insert"), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) });
  let refused = 0;
  let total = 0;
  fc.assert(
    fc.property(account, fc.array(damage, { minLength: 1, maxLength: 3 }), (a, damages) => {
      let b = encodeAccount(a);
      for (const d of damages) {
        const i = d.at % (b.length + 1);
        const c = [...b];
        if (d.kind === "flip" && i < c.length) c[i]! ^= 1 << (d.byte % 8);
        else if (d.kind === "set" && i < c.length) c[i] = d.byte;
        else if (d.kind === "cut") c.length = i;
        else if (d.kind === "append") c.push(d.byte);
        else if (d.kind === "insert") c.splice(i, 0, d.byte);
        b = new Uint8Array(c);
      }
      for (const trusted of [true, false]) {
        const want = outcome(() => reference(b, trusted));
        const got = outcome(() => decodeAccount(b, trusted));
        total++;
        if ("error" in want) refused++;
        t.strictSame(got, want, `${Buffer.from(b).toString("hex")} trusted=${trusted}`);
      }
    }),
    { numRuns: 3000, seed: 12 },
  );
  t.ok(refused > total / 10 && refused < total, `both refusals (${refused}) and acceptances (${total - refused}) were exercised`);
  // hand-made: every non-minimal integer and array length the fast reader must leave to cborg
  const cases = [
    "8418050000 80", // 5 as 0x18 05
    "84190005000080", // 5 as 2 bytes
    "841a00000005000080",
    "841b0000000000000005000080",
    "841b00000000ffffffff000080", // fits in 4 bytes
    "8400000098" + "03" + "820000".repeat(3), // 3 entries with a 1-byte length
    "84000000" + "9f" + "ff", // indefinite array
    "84000000" + "81" + "83000000", // entry of 3
    "84000000" + "81" + "8200", // short entry
    "8400000080" + "00", // trailing byte
    "83000000", // 3 fields
    "8420000080", // negative balance
    "84f9000000" + "80", // a float
    "8500000080" + "00", // 5 fields
  ].map((h) => new Uint8Array(Buffer.from(h.replaceAll(" ", ""), "hex")));
  for (const b of cases) for (const trusted of [true, false]) t.strictSame(outcome(() => decodeAccount(b, trusted)), outcome(() => reference(b, trusted)), Buffer.from(b).toString("hex"));
});
