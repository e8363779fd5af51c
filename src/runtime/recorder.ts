/**
 * Recording a session as a transcript: one `{"dir": "client"|"server",
 * "msg": …}` per line, the format `qapi-ts verify` checks and the test
 * server replays (`QmpTestServer.replay`).
 *
 * Every line that crosses the wire is recorded as it was sent, the
 * greeting included: the message's JSON text is embedded unchanged, so
 * integers stay exact and nothing is re-encoded. A line from the server
 * that is not JSON is embedded as it came too, which makes that transcript
 * line invalid JSON: `verify` then points at it. In guest-agent mode, what
 * the client discards while resynchronising (everything before the 0xFF
 * sentinel, stale replies) is not recorded, nor is the 0xFF byte.
 *
 * `record: PATH` creates (or truncates) the file when the session starts
 * and closes it when the session ends (`close()` waits for it to be
 * written). `record: stream` writes to a Writable the caller owns: it is
 * never ended by the session.
 */
import { closeSync, constants as fsConstants, createWriteStream, fstatSync, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { isatty, WriteStream as TtyWriteStream } from 'node:tty';

/** Who sent a message of a transcript. */
export type Direction = 'client' | 'server';

/**
 * One transcript line (newline included) for a message whose JSON text is
 * `msg`, as it went over the wire: the format's one writer (src/transcripts
 * reads it; the runtime imports nothing outside itself).
 */
export function transcriptLine(dir: Direction, msg: string): string {
  return `{"dir": "${dir}", "msg": ${msg}}\n`;
}

/** Where a session's transcript goes: a file path, or a Writable the caller owns. */
export type RecordTarget = string | Writable;

// Created or truncated like 'w', but never blocking: opening a FIFO for
// writing waits for a reader, and a synchronous open would stop the event
// loop (and every timeout) with it. With O_NONBLOCK a FIFO nobody reads
// fails at once with ENXIO instead; for a regular file the flag changes
// nothing.
const OPEN_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_CREAT |
  fsConstants.O_TRUNC |
  (fsConstants.O_NONBLOCK ?? 0) |
  (fsConstants.O_NOCTTY ?? 0);

/** Opens `path` for recording; a FIFO without a reader is an ENXIO error that says so. */
function openTarget(path: string): number {
  try {
    return openSync(path, OPEN_FLAGS, 0o666);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENXIO' && isFifo(path)) {
      throw Object.assign(new Error(`ENXIO: a FIFO no process is reading, open '${path}'`, { cause: e }), {
        code: 'ENXIO',
        path,
      });
    }
    throw e;
  }
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

/**
 * A stream writing to `fd` that never blocks the event loop: a pipe (a
 * FIFO with a reader) through libuv's pipe handle, a terminal through a
 * tty stream, anything else (a regular file, /dev/null) through fs.
 */
function writerFor(fd: number): Writable {
  if (fstatSync(fd).isFIFO()) return new Socket({ fd, readable: false, writable: true });
  if (isatty(fd)) return new TtyWriteStream(fd);
  return createWriteStream('', { fd });
}

export class Recorder {
  private constructor(
    private readonly out: Writable,
    private readonly owned: boolean,
  ) {}

  /** Why the file could not be written (recording stopped; the session goes on). */
  error: Error | undefined = undefined;

  /**
   * Opens the target. A path is opened at once, without blocking, so a bad
   * one fails here (with Node's error: ENOENT, EACCES…, and ENXIO for a
   * FIFO no process is reading), before anything is sent. Should writing
   * the file fail later (a full disk, /dev/full, a file in /proc), recording
   * stops and `onError` is told; the session goes on, and `error` says why.
   */
  static open(target: RecordTarget, onError: (error: unknown) => void): Recorder {
    if (typeof target !== 'string') return new Recorder(target, false);
    const fd = openTarget(target);
    try {
      const recorder = new Recorder(writerFor(fd), true);
      // A stream emits 'error' once at most.
      recorder.out.on('error', (e) => {
        recorder.error = e;
        onError(e);
      });
      return recorder;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** A request as written (newline included or not). */
  client(line: string): void {
    if (this.error === undefined) this.out.write(transcriptLine('client', trimLine(line)));
  }

  /** A line from the server, as received. */
  server(text: string): void {
    if (this.error === undefined) this.out.write(transcriptLine('server', trimLine(text)));
  }

  /**
   * Ends an owned file, resolving once it is closed: written, or failed with
   * `error` set (the end callback can come before the 'error' event, so it
   * is not waited for). A caller's stream is left open.
   */
  close(): Promise<void> {
    if (!this.owned || this.out.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.out.once('close', () => resolve());
      this.out.end();
    });
  }
}

/** The line without surrounding whitespace (QEMU ends its lines with `\r\n`). */
function trimLine(line: string): string {
  return line.trim();
}
