import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  JsonParseError,
  LineDecoder,
  QmpArgumentError,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  isQmpAbortError,
  isQmpArgumentError,
  isQmpCapabilityError,
  isQmpTimeoutError,
  parseTcpTarget,
  type ConnectOptions,
} from '../../src/runtime/index.js';
import {
  MAX_ARGUMENT_DEPTH,
  MAX_REQUEST_BYTES,
  MAX_REQUEST_TOKENS,
  encodeCommand,
} from '../../src/runtime/protocol.js';
import { Deadline } from '../../src/runtime/timers.js';
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

/** `, "id": …` for a reply to a request that had one, '' otherwise. */
const idMember = (id: unknown): string => (id === undefined ? '' : `, "id": ${JSON.stringify(id)}`);

/** Waits (a bounded number of event-loop turns) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
}

describe('LineDecoder', () => {
  const message =
    '{"return": {"s": "h\u00e9llo \u2713 \ud83d\ude00", "n": 18446744073709551552}, "id": 1}\r\n' +
    '{"event": "X", "timestamp": {"seconds": 1, "microseconds": 2}}\n';

  it('yields the same lines for every two- and three-way chunk split', () => {
    const bytes = Buffer.from(message);
    const expected = message.split('\n').filter((l) => l !== '');
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i; j < bytes.length; j += 7) {
        const lines: string[] = [];
        const d = new LineDecoder({
          line: (t) => lines.push(t),
          fail: (e) => {
            throw e;
          },
        });
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

  it('copies an incomplete line out of its chunks: memory stays near the bytes held', () => {
    const lines: string[] = [];
    const d = new LineDecoder({
      line: (t) => lines.push(t),
      fail: (e) => {
        throw e;
      },
    });
    const text = `{"return": "${'abcdefgh'.repeat(25_000)}", "id": 1}`;
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) {
      // One chunk per byte, each its own allocation, as a trickling peer gives them.
      const chunk = Buffer.from(bytes.subarray(i, i + 1));
      d.push(chunk);
      // The decoder must not keep the chunk: scribbling on it changes nothing.
      chunk.fill(0x5a);
      if (i % 1000 === 0) {
        expect(d.bufferedBytes).toBe(i + 1);
        expect(d.retainedBytes).toBeLessThanOrEqual(2 * d.bufferedBytes + 1024);
      }
    }
    expect(d.retainedBytes).toBeLessThanOrEqual(2 * bytes.length);
    d.push(Buffer.from('\n'));
    expect(lines).toEqual([text]);
    expect(d.bufferedBytes).toBe(0);
    // A large buffer is let go once its line is complete.
    expect(d.retainedBytes).toBe(0);
  });
});

describe('QmpClient against the test server', () => {
  it('negotiates, and enables oob only when asked and offered', async () => {
    const a = await session({ oob: true });
    expect(a.client.greeting.version.qemu).toEqual({ major: 10, minor: 1, micro: 0 });
    expect(a.client.oobEnabled).toBe(true);
    expect(a.server.received[0]).toMatchObject({
      command: 'qmp_capabilities',
      arguments: { enable: ['oob'] },
      id: undefined,
    });
    const b = await session({});
    expect(b.client.oobEnabled).toBe(false);
    expect(b.server.received[0]).toMatchObject({ command: 'qmp_capabilities', arguments: undefined, id: undefined });
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

  it("with ids: 'always', matches out-of-order replies by id, many in flight", async () => {
    const { client, server } = await session({ ids: 'always' }, await serve({ serial: false }));
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
    expect([ce.errorClass, ce.desc, ce.command, ce.args]).toEqual([
      'CommandNotFound',
      'The command nope has not been found',
      'nope',
      { a: 1 },
    ]);
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
    expect((await rejection(client.execute('qom-get', { path: '/', property: 'big' }))).code).toBe(
      'QMP_ERR_MESSAGE_TOO_LARGE',
    );
    expect(client.pendingCount).toBe(0);
  });

  it('reports a reply with an unknown id without disturbing other calls', async () => {
    const { client, server } = await session();
    server
      .expect('qom-get')
      .raw(
        (id) => `{"return": "stray", "id": 99999}\r\n{"return": "mine"${idMember(id)}}\r\n{"return": "no call left"}`,
      );
    const reported: QmpError[] = [];
    client.onError((e) => reported.push(e as QmpError));
    expect(await client.execute('qom-get', { path: '/', property: 'x' })).toBe('mine');
    await until(() => reported.length === 2);
    expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_UNKNOWN_REPLY', 'QMP_ERR_UNKNOWN_REPLY']);
    expect(client.unknownReplies).toBe(2);
    // With ids on every request, an id-less stray is told apart too.
    const always = await session({ ids: 'always' });
    always.server.expect('qom-get').raw((id) => `{"return": "no id"}\r\n{"return": "mine"${idMember(id)}}`);
    const alsoReported = reportedErrors(always.client);
    expect(await always.client.execute('qom-get', { path: '/', property: 'x' })).toBe('mine');
    expect(alsoReported.map((e) => e.code)).toEqual(['QMP_ERR_UNKNOWN_REPLY']);
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

  it("with ids: 'always', keeps ids short by reusing answered ones, never one whose late reply may still come", async () => {
    const { client, server } = await session({ ids: 'always' });
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

  it('many calls sharing one signal share one abort listener; aborting rejects them all', async () => {
    const { client, server } = await session({ ids: 'always' }, await serve({ serial: false }));
    const release = new Map<string, () => void>();
    server.on('qom-get', (args) => new Promise((resolve) => release.set(args.property, () => resolve({}))));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const calls = Array.from({ length: 100 }, (_, i) =>
        client.execute('qom-get', { path: '/', property: `c${i}` }, { signal: ac.signal }),
      );
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      await until(() => release.size === 100);
      // Half are answered: still one listener, for the rest.
      for (let i = 0; i < 50; i++) release.get(`c${i}`)!();
      await Promise.all(calls.slice(0, 50));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      ac.abort('stop');
      const errors = await Promise.all(calls.slice(50).map((c) => rejection(c)));
      expect(errors.every(isQmpAbortError)).toBe(true);
      expect(errors.every((e) => (e as QmpError & { command: string }).command === 'qom-get')).toBe(true);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      expect(client.pendingCount).toBe(0);
      // A signal whose calls all settle keeps no listener.
      const other = new AbortController();
      const one = client.execute('qom-get', { path: '/', property: 'one' }, { signal: other.signal });
      await until(() => release.has('one'));
      release.get('one')!();
      await one;
      expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
      await tick();
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
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
    const schema = await ServerSchema.of(
      parseSchemaString("{ 'command': 'migrate-pause', 'allow-oob': true }", 'oob.json'),
    );
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
    expect(first.value).toEqual({
      event: 'DEVICE_DELETED',
      data: { path: '/x' },
      timestamp: { seconds: expect.any(Number), microseconds: expect.any(Number) },
    });
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
    server.onConnect((s) =>
      s.sendRaw(`${DEFAULT_NO_OOB}\r\n{"event": "EARLY", "timestamp": {"seconds": 1, "microseconds": 0}}\r\n`),
    );
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
    expect((await rejection(QmpClient.overStream(silent.connect(), { timeout: 5000, signal: ac.signal }))).code).toBe(
      'QMP_ERR_ABORTED',
    );
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

const nested = (depth: number, inner = '1'): string => '['.repeat(depth) + inner + ']'.repeat(depth);

/** A value `depth` arrays deep, built without recursion. */
function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** What the client reports to its onError listeners, collected. */
function reportedErrors(client: QmpClient): QmpError[] {
  const reported: QmpError[] = [];
  client.onError((e) => reported.push(e as QmpError));
  return reported;
}

