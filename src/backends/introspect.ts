/**
 * Introspection backend: the value `query-qmp-schema` returns for a
 * schema, computed the way QEMU's generator (scripts/qapi/introspect.py,
 * QEMU 6.2 to 10.x format) and QEMU at run time compute it.
 *
 * - Entries: every command and event in schema order, then every type
 *   reachable from them, in order of first use (a work queue).
 * - Integer types all appear as `int` (arrays of them as `[int]`).
 * - Type names other than built-ins are masked: a number each, in order of
 *   first use (`unmask: true` keeps the names). Arrays are named
 *   `[ELEMENT]` after their (masked) element type.
 * - Commands and events without arguments (commands without a reply) use
 *   the empty object type. `allow-oob` appears only when true. Optional
 *   members have `"default": null`. Enums list `members` (with their
 *   features) and `values`.
 * - A `features` list appears when the schema gives the thing features.
 *
 * `if` conditions: QEMU decides them when it is built, after the names
 * are numbered, so numbering and reachability never depend on them (a
 * type used only by a command that is compiled out is still listed).
 * With `defines`, everything whose condition is false is left out the
 * same way: the entry, member, branch, alternative, enum value or
 * feature, and nothing else. A list emptied that way stays, as an empty
 * list, exactly as in QEMU. Without `defines` every condition holds (the
 * schema as written, like `generate` without `--define`).
 *
 * `inferDefines` goes the other way: from a real QEMU's reply it works out
 * which condition symbols that build had defined.
 */
import type {
  CheckedSchema,
  IfCondition,
  SchemaAlternateType,
  SchemaArrayType,
  SchemaBuiltinType,
  SchemaCommand,
  SchemaEnumType,
  SchemaEvent,
  SchemaFeature,
  SchemaIfCond,
  SchemaObjectType,
  SchemaType,
  SchemaVisitor,
} from '../frontend/model.js';
import { visitEntity } from '../frontend/visitor.js';
import type { SchemaInfo } from '../runtime/introspection.js';
import { evalIfCondition } from './selection.js';

export interface IntrospectionOptions {
  /** Keep type names instead of numbering them (QEMU's `--unmask`). */
  unmask?: boolean;
  /** Defined condition symbols; without them every `if` holds. */
  defines?: readonly string[];
}

/** `query-qmp-schema`'s reply for `schema`. */
export function generateIntrospection(schema: CheckedSchema, options: IntrospectionOptions = {}): SchemaInfo[] {
  const tree = introspectionTree(schema, options.unmask ?? false);
  const defined = options.defines === undefined ? null : new Set(options.defines);
  return resolve(tree, (cond) => defined === null || evalIfCondition(cond, defined)) as SchemaInfo[];
}

// ---------------------------------------------------------------------------
// The tree: JSON with conditional list elements, like QEMU's Annotated.

/** A list element that exists only when `ifcond` holds. */
class Conditional {
  constructor(
    readonly value: Tree,
    readonly ifcond: IfCondition,
  ) {}
}

type Tree = string | boolean | null | Tree[] | { [key: string]: Tree } | Conditional;

function annotate(value: Tree, ifcond: SchemaIfCond): Tree {
  return ifcond.isPresent() && ifcond.ifcond !== null ? new Conditional(value, ifcond.ifcond) : value;
}

/** The plain JSON of `tree`, keeping conditional elements for which `keep` says so. */
function resolve(tree: Tree, keep: (cond: IfCondition) => boolean): unknown {
  if (Array.isArray(tree)) {
    const out: unknown[] = [];
    for (const element of tree) {
      if (!(element instanceof Conditional)) out.push(resolve(element, keep));
      else if (keep(element.ifcond)) out.push(resolve(element.value, keep));
    }
    return out;
  }
  if (tree instanceof Conditional) throw new Error('internal error: a condition outside a list');
  if (typeof tree !== 'object' || tree === null) return tree;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) out[key] = resolve(value, keep);
  return out;
}

/** The introspection tree of `schema`, every conditional part marked. */
function introspectionTree(schema: CheckedSchema, unmask: boolean): Tree[] {
  const builder = new TreeBuilder(schema, unmask);
  schema.visit(builder);
  return builder.entries;
}

/** All integer types look alike on the wire. */
function isInteger(type: SchemaType): boolean {
  return type.meta === 'built-in' && type.jsonType() === 'int';
}

class TreeBuilder implements SchemaVisitor {
  readonly entries: Tree[] = [];
  /** Types to list, in order of first use; grows while it is walked. */
  private readonly used: SchemaType[] = [];
  private readonly usedSet = new Set<SchemaType>();
  private readonly names = new Map<string, string>();

