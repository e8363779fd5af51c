/** One output file per QAPI module: its types and its validator definitions. */
import type { SchemaEntity } from '../frontend/model.js';
import type { GenContext } from './context.js';
import { GeneratedFile } from './emitter.js';
import { emitAlternate, emitEnum, emitObject } from './types.js';
import { validatorDefinition } from './zod.js';

export function moduleFile(ctx: GenContext, file: string, entities: readonly SchemaEntity[]): GeneratedFile {
  const out = new GeneratedFile(`${file}.ts`);
  let defs = '';
  for (const e of entities) {
    if (!ctx.selection.entity(e)) continue;
    if (ctx.declaresType(e)) {
      if (e.meta === 'enum') emitEnum(ctx, e, out);
      else if (e.meta === 'alternate') emitAlternate(ctx, e, out);
      else if (e.meta === 'struct' || e.meta === 'union') emitObject(ctx, e, out);
    }
    if (e.meta !== 'command' && e.meta !== 'event' && e.meta !== 'include' && e.meta !== 'built-in') {
      defs += validatorDefinition(ctx, e);
    }
  }
  out.supportType('ValidatorRegistry');
  out.supportType('ValidatorKit');
  out.print(`/** Registers the validators of the types above. */\n`);
  // Unused parameters get a leading underscore (for noUnusedParameters).
  const params = defs === '' ? '_r: ValidatorRegistry, _v: ValidatorKit' : 'r: ValidatorRegistry, v: ValidatorKit';
  out.print(`export function ${ctx.defineNames.get(file)}(${params}): void {\n${defs}}\n`);
  return out;
}
