/**
 * `qapi-ts generate SCHEMA -o DIR`: TypeScript types, zod validators and a
 * typed client for a QAPI schema. Schema errors are printed as the
 * frontend reports them (QEMU's format) with exit status 1; doc-comment
 * problems are warnings unless --strict-docs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_QEMU_VERSION, normalizeQemuVersion, qemuVersionProblem } from '../frontend/release.js';
import { docLayoutHint, noteNewerRelease } from './frontend-commands.js';
import { isQapiError } from '../frontend/errors.js';
import {
  generate,
  generateFiles,
  isOldestSchemaError,
  readOldestSchema,
  writeGenerated,
  type GenerateRequest,
  type GenerateResult,
} from '../backends/generate.js';
import type { CheckedSchema } from '../frontend/model.js';
import type { Int64Mode } from '../support/ints.js';
import { printable } from './printable.js';
import { isInputFileError, readInputStream, readInputText, TRANSCRIPT_FILE } from '../read-file.js';
import { QmpCommandError, QmpError } from '../runtime/errors.js';
import type { IntrospectionSource } from '../introspection/fetch.js';
import { describeSource, introspectionSource, SOURCE_HELP, SOURCE_OPTIONS } from './introspection-source.js';

/** Doc-comment warnings shown without --warnings. */
const SHOWN_WARNINGS = 5;

