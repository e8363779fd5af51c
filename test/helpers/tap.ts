/**
 * A tap between a client and its connection: what passes is handed on
 * unchanged, and the test can slip bytes in towards either side (garbage
 * "from the server" the client must survive, or stale input to the
 * server behind the client's back).
 */
import { Duplex } from 'node:stream';

export interface Tap {
  /** Give this to the client instead of the connection. */
  readonly stream: Duplex;
  /** Delivers `data` to the client as if the server had sent it. */
  toClient(data: string | Buffer): void;
  /** Writes `data` to the server as if the client had sent it. */
  toServer(data: string | Buffer): void;
}

export function tap(inner: Duplex): Tap {
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
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
  inner.on('data', (chunk: Buffer) => stream.push(chunk));
  inner.on('end', () => stream.push(null));
  inner.on('error', (e) => stream.destroy(e));
  inner.on('close', () => stream.destroy());
  return {
    stream,
    toClient: (data) => void stream.push(typeof data === 'string' ? Buffer.from(data) : data),
    toServer: (data) => void inner.write(data),
  };
}
