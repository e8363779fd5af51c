/**
 * What bin/qapi-ts runs: the bundle of scripts/bundle-cli.mjs. A copy of
 * only the launcher, package.json and dist/bundle (no dist/src, no
 * node_modules beside it) runs the commands, so the bundle is what runs and
 * it holds everything it needs, zod included.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCli } from './helpers/cli.js';
import { repoRoot } from './helpers/shared.js';

describe.runIf(builtCli('bundle/cli/main.js', 'CLI bundle tests'))('bin/qapi-ts runs the bundle', () => {
  let tmp = '';

  /** Runs the copied launcher. */
  function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [join(tmp, 'pkg/bin/qapi-ts'), ...args], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-bundle-'));
    const pkg = join(tmp, 'pkg');
    cpSync(join(repoRoot, 'bin/qapi-ts'), join(pkg, 'bin/qapi-ts'));
    cpSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(repoRoot, 'dist/bundle'), join(pkg, 'dist/bundle'), { recursive: true });
    writeFileSync(
      join(tmp, 'schema.json'),
      "{ 'struct': 'Point', 'data': { 'x': 'int', 'y': 'int' } }\n{ 'command': 'get-point', 'returns': 'Point' }\n",
    );
    const session = [
      { dir: 'client', msg: { execute: 'get-point', id: 1 } },
      { dir: 'server', msg: { return: { x: 1, y: 'two' }, id: 1 } },
    ];
    writeFileSync(join(tmp, 'session.jsonl'), session.map((m) => JSON.stringify(m) + '\n').join(''));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('works from the bundle alone', () => {
    expect(run('--version')).toEqual({
      status: 0,
      stdout: `${JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version}\n`,
      stderr: '',
    });
    expect(run('check', 'schema.json')).toEqual({ status: 0, stdout: '', stderr: '' });
    // Validators generated at run time import the bundle's own support module (and zod from it).
    const verify = run('verify', '--schema', 'schema.json', 'session.jsonl');
    expect(verify.status).toBe(1);
    expect(verify.stdout).toContain('2 messages, 1 valid, 1 invalid');
    // exec --schema checks arguments with the validators generated for the file (zod) before it connects.
    const exec = run('exec', '--socket', join(tmp, 'no.sock'), 'query-status');
    expect(exec.status).toBe(3);
    expect(exec.stderr).toMatch(/^qapi-ts exec: QMP_ERR_CONNECT: .*no\.sock/);
    const refused = run(
      'exec',
      '--socket',
      join(tmp, 'no.sock'),
      '--schema',
      'schema.json',
      'get-point',
      '{"bogus": 1}',
    );
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/bogus.*--no-validate/s);
  });
});

describe('bin/qapi-ts in a checkout that was never built', () => {
  it('says in one line how to build, instead of a stack trace', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-unbuilt-'));
    try {
      cpSync(join(repoRoot, 'bin/qapi-ts'), join(tmp, 'bin/qapi-ts'));
      cpSync(join(repoRoot, 'package.json'), join(tmp, 'package.json'));
      const r = spawnSync(process.execPath, [join(tmp, 'bin/qapi-ts'), '--version'], {
        cwd: tmp,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'qapi-ts: not built yet (no dist/bundle): run `npm ci && npm run build` in the checkout first\n',
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
