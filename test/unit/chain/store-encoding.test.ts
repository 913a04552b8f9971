/**
 * The block store's hand-written encoders of a block's receipts ('R') and state changes ('C')
 * (chain/store.ts): byte for byte what the codec's `encode` makes of the same arrays, whatever the
 * lengths (every CBOR head width: 0, 23, 24, 255, 256, 65535, 65536 bytes), fees (up to 2^64 - 1),
 * codes (non-ASCII too) and deletions.
 */
import fc from "fast-check";
import t from "tap";
import { equalBytes } from "../../../primitives/bytes.ts";
import { encode, u64 } from "../../../primitives/codec.ts";
import { encodeChanges, encodeReceipts } from "../../../chain/store.ts";
import type { Receipt } from "../../../chain/transition.ts";
import type { StateChange } from "../../../chain/state.ts";

const EDGE_LENGTHS = [0, 1, 23, 24, 255, 256, 65_535, 65_536];
const bytesArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(...EDGE_LENGTHS).map((n) => new Uint8Array(n).fill(n & 255)) },
);
const feeArb = fc.oneof(
  fc.constantFrom(0n, 23n, 24n, 255n, 256n, 65_535n, 65_536n, 0xffff_ffffn, 0x1_0000_0000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const receiptArb: fc.Arbitrary<Receipt> = fc.record({
  txHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  ok: fc.boolean(),
  code: fc.oneof(fc.constant(""), fc.constantFrom("TX_BAD_NONCE", "BANK_INSUFFICIENT_FUNDS"), fc.string({ unit: "grapheme", maxLength: 40 })),
  fee: feeArb,
});
const changeArb: fc.Arbitrary<StateChange> = fc.tuple(bytesArb, fc.option(bytesArb, { nil: null }));

t.test("receipts: the bytes encode makes", async (t) => {
  fc.assert(
    fc.property(fc.array(receiptArb, { maxLength: 40 }), (rs) => {
      const want = encode(rs.map((r) => [r.txHash, r.ok, r.code, u64(r.fee)]));
      return equalBytes(encodeReceipts(rs), want);
    }),
    { numRuns: 300 },
  );
  t.pass("300 random receipt arrays");
  // an array longer than 23 and 255 entries (wider array heads)
  for (const n of [24, 256, 65_536]) {
    const rs: Receipt[] = Array.from({ length: n }, (_, i) => ({ txHash: new Uint8Array(32).fill(i & 255), ok: i % 3 !== 0, code: i % 3 === 0 ? "X" : "", fee: BigInt(i) }));
    t.ok(equalBytes(encodeReceipts(rs), encode(rs.map((r) => [r.txHash, r.ok, r.code, u64(r.fee)]))), `${n} receipts`);
  }
});

t.test("state changes: the bytes encode makes", async (t) => {
  fc.assert(
    fc.property(fc.array(changeArb, { maxLength: 30 }), (cs) => {
      return equalBytes(encodeChanges(cs), encode(cs.map(([k, v]) => [k, v])));
    }),
    { numRuns: 300 },
  );
  t.pass("300 random change arrays");
  for (const n of [24, 256, 65_536]) {
    const cs: StateChange[] = Array.from({ length: n }, (_, i) => [new Uint8Array([i & 255, i >> 8]), i % 5 === 0 ? null : new Uint8Array(i % 40)]);
    t.ok(equalBytes(encodeChanges(cs), encode(cs.map(([k, v]) => [k, v]))), `${n} changes`);
  }
});
