/**
 * The entities of a checked schema: types, commands, events, includes, and
 * the members, branches and features inside them.
 *
 * Entities are built from normalised expressions (schema.ts), then checked
 * once all of them exist: `check()` resolves type names, detects clashes and
 * fills in what depends on other entities (a union's implicit branches, an
 * object's full member list). Only after that are they handed to backends,
 * which see them through the interfaces of model.ts.
 *
 * Error messages are part of our observable behaviour: they match QEMU's
 * generator word for word.
 */
import { QapiSemError } from './errors.js';
import type {
  EntityMeta,
  IfCondition,
  JsonType,
  SchemaAlternateType,
  SchemaAlternatives,
  SchemaArrayType,
  SchemaBranches,
  SchemaBuiltinType,
  SchemaCommand,
  SchemaEnumMember,
  SchemaEnumType,
  SchemaEvent,
  SchemaFeature,
  SchemaIfCond,
  SchemaInclude,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaVariant,
} from './model.js';
import type { QapiDoc } from './doc.js';
import type { SourceInfo } from './source.js';

// ---------------------------------------------------------------------------
// What entities need from the schema while checking

/** How to name the thing that refers to an unknown type, for the error. */
export type UseDescription = string | ((info: SourceInfo) => string) | null;

/** The part of the schema that `check()` uses. */
export interface TypeResolver {
  /** QEMU 7.2's rules: conditional arguments need no 'boxed' (see release.ts). */
  readonly legacyExprs?: boolean;
  lookupType(name: string): TypeEntity | undefined;
  /** The type called `name`, or an error "WHAT uses unknown type 'NAME'". */
  resolveType(name: string, info: SourceInfo | null, what: UseDescription): TypeEntity;
}

// ---------------------------------------------------------------------------
// C names: clashes are judged on the C identifier a name maps to

const RESERVED_C_WORDS = new Set([
  // C89
  'auto',
  'break',
  'case',
  'char',
  'const',
  'continue',
  'default',
  'do',
  'double',
  'else',
  'enum',
  'extern',
  'float',
  'for',
  'goto',
  'if',
  'int',
  'long',
  'register',
  'return',
  'short',
  'signed',
  'sizeof',
  'static',
  'struct',
  'switch',
  'typedef',
  'union',
  'unsigned',
  'void',
  'volatile',
  'while',
  // C99, C11
  'inline',
  'restrict',
  '_Bool',
  '_Complex',
  '_Imaginary',
  '_Alignas',
  '_Alignof',
  '_Atomic',
  '_Generic',
  '_Noreturn',
  '_Static_assert',
  '_Thread_local',
  // GCC extensions
  'asm',
  'typeof',
  // C++
  'bool',
  'catch',
  'class',
  'const_cast',
  'delete',
  'dynamic_cast',
  'explicit',
  'false',
  'friend',
  'mutable',
  'namespace',
  'new',
  'operator',
  'private',
  'protected',
  'public',
  'reinterpret_cast',
  'static_cast',
  'template',
  'this',
  'throw',
  'true',
  'try',
  'typeid',
  'typename',
  'using',
  'virtual',
  'wchar_t',
  'and',
  'and_eq',
  'bitand',
  'bitor',
  'compl',
  'not',
  'not_eq',
  'or',
  'or_eq',
  'xor',
  'xor_eq',
  // macros predefined by common compilers
  'unix',
  'errno',
  'mips',
  'sparc',
  'i386',
  'linux',
]);

/**
 * The C identifier QEMU derives from a QAPI name: every character outside
 * `[A-Za-z0-9_]` becomes `_`; with `protect`, keywords and names starting
 * with a digit get a `q_` prefix.
 */
export function cName(name: string, protect = true): string {
  let mapped = '';
  let from = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
    if (!ok) {
      mapped += name.slice(from, i) + '_';
      // one '_' per code point, as Python counts characters
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < name.length) i++;
      from = i + 1;
    }
  }
  mapped = from === 0 ? name : mapped + name.slice(from);
  if (protect) {
    const first = mapped.charCodeAt(0);
    if (RESERVED_C_WORDS.has(mapped) || (first >= 48 && first <= 57)) return 'q_' + mapped;
  }
  return mapped;
}

/** Protected C names, memoised: the same member names recur throughout. */
const clashKeys = new Map<string, string>();

function clashKey(name: string): string {
  let key = clashKeys.get(name);
  if (key === undefined) {
    key = cName(name);
    clashKeys.set(name, key);
  }
  return key;
}

