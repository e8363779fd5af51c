/**
 * The whole frontend pipeline: parse the files, check the expressions,
 * define every entity (built-ins and implicit types included), check them
 * against each other, connect and check the doc comments, then sort the
 * entities into modules for visiting.
 */
import { relative } from 'node:path';
import {
  Alternatives,
  AlternateType,
  ArrayType,
  Branches,
  BuiltinType,
  Command,
  type DefinitionEntity,
  type AnyEntity,
  EnumMember,
  EnumType,
  Event,
  Feature,
  IfCond,
  Include,
  Module,
  ObjectMember,
  ObjectType,
  SPECIAL_FEATURES,
  type TypeEntity,
  type TypeResolver,
  type UseDescription,
  UNCONDITIONAL,
  Variant,
} from './entities.js';
import { DocDiagnostics, QapiError, QapiSemError } from './errors.js';
import { checkExprs } from './expr-check.js';
import type { CheckedSchema, FrontendOptions, IfCondition, JsonType, SchemaEntity, SchemaVisitor } from './model.js';
import { parseSchemaFile, parseSchemaText, type ParsedExpr } from './parser.js';
import type { QapiDoc } from './doc.js';
import type { SourceInfo } from './source.js';
import { visitSchema } from './visitor.js';
import { DEFAULT_QEMU_VERSION, rulesFor, type QemuVersion, type ReleaseRules } from './release.js';

// ---------------------------------------------------------------------------
// Reading normalised expressions

/** A value in a normalised expression (see expr-check.ts). */
type ExprValue = string | boolean | readonly ExprValue[] | ExprObject;
interface ExprObject {
  readonly [key: string]: ExprValue;
}

function isObject(v: ExprValue | undefined): v is ExprObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(expr: ExprObject, key: string): string {
  const v = expr[key];
  if (typeof v !== 'string') throw new Error(`internal error: '${key}' is not a string`);
  return v;
}

function optStr(expr: ExprObject, key: string): string | null {
  const v = expr[key];
  return typeof v === 'string' ? v : null;
}

function flag(expr: ExprObject, key: string, dflt: boolean): boolean {
  const v = expr[key];
  return typeof v === 'boolean' ? v : dflt;
}

function list(v: ExprValue | undefined): readonly ExprValue[] {
  return Array.isArray(v) ? (v as readonly ExprValue[]) : [];
}

function own(expr: ExprObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(expr, key);
}

/** A type reference: `'Name'` or `['Name']` (an array of Name). */
type TypeRef = string | readonly [string];

function typeRef(v: ExprValue | undefined): TypeRef | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return [v[0]];
  return null;
}

function ifcondOf(expr: ExprObject): IfCond {
  const v = expr['if'];
  return v === undefined ? UNCONDITIONAL : new IfCond(v as IfCondition);
}

// ---------------------------------------------------------------------------
// The schema

const BUILTIN_TYPES: readonly (readonly [string, JsonType])[] = [
  ['str', 'string'],
  ['number', 'number'],
  ['int', 'int'],
  ['int8', 'int'],
  ['int16', 'int'],
  ['int32', 'int'],
  ['int64', 'int'],
  ['uint8', 'int'],
  ['uint16', 'int'],
  ['uint32', 'int'],
  ['uint64', 'int'],
  ['size', 'int'],
  ['bool', 'boolean'],
  ['any', 'value'],
  ['null', 'null'],
];

const QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'];

/**
 * Options of the schema checker. `qemuVersion` names the QEMU release
 * (`'MAJOR.MINOR'`, 7.2 or later; a stable update like '8.2.3' counts as
 * its release) whose rules to apply: the model built (up to QEMU 9.1 the
 * built-in `QType` enum has the prefix `QTYPE`, from 9.2 on none), the
 * doc-comment rules and the dump format (see release.ts). The default is
 * DEFAULT_QEMU_VERSION, the newest release whose rules we know. The
 * schema text cannot tell: the same file ships unchanged in releases on
 * both sides of a change.
 */
export type SchemaOptions = FrontendOptions;

export type { QemuVersion } from './release.js';
export { DEFAULT_QEMU_VERSION, OLDEST_QEMU_VERSION, normalizeQemuVersion, qemuVersionProblem } from './release.js';

/** QEMU's limit: features are numbered into a 64-bit mask. */
const MAX_FEATURES = 64;

/** Doc diagnostics whose warnings read as warnings: `FILE:LINE: warning: …`. */
class WarningDiagnostics extends DocDiagnostics {
  constructor(
    lenient: boolean,
    private readonly sink: ((message: string) => void) | undefined,
    rules: ReleaseRules,
  ) {
    super(lenient, undefined, rules);
  }

