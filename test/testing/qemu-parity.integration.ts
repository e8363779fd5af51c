/**
 * The table the test server is held to (qemu-replies.ts) is what the QEMU
 * installed here answers: each case is sent to a real qemu-system-x86_64
 * (-machine none) and to the test server serving that QEMU's schema, and
 * both replies must equal the table's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { QmpTestServer } from '../../src/testing/index.js';
import { qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { sharedDir } from '../helpers/shared.js';
import { ARGUMENT_ERROR, DOUBLE_IDS, REPLY_CASES, echoedIds, runCase } from './qemu-replies.js';
import { createConnection } from 'node:net';

const corpus = sharedDir('corpus/qemu-7.2/qapi');

describe.skipIf(!qemuAvailable() || corpus === null)('QEMU and the test server answer alike', () => {
  let qemu: QemuInstance;
  let server: QmpTestServer;
  beforeAll(async () => {
    qemu = await startQemu();
    server = await QmpTestServer.create({ schema: join(corpus!, 'qapi-schema.json') });
    for (const name of ['migrate-set-parameters', 'send-key', 'qom-set']) server.on(name, () => ({}));
  });
  afterAll(async () => {
    await server?.close();
    await stopAllQemu();
  });

  it('QEMU 7.2 is what runs here', async () => {
    const raw = await RawQmp.unix(qemu.socket);
    const greeting = (await raw.next()) as { QMP: { version: { qemu: { major: number; minor: number } } } };
    raw.close();
    expect(greeting.QMP.version.qemu).toMatchObject({ major: 7, minor: 2 });
  });

  it('echoes ids it reads as doubles as the server does (1e400 as inf)', async () => {
    const socket = createConnection({ path: qemu.socket });
    await new Promise((resolve) => socket.once('connect', resolve));
    try {
      expect(await echoedIds(socket, DOUBLE_IDS.map(([id]) => id))).toEqual(DOUBLE_IDS.map(([, echoed]) => echoed));
    } finally {
      socket.destroy();
    }
  });

  it.each(REPLY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const fromQemu = await runCase(() => RawQmp.unix(qemu.socket), c);
    const fromServer = await runCase(async () => new RawQmp(server.connect()), c);
    if (c.reply === 'accepted') {
      // QEMU's checks let it through: the command itself answered.
      const desc = (fromQemu.error as { desc?: string } | undefined)?.desc ?? '';
      expect(desc).not.toMatch(ARGUMENT_ERROR);
      expect(fromServer).toEqual({ return: {} });
      return;
    }
    const { id, ...error } = c.reply;
    const expected = id === undefined ? { error } : { error, id };
    expect(fromQemu).toEqual(expected);
    expect(fromServer).toEqual(expected);
  });
});