// ---------------------------------------------------------------------------
// Conditions

export class IfCond implements SchemaIfCond {
  constructor(readonly ifcond: IfCondition | null = null) {}

  isPresent(): boolean {
    return this.ifcond !== null && this.ifcond !== '';
  }
}

/** The condition of everything without an `if`; shared, never changed. */
export const UNCONDITIONAL = new IfCond();

// ---------------------------------------------------------------------------
// Members: object members, enum values, features, branches

type MemberRole = 'member' | 'value' | 'feature' | 'branch';

export abstract class Member {
  abstract readonly role: MemberRole;
  /** Name of the definition declaring this member; set once, at creation. */
  definedIn = '';

  constructor(
    readonly name: string,
    readonly info: SourceInfo | null,
    readonly ifcond: IfCond = UNCONDITIONAL,
  ) {}

  setDefinedIn(name: string): void {
    this.definedIn = name;
  }

  /**
   * Adds this member to `seen` (keyed by C name), or reports that it clashes
   * with one already there. Errors are reported at `info`, the definition
   * being checked, which need not be the one declaring the member.
   */
  checkClash(info: SourceInfo | null, seen: Map<string, Member>): void {
    const cname = clashKey(this.name);
    const other = seen.get(cname);
    if (other) {
      throw new QapiSemError(info, `${this.describe(info)} collides with ${other.describe(info)}`);
    }
    seen.set(cname, this);
  }

  connectDoc(doc: QapiDoc | null): void {
    doc?.connectMember(this);
  }

  /**
   * "member 'x'" when `info` is the declaring definition, else
   * "member 'x' of type 'T'"; implicit argument and base types are
   * described as what they stand for (a command's parameters, a base).
   */
  describe(info: SourceInfo | null): string {
    let role: string = this.role;
    let meta = 'type';
    let definedIn = this.definedIn;
    if (definedIn.startsWith('q_obj_') && definedIn.endsWith('-arg')) {
      role = 'parameter';
      meta = 'command';
      definedIn = definedIn.slice('q_obj_'.length, -'-arg'.length);
    } else if (definedIn.startsWith('q_obj_') && definedIn.endsWith('-base')) {
      role = 'base ' + role;
      definedIn = definedIn.slice('q_obj_'.length, -'-base'.length);
    }
    if (definedIn !== info?.defnName) {
      return `${role} '${this.name}' of ${meta} '${definedIn}'`;
    }
    return `${role} '${this.name}'`;
  }
}

/** Features QEMU itself gives meaning to. */
export const SPECIAL_FEATURES: readonly string[] = ['deprecated', 'unstable'];

export class Feature extends Member implements SchemaFeature {
  readonly role = 'feature';

  isSpecial(): boolean {
    return SPECIAL_FEATURES.includes(this.name);
  }
}

/** Checks that no two features of one owner map to the same C name. */
function checkFeatureClashes(features: readonly Feature[], info: SourceInfo | null): void {
  if (features.length < 2) return; // nothing to clash with
  const seen = new Map<string, Member>();
  for (const f of features) f.checkClash(info, seen);
}

function connectFeatureDocs(features: readonly Feature[], doc: QapiDoc | null): void {
  if (doc) for (const f of features) doc.connectFeature(f);
}

export class EnumMember extends Member implements SchemaEnumMember {
  readonly role = 'value';

  constructor(
    name: string,
    info: SourceInfo | null,
    ifcond: IfCond = UNCONDITIONAL,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }

  override connectDoc(doc: QapiDoc | null): void {
    super.connectDoc(doc);
    connectFeatureDocs(this.features, doc);
  }
}

export class ObjectMember extends Member implements SchemaObjectMember {
  readonly role: 'member' | 'branch' = 'member';
  /** Resolved by check(). */
  type!: TypeEntity;

  constructor(
    name: string,
    info: SourceInfo | null,
    /** Name of the member's type, resolved by check(). */
    readonly typeName: string,
    readonly optional: boolean,
    ifcond: IfCond = UNCONDITIONAL,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }

  check(schema: TypeResolver): void {
    this.type = schema.resolveType(this.typeName, this.info, (info) => this.describe(info));
    checkFeatureClashes(this.features, this.info);
  }

  override connectDoc(doc: QapiDoc | null): void {
    super.connectDoc(doc);
    connectFeatureDocs(this.features, doc);
  }
}

/** A union branch or an alternate's alternative. */
export class Variant extends ObjectMember implements SchemaVariant {
  override readonly role = 'branch';

