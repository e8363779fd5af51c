/**
 * The generated index: re-exports of every module, the type and
 * validator tables, the `commands` / `events` maps, and the typed client
 * class with one method per command.
 */
import type { SchemaCommand, SchemaEvent } from '../frontend/model.js';
import type { GenContext } from './context.js';
import { GeneratedFile } from './emitter.js';
import { propertyKey, quote } from './names.js';
import { typeRef } from './types.js';

function argsType(ctx: GenContext, c: SchemaCommand | SchemaEvent, out: GeneratedFile): string {
  const t = c.argType;
  if (t === null || !ctx.selection.entity(t)) return 'undefined';
  let ref = typeRef(ctx, t, out);
  // 'gen': false with a named struct: the command takes further arguments.
  if (c.meta === 'command' && ctx.openArgumentsName(c) !== null) ref = `${ref} & { [argument: string]: unknown }`;
  return ctx.allOptional(t) && c.meta === 'command' ? `${ref} | undefined` : ref;
}

function returnsType(ctx: GenContext, c: SchemaCommand, out: GeneratedFile): string {
  if (!c.successResponse) return 'undefined';
  return c.retType === null ? 'Record<string, never>' : typeRef(ctx, c.retType, out);
}

function commandDoc(ctx: GenContext, c: SchemaCommand | SchemaEvent, indent: string, full = true): string {
  const doc = ctx.doc();
  if (full) doc.entityDoc(c.doc);
  else doc.summary(c.doc);
  if (c.meta === 'command') doc.presence(ctx.presence.command(c), 'command', ctx.presence.oldestLabel);
  else doc.presence(ctx.presence.event(c), 'event', ctx.presence.oldestLabel);
  return doc.meta(ctx.selection.activeFeatures(c.features), c.ifcond.ifcond, c.doc).render(indent);
}

function typeTables(ctx: GenContext, out: GeneratedFile): void {
  let typeMap = '';
  for (const [qapiName] of ctx.typeNames) {
    const t = ctx.schema.lookupType(qapiName);
    if (t) typeMap += `  ${propertyKey(qapiName)}: ${typeRef(ctx, t, out)};\n`;
  }
  out.supportType('z');
  out.print(`/** QAPI type name → TypeScript type. */\nexport interface TypeMap {\n${typeMap}}\n\n`);
  out.print('/** A validator per QAPI type, yielding exactly the generated type. */\n');
  out.print('export type Validators = { readonly [K in keyof TypeMap]: z.ZodType<TypeMap[K]> };\n\n');
}

export function indexFile(ctx: GenContext): GeneratedFile {
  const out = ctx.file('index');
  // Where types go: `out` (TypeScript) or its .d.ts (JavaScript; null without).
  const decl = ctx.declarations(out);
  const types = decl ?? out;
  const files = [...new Set(ctx.moduleFiles.values())];
  const reexports = `${files.map((file) => `export * from './${file}.js';\n`).join('')}\n`;
  out.print(reexports);
  if (ctx.js) out.declarations?.print(reexports);

  if (decl !== null) typeTables(ctx, decl);

  // Command and event tables
  let commandMap = '';
  let commandSpec = '';
  for (const c of ctx.commands) {
    commandMap += commandDoc(ctx, c, '  ', false);
    commandMap += `  ${quote(c.name)}: { args: ${argsType(ctx, c, types)}; returns: ${returnsType(ctx, c, types)} };\n`;
    const args =
      c.argType && ctx.selection.entity(c.argType) ? quote(ctx.openArgumentsName(c) ?? c.argType.name) : 'null';
    const returns = !c.successResponse ? 'null' : c.retType ? quote(c.retType.name) : "'q_empty'";
    commandSpec += `    ${quote(c.name)}: [${args}, ${returns}],\n`;
  }
  let eventMap = '';
  let eventSpec = '';
  for (const e of ctx.events) {
    eventMap += commandDoc(ctx, e, '  ');
    eventMap += `  ${quote(e.name)}: ${argsType(ctx, e, types)};\n`;
    const data = e.argType && ctx.selection.entity(e.argType) ? quote(e.argType.name) : 'null';
    eventSpec += `    ${quote(e.name)}: ${data},\n`;
  }
  // Commands and events only the oldest supported release has: there, unchecked.
  const removed = ctx
    .doc()
    .text(
      `Only in older QEMU releases such as ${ctx.presence.oldestLabel}, the oldest supported release; ` +
        "gone from this schema. Not checked: its shape is that release's.",
    )
    .render('  ');
  for (const [name, r] of ctx.presence.removedCommands()) {
    const returns = {
      value: ['unknown', "'any'"],
      empty: ['Record<string, never>', "'q_empty'"],
      none: ['undefined', 'null'],
    }[r.returns];
    const args = r.takesArguments ? 'Record<string, unknown> | undefined' : 'undefined';
    commandMap += `${removed}  ${quote(name)}: { args: ${args}; returns: ${returns[0]} };\n`;
    commandSpec += `    ${quote(name)}: [${r.takesArguments ? "'any'" : 'null'}, ${returns[1]}],\n`;
  }
  for (const [name, data] of ctx.presence.removedEvents()) {
    eventMap += `${removed}  ${quote(name)}: ${data ? 'Record<string, unknown>' : 'undefined'};\n`;
    eventSpec += `    ${quote(name)}: ${data ? "'any'" : 'null'},\n`;
  }
  if (decl !== null) {
    decl.print(`/** Command name → argument and reply types. */\nexport interface CommandMap {\n${commandMap}}\n\n`);
    decl.print(`/** Event name → data type (undefined: no data). */\nexport interface EventMap {\n${eventMap}}\n\n`);
    decl.supportType('TypedEvent');
    decl.print('/** Any event of this schema, discriminated by `event`. */\n');
    decl.print('export type QapiEvent = TypedEvent<EventMap>;\n\n');
  }

  const defines = files.map((f) => ctx.defineNames.get(f) ?? '');
  for (const [i, f] of files.entries()) out.importValue(`./${f}.js`, defines[i] ?? '');
  out.supportValue('SchemaValidators');
  out.print('/** Validators of this schema, built lazily, strict and compatible. */\n');
  out.print('export const schemaValidators = new SchemaValidators({\n');
  out.print(`  int64: ${quote(ctx.options.int64)},\n`);
  out.print(`  modules: [${defines.join(', ')}],\n`);
  out.print(`  commands: {\n${commandSpec}  },\n`);
  out.print(`  events: {\n${eventSpec}  },\n});\n\n`);
  out.print('/** Type validators that pass through what a newer QEMU may add. */\n');
  const cast = ctx.js ? '' : ' as unknown as Validators';
  out.print(`export const validators = schemaValidators.registry(false).schemas${cast};\n`);
  out.print('/** Type validators that reject anything the schema does not describe. */\n');
  out.print(`export const strictValidators = schemaValidators.registry(true).schemas${cast};\n`);
  out.print('/** Command name → `{ args, returns }` validators (replies compatible). */\n');
  out.print('export const commands = schemaValidators.validatorSet(false).commands;\n');
  out.print('/** Event name → data validator (compatible), null for events without data. */\n');
  out.print('export const events = schemaValidators.validatorSet(false).events;\n\n');
  if (ctx.js && decl !== null) declareValidators(decl);

  clientClass(ctx, out);
  return out;
}

