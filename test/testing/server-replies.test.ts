/**
 * The test server answers bad requests exactly as QEMU does: every case of
 * qemu-replies.ts (observed from QEMU 7.2 and 10.0), served from QEMU
 * 7.2's own schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { QmpTestServer } from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { sharedDir } from '../helpers/shared.js';
import { REPLY_CASES, runCase } from './qemu-replies.js';

const corpus = sharedDir('corpus/qemu-7.2/qapi');

describe.skipIf(corpus === null)('the test server answers bad requests as QEMU 7.2 does', () => {
  let server: QmpTestServer;
  const seen: Record<string, unknown>[] = [];
  beforeAll(async () => {
    server = await QmpTestServer.create({ schema: join(corpus!, 'qapi-schema.json') });
    for (const name of ['migrate-set-parameters', 'send-key', 'qom-set']) {
      server.on(name, (args) => {
        seen.push(args);
        return {};
      });
    }
  });
  afterAll(() => server.close());

  it.each(REPLY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const reply = await runCase(async () => new RawQmp(server.connect()), c);
    if (c.reply === 'accepted') {
      expect(reply).toEqual({ return: {} });
      expect(seen.at(-1)).toEqual(c.args);
      return;
    }
    const { id, ...error } = c.reply;
    expect(reply).toEqual(id === undefined ? { error } : { error, id });
  });
});
