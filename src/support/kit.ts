/**
 * Building blocks the generated validators are made of.
 *
 * A kit is made once per strictness: the strict kit rejects what the
 * schema does not describe (unknown members, enum values, union branches);
 * the compatible kit lets those through so that replies and events from a
 * newer QEMU still validate. Arguments are always checked with the strict
 * kit.
 */
import { z } from 'zod';
import { intValidator, shortNumber, type Int64Mode, type IntKind } from './ints.js';
import {
  afterResult,
  customSchema,
  isPlainObject,
  nestingRef,
  runInPlace,
  runSchema,
  STACK_LEVELS,
  type Payload,
} from './nesting.js';
import {
  FAIL,
  arrayFast,
  booleanFast,
  enumFast,
  fastOf,
  lazyFast,
  neverFast,
  nullFast,
  objectFast,
  optionalFast,
  stringFast,
  unknownFast,
  withFast,
  compileObject,
  layoutOf,
  type FastFn,
  type FastMember,
} from './fast.js';

/** Any zod schema, as the generated code handles them. */
export type Schema = z.ZodType<unknown, unknown>;
/** Member name → schema (optional members wrapped with `kit.optional`). */
export type Shape = Readonly<Record<string, Schema>>;
/** A schema that is looked up when first used (recursion, module order). */
export type Thunk = () => Schema;

/** JSON kinds an alternate dispatches on, as QEMU's input visitor does. */
export type AlternateKind = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

/** What an older QEMU sends for a union (see ValidatorKit.union). */
export interface OlderUnionLayout {
  /**
   * It had no tag here: a value without the tag is checked against these
   * members (the tag is then optional in the base).
   */
  readonly untagged?: Shape;
  /** It sent any string as the tag: values with an unknown tag pass (base checked). */
  readonly anyTag?: boolean;
}

export interface KitOptions {
  /** Reject unknown members, enum values and union branches. */
  strict: boolean;
  int64: Int64Mode;
}

/** The JSON kind of a decoded value (bigints are numbers), as alternates see it. */
export function jsonKind(value: unknown): AlternateKind | 'other' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      return 'object';
    default:
      return 'other';
  }
}

/** Names an object inherits: a shape with such a member must not read them. */
const INHERITED = new Set(Object.getOwnPropertyNames(Object.prototype));

/** The issue of a value that is not an object. */
function notAnObject(value: unknown): z.core.$ZodRawIssue {
  return { code: 'invalid_type', expected: 'object', input: value } as z.core.$ZodRawIssue;
}

/** Own enumerable members of `value` in a holder without a prototype. */
function ownMembers(value: Record<string, unknown>): Record<string, unknown> {
  const own = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) own[key] = value[key];
  return own;
}

/**
 * A plain object with `members`, never with an own `__proto__` key (which
 * `Object.assign` or a spread elsewhere would turn into a prototype).
 */
function plainObject(...parts: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const part of parts) {
    if (typeof part !== 'object' || part === null) continue;
    for (const key of Object.keys(part)) {
      if (key !== '__proto__') out[key] = (part as Record<string, unknown>)[key];
    }
  }
  return out;
}

export class ValidatorKit {
  readonly strict: boolean;
  readonly int64: Int64Mode;
  readonly str: Schema = withFast(z.string(), stringFast);
  readonly bool: Schema = withFast(z.boolean(), booleanFast);
  readonly null: Schema = withFast(z.null(), nullFast);
  /** `any`: any JSON value. */
  readonly any: Schema = withFast(z.unknown(), unknownFast);
  /**
   * `number`: a finite double. Integers beyond 2^53 arrive as bigint and
   * are rounded to the nearest double, as `JSON.parse` would; one too large
   * for a double (it would be Infinity) is refused.
   */
  readonly number: Schema = withFast(
    customSchema((payload) => {
      const input = payload.value;
      const value = typeof input === 'bigint' ? Number(input) : input;
      if (typeof value !== 'number') {
        payload.issues.push({ code: 'invalid_type', expected: 'number', input } as z.core.$ZodRawIssue);
      } else if (!Number.isFinite(value)) {
        payload.issues.push({
          code: 'custom',
          input,
          message: `expected a finite number, got ${shortNumber(input)}`,
        } as z.core.$ZodRawIssue);
      } else {
        payload.value = value;
      }
      return payload;
    }),
    (input) => {
      const value = typeof input === 'bigint' ? Number(input) : input;
      return typeof value === 'number' && Number.isFinite(value) ? value : FAIL;
    },
  );
  private readonly ints = new Map<IntKind, Schema>();

  constructor(options: KitOptions) {
    this.strict = options.strict;
    this.int64 = options.int64;
  }

  int(kind: IntKind): Schema {
    let schema = this.ints.get(kind);
    if (!schema) {
      schema = intValidator(kind, this.int64) as Schema;
      this.ints.set(kind, schema);
    }
    return schema;
  }

