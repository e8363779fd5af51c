import { afterEach, describe, expect, it } from 'vitest';
import {
  LineDecoder,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  isQmpAbortError,
  isQmpCapabilityError,
  isQmpTimeoutError,
  parseTcpTarget,
  type ConnectOptions,
} from '../../src/runtime/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandMap, EventMap } from '../../generated/index.js';
import { parseSchemaString } from '../../src/frontend/index.js';
import { QmpTestServer, ServerSchema, faults, type TestServerOptions } from '../../src/testing/index.js';
import { rejection } from '../helpers/rejection.js';

const clients: QmpClient[] = [];
const servers: QmpTestServer<CommandMap, EventMap>[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) {
    await c.close();
    expect(c.pendingCount).toBe(0);
  }
  for (const s of servers.splice(0)) await s.close();
});

/** A test server for our schema (qapi/), typed by the generated maps. */
async function serve(options: TestServerOptions = {}): Promise<QmpTestServer<CommandMap, EventMap>> {
  const server = await QmpTestServer.create<CommandMap, EventMap>(options);
  servers.push(server);
  return server;
}

/** A client on a fresh in-memory session of `server` (a new server when none is given). */
async function session(options: ConnectOptions = {}, server?: QmpTestServer<CommandMap, EventMap>) {
  const s = server ?? (await serve());
  const client = await QmpClient.overStream(s.connect(), { timeout: 2000, ...options });
  clients.push(client);
  return { client, server: s };
}

/** Waits until the server has received `n` commands after negotiation. */
async function received(server: QmpTestServer<CommandMap, EventMap>, n: number) {
  const after = () => server.received.filter((r) => r.command !== 'qmp_capabilities');
  while (after().length < n) await tick();
  return after();
}


const tick = () => new Promise((r) => setImmediate(r));

