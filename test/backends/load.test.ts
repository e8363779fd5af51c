/** loadValidators: a schema path → validators and client at run time. */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadValidators } from '../../src/backends/load.js';
import { isQapiError } from '../../src/frontend/errors.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { fakeExecutor, outcome } from './helpers.js';

const corpus = sharedDir('corpus');

describe('loadValidators', () => {
  test('qapi/: command, event and type validators, both strictnesses', async () => {
    const loaded = await loadValidators(join(repoRoot, 'qapi/qapi-schema.json'));
    const reply = [
      { id: 'io0', 'thread-id': 1, 'poll-max-ns': 0, 'poll-grow': 0, 'poll-shrink': 0, 'aio-max-batch': 0, extra: 1 },
    ];
    expect(outcome(loaded.validatorSet(false).commands['query-iothreads']!.returns!, reply)).toBe('ok');
    expect(outcome(loaded.validatorSet(true).commands['query-iothreads']!.returns!, reply)).toBe(
      '0: Unrecognized key: "extra"',
    );
    expect(loaded.validatorSet(false).events.STOP).toBeNull();
    expect(outcome(loaded.strictValidators.IoThreadHolder!, { type: 'qom', path: '/x' })).toBe('ok');
    const client = loaded.createClient(fakeExecutor({ 'query-iothreads': reply }), { strict: true });
    await expect(client.execute('query-iothreads')).rejects.toThrow(
      "invalid reply to 'query-iothreads': [0].extra: unknown member",
    );
  });

  test('int64 option applies', async () => {
    const loaded = await loadValidators(join(repoRoot, 'qapi/qapi-schema.json'), { int64: 'bigint' });
    const parsed = loaded.validators.IOThreadInfo!.parse({
      id: 'a',
      'thread-id': 5,
      'poll-max-ns': 0,
      'poll-grow': 0,
      'poll-shrink': 0,
      'aio-max-batch': 0,
    });
    expect((parsed as Record<string, unknown>)['thread-id']).toBe(5n);
  });

  test('an invalid schema throws the frontend error', async () => {
    const err = await loadValidators(join(repoRoot, 'no-such-schema.json')).catch((e: unknown) => e);
    expect(isQapiError(err)).toBe(true);
  });

  test.skipIf(corpus === null)("QEMU 10.0's full schema loads and checks a blockdev-add argument", async () => {
    const loaded = await loadValidators(join(corpus!, 'qemu-10.0/qapi/qapi-schema.json'));
    const args = loaded.validatorSet(false).commands['blockdev-add']!.args!;
    const qcow2 = { driver: 'qcow2', 'node-name': 'n0', file: { driver: 'file', filename: '/tmp/x.qcow2' } };
    expect(outcome(args, qcow2)).toBe('ok');
    expect(outcome(args, { ...qcow2, file: { driver: 'file' } })).toMatch(/^file/);
    expect(outcome(args, { ...qcow2, file: 'other-node' })).toBe('ok');
    expect(outcome(args, { ...qcow2, driver: 'no-such-driver' })).toMatch(/^driver: /);
  });
});
