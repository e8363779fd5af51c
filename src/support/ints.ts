/**
 * Integer validators for QAPI's sized integer types.
 *
 * The runtime decodes JSON integers that fit in a double exactly as
 * `number` and larger ones as `bigint`, so the 64-bit kinds must accept
 * both. Which TypeScript type they yield is chosen at generation time
 * (`Int64Mode`); the 8- to 32-bit kinds are always plain numbers.
 */
import { z } from 'zod';
import { FAIL, withFast } from './fast.js';

/** How int, int64, uint64 and size are represented. */
export type Int64Mode = 'mixed' | 'bigint' | 'number';

export type IntKind = 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

/** Inclusive bounds of each kind, as bigints (exact for 64 bits). */
export const INT_RANGES: Readonly<Record<IntKind, readonly [bigint, bigint]>> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

function smallInt(kind: IntKind): z.ZodType<number> {
  const [lo, hi] = INT_RANGES[kind];
  const min = Number(lo);
  const max = Number(hi);
  const schema = z
    .number({ error: `expected ${kind} (an integer)` })
    .int({ error: `expected ${kind} (an integer)` })
    .min(Number(lo), { error: `${kind} out of range (minimum ${lo})` })
    .max(Number(hi), { error: `${kind} out of range (maximum ${hi})` });
  // Within these bounds an integer is a safe one, as zod's int() requires.
  return withFast(schema, (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : FAIL,
  );
}

/** A number for a message: at most 40 characters of it. */
export function shortNumber(value: unknown): string {
  const text = String(value);
  if (text.length <= 40) return text;
  const digits = text.replace(/^-/, '').length;
  return `${text.slice(0, 20)}…${text.slice(-10)} (${digits} digits)`;
}

/** Describes why `value` is not a valid 64-bit integer of `kind`, or null. */
function check64(kind: IntKind, value: unknown, numberOnly: boolean): string | null {
  let big: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `expected ${kind} (an integer), got ${value}`;
    if (!Number.isSafeInteger(value)) {
      return `${kind} value ${shortNumber(value)} is not exact as a number; the decoder must yield a bigint`;
    }
    big = BigInt(value);
  } else if (typeof value === 'bigint') {
    if (numberOnly) {
      return `${kind} value ${shortNumber(value)} does not fit in a JavaScript number (generated with int64: 'number')`;
    }
    big = value;
  } else {
    return `expected ${kind} (an integer), got ${value === null ? 'null' : typeof value}`;
  }
  const [lo, hi] = INT_RANGES[kind];
  if (big < lo || big > hi) return `${kind} out of range [${lo}, ${hi}]: ${shortNumber(big)}`;
  return null;
}

function bigInt(kind: IntKind, mode: Int64Mode): z.ZodType<number | bigint> {
  const numberOnly = mode === 'number';
  const checked = z.unknown().transform((value, ctx) => {
    const problem = check64(kind, value, numberOnly);
    if (problem !== null) {
      ctx.issues.push({ code: 'custom', message: problem, input: value });
      return z.NEVER;
    }
    const n = value as number | bigint;
    if (mode === 'bigint') return BigInt(n);
    return n;
  });
  const unsigned = kind === 'uint64';
  return withFast(checked as unknown as z.ZodType<number | bigint>, (value) => {
    // A safe integer is within int64's range, and uint64's when not negative.
    if (
      typeof value === 'number'
        ? !Number.isSafeInteger(value) || (unsigned && value < 0)
        : check64(kind, value, numberOnly) !== null
    ) {
      return FAIL;
    }
    return mode === 'bigint' ? BigInt(value as number | bigint) : value;
  });
}

/** The validator of one integer kind under the given 64-bit mode. */
export function intValidator(kind: IntKind, mode: Int64Mode): z.ZodType<number | bigint> {
  if (kind === 'int64' || kind === 'uint64') return bigInt(kind, mode);
  return smallInt(kind);
}
