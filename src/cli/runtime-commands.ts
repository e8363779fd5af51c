/**
 * `qapi-ts exec` and `qapi-ts events`: the runtime client from the shell.
 *
 * Exit codes (both commands):
 *   0  success (events: interrupted with SIGINT/SIGTERM)
 *   1  bad usage or invalid arguments (not JSON, or rejected by our schema)
 *   2  QEMU answered with an error (`CLASS: desc` on stderr)
 *   3  could not connect, or the connection failed (timeout, protocol error, hang-up)
 */
import { parseArgs } from 'node:util';
import { QmpClient } from '../runtime/client.js';
import { QmpCommandError, QmpError } from '../runtime/errors.js';
import { parseJson, stringifyJson } from '../runtime/json.js';
import { parseTcpTarget, type QmpTarget } from '../runtime/transport.js';
import { loadArgumentChecker } from './runtime-validation.js';

export const TARGET_OPTIONS = {
  socket: { type: 'string', short: 's' },
  tcp: { type: 'string', short: 't' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EXEC_USAGE = `usage: qapi-ts exec (--socket PATH | --tcp HOST:PORT) [options] COMMAND [JSON_ARGS]

Runs one QMP command and prints its return value as JSON (integers exact).

options:
  -s, --socket PATH      QMP unix socket
  -t, --tcp HOST:PORT    QMP TCP endpoint
      --timeout MS       connect and reply timeout (default 10000)
      --oob              send as exec-oob (negotiates the oob capability)
      --no-validate      skip checking arguments against our schema
  -h, --help             this text

Commands our schema (generated/) knows have their arguments checked
strictly before sending; other commands are passed through untouched.

exit status: 0 ok, 1 bad usage or invalid arguments, 2 QMP error reply
(printed as 'CLASS: desc'), 3 connection failure.
`;

const EVENTS_USAGE = `usage: qapi-ts events (--socket PATH | --tcp HOST:PORT) [--event NAME]...

Prints QMP events as JSON lines until interrupted (Ctrl-C exits 0).

options:
  -s, --socket PATH      QMP unix socket
  -t, --tcp HOST:PORT    QMP TCP endpoint
  -e, --event NAME       only this event (repeatable)
      --timeout MS       connect timeout (default 10000)
  -h, --help             this text

exit status: 0 interrupted, 1 bad usage, 3 connection failure or loss.
`;

export class UsageError extends Error {}

interface Common {
  target: QmpTarget;
  timeout: number;
}

export function common(values: { socket?: string; tcp?: string; timeout?: string }): Common {
  if ((values.socket === undefined) === (values.tcp === undefined)) {
    throw new UsageError('give exactly one of --socket PATH or --tcp HOST:PORT');
  }
  let timeout = 10_000;
  if (values.timeout !== undefined) {
    timeout = Number(values.timeout);
    if (!Number.isInteger(timeout) || timeout <= 0) throw new UsageError(`--timeout: expected milliseconds, got '${values.timeout}'`);
  }
  const target = values.socket !== undefined ? { path: values.socket } : parseTcpTarget(values.tcp as string);
  return { target, timeout };
}

function fail(prefix: string, error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`qapi-ts ${prefix}: ${error.message}\n`);
    return 1;
  }
  if (error instanceof QmpCommandError) {
    process.stderr.write(`${error.errorClass}: ${error.desc}\n`);
    return 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`qapi-ts ${prefix}: ${message}\n`);
  return error instanceof QmpError && error.code === 'QMP_ERR_JSON' ? 1 : 3;
}

export function parse<T extends Record<string, unknown>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options: options as never, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${usage}`);
  }
}

export async function runExec(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(
      argv,
      { ...TARGET_OPTIONS, oob: { type: 'boolean' }, 'no-validate': { type: 'boolean' } },
      EXEC_USAGE,
    ) as { values: Record<string, string | boolean | undefined>; positionals: string[] };
    if (values.help) {
      process.stdout.write(EXEC_USAGE);
      return 0;
    }
    const { target, timeout } = common(values as { socket?: string; tcp?: string; timeout?: string });
    const [command, json, ...extra] = positionals;
    if (command === undefined || extra.length > 0) throw new UsageError(`expected COMMAND [JSON_ARGS]\n${EXEC_USAGE}`);
    let args: Record<string, unknown> | undefined;
    if (json !== undefined) {
      let parsed: unknown;
      try {
        parsed = parseJson(json);
      } catch (e) {
        throw new UsageError(`JSON_ARGS is not valid JSON: ${(e as Error).message}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new UsageError('JSON_ARGS must be a JSON object');
      }
      args = parsed as Record<string, unknown>;
    }
    if (!values['no-validate']) {
      const check = await loadArgumentChecker();
      const problem = check(command, args);
      if (problem) throw new UsageError(`invalid arguments for '${command}': ${problem}`);
    }
    const oob = values.oob === true;
    await using qmp = await QmpClient.connect(target, { timeout, oob });
    const result = await qmp.execute(command, args, { timeout, oob });
    process.stdout.write(`${stringifyJson(result)}\n`);
    return 0;
  } catch (e) {
    return fail('exec', e);
  }
}

export async function runEvents(argv: string[]): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  try {
    const { values } = parse(
      argv,
      { ...TARGET_OPTIONS, event: { type: 'string', short: 'e', multiple: true } },
      EVENTS_USAGE,
    ) as { values: Record<string, string | string[] | boolean | undefined> };
    if (values.help) {
      process.stdout.write(EVENTS_USAGE);
      return 0;
    }
    const { target, timeout } = common(values as { socket?: string; tcp?: string; timeout?: string });
    const names = values.event as string[] | undefined;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await using qmp = await QmpClient.connect(target, { timeout, signal: stop.signal });
    // Large buffer: stdout is synchronous for files and pipes, so the
    // reader keeps up; the limit only guards against a stuck terminal.
    for await (const event of qmp.events(names, { signal: stop.signal, bufferSize: 65_536 })) {
      process.stdout.write(`${stringifyJson(event)}\n`);
    }
    return 0;
  } catch (e) {
    if (stop.signal.aborted) return 0;
    return fail('events', e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
