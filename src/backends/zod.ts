/**
 * Validator definitions: each module gets a `define(r, v)` function that
 * registers one builder per type with the registry `r`, using the kit `v`
 * (strict or compatible). Types refer to each other by name through
 * `r.ref` / `r.thunk`, so recursion and module import order do not matter.
 */
import type {
  SchemaAlternateType,
  SchemaArrayType,
  SchemaEnumType,
  SchemaObjectType,
  SchemaType,
} from '../frontend/model.js';
import type { AlternateKind } from '../support/kit.js';
import type { GenContext } from './context.js';
import { propertyKey, quote } from './names.js';
import { tagKept } from './types.js';

function shape(ctx: GenContext, t: SchemaObjectType): string {
  const parts: string[] = [];
  for (const m of t.members) {
    if (!ctx.selection.member(m)) continue;
    const schema = ctx.validatorRef(m.type);
    parts.push(`${propertyKey(m.name)}: ${m.optional ? `v.optional(${schema})` : schema}`);
  }
  return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
}

/** The JSON kind an alternate dispatches on for a branch of type `t`. */
export function alternateKind(t: SchemaType): AlternateKind {
  switch (t.meta) {
    case 'built-in': {
      const json = t.jsonType();
      // 'value' (any) cannot be an alternative.
      return json === 'int' ? 'number' : (json as AlternateKind);
    }
    case 'enum':
      return 'string';
    case 'array':
      return 'array';
    default:
      return 'object';
  }
}

/** A function yielding the validator of `t` (for branches, looked up late). */
function thunk(ctx: GenContext, t: SchemaType): string {
  const named = t.meta !== 'built-in' && t.meta !== 'array' && ctx.selection.entity(t);
  return named ? `r.thunk(${quote(t.name)})` : `() => ${ctx.validatorRef(t)}`;
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
  const values = t.members.filter((m) => ctx.selection.member(m)).map((m) => quote(m.name));
  return `v.enum([${values.join(', ')}])`;
}

function arrayBuilder(ctx: GenContext, t: SchemaArrayType): string {
  return `v.array(${ctx.validatorRef(t.elementType)})`;
}

function objectBuilder(ctx: GenContext, t: SchemaObjectType): string {
  if (t.branches === null) return `v.object(${shape(ctx, t)})`;
  const branches: string[] = [];
  for (const variant of t.branches.variants) {
    if (!ctx.selection.variant(variant) || !tagKept(ctx, t, variant.name)) continue;
    const value = variant.type.name === 'q_empty' ? 'null' : thunk(ctx, variant.type);
    branches.push(`${propertyKey(variant.name)}: ${value}`);
  }
  return `v.union(${quote(t.branches.tagMember.name)}, ${shape(ctx, t)}, { ${branches.join(', ')} })`;
}

function alternateBuilder(ctx: GenContext, t: SchemaAlternateType): string {
  const branches = t.alternatives.variants
    .filter((variant) => ctx.selection.variant(variant))
    .map((variant) => `${alternateKind(variant.type)}: ${thunk(ctx, variant.type)}`);
  return `v.alternate({ ${branches.join(', ')} })`;
}