  override report(err: QapiError): void {
    err.docComment = true;
    if (!this.lenient) throw err;
    const text = formatWarning(err);
    this.warnings.push(text);
    this.sink?.(text);
  }
}

/** An error's text with `warning: ` before the message proper. */
export function formatWarning(err: QapiError): string {
  if (!err.info) return `warning: ${err.msg}`;
  const info = err.info;
  const col = err.col !== null ? `:${err.col}` : '';
  return `${info.includePath()}${info.inDefn()}${info.loc()}${col}: warning: ${err.msg}`;
}

export class QapiSchema implements CheckedSchema, TypeResolver {
  readonly docs: readonly QapiDoc[];
  /** The QEMU release whose rules were applied, as 'MAJOR.MINOR' (see SchemaOptions). */
  readonly qemuVersion: QemuVersion;
  /** What that release's rules are (release.ts). */
  readonly rules: ReleaseRules;

  get legacyExprs(): boolean {
    return this.rules.legacyExprs;
  }
  private readonly entityList: AnyEntity[] = [];
  private readonly entityDict = new Map<string, DefinitionEntity>();
  private readonly moduleDict = new Map<string, Module>();
  /** Source file name as located → its module (saves path arithmetic). */
  private readonly moduleByFnameCache = new Map<string, Module>();
  /** Every feature name in use, first use only; the special ones first. */
  private readonly featureDict = new Map<string, Feature>();
  private readonly schemaDir: string;
  private readonly diagnostics: DocDiagnostics;
  private predefining = true;

  /**
   * Reads, checks and models the schema in file `fname`, or, when `text`
   * is given, the schema text `text` as if it were that file's content
   * (includes are still read from disk, relative to `fname`).
   */
  constructor(
    readonly fname: string,
    options: SchemaOptions = {},
    text?: string,
  ) {
    this.rules = rulesFor(options.qemuVersion ?? DEFAULT_QEMU_VERSION);
    this.qemuVersion = this.rules.version;
    this.diagnostics = new WarningDiagnostics(options.lenientDocs ?? false, options.onWarning, this.rules);
    const parsed =
      text === undefined ? parseSchemaFile(fname, this.diagnostics) : parseSchemaText(text, fname, this.diagnostics);
    const exprs = checkExprs(parsed.exprs, this.diagnostics);
    this.docs = parsed.docs;

    for (const name of SPECIAL_FEATURES) this.featureDict.set(name, new Feature(name, null));
    this.schemaDir = dirnameOf(fname);
    this.makeModule(Module.BUILTIN);
    this.makeModule(fname);
    this.defPredefineds(this.rules.qtypePrefix);
    this.predefining = false;
    this.defExprs(exprs);
    this.check();
  }

  /** Doc warnings reported so far (lenient mode only). */
  get warnings(): readonly string[] {
    return this.diagnostics.warnings;
  }

  get entities(): readonly SchemaEntity[] {
    return this.entityList;
  }

  get modules(): readonly string[] {
    return [...this.moduleDict.keys()];
  }

  /** Modules with their entities, in visiting order. */
  moduleList(): readonly Module[] {
    return [...this.moduleDict.values()];
  }

  /** Every feature name used in the schema (first use), special ones first. */
  featureList(): readonly Feature[] {
    return [...this.featureDict.values()];
  }

  lookupEntity(name: string): DefinitionEntity | undefined {
    return this.entityDict.get(name);
  }

  lookupType(name: string): TypeEntity | undefined {
    const e = this.entityDict.get(name);
    return e && e.meta !== 'command' && e.meta !== 'event' ? e : undefined;
  }

  resolveType(name: string, info: SourceInfo | null, what: UseDescription): TypeEntity {
    const t = this.lookupType(name);
    if (t) return t;
    const desc = typeof what === 'function' ? (info ? what(info) : '') : what;
    throw new QapiSemError(info, `${desc} uses unknown type '${name}'`);
  }

  moduleByFname(fname: string): Module {
    let m = this.moduleByFnameCache.get(fname);
    if (!m) {
      m = this.moduleDict.get(this.moduleName(fname));
      if (!m) throw new Error(`internal error: no module for ${fname}`);
      this.moduleByFnameCache.set(fname, m);
    }
    return m;
  }

  visit(visitor: SchemaVisitor): void {
    visitSchema(this, visitor);
  }

