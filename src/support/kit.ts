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
import { intValidator, type Int64Mode, type IntKind } from './ints.js';

/** Any zod schema, as the generated code handles them. */
export type Schema = z.ZodType<unknown, unknown>;
/** Member name → schema (optional members wrapped with `kit.optional`). */
export type Shape = Readonly<Record<string, Schema>>;
/** A schema that is looked up when first used (recursion, module order). */
export type Thunk = () => Schema;

/** JSON kinds an alternate dispatches on, as QEMU's input visitor does. */
export type AlternateKind = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A schema that runs `body` on each value, delegating to other schemas. */
function custom(
  body: (value: unknown, issues: z.core.$ZodRawIssue[]) => unknown,
): Schema {
  return z.unknown().transform((value, ctx) => {
    const out = body(value, ctx.issues);
    return out;
  }) as unknown as Schema;
}

/** Runs `schema` on `value`, moving its issues (paths relative to value). */
function delegate(schema: Schema, value: unknown, issues: z.core.$ZodRawIssue[]): { ok: boolean; data: unknown } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, data: result.data };
  for (const issue of result.error.issues) {
    issues.push({ ...issue, path: [...issue.path], input: value } as z.core.$ZodRawIssue);
  }
  return { ok: false, data: undefined };
}

export class ValidatorKit {
  readonly strict: boolean;
  readonly int64: Int64Mode;
  readonly str: Schema = z.string();
  readonly bool: Schema = z.boolean();
  readonly null: Schema = z.null();
  /** `any`: any JSON value. */
  readonly any: Schema = z.unknown();
  /** `number`: a double; integers beyond 2^53 arrive as bigint. */
  readonly number: Schema = z.union([z.number(), z.bigint().transform((b) => Number(b))]) as unknown as Schema;
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

  lazy(thunk: Thunk): Schema {
    return z.lazy(thunk) as unknown as Schema;
  }

  /** An enum: the known values, plus (compatible kit) any other string. */
  enum(values: readonly string[]): Schema {
    if (!this.strict) return this.str;
    if (values.length === 0) return z.never() as unknown as Schema;
    return z.enum(values as [string, ...string[]]) as unknown as Schema;
  }

  /** A struct: exactly these members (strict) or at least these (compatible). */
  object(shape: Shape): Schema {
    return (this.strict ? z.strictObject(shape) : z.looseObject(shape)) as unknown as Schema;
  }

  /**
   * A union: base members (the tag among them) plus the branch's members.
   * `branches` maps each tag value to the branch type's schema, or null for
   * values without members of their own. A tag the code does not know is
   * rejected by the strict kit and passed through (base members checked)
   * by the compatible one.
   */
  union(tag: string, base: Shape, branches: Readonly<Record<string, Thunk | null>>): Schema {
    const baseKeys = new Set(Object.keys(base));
    const baseSchema = z.object(base) as unknown as Schema;
    const known = Object.keys(branches);
    const strict = this.strict;
    const emptyRest = this.object({});
    return custom((value, issues) => {
      if (!isPlainObject(value)) {
        issues.push({ code: 'invalid_type', expected: 'object', input: value } as z.core.$ZodRawIssue);
        return z.NEVER;
      }
      const tagValue = value[tag];
      const hasBranch = typeof tagValue === 'string' && Object.hasOwn(branches, tagValue);
      if (!hasBranch && (strict || typeof tagValue !== 'string')) {
        issues.push({
          code: 'invalid_value',
          values: known,
          input: tagValue,
          path: [tag],
          message: `expected one of ${known.map((k) => `'${k}'`).join(', ')} as '${tag}'`,
        } as z.core.$ZodRawIssue);
        return z.NEVER;
      }
      // Null-prototype holders: a member named `__proto__` stays a member.
      const basePart = Object.create(null) as Record<string, unknown>;
      const rest = Object.create(null) as Record<string, unknown>;
      for (const [key, member] of Object.entries(value)) {
        if (baseKeys.has(key)) basePart[key] = member;
        else rest[key] = member;
      }
      const b = delegate(baseSchema, basePart, issues);
      if (!hasBranch) {
        // Unknown branch (compatible kit only): keep everything.
        return b.ok ? { ...rest, ...(b.data as object) } : z.NEVER;
      }
      const thunk = branches[tagValue as string];
      const r = delegate(thunk ? thunk() : emptyRest, rest, issues);
      if (!b.ok || !r.ok) return z.NEVER;
      return { ...(b.data as object), ...(r.data as object) };
    });
  }

  /** An alternate: the branch is chosen by the value's JSON kind. */
  alternate(branches: Partial<Readonly<Record<AlternateKind, Thunk>>>): Schema {
    const kinds = Object.keys(branches) as AlternateKind[];
    return custom((value, issues) => {
      const kind = jsonKind(value);
      const thunk = kind === 'other' ? undefined : branches[kind];
      if (!thunk) {
        issues.push({
          code: 'custom',
          input: value,
          message: `expected ${kinds.join(' or ')}, got ${kind}`,
        } as z.core.$ZodRawIssue);
        return z.NEVER;
      }
      const r = delegate(thunk(), value, issues);
      return r.ok ? r.data : z.NEVER;
    });
  }
}
