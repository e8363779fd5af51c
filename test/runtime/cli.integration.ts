/**
 * `qapi-ts exec` and `qapi-ts events` as a user runs them (the built CLI,
 * `bin/qapi-ts`) against real QEMU: 7.2 (the host's), 10.0 and 11.1 (the
 * chroots of .ci/qemu-10.0 and .ci/qemu-11.1), each checking arguments
 * against its own schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { QmpClient } from '../../src/runtime/index.js';
import { builtCli, runCli, spawnCli, type CliProcess } from '../helpers/cli.js';
import {
  QEMU_BINARY,
  OLDEST_AND_NEWEST,
  qemuAvailable,
  releaseNumbers,
  startQemu as startAnyQemu,
  stopAllQemu,
  type QemuInstance,
  type QemuOptions,
} from '../helpers/qemu.js';

const cli = (...args: string[]) => runCli(args, { timeout: 30_000 });

/** Resumes and stops the VM through `driver` until `done()` (the CLI may still be negotiating). */
async function driveUntil(driver: QmpClient, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done() && Date.now() < deadline) {
    await driver.execute('cont');
    await driver.execute('stop');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(OLDEST_AND_NEWEST)('qapi-ts exec / events against real QEMU %s', (release) => {
  const startQemu = (options: QemuOptions = {}) => startAnyQemu({ ...options, release });
  describe.runIf(
    qemuAvailable(QEMU_BINARY, release) && builtCli('src/cli/runtime-commands.js', 'CLI integration tests'),
  )('every command', () => {
    let qemu: QemuInstance;
    beforeAll(async () => {
      qemu = await startQemu({ args: ['-object', 'iothread,id=io0'], monitors: 2 });
    });
    afterAll(stopAllQemu);

    it('runs against this release', async () => {
      const r = await cli('exec', '--socket', qemu.socket, 'query-version');
      expect(r.code).toBe(0);
      const { qemu: v } = JSON.parse(r.stdout) as { qemu: { major: number; minor: number } };
      expect({ major: v.major, minor: v.minor }).toEqual(releaseNumbers(release));
    });

    it('exec prints the return value as JSON', async () => {
      const r = await cli('exec', '--socket', qemu.socket, 'query-iothreads');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const threads = JSON.parse(r.stdout) as { id: string }[];
      expect(threads.map((t) => t.id)).toEqual(['io0']);
    });

    it('exec passes arguments and keeps 64-bit integers exact', async () => {
      const pc = await startQemu({ machine: 'pc,accel=tcg' });
      const r = await cli(
        'exec',
        '-s',
        pc.socket,
        'query-cpu-model-expansion',
        '{"type": "full", "model": {"name": "qemu64"}}',
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('"lbr-fmt":18446744073709551552');
      await pc.stop();
    });

    it('exec reports a QMP error as CLASS: desc, exit 4', async () => {
      const r = await cli('exec', '--socket', qemu.socket, 'no-such-command');
      expect(r.code).toBe(4);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('CommandNotFound: The command no-such-command has not been found\n');
      const g = await cli('exec', '--socket', qemu.socket, 'object-del', '{"id": "nope"}');
      expect(g.code).toBe(4);
      expect(g.stderr).toMatch(/^GenericError: .*nope/);
    });

    it('exec reports a connection failure, exit 3, invalid arguments, exit 1, and bad usage, exit 2', async () => {
      const r = await cli('exec', '--socket', join(qemu.dir, 'missing.sock'), 'query-status');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^qapi-ts exec: QMP_ERR_CONNECT: cannot connect to unix:.*missing\.sock: ENOENT/);
      const t = await cli('exec', '--tcp', '127.0.0.1:1', 'query-status');
      expect(t.code).toBe(3);
      expect(t.stderr).toMatch(/ECONNREFUSED/);
      expect((await cli('exec', '--socket', qemu.socket, 'object-add', '{"id": ')).code).toBe(1);
      expect((await cli('exec', '--socket', qemu.socket, 'object-add', '[1]')).code).toBe(1);
      expect((await cli('exec', 'query-status')).code).toBe(2);
    });

    it("exec checks arguments against the QEMU's own schema, strictly; passes unknown commands through", async () => {
      const extra = await cli('exec', '--socket', qemu.socket, 'query-iothreads', '{"x": 1}');
      expect(extra.code).toBe(1);
      expect(extra.stderr).toBe(
        "qapi-ts exec: invalid arguments for 'query-iothreads': unknown member 'x' " +
          '(--no-validate sends them unchecked)\n',
      );
      const badEnum = await cli('exec', '--socket', qemu.socket, 'qmp_capabilities', '{"enable": ["nope"]}');
      expect(badEnum.code).toBe(1);
      expect(badEnum.stderr).toMatch(
        /^qapi-ts exec: invalid arguments for 'qmp_capabilities': enable\[0\]: 'nope' is not one of 'oob'/,
      );
      // --no-validate sends it anyway, and QEMU answers.
      const sent = await cli('exec', '--socket', qemu.socket, '--no-validate', 'query-iothreads', '{"x": 1}');
      expect(sent.code).toBe(4);
      expect(sent.stderr).toMatch(/^GenericError: /);
      // object-add of an iothread: in this QEMU's schema (not in our qapi/'s), so taken.
      const added = await cli('exec', '--socket', qemu.socket, 'object-add', '{"qom-type": "iothread", "id": "cli1"}');
      expect(added.code).toBe(0);
      const misspelt = await cli(
        'exec',
        '--socket',
        qemu.socket,
        'object-add',
        '{"qom-type": "iothread", "id": "cli2", "poll-max-nss": 1}',
      );
      expect([misspelt.code, misspelt.stderr]).toEqual([
        1,
        "qapi-ts exec: invalid arguments for 'object-add': unknown member 'poll-max-nss' " +
          '(--no-validate sends them unchecked)\n',
      ]);
      const del = await cli('exec', '--socket', qemu.socket, 'object-del', '{"id": "cli1"}');
      expect(del.code).toBe(0);
      // Unknown to the schema: QEMU says so.
      expect((await cli('exec', '--socket', qemu.socket, 'no-such-command', '{"a": 1}')).code).toBe(4);
    });

    it('exec --oob sends exec-oob', async () => {
      const r = await cli('exec', '--socket', qemu.socket, '--oob', 'query-yank');
      expect(r.code).toBe(0);
      expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    });

    it('events prints events as JSON lines until SIGINT, then exits 0', async () => {
      const run: CliProcess = spawnCli(['events', '--socket', qemu.socket, '--event', 'RESUME']);
      // The second monitor drives the VM until the CLI has printed a RESUME.
      await using driver = await QmpClient.connect({ path: qemu.sockets[1] as string });
      await driveUntil(driver, () => run.stdout.includes('\n'));
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      expect(run.stderr).toBe('');
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; timestamp: object });
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l.event).toBe('RESUME');
        expect(l.timestamp).toHaveProperty('seconds');
      }
    });

    it('events exits 3 when QEMU goes away', async () => {
      const own = await startQemu();
      const run = spawnCli(['events', '--socket', own.socket]);
      // Give it time to connect (if it has not, it fails to connect: also exit 3).
      await new Promise((r) => setTimeout(r, 500));
      await own.stop();
      expect(await run.exited).toBe(3);
      expect(run.stderr).toMatch(/^qapi-ts events: QMP_ERR_(DISCONNECTED|CONNECT|GREETING): /);
    });

    it('exec quit exits 0 with {}', async () => {
      const own = await startQemu();
      const r = await cli('exec', '--socket', own.socket, 'quit');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('{}\n');
      await own.stop();
    });

    it('events --event warns about an event this QEMU does not have, and still prints the ones it has', async () => {
      const run = spawnCli(['events', '--socket', qemu.socket, '-e', 'RESUME', '-e', 'NO_SUCH_EVENT']);
      await using driver = await QmpClient.connect({ path: qemu.sockets[1] as string });
      await driveUntil(driver, () => run.stdout.includes('\n') && run.stderr.includes('\n'));
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      expect(run.stderr).toBe(
        "qapi-ts events: warning: the server has no event 'NO_SUCH_EVENT' (waiting for it anyway)\n",
      );
      expect(JSON.parse(run.stdout.trim().split('\n')[0] as string)).toMatchObject({ event: 'RESUME' });
    });
  });
});
