/**
 * Command arguments checked the way QEMU's QMP input visitor checks them
 * (qapi/qobject-input-visitor.c driven by the generated marshallers), so
 * the test server refuses exactly what QEMU refuses, first problem first,
 * with QEMU's words (all verified against QEMU 7.2 and 10.0; see
 * docs/test-server.md).
 *
 * What QEMU does, and so do we:
 *  - members are visited in schema order (a base's first, then a union
 *    branch's); the first problem wins; members nobody asked for are
 *    reported only after all others ("Parameter 'x' is unexpected");
 *  - a missing member or a wrong JSON type names the full path
 *    (`capabilities[0].state`); a bad enum value or an out-of-range small
 *    integer names only the member (`capability`), or `null` for a list
 *    element;
 *  - `uint64` and `size` accept negative integers down to -2^63 and wrap
 *    them (QEMU keeps this for backward compatibility); the small unsigned
 *    kinds wrap too, and then fail their range check;
 *  - an alternate picks its branch by JSON type and, if none fits, names
 *    its own type (`expected: BlockdevRef`).
 *
 * Where our JSON decoder cannot tell what QEMU's can, we differ: `1e3` and
 * `1.0` decode to the integer 1000 / 1 here, while QEMU sees a double and
 * refuses them for integer members.
 */
import type {
  SchemaAlternateType,
  SchemaArrayType,
  SchemaEnumType,
  SchemaObjectType,
  SchemaType,
} from '../frontend/model.js';
import { alternateKind } from '../backends/compat.js';
import type { Int64Mode } from '../support/ints.js';
import { jsonKind } from '../support/kit.js';

/** The visited value (QEMU's conversions applied), or QEMU's error text. */
export type ArgumentCheck = { ok: true; value: Record<string, unknown> } | { ok: false; desc: string };

export interface ArgumentOptions {
  /** Accept members the schema does not declare (commands with `gen: false`). */
  allowUnknown?: boolean;
  /** How 64-bit integers reach handlers (default `mixed`, as decoded). */
  int64?: Int64Mode;
}

/** A container being visited: a dict (member `name`) or a list (element `index`). */
interface Frame {
  readonly dict: boolean;
  readonly name: string | null;
  index: number;
}

const TWO_64 = 2n ** 64n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = TWO_64 - 1n;

/** Small integer kinds: QEMU's C type name (for the message) and bounds. */
const SMALL_INTS: Readonly<Record<string, { cType: string; min: bigint; max: bigint; unsigned: boolean }>> = {
  int8: { cType: 'int8_t', min: -128n, max: 127n, unsigned: false },
  int16: { cType: 'int16_t', min: -32768n, max: 32767n, unsigned: false },
  int32: { cType: 'int32_t', min: -(2n ** 31n), max: 2n ** 31n - 1n, unsigned: false },
  uint8: { cType: 'uint8_t', min: 0n, max: 255n, unsigned: true },
  uint16: { cType: 'uint16_t', min: 0n, max: 65535n, unsigned: true },
  uint32: { cType: 'uint32_t', min: 0n, max: 2n ** 32n - 1n, unsigned: true },
};

class VisitError extends Error {}

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The integer `value` holds, or null when it is not one (a fraction, a string…). */
function integerOf(value: unknown): bigint | null {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return null;
}

/** A value to visit: what a container asks its visitor for, one member or element at a time. */
interface Visit {
  readonly type: SchemaType;
  readonly name: string | null;
  readonly value: unknown;
}

/** The visit of one container: yields its members' visits, returns the visited container. */
type Step = Generator<Visit, unknown, unknown>;

/**
 * The visitor. QEMU's visitor recurses once per level of the value, and so
 * did ours, until a legal request (a `blockdev-add` 1023 levels deep, which
 * QEMU accepts) ran the stack out. Now each container (struct, union,
 * list) is a generator that yields the members it wants visited, and
 * `drive` keeps the containers being visited on an explicit stack: any
 * depth costs heap, never the call stack, and the order of the checks
 * (first problem first) is exactly the recursive one.
 */
class InputVisitor {
  private readonly stack: Frame[] = [];

  constructor(private readonly options: ArgumentOptions) {}

