/**
 * Plain-function twins of the kit's validators, for the hot path.
 *
 * Every schema the kit makes (kit.ts) is a zod schema, and zod stays the
 * public API: `validators.X.safeParse(v)` works as before. Beside most of
 * them the kit registers here a plain function that checks the same thing
 * and builds the same output, without zod's payloads, issue arrays and
 * per-level dispatch. `fastParse` (what the typed client's `check()` and
 * `verify` use) runs that function first; should it say no (`FAIL`: the
 * value is invalid, or nests too deep for it, or something it does not
 * handle), the zod schema runs instead and gives its usual result and
 * issues. So a fast function never has to explain a failure, only to
 * agree with zod on success: same acceptance, same output value (member
 * order included). test/support/fast.test.ts compares the two.
 *
 * Stack: fast functions recurse once per reference between types
 * (`kit.lazy`), and give up (FAIL) beyond `STACK_LEVELS` references, where
 * the zod schemas' deferring walk (nesting.ts) takes over.
 */
import type { Schema } from './kit.js';

/** What a fast function returns for a value it does not accept. */
export const FAIL: unique symbol = Symbol('qapi-ts: not validated by the fast path');

/**
 * Validates `value` and returns the output zod would produce, or FAIL.
 * `depth` is the number of type references being validated on the stack.
 */
export type FastFn = (value: unknown, depth: number) => unknown;

const fastFns = new WeakMap<object, FastFn>();

/** Registers `fn` as the fast twin of `schema`; returns `schema`. */
export function withFast<S extends object>(schema: S, fn: FastFn | undefined): S {
  if (fn !== undefined) fastFns.set(schema, fn);
  return schema;
}

/** The fast twin of `schema`, if it has one. */
export function fastOf(schema: object): FastFn | undefined {
  return fastFns.get(schema);
}

interface ZodOpt {
  _zod: { optin?: string; optout?: string };
}

/**
 * How zod treats an absent member of this schema: 'required', 'optional'
 * (skipped when absent), or null (not handled here).
 */
function presence(schema: Schema): 'required' | 'optional' | null {
  const { optin, optout } = (schema as unknown as ZodOpt)._zod;
  if (optin === undefined) return 'required';
  if (optin === 'optional' && optout === 'optional') return 'optional';
  return null;
}

export type Unknowns = 'strip' | 'keep' | 'reject';

/** A member of an object's fast twin. */
export interface FastMember {
  readonly key: string;
  readonly fn: FastFn;
  readonly required: boolean;
}

/** What an object schema's fast twin was made of, for unions to combine (see unionBranchFast). */
export interface ObjectLayout {
  readonly members: readonly FastMember[];
  readonly unknowns: Unknowns;
}

const layouts = new WeakMap<object, ObjectLayout>();

/** The members and unknown-member rule of an object schema that has a fast twin. */
export function layoutOf(schema: object): ObjectLayout | undefined {
  return layouts.get(schema);
}

/** The fast members of `shape`, or undefined when a member has no fast twin or an absence rule not handled here. */
export function fastMembers(shape: Readonly<Record<string, Schema>>): FastMember[] | undefined {
  const members: FastMember[] = [];
  for (const key of Object.keys(shape)) {
    // zod never reads or writes a member of this name; left to it.
    if (key === '__proto__') return undefined;
    const schema = shape[key] as Schema;
    const fn = fastOf(schema);
    const p = presence(schema);
    if (fn === undefined || p === null) return undefined;
    members.push({ key, fn, required: p === 'required' });
  }
  return members;
}

/**
 * The fast twin of a zod object with `shape` (none of its members may be
 * named like an inherited member): `unknowns` says what happens to other
 * members, as z.object (strip), z.looseObject (keep) and z.strictObject
 * (reject) do. Output: the shape's members present in the input, in shape
 * order, then (keep) the other members in input order, `__proto__`
 * dropped. undefined when some member has no fast twin.
 */
export function objectFast(
  schema: Schema,
  shape: Readonly<Record<string, Schema>>,
  unknowns: Unknowns,
): FastFn | undefined {
  const members = fastMembers(shape);
  if (members === undefined) return undefined;
  layouts.set(schema, { members, unknowns });
  return compileObject(members, unknowns);
}

/** Whether `new Function` may be used here (a strict CSP or --disallow-code-generation-from-strings says no). */
let codegen: boolean | undefined;
function canCompile(): boolean {
  if (codegen === undefined) {
    try {
      codegen = new Function('return true')() === true;
    } catch {
      codegen = false;
    }
  }
  return codegen;
}

