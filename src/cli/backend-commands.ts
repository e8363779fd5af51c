/**
 * `qapi-ts generate SCHEMA -o DIR`: TypeScript types, zod validators and a
 * typed client for a QAPI schema. Schema errors are printed as the
 * frontend reports them (QEMU's format) with exit status 1; doc-comment
 * problems are warnings unless --strict-docs.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isQapiError } from '../frontend/errors.js';
import { generate, isOldestSchemaError } from '../backends/generate.js';
import type { Int64Mode } from '../support/ints.js';
import { printable } from './printable.js';

/** Doc-comment warnings shown without --warnings. */
const SHOWN_WARNINGS = 5;

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
                           what these conditions select is generated, exactly;
                           without, what depends on a condition is optional
  --oldest-schema FILE     the schema of the oldest QEMU release the code must
                           work with: what it lacks is typed and validated as
                           possibly absent
  --oldest-label TEXT      how docs name that release (default: FILE as given),
                           e.g. 'QEMU 7.2'
  --no-unstable            leave out definitions marked 'unstable'
  --no-deprecated          leave out definitions marked 'deprecated'
  --client-name NAME       name of the client class (default: QapiClient)
  --language ts|js         TypeScript with types and docs (default), or
                           JavaScript modules with docs, each with a .d.ts
                           beside it holding the same types
  --warnings               list every doc-comment warning (default: the first
                           ${SHOWN_WARNINGS} and a count)
  -q, --quiet              do not list the files written
  -h, --help               show this help
`;

const INT64_MODES: readonly Int64Mode[] = ['mixed', 'bigint', 'number'];

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
type CommandArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: O }>
>;

/** Parses a command's arguments; a number is the exit status (usage error 2, --help 0). */
export function parseCommand<const O extends ParseArgsOptionsConfig>(
  name: string,
  argv: string[],
  options: O,
  help: string,
): CommandArgs<O> | number {
  let parsed: CommandArgs<O>;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (err) {
    process.stderr.write(`qapi-ts ${name}: ${(err as Error).message}\n${help}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help);
    return 0;
  }
  return parsed;
}

function int64Problem(value: string | undefined): string {
  return `--int64 must be one of ${INT64_MODES.join(', ')}, not '${value}'`;
}

/** The --int64 value, or undefined when it is not a known mode. */
function int64Mode(value: string | undefined): Int64Mode | undefined {
  const mode = value ?? 'mixed';
  return (INT64_MODES as readonly string[]).includes(mode) ? (mode as Int64Mode) : undefined;
}

