/**
 * The generated typed client (generated/ from our qapi/ schema) running on
 * the runtime QmpClient against real QEMU 7.2, 10.0 and 11.1: compatible,
 * and strict where our schema describes that release exactly (its
 * IOThreadInfo is QEMU 11.1's, and older releases leave out only what is
 * optional in it).
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { QapiClient, type IOThreadInfo } from '../../generated/index.js';
import { isQapiValidationError } from '../../src/support/index.js';
import { QmpClient, QmpCommandError } from '../../src/runtime/index.js';
import { QEMU_BINARY, RELEASES, qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';

describe.each(RELEASES)('generated QapiClient on QmpClient against real QEMU %s', (release) => {
  const available = qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let qmp: QmpClient;
  let client: QapiClient;
  let strict: QapiClient;

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release, args: ['-object', 'iothread,id=io0'] });
    qmp = await QmpClient.connect({ path: qemu.socket });
    client = new QapiClient(qmp);
    strict = new QapiClient(qmp, { strict: true });
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it.runIf(available)(
    'queryIothreads() returns validated IOThreadInfo[] (holders absent; poll-weight from 11.1 on), strictly too',
    async () => {
      const threads = await client.queryIothreads();
      expectTypeOf(threads).toEqualTypeOf<IOThreadInfo[]>();
      expect(threads).toHaveLength(1);
      const [t] = threads;
      expect(t?.id).toBe('io0');
      expect(typeof t?.['thread-id']).toBe('number');
      expect(t?.holders).toBeUndefined();
      expect(t?.['poll-weight']).toBe(release === '11.1' ? 3 : undefined);
      expect(await strict.queryIothreads()).toEqual(threads);
    },
  );

  it.runIf(available)('reflects object-add / object-del of an IOThread', async () => {
    await qmp.execute('object-add', { 'qom-type': 'iothread', id: 'io1' });
    expect((await client.queryIothreads()).map((t) => t.id).sort()).toEqual(['io0', 'io1']);
    await qmp.execute('object-del', { id: 'io1' });
    expect((await client.queryIothreads()).map((t) => t.id)).toEqual(['io0']);
  });

  it.runIf(available)('queryVersion() and queryStatus() are typed and validated', async () => {
    const v = await client.queryVersion();
    expect(v.qemu).toEqual(qmp.greeting.version.qemu);
    const s = await client.queryStatus();
    expect(s.status).toBe('prelaunch');
  });

  it.runIf(available)('rejects bad arguments before sending, and passes QMP errors through', async () => {
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

  it.runIf(available)('typed events(): RESUME and STOP, narrowed by name', async () => {
    const iter = client.events(['RESUME', 'STOP'])[Symbol.asyncIterator]();
    await client.cont();
    await client.stop();
    const first = await iter.next();
    const second = await iter.next();
    expect([first.value?.event, second.value?.event]).toEqual(['RESUME', 'STOP']);
    await iter.return?.();
  });
});