/** What the JavaScript index's validator constants are, for its .d.ts (the types TypeScript infers). */
function declareValidators(decl: GeneratedFile): void {
  decl.supportType('SchemaValidators');
  decl.supportType('ValidatorSet');
  decl.print(`/** Validators of this schema, built lazily, strict and compatible. */
export declare const schemaValidators: SchemaValidators;
/** Type validators that pass through what a newer QEMU may add. */
export declare const validators: Validators;
/** Type validators that reject anything the schema does not describe. */
export declare const strictValidators: Validators;
/** Command name → \`{ args, returns }\` validators (replies compatible). */
export declare const commands: ValidatorSet['commands'];
/** Event name → data validator (compatible), null for events without data. */
export declare const events: ValidatorSet['events'];

`);
}

const CLIENT_DOC = `/**
 * Typed client: one method per command (camelCase of the command name;
 * clashes get \`_2\`, \`_3\`… in schema order, and so do names every object
 * has, \`then\` and the base class's: \`then_2\`, \`toString_2\`),
 * \`execute(name, args)\` and \`events(names)\`. Arguments are always
 * checked strictly; replies and events are checked compatibly unless
 * \`strict\` is set; \`validate: false\` turns checking off.
 */
`;

/** The client class: in `out`, and declared in its `.d.ts` for JavaScript output. */
function clientClass(ctx: GenContext, out: GeneratedFile): void {
  const decl = ctx.js ? out.declarations : null;
  for (const file of decl ? [out, decl] : [out]) {
    file.supportValue('QapiClientBase');
    file.supportType('QapiClientOptions');
    file.supportType('QmpExecutor');
    if (ctx.commands.length > 0) file.supportType('ExecuteOptions');
  }
  const name = ctx.options.clientName;
  const doc = ctx.js && !ctx.options.docs ? '' : CLIENT_DOC;
  const construct = '    super(executor, options, (strict) => schemaValidators.validatorSet(strict));\n  }\n';
  let ts = `${doc}export class ${name} extends QapiClientBase<CommandMap, EventMap> {
  constructor(executor: QmpExecutor, options: QapiClientOptions = {}) {\n${construct}`;
  let js = `${doc}export class ${name} extends QapiClientBase {\n  constructor(executor, options = {}) {\n${construct}`;
  let dts = `${doc}export declare class ${name} extends QapiClientBase<CommandMap, EventMap> {
  constructor(executor: QmpExecutor, options?: QapiClientOptions);\n`;
  const types = decl ?? out;
  for (const c of ctx.commands) {
    const args = argsType(ctx, c, types);
    const takesArgs = args !== 'undefined';
    const optional = args.endsWith(' | undefined');
    const typedArgs = !takesArgs ? '' : `args${optional ? '?' : ''}: ${optional ? args.slice(0, -12) : args}, `;
    const head = `\n${commandDoc(ctx, c, '  ')}  ${ctx.methodNames.get(c.name)}(`;
    const returns = `Promise<${returnsType(ctx, c, types)}>`;
    const body = ` {\n    return this.execute(${quote(c.name)}, ${takesArgs ? 'args' : 'undefined'}, options);\n  }\n`;
    if (!ctx.js) ts += `${head}${typedArgs}options?: ExecuteOptions): ${returns}${body}`;
    else {
      js += `${head}${takesArgs ? 'args, ' : ''}options)${body}`;
      dts += `${head}${typedArgs}options?: ExecuteOptions): ${returns};\n`;
    }
  }
  if (!ctx.js) out.print(`${ts}}\n`);
  else {
    out.print(`${js}}\n`);
    decl?.print(`${dts}}\n`);
  }
}
