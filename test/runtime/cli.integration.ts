/**
 * `qapi-ts exec` and `qapi-ts events` as a user runs them (the built CLI,
 * `bin/qapi-ts`) against real QEMU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { QmpClient } from '../../src/runtime/index.js';
import { qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';
import { repoRoot } from '../helpers/shared.js';

const BIN = join(repoRoot, 'bin/qapi-ts');
const BUILT = join(repoRoot, 'dist/src/cli/runtime-commands.js');

function builtCli(): boolean {
  if (existsSync(BUILT)) return true;
  if (process.env.CI) throw new Error(`CI: ${BUILT} is missing; run npm run build first`);
  process.stderr.write(`SKIPPING CLI integration tests: ${BUILT} not built (npm run build)\n`);
  return false;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.runIf(qemuAvailable() && builtCli())('qapi-ts exec / events against real QEMU', () => {
  let qemu: QemuInstance;
  beforeAll(async () => {
    qemu = await startQemu({ args: ['-object', 'iothread,id=io0'], monitors: 2 });
  });
  afterAll(stopAllQemu);

  it('exec prints the return value as JSON', async () => {
    const r = await cli('exec', '--socket', qemu.socket, 'query-iothreads');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const threads = JSON.parse(r.stdout) as { id: string }[];
    expect(threads.map((t) => t.id)).toEqual(['io0']);
  });

  it('exec passes arguments and keeps 64-bit integers exact', async () => {
    const pc = await startQemu({ machine: 'pc,accel=tcg' });
    const r = await cli('exec', '-s', pc.socket, 'query-cpu-model-expansion', '{"type": "full", "model": {"name": "qemu64"}}');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"lbr-fmt":18446744073709551552');
    await pc.stop();
  });

  it('exec reports a QMP error as CLASS: desc, exit 2', async () => {
    const r = await cli('exec', '--socket', qemu.socket, 'no-such-command');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('CommandNotFound: The command no-such-command has not been found\n');
    const g = await cli('exec', '--socket', qemu.socket, 'object-del', '{"id": "nope"}');
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/^GenericError: .*nope/);
  });

  it('exec reports a connection failure, exit 3, and bad usage, exit 1', async () => {
    const r = await cli('exec', '--socket', join(qemu.dir, 'missing.sock'), 'query-status');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot connect to unix:.*missing\.sock: ENOENT/);
    const t = await cli('exec', '--tcp', '127.0.0.1:1', 'query-status');
    expect(t.code).toBe(3);
    expect(t.stderr).toMatch(/ECONNREFUSED/);
    expect((await cli('exec', '--socket', qemu.socket, 'object-add', '{"id": ')).code).toBe(1);
    expect((await cli('exec', '--socket', qemu.socket, 'object-add', '[1]')).code).toBe(1);
    expect((await cli('exec', 'query-status')).code).toBe(1);
  });

  it('exec checks arguments of commands our schema knows, strictly; passes others through', async () => {
    const extra = await cli('exec', '--socket', qemu.socket, 'query-iothreads', '{"x": 1}');
    expect(extra.code).toBe(1);
    expect(extra.stderr).toBe("qapi-ts exec: invalid arguments for 'query-iothreads': takes no arguments, got 'x'\n");
    const badEnum = await cli('exec', '--socket', qemu.socket, 'qmp_capabilities', '{"enable": ["nope"]}');
    expect(badEnum.code).toBe(1);
    expect(badEnum.stderr).toMatch(/^qapi-ts exec: invalid arguments for 'qmp_capabilities': enable\[0\]: /);
    // --no-validate sends it anyway, and QEMU answers.
    const sent = await cli('exec', '--socket', qemu.socket, '--no-validate', 'query-iothreads', '{"x": 1}');
    expect(sent.code).toBe(2);
    expect(sent.stderr).toMatch(/^GenericError: /);
    // object-add is not in our schema: passed through untouched.
    const added = await cli('exec', '--socket', qemu.socket, 'object-add', '{"qom-type": "iothread", "id": "cli1"}');
    expect(added.code).toBe(0);
    const del = await cli('exec', '--socket', qemu.socket, 'object-del', '{"id": "cli1"}');
    expect(del.code).toBe(0);
  });

  it('exec --oob sends exec-oob', async () => {
    const r = await cli('exec', '--socket', qemu.socket, '--oob', 'query-yank');
    expect(r.code).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
  });

  it('events prints events as JSON lines until SIGINT, then exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'events', '--socket', qemu.socket, '--event', 'RESUME'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The second monitor drives the VM; repeat until the CLI (which may still
    // be negotiating) has printed a RESUME.
    await using driver = await QmpClient.connect({ path: qemu.sockets[1] as string });
    const deadline = Date.now() + 20_000;
    while (!stdout.includes('\n') && Date.now() < deadline) {
      await driver.execute('cont');
      await driver.execute('stop');
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; timestamp: object });
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l.event).toBe('RESUME');
      expect(l.timestamp).toHaveProperty('seconds');
    }
  });

  it('events exits 3 when QEMU goes away', async () => {
    const own = await startQemu();
    const child = spawn(process.execPath, [BIN, 'events', '--socket', own.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Give it time to connect (if it has not, it fails to connect: also exit 3).
    await new Promise((r) => setTimeout(r, 500));
    await own.stop();
    expect(await exited).toBe(3);
    expect(stderr).toMatch(/^qapi-ts events: /);
  });
});