  // -------------------------------------------------------------------------
  // Defining

  private moduleName(fname: string): string {
    if (Module.isSystemModule(fname)) return fname;
    return relative(this.schemaDir, fname) || '.';
  }

  private makeModule(fname: string): Module {
    const name = this.moduleName(fname);
    let m = this.moduleDict.get(name);
    if (!m) {
      m = new Module(name);
      this.moduleDict.set(name, m);
    }
    return m;
  }

  private defDefinition(defn: DefinitionEntity): void {
    if (!defn.info && !this.predefining) {
      throw new Error(`internal error: ${defn.name} defined without location`);
    }
    this.entityList.push(defn);
    const other = this.entityDict.get(defn.name);
    if (other) {
      if (other.info) {
        const where = new QapiSemError(other.info, 'previous definition');
        throw new QapiSemError(defn.info, `'${defn.name}' is already defined\n${where.format()}`);
      }
      throw new QapiSemError(defn.info, `${other.describe()} is already defined`);
    }
    this.entityDict.set(defn.name, defn);
  }

  private defPredefineds(qtypePrefix: string | null): void {
    for (const [name, json] of BUILTIN_TYPES) {
      this.defDefinition(new BuiltinType(name, json));
      // Arrays of every built-in exist whether used or not.
      this.makeArrayType(name, null);
    }
    this.defDefinition(new ObjectType('q_empty', null, null, null, [], null, [], null));
    const qtypes = QTYPE_VALUES.map((n) => new EnumMember(n, null));
    this.defDefinition(new EnumType('QType', null, null, null, [], qtypes, qtypePrefix));
  }

  private makeFeatures(features: ExprValue | undefined, info: SourceInfo): Feature[] {
    const result: Feature[] = [];
    for (const f of list(features)) {
      if (!isObject(f)) continue;
      const name = str(f, 'name');
      if (!this.featureDict.has(name)) this.featureDict.set(name, new Feature(name, info));
      result.push(new Feature(name, info, ifcondOf(f)));
    }
    return result;
  }

  private makeEnumMembers(values: ExprValue | undefined, info: SourceInfo): EnumMember[] {
    return list(values)
      .filter(isObject)
      .map((v) => new EnumMember(str(v, 'name'), info, ifcondOf(v), this.makeFeatures(v['features'], info)));
  }

  /** Name of the array type of `elementType`, defined on first use. */
  private makeArrayType(elementType: string, info: SourceInfo | null): string {
    const name = elementType + 'List';
    if (!this.lookupType(name)) this.defDefinition(new ArrayType(name, info, elementType));
    return name;
  }

  private typeName(ref: TypeRef, info: SourceInfo): string {
    return typeof ref === 'string' ? ref : this.makeArrayType(ref[0], info);
  }

  /**
   * Name of the implicit object type `q_obj_NAME-ROLE` holding `members`
   * (defined on first use), or null when there are no members.
   */
  private makeImplicitObjectType(
    name: string,
    info: SourceInfo,
    ifcond: IfCond,
    role: 'arg' | 'base',
    members: ObjectMember[],
  ): string | null {
    if (members.length === 0) return null;
    const typeName = `q_obj_${name}-${role}`;
    // A second user can only be a duplicate definition, reported later.
    if (!this.lookupEntity(typeName)) {
      this.defDefinition(new ObjectType(typeName, info, null, ifcond, [], null, members, null));
    }
    return typeName;
  }

  private makeMembers(data: ExprValue | undefined, info: SourceInfo): ObjectMember[] {
    if (!isObject(data)) return [];
    return Object.keys(data).map((key) => {
      const value = data[key];
      const spec = isObject(value) ? value : {};
      const optional = key.startsWith('*');
      const ref = typeRef(spec['type']) ?? '';
      return new ObjectMember(
        optional ? key.slice(1) : key,
        info,
        this.typeName(ref, info),
        optional,
        ifcondOf(spec),
        this.makeFeatures(spec['features'], info),
      );
    });
  }

  private makeVariants(data: ExprValue | undefined, info: SourceInfo): Variant[] {
    if (!isObject(data)) return [];
    return Object.keys(data).map((key) => {
      const value = data[key];
      const spec = isObject(value) ? value : {};
      const ref = typeRef(spec['type']) ?? '';
      return new Variant(key, info, this.typeName(ref, info), ifcondOf(spec));
    });
  }

