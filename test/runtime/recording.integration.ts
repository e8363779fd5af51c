/**
 * Sessions recorded (`record: PATH`) against real QEMU 7.2, 10.0 and 11.1,
 * checked with `verify` against that release's own schema, compatible and
 * strict; the 7.2 recording replayed through the test server, where the
 * typed client generated from 7.2's schema gets the recorded results.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadValidators, type LoadedSchema, type UntypedClient } from '../../src/backends/load.js';
import { formatReport, parseTranscript, verifyTranscript } from '../../src/transcripts/index.js';
import { QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import { QmpTestServer, ServerSchema } from '../../src/testing/index.js';
import { QEMU_BINARY, RELEASES, qemuAvailable, releaseSchemas, startQemu, stopAllQemu } from '../helpers/qemu.js';

/** One session's worth of calls, in order; returns what each gave (values, error classes) and the events seen. */
async function session(qmp: QmpClient, client: UntypedClient): Promise<{ results: unknown[]; events: string[] }> {
  const events: string[] = [];
  qmp.onEvent((e: QmpEventMessage) => events.push(e.event));
  const results: unknown[] = [];
  const outcome = (p: Promise<unknown>): Promise<void> =>
    p.then(
      (v) => void results.push(v),
      (e: unknown) => void results.push(e instanceof QmpCommandError ? `${e.errorClass}: ${e.desc}` : e),
    );
  await outcome(client.execute('query-version'));
  await outcome(client.execute('query-status'));
  await outcome(client.execute('query-iothreads'));
  await outcome(client.execute('object-add', { 'qom-type': 'iothread', id: 'io1' }));
  await outcome(client.execute('qom-list', { path: '/objects' }));
  await outcome(client.execute('object-del', { id: 'io1' }));
  // Integers beyond 2^53 (lbr-fmt is 2^64 − 64), and a call that carries an id (it has a timeout).
  await outcome(
    client.execute('query-cpu-model-expansion', { type: 'full', model: { name: 'qemu64' } }, { timeout: 10_000 }),
  );
  await outcome(client.execute('cont'));
  await outcome(client.execute('stop'));
  await outcome(client.execute('query-yank', undefined, { oob: true }));
  await outcome(qmp.execute('no-such-command'));
  await outcome(
    Promise.all([client.execute('query-status'), client.execute('query-name'), client.execute('query-kvm')]),
  );
  return { results, events };
}

const dirs: string[] = [];
afterAll(async () => {
  await stopAllQemu();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const release of RELEASES) {
  const schemas = releaseSchemas(release);
  describe.runIf(schemas !== null && qemuAvailable(QEMU_BINARY, release))(
    `a session recorded against QEMU ${release}`,
    () => {
      let loaded: LoadedSchema;
      let text = '';
      let live: { results: unknown[]; events: string[] };

      it('is written as a transcript, greeting first, integers exact', async () => {
        loaded = await loadValidators(schemas!.system);
        const qemu = await startQemu({ release, machine: 'pc,accel=tcg', args: ['-object', 'iothread,id=io0'] });
        const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-rec-'));
        dirs.push(dir);
        const path = join(dir, `qemu-${release}.jsonl`);
        const qmp = await QmpClient.connect({ path: qemu.socket }, { oob: true, record: path });
        live = await session(qmp, loaded.createClient(qmp, { strict: true }));
        await qmp.close();
        text = readFileSync(path, 'utf8');
        const { entries, badLines } = parseTranscript(text);
        expect(badLines).toEqual([]);
        const greeting = entries[0]?.msg as { QMP?: { version: { qemu: { major: number } } } };
        expect(greeting.QMP?.version.qemu.major).toBe(Number(release.split('.')[0]));
        expect(text).toContain('18446744073709551552');
        expect(live.events).toEqual(['RESUME', 'STOP']);
        expect(live.results.filter((r) => typeof r === 'string')).toEqual([
          'CommandNotFound: The command no-such-command has not been found',
        ]);
      });

      for (const strict of [false, true]) {
        it(`passes verify against QEMU ${release}'s schema (${strict ? 'strict' : 'compatible'})`, () => {
          const result = verifyTranscript(text, loaded.validatorSet(strict), { strict });
          expect(formatReport(result, 'recorded').slice(0, -1)).toEqual([]);
          expect(result.invalid).toBe(0);
          expect(result.messages).toBe(parseTranscript(text).entries.length);
          expect(result.messages).toBeGreaterThan(30);
        });
      }

      // The replay is checked on the 7.2 recording (one release is enough for the test server).
      if (release === '7.2')
        it('replays through the test server: the typed client gets the recorded results', async () => {
          const server = await QmpTestServer.create({ schema: await ServerSchema.load(schemas!.system) });
          try {
            server.replay(text, { requireAll: true });
            await using qmp = await QmpClient.overStream(server.connect(), { oob: true });
            expect(qmp.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
            const replayed = await session(qmp, loaded.createClient(qmp, { strict: true }));
            expect(replayed).toEqual(live);
            server.assertDone();
          } finally {
            await server.close();
          }
        });
    },
  );
}
