/**
 * Validator definitions: each module gets a `define(r, v)` function that
 * registers one builder per type with the registry `r`, using the kit `v`
 * (strict or compatible). Types refer to each other by name through
 * `r.ref` / `r.thunk`, so recursion and module import order do not matter.
 */
import type {
  SchemaAlternateType,
  SchemaArrayType,
  SchemaBuiltinType,
  SchemaCommand,
  SchemaEnumType,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaType,
} from '../frontend/model.js';
import { alternateKind } from './compat.js';
import type { GenContext } from './context.js';
import { propertyKey, quote } from './names.js';
import { tagKept } from './types.js';

/**
 * Validator expression for a member of type `t` (in a define function).
 * `widen`: an enum accepts any string (the oldest release sent strings).
 */
export function validatorRef(ctx: GenContext, t: SchemaType, widen = false): string {
  switch (t.meta) {
    case 'built-in':
      return builtinValidator(t);
    case 'array':
      return `v.array(${validatorRef(ctx, t.elementType, widen)})`;
    default:
      if (widen && t.meta === 'enum') return 'v.str';
      return ctx.selection.entity(t) ? `r.ref(${quote(t.name)})` : 'v.any';
  }
}

function builtinValidator(t: SchemaBuiltinType): string {
  switch (t.name) {
    case 'str':
    case 'bool':
    case 'number':
    case 'null':
    case 'any':
      return `v.${t.name}`;
    case 'int':
      return "v.int('int64')";
    case 'size':
      return "v.int('uint64')";
    default:
      return /^u?int\d+$/.test(t.name) ? `v.int('${t.name}')` : 'v.any';
  }
}

/** `name: validator` of one member; optional when it may be absent. */
function memberEntry(ctx: GenContext, m: SchemaObjectMember, optional: boolean): string {
  const schema = validatorRef(ctx, m.type, ctx.presence.widened(m));
  return `${propertyKey(m.name)}: ${optional ? `v.optional(${schema})` : schema}`;
}

function objectShape(parts: readonly string[]): string {
  return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
}

function shape(ctx: GenContext, t: SchemaObjectType): string {
  const parts: string[] = [];
  for (const m of ctx.kept(t.members)) parts.push(memberEntry(ctx, m, ctx.presence.optional(m)));
  // Members only the oldest supported release sends: let through, unchecked.
  for (const name of ctx.presence.removedMembers(t)) parts.push(`${propertyKey(name)}: v.optional(v.any)`);
  return objectShape(parts);
}

/** A function yielding the validator of `t` (for branches, looked up late). */
function thunk(ctx: GenContext, t: SchemaType): string {
  const named = t.meta !== 'built-in' && t.meta !== 'array' && ctx.selection.entity(t);
  return named ? `r.thunk(${quote(t.name)})` : `() => ${validatorRef(ctx, t)}`;
}

/** The `r.def(...)` statement for one type, or '' when it has none. */
export function validatorDefinition(ctx: GenContext, t: SchemaType): string {
  const build = builder(ctx, t);
  return build === null ? '' : `  r.def(${quote(t.name)}, () => ${build});\n`;
}

function builder(ctx: GenContext, t: SchemaType): string | null {
  switch (t.meta) {
    case 'enum':
      return enumBuilder(ctx, t);
    case 'array':
      return arrayBuilder(ctx, t);
    case 'struct':
    case 'union':
      return objectBuilder(ctx, t);
    case 'alternate':
      return alternateBuilder(ctx, t);
    default:
      return null;
  }
}

function enumBuilder(ctx: GenContext, t: SchemaEnumType): string {
  const values = ctx.kept(t.members).map((m) => m.name);
  // Values only the oldest supported release has are accepted too.
  return `v.enum([${[...values, ...ctx.presence.removedValues(t)].map(quote).join(', ')}])`;
}

function arrayBuilder(ctx: GenContext, t: SchemaArrayType): string {
  return `v.array(${validatorRef(ctx, t.elementType)})`;
}

function objectBuilder(ctx: GenContext, t: SchemaObjectType): string {
  if (t.branches === null) return `v.${ctx.openArguments(t) ? 'open' : 'object'}(${shape(ctx, t)})`;
  const branches: string[] = [];
  for (const variant of t.branches.variants) {
    if (!ctx.selection.variant(variant) || !tagKept(ctx, t, variant.name)) continue;
    const value = variant.type.name === 'q_empty' ? 'null' : thunk(ctx, variant.type);
    branches.push(`${propertyKey(variant.name)}: ${value}`);
  }
  // What the oldest supported release sends differently.
  const older: string[] = [];
  const untagged = ctx.presence.untagged(t);
  if (untagged) older.push(`untagged: ${objectShape(untagged.map((u) => memberEntry(ctx, u.member, u.optional)))}`);
  if (ctx.presence.widened(t.branches.tagMember)) older.push('anyTag: true');
  const tail = older.length > 0 ? `, { ${older.join(', ')} }` : '';
  return `v.union(${quote(t.branches.tagMember.name)}, ${shape(ctx, t)}, { ${branches.join(', ')} }${tail})`;
}

/**
 * The open argument validator of a `'gen': false` command whose arguments
 * are a named struct, or '' (see GenContext.openArgumentsName).
 */
export function openArgumentsDefinition(ctx: GenContext, c: SchemaCommand): string {
  const name = ctx.openArgumentsName(c);
  return name === null || c.argType === null
    ? ''
    : `  r.def(${quote(name)}, () => v.open(${shape(ctx, c.argType)}));\n`;
}

function alternateBuilder(ctx: GenContext, t: SchemaAlternateType): string {
  const branches = t.alternatives.variants
    .filter((variant) => ctx.selection.variant(variant))
    .map((variant) => `${alternateKind(variant.type)}: ${thunk(ctx, variant.type)}`);
  return `v.alternate({ ${branches.join(', ')} })`;
}
