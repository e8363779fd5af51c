/**
 * The README's library example compiles (tsc strict, exactOptionalPropertyTypes
 * and more) against a client generated from a real QEMU's own schema (QEMU
 * 11.1's reply, as its schema files make it: no `holders`) and against the
 * client of our qapi/ (with `holders`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { generateIntrospection } from '../../src/backends/introspect.js';
import { generateFiles, writeGenerated } from '../../src/backends/generate.js';
import { schemaFromIntrospection } from '../../src/introspection/schema.js';
import type { CheckedSchema } from '../../src/frontend/model.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { strictDiagnostics } from '../helpers/tsc.js';
import { exampleAgainst, unusedResult } from './readme-example.js';

describe("the README's library example", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function compileAgainst(schema: CheckedSchema): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'qapi-ts-readme-'));
    dirs.push(dir);
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeGenerated(
      join(dir, 'client'),
      generateFiles(schema, { supportImport: join(repoRoot, 'src/support/index.js') }),
    );
    await writeFile(join(dir, 'example.ts'), exampleAgainst('./client/index.js'));
    // An example shows calls; that it leaves some results unused is fine.
    const example = join(dir, 'example.ts');
    return strictDiagnostics([example], { only: [example] }).filter((d) => !unusedResult(d));
  }

  it('compiles against the client of our own schema (with holders)', { timeout: 240_000 }, async () => {
    expect(await compileAgainst(parseSchema(join(repoRoot, 'qapi/qapi-schema.json')))).toEqual([]);
  });

  const corpus = sharedDir('corpus/qemu-11.1');
  it.runIf(corpus !== null)(
    "compiles against a client from QEMU 11.1's own schema (no holders)",
    { timeout: 240_000 },
    async () => {
      const reply = generateIntrospection(
        parseSchema(join(corpus!, 'qapi/qapi-schema.json'), { lenientDocs: true, onWarning: () => {} }),
      );
      expect(await compileAgainst(await schemaFromIntrospection(reply))).toEqual([]);
    },
  );
});
