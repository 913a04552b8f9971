/** primitives/errors.ts: withoutStack builds errors without stack frames and always restores the limit. */
import t from "tap";
import { CodedError, withoutStack } from "../../../primitives/errors.ts";

t.test("errors made inside withoutStack have no frames; errors made after it do", async (t) => {
  const before = Error.stackTraceLimit;
  const e = withoutStack(() => new CodedError("SOME_CODE", "refused"));
  t.equal(e.stack, "CodedError: refused", "only the header line");
  t.equal(e.code, "SOME_CODE");
  t.equal(Error.stackTraceLimit, before, "the limit is restored");
  const after = new CodedError("SOME_CODE", "with a stack");
  t.ok(after.stack!.split("\n").length > 1, "an error made afterwards has its frames");
});

t.test("the limit is restored when make throws", async (t) => {
  const before = Error.stackTraceLimit;
  t.throws(() => withoutStack(() => {
    throw new CodedError("THROWN", "from inside");
  }), { code: "THROWN" });
  t.equal(Error.stackTraceLimit, before);
  t.equal(withoutStack(() => 42), 42, "any value is passed through");
});
