/**
 * `qapi-ts exec` and `qapi-ts events`: the runtime client from the shell.
 *
 * Exit codes (both commands):
 *   0  success (events: interrupted with SIGINT/SIGTERM)
 *   1  invalid arguments (JSON_ARGS not JSON or not an object, rejected by
 *      our schema, or a request QEMU could not parse, e.g. nested too deep)
 *   2  usage error (bad flags, a bad --socket/--tcp/--timeout value, a
 *      --record FILE that cannot be opened or written, --guest-agent with
 *      --oob)
 *   3  could not connect, or the connection failed or broke (timeout,
 *      protocol error, hang-up): `CODE: message` on stderr
 *   4  QEMU answered with an error: `CLASS: desc` on stderr
 */
import { parseArgs } from 'node:util';
import { QmpClient } from '../runtime/client.js';
import { GuestAgentClient } from '../runtime/guest-agent.js';
import { ON_SESSION_CREATED, type HookedSessionOptions, type QmpConnection } from '../runtime/connection.js';
import type { QmpEventStream } from '../runtime/events.js';
import { QmpArgumentError, QmpCommandError, QmpError } from '../runtime/errors.js';
import type { IntrospectedSchema } from '../runtime/introspection.js';
import { parseJson, stringifyJson } from '../runtime/json.js';
import { introspect } from '../runtime/probe.js';
import { encodeCommand } from '../runtime/protocol.js';
import { parseTcpTarget, type QmpTarget } from '../runtime/transport.js';
import { interruption } from './interrupt.js';
import { printable, printableError, printableJson } from './printable.js';
import { loadArgumentChecker, SchemaFileError } from './runtime-validation.js';

const EXIT_INVALID = 1;
const EXIT_USAGE = 2;
const EXIT_CONNECTION = 3;
const EXIT_QMP_ERROR = 4;

export const TARGET_OPTIONS = {
  socket: { type: 'string', short: 's' },
  tcp: { type: 'string', short: 't' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const RECORD_OPTION = { record: { type: 'string' } } as const;

const EXEC_USAGE = `usage: qapi-ts exec [--guest-agent] (--socket PATH | --tcp HOST:PORT) [options] COMMAND [JSON_ARGS]

Runs one QMP command and prints its return value as JSON (integers exact).

options:
  -s, --socket PATH      QMP unix socket (the guest agent's with --guest-agent)
  -t, --tcp HOST:PORT    QMP TCP endpoint
      --guest-agent      talk to the QEMU guest agent (qemu-ga): no greeting,
                         synchronised with guest-sync-delimited first
      --timeout MS       connect and reply timeout in milliseconds
                         (default 10000; 'infinity' for none)
      --oob              send as exec-oob (negotiates the oob capability)
      --schema FILE      check arguments against this QAPI schema file instead
                         of the connected QEMU's own schema
      --no-validate      send the arguments unchecked
      --record FILE      write the session to FILE as a transcript
                         (what 'qapi-ts verify' reads)
  -h, --help             this text

Arguments are checked strictly before the command is sent, against the
connected QEMU's own schema (query-qmp-schema, asked once per connection;
device_add takes more than it declares) or the --schema file; commands the
schema lacks are passed through untouched, and so is every guest agent
command unless --schema is given. Arguments QEMU could not parse as one
request (nested deeper than 1023 levels, say) are refused before
connecting. A guest agent command that never replies on success
(guest-shutdown, guest-suspend-*) prints nothing and exits 0 once sent.

exit status: 0 ok, 1 invalid arguments, 2 usage error, 3 connection
failure or protocol error ('CODE: message'), 4 QMP error reply
('CLASS: desc').
`;

const EVENTS_USAGE = `usage: qapi-ts events (--socket PATH | --tcp HOST:PORT) [--event NAME]...

Prints QMP events as JSON lines until interrupted (Ctrl-C exits 0).

options:
  -s, --socket PATH      QMP unix socket
  -t, --tcp HOST:PORT    QMP TCP endpoint
  -e, --event NAME       only this event (repeatable); a name the server's
                         schema lacks gets a warning
      --timeout MS       connect timeout in milliseconds (default 10000;
                         'infinity' for none)
      --record FILE      write the session to FILE as a transcript
  -h, --help             this text

exit status: 0 interrupted, 2 usage error, 3 connection failure or loss
('CODE: message').
`;

/** Bad flags or flag values: exit 2. */
export class UsageError extends Error {}
/** Arguments we refuse to send: exit 1. */
class InvalidArguments extends Error {}

interface Common {
  target: QmpTarget;
  timeout: number;
}

export function common(values: { socket?: string; tcp?: string; timeout?: string }): Common {
  if ((values.socket === undefined) === (values.tcp === undefined)) {
    throw new UsageError('give exactly one of --socket PATH or --tcp HOST:PORT');
  }
  if (values.socket === '') throw new UsageError('--socket: expected a socket path, got an empty string');
  let target: QmpTarget;
  if (values.socket !== undefined) {
    target = { path: values.socket };
  } else {
    try {
      target = parseTcpTarget(values.tcp as string);
    } catch {
      throw new UsageError(`--tcp: expected HOST:PORT with a port from 1 to 65535, got '${values.tcp}'`);
    }
  }
  return { target, timeout: parseTimeout(values.timeout) };
}

/** `--timeout`: a positive whole number of milliseconds, or `infinity`. */
function parseTimeout(text: string | undefined): number {
  if (text === undefined) return 10_000;
  if (/^inf(inity)?$/i.test(text)) return Infinity;
  const ms = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`--timeout: expected a positive number of milliseconds or 'infinity', got '${text}'`);
  }
  return ms;
}

