/**
 * A subscription to QMP events, read with `for await`.
 *
 * It buffers from the moment it is created (the `events()` call), so no
 * event is lost between subscribing and the first `next()`.
 *
 * Overflow: the buffer holds at most `bufferSize` events (default 1024; a
 * positive integer, else a RangeError / TypeError: Infinity is refused, as
 * a stream nobody reads would then grow without bound).
 * When a new event arrives at a full buffer, the OLDEST buffered event is
 * dropped and `dropped` goes up by one. Reading never fails because of it;
 * check `dropped` (it only grows) to see whether you fell behind.
 *
 * End: `return()` / `break` / the subscription's abort signal / the
 * client's `close()` end the iteration normally once the buffer is drained.
 * If the connection is lost any other way, the buffered events are still
 * delivered and then `next()` rejects with the connection's error.
 *
 * Gaps (streams of a ReconnectingQmpClient): a stream outlives the
 * connection; when it is made again, `gaps` goes up and the next event the
 * stream delivers carries `gap` (when the connection was lost and made
 * again): events in between were lost.
 */
import type { QmpEventGap, QmpEventMessage } from './executor.js';
import { Fifo } from './fifo.js';
import { waitForEvent, type WaitForEventOptions } from './wait.js';
import { checkPositiveInteger } from './options.js';

export const DEFAULT_EVENT_BUFFER = 1024;

type Waiter = { resolve: (r: IteratorResult<QmpEventMessage>) => void; reject: (e: unknown) => void };

export class QmpEventStream implements AsyncIterableIterator<QmpEventMessage> {
  /** Events dropped (oldest first) because the buffer was full. */
  dropped = 0;
  /** Reconnections while this stream was open (see the file comment). */
  gaps = 0;
  private gap: QmpEventGap | undefined;
  private readonly queue = new Fifo<QmpEventMessage>();
  private waiters: Waiter[] = [];
  private done = false;
  private failure: unknown = undefined;
  private readonly names: ReadonlySet<string> | null;

  readonly bufferSize: number;

  constructor(
    names: readonly string[] | undefined,
    bufferSize: number | undefined,
    private readonly detach: (stream: QmpEventStream) => void,
  ) {
    this.bufferSize = checkPositiveInteger(bufferSize, 'bufferSize') ?? DEFAULT_EVENT_BUFFER;
    this.names = names === undefined || names.length === 0 ? null : new Set(names);
  }

  /** Events waiting to be read. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Called by a reconnecting client: the connection was made again, events in between are lost. */
  markGap(gap: QmpEventGap): void {
    this.gaps++;
    this.gap = this.gap === undefined ? gap : { lostAt: this.gap.lostAt, reconnectedAt: gap.reconnectedAt };
  }

  /** Called by the client for every event. */
  offer(event: QmpEventMessage): void {
    if (this.done || (this.names !== null && !this.names.has(event.event))) return;
    if (this.gap !== undefined) {
      event = { ...event, gap: this.gap };
      this.gap = undefined;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    if (this.queue.length >= this.bufferSize) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(event);
  }

  /** Ends the stream; with an error, readers get it after the buffer drains. */
  end(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.detach(this);
    for (const w of this.waiters.splice(0)) {
      if (error === undefined) w.resolve({ value: undefined, done: true });
      else w.reject(error);
    }
  }

  next(): Promise<IteratorResult<QmpEventMessage>> {
    const value = this.queue.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.done) {
      if (this.failure !== undefined) {
        const f = this.failure;
        this.failure = undefined;
        return Promise.reject(f);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<QmpEventMessage>> {
    this.end();
    this.failure = undefined;
    this.queue.clear();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

type EventListener = (event: QmpEventMessage) => void;
type ErrorListener = (error: unknown) => void;

/**
 * A session's subscribers: event streams, `onEvent` and `onError`
 * listeners. A throwing event listener is reported to the error
 * listeners; a throwing error listener is ignored.
 */
export class EventHub {
  private readonly streams = new Set<QmpEventStream>();
  private readonly eventListeners = new Set<{ names: ReadonlySet<string> | null; fn: EventListener }>();
  private readonly errorListeners = new Set<ErrorListener>();
  private ended: { error: unknown } | undefined;

  /** A new stream (see QmpEventStream); one made after `end()` is ended at once, with the same error. */
  subscribe(
    names: readonly string[] | undefined,
    options: { signal?: AbortSignal; bufferSize?: number },
  ): QmpEventStream {
    const { signal } = options;
    const onAbort = (): void => stream.end();
    const stream = new QmpEventStream(names, options.bufferSize, (s) => {
      this.streams.delete(s);
      signal?.removeEventListener('abort', onAbort);
    });
    if (this.ended !== undefined) {
      stream.end(this.ended.error);
    } else if (signal?.aborted) {
      stream.end();
    } else {
      this.streams.add(stream);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    return stream;
  }

  onEvent(listener: EventListener, names?: readonly string[]): () => void {
    const entry = { names: names === undefined || names.length === 0 ? null : new Set(names), fn: listener };
    this.eventListeners.add(entry);
    return () => this.eventListeners.delete(entry);
  }

  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  dispatch(event: QmpEventMessage): void {
    for (const s of this.streams) s.offer(event);
    for (const l of this.eventListeners) {
      if (l.names !== null && !l.names.has(event.event)) continue;
      try {
        l.fn(event);
      } catch (e) {
        this.report(e);
      }
    }
  }

  report(error: unknown): void {
    for (const l of this.errorListeners) {
      try {
        l(error);
      } catch {
        // A failing error listener must not break the reader.
      }
    }
  }

  /** Marks a gap on every open stream (a reconnecting client made the connection again). */
  markGap(gap: QmpEventGap): void {
    for (const s of this.streams) s.markGap(gap);
  }

  /** Ends every stream: normally (no error) or, once drained, with `error`. */
  end(error?: unknown): void {
    this.ended ??= { error };
    for (const s of this.streams) s.end(error);
    this.streams.clear();
  }
}

/** What every client offers for events: streams, waits and listeners, over its EventHub. */
export abstract class QmpEventSource {
  protected readonly hub = new EventHub();

  /**
   * Events from now on, optionally only the named ones. Buffers up to
   * `bufferSize` (default 1024), dropping the oldest beyond that and
   * counting them in the stream's `dropped`.
   */
  events(names?: readonly string[], options: { signal?: AbortSignal; bufferSize?: number } = {}): QmpEventStream {
    return this.hub.subscribe(names, options);
  }

  /**
   * The first event named `name` (that `filter` accepts), subscribed from
   * this call on; see wait.ts. `trigger` runs once subscribed:
   *
   *   await qmp.waitForEvent('DEVICE_DELETED', {
   *     filter: (d) => …,
   *     trigger: () => qmp.execute('device_del', { id }),
   *     timeout: 5000,
   *   });
   */
  waitForEvent(name: string, options?: WaitForEventOptions<unknown, QmpEventMessage>): Promise<QmpEventMessage> {
    return waitForEvent(name, (signal) => this.events([name], { signal }), options);
  }

  /** Calls `listener` for each event (only the named ones, if given); returns an unsubscribe function. */
  onEvent(listener: EventListener, names?: readonly string[]): () => void {
    return this.hub.onEvent(listener, names);
  }

  /** Problems reported without failing a call (unknown replies, throwing listeners, late errors…) and fatal ones. */
  onError(listener: ErrorListener): () => void {
    return this.hub.onError(listener);
  }
}
