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
import { QmpClient } from '../runtime/client.js';
import { GuestAgentClient } from '../runtime/guest-agent.js';
import { ON_SESSION_CREATED, type HookedSessionOptions, type QmpConnection } from '../runtime/connection.js';
import type { QmpEventStream } from '../runtime/events.js';
import { QmpCommandError, QmpError } from '../runtime/errors.js';
import type { IntrospectedSchema } from '../runtime/introspection.js';
import { parseJson, stringifyJson } from '../runtime/json.js';
import { introspect } from '../runtime/probe.js';
import { encodeCommand } from '../runtime/protocol.js';
import type { QmpTarget } from '../runtime/transport.js';
import { interruption } from './interrupt.js';
import { EVENTS, EXEC } from './commands.js';
import {
  EXIT_CONNECTION,
  exitStatusFor,
  guardStdout,
  NegativeAnswer,
  parseCommand,
  processIO,
  UsageError,
  type CommandIO,
} from './kit.js';
import { printable, printableError, printableJson } from './printable.js';
import { parseTarget } from './target.js';
import { loadArgumentChecker, SchemaFileError } from './runtime-validation.js';

/** Arguments we refuse to send: exit 1. */
class InvalidArguments extends NegativeAnswer {}

/**
 * Reports `error` (kit.ts's mapping); a --schema file that cannot be used
 * is a usage error, and any other failure (say, an errno error while
 * connecting) a connection failure.
 */
function fail(name: string, error: unknown, io: CommandIO): number {
  if (error instanceof SchemaFileError) return exitStatusFor(name, new UsageError(error.message), io);
  try {
    return exitStatusFor(name, error, io);
  } catch {
    io.stderr(`qapi-ts ${name}: ${printableError(error)}\n`);
    return EXIT_CONNECTION;
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
  io: CommandIO,
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
      io.stderr(`qapi-ts ${prefix}: ${recordingFailure(options.record, session.recordingError).message}\n`);
    }
    throw e;
  }
  await session.close();
  if (options.record !== undefined && session.recordingError !== undefined) {
    throw recordingFailure(options.record, session.recordingError);
  }
  return value;
}

export async function runExec(argv: string[], io: CommandIO = processIO): Promise<number> {
  try {
    const parsed = parseCommand(EXEC, argv, io);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    const { target, timeout } = parseTarget(values);
    const record = recordPath(values.record);
    const guestAgent = values['guest-agent'] === true;
    const oob = values.oob === true;
    if (guestAgent && oob) throw new UsageError('--oob: the guest agent has no out-of-band execution');
    const [command, json, ...extra] = positionals;
    if (command === undefined || extra.length > 0)
      throw new UsageError("expected COMMAND [JSON_ARGS] (see 'qapi-ts exec --help')");
    const args = parseArguments(json);
    const schemaFile = values.schema;
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
    await withSession(io, 'exec', target, { timeout, oob, record, guestAgent }, async (session) => {
      // The QEMU's own schema; the guest agent has no query-qmp-schema.
      if (schemaFile === undefined && !values['no-validate'] && !guestAgent) {
        refuse(await checkAgainstServer(io, session, command, args, timeout));
      }
      const result = await session.execute(command, args, { timeout, oob });
      guardStdout(() => {});
      // A command that never replies on success has no value to print.
      if (result !== undefined) io.stdout(`${printableJson(stringifyJson(result))}\n`);
    });
    return 0;
  } catch (e) {
    return fail('exec', e, io);
  }
}

/**
 * Why the connected server's own schema refuses `args`, or undefined. A
 * server that will not tell its schema gets a warning and the arguments
 * go unchecked (it will judge them itself).
 */
async function checkAgainstServer(
  io: CommandIO,
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
      io.stderr(`qapi-ts exec: warning: arguments not checked, the server did not give its schema (${why})\n`);
      return undefined;
    }
    throw e;
  }
  const { checkCommandArguments } = await import('../introspection/arguments.js');
  try {
    return checkCommandArguments(schema, command, args);
  } catch (e) {
    if (e instanceof QmpError && e.code === 'QMP_ERR_INTROSPECTION') {
      io.stderr(`qapi-ts exec: warning: arguments not checked: ${e.message}\n`);
      return undefined;
    }
    throw e;
  }
}

export async function runEvents(argv: string[], io: CommandIO = processIO): Promise<number> {
  using stop = interruption();
  try {
    const parsed = parseCommand(EVENTS, argv, io);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const { target, timeout } = parseTarget(values);
    const record = recordPath(values.record);
    const names = values.event;
    guardStdout(stop.abort);
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
      io,
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
        if (names !== undefined) void warnUnknownEvents(io, qmp, names, timeout);
        try {
          for await (const event of events) {
            io.stdout(`${printableJson(stringifyJson(event))}\n`);
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
    return fail('events', e, io);
  }
}

/**
 * Warns on stderr about requested events the server's schema does not
 * have (a typo would otherwise wait forever in silence). Asks the live
 * server (`query-qmp-schema`); says nothing when it cannot tell.
 */
async function warnUnknownEvents(
  io: CommandIO,
  qmp: QmpConnection,
  names: readonly string[],
  timeout: number,
): Promise<void> {
  let schema: IntrospectedSchema;
  try {
    schema = await introspect(qmp, { timeout });
  } catch {
    return;
  }
  for (const name of new Set(names)) {
    if (schema.lookup(name)?.['meta-type'] !== 'event') {
      io.stderr(`qapi-ts events: warning: the server has no event '${printable(name)}' (waiting for it anyway)\n`);
    }
  }
}
