/**
 * QMP framing: one JSON document per line, in both directions.
 *
 * `LineDecoder` is fed raw chunks in whatever pieces the socket delivers
 * and hands out complete lines. A line that ends in the chunk it started in
 * is decoded straight from that chunk. The start of an incomplete line is
 * copied into one growable buffer (doubling, capped at `maxMessageBytes`),
 * never kept as the chunks themselves: a line trickled in one byte per
 * chunk would otherwise pin one Buffer (and its allocation overhead) per
 * byte. So the memory held for an incomplete line is at most about twice
 * its length, and the copying is linear overall.
 *
 * A line longer than `maxMessageBytes` is a fatal error
 * (QMP_ERR_MESSAGE_TOO_LARGE): after it the decoder delivers nothing more,
 * because the stream can no longer be trusted.
 */
import { QmpProtocolError } from './errors.js';
import { checkPositiveInteger } from './options.js';

/** 16 MiB: `query-qmp-schema` is about 200 KB, so this leaves ample room. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** First size of the buffer for an incomplete line. */
const MIN_CAPACITY = 1024;
/** A buffer grown past this is let go once its line is complete. */
const KEEP_CAPACITY = 64 * 1024;

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

export interface LineSink {
  /** One complete line, without its `\n` (a trailing `\r` is kept; JSON ignores it). */
  line(text: string): void;
  /** The decoder has failed for good. */
  fail(error: QmpProtocolError): void;
}

export class LineDecoder {
  /** `held` bytes of an incomplete line at the start of `buffer`. */
  private buffer = EMPTY;
  private held = 0;
  private failed = false;

  readonly maxMessageBytes: number;

  /** `maxMessageBytes`: a positive integer (else a RangeError / TypeError). */
  constructor(
    private readonly sink: LineSink,
    maxMessageBytes?: number,
  ) {
    this.maxMessageBytes = checkPositiveInteger(maxMessageBytes, 'maxMessageBytes') ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes of an incomplete line held back, waiting for its newline. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Bytes of memory kept for the incomplete line (at most about 2 × bufferedBytes + 1 KiB). */
  get retainedBytes(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    let start = 0;
    const end = chunk.length;
    while (start < end) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.hold(chunk, start, end);
        return;
      }
      let text: string;
      if (this.held === 0) {
        if (nl - start > this.maxMessageBytes) return this.tooLarge();
        text = chunk.toString('utf8', start, nl);
      } else {
        if (!this.hold(chunk, start, nl)) return;
        text = this.buffer.toString('utf8', 0, this.held);
        this.held = 0;
        if (this.buffer.length > KEEP_CAPACITY) this.buffer = EMPTY;
      }
      start = nl + 1;
      if (!isBlank(text)) this.sink.line(text);
      if (this.failed) return;
    }
  }

  /**
   * Drops the incomplete line held so far and goes on with what comes next
   * (the guest agent's resynchronisation: its 0xFF sentinel starts afresh).
   */
  reset(): void {
    this.held = 0;
    if (this.buffer.length > KEEP_CAPACITY) this.buffer = EMPTY;
  }

  /** Stops delivering lines (used by the owner after a fatal error). */
  stop(): void {
    this.failed = true;
    this.buffer = EMPTY;
    this.held = 0;
  }

  /** Appends `chunk[start, end)` to the incomplete line; false once it is too long. */
  private hold(chunk: Buffer, start: number, end: number): boolean {
    const needed = this.held + (end - start);
    if (needed > this.maxMessageBytes) {
      this.tooLarge();
      return false;
    }
    if (needed > this.buffer.length) {
      const capacity = Math.min(this.maxMessageBytes, Math.max(needed, 2 * this.buffer.length, MIN_CAPACITY));
      const grown = Buffer.allocUnsafeSlow(capacity);
      this.buffer.copy(grown, 0, 0, this.held);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.held, start, end);
    this.held = needed;
    return true;
  }

  private tooLarge(): void {
    this.stop();
    this.sink.fail(
      new QmpProtocolError(
        'QMP_ERR_MESSAGE_TOO_LARGE',
        `message from server exceeds the ${this.maxMessageBytes}-byte limit`,
      ),
    );
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0d && c !== 0x09) return false;
  }
  return true;
}
