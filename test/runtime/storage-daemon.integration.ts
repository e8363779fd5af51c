/**
 * A real qemu-storage-daemon (Debian's 7.2 in CI), driven by QmpClient
 * through the client generated from the daemon's own schema
 * (corpus/qemu-7.2/storage-daemon), validating strictly: every reply and
 * event must match that schema exactly.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, type LoadedSchema, type UntypedClient } from '../../src/backends/load.js';
import { QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import { QapiValidationError } from '../../src/support/index.js';
import {
  STORAGE_DAEMON_BINARY,
  qemuAvailable,
  startStorageDaemon,
  stopAllQemu,
  type QemuInstance,
} from '../helpers/qemu.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus');

interface BlockExportInfo {
  type: string;
  id: string;
  'node-name': string;
  'shutting-down': boolean;
}

describe.runIf(corpus !== null && qemuAvailable(STORAGE_DAEMON_BINARY))('qemu-storage-daemon', () => {
  let qsd: QemuInstance;
  let qmp: QmpClient;
  let schema: LoadedSchema;
  let client: UntypedClient;

  beforeAll(async () => {
    [qsd, schema] = await Promise.all([
      startStorageDaemon((dir) => [
        '--object',
        'iothread,id=io0',
        '--blockdev',
        'null-co,node-name=disk0,size=1048576',
        '--nbd-server',
        `addr.type=unix,addr.path=${join(dir, 'nbd.sock')}`,
        '--export',
        'nbd,id=exp0,node-name=disk0,iothread=io0',
      ]),
      loadValidators(join(corpus!, 'qemu-7.2/storage-daemon/qapi/qapi-schema.json')),
    ]);
    qmp = await QmpClient.connect({ path: qsd.socket }, { oob: true, timeout: 10_000 });
    client = schema.createClient(qmp, { strict: true });
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it('greets, negotiates oob, and answers query-version as its schema says', async () => {
    expect(qmp.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect(qmp.oobEnabled).toBe(true);
    const version = (await client.execute('query-version')) as { qemu: unknown };
    expect(version.qemu).toEqual(qmp.greeting.version.qemu);
  });

  it('lists the export given on the command line, on its block node', async () => {
    const exports = (await client.execute('query-block-exports')) as BlockExportInfo[];
    expect(exports).toEqual([{ type: 'nbd', id: 'exp0', 'node-name': 'disk0', 'shutting-down': false }]);
  });

  it('validates the large nested query-named-block-nodes reply strictly', async () => {
    const nodes = (await client.execute('query-named-block-nodes', { flat: true })) as {
      'node-name': string;
      drv: string;
      image: { 'virtual-size': number };
    }[];
    const disk = nodes.find((n) => n['node-name'] === 'disk0');
    expect(disk?.drv).toBe('null-co');
    expect(disk?.image['virtual-size']).toBe(1048576);
  });

  it('exports a hot-added node on a hot-added IOThread, then reports its deletion', async () => {
    const events = client.events(['BLOCK_EXPORT_DELETED'])[Symbol.asyncIterator]();
    const seen: QmpEventMessage[] = [];
    const off = qmp.onEvent((e) => seen.push(e), ['BLOCK_EXPORT_DELETED']);
    await client.execute('object-add', { 'qom-type': 'iothread', id: 'io1' });
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'disk1', size: 65536 });
    await client.execute('block-export-add', { type: 'nbd', id: 'exp1', 'node-name': 'disk1', iothread: 'io1' });
    const both = (await client.execute('query-block-exports')) as BlockExportInfo[];
    expect(both.map((e) => `${e.id}:${e['node-name']}`).sort()).toEqual(['exp0:disk0', 'exp1:disk1']);

    await client.execute('block-export-del', { id: 'exp1' });
    const { value } = await events.next();
    expect(value).toMatchObject({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'exp1' } });
    expect(seen.map((e) => e.data)).toEqual([{ id: 'exp1' }]);
    off();
    await events.return?.();
    await client.execute('blockdev-del', { 'node-name': 'disk1' });
    await client.execute('object-del', { id: 'io1' });
    expect(((await client.execute('query-block-exports')) as BlockExportInfo[]).map((e) => e.id)).toEqual(['exp0']);
  });

  it('checks arguments before sending, and passes QMP errors through typed', async () => {
    const sent = qmp.pendingCount;
    await expect(client.execute('block-export-del', { id: 5 })).rejects.toBeInstanceOf(QapiValidationError);
    await expect(client.execute('blockdev-add', { driver: 'no-such-driver', 'node-name': 'x' })).rejects.toThrow(
      /driver/,
    );
    expect(qmp.pendingCount).toBe(sent);
    const err = await client.execute('block-export-del', { id: 'no-such-export' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect((err as QmpCommandError).errorClass).toBe('GenericError');
    // The storage daemon has no query-iothreads (misc.json is not part of it).
    const missing = await qmp.execute('query-iothreads').catch((e: unknown) => e);
    expect((missing as QmpCommandError).errorClass).toBe('CommandNotFound');
  });

  it('rejects every pending call when the daemon is killed', async () => {
    const calls = Array.from({ length: 200 }, () =>
      qmp.execute('query-block-exports').then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await qsd.kill('SIGKILL');
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o !== 'ok').length).toBeGreaterThan(0);
    expect(qmp.pendingCount).toBe(0);
    expect(qmp.connectionState).toBe('closed');
  });
});
