/**
 * Command lines for node:util parseArgs, shared by the node CLI, the devnet script and every
 * plugin. parseArgs (strict) refuses `--amount -3` as ambiguous ("did you forget to specify the
 * option argument?"), a parser's message about the wrong problem. Rewritten to `--amount=-3`, the
 * negative number is the option's value and the option's own check refuses it with its reason
 * ("--amount must be ...").
 */

/** Looks like a negative number: "-3", "-0.5", "-.5". */
const NEGATIVE = /^-[0-9.]/;

/** `args` with every `--option -N` joined into `--option=-N`; everything else as it was. */
export function negativeNumbersAsValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a.startsWith("--") && a.length > 2 && !a.includes("=") && next !== undefined && NEGATIVE.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