  optional(schema: Schema): Schema {
    return withFast(schema.optional() as Schema, optionalFast(fastOf(schema)));
  }

  array(element: Schema): Schema {
    return withFast(z.array(element) as unknown as Schema, arrayFast(fastOf(element)));
  }

  /**
   * A schema looked up when first used, for references between types. It
   * keeps deep values from exhausting the stack and refuses nesting beyond
   * `MAX_NESTING` (see nesting.ts).
   */
  lazy(thunk: Thunk): Schema {
    return withFast(
      nestingRef(thunk),
      lazyFast(() => fastOf(thunk()), STACK_LEVELS),
    );
  }

  /** An enum: the known values, plus (compatible kit) any other string. */
  enum(values: readonly string[]): Schema {
    if (!this.strict) return this.str;
    if (values.length === 0) return withFast(z.never() as unknown as Schema, neverFast);
    return withFast(z.enum(values as [string, ...string[]]) as unknown as Schema, enumFast(values));
  }

  /** A struct: exactly these members (strict) or at least these (compatible). */
  object(shape: Shape): Schema {
    const schema = (this.strict ? z.strictObject(shape) : z.looseObject(shape)) as unknown as Schema;
    return this.withOwnMembers(shape, withFast(schema, objectFast(schema, shape, this.strict ? 'reject' : 'keep')));
  }

  private withOwnMembers(shape: Shape, schema: Schema): Schema {
    if (!Object.keys(shape).some((key) => INHERITED.has(key))) return schema;
    // (No fast twin: such rare shapes are left to zod.)
    // A member named like something every object inherits (`constructor`,
    // `toString`…) must be read as an own member only: zod would see the
    // inherited value when the member is absent.
    return customSchema((payload, ctx) => {
      const value = payload.value;
      if (isPlainObject(value)) payload.value = ownMembers(value);
      return runInPlace(schema, payload, ctx);
    });
  }

  /**
   * The arguments of a `'gen': false` command: the declared members as
   * usual, and any further member (the command takes more than it
   * declares), strict kit or not.
   */
  open(shape: Shape): Schema {
    const schema = z.looseObject(shape) as unknown as Schema;
    return this.withOwnMembers(shape, withFast(schema, objectFast(schema, shape, 'keep')));
  }