  constructor(name: string, info: SourceInfo | null, typeName: string, ifcond: IfCond) {
    super(name, info, typeName, false, ifcond);
  }
}

// ---------------------------------------------------------------------------
// Modules and the entity base classes

/** One schema file (or `./builtin`) and the entities defined in it. */
export class Module {
  static readonly BUILTIN = './builtin';
  readonly entities: AnyEntity[] = [];

  constructor(readonly name: string) {}

  /** System modules (built-ins) have names starting with `./`. */
  static isSystemModule(name: string): boolean {
    return name.startsWith('./');
  }
}

/** What an entity needs from the schema when it settles into a module. */
export interface ModuleRegistry {
  moduleByFname(fname: string): Module;
}

export abstract class Entity {
  abstract readonly meta: EntityMeta;
  abstract readonly name: string;
  protected checked = false;
  private moduleRef: Module | null = null;

  constructor(
    /**
     * Explicit definitions: where they are defined. Built-ins: null.
     * Implicit types: the first place that needed them.
     */
    readonly info: SourceInfo | null,
  ) {}

  /** Name of the module this entity is visited in. */
  get module(): string {
    if (!this.moduleRef) throw new Error(`internal error: ${this.name} has no module yet`);
    return this.moduleRef.name;
  }

  check(_schema: TypeResolver): void {
    this.checked = true;
  }

  connectDoc(_doc?: QapiDoc | null): void {}

  /** Places the entity in the module of the file it comes from. */
  setModule(registry: ModuleRegistry): void {
    this.placeIn(registry, this.info);
  }

  protected placeIn(registry: ModuleRegistry, info: SourceInfo | null): void {
    this.moduleRef = registry.moduleByFname(info ? info.fname : Module.BUILTIN);
    this.moduleRef.entities.push(this as unknown as AnyEntity);
  }
}

export abstract class Definition extends Entity {
  readonly features: readonly Feature[];
  protected readonly ownIfcond: IfCond;

  constructor(
    readonly name: string,
    info: SourceInfo | null,
    readonly doc: QapiDoc | null,
    ifcond: IfCond | null = null,
    features: readonly Feature[] = [],
  ) {
    super(info);
    for (const f of features) f.setDefinedIn(name);
    this.ownIfcond = ifcond ?? UNCONDITIONAL;
    this.features = features;
  }

  get ifcond(): IfCond {
    return this.ownIfcond;
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    checkFeatureClashes(this.features, this.info);
  }

  override connectDoc(doc?: QapiDoc | null): void {
    connectFeatureDocs(this.features, doc ?? this.doc);
  }

  isImplicit(): boolean {
    return this.info === null;
  }

  describe(): string {
    return `${this.meta} '${this.name}'`;
  }
}

// ---------------------------------------------------------------------------
// Types

export type TypeEntity = BuiltinType | EnumType | ArrayType | ObjectType | AlternateType;

const QTYPE_OF_JSON_TYPE: Partial<Record<JsonType, string>> = {
  null: 'QTYPE_QNULL',
  string: 'QTYPE_QSTRING',
  number: 'QTYPE_QNUM',
  int: 'QTYPE_QNUM',
  boolean: 'QTYPE_QBOOL',
  array: 'QTYPE_QLIST',
  object: 'QTYPE_QDICT',
};

abstract class TypeBase extends Definition {
  abstract jsonType(): JsonType;

  /** The QType an alternate uses to tell this type apart, if any. */
  alternateQtype(): string | undefined {
    return QTYPE_OF_JSON_TYPE[this.jsonType()];
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    for (const f of this.features) {
      if (f.isSpecial()) {
        throw new QapiSemError(this.info, `feature '${f.name}' is not supported for types`);
      }
    }
  }

  override describe(): string {
    return `${this.meta} type '${this.name}'`;
  }
}

export class BuiltinType extends TypeBase implements SchemaBuiltinType {
  readonly meta = 'built-in';

  constructor(
    name: string,
    private readonly json: JsonType,
  ) {
    super(name, null, null);
  }

  jsonType(): JsonType {
    return this.json;
  }
}

export class EnumType extends TypeBase implements SchemaEnumType {
  readonly meta = 'enum';

  constructor(
    name: string,
    info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly members: readonly EnumMember[],
    readonly prefix: string | null,
  ) {
    super(name, info, doc, ifcond, features);
    for (const m of members) m.setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    const seen = new Map<string, Member>();
    for (const m of this.members) m.checkClash(this.info, seen);
  }

