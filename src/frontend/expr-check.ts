/**
 * Context-free checks of parsed expressions, and their normalisation.
 *
 * Each top-level expression must define exactly one thing (enum, struct,
 * union, alternate, command, event) with the right keys and value shapes.
 * Nothing here looks at other definitions; that is the schema's job.
 *
 * Normalisation, done in place, leaves the schema one form to read:
 * - member maps: `'name': 'Type'` becomes `'name': { 'type': 'Type' }`
 * - enum values: `'v'` becomes `{ 'name': 'v' }`
 * - features: `'f'` becomes `{ 'name': 'f' }`
 */
import { cName } from './entities.js';
import { DocDiagnostics, QapiSemError } from './errors.js';
import type { FrontendOptions } from './model.js';
import { diagnosticsFor, type JsonObject, type JsonValue, type ParsedExpr } from './parser.js';
import type { SourceInfo } from './source.js';

/** The definition kinds; an expression has exactly one of these keys. */
export const DEFINITION_METAS = ['enum', 'struct', 'union', 'alternate', 'command', 'event'] as const;
export type DefinitionMeta = (typeof DEFINITION_METAS)[number];

/** Keys each kind requires, and keys it may have. */
const KEYS: Record<DefinitionMeta, { required: string[]; optional: string[] }> = {
  enum: { required: ['enum', 'data'], optional: ['if', 'features', 'prefix'] },
  struct: { required: ['struct', 'data'], optional: ['base', 'if', 'features'] },
  union: { required: ['union', 'base', 'discriminator', 'data'], optional: ['if', 'features'] },
  alternate: { required: ['alternate', 'data'], optional: ['if', 'features'] },
  command: {
    required: ['command'],
    optional: [
      'data',
      'returns',
      'boxed',
      'if',
      'features',
      'gen',
      'success-response',
      'allow-oob',
      'allow-preconfig',
      'coroutine',
    ],
  },
  event: { required: ['event'], optional: ['data', 'boxed', 'if', 'features'] },
};

/** Optional downstream prefix, optional `x-`, then the stem. */
const VALID_NAME = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;
// An upper-case letter, then letters and digits with at least one lower-case
// letter. Written so that the two repeated classes cannot both match the
// same character (the part before the first lower-case letter has none):
// `[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*` accepts the same names but
// backtracks in quadratic time on 'A' + 'a' * n + '_'.
const CAMEL_STEM = /^[A-Z][A-Z0-9]*[a-z][A-Za-z0-9]*$/;
const IF_IDENTIFIER = /^[A-Z][A-Z0-9_]*$/;

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && !Array.isArray(value);
}

/** Python truthiness of a schema value (an absent value is false). */
function truthy(value: JsonValue | undefined): boolean {
  if (value === undefined || value === false || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function fail(info: SourceInfo, msg: string): never {
  throw new QapiSemError(info, msg);
}

// ---------------------------------------------------------------------------
// Names

export function checkNameIsStr(name: JsonValue | undefined, info: SourceInfo, source: string): asserts name is string {
  if (typeof name !== 'string') fail(info, `${source} requires a string name`);
}

/** Checks a name's general form; returns its stem (without prefixes). */
export function checkNameStr(name: string, info: SourceInfo, source: string): string {
  const match = VALID_NAME.exec(name);
  // 'q_' is reserved for names the generator makes up
  if (!match || cName(name, false).startsWith('q_')) fail(info, `${source} has an invalid name`);
  return match[3]!;
}

/** Event names: upper case. */
function checkNameUpper(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (/[a-z-]/.test(stem)) fail(info, `name of ${source} must not use lowercase or '-'`);
}

/** Command and member names: lower case with '-'. */
function checkNameLower(
  name: string,
  info: SourceInfo,
  source: string,
  permitUpper = false,
  permitUnderscore = false,
): void {
  const stem = checkNameStr(name, info, source);
  if ((!permitUpper && /[A-Z]/.test(stem)) || (!permitUnderscore && stem.includes('_'))) {
    fail(info, `name of ${source} must not use uppercase or '_'`);
  }
}

/** Type names: CamelCase. */
function checkNameCamel(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (!CAMEL_STEM.test(stem)) fail(info, `name of ${source} must use CamelCase`);
}

function checkDefnNameStr(name: string, info: SourceInfo, meta: DefinitionMeta): void {
  if (meta === 'event') {
    checkNameUpper(name, info, meta);
  } else if (meta === 'command') {
    const permitUnderscore = info.pragma.commandNameExceptions.has(name);
    checkNameLower(name, info, meta, false, permitUnderscore);
  } else {
    checkNameCamel(name, info, meta);
    if (name.endsWith('List')) fail(info, `${meta} name should not end in 'List'`);
  }
}

// ---------------------------------------------------------------------------
// Keys, flags, conditions, features

function quotedSorted(keys: Iterable<string>): string {
  return [...keys]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `'${k}'`)
    .join(', ');
}

export function checkKeys(
  value: JsonObject,
  info: SourceInfo,
  source: string,
  required: readonly string[],
  optional: readonly string[],
): void {
  let missing: string[] | null = null;
  for (const key of required) if (!(key in value)) (missing ??= []).push(key);
  if (missing) {
    fail(info, `${source} misses key${missing.length > 1 ? 's' : ''} ${quotedSorted(missing)}`);
  }
  let unknown: string[] | null = null;
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) (unknown ??= []).push(key);
  }
  if (unknown) {
    fail(
      info,
      `${source} has unknown key${unknown.length > 1 ? 's' : ''} ${quotedSorted(unknown)}\n` +
        `Valid keys are ${quotedSorted(new Set([...required, ...optional]))}.`,
    );
  }
}