  /** QEMU's full_name(): `a.b[2].c`, built from the containers being visited. */
  private fullName(name: string | null): string {
    let out = '';
    let current = name;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const frame = this.stack[i]!;
      out = frame.dict ? `.${current ?? '<anonymous>'}${out}` : `[${frame.index}]${out}`;
      current = frame.name;
    }
    if (current !== null) return current + out;
    if (out.startsWith('.')) return out.slice(1);
    return out === '' ? '<anonymous>' : out;
  }

  private fail(desc: string): never {
    throw new VisitError(desc);
  }

  private badType(name: string | null, expected: string): never {
    this.fail(`Invalid parameter type for '${this.fullName(name)}', expected: ${expected}`);
  }

  /** Visits the members of a command's arguments (the root dict). */
  root(type: SchemaObjectType | null, args: Record<string, unknown>): Record<string, unknown> {
    return this.drive(this.struct(type, null, args)) as Record<string, unknown>;
  }

  /** Runs a container's visit and every visit nested in it, without recursion. */
  private drive(first: Step): unknown {
    const steps: Step[] = [first];
    let input: unknown;
    for (;;) {
      const step = steps[steps.length - 1]!;
      const next = step.next(input);
      if (next.done === true) {
        steps.pop();
        if (steps.length === 0) return next.value;
        input = next.value;
        continue;
      }
      const { name, value } = next.value;
      let type = next.value.type;
      while (type.meta === 'alternate') type = this.alternate(type, name, value);
      input = undefined;
      switch (type.meta) {
        case 'built-in':
          input = this.builtin(type.name, name, value);
          break;
        case 'enum':
          input = this.enumValue(type, name, value);
          break;
        case 'array':
          steps.push(this.list(type, name, value));
          break;
        default:
          steps.push(this.struct(type, name, value));
      }
    }
  }

  private builtin(typeName: string, name: string | null, value: unknown): unknown {
    switch (typeName) {
      case 'str':
        if (typeof value !== 'string') this.badType(name, 'string');
        return value;
      case 'bool':
        if (typeof value !== 'boolean') this.badType(name, 'boolean');
        return value;
      case 'null':
        if (value !== null) this.badType(name, 'null');
        return value;
      case 'number':
        if (typeof value === 'bigint') return Number(value);
        if (typeof value !== 'number') this.badType(name, 'number');
        return value;
      case 'any':
        return value;
      case 'int':
      case 'int64':
        return this.int64(this.signed(name, value));
      case 'uint64':
      case 'size':
        return this.int64(this.unsigned(name, value));
      default: {
        const small = SMALL_INTS[typeName];
        if (small === undefined) return value;
        const n = small.unsigned ? this.unsigned(name, value) : this.signed(name, value);
        if (n < small.min || n > small.max) this.fail(`Parameter '${name ?? 'null'}' expects ${small.cType}`);
        return Number(n);
      }
    }
  }

  /** `type_int64`: an integer that fits in int64. */
  private signed(name: string | null, value: unknown): bigint {
    const n = integerOf(value);
    if (n === null || n < INT64_MIN || n > INT64_MAX) this.badType(name, 'integer');
    return n;
  }

  /** `type_uint64`: an integer in uint64, or a negative int64 (wrapped). */
  private unsigned(name: string | null, value: unknown): bigint {
    const n = integerOf(value);
    if (n === null || n < INT64_MIN || n > UINT64_MAX) {
      this.fail(`Parameter '${this.fullName(name)}' expects uint64`);
    }
    return n < 0n ? n + TWO_64 : n;
  }

  /** A 64-bit integer as handlers get it, in the chosen int64 mode. */
  private int64(n: bigint): number | bigint {
    switch (this.options.int64 ?? 'mixed') {
      case 'bigint':
        return n;
      case 'number':
        return Number(n);
      default:
        return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
    }
  }

  private enumValue(type: SchemaEnumType, name: string | null, value: unknown): unknown {
    if (typeof value !== 'string') this.badType(name, 'string');
    if (!type.members.some((m) => m.name === value)) {
      this.fail(`Parameter '${name ?? 'null'}' does not accept value '${value}'`);
    }
    return value;
  }

  /** The branch of an alternate that takes `value` (by its JSON type). */
  private alternate(type: SchemaAlternateType, name: string | null, value: unknown): SchemaType {
    const kind = jsonKind(value);
    const branch = type.alternatives.variants.find((v) => alternateKind(v.type) === kind);
    if (branch === undefined) this.fail(`Invalid parameter type for '${name ?? 'null'}', expected: ${type.name}`);
    return branch.type;
  }

  private *list(type: SchemaArrayType, name: string | null, value: unknown): Step {
    if (!Array.isArray(value)) this.badType(name, 'array');
    const frame: Frame = { dict: false, name, index: 0 };
    this.stack.push(frame);
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      frame.index = i;
      out[i] = yield { type: type.elementType, name: null, value: value[i] };
    }
    this.stack.pop();
    return out;
  }

  /** A struct or union: members in order, the branch's, then leftovers. */
  private *struct(type: SchemaObjectType | null, name: string | null, value: unknown): Step {
    if (!isDict(value)) this.badType(name, 'object');
    this.stack.push({ dict: true, name, index: 0 });
    const out = Object.create(null) as Record<string, unknown>;
    const seen = new Set<string>();
    if (type !== null) yield* this.members(type, value, out, seen);
    if (!this.options.allowUnknown || this.stack.length > 1) {
      for (const key of Object.keys(value)) {
        if (!seen.has(key)) this.fail(`Parameter '${this.fullName(key)}' is unexpected`);
      }
    } else {
      for (const key of Object.keys(value)) if (!seen.has(key)) out[key] = value[key];
    }
    this.stack.pop();
    return { ...out };
  }

  private *members(
    type: SchemaObjectType,
    dict: Record<string, unknown>,
    out: Record<string, unknown>,
    seen: Set<string>,
  ): Generator<Visit, void, unknown> {
    for (const member of type.members) {
      const present = Object.hasOwn(dict, member.name);
      if (!present) {
        if (!member.optional) this.fail(`Parameter '${this.fullName(member.name)}' is missing`);
        continue;
      }
      seen.add(member.name);
      out[member.name] = yield { type: member.type, name: member.name, value: dict[member.name] };
    }
    const branches = type.branches;
    if (branches === null) return;
    const tag = out[branches.tagMember.name];
    const variant = branches.variants.find((v) => v.name === tag);
    if (variant !== undefined && (variant.type.meta === 'struct' || variant.type.meta === 'union')) {
      yield* this.members(variant.type, dict, out, seen);
    }
  }
}

/**
 * Checks a command's arguments as QEMU would. `type` is the command's
 * argument type (null: the command takes none); `args` the `arguments`
 * object (an absent one is `{}`, as for QEMU).
 */
export function checkArguments(
  type: SchemaObjectType | null,
  args: Record<string, unknown>,
  options: ArgumentOptions = {},
): ArgumentCheck {
  try {
    return { ok: true, value: new InputVisitor(options).root(type, args) };
  } catch (e) {
    if (e instanceof VisitError) return { ok: false, desc: e.message };
    throw e;
  }
}
