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
import { closeSync, createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** Where a session's transcript goes: a file path, or a Writable the caller owns. */
export type RecordTarget = string | Writable;

export class Recorder {
  private constructor(
    private readonly out: Writable,
    private readonly owned: boolean,
  ) {}

  /** Why the file could not be written (recording stopped; the session goes on). */
  error: Error | undefined = undefined;

  /**
   * Opens the target. A path is opened at once, so a bad one fails here
   * (with Node's error: ENOENT, EACCES…), before anything is sent. Should
   * writing the file fail later (a full disk), recording stops and
   * `onError` is told; the session goes on.
   */
  static open(target: RecordTarget, onError: (error: unknown) => void): Recorder {
    if (typeof target !== 'string') return new Recorder(target, false);
    const fd = openSync(target, 'w');
    try {
      const recorder = new Recorder(createWriteStream('', { fd }), true);
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
    if (this.error === undefined) this.out.write(`{"dir": "client", "msg": ${trimLine(line)}}\n`);
  }

  /** A line from the server, as received. */
  server(text: string): void {
    if (this.error === undefined) this.out.write(`{"dir": "server", "msg": ${trimLine(text)}}\n`);
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
