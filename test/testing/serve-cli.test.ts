/**
 * `qapi-ts serve` as users run it (the built CLI): a client talks to it
 * over a unix socket or TCP, --replay answers from a recorded session,
 * --simulate is a QEMU with IOThread holder tracking that `qapi-ts
 * iothreads`, `probe`, `exec` and `events` work against, SIGINT and
 * SIGTERM stop it cleanly, and bad input gets the right status.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QapiClient } from '../../generated/index.js';
import { QmpClient, QmpCommandError } from '../../src/runtime/index.js';
import { BIN, builtCli, runCli } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';

const built = builtCli('src/cli/serve-command.js', 'qapi-ts serve tests');
const corpus = sharedDir('corpus/qemu-7.2/qapi');
const transcripts = sharedDir('transcripts/qemu-7.2');
const corpus10 = sharedDir('corpus/qemu-10.0/qapi');

interface Served {
  child: ChildProcess;
  stderr: () => string;
  /** The address from the "serving … on ADDRESS" line. */
  address: string;
  exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-serve-cli-'));
  dirs.push(dir);
  return dir;
}

/** Starts `qapi-ts serve ARGS` and waits until it says where it serves. */
function serve(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = / on ((?:unix|tcp):\S+); Ctrl-C stops/.exec(err);
      if (m) resolve({ child, stderr: () => err, address: m[1]!, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

describe.skipIf(!built)('qapi-ts serve', () => {
  it('serves our schema on a unix socket and removes it on SIGINT', async () => {
    const path = join(tempDir(), 'qmp.sock');
    const served = await serve(['--socket', path]);
    expect(served.address).toBe(`unix:${path}`);
    {
      await using qmp = await QmpClient.connect({ path });
      const client = new QapiClient(qmp);
      expect(await client.queryVersion()).toEqual({
        qemu: { major: 10, minor: 1, micro: 0 },
        package: 'qapi-ts test server',
      });
      const e = await qmp.execute('qom-list', { path: 5 }).catch((x: unknown) => x);
      expect((e as QmpCommandError).desc).toBe("Invalid parameter type for 'path', expected: string");
      await qmp.execute('query-status').catch(() => {});
    }
    for (let i = 0; i < 100 && !served.stderr().includes('unexpected command'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(served.stderr()).toContain("unexpected command 'query-status'");
    served.child.kill('SIGINT');
    expect(await served.exit).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('serves TCP on a free port and stops on SIGTERM', async () => {
    const served = await serve(['--tcp', '127.0.0.1:0', '--greet-version', '9.2.1']);
    const m = /^tcp:127\.0\.0\.1:(\d+)$/.exec(served.address);
    expect(m).not.toBeNull();
    {
      await using qmp = await QmpClient.connect({ host: '127.0.0.1', port: Number(m![1]) });
      expect(qmp.greeting.version.qemu).toEqual({ major: 9, minor: 2, micro: 1 });
    }
    served.child.kill('SIGTERM');
    expect(await served.exit).toBe(0);
  });

  it.skipIf(corpus === null || transcripts === null)('replays a recorded session with its greeting', async () => {
    const path = join(tempDir(), 'qmp.sock');
    const served = await serve([
      '--schema',
      join(corpus!, 'qapi-schema.json'),
      '--socket',
      path,
      '--replay',
      join(transcripts!, 'system-x86_64.jsonl'),
    ]);
    expect(served.stderr()).toMatch(/replaying \d+ recorded commands/);
    {
      await using qmp = await QmpClient.connect({ path });
      expect(qmp.greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
      expect(await qmp.execute('query-status')).toEqual({ status: 'prelaunch', singlestep: false, running: false });
      expect(await qmp.execute('query-name')).toEqual({ name: 'rec-vm' });
    }
    served.child.kill('SIGINT');
    expect(await served.exit).toBe(0);
  });

  it('exits 2 on bad usage, 1 on a bad schema or transcript, 3 when it cannot listen', async () => {
    const dir = tempDir();
    const sock = join(dir, 'qmp.sock');
    expect((await runCli(['serve'])).code).toBe(2);
    expect((await runCli(['serve', '--socket', sock, '--tcp', '127.0.0.1:0'])).code).toBe(2);
    expect((await runCli(['serve', '--tcp', 'nowhere'])).code).toBe(2);
    expect((await runCli(['serve', '--socket', sock, '--greet-version', 'seven'])).code).toBe(2);
    // --qemu-version names a schema rules release elsewhere: serve points at the greeting's own flag.
    const renamed = await runCli(['serve', '--socket', sock, '--qemu-version', '9.2.1']);
    expect(renamed.code).toBe(2);
    expect(renamed.stderr).toContain('use --greet-version 9.2.1');
    writeFileSync(join(dir, 'bad.json'), "{ 'command': 'Bad_Name' }\n");
    const bad = await runCli(['serve', '--schema', join(dir, 'bad.json'), '--socket', sock]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.json');
    writeFileSync(join(dir, 'bad.jsonl'), 'not json\n');
    const badReplay = await runCli(['serve', '--socket', sock, '--replay', join(dir, 'bad.jsonl')]);
    expect(badReplay.code).toBe(1);
    expect(badReplay.stderr).toContain('line 1: bad JSON');
    expect((await runCli(['serve', '--socket', sock, '--replay', join(dir, 'missing.jsonl')])).code).toBe(1);
    // Deep recordings: an invalid transcript with its line, not an internal error.
    const deep = `${'['.repeat(2000)}1${']'.repeat(2000)}`;
    writeFileSync(
      join(dir, 'deep.jsonl'),
      `{"dir": "client", "msg": {"execute": "qom-get", "arguments": {"path": "/", "property": "p"}, "id": 1}}\n` +
        `{"dir": "server", "msg": {"return": ${deep}, "id": 1}}\n`,
    );
    const deepReplay = await runCli(['serve', '--socket', sock, '--replay', join(dir, 'deep.jsonl')]);
    expect([deepReplay.code, deepReplay.stderr]).toEqual([
      1,
      expect.stringMatching(/deep\.jsonl: line 2: a server message nested deeper than 1024 levels/),
    ]);
    const cannot = await runCli(['serve', '--socket', join(dir, 'no-such-dir', 'qmp.sock')]);
    expect(cannot.code).toBe(3);
    expect(cannot.stderr).toContain('cannot listen');
  });
});

/** `qapi-ts iothreads --json` against `socket`: IOThread id → holders as text. */
async function iothreadsJson(
  socket: string,
  ...more: string[]
): Promise<{ holders: string; iothreads: Record<string, string[]> }> {
  const run = await runCli(['iothreads', '--socket', socket, '--json', ...more]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const report = JSON.parse(run.stdout) as {
    holders: string;
    iothreads: { id: string; holders: Record<string, string>[] }[];
  };
  const text = (h: Record<string, string>) => (h.type === 'qom' ? h.path! : `${h.type}:${h['node-name']}`);
  return {
    holders: report.holders,
    iothreads: Object.fromEntries(report.iothreads.map((t) => [t.id, t.holders.map(text)])),
  };
}

describe.skipIf(!built)('qapi-ts serve --simulate', () => {
  const P = '/machine/peripheral';

  it('is a QEMU whose holders qapi-ts iothreads reports as they are, newest first, across a hotplug cycle', async () => {
    const socket = join(tempDir(), 'qmp.sock');
    const served = await serve(['--simulate', '--socket', socket]);
    expect(served.stderr()).toContain('simulating a QEMU with IOThread holder tracking');
    const demo = {
      io0: [`${P}/vblk1`, `${P}/vblk0`],
      io1: ['block-node:disk2', '/machine/peripheral-anon/device[0]', `${P}/vblk1`, `${P}/vscsi0`],
    };
    expect(await iothreadsJson(socket)).toEqual({ holders: 'reported', iothreads: demo });
    const probed = await runCli(['probe', '--socket', socket, 'query-iothreads/ret-type/holders', 'qom-list-get']);
    expect(probed).toMatchObject({ code: 0, stdout: 'query-iothreads/ret-type/holders: yes\nqom-list-get: yes\n' });

    const add = await runCli([
      'exec',
      '--socket',
      socket,
      'device_add',
      '{"driver": "virtio-blk-pci", "id": "vblk2", "bus": "rp4", "drive": "disk3", "iothread": "io0"}',
    ]);
    expect(add).toMatchObject({ code: 0, stdout: '{}\n' });
    expect((await iothreadsJson(socket)).iothreads.io0).toEqual([`${P}/vblk2`, ...demo.io0]);
    // Derived from QOM: the same devices, sorted; the export cannot be seen.
    expect(await iothreadsJson(socket, '--derived')).toEqual({
      holders: 'derived',
      iothreads: { io0: [`${P}/vblk0`, `${P}/vblk1`, `${P}/vblk2`], io1: demo.io1.slice(1).sort() },
    });

    const refused = await runCli(['exec', '--socket', socket, 'object-del', '{"id": "io0"}']);
    expect(refused).toMatchObject({
      code: 4,
      stderr: `GenericError: IOThread 'io0' is in use by ${P}/vblk2, ${P}/vblk1, ${P}/vblk0\n`,
    });

    const deleted: unknown[] = [];
    {
      await using watcher = await QmpClient.connect({ path: socket });
      watcher.onEvent((e) => deleted.push([e.event, e.data]), ['DEVICE_DELETED']);
      const del = await runCli(['exec', '--socket', socket, 'device_del', '{"id": "vblk2"}']);
      expect(del).toMatchObject({ code: 0, stdout: '{}\n' });
      for (let i = 0; i < 200 && deleted.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    }
    expect(deleted).toEqual([
      ['DEVICE_DELETED', { path: `${P}/vblk2/virtio-backend` }],
      ['DEVICE_DELETED', { device: 'vblk2', path: `${P}/vblk2` }],
    ]);
    expect(await iothreadsJson(socket)).toEqual({ holders: 'reported', iothreads: demo });

    served.child.kill('SIGINT');
    expect(await served.exit).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it.skipIf(corpus10 === null)(
    "over QEMU 10.0's schema (no holders there) it is a QEMU without the series: holders are derived",
    async () => {
      const socket = join(tempDir(), 'qmp.sock');
      const served = await serve(['--simulate', '--schema', join(corpus10!, 'qapi-schema.json'), '--socket', socket]);
      expect(await iothreadsJson(socket)).toEqual({
        holders: 'derived',
        iothreads: {
          io0: [`${P}/vblk0`, `${P}/vblk1`],
          io1: ['/machine/peripheral-anon/device[0]', `${P}/vblk1`, `${P}/vscsi0`],
        },
      });
      served.child.kill('SIGTERM');
      expect(await served.exit).toBe(0);
    },
  );

  it('refuses --simulate with --replay (2) and a schema without the commands it needs (1)', async () => {
    const dir = tempDir();
    const sock = join(dir, 'qmp.sock');
    writeFileSync(join(dir, 'replay.jsonl'), '');
    expect((await runCli(['serve', '--simulate', '--replay', join(dir, 'replay.jsonl'), '--socket', sock])).code).toBe(
      2,
    );
    writeFileSync(join(dir, 'tiny.json'), "{ 'command': 'query-status' }\n");
    const tiny = await runCli(['serve', '--simulate', '--schema', join(dir, 'tiny.json'), '--socket', sock]);
    expect(tiny.code).toBe(1);
    expect(tiny.stderr).toContain("--simulate: boot command 1 'object-add': not a simulated command of the schema");
  });
});