/** Commands received after negotiation. */
const commandsOf = (server: QmpTestServer<CommandMap, EventMap>) =>
  server.received.filter((r) => r.command !== 'qmp_capabilities');

describe('QmpClient against hostile servers', () => {
  it('treats a line nested 10,000 deep as a fatal protocol error, not a crash', async () => {
    for (const line of [nested(10_000), `{"error": {"class": "GenericError", "desc": ${nested(10_000)}}, "id": 1}`]) {
      const { client, server } = await session({}, await serve({ serial: false }));
      server.on('stop').fault(faults.noReply());
      server.on('cont').fault(faults.noReply());
      const reported = reportedErrors(client);
      const calls = [client.execute('stop'), client.execute('cont')];
      await received(server, 2);
      await server.inject(faults.garbage(line));
      for (const c of calls) {
        const e = await rejection(c);
        expect(e.code).toBe('QMP_ERR_PROTOCOL');
        expect(e.cause).toBeInstanceOf(JsonParseError);
        expect((e.cause as Error).message).toMatch(/^nesting deeper than 1024 levels/);
      }
      expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_PROTOCOL']);
      expect(client.connectionState).toBe('closed');
      expect(client.pendingCount).toBe(0);
    }
  });

  it('describes deep or huge messages briefly (error replies, unknown shapes)', async () => {
    const { client, server } = await session();
    const reported = reportedErrors(client);
    server
      .on('stop')
      .raw((id) => `${nested(1000)}\r\n{"error": {"class": "GenericError", "desc": ${nested(1000)}}${idMember(id)}}`);
    const e = (await rejection(client.execute('stop'))) as QmpCommandError;
    expect(e.code).toBe('QMP_ERR_COMMAND');
    expect(e.desc.length).toBeLessThan(250);
    expect(e.desc).toMatch(/^\{"class":"GenericError","desc":\[\[\[/);
    expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    expect(reported[0]?.message.length).toBeLessThan(300);
  });

  it('survives a too-deep line on a real socket: pending calls reject, onError is told', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-client-'));
    try {
      const server = await serve();
      server.on('query-status').fault(faults.deepNesting(10_000));
      const client = await QmpClient.connect(await server.listen({ path: join(dir, 'qmp.sock') }));
      clients.push(client);
      const reported = reportedErrors(client);
      const e = await rejection(client.execute('query-status'));
      expect(e.code).toBe('QMP_ERR_PROTOCOL');
      await client.closed;
      expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails connect with QMP_ERR_GREETING for any failure before the session is ready, keeping the cause', async () => {
    type Setup = (server: QmpTestServer<CommandMap, EventMap>) => void;
    const cases: [string, TestServerOptions, ConnectOptions, string | undefined, Setup?][] = [
      ['not JSON', { greeting: false }, {}, 'QMP_ERR_PROTOCOL', (s) => s.onConnect(faults.garbage('SSH-2.0-OpenSSH'))],
      ['too deep', { greeting: false }, {}, 'QMP_ERR_PROTOCOL', (s) => s.onConnect(faults.garbage(nested(5000)))],
      [
        'too large',
        { greeting: false },
        { maxMessageBytes: 100 },
        'QMP_ERR_MESSAGE_TOO_LARGE',
        (s) => s.onConnect(faults.garbage(`{"QMP": "${'x'.repeat(200)}"}`)),
      ],
      ['not a greeting', { greeting: false }, {}, undefined, (s) => s.onConnect(faults.garbage('{"return": {}}'))],
      [
        'hang-up before the greeting',
        { greeting: false },
        {},
        'QMP_ERR_DISCONNECTED',
        (s) => s.onConnect((session) => setTimeout(() => session.hangUp(), 20)),
      ],
      [
        'hang-up while negotiating',
        {},
        {},
        'QMP_ERR_DISCONNECTED',
        (s) => s.on('qmp_capabilities').fault(faults.hangUp()),
      ],
      ['negotiation refused', {}, {}, 'QMP_ERR_COMMAND', (s) => s.on('qmp_capabilities').error('GenericError', 'no')],
      ['silence', { greeting: false }, { timeout: 100 }, undefined],
    ];
    for (const [what, serverOptions, options, causeCode, setup] of cases) {
      const server = await serve(serverOptions);
      setup?.(server);
      const e = await rejection(QmpClient.overStream(server.connect(), { timeout: 2000, ...options }, 'fake'));
      expect(e.code, what).toBe('QMP_ERR_GREETING');
      expect(e.message, what).toMatch(/^fake: (waiting for the QMP greeting|negotiating capabilities): /);
      expect((e.cause as QmpError | undefined)?.code, what).toBe(causeCode);
    }
  });

  it('lets timeouts of 2^31 ms and more, or Infinity, run instead of firing at once', async () => {
    const { client, server } = await session(
      { defaultTimeout: 2 ** 31, ids: 'always' },
      await serve({ serial: false }),
    );
    const release: (() => void)[] = [];
    server.on('qom-get', (args) => new Promise((resolve) => release.push(() => resolve(args.property))));
    const calls = [
      client.execute('qom-get', { path: '/', property: 'default' }),
      client.execute('qom-get', { path: '/', property: 'inf' }, { timeout: Infinity }),
      client.execute('qom-get', { path: '/', property: 'huge' }, { timeout: 3_000_000_000 }),
    ];
    await until(() => release.length === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(client.pendingCount).toBe(3);
    for (const r of release) r();
    expect(await Promise.all(calls)).toEqual(['default', 'inf', 'huge']);
    // Connect timeouts too: a greeting that comes after 50 ms is still in time.
    for (const timeout of [Infinity, 2 ** 31]) {
      const late = (await serve({ greeting: false })).onConnect((s) =>
        setTimeout(() => s.sendRaw(`${DEFAULT_NO_OOB}\r\n`), 50),
      );
      const c = await QmpClient.overStream(late.connect(), { timeout });
      clients.push(c);
      expect(c.connectionState).toBe('ready');
    }
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-client-'));
    try {
      const c = await QmpClient.connect(await (await serve()).listen({ path: join(dir, 'qmp.sock') }), {
        timeout: 2 ** 32,
      });
      clients.push(c);
      expect(c.connectionState).toBe('ready');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('chains timers for waits beyond what Node can time in one go', () => {
    vi.useFakeTimers();
    try {
      let fired = 0;
      const d = new Deadline(2 ** 31 + 1000, () => fired++);
      vi.advanceTimersByTime(2 ** 31 + 999);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(1);
      expect(fired).toBe(1);
      const cancelled = new Deadline(3 * 2 ** 31, () => fired++);
      vi.advanceTimersByTime(2 ** 31 + 5);
      cancelled.cancel();
      vi.advanceTimersByTime(4 * 2 ** 31);
      expect(fired).toBe(1);
      d.cancel();
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects bad timeouts and buffer sizes up front, sending nothing', async () => {
    const { client, server } = await session();
    for (const [timeout, type] of [
      [-1, RangeError],
      [NaN, RangeError],
      [-Infinity, RangeError],
      ['100', TypeError],
    ] as const) {
      const e = await client.execute('stop', undefined, { timeout: timeout as number }).catch((err: unknown) => err);
      expect(e, String(timeout)).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(/^timeout must be a number of milliseconds/);
    }
    await tick();
    expect(commandsOf(server)).toEqual([]);
    expect(client.pendingCount).toBe(0);
    for (const [bufferSize, type] of [
      [NaN, RangeError],
      [0, RangeError],
      [-5, RangeError],
      [1.5, RangeError],
      [Infinity, RangeError],
      ['3', TypeError],
    ] as const) {
      expect(() => client.events(undefined, { bufferSize: bufferSize as number }), String(bufferSize)).toThrow(type);
    }
    expect(client.events(undefined, { bufferSize: 1 }).bufferSize).toBe(1);
    expect(() => new LineDecoder({ line: () => {}, fail: () => {} }, NaN)).toThrow(RangeError);
    const bad: [ConnectOptions, ErrorConstructor][] = [
      [{ timeout: -5 }, RangeError],
      [{ timeout: NaN }, RangeError],
      [{ defaultTimeout: -1 }, RangeError],
      [{ maxMessageBytes: 0 }, RangeError],
      [{ maxMessageBytes: NaN }, RangeError],
      [{ timeout: '5' as unknown as number }, TypeError],
      [{ ids: 'sometimes' as never }, RangeError],
    ];
    for (const [options, type] of bad) {
      await expect(
        QmpClient.connect({ path: '/nonexistent/qmp.sock' }, options),
        JSON.stringify(options),
      ).rejects.toThrow(type);
      await expect(QmpClient.overStream(server.connect(), options)).rejects.toThrow(type);
    }
  });

  it('ends event iterators normally when the server hangs up after answering quit', async () => {
    const { client, server } = await session({ ids: 'always' }, await serve({ serial: false }));
    server.on('stop').fault(faults.noReply());
    server.on('quit', (_args, ctx) => {
      ctx.session.sendRaw(`{"return": {}${idMember(ctx.id)}}\r\n`);
      ctx.session.sendRaw(
        '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", ' +
          '"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n',
      );
      ctx.session.hangUp();
      return new Promise<Record<string, never>>(() => {});
    });
    const stream = client.events();
    const other = client.execute('stop');
    expect(await client.execute('quit')).toEqual({});
    await client.closed;
    const names: string[] = [];
    for await (const ev of stream) names.push(ev.event);
    expect(names).toEqual(['SHUTDOWN']);
    expect((await rejection(other)).code).toBe('QMP_ERR_DISCONNECTED');
    expect(client.pendingCount).toBe(0);
  });

  it('resolves quit when the server hangs up before its reply arrives', async () => {
    const { client, server } = await session();
    server.on('quit').fault(faults.hangUp());
    const stream = client.events();
    expect(await client.execute('quit')).toEqual({});
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('refuses arguments QEMU could not parse as one request, before sending anything', async () => {
    const schema = await ServerSchema.of(
      parseSchemaString(
        "{ 'pragma': { 'command-returns-exceptions': [ 'x' ] } }\n" +
          "{ 'command': 'x', 'data': { '*a': 'any', '*s': 'str' }, 'returns': 'str' }",
        'x.json',
      ),
    );
    const server = await QmpTestServer.create({ schema });
    servers.push(server as never);
    server.on('x').reply('ok');
    const client = await QmpClient.overStream(server.connect(), { timeout: 2000 });
    clients.push(client);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [string, string, Record<string, unknown> | undefined, RegExp][] = [
      [
        'x',
        `${MAX_ARGUMENT_DEPTH + 1} levels`,
        { a: deepValue(MAX_ARGUMENT_DEPTH) },
        /arguments nested deeper than 1023 levels/,
      ],
      ['x', '60,000 levels', { a: deepValue(60_000) }, /arguments nested deeper than 1023 levels/],
      ['x', 'cyclic', cyclic, /cannot be encoded as JSON: .*cyclic/],
      ['x', 'an array', [1] as unknown as Record<string, unknown>, /arguments must be an object, got an array/],
      ['x', 'a lone surrogate', { s: 'a\ud800b' }, /lone surrogate \(\\ud800\)/],
      ['x', 'a lone surrogate in a key', { 'k\udfff': 1 }, /lone surrogate \(\\udfff\)/],
      ['x\udc00', 'a lone surrogate in the command', undefined, /lone surrogate/],
      ['x', 'a noncharacter', { s: '\uffff' }, /noncharacter U\+FFFF/],
      ['x', 'a noncharacter beyond the BMP', { s: '\u{10fffe}' }, /noncharacter U\+10FFFE/],
    ];
    for (const [command, what, args, message] of cases) {
      const e = await rejection(client.execute(command, args));
      expect(isQmpArgumentError(e), what).toBe(true);
      expect(e).toBeInstanceOf(QmpArgumentError);
      expect(e.code).toBe('QMP_ERR_ARGUMENT');
      expect((e as QmpArgumentError).command).toBe(command);
      expect(e.message, what).toMatch(message);
    }
    await tick();
    expect(server.received.filter((r) => r.command !== 'qmp_capabilities')).toEqual([]);
    expect(client.pendingCount).toBe(0);
    // Right at the limits it is sent, and the session is unharmed.
    const fine = { a: deepValue(MAX_ARGUMENT_DEPTH - 1), s: '\u{1f600}\ufdcf\\ud800' };
    expect(await client.execute('x', fine)).toBe('ok');
    expect(server.received.filter((r) => r.command !== 'qmp_capabilities')[0]?.arguments).toEqual(fine);
  });
});

describe("encodeCommand: the token and byte limits of QEMU's JSON streamer", () => {
  it('allows 2^21 tokens, not one more', () => {
    expect(MAX_REQUEST_TOKENS).toBe(2 ** 21);
    // {"execute":"x","arguments":{"a":[0,…]},"id":1} is 2n + 17 tokens; with ,"b":[] 2n + 22.
    const line = (n: number, extra: boolean) =>
      encodeCommand('x', { a: new Array(n).fill(0), ...(extra ? { b: [] } : {}) }, 1, false);
    expect(() => line(1_048_567, false)).not.toThrow(); // 2,097,151 tokens
    expect(() => line(1_048_565, true)).not.toThrow(); // 2,097,152
    expect(() => line(1_048_568, false)).toThrow(/request has 2097153 JSON tokens; QEMU accepts at most 2097152/);
    expect(() => line(1_048_566, true)).toThrow(QmpArgumentError);
  });

  it('allows 64 MiB − 1 bytes of tokens, not one more', () => {
    const envelope = Buffer.byteLength(encodeCommand('x', { s: '' }, 1, false)) - 1;
    const room = MAX_REQUEST_BYTES - envelope;
    expect(() => encodeCommand('x', { s: 'y'.repeat(room) }, 1, false)).not.toThrow();
    expect(() => encodeCommand('x', { s: 'y'.repeat(room + 1) }, 1, false)).toThrow(
      /request is 67108864 bytes; QEMU accepts at most 67108863/,
    );
    // Counted in UTF-8 bytes, not characters.
    expect(() => encodeCommand('x', { s: '\u00e9'.repeat(Math.ceil(room / 2) + 1) }, 1, false)).toThrow(
      QmpArgumentError,
    );
  });
});

const DEFAULT_NO_OOB =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}';
