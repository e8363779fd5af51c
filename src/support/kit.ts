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
import { afterResult, customSchema, isPlainObject, nestingRef, runInPlace, runSchema, type Payload } from './nesting.js';

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
  readonly str: Schema = z.string();
  readonly bool: Schema = z.boolean();
  readonly null: Schema = z.null();
  /** `any`: any JSON value. */
  readonly any: Schema = z.unknown();
  /**
   * `number`: a finite double. Integers beyond 2^53 arrive as bigint and
   * are rounded to the nearest double, as `JSON.parse` would; one too large
   * for a double (it would be Infinity) is refused.
   */
  readonly number: Schema = customSchema((payload) => {
    const input = payload.value;
    const value = typeof input === 'bigint' ? Number(input) : input;
    if (typeof value !== 'number') {
      payload.issues.push({ code: 'invalid_type', expected: 'number', input } as z.core.$ZodRawIssue);
    } else if (!Number.isFinite(value)) {
      payload.issues.push({ code: 'custom', input, message: `expected a finite number, got ${shortNumber(input)}` } as z.core.$ZodRawIssue);
    } else {
      payload.value = value;
    }
    return payload;
  });
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
    return schema.optional() as Schema;
  }

  array(element: Schema): Schema {
    return z.array(element) as unknown as Schema;
  }

  /**
   * A schema looked up when first used, for references between types. It
   * keeps deep values from exhausting the stack and refuses nesting beyond
   * `MAX_NESTING` (see nesting.ts).
   */
  lazy(thunk: Thunk): Schema {
    return nestingRef(thunk);
  }

  /** An enum: the known values, plus (compatible kit) any other string. */
  enum(values: readonly string[]): Schema {
    if (!this.strict) return this.str;
    if (values.length === 0) return z.never() as unknown as Schema;
    return z.enum(values as [string, ...string[]]) as unknown as Schema;
  }

  /** A struct: exactly these members (strict) or at least these (compatible). */
  object(shape: Shape): Schema {
    return this.withOwnMembers(shape, (this.strict ? z.strictObject(shape) : z.looseObject(shape)) as unknown as Schema);
  }

  private withOwnMembers(shape: Shape, schema: Schema): Schema {
    if (!Object.keys(shape).some((key) => INHERITED.has(key))) return schema;
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
    return this.withOwnMembers(shape, z.looseObject(shape) as unknown as Schema);
  }

  /**
   * A union: base members (the tag among them) plus the branch's members.
   * `branches` maps each tag value to the branch type's schema, or null for
   * values without members of their own. A tag the code does not know is
   * rejected by the strict kit and passed through (base members checked)
   * by the compatible one. `older` describes what an older QEMU sends
   * (see OlderUnionLayout).
   */
  union(tag: string, base: Shape, branches: Readonly<Record<string, Thunk | null>>, older: OlderUnionLayout = {}): Schema {
    const baseKeys = new Set(Object.keys(base));
    const baseSchema = z.object(base) as unknown as Schema;
    const known = Object.keys(branches);
    const strict = this.strict;
    const emptyRest = this.object({});
    const untaggedRest = older.untagged ? this.object(older.untagged) : null;
    const anyTag = older.anyTag ?? false;
    return customSchema((payload, ctx) => {
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
  }

  /** An alternate: the branch is chosen by the value's JSON kind. */
  alternate(branches: Partial<Readonly<Record<AlternateKind, Thunk>>>): Schema {
    const kinds = Object.keys(branches) as AlternateKind[];
    return customSchema((payload, ctx) => {
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
  }
}