  /**
   * A union: base members (the tag among them) plus the branch's members.
   * `branches` maps each tag value to the branch type's schema, or null for
   * values without members of their own. A tag the code does not know is
   * rejected by the strict kit and passed through (base members checked)
   * by the compatible one. `older` describes what an older QEMU sends
   * (see OlderUnionLayout).
   */
  union(
    tag: string,
    base: Shape,
    branches: Readonly<Record<string, Thunk | null>>,
    older: OlderUnionLayout = {},
  ): Schema {
    const baseKeys = new Set(Object.keys(base));
    const baseSchema = z.object(base) as unknown as Schema;
    const baseFast = objectFast(baseSchema, base, 'strip');
    const known = Object.keys(branches);
    const strict = this.strict;
    const emptyRest = this.object({});
    const untaggedRest = older.untagged ? this.object(older.untagged) : null;
    const anyTag = older.anyTag ?? false;
    const baseMembers = layoutOf(baseSchema)?.members;
    const fast =
      baseFast &&
      baseMembers &&
      this.unionFast(tag, baseKeys, baseFast, baseMembers, branches, emptyRest, untaggedRest, anyTag);
    const schema = customSchema((payload, ctx) => {
      const value = payload.value;
      if (!isPlainObject(value)) {
        payload.issues.push(notAnObject(value));
        return payload;
      }
      const tagValue = Object.hasOwn(value, tag) ? value[tag] : undefined;
      const hasBranch = typeof tagValue === 'string' && Object.hasOwn(branches, tagValue);
      // An older QEMU's layout without the tag.
      const legacy = untaggedRest !== null && !Object.hasOwn(value, tag);
      if (!hasBranch && !legacy && ((strict && !anyTag) || typeof tagValue !== 'string')) {
        payload.issues.push({
          code: 'invalid_value',
          values: known,
          input: tagValue,
          path: [tag],
          message: `expected one of ${known.map((k) => `'${k}'`).join(', ')} as '${tag}'`,
        } as z.core.$ZodRawIssue);
        return payload;
      }
      // Null-prototype holders: a member named `__proto__` stays a member
      // (and is reported by the strict kit as unknown).
      const basePart = Object.create(null) as Record<string, unknown>;
      const rest = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(value)) {
        if (baseKeys.has(key)) basePart[key] = value[key];
        else rest[key] = value[key];
      }
      const b = runSchema(baseSchema, basePart, ctx);
      if (!hasBranch && !legacy) {
        // Unknown branch (compatible kit only): keep everything else.
        return afterResult(b, (br) => {
          payload.issues.push(...br.issues);
          payload.value = plainObject(rest, br.value);
          return payload;
        });
      }
      const thunk = legacy ? null : branches[tagValue as string];
      const r = runSchema(legacy ? (untaggedRest as Schema) : thunk ? thunk() : emptyRest, rest, ctx);
      const merge = (br: Payload, rr: Payload): Payload => {
        payload.issues.push(...br.issues, ...rr.issues);
        payload.value = plainObject(br.value, rr.value);
        return payload;
      };
      if (b instanceof Promise || r instanceof Promise) return Promise.all([b, r]).then(([br, rr]) => merge(br, rr));
      return merge(b, r);
    });
    return withFast(schema, fast);
  }

  /** The fast twin of union() (see fast.ts): the same steps, without payloads. */
  private unionFast(
    tag: string,
    baseKeys: ReadonlySet<string>,
    baseFast: FastFn,
    baseMembers: readonly FastMember[],
    branches: Readonly<Record<string, Thunk | null>>,
    emptyRest: Schema,
    untaggedRest: Schema | null,
    anyTag: boolean,
  ): FastFn | undefined {
    const emptyFast = fastOf(emptyRest);
    const untaggedFast = untaggedRest === null ? null : fastOf(untaggedRest);
    if (emptyFast === undefined || untaggedFast === undefined) return undefined;
    const strict = this.strict;
    const branchFast = new Map<string, FastFn | null>();
    const fastOfBranch = (name: string): FastFn | null => {
      let fn = branchFast.get(name);
      if (fn === undefined) {
        const thunk = branches[name];
        fn = thunk ? (fastOf(thunk()) ?? null) : emptyFast;
        branchFast.set(name, fn);
      }
      return fn;
    };
    // A known branch whose object layout is known: base and branch members
    // checked in one compiled function, with the output plainObject(base,
    // branch) gives below (base members, branch members, then the rest).
    const baseInheritsNothing = !baseMembers.some((m) => INHERITED.has(m.key));
    const combined = new Map<string, FastFn | null>();
    const combinedOf = (name: string): FastFn | null => {
      let fn = combined.get(name);
      if (fn === undefined) {
        const thunk = branches[name];
        const layout = layoutOf(thunk ? thunk() : emptyRest);
        // (Not when a key could be inherited: the split below reads own members only.)
        const overlaps = layout?.members.some((m) => baseKeys.has(m.key) || INHERITED.has(m.key)) ?? true;
        fn =
          layout === undefined || overlaps ? null : compileObject([...baseMembers, ...layout.members], layout.unknowns);
        combined.set(name, fn);
      }
      return fn;
    };
    return (value, depth) => {
      if (!isPlainObject(value)) return FAIL;
      const tagValue = Object.hasOwn(value, tag) ? value[tag] : undefined;
      const hasBranch = typeof tagValue === 'string' && Object.hasOwn(branches, tagValue);
      if (hasBranch && baseInheritsNothing) {
        const fn = combinedOf(tagValue);
        if (fn !== null) return fn(value, depth);
      }
      const legacy = untaggedFast !== null && !Object.hasOwn(value, tag);
      if (!hasBranch && !legacy && ((strict && !anyTag) || typeof tagValue !== 'string')) return FAIL;
      const basePart = Object.create(null) as Record<string, unknown>;
      const rest = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(value)) {
        if (baseKeys.has(key)) basePart[key] = value[key];
        else rest[key] = value[key];
      }
      const b = baseFast(basePart, depth);
      if (b === FAIL) return FAIL;
      if (!hasBranch && !legacy) return plainObject(rest, b);
      const fn = legacy ? untaggedFast : fastOfBranch(tagValue as string);
      if (fn === null) return FAIL;
      const r = fn(rest, depth);
      if (r === FAIL) return FAIL;
      return plainObject(b, r);
    };
  }

  /** An alternate: the branch is chosen by the value's JSON kind. */
  alternate(branches: Partial<Readonly<Record<AlternateKind, Thunk>>>): Schema {
    const kinds = Object.keys(branches) as AlternateKind[];
    const fastByKind = new Map<AlternateKind, FastFn | null>();
    const fast: FastFn = (value, depth) => {
      const kind = jsonKind(value);
      if (kind === 'other') return FAIL;
      let fn = fastByKind.get(kind);
      if (fn === undefined) {
        const thunk = branches[kind];
        fn = thunk ? (fastOf(thunk()) ?? null) : null;
        fastByKind.set(kind, fn);
      }
      return fn === null ? FAIL : fn(value, depth);
    };
    const schema = customSchema((payload, ctx) => {
      const value = payload.value;
      const kind = jsonKind(value);
      const thunk = kind === 'other' ? undefined : branches[kind];
      if (!thunk) {
        payload.issues.push({
          code: 'custom',
          input: value,
          message: `expected ${kinds.join(' or ')}, got ${kind}`,
        } as z.core.$ZodRawIssue);
        return payload;
      }
      return runInPlace(thunk(), payload, ctx);
    });
    return withFast(schema, fast);
  }
}