const FALSE_ONLY_FLAGS = ['gen', 'success-response'];
const TRUE_ONLY_FLAGS = ['boxed', 'allow-oob', 'allow-preconfig', 'coroutine'];

function checkFlags(expr: JsonObject, info: SourceInfo): void {
  for (const key of FALSE_ONLY_FLAGS) {
    if (key in expr && expr[key] !== false) fail(info, `flag '${key}' may only use false value`);
  }
  for (const key of TRUE_ONLY_FLAGS) {
    if (key in expr && expr[key] !== true) fail(info, `flag '${key}' may only use true value`);
  }
  if ('allow-oob' in expr && 'coroutine' in expr) {
    fail(info, "flags 'allow-oob' and 'coroutine' are incompatible");
  }
}

/** Checks the `if` key of `expr`, if any. */
export function checkIf(expr: JsonObject, info: SourceInfo, source: string): void {
  const ifcond = expr['if'];
  if (ifcond === undefined) return;
  // Iterative walk: conditions nest as deep as the parser allows.
  const pending: JsonValue[] = [ifcond];
  while (pending.length) {
    const cond = pending.pop()!;
    if (typeof cond === 'string') {
      if (!IF_IDENTIFIER.test(cond)) {
        fail(info, `'if' condition '${cond}' of ${source} is not a valid identifier`);
      }
      continue;
    }
    if (!isObject(cond)) fail(info, `'if' condition of ${source} must be a string or an object`);
    checkKeys(cond, info, `'if' condition of ${source}`, [], ['all', 'any', 'not']);
    if (Object.keys(cond).length !== 1) fail(info, `'if' condition of ${source} has conflicting keys`);
    if ('not' in cond) {
      pending.push(cond['not']!);
      continue;
    }
    const operator = 'all' in cond ? 'all' : 'any';
    const operands = cond[operator]!;
    if (!Array.isArray(operands)) fail(info, `'${operator}' condition of ${source} must be an array`);
    if (operands.length === 0) fail(info, `'if' condition [] of ${source} is useless`);
    // push in reverse so operands are checked left to right, as QEMU does
    for (let i = operands.length - 1; i >= 0; i--) pending.push(operands[i]!);
  }
}

/** Replaces each bare string in `list` by `{ name: string }`. */
function normalizeNamed(list: JsonValue[]): JsonObject[] {
  for (let i = 0; i < list.length; i++) {
    const item = list[i]!;
    if (!isObject(item)) {
      const obj = Object.create(null) as JsonObject;
      obj['name'] = item;
      list[i] = obj;
    }
  }
  return list as JsonObject[];
}

export function checkFeatures(features: JsonValue | undefined, info: SourceInfo): void {
  if (features === undefined) return;
  if (!Array.isArray(features)) fail(info, "'features' must be an array");
  for (const feat of normalizeNamed(features)) {
    checkKeys(feat, info, "'features' member", ['name'], ['if']);
    const name = feat['name'];
    checkNameIsStr(name, info, "'features' member");
    const source = `'features' member '${name}'`;
    checkNameLower(name, info, source);
    checkIf(feat, info, source);
  }
}

// ---------------------------------------------------------------------------
// Member maps and type references

/** In a member map, replaces each bare type by `{ type: ... }`. */
function normalizeMembers(members: JsonValue | undefined): void {
  if (!isObject(members)) return;
  for (const key of Object.keys(members)) {
    const arg = members[key]!;
    if (isObject(arg)) continue;
    const obj = Object.create(null) as JsonObject;
    obj['type'] = arg;
    members[key] = obj;
  }
}

function checkTypeName(value: JsonValue | undefined, info: SourceInfo, source: string): void {
  if (value !== undefined && typeof value !== 'string') fail(info, `${source} should be a type name`);
}

