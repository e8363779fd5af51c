/**
 * A bare QMP peer for tests that must see the wire exactly: it sends lines
 * as given (even broken ones) and hands out each message the server sends,
 * decoded exactly. Works over any Duplex (a socket, the test server's
 * in-memory pair).
 */
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { LineDecoder } from '../../src/runtime/framing.js';
import { parseJson } from '../../src/runtime/json.js';

export class RawQmp {
  readonly messages: unknown[] = [];
  /** Raw lines received, `\r` kept. */
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private read = 0;
  ended = false;

  constructor(readonly stream: Duplex) {
    const decoder = new LineDecoder(
      {
        line: (text) => {
          this.lines.push(text);
          // Faults may send far deeper values than a client accepts.
          this.messages.push(parseJson(text, { maxDepth: 1_000_000 }));
          this.wake();
        },
        fail: () => {},
      },
      1 << 30,
    );
    stream.on('data', (chunk: Buffer) => decoder.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static unix(path: string): Promise<RawQmp> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      socket.once('connect', () => resolve(new RawQmp(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(line: string): void {
    this.stream.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** The next message not yet handed out; rejects after `timeout` ms or on hang-up. */
  async next(timeout = 5000): Promise<unknown> {
    const deadline = Date.now() + timeout;
    while (this.read >= this.messages.length) {
      if (this.ended) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages[this.read++];
  }

  /** The next message that is not an event. */
  async reply(timeout = 5000): Promise<Record<string, unknown>> {
    for (;;) {
      const m = (await this.next(timeout)) as Record<string, unknown>;
      if (!('event' in m)) return m;
    }
  }

  /** Reads the greeting and negotiates (with `oob` when asked). */
  async negotiate(oob = false): Promise<Record<string, unknown>> {
    const greeting = (await this.next()) as Record<string, unknown>;
    this.send(
      oob ? '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}' : '{"execute": "qmp_capabilities"}',
    );
    const r = await this.reply();
    if (!('return' in r)) throw new Error(`negotiation refused: ${JSON.stringify(r)}`);
    return greeting;
  }

  close(): void {
    this.stream.destroy();
  }
}
