/**
 * TypeScript declarations: enums as string-literal unions plus a `const`
 * array of values, structs as interfaces, unions as discriminated unions,
 * alternates as plain unions.
 */
import type {
  SchemaAlternateType,
  SchemaEnumType,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaType,
  SchemaVariant,
} from '../frontend/model.js';
import type { GenContext } from './context.js';
import type { GeneratedFile } from './emitter.js';
import type { Int64Mode } from '../support/ints.js';
import { propertyKey, quote } from './names.js';

/** TypeScript text of the built-in scalar types. */
function builtinTsType(name: string, int64: Int64Mode): string {
  switch (name) {
    case 'str':
      return 'string';
    case 'bool':
      return 'boolean';
    case 'number':
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32':
      return 'number';
    case 'int':
    case 'int64':
    case 'uint64':
    case 'size':
      return int64 === 'mixed' ? 'number | bigint' : int64;
    case 'null':
      return 'null';
    default:
      return 'unknown';
  }
}

/** TypeScript text of a reference to `t` from `file` (imports added). */
export function typeRef(ctx: GenContext, t: SchemaType, file: GeneratedFile): string {
  switch (t.meta) {
    case 'built-in':
      return builtinTsType(t.name, ctx.options.int64);
    case 'array': {
      const element = typeRef(ctx, t.elementType, file);
      return /^[\w$.]+$/.test(element) ? `${element}[]` : `Array<${element}>`;
    }
    default: {
      if (t.name === 'q_empty') return 'Record<string, never>';
      if (!ctx.declaresType(t)) return 'unknown';
      const name = ctx.typeName(t);
      const target = ctx.fileOf(t);
      if (target !== file.base) file.importType(`./${target}.js`, name);
      return name;
    }
  }
}

function entityDoc(ctx: GenContext, t: SchemaType): string {
  return ctx
    .doc()
    .text(t.doc ? null : ctx.implicitOwners.get(t.name)?.what)
    .entityDoc(t.doc)
    .meta(ctx.selection.activeFeatures(t.features), t.ifcond.ifcond, t.doc)
    .render();
}

/**
 * An enum: its type (in `out`, or in the `.d.ts` of JavaScript output) and
 * the `const` array of its values.
 */
export function emitEnum(ctx: GenContext, t: SchemaEnumType, out: GeneratedFile): void {
  const file = ctx.declarations(out);
  if (file !== null) emitEnumType(ctx, t, file);
  emitEnumValues(ctx, t, out);
}

function emitEnumType(ctx: GenContext, t: SchemaEnumType, file: GeneratedFile): void {
  const values = ctx.kept(t.members);
  const name = ctx.typeName(t);
  file.supportType('UnknownValue');
  file.print(entityDoc(ctx, t));
  const union = values.map((m) => {
    const doc = ctx
      .doc()
      .text(t.doc?.args.get(m.name)?.text)
      .presence(ctx.presence.enumValue(t, m), 'value', ctx.presence.oldestLabel)
      .meta(ctx.selection.activeFeatures(m.features), m.ifcond.ifcond, t.doc)
      .render('  ');
    return `${doc}  | ${quote(m.name)}\n`;
  });
  file.print(`export type ${name} =\n${union.join('')}  | UnknownValue;\n`);
}

/** The `const` array of an enum's values (declared as a readonly tuple in a `.d.ts`). */
function emitEnumValues(ctx: GenContext, t: SchemaEnumType, out: GeneratedFile): void {
  const values = ctx
    .kept(t.members)
    .map((m) => quote(m.name))
    .join(', ');
  const doc = ctx
    .doc()
    .text(`The values of {@link ${ctx.typeName(t)}} this schema knows.`)
    .render();
  const name = ctx.valueArrayNames.get(t.name) ?? '';
  if (!ctx.js) {
    out.print(`${doc}export const ${name} = [${values}] as const;\n\n`);
    return;
  }
  out.print(`${doc}export const ${name} = [${values}];\n\n`);
  out.declarations?.print(`${doc}export declare const ${name}: readonly [${values}];\n\n`);
}

