/**
 * `qapi-ts check SCHEMA` and `qapi-ts dump SCHEMA`.
 *
 * Only the frontend is loaded here, so these commands start fast. Errors
 * are printed exactly as QEMU prints them (stderr, nothing on stdout,
 * exit 1); with --lenient-docs, doc-comment problems become warnings on
 * stderr and the model is built anyway.
 */
import { isQapiError } from '../frontend/errors.js';
import { dumpSchema } from '../frontend/dump.js';
import { parseSchema } from '../frontend/index.js';
import { DEFAULT_QEMU_VERSION, normalizeQemuVersion, qemuVersionProblem } from '../frontend/release.js';
import { CHECK, DUMP } from './commands.js';
import { EXIT_NEGATIVE, EXIT_OK, EXIT_USAGE, parseCommand, processIO, usageLine, type CommandIO } from './kit.js';
import { docLayoutHint, noteNewerRelease } from './schema-notes.js';

export type { CommandIO } from './kit.js';
export { processIO } from './kit.js';

type FrontendCommand = 'check' | 'dump';

/**
 * Runs `check` or `dump` with `argv` (the arguments after the command
 * name), writing to `io`. Returns the exit status: 0 success, 1 invalid
 * schema, 2 usage error or internal error.
 *
 * `check --json` prints one document on stdout whatever the outcome:
 * `{"valid": true, "warnings": [...]}` or `{"valid": false, "error":
 * {"file", "line", "column", "reason", "message"}, "hint"?, "warnings":
 * [...]}` (line and column null where the error has none; reason is the
 * problem alone, message the whole text QEMU would print).
 */
export function runFrontendCommand(command: FrontendCommand, argv: string[], io: CommandIO): number {
  const spec = command === 'check' ? CHECK : DUMP;
  const parsed = parseCommand(spec, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const json = command === 'check' && (values as { json?: boolean }).json === true;
  if (positionals.length !== 1) {
    io.stderr(usageLine(command, 'expected exactly one SCHEMA file'));
    return EXIT_USAGE;
  }
  const version = values['qemu-version'] ?? DEFAULT_QEMU_VERSION;
  if (normalizeQemuVersion(version) === null) {
    io.stderr(usageLine(command, `--qemu-version: ${qemuVersionProblem(version)}`));
    return EXIT_USAGE;
  }
  const fname = positionals[0]!;
  const warnings: string[] = [];
  noteNewerRelease(version, io.stderr);
  try {
    const schema = parseSchema(fname, {
      lenientDocs: values['lenient-docs'] ?? false,
      qemuVersion: version,
      onWarning: (message) => (json ? warnings.push(message) : io.stderr(message + '\n')),
    });
    if (command === 'dump') io.stdout(dumpSchema(schema));
    if (json) io.stdout(JSON.stringify({ valid: true, warnings }) + '\n');
    return EXIT_OK;
  } catch (err) {
    if (isQapiError(err)) {
      const hint = command === 'check' ? docLayoutHint(fname, err, version) : null;
      if (json) {
        const error = {
          file: err.info?.fname ?? fname,
          line: err.info?.line ?? null,
          column: err.col ?? null,
          reason: err.msg,
          message: err.message,
        };
        io.stdout(JSON.stringify({ valid: false, error, ...(hint === null ? {} : { hint }), warnings }) + '\n');
        return EXIT_NEGATIVE;
      }
      io.stderr(err.message + '\n');
      if (hint !== null) io.stderr(`qapi-ts check: ${hint}\n`);
      return EXIT_NEGATIVE;
    }
    io.stderr(`qapi-ts ${command}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_USAGE;
  }
}

export async function runCheck(argv: string[], io: CommandIO = processIO): Promise<number> {
  return runFrontendCommand('check', argv, io);
}

export async function runDump(argv: string[], io: CommandIO = processIO): Promise<number> {
  return runFrontendCommand('dump', argv, io);
}
