/**
 * `qapi-ts serve` as users run it (the built CLI): a client talks to it
 * over a unix socket or TCP, --replay answers from a recorded session,
 * SIGINT and SIGTERM stop it cleanly, and bad input gets the right status.
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
      expect(await client.queryVersion()).toEqual({ qemu: { major: 10, minor: 1, micro: 0 }, package: 'qapi-ts test server' });
      const e = await qmp.execute('qom-list', { path: 5 }).catch((x: unknown) => x);
      expect((e as QmpCommandError).desc).toBe("Invalid parameter type for 'path', expected: string");
      await qmp.execute('query-status').catch(() => {});
    }
    for (let i = 0; i < 100 && !served.stderr().includes('unexpected command'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(served.stderr()).toContain("unexpected command 'query-status'");
    served.child.kill('SIGINT');
    expect(await served.exit).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('serves TCP on a free port and stops on SIGTERM', async () => {
    const served = await serve(['--tcp', '127.0.0.1:0', '--qemu-version', '9.2.1']);
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
    const served = await serve(['--schema', join(corpus!, 'qapi-schema.json'), '--socket', path, '--replay', join(transcripts!, 'system-x86_64.jsonl')]);
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
    expect((await runCli(['serve', '--socket', sock, '--qemu-version', 'seven'])).code).toBe(2);
    writeFileSync(join(dir, 'bad.json'), "{ 'command': 'Bad_Name' }\n");
    const bad = await runCli(['serve', '--schema', join(dir, 'bad.json'), '--socket', sock]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.json');
    writeFileSync(join(dir, 'bad.jsonl'), 'not json\n');
    const badReplay = await runCli(['serve', '--socket', sock, '--replay', join(dir, 'bad.jsonl')]);
    expect(badReplay.code).toBe(1);
    expect(badReplay.stderr).toContain('line 1: bad JSON');
    expect((await runCli(['serve', '--socket', sock, '--replay', join(dir, 'missing.jsonl')])).code).toBe(1);
    const cannot = await runCli(['serve', '--socket', join(dir, 'no-such-dir', 'qmp.sock')]);
    expect(cannot.code).toBe(3);
    expect(cannot.stderr).toContain('cannot listen');
  });
});
