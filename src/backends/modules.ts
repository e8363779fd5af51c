/** One output file per QAPI module: its types and its validator definitions. */
import type { SchemaEntity } from '../frontend/model.js';
import type { GenContext } from './context.js';
import type { GeneratedFile } from './emitter.js';
import { emitAlternate, emitEnum, emitEnumValues, emitObject } from './types.js';
import { openArgumentsDefinition, validatorDefinition } from './zod.js';

export function moduleFile(ctx: GenContext, file: string, entities: readonly SchemaEntity[]): GeneratedFile {
  const out = ctx.file(file);
  let defs = '';
  for (const e of entities) {
    if (!ctx.selection.entity(e)) continue;
    if (ctx.js) {
      if (e.meta === 'enum') emitEnumValues(ctx, e, out);
    } else if (ctx.declaresType(e)) {
      if (e.meta === 'enum') emitEnum(ctx, e, out);
      else if (e.meta === 'alternate') emitAlternate(ctx, e, out);
      else if (e.meta === 'struct' || e.meta === 'union') emitObject(ctx, e, out);
    }
    if (e.meta === 'command') defs += openArgumentsDefinition(ctx, e);
    else if (e.meta !== 'event' && e.meta !== 'include' && e.meta !== 'built-in') defs += validatorDefinition(ctx, e);
  }
  out.supportType('ValidatorRegistry');
  out.supportType('ValidatorKit');
  // Unused parameters get a leading underscore (for noUnusedParameters).
  const [r, v] = defs === '' ? ['_r', '_v'] : ['r', 'v'];
  const params = ctx.js ? `${r}, ${v}` : `${r}: ValidatorRegistry, ${v}: ValidatorKit`;
  if (!ctx.js) out.print(`/** Registers the validators of the types above. */\n`);
  out.print(`export function ${ctx.defineNames.get(file)}(${params})${ctx.js ? '' : ': void'} {\n${defs}}\n`);
  return out;
}