export async function runGenerate(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'generate',
    argv,
    {
      out: { type: 'string', short: 'o' },
      'strict-docs': { type: 'boolean' },
      'support-import': { type: 'string' },
      int64: { type: 'string' },
      define: { type: 'string', multiple: true },
      'oldest-schema': { type: 'string' },
      'oldest-label': { type: 'string' },
      'no-unstable': { type: 'boolean' },
      'no-deprecated': { type: 'boolean' },
      'client-name': { type: 'string' },
      language: { type: 'string' },
      warnings: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      help: { type: 'boolean', short: 'h' },
    },
    GENERATE_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const usage = (problem: string): number => {
    process.stderr.write(`qapi-ts generate: ${problem}\n${GENERATE_HELP}`);
    return 2;
  };
  if (positionals.length !== 1) return usage('expected exactly one SCHEMA file');
  if (values.out === undefined) return usage('missing -o DIR');
  const int64 = int64Mode(values.int64);
  if (int64 === undefined) return usage(int64Problem(values.int64));
  const language = values.language ?? 'ts';
  if (language !== 'ts' && language !== 'js') return usage(`--language must be ts or js, not '${language}'`);
  if (values['client-name'] !== undefined && !/^[A-Za-z_$][\w$]*$/.test(values['client-name'])) {
    return usage(`--client-name must be an identifier, not '${values['client-name']}'`);
  }
  let warnings = 0;
  const onWarning = (message: string): void => {
    warnings++;
    if (values.warnings || warnings <= SHOWN_WARNINGS) process.stderr.write(`${message}\n`);
  };
  try {
    const result = await generate({
      schema: positionals[0]!,
      outDir: values.out,
      strictDocs: values['strict-docs'] ?? false,
      onWarning,
      supportImport: values['support-import'],
      int64,
      defines: values.define,
      oldestSchema: values['oldest-schema'],
      oldestLabel: values['oldest-label'],
      omitUnstable: values['no-unstable'] ?? false,
      omitDeprecated: values['no-deprecated'] ?? false,
      clientName: values['client-name'],
      language,
    });
    if (warnings > SHOWN_WARNINGS && !values.warnings) {
      process.stderr.write(
        `qapi-ts generate: ${warnings - SHOWN_WARNINGS} more doc-comment warnings ` +
          '(--warnings lists them all, --strict-docs makes them errors)\n',
      );
    }
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
    if (isOldestSchemaError(err)) {
      process.stderr.write(`qapi-ts generate: ${err.message}\n`);
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

const VERIFY_HELP = `usage: qapi-ts verify --schema SCHEMA [options] TRANSCRIPT.jsonl

Check a recorded QMP session, one {"dir": "client"|"server", "msg": ...} per
line ('-' reads stdin), against SCHEMA with its generated validators. Each
invalid message is printed with its line, member path and reason, then a
line 'N messages, N valid, N invalid'.

options:
  -s, --schema SCHEMA      the QAPI schema (required)
  --strict                 what the schema does not know in server messages
                           (members, enum values, events) is a finding too
  --int64 MODE             int/int64/uint64/size as 'mixed' (default),
                           'bigint' or 'number' (as for generate)
  --define SYMBOL          a defined 'if' symbol (repeatable), as for generate
  --oldest-schema FILE     the oldest QEMU release to accept messages of, as
                           for generate (what it lacks may be absent)
  --strict-docs            doc-comment problems are schema errors
  --warnings               list doc-comment warnings (default: a count)
  -h, --help               show this help

exit status: 0 all messages valid, 1 some invalid, 2 usage error, unreadable
file, invalid schema or a line that is not a transcript entry
`;

export async function runVerify(argv: string[]): Promise<number> {
  const fail = (problem: string, help = ''): number => {
    process.stderr.write(`qapi-ts verify: ${problem}\n${help}`);
    return 2;
  };
  const parsed = parseCommand(
    'verify',
    argv,
    {
      schema: { type: 'string', short: 's' },
      strict: { type: 'boolean' },
      int64: { type: 'string' },
      define: { type: 'string', multiple: true },
      'oldest-schema': { type: 'string' },
      'strict-docs': { type: 'boolean' },
      warnings: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    VERIFY_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return fail('expected exactly one TRANSCRIPT file', VERIFY_HELP);
  if (values.schema === undefined) return fail('missing --schema SCHEMA', VERIFY_HELP);
  const int64 = int64Mode(values.int64);
  if (int64 === undefined) return fail(int64Problem(values.int64), VERIFY_HELP);
  const source = positionals[0]!;
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (err) {
    return fail(`cannot read ${source}: ${(err as Error).message}`);
  }
  const { parseTranscript, verifyEntries, formatReport } = await import('../backends/verify.js');
  const { loadValidators } = await import('../backends/load.js');
  const transcript = parseTranscript(text);
  const warnings: string[] = [];
  let loaded;
  try {
    loaded = await loadValidators(values.schema, {
      lenientDocs: !values['strict-docs'],
      onWarning: (message) => warnings.push(message),
      int64,
      defines: values.define,
      oldestSchema: values['oldest-schema'],
    });
  } catch (err) {
    if (isQapiError(err)) return fail(`cannot use the schema:\n${err.format()}`);
    if (isOldestSchemaError(err)) return fail(`cannot use the schema ${err.message}`);
    throw err;
  }
  if (values.warnings) for (const w of warnings) process.stderr.write(`${w}\n`);
  else if (warnings.length > 0) {
    process.stderr.write(
      `qapi-ts verify: ${warnings.length} doc-comment warning${warnings.length === 1 ? '' : 's'} in ${values.schema} ` +
        '(--warnings lists them, --strict-docs makes them errors)\n',
    );
  }
  const strict = values.strict ?? false;
  const result = verifyEntries(transcript.entries, loaded.validatorSet(strict), { strict }, transcript.badLines);
  // Findings quote what the session's peers sent: escaped (printable.ts).
  for (const bad of result.badLines) process.stderr.write(`${source}:${bad.line}: ${printable(bad.reason)}\n`);
  process.stdout.write(`${formatReport(result, source).map(printable).join('\n')}\n`);
  if (result.badLines.length > 0) return 2;
  return result.invalid > 0 ? 1 : 0;
}
