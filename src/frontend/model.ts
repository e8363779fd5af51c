/**
 * The checked schema model, as the backends see it.
 *
 * This file is the contract between the frontend (which builds and checks
 * the model in entities.ts / schema.ts) and every backend (which only reads
 * it through a visitor). It holds interfaces only. The frontend's classes
 * implement them and may carry more; backends must not depend on more.
 *
 * The shapes follow QEMU's scripts/qapi/schema.py closely, with camelCase
 * names, so that anyone who knows QEMU's generator finds their way here.
 */

/** Where something was defined: file, line, include chain, definition. */
export interface SourceLocation {
  /** File name relative to the directory of the main schema file. */
  readonly fname: string;
  /** 1-based line, or null for a whole file. */
  readonly line: number | null;
  /** The `include` directive that brought this file in, if any. */
  readonly parent: SourceLocation | null;
  /** Kind of the definition being checked (`struct`, `command`…), if any. */
  readonly defnMeta: string | null;
  /** Name of that definition, if any. */
  readonly defnName: string | null;
}

/** A parsed `if` condition, exactly as written in the schema. */
export type IfCondition =
  | string
  | { readonly all: readonly IfCondition[] }
  | { readonly any: readonly IfCondition[] }
  | { readonly not: IfCondition };

export interface SchemaIfCond {
  /** The condition, or null when the entity is unconditional. */
  readonly ifcond: IfCondition | null;
  isPresent(): boolean;
}

// ---------------------------------------------------------------------------
// Documentation

export type DocSectionKind =
  | 'Plain'
  /** QEMU 11.1: a definition doc's overview, indented under `@NAME:` (its body). */
  | 'Intro'
  /** QEMU 7.2: `Note:`/`Notes:` and `Example:`/`Examples:` sections. */
  | 'Note'
  | 'Example'
  | 'Member'
  | 'Feature'
  | 'Returns'
  | 'Errors'
  | 'Since'
  | 'Todo';

export interface DocSection {
  readonly kind: DocSectionKind;
  /** QEMU 7.2 only: the section's tag as written ('Notes', 'TODO'…), null when untagged. */
  readonly tag?: string | null;
  /** Text with the comment markers and common indentation removed. */
  readonly text: string;
  readonly info: SourceLocation;
}

/** A member or feature description (`@name: text`). */
export interface DocArgSection extends DocSection {
  readonly kind: 'Member' | 'Feature';
  readonly name: string;
}

export interface SchemaDoc {
  readonly info: SourceLocation;
  /** The documented definition's name, or null for a free-form block. */
  readonly symbol: string | null;
  /** Untagged text before the first tagged section (may be empty). */
  readonly body: DocSection | null;
  /** Member descriptions, in source order, keyed by member name. */
  readonly args: ReadonlyMap<string, DocArgSection>;
  /** Feature descriptions, in source order, keyed by feature name. */
  readonly features: ReadonlyMap<string, DocArgSection>;
  /** Every other section (Returns, Errors, Since, Todo, Plain…) in order. */
  readonly sections: readonly DocSection[];
  /** All sections including body, args and features, in source order. */
  readonly allSections: readonly DocSection[];
}

// ---------------------------------------------------------------------------
// Members

export interface SchemaFeature {
  readonly name: string;
  readonly info: SourceLocation | null;
  readonly ifcond: SchemaIfCond;
  /** `deprecated` and `unstable` have meaning to QEMU itself. */
  isSpecial(): boolean;
}

export interface SchemaEnumMember {
  readonly name: string;
  readonly info: SourceLocation | null;
  readonly ifcond: SchemaIfCond;
  readonly features: readonly SchemaFeature[];
}

export interface SchemaObjectMember {
  readonly name: string;
  readonly info: SourceLocation | null;
  readonly ifcond: SchemaIfCond;
  readonly features: readonly SchemaFeature[];
  readonly type: SchemaType;
  readonly optional: boolean;
  /** Name of the object type that declares the member (a base, maybe). */
  readonly definedIn: string;
}

/** A union branch or alternate alternative. */
export interface SchemaVariant {
  /** Union: the tag value. Alternate: the alternative's name. */
  readonly name: string;
  readonly info: SourceLocation | null;
  readonly ifcond: SchemaIfCond;
  /** Union: always an object type. Alternate: any type. */
  readonly type: SchemaType;
}

export interface SchemaBranches {
  /** The discriminator member (found among the union's base members). */
  readonly tagMember: SchemaObjectMember;
  /** One per branch written in the schema; enum values without a branch
   *  get the empty object type `q_empty`, as QEMU does. */
  readonly variants: readonly SchemaVariant[];
}

