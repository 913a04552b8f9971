/**
 * Amounts are bigint base units; 1 CLC = 10^9 units; every amount fits in u64.
 * Arithmetic that would leave the u64 range is an error, never a wrap.
 */
import { CodedError } from "./errors.ts";

export const U64_MAX = (1n << 64n) - 1n;
export const UNITS_PER_CLC = 1_000_000_000n;

export const AmountErrorCode = {
  OVERFLOW: "AMOUNT_OVERFLOW",
  UNDERFLOW: "AMOUNT_UNDERFLOW",
  INVALID: "AMOUNT_INVALID",
} as const;
export type AmountErrorCode = (typeof AmountErrorCode)[keyof typeof AmountErrorCode];
export class AmountError extends CodedError<AmountErrorCode> {}

export function isU64(x: bigint): boolean {
  return x >= 0n && x <= U64_MAX;
}

/** Refuses operands outside u64, so that no sum or difference can turn negative or wrap. */
function operands(a: bigint, b: bigint): void {
  if (!isU64(a) || !isU64(b)) throw new AmountError(AmountErrorCode.INVALID, "amount operand is not a u64");
}

export function addU64(a: bigint, b: bigint): bigint {
  operands(a, b);
  const r = a + b;
  if (r > U64_MAX) throw new AmountError(AmountErrorCode.OVERFLOW, "amount overflows u64");
  return r;
}

export function subU64(a: bigint, b: bigint): bigint {
  operands(a, b);
  const r = a - b;
  if (r < 0n) throw new AmountError(AmountErrorCode.UNDERFLOW, "amount would be negative");
  return r;
}

const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;

/** Base units from a decimal string ("1500"), as in JSON. */
export function parseUnits(s: string): bigint {
  if (!DECIMAL_RE.test(s)) throw new AmountError(AmountErrorCode.INVALID, `not a decimal amount: ${JSON.stringify(s).slice(0, 40)}`);
  const v = BigInt(s);
  if (v > U64_MAX) throw new AmountError(AmountErrorCode.OVERFLOW, "amount overflows u64");
  return v;
}

const CLC_RE = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,9}))?$/;

/** Base units from a CLC amount with up to 9 decimals ("1.5" -> 1500000000n), for the CLI. */
export function parseClc(s: string): bigint {
  const m = CLC_RE.exec(s);
  if (!m) {
    const shown = JSON.stringify(s).slice(0, 40);
    const why = s.startsWith("-") ? "amounts cannot be negative" : /\.[0-9]{10,}$/.test(s) ? "at most 9 decimals (1 CLC = 10^9 units)" : "a decimal number of CLC with at most 9 decimals, e.g. 1.5";
    throw new AmountError(AmountErrorCode.INVALID, `not a CLC amount: ${shown}: ${why}`);
  }
  const frac = (m[2] ?? "").padEnd(9, "0");
  const v = BigInt(m[1]!) * UNITS_PER_CLC + BigInt(frac);
  if (v > U64_MAX) throw new AmountError(AmountErrorCode.OVERFLOW, "amount overflows u64");
  return v;
}

export function formatClc(units: bigint): string {
  const whole = units / UNITS_PER_CLC;
  const frac = (units % UNITS_PER_CLC).toString().padStart(9, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}