  /** `data` of a command or event: a type name, members, or nothing. */
  private argTypeName(name: string, expr: ExprObject, info: SourceInfo, ifcond: IfCond): string | null {
    const data = expr['data'];
    if (isObject(data)) {
      return this.makeImplicitObjectType(name, info, ifcond, 'arg', this.makeMembers(data, info));
    }
    return typeof data === 'string' ? data : null;
  }

  private defExpr(parsed: ParsedExpr): void {
    const expr = parsed.expr as unknown as ExprObject;
    const info = parsed.info;
    const doc = parsed.doc;
    if (own(expr, 'include')) {
      this.entityList.push(new Include(this.makeModule(str(expr, 'include')), info));
      return;
    }
    const ifcond = ifcondOf(expr);
    const features = (): Feature[] => this.makeFeatures(expr['features'], info);

    if (own(expr, 'enum')) {
      const f = features();
      this.defDefinition(
        new EnumType(
          str(expr, 'enum'),
          info,
          doc,
          ifcond,
          f,
          this.makeEnumMembers(expr['data'], info),
          optStr(expr, 'prefix'),
        ),
      );
    } else if (own(expr, 'struct')) {
      const f = features();
      this.defDefinition(
        new ObjectType(
          str(expr, 'struct'),
          info,
          doc,
          ifcond,
          f,
          optStr(expr, 'base'),
          this.makeMembers(expr['data'], info),
          null,
        ),
      );
    } else if (own(expr, 'union')) {
      const name = str(expr, 'union');
      const f = features();
      const baseValue = expr['base'];
      const base = isObject(baseValue)
        ? this.makeImplicitObjectType(name, info, ifcond, 'base', this.makeMembers(baseValue, info))
        : optStr(expr, 'base');
      const variants = this.makeVariants(expr['data'], info);
      this.defDefinition(
        new ObjectType(name, info, doc, ifcond, f, base, [], new Branches(info, variants, str(expr, 'discriminator'))),
      );
    } else if (own(expr, 'alternate')) {
      const f = features();
      const variants = this.makeVariants(expr['data'], info);
      const tag = new ObjectMember('type', info, 'QType', false);
      this.defDefinition(
        new AlternateType(str(expr, 'alternate'), info, doc, ifcond, f, new Alternatives(info, variants, tag)),
      );
    } else if (own(expr, 'command')) {
      const name = str(expr, 'command');
      const f = features();
      const argType = this.argTypeName(name, expr, info, ifcond);
      const rets = typeRef(expr['returns']);
      const retType = rets === null ? null : this.typeName(rets, info);
      this.defDefinition(
        new Command(name, info, doc, ifcond, f, argType, retType, {
          gen: flag(expr, 'gen', true),
          successResponse: flag(expr, 'success-response', true),
          boxed: flag(expr, 'boxed', false),
          allowOob: flag(expr, 'allow-oob', false),
          allowPreconfig: flag(expr, 'allow-preconfig', false),
          coroutine: flag(expr, 'coroutine', false),
        }),
      );
    } else if (own(expr, 'event')) {
      const name = str(expr, 'event');
      const f = features();
      const argType = this.argTypeName(name, expr, info, ifcond);
      this.defDefinition(new Event(name, info, doc, ifcond, f, argType, flag(expr, 'boxed', false)));
    } else {
      throw new Error('internal error: unexpected expression');
    }
  }

  private defExprs(exprs: readonly ParsedExpr[]): void {
    for (const e of exprs) this.defExpr(e);
  }

  // -------------------------------------------------------------------------
  // Checking

  private check(): void {
    for (const ent of this.entityList) {
      try {
        ent.check(this);
      } catch (err) {
        // Checking recurses through bases and branches; a chain of
        // thousands of them exhausts the stack. Say so instead of crashing.
        if (err instanceof RangeError && ent.meta !== 'include') {
          throw new QapiSemError(ent.info, `${ent.describe()} is nested too deeply to check`);
        }
        throw err;
      }
      ent.connectDoc();
    }
    for (const ent of this.entityList) ent.setModule(this);
    for (const doc of this.docs) doc.check();

    const features = [...this.featureDict.values()];
    if (features.length > MAX_FEATURES && !this.rules.legacyExprs) {
      throw new QapiSemError(features[MAX_FEATURES]!.info, `Maximum of ${MAX_FEATURES} schema features is permitted`);
    }
  }
}

/** The folder part of a path, as Python's os.path.dirname ('' if none). */
function dirnameOf(fname: string): string {
  const i = fname.lastIndexOf('/');
  if (i < 0) return '';
  const head = fname.slice(0, i + 1);
  return /^\/+$/.test(head) ? head : head.replace(/\/+$/, '');
}
