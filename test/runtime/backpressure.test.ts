/**
 * Backpressure (src/runtime/outbox.ts): when the server stops reading,
 * the client stops writing once the socket's buffer is full, keeps the
 * rest in its own queue, refuses calls beyond its limits with
 * QMP_ERR_QUEUE_FULL, and sends everything once the server reads again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandMap, EventMap } from '../../generated/index.js';
import {
  QmpClient,
  QmpQueueFullError,
  isQmpQueueFullError,
  openSocket,
  type ConnectOptions,
} from '../../src/runtime/index.js';
import { QmpTestServer, type Session } from '../../src/testing/index.js';
import { rejection } from '../helpers/rejection.js';

type Server = QmpTestServer<CommandMap, EventMap>;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server that answers qom-get with the property name, a client over `stream`, and the server's session. */
async function setup(options: ConnectOptions = {}, stream?: (server: Server) => Promise<Duplex>) {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  open.push(server);
  server.on('qom-get', (args) => args.property);
  const next = server.nextSession();
  const wire = stream ? await stream(server) : server.connect();
  const client = await QmpClient.overStream(wire, { timeout: 2000, ...options });
  open.push(client);
  const session = (await next) as Session<CommandMap, EventMap>;
  return { server, client, wire, session };
}

const call = (client: QmpClient, i: number) => client.execute('qom-get', { path: '/', property: `p${i}` });

describe('backpressure', () => {
  for (const transport of ['in-memory pair', 'unix socket'] as const) {
    it(`stops writing while the server does not read, and sends the rest once it does (${transport})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-bp-'));
      try {
        const { client, wire, session } = await setup(
          {},
          transport === 'unix socket'
            ? async (s) => openSocket(await s.listen({ path: join(dir, 'qmp.sock') }))
            : undefined,
        );
        session.stopReading();
        const total = 50_000;
        const calls = Array.from({ length: total }, (_, i) => call(client, i));
        // Let the writes go as far as they can.
        let before = -1;
        while (client.queuedRequests !== before) {
          before = client.queuedRequests;
          await sleep(20);
        }
        // The socket took what fits in its buffer; the rest waits in our queue, not in Node's.
        expect(client.queuedRequests).toBeGreaterThan(total / 2);
        expect(wire.writableLength).toBeLessThanOrEqual(wire.writableHighWaterMark + 64 * 1024 + 100);
        session.resumeReading();
        const replies = await Promise.all(calls);
        expect(replies[0]).toBe('p0');
        expect(replies[total - 1]).toBe(`p${total - 1}`);
        expect(client.queuedRequests).toBe(0);
        expect(client.pendingCount).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('refuses calls beyond maxQueuedRequests with QMP_ERR_QUEUE_FULL, sending nothing of them', async () => {
    const { server, client, session } = await setup({ maxQueuedRequests: 100 });
    session.stopReading();
    const outcomes: Promise<unknown>[] = [];
    const issue = (count: number): void => {
      for (let k = 0; k < count; k++) {
        const i = outcomes.length;
        outcomes.push(call(client, i).catch((e: unknown) => e));
      }
    };
    // Fill the socket's buffer until requests stay in our queue.
    while (client.queuedRequests === 0) {
      issue(50);
      await sleep(5);
    }
    const waiting = client.queuedRequests;
    issue(300);
    expect(client.queuedRequests).toBe(100);
    session.resumeReading();
    const results = await Promise.all(outcomes);
    const refused = results.filter((r) => r instanceof Error);
    expect(refused).toHaveLength(300 - (100 - waiting));
    for (const e of refused) {
      expect(isQmpQueueFullError(e)).toBe(true);
      expect((e as QmpQueueFullError).code).toBe('QMP_ERR_QUEUE_FULL');
      expect((e as QmpQueueFullError).message).toMatch(
        /^qom-get: 100 requests are already waiting to be written \(maxQueuedRequests\)/,
      );
    }
    // What was refused never reached the server; everything else got its own reply.
    const answered = results.filter((r) => !(r instanceof Error));
    const received = server.received.filter((r) => r.command === 'qom-get').map((r) => r.arguments?.property);
    expect(received).toEqual(answered);
    expect(answered.length).toBe(outcomes.length - refused.length);
    expect(client.pendingCount).toBe(0);
  });

  it('refuses calls beyond maxQueuedBytes, but always takes one request when nothing waits', async () => {
    const { client, session } = await setup({ maxQueuedBytes: 1000 });
    session.stopReading();
    const big = 'x'.repeat(5000);
    // Nothing waits: a request longer than the limit is taken.
    const first = client.execute('qom-get', { path: '/', property: big });
    const second = rejection(client.execute('qom-get', { path: '/', property: 'small' }));
    expect((await second).code).toBe('QMP_ERR_QUEUE_FULL');
    expect((await second).message).toMatch(/bytes of requests are already waiting to be written \(maxQueuedBytes\)/);
    session.resumeReading();
    expect(await first).toBe(big);
    expect(await call(client, 1)).toBe('p1');
  });

  it('rejects queued calls with QMP_ERR_DISCONNECTED when the session ends', async () => {
    const { client, session } = await setup();
    session.stopReading();
    const calls = Array.from({ length: 20_000 }, (_, i) => call(client, i).catch((e: unknown) => e));
    await sleep(20);
    expect(client.queuedRequests).toBeGreaterThan(0);
    await client.close();
    const errors = await Promise.all(calls);
    expect(errors.every((e) => (e as { code?: string }).code === 'QMP_ERR_DISCONNECTED')).toBe(true);
    expect(client.queuedRequests).toBe(0);
    expect(client.pendingCount).toBe(0);
  });

  it('checks the queue limits as options', async () => {
    for (const bad of [0, -1, 1.5, NaN]) {
      await expect(setup({ maxQueuedRequests: bad })).rejects.toThrow(RangeError);
      await expect(setup({ maxQueuedBytes: bad })).rejects.toThrow(RangeError);
    }
    await expect(setup({ maxQueuedRequests: '5' as never })).rejects.toThrow(TypeError);
  });
});