function checkTypeNameOrArray(value: JsonValue | undefined, info: SourceInfo, source: string): void {
  if (value === undefined || typeof value === 'string') return;
  if (!Array.isArray(value)) fail(info, `${source} should be a type name or array`);
  if (value.length !== 1 || typeof value[0] !== 'string') {
    fail(info, `${source}: array type must contain single type name`);
  }
}

/** Set while checking with QEMU 7.2's expression rules (see checkExprs). */
let legacy = false;

/**
 * QEMU 7.2's one type check (check_type): a type name always; an array
 * when `allowArray`; an inline struct when `allowDict` (a string names
 * the definition whose member-name exceptions apply).
 */
function checkTypeLegacy(
  value: JsonValue | undefined,
  info: SourceInfo,
  source: string,
  allowArray: boolean,
  allowDict: boolean | string,
): void {
  if (value === undefined || typeof value === 'string') return;
  if (Array.isArray(value)) {
    if (!allowArray) fail(info, `${source} cannot be an array`);
    if (value.length !== 1 || typeof value[0] !== 'string') {
      fail(info, `${source}: array type must contain single type name`);
    }
    return;
  }
  if (allowDict === false) fail(info, `${source} should be a type name`);
  checkTypeImplicit(value, info, source, typeof allowDict === 'string' ? allowDict : null);
}

/** An inline (implicit) struct: a normalised member map. */
function checkTypeImplicit(
  value: JsonValue | undefined,
  info: SourceInfo,
  source: string,
  parentName: string | null,
): void {
  if (value === undefined) return;
  if (!isObject(value)) fail(info, `${source} should be an object or type name`);
  const permissive = parentName !== null && info.pragma.memberNameExceptions.has(parentName);
  for (const [rawKey, arg] of Object.entries(value)) {
    const keySource = `${source} member '${rawKey}'`;
    const key = rawKey.startsWith('*') ? rawKey.slice(1) : rawKey;
    checkNameLower(key, info, keySource, permissive, permissive);
    const cKey = cName(key, false);
    if (cKey === 'u' || cKey.startsWith('has_')) fail(info, `${keySource} uses reserved name`);
    const member = arg as JsonObject; // normalised by normalizeMembers
    checkKeys(member, info, keySource, ['type'], ['if', 'features']);
    checkIf(member, info, keySource);
    checkFeatures(member['features'], info);
    if (legacy) checkTypeLegacy(member['type'], info, keySource, true, false);
    else checkTypeNameOrArray(member['type'], info, keySource);
  }
}

function checkTypeNameOrImplicit(
  value: JsonValue | undefined,
  info: SourceInfo,
  source: string,
  parentName: string | null,
): void {
  if (value === undefined || typeof value === 'string') return;
  checkTypeImplicit(value, info, source, parentName);
}

// ---------------------------------------------------------------------------
// Definitions

function checkEnum(expr: JsonObject, name: string, info: SourceInfo): void {
  const members = expr['data'];
  const prefix = expr['prefix'];
  if (!Array.isArray(members)) fail(info, "'data' must be an array");
  if (prefix !== undefined && typeof prefix !== 'string') fail(info, "'prefix' must be a string");
  const permissive = info.pragma.memberNameExceptions.has(name);
  for (const member of normalizeNamed(members)) {
    checkKeys(member, info, "'data' member", ['name'], ['if', 'features']);
    const memberName = member['name'];
    checkNameIsStr(memberName, info, "'data' member");
    const source = `'data' member '${memberName}'`;
    // values may start with a digit: check them as if prefixed by a letter
    const code = memberName.charCodeAt(0);
    const checked = code >= 48 && code <= 57 ? 'd' + memberName : memberName;
    checkNameLower(checked, info, source, permissive, permissive);
    checkIf(member, info, source);
    checkFeatures(member['features'], info);
  }
}

function checkStruct(expr: JsonObject, name: string, info: SourceInfo): void {
  if (legacy) {
    checkTypeLegacy(expr['data'], info, "'data'", false, name);
    checkTypeLegacy(expr['base'], info, "'base'", false, false);
    return;
  }
  checkTypeImplicit(expr['data'], info, "'data'", name);
  checkTypeName(expr['base'], info, "'base'");
}

/**
 * Union branches and alternate alternatives: normalised `{ type, if? }`
 * values; `checkName` checks the key (alternatives only).
 */
function checkVariants(
  members: JsonObject,
  info: SourceInfo,
  checkName: boolean,
  checkType: (value: JsonValue | undefined, info: SourceInfo, source: string) => void,
): void {
  for (const [key, value] of Object.entries(members)) {
    const source = `'data' member '${key}'`;
    if (checkName) checkNameLower(key, info, source);
    const variant = value as JsonObject; // normalised
    checkKeys(variant, info, source, ['type'], ['if']);
    checkIf(variant, info, source);
    checkType(variant['type'], info, source);
  }
}

