/**
 * Schema probes against real QEMU 7.2, 10.0 and 11.1: the probe table
 * (libvirt's answers), through the library and through `qapi-ts probe`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient, introspect, probe, probeAll, stringifyJson } from '../../src/runtime/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import { PROBE_CASES } from '../helpers/probe-cases.js';
import {
  QEMU_BINARY,
  qemuAvailable,
  releaseNumbers,
  startQemu,
  stopAllQemu,
  type QemuInstance,
} from '../helpers/qemu.js';

describe.each(['10.0', '11.1'] as const)('probes against QEMU %s', (release) => {
  const available = qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let qmp: QmpClient;

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release });
    qmp = await QmpClient.connect({ path: qemu.socket }, { timeout: 10_000 });
    expect(qmp.greeting.version.qemu).toMatchObject(releaseNumbers(release));
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it.runIf(available).each(PROBE_CASES.map((c) => [c.query, release === '11.1' ? c.qemu111 : c.qemu100] as const))(
    '%s → %s',
    async (query, answer) => {
      expect(await probe(qmp, query)).toBe(answer);
    },
  );
});

describe.runIf(qemuAvailable())('probes against QEMU 7.2', () => {
  let qemu: QemuInstance;
  let qmp: QmpClient;

  beforeAll(async () => {
    qemu = await startQemu({ monitors: 2 });
    qmp = await QmpClient.connect({ path: qemu.sockets[0] as string }, { timeout: 10_000 });
    expect(qmp.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it.each(PROBE_CASES.map((c) => [c.query, c.qemu72] as const))('%s → %s', async (query, answer) => {
    expect(await probe(qmp, query)).toBe(answer);
  });

  it('fetched the schema once for all of them', async () => {
    const schema = await introspect(qmp);
    expect(
      await probeAll(
        qmp,
        PROBE_CASES.map((c) => c.query),
      ),
    ).toEqual(PROBE_CASES.map((c) => c.qemu72));
    expect(await introspect(qmp)).toBe(schema);
    expect(schema.entries.length).toBeGreaterThan(1000);
  });

  describe.runIf(builtCli('src/cli/probe-command.js', 'qapi-ts probe CLI tests'))('qapi-ts probe', () => {
    const socket = () => qemu.sockets[1] as string;

    it('prints QUERY: yes|no in order; exit 0 when all are yes, 1 when one is no', async () => {
      const yes = await runCli([
        'probe',
        '--socket',
        socket(),
        'query-iothreads/ret-type/poll-max-ns',
        'blockdev-add/arg-type/+nbd/server/+unix/path',
      ]);
      expect(yes).toMatchObject({ code: 0, stderr: '' });
      expect(yes.stdout).toBe(
        'query-iothreads/ret-type/poll-max-ns: yes\nblockdev-add/arg-type/+nbd/server/+unix/path: yes\n',
      );
      const mixed = await runCli([
        'probe',
        '--socket',
        socket(),
        'query-iothreads/ret-type/holders',
        'query-iothreads/ret-type/poll-max-ns',
      ]);
      expect(mixed).toMatchObject({
        code: 1,
        stdout: 'query-iothreads/ret-type/holders: no\nquery-iothreads/ret-type/poll-max-ns: yes\n',
      });
    });

    it('exit 2 for a malformed query (before connecting), 3 when it cannot connect', async () => {
      const bad = await runCli([
        'probe',
        '--socket',
        socket(),
        'query-iothreads/ret-type/poll-max-ns',
        'query-iothreads//id',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toContain("malformed probe query 'query-iothreads//id': step 2: empty step");
      const gone = await runCli(['probe', '--socket', join(qemu.dir, 'nope.sock'), 'query-status']);
      expect(gone.code).toBe(3);
      expect(gone.stderr).toMatch(/cannot connect/);
    });

    it('answers the same from saved introspection data', async () => {
      const file = join(qemu.dir, 'schema.json');
      writeFileSync(file, stringifyJson({ return: (await introspect(qmp)).entries }));
      const run = await runCli(['probe', '--introspection', file, ...PROBE_CASES.map((c) => c.query)]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe(PROBE_CASES.map((c) => `${c.query}: ${c.qemu72 ? 'yes' : 'no'}\n`).join(''));
    });
  });
});
