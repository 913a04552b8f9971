/** primitives/bytes.ts: latin1 is Node's latin1 decoding, whatever the bytes, length and offset. */
import t from "tap";
import fc from "fast-check";
import { latin1 } from "../../../primitives/bytes.ts";

const reference = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");

t.test("latin1 maps each byte to the code unit of the same value", async (t) => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  t.equal(latin1(all), reference(all));
  t.equal(latin1(new Uint8Array(0)), "");
  for (const n of [1, 33, 1023, 1024, 1025, 70_000]) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 0xff);
    t.equal(latin1(b), reference(b), `${n} bytes`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2100 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const from = a % (bytes.length + 1);
      const to = from + (b % (bytes.length - from + 1));
      const view = bytes.subarray(from, to);
      return latin1(view) === reference(view) && latin1(view).length === view.length;
    }),
    { numRuns: 1000, seed: 1 },
  );
});
