/**
 * Writing requests: in order, batched, with backpressure.
 *
 * - Requests issued in the same tick go out together, in writes of up to
 *   BATCH_CHARS characters.
 * - The socket's write buffer is respected: once `write()` returns false
 *   (the buffer is full: the server reads more slowly than we write),
 *   nothing more is written until 'drain'. Requests wait here meanwhile.
 * - At most `maxRequests` requests, and `maxBytes` characters of request
 *   text, may wait; `add` refuses more with QmpQueueFullError (a request
 *   longer than `maxBytes` on its own is still taken when nothing waits).
 * - Out-of-band requests jump the queue of in-band ones.
 * - In-band requests are written only while the owner allows it
 *   (`mayWriteInBand`): with `oob` negotiated at most eight are in flight
 *   (QMP's rule, so that out-of-band requests still get read), a guest
 *   agent gets one at a time and none while it resynchronises.
 * - A request given up on while it waits is withdrawn: never written.
 */
import type { Duplex } from 'node:stream';
import type { Call } from './calls.js';
import { QmpQueueFullError } from './errors.js';
import { Fifo } from './fifo.js';

/** Characters handed to one `write()` at most (when more are waiting). */
const BATCH_CHARS = 64 * 1024;

export interface OutboxOwner {
  /** Whether one more in-band request may be written now. */
  mayWriteInBand(): boolean;
  /** `call` is being written now (calls come in the order they are written). */
  written(call: Call): void;
}

export class Outbox {
  /** Requests waiting to be written. */
  queued = 0;
  /** Characters of the requests waiting. */
  queuedBytes = 0;
  /** Out-of-band requests waiting (they overtake `ordered`). */
  private readonly urgent = new Fifo<Call>();
  private readonly ordered = new Fifo<Call>();
  private scheduled = false;
  /** Waiting for 'drain'. */
  private blocked = false;
  private closed = false;
  private readonly onDrain = (): void => {
    this.blocked = false;
    this.flush();
  };

  constructor(
    private readonly stream: Duplex,
    private readonly owner: OutboxOwner,
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {}

  /** Queues `call` (state 'queued'); throws QmpQueueFullError when too much waits already. */
  add(call: Call): void {
    if (this.queued >= this.maxRequests) {
      throw new QmpQueueFullError(
        call.command,
        `${this.queued} requests are already waiting to be written (maxQueuedRequests); the server is not keeping up`,
      );
    }
    if (this.queued > 0 && this.queuedBytes + call.line.length > this.maxBytes) {
      throw new QmpQueueFullError(
        call.command,
        `${this.queuedBytes} bytes of requests are already waiting to be written (maxQueuedBytes);` +
          ' the server is not keeping up',
      );
    }
    (call.oob ? this.urgent : this.ordered).push(call);
    this.queued++;
    this.queuedBytes += call.line.length;
    this.schedule();
  }

  /** A waiting call given up on: it will not be written. The caller changes its state. */
  withdraw(call: Call): void {
    this.queued--;
    this.queuedBytes -= call.line.length;
  }

  /** Writes what may be written, once the current tick is done. */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    process.nextTick(flushOutbox, this);
  }

  /** @internal */
  flush(): void {
    this.scheduled = false;
    if (this.blocked || this.closed) return;
    let batch = '';
    for (let call = this.next(); call !== undefined; call = this.next()) {
      this.queued--;
      this.queuedBytes -= call.line.length;
      this.owner.written(call);
      batch += call.line;
      if (batch.length >= BATCH_CHARS) {
        const more = this.write(batch);
        batch = '';
        if (!more) return;
      }
    }
    if (batch !== '') this.write(batch);
  }

  /** Writes `data` at once, ahead of anything waiting (the guest agent's sync). */
  writeNow(data: string | Buffer): void {
    if (!this.closed) this.stream.write(data);
  }

  /** Stops writing for good; returns the calls that were still waiting. */
  close(): Call[] {
    this.closed = true;
    this.stream.off('drain', this.onDrain);
    const waiting = [...this.urgent.clear(), ...this.ordered.clear()].filter((c) => c.state === 'queued');
    this.queued = 0;
    this.queuedBytes = 0;
    return waiting;
  }

  /** The next call to write: out-of-band first, then in-band while the owner allows; withdrawn ones are skipped. */
  private next(): Call | undefined {
    for (let call = this.urgent.shift(); call !== undefined; call = this.urgent.shift()) {
      if (call.state === 'queued') return call;
    }
    for (let call = this.ordered.peek(); call !== undefined; call = this.ordered.peek()) {
      if (call.state === 'queued' && !this.owner.mayWriteInBand()) return undefined;
      this.ordered.shift();
      if (call.state === 'queued') return call;
    }
    return undefined;
  }

  /** One write; false when the socket's buffer is full (writing resumes on 'drain'). */
  private write(data: string): boolean {
    if (this.stream.write(data)) return true;
    this.blocked = true;
    this.stream.once('drain', this.onDrain);
    return false;
  }
}

function flushOutbox(outbox: Outbox): void {
  outbox.flush();
}
