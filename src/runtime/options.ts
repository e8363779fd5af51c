/**
 * Checks of the numbers callers pass in options. A bad value is a
 * programmer error, reported at once: TypeError for the wrong type,
 * RangeError for a value out of range (never a QmpError).
 */

/**
 * A timeout in milliseconds: any number ≥ 0 (0 expires at once), or
 * `Infinity` for none. `undefined` passes through (the caller's default).
 */
export function checkTimeout(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    throw new TypeError(`${what} must be a number of milliseconds (or Infinity for none), got ${typeof value}`);
  }
  if (Number.isNaN(value) || value < 0) {
    throw new RangeError(`${what} must be a number of milliseconds ≥ 0 (or Infinity for none), got ${value}`);
  }
  return value;
}

/** A positive safe integer (a count or a size), or `undefined` for the caller's default. */
export function checkPositiveInteger(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new TypeError(`${what} must be a positive integer, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}
