/**
 * A recording tap: wraps the client's end of a connection and logs every
 * line that passes, with its direction, as transcript lines
 * (`{"dir": "client"|"server", "msg": …}`, the format `verify` reads).
 * Integers stay exact.
 */
import { Duplex } from 'node:stream';
import { LineDecoder } from '../../src/runtime/framing.js';
import { parseJson, stringifyJson } from '../../src/runtime/json.js';

export interface RecordingTap {
  /** Give this to the client instead of the connection. */
  readonly stream: Duplex;
  /** Transcript lines so far. */
  readonly lines: string[];
  /** The transcript so far, one entry per line. */
  text(): string;
}

export function recordingTap(inner: Duplex): RecordingTap {
  const lines: string[] = [];
  const log = (dir: 'client' | 'server') =>
    new LineDecoder({ line: (text) => lines.push(stringifyJson({ dir, msg: parseJson(text) })), fail: () => {} }, 1 << 30);
  const fromClient = log('client');
  const fromServer = log('server');
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      fromClient.push(chunk);
      inner.write(chunk, callback);
    },
    final(callback) {
      inner.end(callback);
    },
    destroy(error, callback) {
      inner.destroy(error ?? undefined);
      callback(error);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    fromServer.push(chunk);
    stream.push(chunk);
  });
  inner.on('end', () => stream.push(null));
  inner.on('error', (e) => stream.destroy(e));
  inner.on('close', () => stream.destroy());
  return { stream, lines, text: () => `${lines.join('\n')}\n` };
}
