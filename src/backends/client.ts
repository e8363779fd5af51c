/**
 * The generated index: re-exports of every module, the type and
 * validator tables, the `commands` / `events` maps, and the typed client
 * class with one method per command.
 */
import type { SchemaCommand, SchemaEvent } from '../frontend/model.js';
import type { GenContext } from './context.js';
import { GeneratedFile } from './emitter.js';
import { propertyKey, quote } from './names.js';

function argsType(ctx: GenContext, c: SchemaCommand | SchemaEvent, out: GeneratedFile): string {
  const t = c.argType;
  if (t === null || !ctx.selection.entity(t)) return 'undefined';
  let ref = ctx.typeRef(t, out);
  // 'gen': false with a named struct: the command takes further arguments.
  if (c.meta === 'command' && ctx.openArgumentsName(c) !== null) ref = `${ref} & { [argument: string]: unknown }`;
  return ctx.allOptional(t) && c.meta === 'command' ? `${ref} | undefined` : ref;
}

function returnsType(ctx: GenContext, c: SchemaCommand, out: GeneratedFile): string {
  if (!c.successResponse) return 'undefined';
  return c.retType === null ? 'Record<string, never>' : ctx.typeRef(c.retType, out);
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
    if (t) typeMap += `  ${propertyKey(qapiName)}: ${ctx.typeRef(t, out)};\n`;
  }
  out.supportType('z');
  out.print(`/** QAPI type name → TypeScript type. */\nexport interface TypeMap {\n${typeMap}}\n\n`);
  out.print('/** A validator per QAPI type, yielding exactly the generated type. */\n');
  out.print('export type Validators = { readonly [K in keyof TypeMap]: z.ZodType<TypeMap[K]> };\n\n');
}

export function indexFile(ctx: GenContext): GeneratedFile {
  const out = ctx.file('index');
  const files = [...new Set(ctx.moduleFiles.values())];
  for (const file of files) out.print(`export * from './${file}.js';\n`);
  out.print('\n');

  if (!ctx.js) typeTables(ctx, out);

  // Command and event tables
  let commandMap = '';
  let commandSpec = '';
  for (const c of ctx.commands) {
    commandMap += commandDoc(ctx, c, '  ', false);
    commandMap += `  ${quote(c.name)}: { args: ${argsType(ctx, c, out)}; returns: ${returnsType(ctx, c, out)} };\n`;
    const args = c.argType && ctx.selection.entity(c.argType) ? quote(ctx.openArgumentsName(c) ?? c.argType.name) : 'null';
    const returns = !c.successResponse ? 'null' : c.retType ? quote(c.retType.name) : "'q_empty'";
    commandSpec += `    ${quote(c.name)}: [${args}, ${returns}],\n`;
  }
  let eventMap = '';
  let eventSpec = '';
  for (const e of ctx.events) {
    eventMap += commandDoc(ctx, e, '  ');
    eventMap += `  ${quote(e.name)}: ${argsType(ctx, e, out)};\n`;
    eventSpec += `    ${quote(e.name)}: ${e.argType && ctx.selection.entity(e.argType) ? quote(e.argType.name) : 'null'},\n`;
  }
  // Commands and events only the oldest supported release has: there, unchecked.
  const removed = ctx.doc()
    .text(`Only in older QEMU releases such as ${ctx.presence.oldestLabel}, the oldest supported release; gone from this schema. Not checked: its shape is that release's.`)
    .render('  ');
  for (const [name, r] of ctx.presence.removedCommands()) {
    const returns = { value: ['unknown', "'any'"], empty: ['Record<string, never>', "'q_empty'"], none: ['undefined', 'null'] }[r.returns];
    commandMap += `${removed}  ${quote(name)}: { args: ${r.takesArguments ? 'Record<string, unknown> | undefined' : 'undefined'}; returns: ${returns[0]} };\n`;
    commandSpec += `    ${quote(name)}: [${r.takesArguments ? "'any'" : 'null'}, ${returns[1]}],\n`;
  }
  for (const [name, data] of ctx.presence.removedEvents()) {
    eventMap += `${removed}  ${quote(name)}: ${data ? 'Record<string, unknown>' : 'undefined'};\n`;
    eventSpec += `    ${quote(name)}: ${data ? "'any'" : 'null'},\n`;
  }
  if (!ctx.js) {
    out.print(`/** Command name → argument and reply types. */\nexport interface CommandMap {\n${commandMap}}\n\n`);
    out.print(`/** Event name → data type (undefined: no data). */\nexport interface EventMap {\n${eventMap}}\n\n`);
    out.supportType('TypedEvent');
    out.print('/** Any event of this schema, discriminated by `event`. */\n');
    out.print('export type QapiEvent = TypedEvent<EventMap>;\n\n');
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

  out.print(clientClass(ctx, out));
  return out;
}

function clientClass(ctx: GenContext, out: GeneratedFile): string {
  out.supportValue('QapiClientBase');
  out.supportType('QapiClientOptions');
  out.supportType('QmpExecutor');
  const ts = (annotation: string): string => (ctx.js ? '' : annotation);
  let text = ctx.js
    ? ''
    : `/**
 * Typed client: one method per command (camelCase of the command name;
 * clashes get \`_2\`, \`_3\`… in schema order, and so do names every object
 * has, \`then\` and the base class's: \`then_2\`, \`toString_2\`),
 * \`execute(name, args)\` and \`events(names)\`. Arguments are always
 * checked strictly; replies and events are checked compatibly unless
 * \`strict\` is set; \`validate: false\` turns checking off.
 */
`;
  text += `export class ${ctx.options.clientName} extends QapiClientBase${ts('<CommandMap, EventMap>')} {
  constructor(executor${ts(': QmpExecutor')}, options${ts(': QapiClientOptions')} = {}) {
    super(executor, options, (strict) => schemaValidators.validatorSet(strict));
  }
`;
  if (ctx.commands.length > 0) out.supportType('ExecuteOptions');
  for (const c of ctx.commands) {
    const args = argsType(ctx, c, out);
    const takesArgs = args !== 'undefined';
    const optional = args.endsWith(' | undefined');
    const params = !takesArgs ? '' : `args${ts(`${optional ? '?' : ''}: ${optional ? args.slice(0, -12) : args}`)}, `;
    text += '\n' + commandDoc(ctx, c, '  ');
    text += `  ${ctx.methodNames.get(c.name)}(${params}options${ts('?: ExecuteOptions')})${ts(`: Promise<${returnsType(ctx, c, out)}>`)} {\n`;
    text += `    return this.execute(${quote(c.name)}, ${takesArgs ? 'args' : 'undefined'}, options);\n  }\n`;
  }
  return `${text}}\n`;
}
