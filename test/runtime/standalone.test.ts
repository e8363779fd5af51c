/**
 * The runtime stands alone ('qapi-ts/runtime'): its modules import only
 * each other and Node's built-ins, never the frontend, the backends or zod.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

it('src/runtime imports nothing but itself and node:*', () => {
  const dir = join(repoRoot, 'src/runtime');
  const foreign: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1] as string;
      if (!spec.startsWith('./') && !spec.startsWith('node:')) foreign.push(`${file}: ${spec}`);
    }
  }
  expect(foreign).toEqual([]);
});