function checkUnion(expr: JsonObject, name: string, info: SourceInfo): void {
  const members = expr['data'];
  if (legacy) checkTypeLegacy(expr['base'], info, "'base'", false, name);
  else checkTypeNameOrImplicit(expr['base'], info, "'base'", name);
  checkNameIsStr(expr['discriminator'], info, "'discriminator'");
  if (!isObject(members)) fail(info, "'data' must be an object");
  const allowArray = !truthy(expr['base']);
  checkVariants(
    members,
    info,
    false,
    legacy ? (value, i, source) => checkTypeLegacy(value, i, source, allowArray, false) : checkTypeName,
  );
}

function checkAlternate(expr: JsonObject, info: SourceInfo): void {
  const members = expr['data'];
  if (!truthy(members)) fail(info, "'data' must not be empty");
  if (!isObject(members)) fail(info, "'data' must be an object");
  checkVariants(
    members,
    info,
    true,
    legacy ? (value, i, source) => checkTypeLegacy(value, i, source, true, false) : checkTypeNameOrArray,
  );
}

/** Argument data of a command or event. */
function checkArguments(expr: JsonObject, info: SourceInfo): void {
  const args = expr['data'];
  if (legacy) {
    const boxed = truthy(expr['boxed']);
    if (boxed && args === undefined) fail(info, "'boxed': true requires 'data'");
    checkTypeLegacy(args, info, "'data'", false, !boxed);
    return;
  }
  if (truthy(expr['boxed'])) {
    if (args === undefined) fail(info, "'boxed': true requires 'data'");
    checkTypeName(args, info, "'data'");
  } else {
    checkTypeNameOrImplicit(args, info, "'data'", null);
  }
}

/** The checks particular to each kind of definition. */
const CHECK_DEFINITION: Record<DefinitionMeta, (expr: JsonObject, name: string, info: SourceInfo) => void> = {
  enum: checkEnum,
  struct: checkStruct,
  union: checkUnion,
  alternate: (expr, _name, info) => checkAlternate(expr, info),
  command: (expr, _name, info) => {
    checkArguments(expr, info);
    if (legacy) checkTypeLegacy(expr['returns'], info, "'returns'", true, false);
    else checkTypeNameOrArray(expr['returns'], info, "'returns'");
  },
  event: (expr, _name, info) => checkArguments(expr, info),
};

function checkDefinition(expr: JsonObject, meta: DefinitionMeta, name: string, info: SourceInfo): void {
  checkKeys(expr, info, meta, KEYS[meta].required, KEYS[meta].optional);
  if (meta !== 'enum') {
    if (meta === 'union') normalizeMembers(expr['base']);
    normalizeMembers(expr['data']);
  }
  CHECK_DEFINITION[meta](expr, name, info);
  checkIf(expr, info, meta);
  checkFeatures(expr['features'], info);
  checkFlags(expr, info);
}

/**
 * Checks and normalises (in place) every expression; returns the same
 * list. Sets each expression's definition on its SourceInfo, so later
 * errors read "In KIND 'NAME':". Doc problems go to `options`' channel.
 */
export function checkExprs(exprs: ParsedExpr[], options: FrontendOptions | DocDiagnostics = {}): ParsedExpr[] {
  const diag = diagnosticsFor(options);
  const saved = legacy;
  legacy = diag.rules.legacyExprs;
  try {
    return checkAll(exprs, diag);
  } finally {
    legacy = saved;
  }
}

function checkAll(exprs: ParsedExpr[], diag: DocDiagnostics): ParsedExpr[] {
  for (const parsed of exprs) {
    const { expr, info, doc } = parsed;
    if ('include' in expr) continue;
    let meta: DefinitionMeta | null = null;
    let metas = 0;
    for (const m of DEFINITION_METAS) {
      if (m in expr) {
        meta = m;
        metas++;
      }
    }
    if (metas !== 1 || !meta) {
      fail(info, "expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'");
    }
    const name = expr[meta];
    checkNameIsStr(name, info, `'${meta}'`);
    info.setDefn(meta, name);
    checkDefnNameStr(name, info, meta);

    if (doc) {
      if (doc.symbol !== name) {
        diag.report(new QapiSemError(info, `documentation comment is for '${doc.symbol}'`));
        parsed.doc = null;
      } else {
        doc.checkExpr(expr);
      }
    } else if (info.pragma.docRequired) {
      diag.report(new QapiSemError(info, 'documentation comment required'));
    }
    checkDefinition(expr, meta, name, info);
  }
  return exprs;
}
