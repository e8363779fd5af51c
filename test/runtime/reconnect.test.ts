/**
 * Connections that outlive server restarts, against the test server on a
 * unix socket: `waitForSocket` (a server still starting), and
 * ReconnectingQmpClient (src/runtime/reconnect.ts): backoff, the same
 * capabilities again, pending calls rejected and never re-sent, event
 * streams that continue with the gap marked, giving up, closing.
 * reconnect.integration.ts restarts a real QEMU.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QapiClient, type CommandMap, type EventMap } from '../../generated/index.js';
import {
  QmpClient,
  QmpDisconnectedError,
  ReconnectingQmpClient,
  type QmpError,
  type QmpEventGap,
  type ReconnectingConnectOptions,
} from '../../src/runtime/index.js';
import { QmpTestServer, faults } from '../../src/testing/index.js';
import { rejection } from '../helpers/rejection.js';

type Server = QmpTestServer<CommandMap, EventMap>;
const open: { close(): Promise<void> }[] = [];
let dir = '';
let path = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qapi-ts-reconnect-'));
  path = join(dir, 'qmp.sock');
});
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await sleep(10);
  expect(cond(), what).toBe(true);
}

/** A "QEMU" listening on `path`: answers qom-get with the property and stop with STOP. */
async function start(): Promise<Server> {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  open.push(server);
  server.on('qom-get', (args) => args.property);
  server.on('stop', (_a, ctx) => {
    ctx.emit('STOP');
    return {};
  });
  await server.listen({ path });
  return server;
}

async function reconnecting(options: ReconnectingConnectOptions = {}): Promise<ReconnectingQmpClient> {
  const client = await ReconnectingQmpClient.connect(
    { path },
    { timeout: 2000, reconnect: { initialDelay: 10, maxDelay: 50, jitter: 0 }, ...options },
  );
  open.push(client);
  return client;
}

