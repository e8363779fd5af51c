/**
 * Waiting for one event: the pattern every QEMU manager writes by hand
 * (`device_del`, then its `DEVICE_DELETED`), made short and safe.
 *
 *   const deleted = await qmp.waitForEvent('DEVICE_DELETED', {
 *     filter: (data) => (data as { device?: string }).device === 'disk0',
 *     trigger: () => qmp.execute('device_del', { id: 'disk0' }),
 *     timeout: 5000,
 *   });
 *
 * - The subscription starts when `waitForEvent` is called, before
 *   `trigger` runs, so the event cannot slip by in between (it is buffered
 *   until looked at).
 * - `trigger` (optional) runs once subscribed. The wait resolves once the
 *   trigger has succeeded and a matching event has come, in either order;
 *   if the trigger fails, the wait rejects with its error at once.
 * - `timeout` (ms, from the call; Infinity or absent: none) rejects with
 *   QmpTimeoutError (QMP_ERR_TIMEOUT, `command` = the event's name); the
 *   `signal` with QmpAbortError; the connection's end with its error (a
 *   QmpDisconnectedError after a normal close: the event will not come).
 * - The returned promise never causes an unhandled rejection: it is
 *   already handled, so a wait that is never awaited (the code in between
 *   threw) fails quietly; awaiting it still throws. Give such waits a
 *   `timeout` or `signal`, or they hold their subscription until the event
 *   comes or the session ends.
 */
import { QmpAbortError, QmpDisconnectedError, QmpTimeoutError } from './errors.js';
import { checkTimeout } from './options.js';
import { deadline } from './timers.js';

export interface WaitForEventOptions<D, T> {
  /** Only an event for which this returns true ends the wait (given the event's data, then the event). */
  filter?: (data: D, event: T) => boolean;
  /** Milliseconds to wait, from the call (default and Infinity: no limit). */
  timeout?: number;
  signal?: AbortSignal;
  /** Runs once subscribed: the command that causes the event. Its failure rejects the wait. */
  trigger?: () => unknown;
}

function noop(): void {}

/**
 * Waits for the first event from `subscribe(signal)` that passes the
 * filter. `subscribe` must start buffering at once (the client's
 * `events()` does) and end its stream when `signal` aborts.
 */
export function waitForEvent<T extends { data?: unknown }>(
  name: string,
  subscribe: (signal: AbortSignal) => AsyncIterable<T>,
  options: WaitForEventOptions<never, T> | WaitForEventOptions<unknown, T> = {},
): Promise<T> {
  const result = wait(name, subscribe, options as WaitForEventOptions<unknown, T>);
  result.catch(noop);
  return result;
}

async function wait<T extends { data?: unknown }>(
  name: string,
  subscribe: (signal: AbortSignal) => AsyncIterable<T>,
  options: WaitForEventOptions<unknown, T>,
): Promise<T> {
  const timeout = checkTimeout(options.timeout, 'timeout');
  const { filter, signal, trigger } = options;
  if (signal?.aborted) throw new QmpAbortError(name, signal.reason);
  const stop = new AbortController();
  const events = subscribe(stop.signal);
  let fail!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  const giveUp = (error: unknown): void => {
    fail(error);
    stop.abort();
  };
  const onAbort = (): void => giveUp(new QmpAbortError(name, signal?.reason));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = deadline(timeout, () => giveUp(new QmpTimeoutError(name, timeout as number, 'event')));
  try {
    const found = (async (): Promise<T> => {
      for await (const event of events) {
        if (filter === undefined || filter(event.data, event)) return event;
      }
      throw new QmpDisconnectedError(`the session ended before the event came`, name);
    })();
    const triggered = trigger === undefined ? undefined : Promise.resolve().then(trigger);
    const [event] = await Promise.race([failure, Promise.all([found, triggered])]);
    return event;
  } finally {
    timer?.cancel();
    signal?.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
