/**
 * The test server with our own schema (qapi/): sessions, scripting,
 * expectations, events, and the schema checks on what it is scripted to send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QapiClient, type CommandMap, type EventMap } from '../../generated/index.js';
import { parseSchemaString } from '../../src/frontend/index.js';
import { QmpClient, QmpCommandError, type ConnectOptions } from '../../src/runtime/index.js';
import {
  QmpErrorResponse,
  QmpScriptError,
  QmpTestFailure,
  QmpTestServer,
  ServerSchema,
  isQmpTestFailure,
  type TestServerOptions,
} from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { rejection } from '../helpers/rejection.js';

type Server = QmpTestServer<CommandMap, EventMap>;

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(options: TestServerOptions = {}): Promise<Server> {
  const server = await QmpTestServer.create<CommandMap, EventMap>(options);
  open.push(server);
  return server;
}

async function client(server: QmpTestServer<never, never> | Server, options: ConnectOptions = {}) {
  const qmp = await QmpClient.overStream(server.connect(), { timeout: 2000, ...options });
  open.push(qmp);
  return { qmp, typed: new QapiClient(qmp) };
}

const failure = (p: Promise<unknown>): Promise<QmpCommandError> => rejection(p, QmpCommandError);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sessions', () => {
  it('greets with the version and capabilities, and negotiates oob', async () => {
    const server = await serve({ version: { major: 7, minor: 2, micro: 9 }, package: 'pkg' });
    const { qmp, typed } = await client(server, { oob: true });
    expect(qmp.greeting).toEqual({
      version: { qemu: { major: 7, minor: 2, micro: 9 }, package: 'pkg' },
      capabilities: ['oob'],
    });
    expect(qmp.oobEnabled).toBe(true);
    expect([...server.sessions][0]?.oobEnabled).toBe(true);
    expect(await typed.queryVersion()).toEqual({ qemu: { major: 7, minor: 2, micro: 9 }, package: 'pkg' });
  });

  it('offers what it is told to, and refuses to enable what it did not offer', async () => {
    const server = await serve({ capabilities: [] });
    const raw = new RawQmp(server.connect());
    open.push(raw);
    expect(await raw.next()).toMatchObject({ QMP: { capabilities: [] } });
    raw.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 1}');
    expect(await raw.reply()).toEqual({
      id: 1,
      error: { class: 'GenericError', desc: 'Capability oob not available' },
    });
    raw.send('{"execute": "qmp_capabilities", "id": 2}');
    expect(await raw.reply()).toEqual({ return: {}, id: 2 });
  });

  it('sends no greeting when told not to (the client times out)', async () => {
    const server = await serve({ greeting: false });
    await expect(QmpClient.overStream(server.connect(), { timeout: 100 })).rejects.toMatchObject({
      code: 'QMP_ERR_GREETING',
    });
  });

  it('writes lines as QEMU does: CRLF, id after return and before error, timestamp first', async () => {
    const server = await serve();
    server.on('query-status', () => ({ running: false, status: 'prelaunch' }));
    server.on('stop').reply({}).thenEmit('STOP');
    const raw = new RawQmp(server.connect());
    open.push(raw);
    await raw.negotiate();
    raw.send('{"execute": "query-status", "id": "a"}');
    raw.send('{"execute": "nope", "id": "b"}');
    raw.send('{"execute": "stop"}');
    await raw.reply();
    await raw.reply();
    await raw.reply();
    await raw.next();
    const lines = raw.lines.slice(2);
    expect(lines[0]).toBe('{"return": {"running":false,"status":"prelaunch"}, "id": "a"}\r');
    expect(lines[1]).toBe(
      '{"id": "b", "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}\r',
    );
    expect(lines[2]).toBe('{"return": {}}\r');
    expect(lines[3]).toMatch(/^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "STOP"\}\r$/);
  });

  it('delivers over the in-memory pair in later turns of the event loop, so a busy client never starves timers', async () => {
    const server = await serve({ recordReceived: false });
    const { typed } = await client(server);
    let fired = false;
    setTimeout(() => (fired = true), 0);
    for (let i = 0; i < 2000 && !fired; i++) await typed.queryVersion();
    expect(fired).toBe(true);
  });

  it('records what it received, arguments as sent', async () => {
    const server = await serve();
    server.on('qom-get', () => 'x');
    const { qmp } = await client(server);
    await qmp.execute('qom-get', { path: '/machine', property: 'type' });
    await failure(qmp.execute('nope'));
    expect(server.received.map((r) => [r.session, r.command, r.arguments])).toEqual([
      [1, 'qmp_capabilities', undefined],
      [1, 'qom-get', { path: '/machine', property: 'type' }],
      [1, 'nope', undefined],
    ]);
  });

  it('listens on a unix socket and on TCP, and removes the socket file on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-serve-'));
    try {
      const server = await QmpTestServer.create<CommandMap, EventMap>();
      server.on('query-status', () => ({ running: true, status: 'running' }));
      const path = join(dir, 'qmp.sock');
      await server.listen({ path });
      const tcp = await server.listen({ host: '127.0.0.1', port: 0 });
      expect('port' in tcp && tcp.port > 0).toBe(true);
      for (const target of [{ path }, tcp]) {
        await using qmp = await QmpClient.connect(target);
        expect(await new QapiClient(qmp).queryStatus()).toEqual({ running: true, status: 'running' });
      }
      const waiting = QmpClient.connect({ path });
      const session = await server.nextSession();
      const qmp = await waiting;
      expect(session.state).toBe('command');
      await server.close();
      await qmp.closed;
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scripting', () => {
  it('answers with a handler, a fixed reply, a QMP error or a verbatim line', async () => {
    const server = await serve();
    let calls = 0;
    server.on('query-status', () => ({ running: ++calls > 1, status: 'running' }));
    server.on('qom-list').reply([{ name: 'type', type: 'string' }]);
    server.on('object-del').error('GenericError', "object 'x' not found");
    server
      .on('cont')
      .raw((id) => `{"return": {}${id === undefined ? '' : `, "id": ${JSON.stringify(id)}`}, "extra": true}`);
    const { typed } = await client(server);
    expect(await typed.queryStatus()).toEqual({ running: false, status: 'running' });
    expect(await typed.queryStatus()).toEqual({ running: true, status: 'running' });
    expect(await typed.qomList({ path: '/' })).toEqual([{ name: 'type', type: 'string' }]);
    const e = await failure(typed.objectDel({ id: 'x' }));
    expect([e.errorClass, e.desc]).toEqual(['GenericError', "object 'x' not found"]);
    expect(await typed.cont()).toEqual({});
  });

  it('lets a handler answer with a QMP error and emit events before its reply', async () => {
    const server = await serve();
    server.on('device_del', (args, ctx) => {
      if (args.id !== 'disk0') throw new QmpErrorResponse('DeviceNotFound', `Device '${args.id}' not found`);
      ctx.emit('DEVICE_DELETED', { device: 'disk0', path: '/machine/peripheral/disk0' });
      return {};
    });
    const { qmp, typed } = await client(server);
    const events = qmp.events(['DEVICE_DELETED']);
    const order: string[] = [];
    qmp.onEvent(() => order.push('event'));
    await typed.deviceDel({ id: 'disk0' });
    order.push('reply');
    expect(order).toEqual(['event', 'reply']);
    expect((await events.next()).value).toMatchObject({ event: 'DEVICE_DELETED', data: { device: 'disk0' } });
    const e = await failure(typed.deviceDel({ id: 'nope' }));
    expect([e.errorClass, e.desc]).toEqual(['DeviceNotFound', "Device 'nope' not found"]);
    expect(server.failures).toEqual([]);
  });

  it('refuses a scripted reply or event the schema does not allow, naming the member', async () => {
    const server = await serve();
    // The casts stand for untyped scripts: the types already forbid these.
    expect(() => server.on('query-status').reply({ running: 'yes', status: 'running' } as never)).toThrow(
      new QmpScriptError('reply to \'query-status\': running: expected boolean, got string "yes"'),
    );
    expect(() => server.on('query-status').reply({ running: true, status: 'dancing' } as never)).toThrow(
      /^reply to 'query-status': status: unexpected string "dancing"; expected one of /,
    );
    expect(() => server.on('query-status').reply({ running: true, status: 'running', extra: 1 } as never)).toThrow(
      "reply to 'query-status': extra: unknown member",
    );
    expect(() =>
      server.on('query-iothreads').reply([
        {
          id: 'io0',
          'thread-id': 1,
          'poll-max-ns': 0,
          'poll-grow': 0,
          'poll-shrink': 0,
          'aio-max-batch': 0,
          holders: [{ type: 'qom' }],
        },
      ] as never),
    ).toThrow("reply to 'query-iothreads': [0].holders[0].path: missing mandatory member");
    expect(() => server.emit('DEVICE_DELETED', { device: 'x' } as never)).toThrow(
      "event 'DEVICE_DELETED': path: missing mandatory member",
    );
    expect(() => server.emit('STOP', { x: 1 } as never)).toThrow(/^event 'STOP': the event carries no data/);
    expect(() => (server as unknown as QmpTestServer).emit('NOPE')).toThrow(
      "event 'NOPE': 'NOPE' is not an event of the schema",
    );
    expect(() => server.on('nope' as never)).toThrow(/^'nope' is not a command of the schema/);
    expect(() => server.expect('stop').thenEmit('RESUME', { x: 1 } as never)).toThrow(QmpScriptError);
  });

  it('answers an invalid handler result with an error and records the failure', async () => {
    const server = await serve();
    server.on('query-status', () => ({ running: 1, status: 'running' }) as never);
    server.on('stop', () => {
      throw new TypeError('boom');
    });
    const { typed } = await client(server);
    const e = await failure(typed.queryStatus());
    expect(e.desc).toBe(
      "qapi-ts test server: invalid reply to 'query-status' from its handler: running: expected boolean, got number 1",
    );
    expect((await failure(typed.stop())).desc).toBe("qapi-ts test server: handler for 'stop' failed: boom");
    expect(server.failures.map((f) => [f.kind, f.message])).toEqual([
      ['invalid-reply', "reply to 'query-status' from its handler: running: expected boolean, got number 1"],
      ['handler', "handler for 'stop' threw: boom"],
    ]);
    expect(() => server.assertDone()).toThrow(QmpTestFailure);
  });
});

describe('expectations', () => {
  it('are met in order, and assertDone names the ones never met with where they were scripted', async () => {
    const server = await serve();
    server.expect('stop').reply({});
    server.expect('cont').reply({});
    server.expect('query-status').reply({ running: true, status: 'running' });
    const { typed } = await client(server);
    await typed.stop();
    await typed.cont();
    let thrown: unknown;
    try {
      server.assertDone();
    } catch (e) {
      thrown = e;
    }
    expect(isQmpTestFailure(thrown)).toBe(true);
    const f = thrown as QmpTestFailure;
    expect(f.failures).toHaveLength(1);
    expect(f.failures[0]?.message).toMatch(
      /^expected 'query-status' \(.*server\.test\.ts:\d+:\d+\) was never received$/,
    );
    await typed.queryStatus();
    expect(() => server.assertDone()).not.toThrow();
  });

  it('report a command out of order, an unexpected one, and match arguments exactly or by predicate', async () => {
    const server = await serve();
    server.expect('qom-get', { path: '/machine', property: 'type' }).reply('none-machine');
    server.expect('qom-get', (a: { property: string }) => a.property.startsWith('io')).reply('/objects/io0');
    server.expect('stop').reply({});
    const { typed } = await client(server);
    await typed.stop();
    expect(await typed.qomGet({ path: '/machine', property: 'type' })).toBe('none-machine');
    expect(await typed.qomGet({ path: '/disk', property: 'iothread' })).toBe('/objects/io0');
    const e = await failure(typed.qomGet({ path: '/machine', property: 'other' }));
    expect(e.desc).toBe("qapi-ts test server: nothing scripted for 'qom-get'");
    expect(server.failures.map((f) => f.kind)).toEqual(['order', 'unexpected']);
    expect(server.failures[0]?.message).toMatch(
      /^expected 'stop' \(.*\) came before expected 'qom-get' with arguments \{"path":"\/machine","property":"type"\}/,
    );
    expect(server.failures[1]?.message).toBe(
      'unexpected command \'qom-get\' with arguments {"path":"/machine","property":"other"}',
    );
  });

  it('may come in any order, several times, and fall back to the on rule for their answer', async () => {
    const server = await serve();
    server.on('query-status', () => ({ running: false, status: 'paused' }));
    server.expect('cont').reply({});
    server.expect('query-status').times(2).anyOrder();
    const { typed } = await client(server);
    await typed.queryStatus();
    await typed.cont();
    expect(() => server.assertDone()).toThrow(/expected 'query-status' .* was never received/);
    expect(await typed.queryStatus()).toEqual({ running: false, status: 'paused' });
    server.assertDone();
    expect(server.failures).toEqual([]);
  });

  it('keep their own delay and events when the on rule gives the answer', async () => {
    const server = await serve();
    server.on('query-status', () => ({ running: false, status: 'paused' }));
    server.expect('query-status').delay(150).thenEmit('STOP');
    const { typed } = await client(server);
    const events: string[] = [];
    const off = typed.executor.events(['STOP']);
    const t0 = Date.now();
    expect(await typed.queryStatus()).toEqual({ running: false, status: 'paused' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    for await (const e of off) {
      events.push(e.event);
      break;
    }
    expect(events).toEqual(['STOP']);
    server.assertDone();
  });
});

describe('events and timing', () => {
  it('sends events now, after a reply, and after a delay; none before negotiation', async () => {
    const server = await serve();
    server.expect('stop').reply({}).thenEmit('STOP').thenEmit('RESUME', undefined, { delay: 30 });
    const raw = new RawQmp(server.connect());
    open.push(raw);
    await raw.next();
    server.emit('STOP');
    const { qmp, typed } = await client(server);
    const events = qmp.events();
    server.emit('DEVICE_DELETED', { path: '/machine/peripheral/d' });
    const t0 = Date.now();
    await typed.stop();
    const names: string[] = [];
    for await (const ev of events) {
      names.push(ev.event);
      if (names.length === 3) break;
    }
    expect(names).toEqual(['DEVICE_DELETED', 'STOP', 'RESUME']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    // The session still negotiating got the greeting only.
    expect(raw.messages).toHaveLength(1);
  });

  it('holds in-band replies behind a delayed one, as QEMU does; serial: false lets them overtake', async () => {
    for (const serial of [true, false]) {
      const server = await serve({ serial });
      server.on('stop').reply({}).delay(50);
      server.on('cont').reply({});
      // Replies that overtake each other need ids to be matched.
      const { typed } = await client(server, serial ? {} : { ids: 'always' });
      const order: string[] = [];
      await Promise.all([typed.stop().then(() => order.push('stop')), typed.cont().then(() => order.push('cont'))]);
      expect(order).toEqual(serial ? ['stop', 'cont'] : ['cont', 'stop']);
    }
  });

  it('waits out delays of 2^31 ms and more instead of answering at once', async () => {
    const server = await serve();
    server
      .on('stop')
      .reply({})
      .delay(2 ** 31);
    server
      .on('cont')
      .reply({})
      .delay(2 ** 31 + 100);
    const { typed } = await client(server);
    let answered = 0;
    void typed.stop().then(
      () => answered++,
      () => {},
    );
    void typed.cont().then(
      () => answered++,
      () => {},
    );
    await sleep(100);
    expect(answered).toBe(0);
  });

  it('answers exec-oob at once, overtaking a slow in-band command (allow-oob commands only)', async () => {
    const model = parseSchemaString(
      // No qmp_capabilities: the server negotiates all the same.
      `{ 'command': 'slow' }
       { 'command': 'quick', 'allow-oob': true }`,
      'oob.json',
    );
    const server = await QmpTestServer.create({ schema: await ServerSchema.of(model) });
    open.push(server);
    server.on('slow').reply({}).delay(80);
    server.on('quick').reply({});
    const { qmp } = await client(server, { oob: true });
    const order: string[] = [];
    await Promise.all([
      qmp.execute('slow').then(() => order.push('slow')),
      qmp.execute('quick', undefined, { oob: true }).then(() => order.push('quick')),
    ]);
    expect(order).toEqual(['quick', 'slow']);
    const e = await failure(qmp.execute('slow', undefined, { oob: true }));
    expect(e.desc).toBe('The command slow does not support OOB');
  });

  it('stops reading while requests queue behind a slow one, so a flood cannot grow its memory', async () => {
    const server = await serve();
    let release!: () => void;
    server.on('stop', () => new Promise<Record<string, never>>((r) => (release = () => r({}))));
    server.on('cont').reply({});
    const raw = new RawQmp(server.connect());
    open.push(raw);
    await raw.negotiate();
    const session = [...server.sessions][0]!;
    raw.send('{"execute": "stop"}');
    for (let i = 0; i < 2000; i++) {
      await new Promise((r) => setImmediate(r));
      raw.send(`{"execute": "cont", "id": ${i}}`);
    }
    await sleep(20);
    expect(session.queued).toBeLessThanOrEqual(2);
    expect(raw.stream.writableLength).toBeGreaterThan(10_000);
    release();
    for (let i = 0; i <= 2000; i++) await raw.reply();
    expect(session.queued).toBe(0);
  });
});
