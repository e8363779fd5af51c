/**
 * `qapi-ts generate SCHEMA -o DIR`: TypeScript types, zod validators and a
 * typed client for a QAPI schema. Schema errors are printed as the
 * frontend reports them (QEMU's format) with exit status 1; doc-comment
 * problems are warnings unless --strict-docs.
 */
import { DEFAULT_QEMU_VERSION, normalizeQemuVersion, qemuVersionProblem } from '../frontend/release.js';
import { GENERATE, SHOWN_WARNINGS, VERIFY } from './commands.js';
import { EXIT_USAGE, parseCommand, processIO, usageLine, type CommandIO, type Parsed } from './kit.js';
import type { VerifyResult } from '../transcripts/verify.js';
import { docLayoutHint, noteNewerRelease } from './schema-notes.js';
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
import { printable, printableJson } from './printable.js';
import { isInputFileError, readInputStream, readInputText, TRANSCRIPT_FILE } from '../read-file.js';
import { QmpCommandError, QmpError } from '../runtime/errors.js';
import type { IntrospectionSource } from '../introspection/fetch.js';
import { describeSource, introspectionSource } from './introspection-source.js';

const INT64_MODES: readonly Int64Mode[] = ['mixed', 'bigint', 'number'];

function int64Problem(value: string | undefined): string {
  return `--int64 must be one of ${INT64_MODES.join(', ')}, not '${value}'`;
}

/** The --int64 value, or undefined when it is not a known mode. */
function int64Mode(value: string | undefined): Int64Mode | undefined {
  const mode = value ?? 'mixed';
  return (INT64_MODES as readonly string[]).includes(mode) ? (mode as Int64Mode) : undefined;
}