  constructor(
    private readonly schema: CheckedSchema,
    private readonly unmask: boolean,
  ) {}

  private type(name: string): SchemaType {
    const t = this.schema.lookupType(name);
    if (!t) throw new Error(`internal error: no built-in type '${name}'`);
    return t;
  }

  /** First pass: commands and events; types come when used. */
  visitNeeded(entity: { meta: string }): boolean {
    return entity.meta === 'command' || entity.meta === 'event';
  }

  visitEnd(): void {
    for (let i = 0; i < this.used.length; i++) visitEntity(this.used[i] as SchemaType, this);
  }

  private name(name: string): string {
    if (this.unmask) return name;
    let masked = this.names.get(name);
    if (masked === undefined) {
      masked = String(this.names.size);
      this.names.set(name, masked);
    }
    return masked;
  }

  /** Queues `type` (the first time) and returns the name entries use for it. */
  private use(type: SchemaType): string {
    if (isInteger(type)) type = this.type('int');
    else if (type.meta === 'array' && isInteger(type.elementType)) type = this.type('intList');
    if (!this.usedSet.has(type)) {
      this.usedSet.add(type);
      this.used.push(type);
    }
    if (type.meta === 'built-in') return type.name;
    if (type.meta === 'array') return `[${this.use(type.elementType)}]`;
    return this.name(type.name);
  }

  private features(features: readonly SchemaFeature[]): Tree[] {
    return features.map((f) => annotate(f.name, f.ifcond));
  }

  private add(
    entity: { readonly name: string; readonly ifcond: SchemaIfCond; readonly features: readonly SchemaFeature[] },
    meta: SchemaInfo['meta-type'],
    fields: { [key: string]: Tree },
    name = meta === 'command' || meta === 'event' || meta === 'builtin' ? entity.name : this.name(entity.name),
  ): void {
    const info: { [key: string]: Tree } = { name, 'meta-type': meta, ...fields };
    if (entity.features.length > 0) info['features'] = this.features(entity.features);
    this.entries.push(annotate(info, entity.ifcond));
  }

  visitBuiltinType(t: SchemaBuiltinType): void {
    this.add(t, 'builtin', { 'json-type': t.jsonType() });
  }

  visitEnumType(t: SchemaEnumType): void {
    this.add(t, 'enum', {
      members: t.members.map((m) => {
        const member: { [key: string]: Tree } = { name: m.name };
        if (m.features.length > 0) member['features'] = this.features(m.features);
        return annotate(member, m.ifcond);
      }),
      values: t.members.map((m) => annotate(m.name, m.ifcond)),
    });
  }

  visitArrayType(t: SchemaArrayType): void {
    const element = this.use(t.elementType);
    this.add(t, 'array', { 'element-type': element }, `[${element}]`);
  }

  visitObjectType(t: SchemaObjectType): void {
    const fields: { [key: string]: Tree } = {
      members: t.members.map((m) => {
        const member: { [key: string]: Tree } = { name: m.name, type: this.use(m.type) };
        if (m.optional) member['default'] = null;
        if (m.features.length > 0) member['features'] = this.features(m.features);
        return annotate(member, m.ifcond);
      }),
    };
    if (t.branches) {
      fields['tag'] = t.branches.tagMember.name;
      fields['variants'] = t.branches.variants.map((v) => annotate({ case: v.name, type: this.use(v.type) }, v.ifcond));
    }
    this.add(t, 'object', fields);
  }

  visitAlternateType(t: SchemaAlternateType): void {
    this.add(t, 'alternate', {
      members: t.alternatives.variants.map((v) => annotate({ type: this.use(v.type) }, v.ifcond)),
    });
  }

  visitCommand(c: SchemaCommand): void {
    const empty = this.type('q_empty');
    const fields: { [key: string]: Tree } = {
      'arg-type': this.use(c.argType ?? empty),
      'ret-type': this.use(c.retType ?? empty),
    };
    if (c.allowOob) fields['allow-oob'] = true;
    this.add(c, 'command', fields);
  }

  visitEvent(e: SchemaEvent): void {
    this.add(e, 'event', { 'arg-type': this.use(e.argType ?? this.type('q_empty')) });
  }
}

// ---------------------------------------------------------------------------
// Inferring a build's defined symbols from its reply

export interface InferredDefines {
  /** Symbols the build had defined, sorted. */
  defines: string[];
  /** Symbols it had not defined (as far as the reply shows), sorted. */
  undefined: string[];
  /** Conditions the reply contradicts whatever the symbols (e.g. a different schema). */
  contradictions: string[];
}

