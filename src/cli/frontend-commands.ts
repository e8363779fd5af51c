/**
 * `qapi-ts check SCHEMA` and `qapi-ts dump SCHEMA`.
 *
 * Only the frontend is loaded here, so these commands start fast. Errors
 * are printed exactly as QEMU prints them (stderr, nothing on stdout,
 * exit 1); with --lenient-docs, doc-comment problems become warnings on
 * stderr and the model is built anyway.
 */
import { parseArgs } from 'node:util';
import { isQapiError } from '../frontend/errors.js';
import { dumpSchema } from '../frontend/dump.js';
import { parseSchema } from '../frontend/index.js';
import {
  DEFAULT_QEMU_VERSION,
  KNOWN_RULE_SETS,
  OLDEST_QEMU_VERSION,
  newerReleaseNote,
  normalizeQemuVersion,
  qemuVersionProblem,
  rulesFor,
} from '../frontend/release.js';

/** Where a command writes; the real process streams, or a test's buffers. */
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

let stdoutGuarded = false;

/**
 * A reader that goes away early (`qapi-ts dump … | head`) is not an error
 * of ours: stop quietly instead of dying on an unhandled EPIPE.
 */
function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.stderr.write(`qapi-ts: cannot write output: ${err.message}\n`);
    process.exit(2);
  });
}

export const processIO: CommandIO = {
  stdout: (text) => {
    guardStdout();
    process.stdout.write(text);
  },
  stderr: (text) => void process.stderr.write(text),
};

type FrontendCommand = 'check' | 'dump';

const SUMMARY: Record<FrontendCommand, string> = {
  check: 'Check a QAPI schema as QEMU does; exit 0 if it is valid.',
  dump: "Print the checked schema model in the format of QEMU's QAPI test suite.",
};

function help(command: FrontendCommand): string {
  return (
    `usage: qapi-ts ${command} [--lenient-docs] [--qemu-version V] SCHEMA\n\n${SUMMARY[command]}\n\n` +
    'options:\n' +
    '  --lenient-docs      report doc-comment problems as warnings and keep going\n' +
    '  --qemu-version V    apply the rules of QEMU release V (MAJOR.MINOR,\n' +
    `                      ${OLDEST_QEMU_VERSION} or later; default ${DEFAULT_QEMU_VERSION}, the newest known):\n` +
    '                      its doc-comment rules, its model (up to 9.1 the built-in\n' +
    '                      QType enum has the prefix QTYPE) and its dump format\n' +
    '  -h, --help          show this help\n\n' +
    "Errors go to stderr in QEMU's format (exit status 1).\n"
  );
}

/**
 * When a schema fails on a doc comment only and another known release's
 * rules accept it, a hint for `check`, `generate` and `verify` (not `dump`,
 * whose output is QEMU's own): which release's rules were applied and
 * which accept the schema. Null otherwise (invalid definitions, or doc
 * problems that no release forgives).
 */
export function docLayoutHint(fname: string, err: unknown, version: string): string | null {
  if (!isQapiError(err) || !err.docComment) return null;
  const rules = rulesFor(version);
  try {
    parseSchema(fname, { lenientDocs: true, qemuVersion: version, onWarning: () => {} });
  } catch {
    return null;
  }
  const accepting = [...KNOWN_RULE_SETS].reverse().filter((release) => {
    if (release === rules.ruleSet) return false;
    try {
      parseSchema(fname, { qemuVersion: release });
      return true;
    } catch {
      return false;
    }
  });
  if (accepting.length === 0) return null;
  const applied =
    rules.ruleSet === rules.version ? `QEMU ${rules.version}'s` : `QEMU ${rules.ruleSet}'s (for ${rules.version})`;
  const suggest = `it checks with --qemu-version ${accepting[0]}; if it is written for that release, say so, or pass --lenient-docs to report doc problems as warnings`;
  return `note: the definitions are valid; only doc comments break ${applied} doc rules: ${suggest}`;
}

let newerNoted = false;

/** The note for a release newer than we know, once per process. */
export function noteNewerRelease(version: string, stderr: (text: string) => void): void {
  const note = newerReleaseNote(rulesFor(version));
  if (note === null || newerNoted) return;
  newerNoted = true;
  stderr(note + '\n');
}

/**
 * Runs `check` or `dump` with `argv` (the arguments after the command
 * name), writing to `io`. Returns the exit status: 0 success, 1 invalid
 * schema, 2 usage error or internal error.
 */
export function runFrontendCommand(command: FrontendCommand, argv: string[], io: CommandIO): number {
  let values: { 'lenient-docs'?: boolean; 'qemu-version'?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'lenient-docs': { type: 'boolean' },
        'qemu-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr(`qapi-ts ${command}: ${(err as Error).message}\n${help(command)}`);
    return 2;
  }
  if (values.help) {
    io.stdout(help(command));
    return 0;
  }
  if (positionals.length !== 1) {
    io.stderr(`qapi-ts ${command}: expected exactly one SCHEMA file\n${help(command)}`);
    return 2;
  }
  const version = values['qemu-version'] ?? DEFAULT_QEMU_VERSION;
  if (normalizeQemuVersion(version) === null) {
    io.stderr(`qapi-ts ${command}: --qemu-version: ${qemuVersionProblem(version)}\n`);
    return 2;
  }
  const fname = positionals[0]!;
  noteNewerRelease(version, io.stderr);
  try {
    const schema = parseSchema(fname, {
      lenientDocs: values['lenient-docs'] ?? false,
      qemuVersion: version,
      onWarning: (message) => io.stderr(message + '\n'),
    });
    if (command === 'dump') io.stdout(dumpSchema(schema));
    return 0;
  } catch (err) {
    if (isQapiError(err)) {
      io.stderr(err.message + '\n');
      const hint = command === 'check' ? docLayoutHint(fname, err, version) : null;
      if (hint !== null) io.stderr(`qapi-ts check: ${hint}\n`);
      return 1;
    }
    io.stderr(`qapi-ts ${command}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 2;
  }
}

export async function runCheck(argv: string[]): Promise<number> {
  return runFrontendCommand('check', argv, processIO);
}

export async function runDump(argv: string[]): Promise<number> {
  return runFrontendCommand('dump', argv, processIO);
}
