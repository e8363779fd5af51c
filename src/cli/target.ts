/**
 * The connection target options every command that talks to one QEMU
 * shares: --socket PATH or --tcp HOST:PORT, and --timeout MS (their table,
 * TARGET_OPTIONS, is in commands.ts, which must not load the transport).
 */
import { parseTcpTarget, type QmpTarget } from '../runtime/transport.js';
import { UsageError } from './kit.js';

export interface Target {
  target: QmpTarget;
  timeout: number;
}

/** The target of --socket/--tcp (exactly one) and --timeout; UsageError when they do not fit. */
export function parseTarget(values: { socket?: string; tcp?: string; timeout?: string }): Target {
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

/** `--timeout`: a positive whole number of milliseconds, or `infinity` (when allowed). */
export function parseTimeout(text: string | undefined, infinity = true): number {
  if (text === undefined) return 10_000;
  if (infinity && /^inf(inity)?$/i.test(text)) return Infinity;
  const ms = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(
      `--timeout: expected a positive number of milliseconds${infinity ? " or 'infinity'" : ''}, got '${text}'`,
    );
  }
  return ms;
}