export async function runGenerate(argv: string[], io: CommandIO = processIO): Promise<number> {
  const parsed = parseCommand(GENERATE, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const usage = (problem: string): number => {
    io.stderr(usageLine('generate', problem));
    return EXIT_USAGE;
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
  noteNewerRelease(qemuVersion, io.stderr);
  let warnings = 0;
  const onWarning = (message: string): void => {
    warnings++;
    if (values.warnings || warnings <= SHOWN_WARNINGS) io.stderr(`${message}\n`);
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
        : await generateFromIntrospection(request, from.source, from.timeout, io);
    if (typeof result === 'number') return result;
    if (warnings > SHOWN_WARNINGS && !values.warnings) {
      io.stderr(
        `qapi-ts generate: ${warnings - SHOWN_WARNINGS} more doc-comment warnings ` +
          '(--warnings lists them all, --strict-docs makes them errors)\n',
      );
    }
    if (!values.quiet) {
      const changed = result.written.length + result.removed.length;
      io.stderr(
        `qapi-ts generate: ${result.files.length} files in ${values.out}` +
          (changed === 0
            ? ', all up to date\n'
            : `, ${result.written.length} written, ${result.removed.length} removed\n`),
      );
    }
    return 0;
  } catch (err) {
    if (isQapiError(err)) {
      io.stderr(`${err.format()}\n`);
      const hint = docLayoutHint(positionals[0]!, err, qemuVersion);
      if (hint !== null) io.stderr(`qapi-ts generate: ${hint}\n`);
      return 1;
    }
    if (isOldestSchemaError(err)) {
      io.stderr(`qapi-ts generate: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      io.stderr(`qapi-ts generate: ${e.message}\n`);
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
  io: CommandIO,
): Promise<GenerateResult | number> {
  const loaded = await introspectionSchema(
    io,
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
  io: CommandIO,
  source: IntrospectionSource,
  timeout: number,
  command: string,
  schemaFile: string | undefined,
  frontend: { lenientDocs: boolean; onWarning: (message: string) => void },
  invalidStatus = 1,
): Promise<{ schema: CheckedSchema; defines?: string[] } | number> {
  const { fetchIntrospection } = await import('../introspection/fetch.js');
  const say = (text: string): void => void io.stderr(`qapi-ts ${command}: ${text}\n`);
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
      const what =
        schemaFile === undefined
          ? `the schema of ${describeSource(source)} is invalid`
          : `invalid schema ${schemaFile}`;
      say(`${what}:\n${e.format()}`);
      return invalidStatus;
    }
    if (e instanceof QmpError) {
      say(e.message);
      return invalidStatus;
    }
    throw e;
  }
}

export async function runVerify(argv: string[], io: CommandIO = processIO): Promise<number> {
  const parsed = parseCommand(VERIFY, argv, io);
  if (typeof parsed === 'number') return parsed;
  if (!parsed.values.json) return verifyParsed(parsed, io);
  // --json: what would go to stderr becomes the document's diagnostics.
  const diagnostics: string[] = [];
  let result: VerifyResult | undefined;
  const status = await verifyParsed(
    parsed,
    { stdout: () => {}, stderr: (text) => void diagnostics.push(...text.replace(/\n$/, '').split('\n')) },
    (r) => (result = r),
  );
  io.stdout(
    `${printableJson(JSON.stringify(verifyDocument(status, parsed.positionals[0] ?? null, result, diagnostics)))}\n`,
  );
  return status;
}

/**
 * The document of `verify --json`: the exit status, the transcript, the
 * counts with every invalid message and bad line (null when verifying
 * did not get that far), and what would have gone to stderr.
 */
function verifyDocument(
  status: number,
  transcript: string | null,
  result: VerifyResult | undefined,
  diagnostics: string[],
): unknown {
  return {
    status,
    transcript,
    result:
      result === undefined
        ? null
        : {
            messages: result.messages,
            valid: result.valid,
            invalid: result.invalid,
            invalidMessages: result.verdicts
              .filter((v) => v.findings.length > 0)
              .map(({ line, dir, kind, label, findings }) => ({ line, dir, kind, label, findings })),
            badLines: result.badLines,
          },
    diagnostics,
  };
}

async function verifyParsed(
  parsed: Parsed<typeof VERIFY.options>,
  io: CommandIO,
  onResult: (result: VerifyResult) => void = () => {},
): Promise<number> {
  const fail = (problem: string, help = ''): number => {
    io.stderr(help === '' ? `qapi-ts verify: ${problem}\n` : usageLine('verify', problem));
    return EXIT_USAGE;
  };
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return fail('expected exactly one TRANSCRIPT file', 'usage');
  const from = introspectionSource(values);
  if (from.problem !== undefined) return fail(from.problem, 'usage');
  if (values.schema === undefined && from.source === undefined) {
    return fail(
      'missing --schema SCHEMA (or a QEMU to ask: --introspection, --from-socket, --from-tcp, --from-qemu)',
      'usage',
    );
  }
  if (from.source !== undefined && values.define !== undefined) {
    return fail('--define does not go with a QEMU to ask: its reply says which conditions hold', 'usage');
  }
  const int64 = int64Mode(values.int64);
  if (int64 === undefined) return fail(int64Problem(values.int64), 'usage');
  const qemuVersion = values['qemu-version'] ?? DEFAULT_QEMU_VERSION;
  if (normalizeQemuVersion(qemuVersion) === null) {
    return fail(`--qemu-version: ${qemuVersionProblem(qemuVersion)}`, 'usage');
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
  noteNewerRelease(qemuVersion, io.stderr);
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
      const got = await introspectionSchema(io, from.source, from.timeout, 'verify', values.schema, options, 2);
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
  if (values.warnings) for (const w of warnings) io.stderr(`${w}\n`);
  else if (warnings.length > 0) {
    io.stderr(
      `qapi-ts verify: ${warnings.length} doc-comment warning${warnings.length === 1 ? '' : 's'} in ${values.schema} ` +
        '(--warnings lists them, --strict-docs makes them errors)\n',
    );
  }
  const strict = values.strict ?? false;
  const result = verifyEntries(transcript.entries, loaded.validatorSet(strict), { strict }, transcript.badLines);
  onResult(result);
  // Findings quote what the session's peers sent: escaped (printable.ts).
  for (const bad of result.badLines) io.stderr(`${source}:${bad.line}: ${printable(bad.reason)}\n`);
  io.stdout(`${formatReport(result, source).map(printable).join('\n')}\n`);
  if (result.badLines.length > 0) return 2;
  return result.invalid > 0 ? 1 : 0;
}