/** Waits (a bounded number of event-loop turns) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
}

describe('LineDecoder', () => {
  const message = '{"return": {"s": "h\u00e9llo \u2713 \ud83d\ude00", "n": 18446744073709551552}, "id": 1}\r\n{"event": "X", "timestamp": {"seconds": 1, "microseconds": 2}}\n';

  it('yields the same lines for every two- and three-way chunk split', () => {
    const bytes = Buffer.from(message);
    const expected = message.split('\n').filter((l) => l !== '');
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i; j < bytes.length; j += 7) {
        const lines: string[] = [];
        const d = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => { throw e; } });
        d.push(bytes.subarray(0, i));
        d.push(bytes.subarray(i, j));
        d.push(bytes.subarray(j));
        expect(lines).toEqual(expected);
        expect(d.bufferedBytes).toBe(0);
      }
    }
  });

  it('fails once, for good, on a line over the limit', () => {
    const errors: QmpProtocolError[] = [];
    const lines: string[] = [];
    const d = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => errors.push(e) }, 100);
    d.push(Buffer.from('x'.repeat(60)));
    d.push(Buffer.from('x'.repeat(60)));
    d.push(Buffer.from('{}\n{}\n'));
    expect(errors.map((e) => e.code)).toEqual(['QMP_ERR_MESSAGE_TOO_LARGE']);
    expect(lines).toEqual([]);
    const d2 = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => errors.push(e) }, 100);
    d2.push(Buffer.from(`${'y'.repeat(101)}\n`));
    expect(errors).toHaveLength(2);
  });
});

describe('QmpClient against the test server', () => {
  it('negotiates, and enables oob only when asked and offered', async () => {
    const a = await session({ oob: true });
    expect(a.client.greeting.version.qemu).toEqual({ major: 10, minor: 1, micro: 0 });
    expect(a.client.oobEnabled).toBe(true);
    expect(a.server.received[0]).toMatchObject({ command: 'qmp_capabilities', arguments: { enable: ['oob'] }, id: 1 });
    const b = await session({});
    expect(b.client.oobEnabled).toBe(false);
    expect(b.server.received[0]).toMatchObject({ command: 'qmp_capabilities', arguments: undefined, id: 1 });
    const c = await session({ oob: true }, await serve({ capabilities: [] }));
    expect(c.client.oobEnabled).toBe(false);
  });

  it('decodes a reply split at every byte boundary', async () => {
    const { client, server } = await session();
    const body = { s: 'h\u00e9llo \u2713 \ud83d\ude00', n: 18446744073709551552n };
    const length = Buffer.byteLength(`{"return": {"s":"${body.s}","n":18446744073709551552}, "id": 1}\r\n`);
    for (let i = 1; i < length; i++) {
      server.expect('qom-get').reply(body).fault(faults.split(i));
      expect(await client.execute('qom-get', { path: '/', property: `split${i}` })).toEqual(body);
    }
    // And one byte per chunk.
    server.expect('qom-get').reply([1, '\u2713']).fault(faults.trickle(1));
    expect(await client.execute('qom-get', { path: '/', property: 'bytewise' })).toEqual([1, '\u2713']);
    server.assertDone();
  });

  it('matches out-of-order replies by id, many in flight', async () => {
    const { client, server } = await session({}, await serve({ serial: false }));
    const release: (() => void)[] = [];
    server.on('qom-get', (args) => new Promise((resolve) => release.push(() => resolve(Number(args.property)))));
    const calls = Array.from({ length: 50 }, (_, i) => client.execute('qom-get', { path: '/', property: String(i) }));
    while (release.length < 50) await tick();
    for (const r of release.reverse()) r();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(client.pendingCount).toBe(0);
  });

  it('rejects an error reply with QmpCommandError carrying class, desc and command', async () => {
    const { client } = await session();
    const e = await rejection(client.execute('nope', { a: 1 }));
    expect(e).toBeInstanceOf(QmpCommandError);
    expect(e.code).toBe('QMP_ERR_COMMAND');
    const ce = e as QmpCommandError;
    expect([ce.errorClass, ce.desc, ce.command, ce.args]).toEqual(['CommandNotFound', 'The command nope has not been found', 'nope', { a: 1 }]);
  });

  it('treats a garbage line as a fatal protocol error, rejecting every pending call', async () => {
    const { client, server } = await session();
    server.on('stop').fault(faults.noReply());
    server.on('cont').fault(faults.noReply());
    const reported: unknown[] = [];
    client.onError((e) => reported.push(e));
    const calls = [client.execute('stop'), client.execute('cont')];
    await received(server, 2);
    await server.inject(faults.garbage());
    for (const c of calls) {
      const e = await rejection(c);
      expect(e).toBeInstanceOf(QmpProtocolError);
      expect(e.code).toBe('QMP_ERR_PROTOCOL');
    }
    expect(reported).toHaveLength(1);
    expect(client.pendingCount).toBe(0);
    expect(client.connectionState).toBe('closed');
    const after = await rejection(client.execute('stop'));
    expect(after.code).toBe('QMP_ERR_DISCONNECTED');
    expect((after.cause as QmpError).code).toBe('QMP_ERR_PROTOCOL');
  });

  it('treats a line over maxMessageBytes as fatal (QMP_ERR_MESSAGE_TOO_LARGE)', async () => {
    const { client, server } = await session({ maxMessageBytes: 4096 });
    // 5 KB in 1000-byte chunks: the client must give up before the newline.
    server.expect('qom-get').reply('z'.repeat(5000)).fault(faults.trickle(1000));
    expect((await rejection(client.execute('qom-get', { path: '/', property: 'big' }))).code).toBe('QMP_ERR_MESSAGE_TOO_LARGE');
    expect(client.pendingCount).toBe(0);
  });

  it('reports a reply with an unknown id without disturbing other calls', async () => {
    const { client, server } = await session();
    server.expect('qom-get').raw((id) => `{"return": "stray", "id": 99999}\r\n{"return": "no id"}\r\n{"return": "mine", "id": ${JSON.stringify(id)}}`);
    const reported: QmpError[] = [];
    client.onError((e) => reported.push(e as QmpError));
    expect(await client.execute('qom-get', { path: '/', property: 'x' })).toBe('mine');
    expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_UNKNOWN_REPLY', 'QMP_ERR_UNKNOWN_REPLY']);
    expect(client.unknownReplies).toBe(2);
  });

  it('fails connect with QMP_ERR_GREETING: none, wrong first message, or hang-up before it', async () => {
    const silent = await serve({ greeting: false });
    const t0 = Date.now();
    const e1 = await rejection(QmpClient.overStream(silent.connect(), { timeout: 150 }));
    expect(e1.code).toBe('QMP_ERR_GREETING');
    expect(Date.now() - t0).toBeLessThan(1000);
    const wrong = (await serve()).onConnect(faults.garbage('{"return": {}}'));
    expect((await rejection(QmpClient.overStream(wrong.connect(), { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
    const garbage = (await serve()).onConnect(faults.garbage('SSH-2.0-OpenSSH'));
    expect((await rejection(QmpClient.overStream(garbage.connect(), { timeout: 1000 }))).code).toBe('QMP_ERR_PROTOCOL');
    const gone = (await serve({ greeting: false })).onConnect((s) => setTimeout(() => s.hangUp(), 20));
    expect((await rejection(QmpClient.overStream(gone.connect(), { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
    const refused = await serve();
    refused.on('qmp_capabilities').error('GenericError', 'no');
    expect((await rejection(QmpClient.overStream(refused.connect(), { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
  });

  it('times out a call the server never answers, and drops its late reply quietly', async () => {
    const { client, server } = await session();
    server.expect('qom-get').reply('late').delay(100);
    server.on('stop').reply({});
    const reported: unknown[] = [];
    client.onError((e) => reported.push(e));
    const e = await rejection(client.execute('qom-get', { path: '/', property: 'slow' }, { timeout: 50 }));
    expect(isQmpTimeoutError(e)).toBe(true);
    expect(e.code).toBe('QMP_ERR_TIMEOUT');
    expect(client.pendingCount).toBe(0);
    // Answered after the late reply (in-band replies keep their order).
    expect(await client.execute('stop')).toEqual({});
    expect(reported).toEqual([]);
    expect(client.unknownReplies).toBe(0);
  });

  it('keeps ids short by reusing answered ones, never one whose late reply may still come', async () => {
    const { client, server } = await session();
    const ids = () => server.received.filter((r) => r.command !== 'qmp_capabilities').map((r) => r.id);
    server.on('qom-get', (args) => args.property);
    for (let i = 0; i < 20; i++) await client.execute('qom-get', { path: '/', property: `seq${i}` });
    expect(new Set(ids())).toEqual(new Set([1]));

    // A call given up on keeps its id until the late reply arrives.
    server.expect('stop').reply({}).delay(60);
    const slow = client.execute('stop', undefined, { timeout: 30 });
    expect(isQmpTimeoutError(await rejection(slow))).toBe(true);
    const during = client.execute('qom-get', { path: '/', property: 'during' });
    await received(server, 22);
    const [slowId, duringId] = ids().slice(-2);
    expect(duringId).not.toBe(slowId);
    expect(await during).toBe('during');

    // Now both ids are free again; concurrent calls still get distinct ids.
    const batch = Array.from({ length: 8 }, (_, i) => client.execute('qom-get', { path: '/', property: String(i) }));
    expect(await Promise.all(batch)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    const sent = ids().slice(-8);
    expect(new Set(sent).size).toBe(8);
    expect(Math.max(...sent.map(Number))).toBeLessThanOrEqual(8);
    expect(client.unknownReplies).toBe(0);
    expect(client.pendingCount).toBe(0);
  });

  it('aborts one call by signal; others are unaffected', async () => {
    const { client, server } = await session();
    server.expect('stop').reply({}).delay(100);
    server.on('cont').reply({});
    const ac = new AbortController();
    const aborted = client.execute('stop', undefined, { signal: ac.signal });
    const other = client.execute('cont');
    await received(server, 1);
    ac.abort();
    expect(isQmpAbortError(await rejection(aborted))).toBe(true);
    expect(await other).toEqual({});
    const pre = new AbortController();
    pre.abort();
    expect((await rejection(client.execute('cont', undefined, { signal: pre.signal }))).code).toBe('QMP_ERR_ABORTED');
    expect(client.pendingCount).toBe(0);
  });

  it('rejects every pending call at once when the server closes mid-message', async () => {
    const { client, server } = await session();
    const names = ['query-status', 'query-iothreads', 'stop', 'cont', 'query-version'] as const;
    server.expect('query-status').reply({ running: true, status: 'running' }).fault(faults.closeMidLine());
    const calls = names.map((name) => client.execute(name));
    const errors = await Promise.all(calls.map((c) => rejection(c)));
    for (const [i, e] of errors.entries()) {
      expect(e).toBeInstanceOf(QmpDisconnectedError);
      expect((e as QmpDisconnectedError).command).toBe(names[i]);
    }
    expect(client.pendingCount).toBe(0);
    await client.closed;
  });

  it('sends exec-oob only when oob was negotiated', async () => {
    const plain = await session();
    const e = await rejection(plain.client.execute('migrate-pause', undefined, { oob: true }));
    expect(isQmpCapabilityError(e)).toBe(true);
    expect(e.code).toBe('QMP_ERR_OOB_NOT_NEGOTIATED');
    const schema = await ServerSchema.of(parseSchemaString("{ 'command': 'migrate-pause', 'allow-oob': true }", 'oob.json'));
    const server = await QmpTestServer.create({ schema });
    servers.push(server as never);
    server.on('migrate-pause').reply({});
    const client = await QmpClient.overStream(server.connect(), { oob: true });
    clients.push(client);
    expect(await client.execute('migrate-pause', undefined, { oob: true })).toEqual({});
    expect(server.received.at(-1)).toMatchObject({ command: 'migrate-pause', oob: true, arguments: undefined });
  });

  it('delivers events to iterators (buffered from subscription) and listeners', async () => {
    const { client, server } = await session();
    const all = client.events();
    const deleted = client.events(['DEVICE_DELETED']);
    const heard: string[] = [];
    const off = client.onEvent((ev) => heard.push(ev.event), ['STOP']);
    server.emit('STOP');
    server.emit('DEVICE_DELETED', { path: '/x' });
    server.emit('STOP');
    await until(() => heard.length === 2);
    off();
    server.emit('STOP');
    const first = await deleted.next();
    expect(first.value).toEqual({ event: 'DEVICE_DELETED', data: { path: '/x' }, timestamp: { seconds: expect.any(Number), microseconds: expect.any(Number) } });
    const names: string[] = [];
    for await (const ev of all) {
      names.push(ev.event);
      if (names.length === 4) break;
    }
    expect(names).toEqual(['STOP', 'DEVICE_DELETED', 'STOP', 'STOP']);
    expect(heard).toEqual(['STOP', 'STOP']);
    await client.close();
    expect(await deleted.next()).toEqual({ value: undefined, done: true });
  });

  it('drops the oldest events when a stream buffer overflows, and counts them', async () => {
    const { client, server } = await session();
    const stream = client.events(undefined, { bufferSize: 3 });
    for (let i = 0; i < 10; i++) server.emit('DEVICE_DELETED', { path: `/${i}` });
    await until(() => stream.dropped === 7);
    expect(stream.dropped).toBe(7);
    expect(stream.buffered).toBe(3);
    const got: unknown[] = [];
    for (let i = 0; i < 3; i++) got.push((await stream.next()).value?.data);
    expect(got).toEqual([{ path: '/7' }, { path: '/8' }, { path: '/9' }]);
  });

  it('ends an event iterator on its abort signal', async () => {
    const { client, server } = await session();
    const ac = new AbortController();
    const stream = client.events(['STOP'], { signal: ac.signal });
    const pending = stream.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    const seen = client.events(['STOP']);
    server.emit('STOP');
    await seen.next();
    expect(stream.buffered).toBe(0);
    const pre = client.events(undefined, { signal: ac.signal });
    expect(await pre.next()).toEqual({ value: undefined, done: true });
  });

  it('errors event iterators when the connection is lost, after draining them', async () => {
    const { client, server } = await session();
    const stream = client.events();
    server.emit('STOP');
    await until(() => stream.buffered === 1);
    [...server.sessions][0]!.hangUp();
    await client.closed;
    expect((await stream.next()).value?.event).toBe('STOP');
    expect((await rejection(stream.next())).code).toBe('QMP_ERR_DISCONNECTED');
  });

  it('supports await using and rejects calls pending at close()', async () => {
    const server = await serve();
    server.on('stop').fault(faults.noReply());
    let pending: Promise<unknown> | undefined;
    {
      await using client = await QmpClient.overStream(server.connect());
      pending = client.execute('stop');
      await received(server, 1);
    }
    const e = await rejection(pending);
    expect(e.code).toBe('QMP_ERR_DISCONNECTED');
  });

  it('copes with a greeting and an event in one chunk', async () => {
    const server = await serve({ greeting: false });
    server.onConnect((s) => s.sendRaw(`${DEFAULT_NO_OOB}\r\n{"event": "EARLY", "timestamp": {"seconds": 1, "microseconds": 0}}\r\n`));
    server.on('stop').reply({});
    const { client } = await session({ timeout: 1000 }, server);
    expect(await client.execute('stop')).toEqual({});
  });

  it('works over TCP', async () => {
    const server = await serve();
    server.on('qom-get', () => 18446744073709551552n.toString());
    const target = await server.listen({ host: '127.0.0.1', port: 0 });
    const client = await QmpClient.connect(target);
    clients.push(client);
    expect(await client.execute('qom-get', { path: '/', property: 'over-tcp' })).toBe('18446744073709551552');
    const e = await rejection(QmpClient.connect(parseTcpTarget('127.0.0.1:1')));
    expect(e.code).toBe('QMP_ERR_CONNECT');
    expect(() => parseTcpTarget('no-port')).toThrow(QmpConnectError);
    expect(parseTcpTarget('[::1]:4444')).toEqual({ host: '::1', port: 4444 });
  });

  it('connect honours an abort signal', async () => {
    const silent = await serve({ greeting: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    expect((await rejection(QmpClient.overStream(silent.connect(), { timeout: 5000, signal: ac.signal }))).code).toBe('QMP_ERR_ABORTED');
  });

  it('works over a unix socket, and fails to connect with QmpConnectError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-client-'));
    try {
      const server = await serve();
      server.on('qom-get', (args) => ({ echo: args.property }));
      const path = join(dir, 'qmp.sock');
      await server.listen({ path });
      const client = await QmpClient.connect({ path });
      clients.push(client);
      expect(await client.execute('qom-get', { path: '/', property: 'hello' })).toEqual({ echo: 'hello' });
      const e = await rejection(QmpClient.connect({ path: `${path}.missing` }));
      expect(e).toBeInstanceOf(QmpConnectError);
      expect(e.code).toBe('QMP_ERR_CONNECT');
      expect(e.message).toContain('ENOENT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const DEFAULT_NO_OOB =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}';
