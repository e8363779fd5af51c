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
 */
import type { QmpEventMessage } from './executor.js';
import { checkPositiveInteger } from './options.js';

export const DEFAULT_EVENT_BUFFER = 1024;

type Waiter = { resolve: (r: IteratorResult<QmpEventMessage>) => void; reject: (e: unknown) => void };

export class QmpEventStream implements AsyncIterableIterator<QmpEventMessage> {
  /** Events dropped (oldest first) because the buffer was full. */
  dropped = 0;
  private queue: (QmpEventMessage | undefined)[] = [];
  private head = 0;
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
    return this.queue.length - this.head;
  }

  /** Called by the client for every event. */
  offer(event: QmpEventMessage): void {
    if (this.done || (this.names !== null && !this.names.has(event.event))) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    if (this.buffered >= this.bufferSize) {
      this.queue[this.head++] = undefined;
      this.dropped++;
    }
    this.queue.push(event);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
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
    if (this.head < this.queue.length) {
      const value = this.queue[this.head] as QmpEventMessage;
      this.queue[this.head++] = undefined;
      return Promise.resolve({ value, done: false });
    }
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
    this.queue = [];
    this.head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
