/**
 * waitForEvent (src/runtime/wait.ts) on the runtime client and on the
 * generated typed client: subscribed before the command that causes the
 * event, the trigger's failure, timeouts, aborts, the session's end, and
 * never an unhandled rejection.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { QapiClient, type CommandMap, type DeviceDeletedData, type EventMap } from '../../generated/index.js';
import {
  QmpClient,
  QmpCommandError,
  QmpDisconnectedError,
  QmpTimeoutError,
  type QmpEventMessage,
} from '../../src/runtime/index.js';
import { isQapiValidationError } from '../../src/support/index.js';
import { QmpErrorResponse, QmpTestServer } from '../../src/testing/index.js';
import { rejection } from '../helpers/rejection.js';

type Server = QmpTestServer<CommandMap, EventMap>;
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server whose device_del deletes disk0 and disk1; `early`: the event comes before the reply (as for some buses). */
async function setup(early: boolean): Promise<{ server: Server; qmp: QmpClient; client: QapiClient }> {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  open.push(server);
  server.on('device_del', ({ id }, ctx) => {
    if (id !== 'disk0' && id !== 'disk1') throw new QmpErrorResponse('DeviceNotFound', `Device '${id}' not found`);
    const data = { device: id, path: `/machine/peripheral/${id}` };
    if (early) ctx.emit('DEVICE_DELETED', data);
    else setTimeout(() => ctx.session.emit('DEVICE_DELETED', data), 20);
    return {};
  });
  const qmp = await QmpClient.overStream(server.connect(), { timeout: 2000 });
  open.push(qmp);
  return { server, qmp, client: new QapiClient(qmp) };
}

/** Unhandled rejections seen while `body` runs and a little after. */
async function unhandledDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    await sleep(50);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return seen;
}

describe('waitForEvent', () => {
  for (const early of [true, false]) {
    it(`gets the event its trigger causes, sent ${early ? 'before' : 'after'} the trigger's reply`, async () => {
      const { qmp } = await setup(early);
      const event = await qmp.waitForEvent('DEVICE_DELETED', {
        filter: (data) => (data as DeviceDeletedData).device === 'disk1',
        trigger: () => qmp.execute('device_del', { id: 'disk1' }),
        timeout: 2000,
      });
      expect(event).toMatchObject({
        event: 'DEVICE_DELETED',
        data: { device: 'disk1', path: '/machine/peripheral/disk1' },
      });
    });
  }

  it('passes over events the filter refuses', async () => {
    const { qmp } = await setup(true);
    const wait = qmp.waitForEvent('DEVICE_DELETED', {
      filter: (data) => (data as DeviceDeletedData).device === 'disk1',
    });
    await qmp.execute('device_del', { id: 'disk0' });
    await qmp.execute('device_del', { id: 'disk1' });
    expect((await wait).data).toEqual({ device: 'disk1', path: '/machine/peripheral/disk1' });
  });

  it("rejects with the trigger's error at once, and lets go of its subscription", async () => {
    const { qmp } = await setup(true);
    const e = await rejection(
      qmp.waitForEvent('DEVICE_DELETED', { trigger: () => qmp.execute('device_del', { id: 'nope' }) }),
      QmpCommandError,
    );
    expect([e.errorClass, e.desc]).toEqual(['DeviceNotFound', "Device 'nope' not found"]);
    // A trigger that throws synchronously counts the same.
    const thrown = new Error('bad trigger');
    await expect(
      qmp.waitForEvent('STOP', {
        trigger: () => {
          throw thrown;
        },
      }),
    ).rejects.toBe(thrown);
  });

  it('times out with QMP_ERR_TIMEOUT naming the event; aborts with QMP_ERR_ABORTED; ends with the session', async () => {
    const { qmp, server } = await setup(true);
    const t = await rejection(qmp.waitForEvent('DEVICE_DELETED', { timeout: 30 }), QmpTimeoutError);
    expect(t.code).toBe('QMP_ERR_TIMEOUT');
    expect(t.message).toBe('DEVICE_DELETED: no event within 30 ms');
    expect(t.command).toBe('DEVICE_DELETED');
    const ac = new AbortController();
    const aborted = qmp.waitForEvent('DEVICE_DELETED', { signal: ac.signal });
    ac.abort();
    expect((await rejection(aborted)).code).toBe('QMP_ERR_ABORTED');
    const pre = new AbortController();
    pre.abort();
    expect((await rejection(qmp.waitForEvent('STOP', { signal: pre.signal }))).code).toBe('QMP_ERR_ABORTED');
    await expect(qmp.waitForEvent('STOP', { timeout: -1 })).rejects.toThrow(RangeError);
    const lost = qmp.waitForEvent('STOP');
    [...server.sessions][0]!.hangUp();
    expect((await rejection(lost, QmpDisconnectedError)).code).toBe('QMP_ERR_DISCONNECTED');
    expect((await rejection(qmp.waitForEvent('STOP'))).code).toBe('QMP_ERR_DISCONNECTED');
  });

  it('a wait never awaited (the code after it threw) causes no unhandled rejection', async () => {
    const { qmp, client } = await setup(true);
    const seen = await unhandledDuring(async () => {
      try {
        void qmp.waitForEvent('DEVICE_DELETED', { timeout: 10 });
        void client.waitForEvent('DEVICE_DELETED', { timeout: 10 });
        void qmp.waitForEvent('DEVICE_DELETED', { trigger: () => Promise.reject(new Error('no')) });
        throw new Error('the code between subscribing and awaiting failed');
      } catch {
        // gone on without the waits
      }
      await qmp.close();
    });
    expect(seen).toEqual([]);
  });

  it('on the typed client: the filter gets typed, checked data', async () => {
    const { client, server } = await setup(false);
    const event = await client.waitForEvent('DEVICE_DELETED', {
      filter: (data) => {
        expectTypeOf(data).toEqualTypeOf<DeviceDeletedData>();
        return data.device === 'disk0';
      },
      trigger: () => client.deviceDel({ id: 'disk0' }),
      timeout: 2000,
    });
    expectTypeOf(event.data).toEqualTypeOf<DeviceDeletedData>();
    expect(event.data).toEqual({ device: 'disk0', path: '/machine/peripheral/disk0' });
    // An event the schema refuses fails the wait (strict) instead of reaching the filter.
    const strict = new QapiClient(client.executor, { strict: true });
    const bad = strict.waitForEvent('DEVICE_DELETED', { timeout: 2000 });
    for (const s of server.sessions)
      s.sendRaw('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "DEVICE_DELETED", "data": {"path": 5}}\r\n');
    expect(isQapiValidationError(await bad.catch((e: unknown) => e))).toBe(true);
  });

  it('subscribes before the trigger runs: an event sent in the same chunk as the reply is not missed', async () => {
    const { qmp, server } = await setup(true);
    server.on('stop', (_args, ctx) => {
      ctx.emit('STOP');
      return {};
    });
    const seen: QmpEventMessage[] = [];
    for (let i = 0; i < 20; i++)
      seen.push(await qmp.waitForEvent('STOP', { trigger: () => qmp.execute('stop'), timeout: 1000 }));
    expect(seen).toHaveLength(20);
  });
});
