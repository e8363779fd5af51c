/**
 * `qapi-ts generate SCHEMA -o DIR`: TypeScript types, zod validators and a
 * typed client for a QAPI schema. Schema errors are printed as the
 * frontend reports them (QEMU's format) with exit status 1; doc-comment
 * problems are warnings unless --strict-docs.
 */
import { parseArgs } from 'node:util';
import { isQapiError } from '../frontend/errors.js';
import { generate } from '../backends/generate.js';
import type { Int64Mode } from '../support/ints.js';

const GENERATE_HELP = `usage: qapi-ts generate SCHEMA -o DIR [options]

Generate TypeScript types, zod validators and a typed QMP client, one file
per QAPI module plus index.ts.

options:
  -o, --out DIR            output directory (required)
  --strict-docs            doc-comment problems are errors (default: warnings)
  --support-import SPEC    module the generated code imports its support
                           library from (default: qapi-ts/support)
  --int64 MODE             int/int64/uint64/size as 'mixed' (number | bigint,
                           default), 'bigint' or 'number'
  --define SYMBOL          a defined 'if' symbol (repeatable); when given, only
                           what these conditions select is generated
  --no-unstable            leave out definitions marked 'unstable'
  --no-deprecated          leave out definitions marked 'deprecated'
  --client-name NAME       name of the client class (default: QapiClient)
  -q, --quiet              do not list the files written
  -h, --help               show this help
`;

const INT64_MODES: readonly Int64Mode[] = ['mixed', 'bigint', 'number'];

export async function runGenerate(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        'strict-docs': { type: 'boolean' },
        'support-import': { type: 'string' },
        int64: { type: 'string' },
        define: { type: 'string', multiple: true },
        'no-unstable': { type: 'boolean' },
        'no-deprecated': { type: 'boolean' },
        'client-name': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`qapi-ts generate: ${(err as Error).message}\n${GENERATE_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(GENERATE_HELP);
    return 0;
  }
  const usage = (problem: string): number => {
    process.stderr.write(`qapi-ts generate: ${problem}\n${GENERATE_HELP}`);
    return 2;
  };
  if (positionals.length !== 1) return usage('expected exactly one SCHEMA file');
  if (values.out === undefined) return usage('missing -o DIR');
  const int64 = values.int64 ?? 'mixed';
  if (!(INT64_MODES as readonly string[]).includes(int64)) {
    return usage(`--int64 must be one of ${INT64_MODES.join(', ')}, not '${int64}'`);
  }
  if (values['client-name'] !== undefined && !/^[A-Za-z_$][\w$]*$/.test(values['client-name'])) {
    return usage(`--client-name must be an identifier, not '${values['client-name']}'`);
  }
  try {
    const result = await generate({
      schema: positionals[0]!,
      outDir: values.out,
      strictDocs: values['strict-docs'] ?? false,
      supportImport: values['support-import'],
      int64: int64 as Int64Mode,
      defines: values.define,
      omitUnstable: values['no-unstable'] ?? false,
      omitDeprecated: values['no-deprecated'] ?? false,
      clientName: values['client-name'],
    });
    if (!values.quiet) {
      const changed = result.written.length + result.removed.length;
      process.stderr.write(
        `qapi-ts generate: ${result.files.length} files in ${values.out}` +
          (changed === 0 ? ', all up to date\n' : `, ${result.written.length} written, ${result.removed.length} removed\n`),
      );
    }
    return 0;
  } catch (err) {
    if (isQapiError(err)) {
      process.stderr.write(`${err.format()}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      process.stderr.write(`qapi-ts generate: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
}

export async function runVerify(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}
