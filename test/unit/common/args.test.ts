/** common/args.ts: `--option -N` becomes `--option=-N` for parseArgs; nothing else changes. */
import { parseArgs } from "node:util";
import t from "tap";
import { negativeNumbersAsValues } from "../../../common/args.ts";

t.test("a negative number after a long option becomes its value; other arguments are kept as they were", async (t) => {
  t.same(negativeNumbersAsValues(["tx", "--amount", "-3", "--fee", "-0.5", "--x", "-.5"]), ["tx", "--amount=-3", "--fee=-0.5", "--x=-.5"]);
  t.same(negativeNumbersAsValues(["--amount=-3", "-3", "--to", "cc1x"]), ["--amount=-3", "-3", "--to", "cc1x"], "an option that has its value keeps it; a lone negative stays a positional");
  t.same(negativeNumbersAsValues(["--amount", "-h", "--", "-3"]), ["--amount", "-h", "--", "-3"], "a flag after an option is not a number; `--` is not an option");
  t.same(negativeNumbersAsValues(["--amount", "-3", "-4"]), ["--amount=-3", "-4"], "only the value right after the option");
  t.same(negativeNumbersAsValues(["--amount"]), ["--amount"]);
});

t.test("parseArgs then reads the negative number as the option's value, where it refused it before", async (t) => {
  const options = { amount: { type: "string" } } as const;
  t.throws(() => parseArgs({ args: ["--amount", "-3"], options, strict: true }), { code: "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" }, "without: refused as ambiguous");
  t.equal(parseArgs({ args: negativeNumbersAsValues(["--amount", "-3"]), options, strict: true }).values.amount, "-3");
});