function memberLines(
  ctx: GenContext,
  owner: SchemaObjectType,
  members: readonly SchemaObjectMember[],
  file: GeneratedFile,
): string {
  let out = '';
  for (const m of ctx.kept(members)) {
    const docs = ctx.memberDocs(owner);
    out += ctx
      .doc()
      .text(docs?.args.get(m.name)?.text)
      .presence(ctx.presence.member(m), 'member', ctx.presence.oldestLabel)
      .meta(ctx.selection.activeFeatures(m.features), ctx.presence.memberCondition(m), docs)
      .render('  ');
    out += `  ${propertyKey(m.name)}${ctx.presence.optional(m) ? '?' : ''}: ${typeRef(ctx, m.type, file)};\n`;
  }
  if (ctx.openArguments(owner)) {
    out += ctx
      .doc()
      .text(
        "Further arguments: the command is `'gen': false` and takes more than it declares " +
          "(device_add, say, takes the device's properties).",
      )
      .render('  ');
    out += '  [argument: string]: unknown;\n';
  }
  return out;
}

export function emitObject(ctx: GenContext, t: SchemaObjectType, file: GeneratedFile): void {
  const name = ctx.typeName(t);
  file.print(entityDoc(ctx, t));
  const base = t.base && ctx.declaresType(t.base) ? t.base : null;
  if (t.branches === null) {
    const members = base ? t.localMembers : t.members;
    const ext = base ? ` extends ${typeRef(ctx, base, file)}` : '';
    file.print(`export interface ${name}${ext} {\n${memberLines(ctx, t, members, file)}}\n\n`);
    return;
  }
  // A union: the base's members with the tag narrowed, plus the branch's.
  const tag = t.branches.tagMember.name;
  const baseType = base ? typeRef(ctx, base, file) : '{}';
  const baseRest = `Omit<${baseType}, ${quote(tag)}>`;
  const branches: string[] = [];
  for (const v of t.branches.variants) {
    if (!ctx.selection.variant(v) || !tagKept(ctx, t, v.name)) continue;
    const branchType = v.type.name === 'q_empty' ? '' : ` & ${typeRef(ctx, v.type, file)}`;
    branches.push(
      `${branchDoc(ctx, t, v)}  | (${baseRest} & { ${propertyKey(tag)}: ${quote(v.name)} }${branchType})\n`,
    );
  }
  const untagged = ctx.presence.untagged(t);
  if (untagged) {
    const members = untagged.map(
      (u) => `${propertyKey(u.member.name)}${u.optional ? '?' : ''}: ${typeRef(ctx, u.member.type, file)}`,
    );
    const doc = ctx
      .doc()
      .text(`What ${ctx.presence.oldestLabel}, the oldest supported release, sends: no \`${tag}\`, and these members.`)
      .render('  ');
    const rest = members.length > 0 ? ` & { ${members.join('; ')} }` : '';
    branches.push(`${doc}  | (${baseRest} & { ${propertyKey(tag)}?: never }${rest})\n`);
  }
  file.supportType('UnknownBranch');
  branches.push(`  | UnknownBranch<${baseType}, ${quote(tag)}>;\n`);
  file.print(`export type ${name} =\n${branches.join('')}\n`);
}

/** Doc of a union branch or alternative: its condition, where it may be missing. */
function branchDoc(ctx: GenContext, t: SchemaObjectType | SchemaAlternateType, v: SchemaVariant): string {
  return ctx
    .doc()
    .presence(ctx.presence.branch(t, v), 'value', ctx.presence.oldestLabel)
    .meta([], ctx.presence.branchCondition(t, v), null)
    .render('  ');
}

export function tagKept(ctx: GenContext, t: SchemaObjectType, value: string): boolean {
  const tagType = t.branches?.tagMember.type;
  if (tagType?.meta !== 'enum') return true;
  return ctx.kept(tagType.members).some((m) => m.name === value);
}

export function emitAlternate(ctx: GenContext, t: SchemaAlternateType, file: GeneratedFile): void {
  const name = ctx.typeName(t);
  file.print(entityDoc(ctx, t));
  const alternatives = t.alternatives.variants
    .filter((v) => ctx.selection.variant(v))
    .map((v) => `${branchDoc(ctx, t, v)}  | ${typeRef(ctx, v.type, file)}\n`);
  const body = alternatives.length > 0 ? alternatives.join('').replace(/\n$/, ';\n') : '  never;\n';
  file.print(`export type ${name} =\n${body}\n`);
}
