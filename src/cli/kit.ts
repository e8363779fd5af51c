/**
 * What every `qapi-ts` command shares: the output streams (passed in, so
 * tests need no spies), one argument parser over node:util's parseArgs
 * whose errors become one-line usage errors, one help format, one mapping
 * from errors to exit statuses, one EPIPE guard, and the connection target
 * options (--socket, --tcp, --timeout: target.ts, apart so that `check`
 * does not load the transport).
 *
 * Exit statuses, every command (README's table):
 *   0 ok, 1 a negative answer (invalid schema, messages, arguments; a
 *   probe answered no), 2 usage error, 3 connection or protocol failure,
 *   4 a QMP error reply.
 *
 * Commands' option tables and help texts live in commands.ts (plain data:
 * `help COMMAND` and `completion` read them without loading a command).
 */
import { parseArgs } from 'node:util';
import { isQapiValidationError } from '../support/errors.js';
import { isProbeQueryError, isQmpArgumentError, isQmpCommandError, isQmpError } from '../runtime/errors.js';
import { printable, printableError } from './printable.js';

export const EXIT_OK = 0;
export const EXIT_NEGATIVE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONNECTION = 3;
export const EXIT_QMP_ERROR = 4;

/** Where a command writes: the real process streams, or a test's buffers. */
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

let stdoutGone: (() => void) | undefined;
let stdoutWatched = false;

/**
 * A reader that goes away early (`qapi-ts dump … | head`) is not an error
 * of ours. Once guarded, a failing stdout calls `onGone` (a long-running
 * command stops quietly) or, without one, ends the process with the exit
 * status set so far; an error other than EPIPE is reported first. The
 * listener stays for the process's life, so a late error from an earlier
 * write is caught too.
 */
export function guardStdout(onGone?: () => void): void {
  if (onGone !== undefined) stdoutGone = onGone;
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`qapi-ts: cannot write output: ${err.message}\n`);
    if (stdoutGone !== undefined) stdoutGone();
    else process.exit(err.code === 'EPIPE' ? (process.exitCode ?? 0) : EXIT_USAGE);
  });
}

/** The process's own streams, stdout guarded against EPIPE. */
export const processIO: CommandIO = {
  stdout: (text) => {
    guardStdout();
    process.stdout.write(text);
  },
  stderr: (text) => void process.stderr.write(text),
};

/** Bad flags or flag values, a missing argument: exit 2, one line naming the problem. */
export class UsageError extends Error {}

/** A negative answer the command reports itself (invalid arguments, say): exit 1. */
export class NegativeAnswer extends Error {}

// ---------------------------------------------------------------------------
// Commands' tables and help

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's name in help (`PATH`, `MS`); string options only. */
  readonly value?: string;
  /** One sentence or a few; wrapped by the help formatter. */
  readonly help: string;
  /** What the value completes to in a shell: a file, a directory, or one of these words. */
  readonly complete?: 'file' | 'directory' | readonly string[];
}

export interface CommandSpec {
  readonly name: string;
  /** One line for the top-level help. */
  readonly summary: string;
  /** The usage forms, without the leading `qapi-ts NAME`. */
  readonly usage: readonly string[];
  /** Paragraphs, already wrapped. */
  readonly description: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** The exit-status section, already wrapped (after `exit status:`). */
  readonly exit: string;
}

/** Every command understands -h/--help. */
export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

const WIDTH = 79;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** `-s, --socket PATH` */
function optionLabel(name: string, o: OptionSpec): string {
  // A boolean with a value name takes an optional value (`--watch [SECONDS]`).
  const value = o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : o.value !== undefined ? ` [${o.value}]` : '';
  const long = `--${name}${value}`;
  return o.short !== undefined ? `-${o.short}, ${long}` : `    ${long}`;
}

/** The help of a command: usage, description, options, exit status. */
export function formatHelp(spec: CommandSpec): string {
  const usage = spec.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}qapi-ts ${spec.name} ${u}`.trimEnd());
  const options = { ...spec.options, help: HELP_OPTION };
  const labels = Object.entries(options).map(([name, o]) => optionLabel(name, o));
  const column = Math.min(30, Math.max(...labels.map((l) => l.length)) + 4);
  const rows: string[] = [];
  Object.values(options).forEach((o, i) => {
    const label = `  ${labels[i]}`;
    const text = wrap(o.help, WIDTH - column);
    const first =
      label.length + 2 <= column
        ? [`${label.padEnd(column)}${text[0] ?? ''}`]
        : [label, ...text.slice(0, 1).map((t) => ' '.repeat(column) + t)];
    rows.push(...first, ...text.slice(1).map((t) => ' '.repeat(column) + t));
  });
  const exit = wrap(`exit status: ${spec.exit}`, WIDTH);
  return `${usage.join('\n')}\n\n${spec.description.trimEnd()}\n\noptions:\n${rows.join('\n')}\n\n${exit.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Arguments

type Value<S extends OptionSpec> = S['type'] extends 'boolean'
  ? S['multiple'] extends true
    ? boolean[]
    : boolean
  : S['multiple'] extends true
    ? string[]
    : string;
export type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]?: Value<O[K]> } & { help?: boolean };