const GENERATE_HELP = `usage: qapi-ts generate SCHEMA -o DIR [options]
       qapi-ts generate (--introspection FILE | --from-socket PATH |
                         --from-tcp HOST:PORT | --from-qemu BINARY) [SCHEMA] -o DIR [options]

Generate TypeScript types, zod validators and a typed QMP client, one file
per QAPI module plus index.ts.

From a QEMU's own schema (its query-qmp-schema reply) alone: exactly what
that build has, in one module 'qemu'; types are named after where they are
first used (the reply numbers them), every integer is 'int' and there are
no doc comments; device_add takes more arguments than it declares. With
SCHEMA too: SCHEMA's names, docs and integer widths, and of its
conditional parts what the QEMU has; where the two disagree (a schema of
another release) you are told.

options:
  -o, --out DIR            output directory (required)
${SOURCE_HELP}  --strict-docs            doc-comment problems are errors (default: warnings)
  --support-import SPEC    module the generated code imports its support
                           library from (default: qapi-ts/support)
  --qemu-version V         read SCHEMA with the rules of QEMU release V (as for
                           check; default ${DEFAULT_QEMU_VERSION}, the newest known)
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
      'qemu-version': { type: 'string' },
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
      ...SOURCE_OPTIONS,
    },
    GENERATE_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const usage = (problem: string): number => {
    process.stderr.write(`qapi-ts generate: ${problem}\n${GENERATE_HELP}`);
    return 2;
  };
  const from = introspectionSource(values);
  if (from.problem !== undefined) return usage(from.problem);
  if (from.source === undefined && positionals.length !== 1) {
    return usage(
      'expected exactly one SCHEMA file (or a QEMU to ask: --introspection, --from-socket, --from-tcp, --from-qemu)',
    );
  }
  if (positionals.length > 1) return usage('expected at most one SCHEMA file');
  if (from.source !== undefined && values.define !== undefined) {
    return usage('--define does not go with a QEMU to ask: its reply says which conditions hold');
  }
  if (values.out === undefined) return usage('missing -o DIR');
  const int64 = int64Mode(values.int64);
  if (int64 === undefined) return usage(int64Problem(values.int64));
  const qemuVersion = values['qemu-version'] ?? DEFAULT_QEMU_VERSION;
  if (normalizeQemuVersion(qemuVersion) === null) return usage(`--qemu-version: ${qemuVersionProblem(qemuVersion)}`);
  const language = values.language ?? 'ts';
  if (language !== 'ts' && language !== 'js') return usage(`--language must be ts or js, not '${language}'`);
  if (values['client-name'] !== undefined && !/^[A-Za-z_$][\w$]*$/.test(values['client-name'])) {
    return usage(`--client-name must be an identifier, not '${values['client-name']}'`);
  }
  noteNewerRelease(qemuVersion, (text) => void process.stderr.write(text));
  let warnings = 0;
  const onWarning = (message: string): void => {
    warnings++;
    if (values.warnings || warnings <= SHOWN_WARNINGS) process.stderr.write(`${message}\n`);
  };
  try {
    const request: GenerateRequest = {
      schema: positionals[0] ?? '',
      outDir: values.out,
      strictDocs: values['strict-docs'] ?? false,
      onWarning,
      qemuVersion,
      supportImport: values['support-import'],
      int64,
      defines: values.define,
      oldestSchema: values['oldest-schema'],
      oldestLabel: values['oldest-label'],
      omitUnstable: values['no-unstable'] ?? false,
      omitDeprecated: values['no-deprecated'] ?? false,
      clientName: values['client-name'],
      language,
    };
    const result =
      from.source === undefined
        ? await generate(request)
        : await generateFromIntrospection(request, from.source, from.timeout);
    if (typeof result === 'number') return result;
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
          (changed === 0
            ? ', all up to date\n'
            : `, ${result.written.length} written, ${result.removed.length} removed\n`),
      );
    }
    return 0;
  } catch (err) {
    if (isQapiError(err)) {
      process.stderr.write(`${err.format()}\n`);
      const hint = docLayoutHint(positionals[0]!, err, qemuVersion);
      if (hint !== null) process.stderr.write(`qapi-ts generate: ${hint}\n`);
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

/**
 * `generate` with a QEMU to ask: fetches its reply, then generates from it
 * alone or (with SCHEMA) from SCHEMA with the conditions the reply shows.
 * A number is the exit status of a failure already reported.
 */
async function generateFromIntrospection(
  request: GenerateRequest,
  source: IntrospectionSource,
  timeout: number,
): Promise<GenerateResult | number> {
  const loaded = await introspectionSchema(
    source,
    timeout,
    'generate',
    request.schema === '' ? undefined : request.schema,
    {
      lenientDocs: !request.strictDocs,
      onWarning: request.onWarning ?? (() => {}),
    },
  );
  if (typeof loaded === 'number') return loaded;
  const oldestSchema = request.oldestSchema === undefined ? undefined : await readOldestSchema(request.oldestSchema);
  const files = generateFiles(loaded.schema, { ...request, oldestSchema, defines: loaded.defines });
  return writeGenerated(request.outDir, files);
}

/**
 * The schema to generate from for a QEMU to ask (see generate's help),
 * or the exit status of a failure, reported on stderr: 3 the QEMU could
 * not be reached, 4 it refused query-qmp-schema, 1 its reply is not
 * introspection data or describes no valid schema (or SCHEMA is invalid),
 * 2 (for `verify`, whose input problems are usage errors) likewise.
 */
export async function introspectionSchema(
  source: IntrospectionSource,
  timeout: number,
  command: string,
  schemaFile: string | undefined,
  frontend: { lenientDocs: boolean; onWarning: (message: string) => void },
  invalidStatus = 1,
): Promise<{ schema: CheckedSchema; defines?: string[] } | number> {
  const { fetchIntrospection } = await import('../introspection/fetch.js');
  const say = (text: string): void => void process.stderr.write(`qapi-ts ${command}: ${text}\n`);
  let reply: unknown;
  try {
    reply = await fetchIntrospection(source, { timeout });
  } catch (e) {
    if (e instanceof QmpCommandError) {
      say(`${describeSource(source)} refused query-qmp-schema: ${e.errorClass}: ${e.desc}`);
      return 4;
    }
    if (e instanceof QmpError && e.code === 'QMP_ERR_INTROSPECTION') {
      say(e.message);
      return invalidStatus;
    }
    if (e instanceof QmpError) {
      say(`${e.code}: ${e.message}`);
      return 3;
    }
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code === 'string') {
      say(`cannot read ${describeSource(source)}: ${err.message}`);
      return invalidStatus;
    }
    throw e;
  }
  try {
    if (schemaFile === undefined) {
      const { schemaFromIntrospection } = await import('../introspection/schema.js');
      return { schema: await schemaFromIntrospection(reply) };
    }
    const { parseSchema } = await import('../frontend/index.js');
    const { compareSchemaWithIntrospection } = await import('../introspection/combine.js');
    const schema = parseSchema(schemaFile, frontend);
    const agreement = compareSchemaWithIntrospection(schema, reply);
    for (const line of agreement.disagreements) {
      say(`warning: ${schemaFile} and ${describeSource(source)} disagree: ${line}`);
    }
    return { schema, defines: agreement.defines };
  } catch (e) {
    if (isQapiError(e)) {
      say(
        `${schemaFile === undefined ? `the schema of ${describeSource(source)} is invalid` : `invalid schema ${schemaFile}`}:\n${e.format()}`,
      );
      return invalidStatus;
    }
    if (e instanceof QmpError) {
      say(e.message);
      return invalidStatus;
    }
    throw e;
  }
}

const VERIFY_HELP = `usage: qapi-ts verify --schema SCHEMA [options] TRANSCRIPT.jsonl
       qapi-ts verify (--introspection FILE | --from-socket PATH |
                       --from-tcp HOST:PORT | --from-qemu BINARY) [--schema SCHEMA] [options] TRANSCRIPT.jsonl

