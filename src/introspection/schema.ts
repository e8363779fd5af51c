/**
 * A QAPI schema from a `query-qmp-schema` reply: what a QEMU build says
 * about itself, turned into schema text that the frontend checks and
 * models like any schema file, so every backend (types, validators,
 * client, introspection) works on it unchanged.
 *
 * What the reply has, and is kept: every command (arguments, reply,
 * `allow-oob`), every event, objects with their members and optionality,
 * unions (tag and branches), alternates, enums (values with their
 * features), arrays, built-ins, and the features (`deprecated`,
 * `unstable`…) of everything that has them. Conditions are already
 * decided: the reply is exactly this build.
 *
 * What it does not have, and how it is made up:
 * - Type names (masked as numbers). Each type is named after the first
 *   place it is used, walking commands then events in the reply's order,
 *   breadth first: `query-iothreads`'s reply element is
 *   `QueryIothreadsRetElement`, `blockdev-add`'s arguments `BlockdevAddArg`,
 *   its branch `file` `BlockdevAddArgFile`, a member `m` of type `T` `TM`,
 *   an event's data `EventNameData`. A name already taken gets `2`, `3`…
 *   appended; the same reply always gives the same names. Arguments that
 *   one command or event alone uses are written inline, as schema files
 *   write them (the backends call them `COMMANDArguments`, `EVENTData`).
 * - Integer widths: every integer type is `int` on the wire.
 * - Doc comments: none.
 * - Which commands take more arguments than they declare (`'gen': false`):
 *   `openCommands` lists them (default: `device_add`, the only one in
 *   every QEMU release we know).
 * Generating from the schema files and the reply together (`generate
 * SCHEMA --introspection FILE`) gets names, docs and widths back.
 *
 * Malformed replies are IntrospectionErrors naming the element and why.
 */
import { IntrospectionError } from '../runtime/errors.js';
import { IntrospectedSchema } from '../runtime/introspection.js';
import { pascalCase } from '../backends/names.js';

/** Commands taking arguments beyond those they declare, in every release we know. */
export const DEFAULT_OPEN_COMMANDS: readonly string[] = ['device_add'];

/** The file name the made-up schema goes by (messages, the generated module's name). */
export const INTROSPECTION_FNAME = 'qemu.json';

export interface IntrospectionSchemaOptions {
  /** Commands that take more arguments than they declare (default DEFAULT_OPEN_COMMANDS). */
  openCommands?: readonly string[];
}

export interface IntrospectionSchemaText {
  /** QAPI schema text (one expression a line). */
  text: string;
  /** Masked type name in the reply → the name given to it. */
  names: ReadonlyMap<string, string>;
}

type Json = Record<string, unknown>;

interface Member {
  name: string;
  type: string;
  optional: boolean;
  features: string[];
}

interface TypeEntry {
  index: number;
  name: string;
  meta: 'builtin' | 'enum' | 'array' | 'object' | 'alternate';
  features: string[];
  jsonType?: string;
  values?: { name: string; features: string[] }[];
  element?: string;
  members?: Member[];
  tag?: string;
  variants?: { case: string; type: string }[];
  alternatives?: string[];
}

interface Definition {
  index: number;
  name: string;
  meta: 'command' | 'event';
  features: string[];
  argType: string;
  retType?: string;
  allowOob: boolean;
}

const BUILTIN_BY_JSON_TYPE: Readonly<Record<string, string>> = {
  string: 'str',
  int: 'int',
  number: 'number',
  boolean: 'bool',
  null: 'null',
  value: 'any',
};

/** Names QAPI schemas may use (the frontend checks the finer rules). */
const NAME = /^[A-Za-z0-9_.+-]+$/;

/** Names the frontend defines itself. */
const RESERVED = new Set(['QType']);

/** Reads and checks one reply into types and definitions. */
class Reader {
  readonly types = new Map<string, TypeEntry>();
  readonly definitions: Definition[] = [];

  constructor(data: unknown) {
    const schema = new IntrospectedSchema(data); // an array of objects with unique string names
    schema.entries.forEach((raw, index) => this.read(raw as unknown as Json, index));
  }