  override connectDoc(doc?: QapiDoc | null): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    for (const m of this.members) m.connectDoc(d);
  }

  /** `QType` is made up by the generator, like implicit object types. */
  override isImplicit(): boolean {
    return this.name === 'QType';
  }

  jsonType(): JsonType {
    return 'string';
  }

  hasMember(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }
}

export class ArrayType extends TypeBase implements SchemaArrayType {
  readonly meta = 'array';
  /** Resolved by check(). */
  elementType!: TypeEntity;

  constructor(
    name: string,
    info: SourceInfo | null,
    readonly elementTypeName: string,
  ) {
    super(name, info, null);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.elementType = schema.resolveType(this.elementTypeName, this.info, this.info ? this.info.defnMeta : null);
    // QEMU's generator stops on an assertion here; we say why instead.
    if (this.elementType instanceof ArrayType) {
      throw new QapiSemError(this.info, `arrays of arrays are not supported: ['${this.elementTypeName}']`);
    }
  }

  /** Arrays live in the module of their element type. */
  override setModule(registry: ModuleRegistry): void {
    this.placeIn(registry, this.elementType.info);
  }

  /** An array exists exactly when its element type does. */
  override get ifcond(): IfCond {
    return this.elementType.ifcond;
  }

  override isImplicit(): boolean {
    return true;
  }

  jsonType(): JsonType {
    return 'array';
  }

  override describe(): string {
    return `${this.meta} type ['${this.elementTypeName}']`;
  }
}

export class ObjectType extends TypeBase implements SchemaObjectType {
  readonly meta: 'struct' | 'union';
  base: ObjectType | null = null;
  /** Base members (recursively) then local ones; set by check(). */
  members!: readonly ObjectMember[];
  private checkComplete = false;

  constructor(
    name: string,
    info: SourceInfo | null,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    /** Name of the base type, resolved by check(). */
    readonly baseName: string | null,
    readonly localMembers: readonly ObjectMember[],
    readonly branches: Branches | null,
  ) {
    super(name, info, doc, ifcond, features);
    this.meta = branches ? 'union' : 'struct';
    for (const m of localMembers) m.setDefinedIn(name);
    branches?.setDefinedIn(name);
  }

  /**
   * Checks this type and, first, every type whose members it contains
   * directly (its base, a union's branches). Checking a type again after
   * completion does nothing; re-entering an unfinished check means the type
   * contains itself.
   */
  override check(schema: TypeResolver): void {
    if (this.checkComplete) return;
    if (this.checked) {
      throw new QapiSemError(this.info, `object ${this.name} contains itself`);
    }
    super.check(schema);

    const seen = new Map<string, Member>();
    if (this.baseName) {
      const base = schema.resolveType(this.baseName, this.info, "'base'");
      if (!(base instanceof ObjectType) || base.branches) {
        throw new QapiSemError(this.info, `'base' requires a struct type, ${base.describe()} isn't`);
      }
      this.base = base;
      base.check(schema);
      base.checkClash(this.info, seen);
    }
    for (const m of this.localMembers) {
      m.check(schema);
      m.checkClash(this.info, seen);
    }
    const members = [...seen.values()] as ObjectMember[];
    if (this.branches) {
      this.branches.check(schema, seen);
      this.branches.checkClash(this.info, seen);
    }
    this.members = members;
    this.checkComplete = true;
  }

  /**
   * Adds this type's members (all branches' members too, each against its
   * own copy) to `seen`, reporting clashes at `info`.
   */
  checkClash(info: SourceInfo | null, seen: Map<string, Member>): void {
    for (const m of this.members) m.checkClash(info, seen);
    this.branches?.checkClash(info, seen);
  }

  override connectDoc(doc?: QapiDoc | null): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (this.base && this.base.isImplicit()) this.base.connectDoc(d);
    for (const m of this.localMembers) m.connectDoc(d);
  }

  /** Implicit object types (`q_empty`, `q_obj_…`) have names starting `q_`. */
  override isImplicit(): boolean {
    return this.name.startsWith('q_');
  }

  isEmpty(): boolean {
    return this.members.length === 0 && !this.branches;
  }

  hasConditionalMembers(): boolean {
    return this.members.some((m) => m.ifcond.isPresent());
  }

  jsonType(): JsonType {
    return 'object';
  }
}

