/**
 * The table the test server is held to (qemu-replies.ts) is what real QEMU
 * answers, on every release we run live (7.2, 10.0, 11.1): each case is
 * sent to a real qemu-system-x86_64 (-machine none) and to the test server
 * serving that release's schema, and both replies must equal the table's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpTestServer } from '../../src/testing/index.js';
import {
  QEMU_BINARY,
  RELEASES,
  qemuAvailable,
  releaseNumbers,
  releaseSchemas,
  startQemu,
  stopAllQemu,
  type QemuInstance,
} from '../helpers/qemu.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { ARGUMENT_ERROR, DOUBLE_IDS, REPLY_CASES, echoedIds, runCase } from './qemu-replies.js';
import { createConnection } from 'node:net';

/**
 * QEMU 11.1 puts the place in the session's input before its JSON parse
 * errors ("2:47: JSON parse error, stray …"); 7.2 and 10.0 do not, and the
 * test server answers as they do (docs/test-server.md).
 */
function locatedIn11(release: string, desc: unknown): RegExp | undefined {
  if (release !== '11.1' || typeof desc !== 'string' || !desc.startsWith('JSON parse error')) return undefined;
  return new RegExp(`^\\d+:\\d+: ${desc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

describe.each(RELEASES)('QEMU %s and the test server answer alike', (release) => {
  const schemas = releaseSchemas(release);
  const available = schemas !== null && qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let server: QmpTestServer;
  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release });
    server = await QmpTestServer.create({ schema: schemas.system });
    for (const name of ['migrate-set-parameters', 'send-key', 'qom-set']) server.on(name, () => ({}));
  });
  afterAll(async () => {
    await server?.close();
    await stopAllQemu();
  });

  it.runIf(available)(`QEMU ${release} is what runs here`, async () => {
    const raw = await RawQmp.unix(qemu.socket);
    const greeting = (await raw.next()) as { QMP: { version: { qemu: { major: number; minor: number } } } };
    raw.close();
    expect(greeting.QMP.version.qemu).toMatchObject(releaseNumbers(release));
  });

  it.runIf(available)('echoes ids it reads as doubles as the server does (1e400 as inf)', async () => {
    const socket = createConnection({ path: qemu.socket });
    await new Promise((resolve) => socket.once('connect', resolve));
    try {
      expect(
        await echoedIds(
          socket,
          DOUBLE_IDS.map(([id]) => id),
        ),
      ).toEqual(DOUBLE_IDS.map(([, echoed]) => echoed));
    } finally {
      socket.destroy();
    }
  });

  // migrate-set-parameters lost compress-level after 7.2: those cases are 7.2's.
  const cases = REPLY_CASES.filter((c) => release === '7.2' || !c.request.includes('compress-level'));
  it.runIf(available).each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
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
    const located = locatedIn11(release, error.desc);
    if (located !== undefined) {
      expect(fromQemu).toEqual({ error: { ...error, desc: expect.stringMatching(located) } });
      expect(fromServer).toEqual(expected);
      return;
    }
    expect(fromQemu).toEqual(expected);
    expect(fromServer).toEqual(expected);
  });
});