  private fail(index: number, name: string, reason: string): never {
    throw new IntrospectionError(`element ${index} ('${name}'): ${reason}`);
  }

  private str(e: Json, key: string, index: number, name: string, where = ''): string {
    const v = e[key];
    if (typeof v !== 'string') this.fail(index, name, `${where}'${key}' is not a string`);
    return v;
  }

  private qapiName(value: string, index: number, name: string, what: string): string {
    if (!NAME.test(value) || value.length > 1024)
      this.fail(index, name, `${what} '${value.slice(0, 80)}' is not a QAPI name`);
    return value;
  }

  private list(e: Json, key: string, index: number, name: string, where = ''): unknown[] {
    const v = e[key];
    if (!Array.isArray(v)) this.fail(index, name, `${where}'${key}' is not an array`);
    return v;
  }

  private objects(e: Json, key: string, index: number, name: string): Json[] {
    return this.list(e, key, index, name).map((m, k) => {
      if (typeof m !== 'object' || m === null || Array.isArray(m))
        this.fail(index, name, `${key}[${k}] is not an object`);
      return m as Json;
    });
  }

  private features(e: Json, index: number, name: string, where = ''): string[] {
    if (e['features'] === undefined) return [];
    return this.list(e, 'features', index, name, where).map((f) => {
      if (typeof f !== 'string') this.fail(index, name, `${where}a feature is not a string`);
      return this.qapiName(f, index, name, 'feature');
    });
  }

  private read(e: Json, index: number): void {
    const name = e['name'] as string;
    const meta = e['meta-type'];
    const features = this.features(e, index, name);
    switch (meta) {
      case 'command':
      case 'event': {
        this.qapiName(name, index, name, `${meta} name`);
        const def: Definition = {
          index,
          name,
          meta,
          features,
          argType: this.str(e, 'arg-type', index, name),
          allowOob: false,
        };
        if (meta === 'command') {
          def.retType = this.str(e, 'ret-type', index, name);
          def.allowOob = e['allow-oob'] === true;
        }
        this.definitions.push(def);
        return;
      }
      case 'builtin': {
        const jsonType = this.str(e, 'json-type', index, name);
        if (!Object.hasOwn(BUILTIN_BY_JSON_TYPE, jsonType)) this.fail(index, name, `unknown json-type '${jsonType}'`);
        this.types.set(name, { index, name, meta, features, jsonType });
        return;
      }
      case 'enum': {
        // QEMU 6.2 added `members` (with features); before, only `values`.
        const values = Object.hasOwn(e, 'members')
          ? this.objects(e, 'members', index, name).map((m, k) => ({
              name: this.qapiName(this.str(m, 'name', index, name, `members[${k}] `), index, name, 'enum value'),
              features: this.features(m, index, name, `members[${k}]: `),
            }))
          : this.list(e, 'values', index, name).map((v) => {
              if (typeof v !== 'string') this.fail(index, name, 'a value is not a string');
              return { name: this.qapiName(v, index, name, 'enum value'), features: [] };
            });
        this.types.set(name, { index, name, meta, features, values });
        return;
      }
      case 'array':
        this.types.set(name, { index, name, meta, features, element: this.str(e, 'element-type', index, name) });
        return;
      case 'object': {
        const members = this.objects(e, 'members', index, name).map((m, k) => ({
          name: this.qapiName(this.str(m, 'name', index, name, `members[${k}] `), index, name, 'member name'),
          type: this.str(m, 'type', index, name, `members[${k}] `),
          optional: Object.hasOwn(m, 'default'),
          features: this.features(m, index, name, `members[${k}]: `),
        }));
        const entry: TypeEntry = { index, name, meta, features, members };
        if (e['tag'] !== undefined || e['variants'] !== undefined) {
          entry.tag = this.str(e, 'tag', index, name);
          if (!members.some((m) => m.name === entry.tag)) this.fail(index, name, `tag '${entry.tag}' is not a member`);
          entry.variants = this.objects(e, 'variants', index, name).map((v, k) => ({
            case: this.qapiName(this.str(v, 'case', index, name, `variants[${k}] `), index, name, 'branch'),
            type: this.str(v, 'type', index, name, `variants[${k}] `),
          }));
        }
        this.types.set(name, entry);
        return;
      }
      case 'alternate':
        this.types.set(name, {
          index,
          name,
          meta,
          features,
          alternatives: this.objects(e, 'members', index, name).map((m, k) =>
            this.str(m, 'type', index, name, `members[${k}] `),
          ),
        });
        return;
      default:
        this.fail(index, name, `unknown meta-type ${JSON.stringify(meta)?.slice(0, 40)}`);
    }
  }
}

