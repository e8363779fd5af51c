/**
 * Checking a command's arguments against the QEMU's own schema (its
 * `query-qmp-schema` reply) before sending them, without generating code:
 * what `qapi-ts exec` does by default. Strict like the generated argument
 * validators: unknown members, missing mandatory ones, wrong JSON types and
 * unknown enum values are refused; a union's branch is chosen by its tag;
 * an alternate takes a value any alternative takes. Commands that take more
 * than they declare (DEFAULT_OPEN_COMMANDS, `device_add`) accept unknown
 * top-level members. Commands the schema lacks are not checked (QEMU
 * answers them with CommandNotFound).
 */
import { IntrospectionError } from '../runtime/errors.js';
import type { IntrospectedSchema } from '../runtime/introspection.js';
import { DEFAULT_OPEN_COMMANDS } from './schema.js';

/** Values nest at most this deep here (QEMU's parser: 1024 levels; exec refuses deeper ones before). */
const MAX_DEPTH = 1100;
/**
 * Steps one check may take. Real schemas need a few per value; a hostile
 * schema (alternates of alternates, which QEMU never makes) could need
 * exponentially many: an IntrospectionError instead.
 */
const MAX_STEPS = 1_000_000;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'bigint') return 'a number';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function path(parts: readonly (string | number)[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(arguments)';
}

/**
 * Why `args` are not valid arguments of `command` for the QEMU `schema`
 * describes, or undefined when they are (or the command is unknown).
 * Malformed schema data: IntrospectionError.
 */
export function checkCommandArguments(
  schema: IntrospectedSchema,
  command: string,
  args: Record<string, unknown> | undefined,
  openCommands: readonly string[] = DEFAULT_OPEN_COMMANDS,
): string | undefined {
  const entry = schema.lookup(command);
  if (entry === undefined || entry['meta-type'] !== 'command') return undefined;
  const checker = new Checker(schema);
  return checker.check(args ?? {}, entry['arg-type'], [], 0, openCommands.includes(command));
}

class Checker {
  private steps = 0;

  constructor(private readonly schema: IntrospectedSchema) {}

  private type(name: unknown): Json {
    const t = typeof name === 'string' ? (this.schema.lookup(name) as unknown as Json | undefined) : undefined;
    if (t === undefined) throw new IntrospectionError(`type '${String(name)}' is referenced but not defined`);
    return t;
  }

  check(value: unknown, typeName: string, at: (string | number)[], depth: number, open = false): string | undefined {
    if (depth > MAX_DEPTH) return `${path(at)}: nested too deeply`;
    if (++this.steps > MAX_STEPS)
      throw new IntrospectionError(`checking the arguments takes more than ${MAX_STEPS} steps`);
    const t = this.type(typeName);
    switch (t['meta-type']) {
      case 'builtin':
        return this.builtin(value, String(t['json-type']), at);
      case 'enum': {
        const values = Array.isArray(t['values']) ? t['values'] : [];
        if (typeof value !== 'string') return `${path(at)}: expected a string, got ${describe(value)}`;
        if (!values.includes(value)) {
          const shown = values
            .slice(0, 12)
            .map((v) => `'${String(v)}'`)
            .join(', ');
          const more = values.length > 12 ? ` (and ${values.length - 12} more)` : '';
          return `${path(at)}: '${value}' is not one of ${shown}${more}`;
        }
        return undefined;
      }
      case 'array': {
        if (!Array.isArray(value)) return `${path(at)}: expected an array, got ${describe(value)}`;
        for (let i = 0; i < value.length; i++) {
          const problem = this.check(value[i], String(t['element-type']), [...at, i], depth + 1);
          if (problem !== undefined) return problem;
        }
        return undefined;
      }
      case 'alternate': {
        const problems: string[] = [];
        for (const alt of Array.isArray(t['members']) ? (t['members'] as Json[]) : []) {
          const problem = this.check(value, String(alt['type']), at, depth + 1);
          if (problem === undefined) return undefined;
          problems.push(problem);
        }
        return problems.length === 1
          ? problems[0]
          : `${path(at)}: matches none of its alternatives (${problems.join('; ')})`;
      }
      case 'object':
        return this.object(value, t, at, depth, open);
      default:
        return undefined;
    }
  }

  private builtin(value: unknown, jsonType: string, at: (string | number)[]): string | undefined {
    const ok =
      jsonType === 'value' ||
      (jsonType === 'string' && typeof value === 'string') ||
      (jsonType === 'boolean' && typeof value === 'boolean') ||
      (jsonType === 'null' && value === null) ||
      (jsonType === 'number' && (typeof value === 'number' || typeof value === 'bigint')) ||
      (jsonType === 'int' && (typeof value === 'bigint' || Number.isInteger(value)));
    if (ok) return undefined;
    const wanted =
      { string: 'a string', boolean: 'a boolean', null: 'null', number: 'a number', int: 'an integer' }[jsonType] ??
      jsonType;
    return `${path(at)}: expected ${wanted}, got ${typeof value === 'number' ? String(value) : describe(value)}`;
  }

  private object(value: unknown, t: Json, at: (string | number)[], depth: number, open: boolean): string | undefined {
    if (!isObject(value)) return `${path(at)}: expected an object, got ${describe(value)}`;
    const members = [...(Array.isArray(t['members']) ? (t['members'] as Json[]) : [])];
    // A union: the tag's value picks the branch, whose members come too.
    const tag = t['tag'];
    if (typeof tag === 'string' && Array.isArray(t['variants']) && typeof value[tag] === 'string') {
      const variant = (t['variants'] as Json[]).find((v) => v['case'] === value[tag]);
      if (variant !== undefined) {
        const branch = this.type(variant['type']);
        if (Array.isArray(branch['members'])) members.push(...(branch['members'] as Json[]));
        if (typeof branch['tag'] === 'string') {
          // A union as a branch: check the branch as a whole, without the outer members.
          const own = Object.fromEntries(
            Object.entries(value).filter(([k]) => !(t['members'] as Json[]).some((m) => m['name'] === k)),
          );
          if (depth > MAX_DEPTH || ++this.steps > MAX_STEPS)
            throw new IntrospectionError('unions nest too deeply to check the arguments');
          const problem = this.object(own, branch, at, depth + 1, open);
          if (problem !== undefined) return problem;
          return this.members(value, t['members'] as Json[], at, depth, true);
        }
      }
    }
    return this.members(value, members, at, depth, open);
  }

  private members(
    value: Json,
    members: readonly Json[],
    at: (string | number)[],
    depth: number,
    open: boolean,
  ): string | undefined {
    const known = new Set<string>();
    for (const m of members) {
      const name = String(m['name']);
      known.add(name);
      if (!Object.hasOwn(value, name)) {
        if (!Object.hasOwn(m, 'default')) return `${path([...at, name])}: missing mandatory member`;
        continue;
      }
      const problem = this.check(value[name], String(m['type']), [...at, name], depth + 1);
      if (problem !== undefined) return problem;
    }
    if (!open) {
      const unknown = Object.keys(value).filter((k) => !known.has(k));
      if (unknown.length > 0) {
        const where = at.length ? ` in ${path(at)}` : '';
        return `unknown member${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}${where}`;
      }
    }
    return undefined;
  }
}