/**
 * Which condition symbols the QEMU build that answered `reply` (its
 * `query-qmp-schema` return value) had defined, judged from which
 * conditional entries, members, branches, alternatives, enum values and
 * features it lists. Symbols no condition in the reply depends on are in
 * neither list. Needs the same schema the build was made from: names are
 * matched by QEMU's numbering.
 */
export function inferDefines(schema: CheckedSchema, reply: unknown): InferredDefines {
  const observed: [IfCondition, boolean][] = [];
  observe(introspectionTree(schema, false), reply, observed);
  const known = new Map<string, boolean>();
  const contradictions = new Set<string>();
  const set = (symbol: string, value: boolean, cond: IfCondition): boolean => {
    const old = known.get(symbol);
    if (old === undefined) {
      known.set(symbol, value);
      return true;
    }
    if (old !== value) contradictions.add(JSON.stringify(cond));
    return false;
  };
  // Propagate until nothing changes: each pass may settle more symbols.
  for (let changed = true; changed;) {
    changed = false;
    for (const [cond, holds] of observed) changed = deduce(cond, holds, known, (s, v) => set(s, v, cond)) || changed;
  }
  const pick = (value: boolean): string[] =>
    [...known]
      .filter(([, v]) => v === value)
      .map(([s]) => s)
      .sort();
  const defines = pick(true);
  const defined = new Set(defines);
  for (const [cond, holds] of observed) {
    if (evalIfCondition(cond, defined) !== holds) contradictions.add(JSON.stringify(cond));
  }
  return { defines, undefined: pick(false), contradictions: [...contradictions] };
}

/** Settles what `cond === holds` implies; true if a symbol got a value. */
function deduce(
  cond: IfCondition,
  holds: boolean,
  known: ReadonlyMap<string, boolean>,
  set: (symbol: string, value: boolean) => boolean,
): boolean {
  if (typeof cond === 'string') return set(cond, holds);
  if ('not' in cond) return deduce(cond.not, !holds, known, set);
  // all: true → every part true; any: false → every part false. Otherwise
  // (all false, any true) it takes one part that decides: when every other
  // part is known not to, the one still unknown must.
  const [parts, strong] = 'all' in cond ? [cond.all, true] : [cond.any, false];
  if (holds === strong) return parts.map((p) => deduce(p, holds, known, set)).some(Boolean);
  const open = parts.filter((p) => value(p, known) !== strong);
  const only = open[0];
  return open.length === 1 && only !== undefined && value(only, known) === undefined
    ? deduce(only, holds, known, set)
    : false;
}

/** The value of `cond` from the settled symbols, or undefined while unknown. */
function value(cond: IfCondition, known: ReadonlyMap<string, boolean>): boolean | undefined {
  if (typeof cond === 'string') return known.get(cond);
  if ('not' in cond) {
    const v = value(cond.not, known);
    return v === undefined ? undefined : !v;
  }
  const [parts, strong] = 'all' in cond ? [cond.all, true] : [cond.any, false];
  const values = parts.map((p) => value(p, known));
  if (values.includes(!strong)) return !strong;
  return values.includes(undefined) ? undefined : strong;
}

/** How list elements are matched between the tree and a reply. */
function identity(element: unknown): string | undefined {
  if (typeof element === 'string') return element;
  if (typeof element !== 'object' || element === null) return undefined;
  const e = element as Record<string, unknown>;
  const id = e['name'] ?? e['case'] ?? e['type'];
  return typeof id === 'string' ? id : undefined;
}

/** Records, for each conditional element of `tree`, whether `reply` has it. */
function observe(tree: Tree, reply: unknown, out: [IfCondition, boolean][]): void {
  if (Array.isArray(tree)) {
    if (!Array.isArray(reply)) return;
    const byId = new Map<string, unknown>();
    for (const r of reply) {
      const id = identity(r);
      if (id !== undefined) byId.set(id, r);
    }
    for (const element of tree) {
      const inner = element instanceof Conditional ? element.value : element;
      const id = identity(inner);
      const found = id !== undefined && byId.has(id);
      if (element instanceof Conditional) out.push([element.ifcond, found]);
      if (found) observe(inner, byId.get(id as string), out);
    }
    return;
  }
  if (typeof tree !== 'object' || tree === null || tree instanceof Conditional) return;
  if (typeof reply !== 'object' || reply === null) return;
  for (const [key, value] of Object.entries(tree)) observe(value, (reply as Record<string, unknown>)[key], out);
}