function fail(prefix: string, error: unknown): number {
  if (error instanceof UsageError || error instanceof SchemaFileError) {
    process.stderr.write(`qapi-ts ${prefix}: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof InvalidArguments) {
    process.stderr.write(`qapi-ts ${prefix}: ${error.message}\n`);
    return EXIT_INVALID;
  }
  // From here on the message may quote the server: escaped (printable.ts).
  if (error instanceof QmpCommandError) {
    process.stderr.write(`${printable(error.errorClass)}: ${printableError(error.desc)}\n`);
    return EXIT_QMP_ERROR;
  }
  if (error instanceof QmpError) {
    process.stderr.write(`${error.code}: ${printableError(error)}\n`);
    return error instanceof QmpArgumentError ? EXIT_INVALID : EXIT_CONNECTION;
  }
  process.stderr.write(`qapi-ts ${prefix}: ${printableError(error)}\n`);
  return EXIT_CONNECTION;
}

let stdoutGone: (() => void) | undefined;
let stdoutWatched = false;

/**
 * Calls `callback` when stdout fails, e.g. the reader went away
 * (`qapi-ts events | head`): the command then stops quietly instead of
 * dying on an unhandled EPIPE. The listener stays for the process's life,
 * so a late error from an earlier write is caught too.
 */
function whenStdoutFails(callback: () => void): void {
  stdoutGone = callback;
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`qapi-ts: cannot write output: ${err.message}\n`);
    stdoutGone?.();
  });
}

export function parse<T extends Record<string, unknown>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options: options as never, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${usage}`);
  }
}

