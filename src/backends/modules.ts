/** One output file per QAPI module: its types and its validator definitions. */
import type { SchemaEntity } from '../frontend/model.js';
import type { GenContext } from './context.js';
import type { GeneratedFile } from './emitter.js';
import { emitAlternate, emitEnum, emitObject } from './types.js';
import { openArgumentsDefinition, validatorDefinition } from './zod.js';

/**
 * The module's file. In JavaScript output its types go to the `.d.ts`
 * beside it (`out.declarations`), which also declares the define function.
 */
export function moduleFile(ctx: GenContext, file: string, entities: readonly SchemaEntity[]): GeneratedFile {
  const out = ctx.file(file);
  const types = ctx.declarations(out);
  let defs = '';
  for (const e of entities) {
    if (!ctx.selection.entity(e)) continue;
    if (ctx.declaresType(e)) {
      if (e.meta === 'enum') emitEnum(ctx, e, out);
      else if (types !== null && e.meta === 'alternate') emitAlternate(ctx, e, types);
      else if (types !== null && (e.meta === 'struct' || e.meta === 'union')) emitObject(ctx, e, types);
    }
    if (e.meta === 'command') defs += openArgumentsDefinition(ctx, e);
    else if (e.meta !== 'event' && e.meta !== 'include' && e.meta !== 'built-in') defs += validatorDefinition(ctx, e);
  }
  types?.supportType('ValidatorRegistry');
  types?.supportType('ValidatorKit');
  // Unused parameters get a leading underscore (for noUnusedParameters).
  const [r, v] = defs === '' ? ['_r', '_v'] : ['r', 'v'];
  const typed = `${r}: ValidatorRegistry, ${v}: ValidatorKit`;
  const name = ctx.defineNames.get(file) ?? '';
  const doc = ctx.js && !ctx.options.docs ? '' : '/** Registers the validators of the types above. */\n';
  if (ctx.js) {
    out.print(`${doc}export function ${name}(${r}, ${v}) {\n${defs}}\n`);
    out.declarations?.print(`${doc}export declare function ${name}(${typed}): void;\n`);
  } else {
    out.print(`${doc}export function ${name}(${typed}): void {\n${defs}}\n`);
  }
  return out;
}