Check a recorded QMP session, one {"dir": "client"|"server", "msg": ...} per
line ('-' reads stdin), against SCHEMA with its generated validators. Each
invalid message is printed with its line, member path and reason, then a
line 'N messages, N valid, N invalid'.

options:
  -s, --schema SCHEMA      the QAPI schema (required unless a QEMU is asked)
${SOURCE_HELP.replace(/^  --timeout.*\n/m, '')}                           (a QEMU's own schema, as generate makes it from
                           one; with --schema, that schema's conditions as the
                           QEMU has them)
  --timeout MS             connect and reply timeout (default 10000)
  --strict                 what the schema does not know in server messages
                           (members, enum values, events) is a finding too
  --int64 MODE             int/int64/uint64/size as 'mixed' (default),
                           'bigint' or 'number' (as for generate)
  --define SYMBOL          a defined 'if' symbol (repeatable), as for generate
  --oldest-schema FILE     the oldest QEMU release to accept messages of, as
                           for generate (what it lacks may be absent)
  --strict-docs            doc-comment problems are schema errors
  --qemu-version V         read SCHEMA with the rules of QEMU release V (as for
                           check; default ${DEFAULT_QEMU_VERSION})
  --warnings               list doc-comment warnings (default: a count)
  -h, --help               show this help

exit status: 0 all messages valid, 1 some invalid, 2 usage error, unreadable
file, invalid schema or a line that is not a transcript entry; with a QEMU
to ask, 3 when it cannot be reached, 4 when it refuses query-qmp-schema
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
      'qemu-version': { type: 'string' },
      warnings: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...SOURCE_OPTIONS,
    },
    VERIFY_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return fail('expected exactly one TRANSCRIPT file', VERIFY_HELP);
  const from = introspectionSource(values);
  if (from.problem !== undefined) return fail(from.problem, VERIFY_HELP);
  if (values.schema === undefined && from.source === undefined) {
    return fail(
      'missing --schema SCHEMA (or a QEMU to ask: --introspection, --from-socket, --from-tcp, --from-qemu)',
      VERIFY_HELP,
    );
  }
  if (from.source !== undefined && values.define !== undefined) {
    return fail('--define does not go with a QEMU to ask: its reply says which conditions hold', VERIFY_HELP);
  }
  const int64 = int64Mode(values.int64);
  if (int64 === undefined) return fail(int64Problem(values.int64), VERIFY_HELP);
  const qemuVersion = values['qemu-version'] ?? DEFAULT_QEMU_VERSION;
  if (normalizeQemuVersion(qemuVersion) === null) {
    return fail(`--qemu-version: ${qemuVersionProblem(qemuVersion)}`, VERIFY_HELP);
  }
  const source = positionals[0]!;
  let text: string;
  try {
    // Regular files only (or standard input for '-'), at most 256 MiB.
    text =
      source === '-'
        ? (await readInputStream(process.stdin, 'standard input', TRANSCRIPT_FILE)).toString('utf8')
        : readInputText(source, TRANSCRIPT_FILE);
  } catch (err) {
    return fail(`cannot read ${isInputFileError(err) ? err.message : `${source}: ${String(err)}`}`);
  }
  noteNewerRelease(qemuVersion, (text) => void process.stderr.write(text));
  const { parseTranscript, verifyEntries, formatReport } = await import('../transcripts/index.js');
  const { loadValidators } = await import('../backends/load.js');
  const transcript = parseTranscript(text);
  const warnings: string[] = [];
  let loaded;
  try {
    const options = {
      lenientDocs: !values['strict-docs'],
      onWarning: (message: string) => void warnings.push(message),
      int64,
      qemuVersion,
      defines: values.define,
      oldestSchema: values['oldest-schema'],
    };
    if (from.source === undefined) loaded = await loadValidators(values.schema!, options);
    else {
      const got = await introspectionSchema(from.source, from.timeout, 'verify', values.schema, options, 2);
      if (typeof got === 'number') return got;
      const { loadSchemaValidators } = await import('../backends/load.js');
      loaded = await loadSchemaValidators(got.schema, { ...options, defines: got.defines });
    }
  } catch (err) {
    if (isQapiError(err)) {
      const hint = values.schema === undefined ? null : docLayoutHint(values.schema, err, qemuVersion);
      return fail(`cannot use the schema:\n${err.format()}` + (hint === null ? '' : `\nqapi-ts verify: ${hint}`));
    }
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
