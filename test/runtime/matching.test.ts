/**
 * Which call a reply answers (src/runtime/calls.ts), against the test
 * server: in-band requests without ids matched in order, ids exactly where
 * order cannot tell, no reply ever shifting to another call, the in-band
 * window of eight with oob, withdrawn requests never sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseSchemaString } from '../../src/frontend/index.js';
import { QmpClient, QmpCommandError, type ConnectOptions, type QmpError } from '../../src/runtime/index.js';
import {
  QmpErrorResponse,
  QmpTestServer,
  ServerSchema,
  faults,
  type ReceivedCommand,
} from '../../src/testing/index.js';
import { rejection } from '../helpers/rejection.js';

/** echo (in-band), echo-oob (allow-oob), fire (no reply on success): each answers with its n. */
const SCHEMA = `
{ 'pragma': { 'command-name-exceptions': [ 'qmp_capabilities' ],
              'command-returns-exceptions': [ 'echo', 'echo-oob' ] } }
{ 'command': 'qmp_capabilities', 'data': { '*enable': [ 'str' ] } }
{ 'command': 'echo', 'data': { 'n': 'int' }, 'returns': 'int' }
{ 'command': 'echo-oob', 'data': { 'n': 'int' }, 'returns': 'int', 'allow-oob': true }
{ 'command': 'fire', 'data': { 'n': 'int' }, 'success-response': false }
{ 'event': 'FIRED', 'data': { 'n': 'int' } }`;

type Server = QmpTestServer;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function setup(
  options: ConnectOptions = {},
  serverOptions: { serial?: boolean } = {},
): Promise<{ server: Server; client: QmpClient }> {
  const schema = await ServerSchema.of(parseSchemaString(SCHEMA, 'echo.json'));
  const server = await QmpTestServer.create({ schema, ...serverOptions });
  open.push(server);
  const client = await QmpClient.overStream(server.connect(), { timeout: 2000, ...options });
  open.push(client);
  return { server, client };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  expect(cond()).toBe(true);
}
const commands = (server: Server): ReceivedCommand[] => server.received.filter((r) => r.command !== 'qmp_capabilities');
const n = (args: Record<string, unknown>): number => args.n as number;