export class AlternateType extends TypeBase implements SchemaAlternateType {
  readonly meta = 'alternate';

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    readonly alternatives: Alternatives,
  ) {
    super(name, info, doc, ifcond, features);
    alternatives.setDefinedIn(name);
    alternatives.tagMember.setDefinedIn(name);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    this.alternatives.tagMember.check(schema);
    this.alternatives.check(schema);
    // Alternative names are free-form, so their clashes are checked here,
    // as is whether each alternative can be told apart on the wire.
    const seen = new Map<string, Member>();
    const typesSeen = new Map<string, string>();
    for (const v of this.alternatives.variants) {
      v.checkClash(this.info, seen);
      const qtype = v.type.alternateQtype();
      if (!qtype) {
        throw new QapiSemError(this.info, `${v.describe(this.info)} cannot use ${v.type.describe()}`);
      }
      const conflicting = new Set([qtype]);
      if (qtype === 'QTYPE_QSTRING') {
        if (v.type instanceof EnumType) {
          for (const m of v.type.members) {
            if (m.name === 'on' || m.name === 'off') conflicting.add('QTYPE_QBOOL');
            if (/^[-+0-9.]/.test(m.name)) conflicting.add('QTYPE_QNUM');
          }
        } else {
          conflicting.add('QTYPE_QNUM');
          conflicting.add('QTYPE_QBOOL');
        }
      }
      for (const qt of conflicting) {
        const other = typesSeen.get(qt);
        if (other !== undefined) {
          throw new QapiSemError(this.info, `${v.describe(this.info)} can't be distinguished from '${other}'`);
        }
        typesSeen.set(qt, v.name);
      }
    }
  }

  override connectDoc(doc?: QapiDoc | null): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    for (const v of this.alternatives.variants) v.connectDoc(d);
  }

  jsonType(): JsonType {
    return 'value';
  }
}

// ---------------------------------------------------------------------------
// Union branches and alternatives

abstract class VariantList {
  constructor(
    readonly info: SourceInfo,
    readonly variants: Variant[],
  ) {}

  setDefinedIn(name: string): void {
    for (const v of this.variants) v.setDefinedIn(name);
  }
}

export class Branches extends VariantList implements SchemaBranches {
  /** Found among the base's members by check(). */
  tagMember!: ObjectMember;

  constructor(
    info: SourceInfo,
    variants: Variant[],
    /** The discriminator's name. */
    readonly tagName: string,
  ) {
    super(info, variants);
  }

  /**
   * Finds the discriminator in `seen` (the union's base members), adds a
   * branch of type `q_empty` for every enum value without one, and checks
   * every branch.
   */
  check(schema: TypeResolver, seen: ReadonlyMap<string, Member>): void {
    const tag = seen.get(clashKey(this.tagName));
    if (!(tag instanceof ObjectMember) || tag.name !== this.tagName) {
      throw new QapiSemError(this.info, `discriminator '${this.tagName}' is not a member of 'base'`);
    }
    this.tagMember = tag;
    const baseType = schema.lookupType(tag.definedIn);
    const base = baseType && !baseType.isImplicit() ? `base type '${tag.definedIn}'` : "'base'";
    const tagType = tag.type;
    if (!(tagType instanceof EnumType)) {
      throw new QapiSemError(this.info, `discriminator member '${this.tagName}' of ${base} must be of enum type`);
    }
    if (tag.optional) {
      throw new QapiSemError(this.info, `discriminator member '${this.tagName}' of ${base} must not be optional`);
    }
    if (tag.ifcond.isPresent()) {
      throw new QapiSemError(this.info, `discriminator member '${this.tagName}' of ${base} must not be conditional`);
    }
    const cases = new Set(this.variants.map((v) => v.name));
    for (const m of tagType.members) {
      if (!cases.has(m.name)) {
        const v = new Variant(m.name, this.info, 'q_empty', m.ifcond);
        v.setDefinedIn(tag.definedIn);
        this.variants.push(v);
      }
    }
    if (this.variants.length === 0) {
      throw new QapiSemError(this.info, 'union has no branches');
    }
    const values = new Set(tagType.members.map((m) => m.name));
    for (const v of this.variants) {
      v.check(schema);
      if (!values.has(v.name)) {
        throw new QapiSemError(this.info, `branch '${v.name}' is not a value of ${tagType.describe()}`);
      }
      if (!(v.type instanceof ObjectType)) {
        throw new QapiSemError(this.info, `${v.describe(this.info)} cannot use ${v.type.describe()}`);
      }
      v.type.check(schema);
    }
  }