export interface Parsed<O extends Record<string, OptionSpec>> {
  values: Values<O>;
  positionals: string[];
}

/** Node's parseArgs message, reworded as one line naming the flag. */
function parseProblem(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  const flag = /Option '(?:-\w, )?(--?[^' ]+)/.exec(message)?.[1] ?? /'(--?[^']+)'/.exec(message)?.[1];
  switch (e?.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${flag}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(message)
        ? `option '${flag}' takes no value`
        : `option '${flag}' needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[0] ?? ''}`.trimEnd();
    default:
      return message.split('\n')[0] ?? message;
  }
}

/** The line for a usage error: `qapi-ts NAME: problem (see 'qapi-ts NAME --help')`. */
export function usageLine(name: string, problem: string): string {
  return `qapi-ts ${name}: ${problem} (see 'qapi-ts ${name} --help')\n`;
}

/**
 * Parses `argv` with the command's option table (-h/--help added). Throws
 * UsageError with a one-line problem for what parseArgs refuses.
 */
export function parseCommandArgs<const O extends Record<string, OptionSpec>>(
  options: O,
  argv: readonly string[],
): Parsed<O> {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(options)) {
    config[name] = {
      type: o.type,
      ...(o.short !== undefined ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: config,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values<O>, positionals };
  } catch (e) {
    throw new UsageError(parseProblem(e));
  }
}

/**
 * parseCommandArgs for a command's spec, with --help and usage errors
 * handled: a number is the exit status (0 after the help, 2 after a
 * usage error, both written to `io`).
 */
export function parseCommand<const O extends Record<string, OptionSpec>>(
  spec: CommandSpec & { options: O },
  argv: readonly string[],
  io: CommandIO,
): Parsed<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseCommandArgs(spec.options, argv);
  } catch (e) {
    io.stderr(usageLine(spec.name, (e as Error).message));
    return EXIT_USAGE;
  }
  if (parsed.values.help) {
    io.stdout(formatHelp(spec));
    return EXIT_OK;
  }
  return parsed;
}

// ---------------------------------------------------------------------------
// Errors to exit statuses

/**
 * Reports `error` on `io` and returns its exit status; what is not one of
 * the known kinds is rethrown (a bug of ours: main.ts reports it). Text
 * from a peer is escaped (printable.ts).
 *
 *  - UsageError, a malformed probe query: 2
 *  - NegativeAnswer, arguments the schema refuses (QmpArgumentError): 1
 *  - a QMP error reply: 4, as `CLASS: desc` (the server's words, as QEMU's
 *    own tools print them)
 *  - any other QMP failure (connection, protocol, timeout), a reply that
 *    does not fit the schema, or an error `peer` accepts: 3, as
 *    `qapi-ts NAME: CODE: message`
 */
export function exitStatusFor(
  name: string,
  error: unknown,
  io: CommandIO,
  peer: (e: unknown) => e is Error & { code: string } = (_e): _e is Error & { code: string } => false,
): number {
  if (error instanceof UsageError) {
    io.stderr(`qapi-ts ${name}: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof NegativeAnswer) {
    io.stderr(`qapi-ts ${name}: ${error.message}\n`);
    return EXIT_NEGATIVE;
  }
  if (isProbeQueryError(error)) {
    io.stderr(`qapi-ts ${name}: ${printableError(error)}\n`);
    return EXIT_USAGE;
  }
  if (isQmpCommandError(error)) {
    io.stderr(`${printable(error.errorClass)}: ${printableError(error.desc)}\n`);
    return EXIT_QMP_ERROR;
  }
  if (isQmpArgumentError(error)) {
    io.stderr(`qapi-ts ${name}: ${error.code}: ${printableError(error)}\n`);
    return EXIT_NEGATIVE;
  }
  if (isQmpError(error) || isQapiValidationError(error) || peer(error)) {
    io.stderr(`qapi-ts ${name}: ${error.code}: ${printableError(error)}\n`);
    return EXIT_CONNECTION;
  }
  throw error;
}
