/**
 * `query-qmp-schema` data: its shape (SchemaInfo, as QEMU 6.2 and later
 * send it) and the probe evaluator, which answers libvirt-style queries
 * (probe-query.ts) on it. Pure: no I/O, usable on data fetched live, saved
 * to disk, or made by the introspection backend.
 *
 * How a query is answered (libvirt's reading, src/qemu/qemu_qapi.c):
 * the first step looks up a command or event by name (absent: no). Then,
 * from the current entry: no steps left → yes. Otherwise by meta-type:
 * - command, event: `arg-type` / `ret-type` follow that type (absent: no;
 *   any other plain name: no); `$f` → has feature f; `* + ^ !` → no.
 * - object: `m` → member m; `*m` → member m, which must be optional;
 *   `+c` → the branch for tag value c; then its type. `$f` → has feature
 *   f. `^ !` → no.
 * - array: the element type, with the same steps (arrays are flattened).
 * - alternate: each alternative's type in order, with the same steps; the
 *   first yes wins.
 * - enum: `^v` → v is a value (with `/$f`: value v has feature f, which
 *   needs QEMU 6.2's `members`); anything else → no.
 * - builtin: `!t` → its JSON type is t; anything else → no.
 * - any other meta-type: no.
 * A name the data references but does not define, data of the wrong shape
 * on the way, a cycle, or nesting deeper than MAX_PROBE_DEPTH is an
 * IntrospectionError, never an answer.
 */
import { IntrospectionError } from './errors.js';
import { parseProbeQuery, type ProbeQuery, type ProbeStep } from './probe-query.js';

/** JSON types of built-in types. */
export type IntrospectionJsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'object' | 'array' | 'value';

interface SchemaInfoCommon {
  /** Commands and events: their name. Types: a number (masked), or the type name. */
  name: string;
  /** Present only when not empty. */
  features?: string[];
}

export interface SchemaInfoBuiltin extends SchemaInfoCommon {
  'meta-type': 'builtin';
  'json-type': IntrospectionJsonType;
}

export interface SchemaInfoEnumMember {
  name: string;
  features?: string[];
}

export interface SchemaInfoEnum extends SchemaInfoCommon {
  'meta-type': 'enum';
  /** Since QEMU 6.2. */
  members: SchemaInfoEnumMember[];
  /** The member names again (deprecated by QEMU in favour of `members`). */
  values: string[];
}

export interface SchemaInfoArray extends SchemaInfoCommon {
  'meta-type': 'array';
  'element-type': string;
}

export interface SchemaInfoObjectMember {
  name: string;
  type: string;
  /** Present (always null) exactly when the member is optional. */
  default?: null;
  features?: string[];
}

export interface SchemaInfoObjectVariant {
  case: string;
  type: string;
}

export interface SchemaInfoObject extends SchemaInfoCommon {
  'meta-type': 'object';
  /** All members, a union's base members included. */
  members: SchemaInfoObjectMember[];
  /** Unions only. */
  tag?: string;
  /** Unions only. */
  variants?: SchemaInfoObjectVariant[];
}

export interface SchemaInfoAlternate extends SchemaInfoCommon {
  'meta-type': 'alternate';
  members: { type: string }[];
}

export interface SchemaInfoCommand extends SchemaInfoCommon {
  'meta-type': 'command';
  'arg-type': string;
  'ret-type': string;
  /** Present only when true. */
  'allow-oob'?: true;
}

export interface SchemaInfoEvent extends SchemaInfoCommon {
  'meta-type': 'event';
  'arg-type': string;
}

/** One element of `query-qmp-schema`'s reply. */
export type SchemaInfo =
  | SchemaInfoBuiltin
  | SchemaInfoEnum
  | SchemaInfoArray
  | SchemaInfoObject
  | SchemaInfoAlternate
  | SchemaInfoCommand
  | SchemaInfoEvent;

/**
 * Limit on array/alternate flattening within one query (libvirt stops at
 * 1000 too); real schemas need a handful.
 */
export const MAX_PROBE_DEPTH = 1000;

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Introspection data indexed by name, ready to answer probe queries. */
export class IntrospectedSchema {
  /** The data as given (`query-qmp-schema`'s return value). */
  readonly entries: readonly SchemaInfo[];
  private readonly byName = new Map<string, JsonObject>();

  /**
   * Indexes `data`, which must be an array of objects, each with a string
   * `name`, names unique (QEMU guarantees both); otherwise throws an
   * IntrospectionError. Everything else is checked where a probe needs it.
   */
  constructor(data: unknown) {
    if (!Array.isArray(data))
      throw new IntrospectionError(`expected an array of SchemaInfo objects, got ${kindOf(data)}`);
    data.forEach((entry: unknown, i) => {
      if (!isObject(entry)) throw new IntrospectionError(`element ${i} is ${kindOf(entry)}, not an object`);
      const name = entry['name'];
      if (typeof name !== 'string') throw new IntrospectionError(`element ${i} has no string 'name'`);
      if (this.byName.has(name)) throw new IntrospectionError(`element ${i}: name '${name}' is used twice`);
      this.byName.set(name, entry);
    });
    this.entries = data as SchemaInfo[];
  }

  /** The entry called `name` (a command, event or, by its masked name, a type). */
  lookup(name: string): SchemaInfo | undefined {
    return this.byName.get(name) as SchemaInfo | undefined;
  }

