/**
 * The README's library example compiles (tsc strict, exactOptionalPropertyTypes
 * and more) against a client generated from a real QEMU's own schema (QEMU
 * 11.1's reply, as its schema files make it: no `holders`) and against the
 * client of our qapi/ (with `holders`).
 */
import { readFileSync } from 'node:fs';
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
import { strictDiagnostics } from '../backends/helpers.js';

/** The first ```ts block of the README's Library section. */
function libraryExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library'));
  const m = /```ts\n([^]*?)```/.exec(section);
  if (!m) throw new Error('no example in the Library section');
  return m[1]!;
}

describe("the README's library example", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function compileAgainst(schema: CheckedSchema): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'qapi-ts-readme-'));
    dirs.push(dir);
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    await writeGenerated(join(dir, 'client'), generateFiles(schema, { supportImport: join(repoRoot, 'src/support/index.js') }));
    const example = libraryExample()
      .replace(/^import \{ QapiClient \} from 'qapi-ts';.*$/m, "import { QapiClient } from './client/index.js';")
      .replaceAll("from 'qapi-ts/runtime'", `from '${join(repoRoot, 'src/runtime/index.js')}'`)
      .replaceAll("from 'qapi-ts'", `from '${join(repoRoot, 'src/index.js')}'`);
    expect(example).toContain("from './client/index.js'");
    await writeFile(join(dir, 'example.ts'), `${example}\nexport {};\n`);
    // An example shows calls; that it leaves some results unused is fine.
    return strictDiagnostics([join(dir, 'example.ts')]).filter((d) => d.includes('example.ts') && !d.includes('is declared but its value is never read'));
  }

  it('compiles against the client of our own schema (with holders)', { timeout: 120_000 }, async () => {
    expect(await compileAgainst(parseSchema(join(repoRoot, 'qapi/qapi-schema.json')))).toEqual([]);
  });

  const corpus = sharedDir('corpus/qemu-11.1');
  it.runIf(corpus !== null)("compiles against a client from QEMU 11.1's own schema (no holders)", { timeout: 120_000 }, async () => {
    const reply = generateIntrospection(parseSchema(join(corpus!, 'qapi/qapi-schema.json'), { lenientDocs: true, onWarning: () => {} }));
    expect(await compileAgainst(await schemaFromIntrospection(reply))).toEqual([]);
  });
});
