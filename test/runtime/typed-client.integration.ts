/**
 * The generated typed client (generated/ from our qapi/ schema) running on
 * the runtime QmpClient against real QEMU 7.2.
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { QapiClient, type IOThreadInfo } from '../../generated/index.js';
import { isQapiValidationError } from '../../src/support/index.js';
import { QmpClient, QmpCommandError } from '../../src/runtime/index.js';
import { qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';

describe.runIf(qemuAvailable())('generated QapiClient on QmpClient against real QEMU', () => {
  let qemu: QemuInstance;
  let qmp: QmpClient;
  let client: QapiClient;

  beforeAll(async () => {
    qemu = await startQemu({ args: ['-object', 'iothread,id=io0'] });
    qmp = await QmpClient.connect({ path: qemu.socket });
    client = new QapiClient(qmp);
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it('queryIothreads() returns validated IOThreadInfo[] (holders absent in 7.2)', async () => {
    const threads = await client.queryIothreads();
    expectTypeOf(threads).toEqualTypeOf<IOThreadInfo[]>();
    expect(threads).toHaveLength(1);
    const [t] = threads;
    expect(t?.id).toBe('io0');
    expect(typeof t?.['thread-id']).toBe('number');
    expect(t?.holders).toBeUndefined();
  });

  it('reflects object-add / object-del of an IOThread', async () => {
    await qmp.execute('object-add', { 'qom-type': 'iothread', id: 'io1' });
    expect((await client.queryIothreads()).map((t) => t.id).sort()).toEqual(['io0', 'io1']);
    await qmp.execute('object-del', { id: 'io1' });
    expect((await client.queryIothreads()).map((t) => t.id)).toEqual(['io0']);
  });

  it('queryVersion() and queryStatus() are typed and validated', async () => {
    const v = await client.queryVersion();
    expect(v.qemu).toEqual(qmp.greeting.version.qemu);
    const s = await client.queryStatus();
    expect(s.status).toBe('prelaunch');
  });

  it('rejects bad arguments before sending, and passes QMP errors through', async () => {
    const before = qmp.pendingCount;
    const bad = await client.execute('query-iothreads', { bogus: 1 } as never).catch((e: unknown) => e);
    expect(isQapiValidationError(bad)).toBe(true);
    expect(qmp.pendingCount).toBe(before);
    // In command mode QEMU no longer knows qmp_capabilities.
    const nf = await client.qmpCapabilities().catch((e: unknown) => e);
    expect(nf).toBeInstanceOf(QmpCommandError);
    expect((nf as QmpCommandError).errorClass).toBe('CommandNotFound');
    await client.cont();
    expect((await client.queryStatus()).status).toBe('running');
    await client.stop();
  });

  it('typed events(): RESUME and STOP, narrowed by name', async () => {
    const iter = client.events(['RESUME', 'STOP'])[Symbol.asyncIterator]();
    await client.cont();
    await client.stop();
    const first = await iter.next();
    const second = await iter.next();
    expect([first.value?.event, second.value?.event]).toEqual(['RESUME', 'STOP']);
    await iter.return?.();
  });
});