describe('matching replies to calls', () => {
  it('sends in-band requests without ids and matches replies in order', async () => {
    const { server, client } = await setup();
    // Uneven handler times: the server still answers in order, as QEMU does.
    server.on('echo', async (args) => {
      await sleep(n(args) % 3);
      return n(args);
    });
    const calls = Array.from({ length: 50 }, (_, i) => client.execute('echo', { n: i }));
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(commands(server).map((r) => r.id)).toEqual(new Array(50).fill(undefined));
    expect(client.unknownReplies).toBe(0);
    expect(client.pendingCount).toBe(0);
  });

  it('puts an id exactly on requests that order cannot match: oob, a timeout or signal, noReply', async () => {
    const { server, client } = await setup({ oob: true });
    server.on('echo', (args) => n(args));
    server.on('echo-oob', (args) => n(args));
    server.on('fire', () => undefined);
    const signal = new AbortController().signal;
    await Promise.all([
      client.execute('echo', { n: 1 }),
      client.execute('echo', { n: 2 }, { timeout: 5000 }),
      client.execute('echo', { n: 3 }, { signal }),
      client.execute('echo', { n: 4 }, { timeout: Infinity }),
      client.execute('echo-oob', { n: 5 }, { oob: true }),
      client.execute('fire', { n: 6 }, { noReply: true }),
    ]);
    const ids = Object.fromEntries(commands(server).map((r) => [r.arguments?.n as number, r.id]));
    expect(ids[1]).toBeUndefined();
    expect(ids[4]).toBeUndefined();
    for (const k of [2, 3, 5, 6]) expect(typeof ids[k], String(k)).toBe('number');
    // The ids of calls in flight together differ.
    expect(new Set([2, 3, 5, 6].map((k) => ids[k])).size).toBe(4);
  });

  it('a timed-out call whose reply never comes shifts no later reply', async () => {
    const { server, client } = await setup();
    server.expect('echo', { n: 1 }).fault(faults.noReply());
    server.on('echo', (args) => n(args));
    expect((await rejection(client.execute('echo', { n: 1 }, { timeout: 30 }))).code).toBe('QMP_ERR_TIMEOUT');
    expect(await Promise.all([client.execute('echo', { n: 2 }), client.execute('echo', { n: 3 })])).toEqual([2, 3]);
    expect(client.unknownReplies).toBe(0);
  });

  it("a given-up call's late reply is consumed quietly, in its turn, never taken for another call's", async () => {
    const { server, client } = await setup();
    server.expect('echo', { n: 1 }).reply(1).delay(60);
    server.on('echo', (args) => n(args));
    const reported: unknown[] = [];
    client.onError((e) => reported.push(e));
    const ac = new AbortController();
    const slow = rejection(client.execute('echo', { n: 1 }, { timeout: 20 }));
    const aborted = rejection(client.execute('echo', { n: 2 }, { signal: ac.signal }));
    const behind = client.execute('echo', { n: 3 });
    ac.abort();
    expect((await slow).code).toBe('QMP_ERR_TIMEOUT');
    expect((await aborted).code).toBe('QMP_ERR_ABORTED');
    expect(await behind).toBe(3);
    expect(await client.execute('echo', { n: 4 })).toBe(4);
    expect(reported).toEqual([]);
    expect(client.unknownReplies).toBe(0);
  });

  it('matches oob replies by id while they overtake in-band ones', async () => {
    const { server, client } = await setup({ oob: true });
    const release: (() => void)[] = [];
    server.on('echo', (args) => new Promise((resolve) => release.push(() => resolve(n(args)))));
    server.on('echo-oob', (args) => n(args));
    const inBand = [client.execute('echo', { n: 1 }), client.execute('echo', { n: 2 })];
    await until(() => release.length === 1);
    expect(await client.execute('echo-oob', { n: 3 }, { oob: true })).toBe(3);
    release.shift()!();
    await until(() => release.length === 1);
    release.shift()!();
    expect(await Promise.all(inBand)).toEqual([1, 2]);
  });

  it('with oob, keeps at most eight in-band commands in flight; an oob command still gets through', async () => {
    // serial: false, so that the server sees each request as it arrives
    // (handlers are released in order, so replies still come in order).
    const { server, client } = await setup({ oob: true }, { serial: false });
    const release: (() => void)[] = [];
    let answered = 0;
    let most = 0;
    server.on('echo', (args) => {
      most = Math.max(most, commands(server).filter((r) => !r.oob).length - answered);
      return new Promise((resolve) => release.push(() => resolve(n(args))));
    });
    server.on('echo-oob', (args) => n(args));
    const calls = Array.from({ length: 20 }, (_, i) => client.execute('echo', { n: i }).finally(() => answered++));
    await until(() => release.length === 8);
    await sleep(20);
    expect(commands(server)).toHaveLength(8);
    expect(client.queuedRequests).toBe(12);
    // None of the eight is answered: an oob command is read and answered all the same.
    expect(await client.execute('echo-oob', { n: 99 }, { oob: true })).toBe(99);
    while (answered < 20) {
      release.shift()?.();
      await tick();
    }
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBeLessThanOrEqual(8);
    // Without oob the window is not limited.
    const plain = await setup({}, { serial: false });
    const held: (() => void)[] = [];
    plain.server.on('echo', (args) => new Promise((resolve) => held.push(() => resolve(n(args)))));
    const many = Array.from({ length: 20 }, (_, i) => plain.client.execute('echo', { n: i }));
    await until(() => held.length === 20);
    expect(plain.client.queuedRequests).toBe(0);
    for (const r of held) r();
    expect(await Promise.all(many)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('a call given up on before it was written is never sent', async () => {
    const { server, client } = await setup({ oob: true });
    const release: (() => void)[] = [];
    server.on('echo', (args) => new Promise((resolve) => release.push(() => resolve(n(args)))));
    const first = Array.from({ length: 8 }, (_, i) => client.execute('echo', { n: i }));
    const ac = new AbortController();
    const timedOut = rejection(client.execute('echo', { n: 100 }, { timeout: 20 }));
    const aborted = rejection(client.execute('echo', { n: 101 }, { signal: ac.signal }));
    const kept = client.execute('echo', { n: 102 });
    await until(() => release.length === 1);
    expect(client.queuedRequests).toBe(3);
    ac.abort();
    expect((await timedOut).code).toBe('QMP_ERR_TIMEOUT');
    expect((await aborted).code).toBe('QMP_ERR_ABORTED');
    expect(client.queuedRequests).toBe(1);
    while (client.pendingCount > 0) {
      release.shift()?.();
      await tick();
    }
    expect(await Promise.all([...first, kept])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 102]);
    expect(commands(server).map((r) => r.arguments?.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 102]);
  });

  it('noReply resolves once written; a late error is reported, nothing shifts', async () => {
    const { server, client } = await setup();
    server.on('fire', (args) => {
      if (n(args) % 2 === 1) throw new QmpErrorResponse('GenericError', `cannot fire ${n(args)}`);
    });
    server.on('echo', (args) => n(args));
    const reported: QmpError[] = [];
    client.onError((e) => reported.push(e as QmpError));
    expect(await client.execute('fire', { n: 2 }, { noReply: true })).toBeUndefined();
    expect(await client.execute('fire', { n: 3 }, { noReply: true })).toBeUndefined();
    expect(await Promise.all([client.execute('echo', { n: 4 }), client.execute('echo', { n: 5 })])).toEqual([4, 5]);
    await until(() => reported.length === 1);
    expect(reported[0]).toBeInstanceOf(QmpCommandError);
    expect((reported[0] as QmpCommandError).desc).toBe('cannot fire 3');
    expect(client.unknownReplies).toBe(0);
    expect(client.pendingCount).toBe(0);
  });

  it("ids: 'always' puts an id on every request", async () => {
    const { server, client } = await setup({ ids: 'always' });
    server.on('echo', (args) => n(args));
    await Promise.all([client.execute('echo', { n: 1 }), client.execute('echo', { n: 2 })]);
    expect(commands(server).every((r) => typeof r.id === 'number')).toBe(true);
    await expect(setup({ ids: 'sometimes' as never })).rejects.toThrow(RangeError);
  });

  it('an event before the qmp_capabilities reply is an event, not the reply', async () => {
    const schema = await ServerSchema.of(parseSchemaString(SCHEMA, 'echo.json'));
    const server = await QmpTestServer.create({ schema });
    open.push(server);
    server.on('qmp_capabilities', (_args, ctx) => {
      // QEMU may queue an event before it answers; here it comes first.
      ctx.session.sendRaw('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "FIRED", "data": {"n": 7}}\r\n');
      return {};
    });
    server.on('echo', (args) => n(args));
    const client = await QmpClient.overStream(server.connect(), { timeout: 2000 });
    open.push(client);
    expect(client.connectionState).toBe('ready');
    expect(await client.execute('echo', { n: 1 })).toBe(1);
    expect(client.unknownReplies).toBe(0);
  });

  it('random mixes of plain, timed-out, aborted, oob and noReply calls: every answer reaches its own call', async () => {
    for (const ids of ['auto', 'always'] as const) {
      const { server, client } = await setup({ oob: true, ids });
      let seed = 12345;
      const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      server.on('echo', async (args) => {
        if (n(args) % 5 === 0) await sleep(random() * 3);
        if (n(args) % 7 === 0) throw new QmpErrorResponse('GenericError', `no ${n(args)}`);
        return n(args);
      });
      server.on('echo-oob', (args) => n(args));
      server.on('fire', () => undefined);
      const checks: Promise<void>[] = [];
      const given = { up: 0, sent: 0 };
      const count = (e: QmpError): void => {
        if (e.code === 'QMP_ERR_TIMEOUT' || e.code === 'QMP_ERR_ABORTED') given.up++;
      };
      for (let i = 0; i < 3000; i++) {
        const kind = random();
        if (kind < 0.1) {
          const ac = new AbortController();
          setTimeout(() => ac.abort(), random() * 4);
          checks.push(
            client.execute('echo', { n: i }, { signal: ac.signal }).then(
              (v) => expect(v).toBe(i),
              (e: QmpError) => {
                count(e);
                expect(e.code === 'QMP_ERR_ABORTED' || (e instanceof QmpCommandError && e.desc === `no ${i}`)).toBe(
                  true,
                );
              },
            ),
          );
        } else if (kind < 0.2) {
          checks.push(
            client.execute('echo', { n: i }, { timeout: random() * 4 }).then(
              (v) => expect(v).toBe(i),
              (e: QmpError) => {
                count(e);
                expect(e.code === 'QMP_ERR_TIMEOUT' || (e instanceof QmpCommandError && e.desc === `no ${i}`)).toBe(
                  true,
                );
              },
            ),
          );
        } else if (kind < 0.3) {
          checks.push(client.execute('echo-oob', { n: i }, { oob: true }).then((v) => expect(v).toBe(i)));
        } else if (kind < 0.35) {
          checks.push(client.execute('fire', { n: i }, { noReply: true }).then((v) => expect(v).toBeUndefined()));
        } else {
          checks.push(
            client.execute('echo', { n: i }).then(
              (v) => expect(v).toBe(i),
              (e: unknown) => expect(e instanceof QmpCommandError && e.desc === `no ${i}`).toBe(true),
            ),
          );
        }
        if (i % 100 === 0) await sleep(1);
      }
      await Promise.all(checks);
      // Some calls were given up on after they were written (their late replies were dropped).
      given.sent = commands(server).length;
      expect(given.up).toBeGreaterThan(50);
      expect(given.sent).toBeGreaterThan(3000 - given.up);
      // Late replies of given-up calls come in before the next answer.
      expect(await client.execute('echo', { n: 1 })).toBe(1);
      expect(client.unknownReplies).toBe(0);
      expect(client.pendingCount).toBe(0);
      expect(server.failures).toEqual([]);
    }
  });
});