/**
 * A function that checks an object's `members` and builds its output (see
 * objectFast). Compiled into straight-line code with `new Function` where
 * allowed: one known-key store per member, so V8 gives every output of a
 * type the same hidden class. Member functions are passed in an array;
 * keys appear only as JSON string literals.
 */
export function compileObject(members: readonly FastMember[], unknowns: Unknowns): FastFn {
  const known = new Set(members.map((m) => m.key));
  const fns = members.map((m) => m.fn);
  if (canCompile()) {
    const lines = [
      "if (typeof input !== 'object' || input === null || Array.isArray(input)) return FAIL;",
      'const out = {};',
      'let seen = 0;',
      'let r;',
    ];
    members.forEach((m, i) => {
      const k = JSON.stringify(m.key);
      lines.push(
        `if (${k} in input) { r = fns[${i}](input[${k}], depth); ` +
          `if (r === FAIL) return FAIL; out[${k}] = r; seen++; }` +
          (m.required ? ' else return FAIL;' : ''),
      );
    });
    if (unknowns !== 'strip') {
      lines.push('let count = 0;', 'for (const key in input) count++;', 'if (count === seen) return out;');
      if (unknowns === 'reject') lines.push('return FAIL;');
      else lines.push("for (const key in input) if (!known.has(key) && key !== '__proto__') out[key] = input[key];");
    }
    lines.push('return out;');
    const body = `return function fastObject(input, depth) {\n${lines.join('\n')}\n};`;
    const make = new Function('FAIL', 'fns', 'known', body);
    return make(FAIL, fns, known) as FastFn;
  }
  const n = members.length;
  return (value, depth) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return FAIL;
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const m = members[i] as FastMember;
      if (!(m.key in input)) {
        if (m.required) return FAIL;
        continue;
      }
      const r = m.fn(input[m.key], depth);
      if (r === FAIL) return FAIL;
      out[m.key] = r;
    }
    if (unknowns === 'strip') return out;
    for (const key in input) {
      if (known.has(key)) continue;
      if (unknowns === 'reject') return FAIL;
      if (key !== '__proto__') out[key] = input[key];
    }
    return out;
  };
}

/** The fast twin of z.array(element). */
export function arrayFast(element: FastFn | undefined): FastFn | undefined {
  if (element === undefined) return undefined;
  return (value, depth) => {
    if (!Array.isArray(value)) return FAIL;
    const n = value.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const r = element(value[i], depth);
      if (r === FAIL) return FAIL;
      out[i] = r;
    }
    return out;
  };
}

/** The fast twin of schema.optional(). */
export function optionalFast(inner: FastFn | undefined): FastFn | undefined {
  if (inner === undefined) return undefined;
  return (value, depth) => (value === undefined ? undefined : inner(value, depth));
}

/**
 * The fast twin of a schema resolved when first used (`resolve` gives its
 * fast twin, or undefined: then every value goes to zod).
 */
export function lazyFast(resolve: () => FastFn | undefined, stackLevels: number): FastFn {
  let target: FastFn | null | undefined;
  return (value, depth) => {
    if (target === undefined) target = resolve() ?? null;
    if (target === null) return FAIL;
    // Only containers nest further.
    if (typeof value !== 'object' || value === null) return target(value, depth);
    if (depth >= stackLevels) return FAIL;
    return target(value, depth + 1);
  };
}

export const stringFast: FastFn = (value) => (typeof value === 'string' ? value : FAIL);
export const booleanFast: FastFn = (value) => (typeof value === 'boolean' ? value : FAIL);
export const nullFast: FastFn = (value) => (value === null ? value : FAIL);
export const unknownFast: FastFn = (value) => value;
export const neverFast: FastFn = () => FAIL;

/** The fast twin of z.enum(values). */
export function enumFast(values: readonly string[]): FastFn {
  const set = new Set(values);
  return (value) => (typeof value === 'string' && set.has(value) ? value : FAIL);
}

/**
 * Runs `schema`'s fast twin on `value`; on FAIL (or should it throw) runs
 * zod's safeParse. Either way, the result is what
 * `schema.safeParse(value)` gives.
 */
export function fastSafeParse(schema: Schema, value: unknown): ReturnType<Schema['safeParse']> {
  const fn = fastOf(schema);
  if (fn !== undefined) {
    let out: unknown = FAIL;
    try {
      out = fn(value, 0);
    } catch {
      // A stack overflow (the caller left little stack) or anything
      // unforeseen: zod, the authority, decides.
    }
    if (out !== FAIL) return { success: true, data: out } as ReturnType<Schema['safeParse']>;
  }
  return schema.safeParse(value);
}
