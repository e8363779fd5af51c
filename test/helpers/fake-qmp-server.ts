/**
 * A scriptable stand-in for QEMU's QMP server.
 *
 * `memoryPeer()` gives an in-memory Duplex for the client plus a peer that
 * decides exactly which chunks the client receives (each `sendRaw` is one
 * 'data' event), so chunk boundaries are deterministic. `FakeQmpServer`
 * does the same over a real unix socket in a temp dir.
 *
 * By default a peer sends a greeting offering `oob` and answers
 * `qmp_capabilities` with `{}`; every other command is handed to
 * `onCommand` (or queued in `received` for the test to answer).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';

export interface FakeCommand {
  execute: string;
  oob: boolean;
  arguments?: Record<string, unknown>;
  id: unknown;
}

export interface FakePeerOptions {
  /** Raw greeting line (newline added); null sends none. */
  greeting?: string | null;
  /** Answer qmp_capabilities automatically (default true). */
  autoNegotiate?: boolean;
}

export const DEFAULT_GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}';

export class FakeQmpPeer {
  /** Commands received (after negotiation), in order. */
  readonly received: FakeCommand[] = [];
  /** Raw lines received, negotiation included. */
  readonly lines: string[] = [];
  onCommand: ((cmd: FakeCommand, peer: FakeQmpPeer) => void) | undefined;
  private buffer = '';
  private waiters: Array<() => void> = [];

  constructor(
    private readonly out: (chunk: string | Buffer) => void,
    private readonly hangUp: () => void,
    options: FakePeerOptions = {},
  ) {
    this.autoNegotiate = options.autoNegotiate ?? true;
    const greeting = options.greeting === undefined ? DEFAULT_GREETING : options.greeting;
    if (greeting !== null) this.sendRaw(`${greeting}\r\n`);
  }
  private readonly autoNegotiate: boolean;

  /** One chunk, delivered to the client as is. */
  sendRaw(chunk: string | Buffer): void {
    this.out(chunk);
  }

  send(message: unknown): void {
    this.sendRaw(`${JSON.stringify(message)}\r\n`);
  }

  reply(id: unknown, value: unknown): void {
    this.send({ return: value, id });
  }

  replyError(id: unknown, errorClass: string, desc: string): void {
    this.send({ error: { class: errorClass, desc }, id });
  }

  event(name: string, data?: unknown): void {
    this.send({ event: name, ...(data === undefined ? {} : { data }), timestamp: { seconds: 1, microseconds: 2 } });
  }

  /** Closes the connection from the server side. */
  hangup(): void {
    this.hangUp();
  }

  /** Resolves once `n` commands (after negotiation) have arrived. */
  async waitFor(n: number): Promise<FakeCommand[]> {
    while (this.received.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.received.slice(0, n);
  }

  /** Feeds bytes written by the client. */
  input(chunk: Buffer | string): void {
    this.buffer += chunk.toString();
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.lines.push(line);
      const msg = JSON.parse(line) as Record<string, unknown>;
      const oob = typeof msg['exec-oob'] === 'string';
      const cmd: FakeCommand = {
        execute: String(oob ? msg['exec-oob'] : msg.execute),
        oob,
        id: msg.id,
        ...(msg.arguments === undefined ? {} : { arguments: msg.arguments as Record<string, unknown> }),
      };
      if (cmd.execute === 'qmp_capabilities' && this.autoNegotiate) {
        this.reply(cmd.id, {});
        continue;
      }
      this.received.push(cmd);
      for (const w of this.waiters.splice(0)) w();
      this.onCommand?.(cmd, this);
    }
  }
}

/** An in-memory Duplex for the client, wired to a FakeQmpPeer. */
export function memoryPeer(options: FakePeerOptions = {}): { stream: Duplex; peer: FakeQmpPeer } {
  let peer!: FakeQmpPeer;
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      // Answer asynchronously, as a real server would.
      setImmediate(() => peer.input(chunk));
      cb();
    },
  });
  peer = new FakeQmpPeer(
    (chunk) => {
      if (!stream.destroyed) stream.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    },
    () => {
      stream.push(null);
      stream.destroy();
    },
    options,
  );
  return { stream, peer };
}

/** A fake QMP server on a unix socket in a fresh temp dir. */
export class FakeQmpServer {
  readonly peers: FakeQmpPeer[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly dir: string,
    readonly path: string,
  ) {}

  /** TCP port when started with `tcp: true`. */
  port = 0;

  /** Listens on a unix socket in a temp dir, or on 127.0.0.1 with `tcp`. */
  static async start(
    options: FakePeerOptions & { tcp?: boolean } = {},
    onPeer?: (peer: FakeQmpPeer) => void,
  ): Promise<FakeQmpServer> {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-fake-qmp-'));
    const path = join(dir, 'qmp.sock');
    let self!: FakeQmpServer;
    const server = createServer((socket) => {
      self.sockets.add(socket);
      socket.on('close', () => self.sockets.delete(socket));
      socket.on('error', () => {});
      const peer = new FakeQmpPeer(
        (chunk) => {
          if (!socket.destroyed) socket.write(chunk);
        },
        () => socket.destroy(),
        options,
      );
      self.peers.push(peer);
      socket.on('data', (chunk) => peer.input(chunk));
      onPeer?.(peer);
    });
    self = new FakeQmpServer(server, dir, path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (options.tcp) server.listen(0, '127.0.0.1', () => resolve());
      else server.listen(path, () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address === 'object') self.port = address.port;
    return self;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