export interface SchemaAlternatives {
  /** Implicit member named `type` of the built-in enum `QType`. */
  readonly tagMember: SchemaObjectMember;
  readonly variants: readonly SchemaVariant[];
}

// ---------------------------------------------------------------------------
// Entities

export type EntityMeta =
  'built-in' | 'enum' | 'array' | 'struct' | 'union' | 'alternate' | 'command' | 'event' | 'include';

export interface SchemaEntityBase {
  readonly meta: EntityMeta;
  readonly name: string;
  readonly info: SourceLocation | null;
  readonly doc: SchemaDoc | null;
  readonly ifcond: SchemaIfCond;
  readonly features: readonly SchemaFeature[];
  /** Module (file name relative to the main schema, or `./builtin`). */
  readonly module: string;
  /** True for types QEMU makes up (`q_empty`, `q_obj_…`, array types). */
  isImplicit(): boolean;
}

/** JSON type as QEMU's introspection names it. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'object' | 'array' | 'value';

export interface SchemaBuiltinType extends SchemaEntityBase {
  readonly meta: 'built-in';
  jsonType(): JsonType;
}

export interface SchemaEnumType extends SchemaEntityBase {
  readonly meta: 'enum';
  readonly members: readonly SchemaEnumMember[];
  readonly prefix: string | null;
}

export interface SchemaArrayType extends SchemaEntityBase {
  readonly meta: 'array';
  readonly elementType: SchemaType;
}

export interface SchemaObjectType extends SchemaEntityBase {
  readonly meta: 'struct' | 'union';
  readonly base: SchemaObjectType | null;
  /** Members declared by this type itself. */
  readonly localMembers: readonly SchemaObjectMember[];
  /** All members: the base's (recursively) first, then local ones. */
  readonly members: readonly SchemaObjectMember[];
  /** Present for unions. */
  readonly branches: SchemaBranches | null;
}

export interface SchemaAlternateType extends SchemaEntityBase {
  readonly meta: 'alternate';
  readonly alternatives: SchemaAlternatives;
}

export type SchemaType = SchemaBuiltinType | SchemaEnumType | SchemaArrayType | SchemaObjectType | SchemaAlternateType;

export interface SchemaCommand extends SchemaEntityBase {
  readonly meta: 'command';
  readonly argType: SchemaObjectType | null;
  readonly retType: SchemaType | null;
  readonly gen: boolean;
  readonly successResponse: boolean;
  readonly boxed: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
}

export interface SchemaEvent extends SchemaEntityBase {
  readonly meta: 'event';
  readonly argType: SchemaObjectType | null;
  readonly boxed: boolean;
}

export interface SchemaInclude extends SchemaEntityBase {
  readonly meta: 'include';
}

export type SchemaEntity = SchemaType | SchemaCommand | SchemaEvent | SchemaInclude;

// ---------------------------------------------------------------------------
// Visiting

/**
 * A backend. Every method is optional; `visitNeeded` filters entities
 * (default: all). Modules are visited in order (`./builtin` first, then each
 * file in the order first seen), each module's entities in definition order.
 */
export interface SchemaVisitor {
  visitBegin?(schema: CheckedSchema): void;
  visitEnd?(): void;
  visitModule?(name: string): void;
  visitNeeded?(entity: SchemaEntity): boolean;
  visitInclude?(entity: SchemaInclude): void;
  visitBuiltinType?(entity: SchemaBuiltinType): void;
  visitEnumType?(entity: SchemaEnumType): void;
  visitArrayType?(entity: SchemaArrayType): void;
  visitObjectType?(entity: SchemaObjectType): void;
  visitAlternateType?(entity: SchemaAlternateType): void;
  visitCommand?(entity: SchemaCommand): void;
  visitEvent?(entity: SchemaEvent): void;
}

export interface CheckedSchema {
  /** Path of the main schema file as given. */
  readonly fname: string;
  /** All entities, built-ins and implicit types included, in order. */
  readonly entities: readonly SchemaEntity[];
  /** Module names in visiting order. */
  readonly modules: readonly string[];
  /** Doc comments in source order (free-form ones included). */
  readonly docs: readonly SchemaDoc[];
  lookupEntity(name: string): SchemaEntity | undefined;
  lookupType(name: string): SchemaType | undefined;
  visit(visitor: SchemaVisitor): void;
}

/** Options every frontend entry point takes. */
export interface FrontendOptions {
  /** Turn doc-comment problems into warnings (and keep building). */
  lenientDocs?: boolean;
  /** Receives warnings (lenient doc problems), already formatted. */
  onWarning?: (message: string) => void;
  /** The QEMU release whose rules apply ('MAJOR.MINOR'; default: the newest known, see release.ts). */
  qemuVersion?: string;
}
