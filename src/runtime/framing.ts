/**
 * QMP framing: one JSON document per line, in both directions.
 *
 * `LineDecoder` is fed raw chunks in whatever pieces the socket delivers
 * and hands out complete lines. A partial line is kept as a list of chunk
 * slices and joined once, when its newline arrives, so a message split into
 * many chunks costs linear time. A line longer than `maxMessageBytes` is a
 * fatal error (QMP_ERR_MESSAGE_TOO_LARGE): after it the decoder delivers
 * nothing more, because the stream can no longer be trusted.
 */
import { QmpProtocolError } from './errors.js';

/** 16 MiB: `query-qmp-schema` is about 200 KB, so this leaves ample room. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;

export interface LineSink {
  /** One complete line, without its `\n` (a trailing `\r` is kept; JSON ignores it). */
  line(text: string): void;
  /** The decoder has failed for good. */
  fail(error: QmpProtocolError): void;
}

export class LineDecoder {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private failed = false;

  constructor(
    private readonly sink: LineSink,
    readonly maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** Bytes of an incomplete line held back, waiting for its newline. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    let start = 0;
    const end = chunk.length;
    while (start < end) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.partBytes += end - start;
        if (this.partBytes > this.maxMessageBytes) return this.tooLarge();
        this.parts.push(start === 0 ? chunk : chunk.subarray(start));
        return;
      }
      let text: string;
      if (this.parts.length === 0) {
        if (nl - start > this.maxMessageBytes) return this.tooLarge();
        text = chunk.toString('utf8', start, nl);
      } else {
        this.partBytes += nl - start;
        if (this.partBytes > this.maxMessageBytes) return this.tooLarge();
        this.parts.push(chunk.subarray(start, nl));
        text = Buffer.concat(this.parts, this.partBytes).toString('utf8');
        this.parts = [];
        this.partBytes = 0;
      }
      start = nl + 1;
      if (!isBlank(text)) this.sink.line(text);
      if (this.failed) return;
    }
  }

  /** Stops delivering lines (used by the owner after a fatal error). */
  stop(): void {
    this.failed = true;
    this.parts = [];
    this.partBytes = 0;
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