  /** Each branch is checked against its own copy of `seen`. */
  checkClash(info: SourceInfo | null, seen: ReadonlyMap<string, Member>): void {
    for (const v of this.variants) {
      // check() made sure every branch type is an object type
      (v.type as ObjectType).checkClash(info, new Map(seen));
    }
  }
}

export class Alternatives extends VariantList implements SchemaAlternatives {
  constructor(
    info: SourceInfo,
    variants: Variant[],
    /** The implicit `type` member of enum type `QType`. */
    readonly tagMember: ObjectMember,
  ) {
    super(info, variants);
  }

  check(schema: TypeResolver): void {
    for (const v of this.variants) v.check(schema);
  }
}

// ---------------------------------------------------------------------------
// Commands, events, includes

/**
 * What commands and events have in common: arguments (`data`), given as a
 * named object type or as members (an implicit `q_obj_NAME-arg` type), and
 * `boxed`, which passes them as one object.
 */
abstract class ArgsDefinition extends Definition {
  abstract override readonly meta: 'command' | 'event';
  argType: ObjectType | null = null;

  constructor(
    name: string,
    override readonly info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    /** Name of the argument type, resolved by check(). */
    readonly argTypeName: string | null,
    readonly boxed: boolean,
  ) {
    super(name, info, doc, ifcond, features);
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    if (!this.argTypeName) return; // an empty name means none, as in QEMU
    const what = `${this.meta}'s 'data'`;
    const argType = schema.resolveType(this.argTypeName, this.info, what);
    if (!(argType instanceof ObjectType)) {
      throw new QapiSemError(this.info, `${what} cannot take ${argType.describe()}`);
    }
    this.argType = argType;
    if (argType.branches && !this.boxed) {
      throw new QapiSemError(this.info, `${what} can take ${argType.describe()} only with 'boxed': true`);
    }
    argType.check(schema);
    if (argType.hasConditionalMembers() && !this.boxed && !schema.legacyExprs) {
      throw new QapiSemError(this.info, `conditional ${this.meta} arguments require 'boxed': true`);
    }
  }

  /** Implicit argument types are documented by the definition's doc. */
  override connectDoc(doc?: QapiDoc | null): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (d && this.argType && this.argType.isImplicit()) this.argType.connectDoc(d);
    if (d && this instanceof Command && this.retType && this.info && d.diag.rules.ensureReturns) {
      d.ensureReturns(this.info);
    }
  }
}

export interface CommandFlags {
  gen: boolean;
  successResponse: boolean;
  boxed: boolean;
  allowOob: boolean;
  allowPreconfig: boolean;
  coroutine: boolean;
}

export class Command extends ArgsDefinition implements SchemaCommand {
  readonly meta = 'command';
  retType: TypeEntity | null = null;
  readonly gen: boolean;
  readonly successResponse: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | null,
    ifcond: IfCond | null,
    features: readonly Feature[],
    argTypeName: string | null,
    /** Name of the return type, resolved by check(). */
    readonly retTypeName: string | null,
    flags: CommandFlags,
  ) {
    super(name, info, doc, ifcond, features, argTypeName, flags.boxed);
    this.gen = flags.gen;
    this.successResponse = flags.successResponse;
    this.allowOob = flags.allowOob;
    this.allowPreconfig = flags.allowPreconfig;
    this.coroutine = flags.coroutine;
  }

  override check(schema: TypeResolver): void {
    super.check(schema);
    if (!this.retTypeName) return;
    const retType = schema.resolveType(this.retTypeName, this.info, "command's 'returns'");
    this.retType = retType;
    if (this.info.pragma.commandReturnsExceptions.has(this.name)) return;
    const t = retType instanceof ArrayType ? retType.elementType : retType;
    if (!(t instanceof ObjectType)) {
      throw new QapiSemError(this.info, `command's 'returns' cannot take ${retType.describe()}`);
    }
  }
}

export class Event extends ArgsDefinition implements SchemaEvent {
  readonly meta = 'event';
}

/** An `include` directive, visited in the including module. */
export class Include extends Entity implements SchemaInclude {
  readonly meta = 'include';
  readonly doc = null;
  readonly ifcond = UNCONDITIONAL;
  readonly features: readonly Feature[] = [];

  constructor(
    /** The included module. */
    readonly subModule: Module,
    override readonly info: SourceInfo,
  ) {
    super(info);
  }

  /** The included module's name. */
  get name(): string {
    return this.subModule.name;
  }

  isImplicit(): boolean {
    return false;
  }
}

export type DefinitionEntity = TypeEntity | Command | Event;
export type AnyEntity = DefinitionEntity | Include;
