/**
 * Opening the byte stream a QMP session runs over: a unix socket or TCP.
 * Everything above this file works on any `Duplex`, so tests can use an
 * in-memory pair instead.
 */
import { createConnection, type Socket } from 'node:net';
import { QmpAbortError, QmpConnectError } from './errors.js';
import { checkTimeout } from './options.js';
import { deadline, type Deadline } from './timers.js';

export type QmpTarget = { path: string } | { host: string; port: number };

export function describeTarget(target: QmpTarget): string {
  return 'path' in target ? `unix:${target.path}` : `tcp:${target.host}:${target.port}`;
}

/** `HOST:PORT` (IPv6 as `[::1]:4444`) → a TCP target; throws on a bad spec. */
export function parseTcpTarget(spec: string): QmpTarget {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new QmpConnectError(spec, 'expected HOST:PORT with a port from 1 to 65535');
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

export interface OpenOptions {
  /** Milliseconds allowed for the socket to connect (default and Infinity: no limit). */
  timeout?: number;
  signal?: AbortSignal;
  /**
   * Try again while the socket does not exist (ENOENT) or refuses
   * connections (ECONNREFUSED): the server is still starting. Tries come
   * 10 ms apart at first, doubling up to 250 ms, until `timeout`.
   */
  wait?: boolean;
}

/** Errors that mean "not listening yet". */
const NOT_YET = new Set(['ENOENT', 'ECONNREFUSED']);
const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 250;

export function openSocket(target: QmpTarget, options: OpenOptions = {}): Promise<Socket> {
  const where = describeTarget(target);
  const { signal } = options;
  let timeout: number | undefined;
  try {
    timeout = checkTimeout(options.timeout, 'timeout');
  } catch (e) {
    return Promise.reject(e);
  }
  if (signal?.aborted) return Promise.reject(new QmpAbortError('connect', signal.reason));
  return new Promise<Socket>((resolve, reject) => {
    let socket: Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    let delay = FIRST_RETRY_MS;
    let last = '';
    const finish = (error: Error | undefined): void => {
      timer?.cancel();
      clearTimeout(retry);
      signal?.removeEventListener('abort', onAbort);
      socket?.off('connect', onConnect);
      socket?.off('error', onError);
      if (error === undefined) {
        resolve(socket as Socket);
      } else {
        socket?.destroy();
        reject(error);
      }
    };
    const onConnect = (): void => finish(undefined);
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason = err.code ? `${err.code} (${err.message})` : err.message;
      if (options.wait && err.code !== undefined && NOT_YET.has(err.code)) {
        // Not there yet: try again a little later.
        last = reason;
        socket?.off('connect', onConnect);
        socket?.off('error', onError);
        socket?.destroy();
        socket = undefined;
        retry = setTimeout(attempt, delay);
        delay = Math.min(MAX_RETRY_MS, delay * 2);
        return;
      }
      finish(new QmpConnectError(where, reason, { cause: err }));
    };
    const onAbort = (): void => finish(new QmpAbortError('connect', signal?.reason));
    const attempt = (): void => {
      socket =
        'path' in target
          ? createConnection({ path: target.path })
          : createConnection({ host: target.host, port: target.port, noDelay: true });
      socket.once('connect', onConnect);
      socket.once('error', onError);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer: Deadline | undefined = deadline(timeout, () =>
      finish(new QmpConnectError(where, `timed out after ${timeout} ms${last === '' ? '' : ` (still ${last})`}`)),
    );
    attempt();
  });
}
