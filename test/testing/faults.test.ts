/**
 * Each fault, scripted in one call, does to our client what it claims.
 * (The runtime's own tests, test/runtime/client.test.ts, use them too.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CommandMap, EventMap } from '../../generated/index.js';
import { QmpClient, type ConnectOptions } from '../../src/runtime/index.js';
import { QmpTestServer, faults } from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { rejection } from '../helpers/rejection.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(): Promise<QmpTestServer<CommandMap, EventMap>> {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  open.push(server);
  return server;
}

async function connect(server: QmpTestServer<CommandMap, EventMap>, options: ConnectOptions = {}): Promise<QmpClient> {
  const qmp = await QmpClient.overStream(server.connect(), { timeout: 2000, ...options });
  open.push(qmp);
  return qmp;
}

const STATUS = { running: true, status: 'running' } as const;

describe('faults in place of a reply', () => {
  it.each([
    ['garbage', faults.garbage(), 'QMP_ERR_PROTOCOL'],
    ['oversize', faults.oversize(5000), 'QMP_ERR_MESSAGE_TOO_LARGE'],
    ['closeMidLine', faults.closeMidLine(), 'QMP_ERR_DISCONNECTED'],
    ['hangUp', faults.hangUp(), 'QMP_ERR_DISCONNECTED'],
    ['reset', faults.reset(), 'QMP_ERR_DISCONNECTED'],
  ] as const)('%s fails the pending calls with %s', async (_name, fault, code) => {
    const server = await serve();
    server.expect('query-status').reply(STATUS).fault(fault);
    server.on('query-iothreads').fault(faults.noReply());
    const qmp = await connect(server, { maxMessageBytes: 4096 });
    const other = qmp.execute('query-iothreads');
    expect((await rejection(qmp.execute('query-status'))).code).toBe(code);
    expect((await rejection(other)).code).toMatch(/^QMP_ERR_(PROTOCOL|MESSAGE_TOO_LARGE|DISCONNECTED)$/);
    expect(qmp.pendingCount).toBe(0);
  });

  it('deepNesting answers with a value nested that deep, keeping the id', async () => {
    const server = await serve();
    server.expect('query-status').fault(faults.deepNesting(3000));
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    raw.send('{"execute": "query-status", "id": 4}');
    const reply = await raw.reply();
    expect(reply.id).toBe(4);
    let depth = 0;
    for (let v = reply.return; Array.isArray(v); v = v[0]) depth++;
    expect(depth).toBe(3000);
    raw.close();
  });

  it('reset is an ECONNRESET on the in-memory pair', async () => {
    const server = await serve();
    server.expect('stop').fault(faults.reset());
    const qmp = await connect(server);
    expect((await rejection(qmp.execute('stop'))).message).toContain('ECONNRESET');
  });

  it('closeMidLine sends exactly the first half of the reply', async () => {
    const server = await serve();
    server.expect('query-status').reply(STATUS).fault(faults.closeMidLine());
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    const chunks: string[] = [];
    raw.stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    raw.send('{"execute": "query-status", "id": 7}');
    await new Promise((r) => raw.stream.once('close', r));
    const full = '{"return": {"running":true,"status":"running"}, "id": 7}\r\n';
    expect(chunks.join('')).toBe(full.slice(0, Math.floor(full.length / 2)));
  });

  it('noReply never answers (the call times out) while later commands are answered', async () => {
    const server = await serve();
    server.expect('stop').fault(faults.noReply());
    server.on('cont').reply({});
    const qmp = await connect(server);
    expect((await rejection(qmp.execute('stop', undefined, { timeout: 50 }))).code).toBe('QMP_ERR_TIMEOUT');
    expect(await qmp.execute('cont')).toEqual({});
  });

  it('split and trickle deliver the reply in pieces the client puts back together', async () => {
    const server = await serve();
    server
      .expect('query-status')
      .reply(STATUS)
      .fault(faults.split(3, 10, 11));
    server.expect('query-status').reply(STATUS).fault(faults.trickle());
    server.on('cont').reply({});
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    const chunks: string[] = [];
    raw.stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    raw.send('{"execute": "query-status"}');
    raw.send('{"execute": "cont"}');
    expect(await raw.reply()).toEqual({ return: STATUS });
    expect(await raw.reply()).toEqual({ return: {} });
    expect(chunks.slice(0, 3)).toEqual(['{"r', 'eturn":', ' ']);
    // The rest of the line (output after it may share its chunk, as on a socket).
    expect(chunks[3]).toMatch(/^\{"running":true,"status":"running"\}\}\r\n/);
    raw.close();
    const qmp = await connect(server);
    expect(await qmp.execute('query-status')).toEqual(STATUS);
  });

  it('stopReading answers, then reads nothing more until resumed', async () => {
    const server = await serve();
    server.expect('stop').reply({}).fault(faults.stopReading());
    server.on('cont').reply({});
    const qmp = await connect(server);
    await qmp.execute('stop');
    const late = qmp.execute('cont', undefined, { timeout: 60 });
    expect((await rejection(late)).code).toBe('QMP_ERR_TIMEOUT');
    [...server.sessions][0]!.resumeReading();
    expect(await qmp.execute('cont')).toEqual({});
  });
});

describe('faults at connection time', () => {
  it('hangUp or reset instead of the greeting, garbage instead of it, half of it', async () => {
    for (const [fault, cause] of [
      [faults.hangUp(), 'QMP_ERR_DISCONNECTED'],
      [faults.reset(), 'QMP_ERR_DISCONNECTED'],
      [faults.garbage('SSH-2.0-OpenSSH'), 'QMP_ERR_PROTOCOL'],
      [faults.closeMidLine(), 'QMP_ERR_DISCONNECTED'],
    ] as const) {
      const server = await serve();
      server.onConnect(fault);
      const e = await rejection(QmpClient.overStream(server.connect(), { timeout: 1000 }));
      // Any failure before the session is ready is a greeting failure; the cause says which.
      expect(e.code).toBe('QMP_ERR_GREETING');
      expect((e.cause as { code?: string } | undefined)?.code).toBe(cause);
    }
  });

  it('hang-up during negotiation, and a refused negotiation, fail connect', async () => {
    const hangs = await serve();
    hangs.on('qmp_capabilities').fault(faults.hangUp());
    expect((await rejection(QmpClient.overStream(hangs.connect(), { timeout: 1000 }))).code).toMatch(
      /^QMP_ERR_(GREETING|DISCONNECTED)$/,
    );
    const refuses = await serve();
    refuses.on('qmp_capabilities').error('GenericError', 'not today');
    const e = await rejection(QmpClient.overStream(refuses.connect(), { timeout: 1000 }));
    expect(e.code).toBe('QMP_ERR_GREETING');
    expect(e.message).toContain('GenericError: not today');
  });
});

describe('faults injected into a live session', () => {
  it('garbage now is fatal to a client with calls pending', async () => {
    const server = await serve();
    server.on('stop').fault(faults.noReply());
    const qmp = await connect(server);
    const pending = qmp.execute('stop');
    await new Promise((r) => setTimeout(r, 10));
    await server.inject(faults.garbage());
    expect((await rejection(pending)).code).toBe('QMP_ERR_PROTOCOL');
  });

  it('a session can hang up, reset, stop and resume reading', async () => {
    const server = await serve();
    server.on('cont').reply({});
    const a = await connect(server);
    const b = await connect(server);
    const [sa, sb] = [...server.sessions];
    sa!.hangUp();
    await a.closed;
    sb!.stopReading();
    const late = b.execute('cont');
    await new Promise((r) => setTimeout(r, 30));
    expect(b.pendingCount).toBe(1);
    sb!.resumeReading();
    expect(await late).toEqual({});
    sb!.reset();
    await b.closed;
    expect(server.sessions.size).toBe(0);
  });

  it('rejects nonsense fault parameters', () => {
    expect(() => faults.oversize(0)).toThrow(RangeError);
    expect(() => faults.split(-1)).toThrow(RangeError);
    expect(() => faults.garbage('a\nb')).toThrow(RangeError);
  });
});
