/** The library example (docs/library.md), made to import from the sources and from a generated client. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/shared.js';

/** The first ```ts block of docs/library.md. */
export function libraryExample(): string {
  const section = readFileSync(join(repoRoot, 'docs/library.md'), 'utf8');
  const m = /```ts\n([^]*?)```/.exec(section);
  if (!m) throw new Error('no example in the Library section');
  return m[1]!;
}

/** The example importing the package's sources, and its QapiClient from `clientIndex` (a relative specifier). */
export function exampleAgainst(clientIndex: string): string {
  const example = libraryExample()
    .replace(/^import \{ QapiClient \} from 'qapi-ts';.*$/m, `import { QapiClient } from '${clientIndex}';`)
    .replaceAll("from 'qapi-ts/runtime'", `from '${join(repoRoot, 'src/runtime/index.js')}'`)
    .replaceAll("from 'qapi-ts'", `from '${join(repoRoot, 'src/index.js')}'`);
  if (!example.includes(`from '${clientIndex}'`))
    throw new Error('the example no longer imports QapiClient from qapi-ts');
  return `${example}\nexport {};\n`;
}

/** Diagnostics an example may have: results it shows but does not use. */
export const unusedResult = (diagnostic: string): boolean =>
  diagnostic.includes('is declared but its value is never read');