  /** Answers one query (a string is parsed first; malformed: ProbeQueryError). */
  probe(query: string | ProbeQuery): boolean {
    const parsed = typeof query === 'string' ? parseProbeQuery(query) : query;
    if (!this.byName.has(parsed.entry)) return false;
    return new Walk(this.byName, parsed).from(parsed.entry, 0, 0);
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** One query's traversal: results memoised per (entry, step), cycles caught. */
class Walk {
  private readonly done = new Map<string, boolean>();
  private readonly active = new Set<string>();

  constructor(
    private readonly byName: ReadonlyMap<string, JsonObject>,
    private readonly query: ProbeQuery,
  ) {}

  private fail(reason: string): never {
    throw new IntrospectionError(reason, this.query.text);
  }

  /** Answers steps `i…` starting at the entry called `name`. */
  from(name: string, i: number, depth: number): boolean {
    if (depth > MAX_PROBE_DEPTH) this.fail(`types nest deeper than ${MAX_PROBE_DEPTH} levels at '${name}'`);
    const entry = this.byName.get(name);
    if (entry === undefined) return this.fail(`'${name}' is referenced but not defined`);
    if (i === this.query.steps.length) return true;
    const key = `${i}\u0000${name}`;
    const known = this.done.get(key);
    if (known !== undefined) return known;
    if (this.active.has(key)) this.fail(`'${name}' contains itself (cycle of arrays or alternates)`);
    this.active.add(key);
    const answer = this.dispatch(name, entry, i, depth);
    this.active.delete(key);
    this.done.set(key, answer);
    return answer;
  }

  private dispatch(name: string, entry: JsonObject, i: number, depth: number): boolean {
    const step = this.query.steps[i] as ProbeStep;
    const where = `'${name}'`;
    const meta = entry['meta-type'];
    if (typeof meta !== 'string') this.fail(`${where} has no string 'meta-type'`);
    switch (meta) {
      case 'command':
      case 'event':
        if (step.kind === 'feature') return this.hasFeature(where, entry, step.name);
        if (step.kind !== 'member' || (step.name !== 'arg-type' && step.name !== 'ret-type')) return false;
        return this.follow(where, entry, step.name, i + 1, depth);
      case 'object':
        return this.object(where, entry, step, i, depth);
      case 'array':
        return this.follow(where, entry, 'element-type', i, depth, true);
      case 'alternate':
        for (const [k, alt] of this.list(where, entry, 'members').entries()) {
          if (!isObject(alt)) this.fail(`${where} members[${k}] is not an object`);
          if (this.follow(`${where} members[${k}]`, alt, 'type', i, depth, true)) return true;
        }
        return false;
      case 'enum':
        return step.kind === 'value' && this.enumValue(where, entry, step.name, this.query.steps[i + 1]);
      case 'builtin': {
        if (step.kind !== 'json-type') return false;
        const jsonType = entry['json-type'];
        if (typeof jsonType !== 'string') this.fail(`${where} has no string 'json-type'`);
        return jsonType === step.name;
      }
      default:
        // A meta-type from the future: nothing to look into.
        return false;
    }
  }

  private object(where: string, entry: JsonObject, step: ProbeStep, i: number, depth: number): boolean {
    switch (step.kind) {
      case 'feature':
        return this.hasFeature(where, entry, step.name);
      case 'value':
      case 'json-type':
        return false;
      case 'branch': {
        if (!Object.hasOwn(entry, 'variants')) return false;
        const variant = this.find(where, entry, 'variants', 'case', step.name);
        return (
          variant !== undefined && this.follow(`${where} branch '${step.name}'`, variant, 'type', i + 1, depth, true)
        );
      }
      case 'member':
      case 'optional': {
        const member = this.find(where, entry, 'members', 'name', step.name);
        if (member === undefined) return false;
        if (step.kind === 'optional' && !Object.hasOwn(member, 'default')) return false;
        return this.follow(`${where} member '${step.name}'`, member, 'type', i + 1, depth, true);
      }
    }
  }

  /**
   * Follows `holder[field]`, a type name, to steps `i…`. An absent field
   * is a plain no, unless `required` (the data is then malformed).
   */
  private follow(
    where: string,
    holder: JsonObject,
    field: string,
    i: number,
    depth: number,
    required = false,
  ): boolean {
    const target = holder[field];
    if (target === undefined && !required) return false;
    if (typeof target !== 'string') this.fail(`${where} has no string '${field}'`);
    return this.from(target, i, depth + 1);
  }

  private list(where: string, entry: JsonObject, field: string): unknown[] {
    const value = entry[field];
    if (!Array.isArray(value)) this.fail(`${where} has no array '${field}'`);
    return value;
  }

  /** The element of `entry[field]` whose `key` is `wanted`. */
  private find(where: string, entry: JsonObject, field: string, key: string, wanted: string): JsonObject | undefined {
    for (const [k, element] of this.list(where, entry, field).entries()) {
      if (!isObject(element) || typeof element[key] !== 'string')
        this.fail(`${where} ${field}[${k}] has no string '${key}'`);
      if (element[key] === wanted) return element;
    }
    return undefined;
  }

  private hasFeature(where: string, holder: JsonObject, feature: string): boolean {
    if (!Object.hasOwn(holder, 'features')) return false;
    const features = this.list(where, holder, 'features');
    if (!features.every((f) => typeof f === 'string')) this.fail(`${where} has a feature that is not a string`);
    return features.includes(feature);
  }

  /** `^value` (and an optional `$feature` step after it) on an enum. */
  private enumValue(where: string, entry: JsonObject, value: string, featureStep: ProbeStep | undefined): boolean {
    // QEMU 6.2 added `members` (with features) beside the plain `values`.
    if (Object.hasOwn(entry, 'members')) {
      const member = this.find(where, entry, 'members', 'name', value);
      if (member === undefined) return false;
      return featureStep === undefined || this.hasFeature(`${where} value '${value}'`, member, featureStep.name);
    }
    const values = this.list(where, entry, 'values');
    if (!values.every((v) => typeof v === 'string')) this.fail(`${where} has a value that is not a string`);
    return featureStep === undefined && values.includes(value);
  }
}