/** JSON_ARGS as an arguments object; InvalidArguments when it is not one. */
function parseArguments(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = parseJson(json);
  } catch (e) {
    throw new InvalidArguments(`JSON_ARGS is not usable JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArguments('JSON_ARGS must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** `--record FILE`: checked up front (usage error: exit 2), so a bad path fails before connecting. */
function recordPath(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === '') throw new UsageError('--record: expected a file name, got an empty string');
  return value;
}

/** Opens the session; a --record file that cannot be written is a usage error. */
type CliSessionOptions = HookedSessionOptions<{
  timeout: number;
  oob?: boolean;
  signal?: AbortSignal;
  record?: string;
  guestAgent?: boolean;
}>;

async function connectSession(target: QmpTarget, options: CliSessionOptions): Promise<QmpConnection> {
  const { guestAgent, ...rest } = options;
  try {
    return guestAgent ? await GuestAgentClient.connect(target, rest) : await QmpClient.connect(target, rest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (options.record !== undefined && typeof code === 'string' && !code.startsWith('QMP_')) {
      throw new UsageError(`--record: cannot write ${options.record}: ${(e as Error).message}`);
    }
    throw e;
  }
}

/** "--record: cannot write FILE: why", for a recording that failed while the session ran. */
function recordingFailure(record: string, error: unknown): UsageError {
  return new UsageError(`--record: cannot write ${record}: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Runs `body` on a session, then closes it (waiting for a recording to be
 * written). A recording that failed on the way (a full disk, /dev/full, a
 * file in /proc) is an error the user sees: when `body` succeeded it
 * becomes the outcome (exit 2, like a --record FILE that cannot be
 * opened); when `body` failed, its error stays the outcome and the
 * recording's failure is printed too.
 */
async function withSession<T>(
  prefix: string,
  target: QmpTarget,
  options: CliSessionOptions,
  body: (session: QmpConnection) => Promise<T>,
): Promise<T> {
  const session = await connectSession(target, options);
  let value: T;
  try {
    value = await body(session);
  } catch (e) {
    await session.close();
    if (options.record !== undefined && session.recordingError !== undefined) {
      process.stderr.write(`qapi-ts ${prefix}: ${recordingFailure(options.record, session.recordingError).message}\n`);
    }
    throw e;
  }
  await session.close();
  if (options.record !== undefined && session.recordingError !== undefined) {
    throw recordingFailure(options.record, session.recordingError);
  }
  return value;
}

export async function runExec(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(
      argv,
      {
        ...TARGET_OPTIONS,
        ...RECORD_OPTION,
        oob: { type: 'boolean' },
        'no-validate': { type: 'boolean' },
        'guest-agent': { type: 'boolean' },
        schema: { type: 'string' },
      },
      EXEC_USAGE,
    ) as { values: Record<string, string | boolean | undefined>; positionals: string[] };
    if (values.help) {
      process.stdout.write(EXEC_USAGE);
      return 0;
    }
    const { target, timeout } = common(values as { socket?: string; tcp?: string; timeout?: string });
    const record = recordPath(values.record as string | undefined);
    const guestAgent = values['guest-agent'] === true;
    const oob = values.oob === true;
    if (guestAgent && oob) throw new UsageError('--oob: the guest agent has no out-of-band execution');
    const [command, json, ...extra] = positionals;
    if (command === undefined || extra.length > 0) throw new UsageError(`expected COMMAND [JSON_ARGS]\n${EXEC_USAGE}`);
    const args = parseArguments(json);
    const schemaFile = values.schema as string | undefined;
    if (schemaFile === '') throw new UsageError('--schema: expected a schema file, got an empty string');
    if (schemaFile !== undefined && values['no-validate'])
      throw new UsageError('--schema and --no-validate exclude each other');
    // Refuse what QEMU could not parse before connecting at all.
    encodeCommand(command, args, 0, oob);
    const refuse = (problem: string | undefined): void => {
      if (problem) {
        throw new InvalidArguments(
          `invalid arguments for '${command}': ${problem} (--no-validate sends them unchecked)`,
        );
      }
    };
    if (schemaFile !== undefined) refuse((await loadArgumentChecker(schemaFile))(command, args));
    await withSession('exec', target, { timeout, oob, record, guestAgent }, async (session) => {
      // The QEMU's own schema; the guest agent has no query-qmp-schema.
      if (schemaFile === undefined && !values['no-validate'] && !guestAgent) {
        refuse(await checkAgainstServer(session, command, args, timeout));
      }
      const result = await session.execute(command, args, { timeout, oob });
      whenStdoutFails(() => {});
      // A command that never replies on success has no value to print.
      if (result !== undefined) process.stdout.write(`${printableJson(stringifyJson(result))}\n`);
    });
    return 0;
  } catch (e) {
    return fail('exec', e);
  }
}

/**
 * Why the connected server's own schema refuses `args`, or undefined. A
 * server that will not tell its schema gets a warning and the arguments
 * go unchecked (it will judge them itself).
 */
async function checkAgainstServer(
  session: QmpConnection,
  command: string,
  args: Record<string, unknown> | undefined,
  timeout: number,
): Promise<string | undefined> {
  let schema: IntrospectedSchema;
  try {
    schema = await introspect(session, { timeout });
  } catch (e) {
    if (e instanceof QmpCommandError || (e instanceof QmpError && e.code === 'QMP_ERR_INTROSPECTION')) {
      const why = e instanceof QmpCommandError ? `${e.errorClass}: ${e.desc}` : e.message;
      process.stderr.write(
        `qapi-ts exec: warning: arguments not checked, the server did not give its schema (${why})\n`,
      );
      return undefined;
    }
    throw e;
  }
  const { checkCommandArguments } = await import('../introspection/arguments.js');
  try {
    return checkCommandArguments(schema, command, args);
  } catch (e) {
    if (e instanceof QmpError && e.code === 'QMP_ERR_INTROSPECTION') {
      process.stderr.write(`qapi-ts exec: warning: arguments not checked: ${e.message}\n`);
      return undefined;
    }
    throw e;
  }
}

export async function runEvents(argv: string[]): Promise<number> {
  using stop = interruption();
  try {
    const { values } = parse(
      argv,
      { ...TARGET_OPTIONS, ...RECORD_OPTION, event: { type: 'string', short: 'e', multiple: true } },
      EVENTS_USAGE,
    ) as { values: Record<string, string | string[] | boolean | undefined> };
    if (values.help) {
      process.stdout.write(EVENTS_USAGE);
      return 0;
    }
    const { target, timeout } = common(values as { socket?: string; tcp?: string; timeout?: string });
    const record = recordPath(values.record as string | undefined);
    const names = values.event as string[] | undefined;
    whenStdoutFails(stop.abort);
    // A recording that fails stops the command (exit 2): events would
    // otherwise go on scrolling past while the transcript silently ends.
    let recordingFailed = false;
    // Subscribed as soon as the session exists: an event in the same read
    // as the qmp_capabilities reply is dispatched before connect() resolves.
    // Large buffer: stdout is synchronous for files and pipes, so the
    // reader keeps up; the limit only guards against a stuck terminal.
    let events: QmpEventStream | undefined;
    const subscribe = (session: QmpConnection): void => {
      events = session.events(names, { signal: stop.signal, bufferSize: 65_536 });
    };
    await withSession(
      'events',
      target,
      { timeout, signal: stop.signal, record, [ON_SESSION_CREATED]: subscribe },
      async (qmp) => {
        if (record !== undefined) {
          const stopOnRecordingError = (): void => {
            if (qmp.recordingError !== undefined && !recordingFailed) {
              recordingFailed = true;
              stop.abort();
            }
          };
          qmp.onError(stopOnRecordingError);
          // It may have failed already, before the listener (the greeting is written first).
          stopOnRecordingError();
        }
        events ??= qmp.events(names, { signal: stop.signal, bufferSize: 65_536 });
        if (names !== undefined) void warnUnknownEvents(qmp, names, timeout);
        try {
          for await (const event of events) {
            process.stdout.write(`${printableJson(stringifyJson(event))}\n`);
          }
        } catch (e) {
          // Interrupted (or stopped by the recording's failure, which
          // withSession reports once the session is closed).
          if (!stop.signal.aborted) throw e;
        }
      },
    );
    return 0;
  } catch (e) {
    if (stop.signal.aborted && !(e instanceof UsageError)) return 0;
    return fail('events', e);
  }
}

/**
 * Warns on stderr about requested events the server's schema does not
 * have (a typo would otherwise wait forever in silence). Asks the live
 * server (`query-qmp-schema`); says nothing when it cannot tell.
 */
async function warnUnknownEvents(qmp: QmpConnection, names: readonly string[], timeout: number): Promise<void> {
  let schema: IntrospectedSchema;
  try {
    schema = await introspect(qmp, { timeout });
  } catch {
    return;
  }
  for (const name of new Set(names)) {
    if (schema.lookup(name)?.['meta-type'] !== 'event') {
      process.stderr.write(
        `qapi-ts events: warning: the server has no event '${printable(name)}' (waiting for it anyway)\n`,
      );
    }
  }
}
