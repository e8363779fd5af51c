/**
 * Where the test server's sessions come from: a unix socket, a TCP port,
 * or an in-memory pair of streams (no file, no port, deterministic chunks).
 *
 * `Wire` is what a session needs from its connection, whatever it is:
 * write, hang up (FIN), reset (RST on TCP; an ECONNRESET error on the
 * in-memory pair), and stop/resume reading.
 */
import { rmSync, statSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { Duplex } from 'node:stream';

export type ListenTarget = { path: string } | { host: string; port: number };

// ---------------------------------------------------------------------------
// The in-memory pair

function resetError(): NodeJS.ErrnoException {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

/**
 * One end of an in-memory connection. Each write reaches the other end as
 * one 'data' chunk, in order, in a later turn of the event loop (as from a
 * socket: a client looping on calls over the pair never starves timers);
 * reading is flow-controlled (a paused end stops accepting, and the
 * writer's buffer grows), like a socket.
 */
class PairEnd extends Duplex {
  peer!: PairEnd;
  /** The peer's write waiting for this end to read again. */
  private blocked: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: false });
  }

  /** Writes corked together arrive as one chunk, as from a socket. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'utf8', callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      const peer = this.peer;
      if (peer.destroyed || peer.readableEnded) {
        callback();
        return;
      }
      if (peer.push(chunk)) callback();
      else peer.blocked = () => callback();
    });
  }

  override _read(): void {
    const resume = this.blocked;
    this.blocked = undefined;
    resume?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.push(null);
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    setImmediate(() => {
      if (peer.destroyed) return;
      if (error !== null && (error as NodeJS.ErrnoException).code === 'ECONNRESET') peer.destroy(resetError());
      else {
        peer.push(null);
        peer.destroy();
      }
    });
    const resume = this.blocked;
    this.blocked = undefined;
    resume?.();
    callback(error);
  }
}

/** Two connected in-memory streams: `[client end, server end]`. */
export function memoryPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

// ---------------------------------------------------------------------------
// The wire a session runs over

/**
 * Bytes of replies and events a client may leave unread before the server
 * stops taking requests from it (1 MiB): past this mark the session stops
 * reading and answering until the connection drains, so a client that
 * pipelines requests and never reads its replies cannot make the server's
 * memory grow (the runtime client's outbox does the same the other way).
 */
export const OUTPUT_HIGH_WATER = 1024 * 1024;

export class Wire {
  private stoppedBy = new Set<string>();
  private corked = false;
  /** More than OUTPUT_HIGH_WATER bytes wait to be taken by the client: reading is paused until 'drain'. */
  congested = false;
  /** Called when a congested wire has drained (the session answers what waits). */
  onDrained: () => void = () => {};
  /** Called when reading resumes (the session takes apart the input it held). */
  onResumed: () => void = () => {};
  private readonly drained = (): void => {
    this.congested = false;
    this.onDrained();
    if (!this.congested) this.resume('output');
  };

  constructor(readonly stream: Duplex) {}

  /** Bytes written but not yet taken by the peer. */
  get unsentBytes(): number {
    return this.stream.writableLength;
  }

  get closed(): boolean {
    return this.stream.destroyed;
  }

  /** Writes; what is written in one tick goes out together. */
  write(data: string | Buffer): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    if (!this.corked) {
      this.corked = true;
      stream.cork();
      process.nextTick(uncork, this);
    }
    stream.write(data);
    if (!this.congested && stream.writableLength > OUTPUT_HIGH_WATER) {
      // write() has returned false by now (the length is far past the
      // stream's own mark), so 'drain' comes once the peer took it all.
      this.congested = true;
      this.pause('output');
      stream.once('drain', this.drained);
    }
  }

  /** @internal */
  uncork(): void {
    this.corked = false;
    this.stream.uncork();
  }

  /** Hangs up after what was written (FIN). */
  end(): void {
    if (this.stream.destroyed) return;
    this.stream.end(() => this.stream.destroy());
  }

  /** Drops the connection at once: RST on TCP, ECONNRESET on the in-memory pair. */
  reset(): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    if (stream instanceof Socket && typeof stream.resetAndDestroy === 'function' && stream.remotePort !== undefined) {
      stream.resetAndDestroy();
    } else {
      stream.destroy(resetError());
    }
  }

  /** Stops reading for `reason` until `resume(reason)`; reading resumes when no reason is left. */
  pause(reason: string): void {
    this.stoppedBy.add(reason);
    this.stream.pause();
  }

  resume(reason: string): void {
    this.stoppedBy.delete(reason);
    if (this.stoppedBy.size === 0 && !this.stream.destroyed) {
      this.stream.resume();
      this.onResumed();
    }
  }

  /** Whether reading is on (no reason to stop it). */
  get reading(): boolean {
    return this.stoppedBy.size === 0;
  }
}

function uncork(wire: Wire): void {
  wire.uncork();
}

// ---------------------------------------------------------------------------
// Listening

export interface Listener {
  readonly server: Server;
  /** Where clients connect: the socket path, or the host and actual port. */
  readonly target: ListenTarget;
  close(): Promise<void>;
}

/**
 * Listens on a unix socket or TCP port (port 0 picks a free one). A unix
 * socket file is created fresh (an existing socket file is replaced; any
 * other file is left alone and listening fails) and removed on close.
 */
export async function listen(target: ListenTarget, onConnection: (socket: Socket) => void): Promise<Listener> {
  const server = createServer({ noDelay: true }, onConnection);
  if ('path' in target) removeStaleSocket(target.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
  const address = server.address();
  const actual: ListenTarget =
    'path' in target || address === null || typeof address === 'string'
      ? target
      : { host: target.host, port: address.port };
  return {
    server,
    target: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The server deletes its unix socket file on close; be sure.
        if ('path' in target) rmSync(target.path, { force: true });
      }),
  };
}

function removeStaleSocket(path: string): void {
  try {
    if (statSync(path).isSocket()) rmSync(path, { force: true });
  } catch {
    // Nothing there.
  }
}
