/**
 * Walking a checked schema with a SchemaVisitor (model.ts): modules in
 * order, each module's entities in definition order, filtered by
 * `visitNeeded`, each dispatched to the method for its kind.
 */
import type { CheckedSchema, SchemaEntity, SchemaVisitor } from './model.js';

/** A checked schema whose entities are already sorted into modules. */
export interface ModularSchema extends CheckedSchema {
  moduleList(): readonly { readonly name: string; readonly entities: readonly SchemaEntity[] }[];
}

/** Calls the visitor method for `entity`'s kind, if the visitor has one. */
export function visitEntity(entity: SchemaEntity, visitor: SchemaVisitor): void {
  switch (entity.meta) {
    case 'include':
      visitor.visitInclude?.(entity);
      break;
    case 'built-in':
      visitor.visitBuiltinType?.(entity);
      break;
    case 'enum':
      visitor.visitEnumType?.(entity);
      break;
    case 'array':
      visitor.visitArrayType?.(entity);
      break;
    case 'struct':
    case 'union':
      visitor.visitObjectType?.(entity);
      break;
    case 'alternate':
      visitor.visitAlternateType?.(entity);
      break;
    case 'command':
      visitor.visitCommand?.(entity);
      break;
    case 'event':
      visitor.visitEvent?.(entity);
      break;
  }
}

/** Visits the whole schema: begin, every module, end. */
export function visitSchema(schema: ModularSchema, visitor: SchemaVisitor): void {
  visitor.visitBegin?.(schema);
  for (const mod of schema.moduleList()) {
    visitor.visitModule?.(mod.name);
    for (const entity of mod.entities) {
      if (visitor.visitNeeded?.(entity) ?? true) visitEntity(entity, visitor);
    }
  }
  visitor.visitEnd?.();
}

/**
 * Entities of one kind, in visiting order (modules in order), without the
 * bookkeeping of a visitor: `entitiesOfKind(schema, 'command')`.
 */
export function entitiesOfKind<M extends SchemaEntity['meta']>(
  schema: ModularSchema,
  ...metas: M[]
): Extract<SchemaEntity, { meta: M }>[] {
  const wanted = new Set<string>(metas);
  const out: Extract<SchemaEntity, { meta: M }>[] = [];
  for (const mod of schema.moduleList()) {
    for (const e of mod.entities) {
      if (wanted.has(e.meta)) out.push(e as Extract<SchemaEntity, { meta: M }>);
    }
  }
  return out;
}