/** `query-iothreads` → `QueryIothreads`, `BLOCK_JOB_COMPLETED` → `BlockJobCompleted`. */
export function camelName(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter((p) => p !== '');
  return parts.map((p) => p[0]!.toUpperCase() + (/[a-z]/.test(p) ? p.slice(1) : p.slice(1).toLowerCase())).join('');
}

/** Made-up names are cut to this length (deeply nested types would get ever longer ones). */
const MAX_NAME = 80;

/** A QAPI type name from `suggested`: CamelCase, not too long, not ending in 'List'. */
function typeName(suggested: string): string {
  let name = suggested.slice(0, MAX_NAME);
  if (!/^[A-Z]/.test(name)) name = `T${name}`;
  if (!/[a-z]/.test(name) || name.endsWith('List')) name += 'Type';
  return name;
}

/**
 * QAPI schema text for a `query-qmp-schema` reply (see the file comment).
 * Throws IntrospectionError for data that is not a reply.
 */
export function introspectionSchemaText(
  data: unknown,
  options: IntrospectionSchemaOptions = {},
): IntrospectionSchemaText {
  const reader = new Reader(data);
  const { types, definitions } = reader;
  const open = new Set(options.openCommands ?? DEFAULT_OPEN_COMMANDS);

  const where = (owner: string, what: string): string => `${owner}: ${what}`;
  const lookup = (ref: string, user: string): TypeEntry => {
    const t = types.get(ref);
    if (t === undefined) throw new IntrospectionError(`${user} uses type '${ref.slice(0, 80)}', which is not defined`);
    return t;
  };
  const isEmptyObject = (t: TypeEntry): boolean =>
    t.meta === 'object' && t.members!.length === 0 && t.variants === undefined && t.features.length === 0;

  // The empty object commands without arguments or reply use (QEMU's q_empty).
  let qEmpty: string | undefined;
  for (const d of definitions) {
    for (const ref of [d.argType, d.retType]) {
      if (qEmpty === undefined && ref !== undefined && isEmptyObject(lookup(ref, `${d.meta} '${d.name}'`)))
        qEmpty = ref;
    }
  }

  const needsException = (n: string): boolean => /[A-Z_]/.test(n.replace(/^__[a-z0-9.-]+_/i, ''));

  // Arguments used by one command or event only are written inline, as in
  // schema files (the backends name them COMMANDArguments, EVENTData).
  const refCount = new Map<string, number>();
  const count = (ref: string | undefined): void =>
    void (ref !== undefined && refCount.set(ref, (refCount.get(ref) ?? 0) + 1));
  for (const d of definitions) [d.argType, d.retType].forEach(count);
  for (const t of types.values()) {
    count(t.element);
    t.members?.forEach((m) => count(m.type));
    t.variants?.forEach((v) => count(v.type));
    t.alternatives?.forEach(count);
  }
  const inlined = new Map<string, Definition>();
  for (const d of definitions) {
    const arg = types.get(d.argType);
    if (d.argType === qEmpty || arg?.meta !== 'object' || arg.variants !== undefined || arg.features.length > 0)
      continue;
    if (refCount.get(d.argType) === 1 && !arg.members!.some((m) => needsException(m.name))) inlined.set(d.argType, d);
  }

  // Names, breadth first from commands and events.
  const names = new Map<string, string>();
  const taken = new Set<string>(RESERVED);
  const suffixes = new Map<string, number>();
  const order: TypeEntry[] = [];
  // ref, name prefix, the part to add (made CamelCase), user (for messages)
  // and what of it; names made when first visited.
  const queue: [string, string, string, string, string][] = [];
  const use = (ref: string, prefix: string, part: string, user: string, what = ''): void => {
    queue.push([ref, prefix, part, user, what]);
  };
  for (const d of definitions) {
    const base = camelName(d.name).slice(0, MAX_NAME);
    use(d.argType, base, d.meta === 'event' ? 'Data' : 'Arg', `${d.meta} '${d.name}'`);
    if (d.retType !== undefined) use(d.retType, base, 'Ret', `command '${d.name}'`);
  }
  const visited = new Set<string>();
  for (let i = 0; i < queue.length; i++) {
    const [ref, prefix, part, user, what] = queue[i]!;
    if (visited.has(ref)) continue;
    const t = lookup(ref, what === '' ? user : where(user, what));
    visited.add(ref);
    const label = `type '${ref}'`;
    const suggested = prefix + camelName(part).slice(0, MAX_NAME);
    if (t.meta === 'builtin') continue;
    if (t.meta === 'array') {
      const element = lookup(t.element!, label);
      if (element.meta === 'array')
        throw new IntrospectionError(`${label} is an array of arrays, which QAPI cannot express`);
      use(t.element!, suggested, 'Element', label);
      continue;
    }
    if (ref === qEmpty) continue;
    const wanted = typeName(suggested);
    let name = wanted;
    for (let n = suffixes.get(wanted) ?? 2; taken.has(name); n++) {
      name = `${wanted}${n}`;
      suffixes.set(wanted, n + 1);
    }
    taken.add(name);
    const inline = inlined.get(ref);
    if (inline === undefined) {
      names.set(ref, name);
      order.push(t);
    } else {
      // No type of its own; the name the backends give it is kept free.
      taken.add(pascalCase(inline.name) + (inline.meta === 'event' ? 'Data' : 'Arguments'));
    }
    for (const m of t.members ?? []) use(m.type, name, m.name, label, `member '${m.name}'`);
    for (const v of t.variants ?? []) use(v.type, name, v.case, label, `branch '${v.case}'`);
    for (const a of t.alternatives ?? []) {
      const alt = lookup(a, label);
      use(a, name, alt.meta === 'builtin' ? BUILTIN_BY_JSON_TYPE[alt.jsonType!]! : alt.meta, label);
    }
  }
  // Every reference is checked, visited or not.
  for (const [ref, , , user, what] of queue) if (!types.has(ref)) lookup(ref, what === '' ? user : where(user, what));

  // Text.
  const q = (s: string): string => `'${s}'`;
  const ref = (r: string, user: string): string => {
    const t = lookup(r, user);
    if (t.meta === 'builtin') return q(BUILTIN_BY_JSON_TYPE[t.jsonType!]!);
    if (t.meta === 'array') return `[${ref(t.element!, user)}]`;
    if (r === qEmpty) return q('q_empty');
    return q(names.get(r)!);
  };
  const features = (f: readonly string[]): string => `[${f.map(q).join(', ')}]`;
  const withFeatures = (fields: string, f: readonly string[]): string =>
    f.length ? `${fields}, 'features': ${features(f)}` : fields;
  const members = (ms: readonly Member[], user: string): string =>
    `{${ms
      .map((m) => {
        const key = q((m.optional ? '*' : '') + m.name);
        const type = ref(m.type, `${user} member '${m.name}'`);
        return m.features.length ? `${key}: {'type': ${type}, 'features': ${features(m.features)}}` : `${key}: ${type}`;
      })
      .join(', ')}}`;
  const lines: string[] = [];
  const memberExceptions: string[] = [];
  const returnsExceptions: string[] = [];
  const commandNameExceptions: string[] = [];
  for (const t of order) {
    const name = names.get(t.name)!;
    const label = `type '${t.name}'`;
    if (t.meta === 'enum') {
      if (t.values!.some((v) => needsException(v.name))) memberExceptions.push(name);
      const values = t.values!.map((v) =>
        v.features.length ? `{'name': ${q(v.name)}, 'features': ${features(v.features)}}` : q(v.name),
      );
      lines.push(`{ ${withFeatures(`'enum': ${q(name)}, 'data': [${values.join(', ')}]`, t.features)} }`);
    } else if (t.meta === 'alternate') {
      const keys = new Set<string>();
      const data = t.alternatives!.map((a, k) => {
        const alt = lookup(a, label);
        let key = alt.meta === 'builtin' ? BUILTIN_BY_JSON_TYPE[alt.jsonType!]! : alt.meta;
        if (keys.has(key)) key = `${key}-${k}`;
        keys.add(key);
        return `${q(key)}: ${ref(a, label)}`;
      });
      lines.push(`{ ${withFeatures(`'alternate': ${q(name)}, 'data': {${data.join(', ')}}`, t.features)} }`);
    } else if (t.variants === undefined) {
      if (t.members!.some((m) => needsException(m.name))) memberExceptions.push(name);
      lines.push(`{ ${withFeatures(`'struct': ${q(name)}, 'data': ${members(t.members!, label)}`, t.features)} }`);
    } else {
      if (t.members!.some((m) => needsException(m.name))) memberExceptions.push(name);
      // Branches of the empty object are left out: the frontend adds them back.
      const branches = t.variants
        .filter((v) => v.type !== qEmpty)
        .map((v) => `${q(v.case)}: ${ref(v.type, `${label} branch '${v.case}'`)}`);
      lines.push(
        `{ ${withFeatures(
          `'union': ${q(name)}, 'base': ${members(t.members!, label)}, ` +
            `'discriminator': ${q(t.tag!)}, 'data': {${branches.join(', ')}}`,
          t.features,
        )} }`,
      );
    }
  }
  for (const d of definitions) {
    const label = `${d.meta} '${d.name}'`;
    let fields = `${q(d.meta)}: ${q(d.name)}`;
    if (d.argType !== qEmpty) {
      const arg = lookup(d.argType, label);
      if (arg.meta !== 'object')
        throw new IntrospectionError(
          `${label}: its arguments are ${arg.meta === 'array' ? 'an array' : `of meta-type ${arg.meta}`},` +
            ' not an object',
        );
      if (arg.variants !== undefined) fields += `, 'data': ${ref(d.argType, label)}, 'boxed': true`;
      else if (inlined.has(d.argType)) {
        fields += `, 'data': ${members(arg.members!, label)}`;
      } else fields += `, 'data': ${ref(d.argType, label)}`;
    }
    if (d.retType !== undefined && d.retType !== qEmpty) {
      const ret = lookup(d.retType, label);
      const element = ret.meta === 'array' ? lookup(ret.element!, label) : ret;
      if (element.meta !== 'object') returnsExceptions.push(d.name);
      fields += `, 'returns': ${ref(d.retType, label)}`;
    }
    if (d.allowOob) fields += `, 'allow-oob': true`;
    if (d.meta === 'command' && open.has(d.name)) fields += `, 'gen': false`;
    if (d.meta === 'command' && d.name.includes('_')) commandNameExceptions.push(d.name);
    lines.push(`{ ${withFeatures(fields, d.features)} }`);
  }
  const pragma =
    `{ 'pragma': { 'doc-required': false, 'command-name-exceptions': [${commandNameExceptions.map(q).join(', ')}], ` +
    `'command-returns-exceptions': [${returnsExceptions.map(q).join(', ')}], ` +
    `'member-name-exceptions': [${memberExceptions.map(q).join(', ')}] } }`;
  return { text: `# made by qapi-ts from a query-qmp-schema reply\n${pragma}\n${lines.join('\n')}\n`, names };
}

/**
 * The checked schema (the frontend's model) of a `query-qmp-schema`
 * reply. Throws IntrospectionError for data that is not a reply, and the
 * frontend's QapiError when what it describes breaks QAPI's rules (the
 * message names the command, event or type; its line is one of the made-up
 * text, see introspectionSchemaText).
 */
export async function schemaFromIntrospection(
  data: unknown,
  options: IntrospectionSchemaOptions = {},
): Promise<import('../frontend/schema.js').QapiSchema> {
  const { parseSchemaString } = await import('../frontend/index.js');
  const { text } = introspectionSchemaText(data, options);
  return parseSchemaString(text, INTROSPECTION_FNAME, { lenientDocs: true, onWarning: () => {} });
}