describe('connect({ waitForSocket })', () => {
  it('waits for a server that is still starting, up to the connect timeout', async () => {
    const pending = QmpClient.connect({ path }, { waitForSocket: true, timeout: 5000 });
    await sleep(150);
    await start();
    const qmp = await pending;
    open.push(qmp);
    expect(await qmp.execute('qom-get', { path: '/', property: 'up' })).toBe('up');
  });

  it('fails at once without it, and at the deadline with it (saying what it saw last)', async () => {
    const now = await rejection(QmpClient.connect({ path }));
    expect(now.code).toBe('QMP_ERR_CONNECT');
    expect(now.message).toMatch(/ENOENT/);
    const t0 = Date.now();
    const late = await rejection(QmpClient.connect({ path }, { waitForSocket: true, timeout: 150 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(late.code).toBe('QMP_ERR_CONNECT');
    expect(late.message).toMatch(/timed out after 150 ms \(still ENOENT/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    expect(
      (await rejection(QmpClient.connect({ path }, { waitForSocket: true, timeout: 5000, signal: ac.signal }))).code,
    ).toBe('QMP_ERR_ABORTED');
  });
});

describe('ReconnectingQmpClient', () => {
  it('reconnects after a hang-up: pending calls reject (never re-sent), the same capabilities, events continue with the gap marked', async () => {
    const server = await start();
    server.on('query-status').fault(faults.noReply());
    const qmp = await reconnecting({ oob: true });
    expect(qmp.session?.oobEnabled).toBe(true);
    const gaps: QmpEventGap[] = [];
    qmp.onReconnect((session, gap) => {
      expect(session.oobEnabled).toBe(true);
      gaps.push(gap);
    });
    const stops = qmp.events(['STOP']);
    const heard: string[] = [];
    qmp.onEvent((e) => heard.push(e.event));
    await qmp.execute('stop');
    const pending = rejection(qmp.execute('query-status'));
    await until(() => server.received.some((r) => r.command === 'query-status'));
    for (const s of server.sessions) s.hangUp();
    const e = await pending;
    expect(e).toBeInstanceOf(QmpDisconnectedError);
    await until(() => qmp.reconnects === 1, 'reconnected');
    expect(qmp.connectionState).toBe('ready');
    expect(server.received.filter((r) => r.command === 'qmp_capabilities').map((r) => r.arguments)).toEqual([
      { enable: ['oob'] },
      { enable: ['oob'] },
    ]);
    expect(server.received.filter((r) => r.command === 'query-status')).toHaveLength(1);
    await qmp.execute('stop');
    const first = await stops.next();
    const second = await stops.next();
    expect(first.value?.gap).toBeUndefined();
    expect(second.value?.gap).toEqual(gaps[0]);
    expect(gaps[0]!.reconnectedAt.getTime()).toBeGreaterThanOrEqual(gaps[0]!.lostAt.getTime());
    expect(stops.gaps).toBe(1);
    expect(heard).toEqual(['STOP', 'STOP']);
    expect(await qmp.execute('qom-get', { path: '/', property: 'again' })).toBe('again');
  });

  it('delivers the events a new session sends with (or before) its qmp_capabilities reply, gap marked', async () => {
    const server = await start();
    const qmp = await reconnecting();
    const stream = qmp.events();
    const heard: string[] = [];
    qmp.onEvent((e) => heard.push(e.event));
    const event = (name: string): string => `{"event": "${name}", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n`;
    // Next session: the reply and two events in one write, so one read.
    server.expect('qmp_capabilities').raw(`{"return": {}}\r\n${event('STOP')}${event('RESUME')}`);
    for (const s of server.sessions) s.hangUp();
    await until(() => qmp.reconnects === 1, 'reconnected');
    // The one after: an event ahead of the reply, in the same read (QEMU
    // sends none before negotiating; a peer may).
    server.expect('qmp_capabilities').raw(`${event('RESUME')}{"return": {}}\r\n`);
    for (const s of server.sessions) s.hangUp();
    await until(() => qmp.reconnects === 2, 'reconnected again');
    // Then an ordinary session.
    for (const s of server.sessions) s.hangUp();
    await until(() => qmp.reconnects === 3, 'reconnected a third time');
    // stop's STOP comes before its reply: every event is in by now.
    await qmp.execute('stop');
    expect(heard).toEqual(['STOP', 'RESUME', 'RESUME', 'STOP']);
    const names: string[] = [];
    const gaps: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const { value } = await stream.next();
      names.push(value!.event);
      gaps.push(value!.gap !== undefined);
    }
    expect(names).toEqual(['STOP', 'RESUME', 'RESUME', 'STOP']);
    expect(gaps).toEqual([true, false, true, true]);
    expect(stream.gaps).toBe(3);
  });

  it('while the server is away: calls reject at once, attempts back off, and it comes back with the new server', async () => {
    const first = await start();
    const qmp = await reconnecting({ reconnect: { initialDelay: 20, factor: 2, maxDelay: 80, jitter: 0 } });
    const errors: QmpError[] = [];
    const attempts: number[] = [];
    qmp.onError((e) => {
      errors.push(e as QmpError);
      attempts.push(Date.now());
    });
    await first.close();
    await until(() => qmp.connectionState === 'reconnecting');
    const e = await rejection(qmp.execute('qom-get', { path: '/', property: 'x' }));
    expect(e.message).toBe('qom-get: not connected (reconnecting)');
    await until(() => attempts.length >= 5, 'five failed attempts');
    expect(errors.every((x) => x.code === 'QMP_ERR_CONNECT')).toBe(true);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // 40, 80, 80, … ms apart (20 · 2^n, capped at 80), give or take the timers.
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps.every((g) => g >= 70 || g === gaps[0])).toBe(true);
    expect(Math.max(...gaps)).toBeLessThan(200);
    await start();
    await until(() => qmp.connectionState === 'ready', 'back');
    expect(await qmp.execute('qom-get', { path: '/', property: 'new' })).toBe('new');
  });

  it('gives up after maxAttempts: closed, streams end with the error', async () => {
    const server = await start();
    const qmp = await reconnecting({ reconnect: { initialDelay: 5, maxAttempts: 3, jitter: 0 } });
    const stream = qmp.events();
    await server.close();
    await qmp.closed;
    expect(qmp.connectionState).toBe('closed');
    const e = await rejection(stream.next());
    expect(e.message).toBe('gave up reconnecting after 3 attempts');
    expect((e.cause as QmpError).code).toBe('QMP_ERR_CONNECT');
    expect((await rejection(qmp.execute('stop'))).message).toBe('stop: the client is closed');
  });

  it('close() stops reconnecting; streams end normally', async () => {
    const server = await start();
    const qmp = await reconnecting();
    const stream = qmp.events();
    await server.close();
    await until(() => qmp.connectionState === 'reconnecting');
    await qmp.close();
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    await start();
    await sleep(100);
    expect(qmp.session).toBeUndefined();
  });

  it('quit resolves; the client then waits for the next server', async () => {
    const server = await start();
    server.on('quit').fault(faults.hangUp());
    const qmp = await reconnecting();
    expect(await qmp.execute('quit')).toEqual({});
    await until(() => qmp.reconnects === 1);
    expect(await qmp.execute('qom-get', { path: '/', property: 'after' })).toBe('after');
  });

  it('runs the typed client, probing the schema afresh after a reconnect', async () => {
    const server = await start();
    const qmp = await reconnecting();
    const client = new QapiClient(qmp);
    expect(await client.qomGet({ path: '/', property: 'typed' })).toBe('typed');
    server.on('query-qmp-schema', () => [
      { name: 'stop', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' },
      { name: '0', 'meta-type': 'object', members: [] },
    ]);
    expect(await client.supports('stop')).toBe(true);
    for (const s of server.sessions) s.hangUp();
    await until(() => qmp.reconnects === 1);
    expect(await client.supports('stop')).toBe(true);
    expect(server.received.filter((r) => r.command === 'query-qmp-schema')).toHaveLength(2);
    const deleted = client.waitForEvent('STOP', { trigger: () => client.stop(), timeout: 2000 });
    expect((await deleted).event).toBe('STOP');
  });

  it('waits delays of 2^31 ms or more (Node would fire such a timer at once)', async () => {
    const server = await start();
    const qmp = await reconnecting({ reconnect: { initialDelay: 2 ** 31, jitter: 0 } });
    for (const s of server.sessions) s.hangUp();
    await sleep(150);
    expect(qmp.reconnects).toBe(0);
    expect(qmp.connectionState).toBe('reconnecting');
  });

  it('checks its options', async () => {
    await start();
    for (const reconnect of [
      { factor: 0.5 },
      { jitter: 2 },
      { maxAttempts: 0 },
      { initialDelay: -1 },
      { maxDelay: Infinity },
    ]) {
      await expect(ReconnectingQmpClient.connect({ path }, { reconnect })).rejects.toThrow(RangeError);
    }
    await expect(ReconnectingQmpClient.connect({ path }, { record: join(dir, 'x') } as never)).rejects.toThrow(
      TypeError,
    );
  });
});
