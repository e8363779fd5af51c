/**
 * What bin/qapi-ts runs: the bundle of scripts/bundle-cli.mjs, with zod
 * loaded through V8's code cache (src/cli/code-cache.ts). The CLI works
 * from the bundle alone, writes the cache once and then uses it, and a
 * corrupt, stale or unwritable cache never changes what a command does.
 *
 * Each load runs in a fresh node process: within one process V8 keeps
 * compiled scripts in memory and would not look at a cache file at all.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cacheDirs } from '../src/cli/code-cache.js';
import { builtCli } from './helpers/cli.js';
import { repoRoot } from './helpers/shared.js';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest();

/** Whether a cache file is a SHA-256 of its data followed by the data. */
function wellFormed(path: string): boolean {
  const file = readFileSync(path);
  return file.length > 32 && sha256(file.subarray(32)).equals(file.subarray(0, 32));
}

describe('cacheDirs', () => {
  afterEach(() => vi.unstubAllEnvs());

  it("is the file's directory, then the user's cache directory ($XDG_CACHE_HOME when absolute)", () => {
    vi.stubEnv('XDG_CACHE_HOME', '/var/cache/me');
    expect(cacheDirs('/opt/qapi-ts/dist/bundle/zod-0123456789ab.cjs')).toEqual(['/opt/qapi-ts/dist/bundle', '/var/cache/me/qapi-ts']);
    for (const xdg of ['', 'relative/cache']) {
      vi.stubEnv('XDG_CACHE_HOME', xdg);
      expect(cacheDirs('/b/z.cjs')).toEqual(['/b', join(homedir(), '.cache/qapi-ts')]);
    }
  });
});

describe.runIf(builtCli('src/cli/code-cache.js', 'code cache tests'))('loadCommonJs (src/cli/code-cache.ts)', () => {
  let tmp = '';
  const loader = join(repoRoot, 'dist/src/cli/code-cache.js');

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-code-cache-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** A CommonJS file in a fresh directory; its answer depends on `require` and `__dirname` working. */
  function moduleFile(name: string, body = 'exports.answer = () => 6 * 7;'): string {
    const dir = join(tmp, name);
    mkdirSync(dir);
    const file = join(dir, 'lib.cjs');
    writeFileSync(file, `const { basename } = require('node:path');\n${body}\nexports.dir = basename(__dirname);\n`);
    return file;
  }

  /** Loads `file` in a new process with cache directories `dirs`, saving the cache; what happened. */
  function load(file: string, dirs: string[]): { cache: string; answer: number; dir: string; saved: string | null } {
    const script = `
      import { loadCommonJs } from ${JSON.stringify(loader)};
      const m = loadCommonJs(${JSON.stringify(file)}, ${JSON.stringify(dirs)});
      console.log(JSON.stringify({ cache: m.cache, answer: m.exports.answer(), dir: m.exports.dir, saved: m.save() ?? null }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return JSON.parse(run.stdout) as { cache: string; answer: number; dir: string; saved: string | null };
  }

  it('compiles without a cache, writes one beside the file, then compiles from it', () => {
    const file = moduleFile('plain');
    const dir = join(tmp, 'plain');
    const cache = join(dir, 'lib.cjs.cache');
    expect(load(file, [dir])).toEqual({ cache: 'miss', answer: 42, dir: 'plain', saved: cache });
    expect(wellFormed(cache)).toBe(true);
    expect(load(file, [dir])).toEqual({ cache: 'hit', answer: 42, dir: 'plain', saved: cache });
  });

  it('ignores a corrupt cache file and replaces it', () => {
    const file = moduleFile('corrupt');
    const dir = join(tmp, 'corrupt');
    const cache = join(dir, 'lib.cjs.cache');
    load(file, [dir]);
    const bytes = readFileSync(cache);
    // V8 does not check a cache's contents: run as they are, these bytes could crash the process.
    for (let i = 64; i < bytes.length; i += 97) bytes[i]! ^= 0x5a;
    writeFileSync(cache, bytes);
    expect(load(file, [dir])).toEqual({ cache: 'miss', answer: 42, dir: 'corrupt', saved: cache });
    expect(wellFormed(cache)).toBe(true);
    for (const junk of [Buffer.alloc(0), Buffer.from('not a cache'), readFileSync(cache).subarray(0, 100)]) {
      writeFileSync(cache, junk);
      expect(load(file, [dir]).cache).toBe('miss');
    }
  });

  it('reports a cache V8 refuses (made for other code) as rejected, and replaces it', () => {
    const file = moduleFile('stale');
    const dir = join(tmp, 'stale');
    const cache = join(dir, 'lib.cjs.cache');
    load(moduleFile('other', 'exports.answer = () => 7; exports.more = [1, 2, 3];'), [join(tmp, 'other')]);
    cpSync(join(tmp, 'other/lib.cjs.cache'), cache);
    const before = readFileSync(cache);
    expect(load(file, [dir])).toEqual({ cache: 'rejected', answer: 42, dir: 'stale', saved: cache });
    expect(readFileSync(cache).equals(before)).toBe(false);
    expect(load(file, [dir]).cache).toBe('hit');
  });

  it('falls back to a private cache directory when the first cannot be written', () => {
    const file = moduleFile('fallback');
    writeFileSync(join(tmp, 'a-file'), '');
    const unwritable = join(tmp, 'a-file/dir');
    const user = join(tmp, 'user-cache/qapi-ts');
    const cache = join(user, 'lib.cjs.cache');
    expect(load(file, [unwritable, user])).toEqual({ cache: 'miss', answer: 42, dir: 'fallback', saved: cache });
    expect(statSync(user).mode & 0o777).toBe(0o700);
    expect(load(file, [unwritable, user]).cache).toBe('hit');
  });

  it('neither reads nor writes a fallback directory that others can write to', () => {
    const file = moduleFile('shared-dir');
    const shared = join(tmp, 'shared-cache');
    expect(load(file, [join(tmp, 'a-file/dir'), shared]).saved).toBe(join(shared, 'lib.cjs.cache'));
    chmodSync(shared, 0o777);
    expect(load(file, [join(tmp, 'a-file/dir'), shared])).toEqual({ cache: 'miss', answer: 42, dir: 'shared-dir', saved: null });
  });

  it('runs without any cache when nothing can be written', () => {
    const file = moduleFile('nowhere');
    writeFileSync(join(tmp, 'another-file'), '');
    const dirs = [join(tmp, 'another-file/a'), join(tmp, 'another-file/b')];
    expect(load(file, dirs)).toEqual({ cache: 'miss', answer: 42, dir: 'nowhere', saved: null });
    expect(load(file, dirs).cache).toBe('miss');
  });
});

describe.runIf(builtCli('bundle/cli/main.js', 'CLI bundle tests'))('bin/qapi-ts runs the bundle', () => {
  let tmp = '';
  let bundle = '';
  let zodCache = '';

  /** Runs the copied launcher (no dist/src, no node_modules beside it). */
  function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [join(tmp, 'pkg/bin/qapi-ts'), ...args], { cwd: tmp, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  /** `exec` on a socket that does not exist: loads zod (arguments are checked before connecting), exits 3. */
  const exec = () => run('exec', '--socket', join(tmp, 'no.sock'), 'query-status');
  const expectExec = (r: ReturnType<typeof run>) => {
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^QMP_ERR_CONNECT: .*no\.sock/);
  };

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-bundle-'));
    const pkg = join(tmp, 'pkg');
    cpSync(join(repoRoot, 'bin/qapi-ts'), join(pkg, 'bin/qapi-ts'));
    cpSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(repoRoot, 'dist/bundle'), join(pkg, 'dist/bundle'), { recursive: true, filter: (src) => !src.endsWith('.cache') });
    bundle = join(pkg, 'dist/bundle');
    const zod = readdirSync(bundle).find((f) => /^zod-[0-9a-f]{12}\.cjs$/.test(f));
    expect(zod).toBeDefined();
    zodCache = join(bundle, `${zod!}.cache`);
    writeFileSync(join(tmp, 'schema.json'), "{ 'struct': 'Point', 'data': { 'x': 'int', 'y': 'int' } }\n{ 'command': 'get-point', 'returns': 'Point' }\n");
    const session = [
      { dir: 'client', msg: { execute: 'get-point', id: 1 } },
      { dir: 'server', msg: { return: { x: 1, y: 'two' }, id: 1 } },
    ];
    writeFileSync(join(tmp, 'session.jsonl'), session.map((m) => JSON.stringify(m) + '\n').join(''));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('names the zod file by its contents, so a rebuilt bundle never meets an old cache', () => {
    const name = zodCache.slice(bundle.length + 1, -'.cjs.cache'.length);
    const hash = createHash('sha256').update(readFileSync(join(bundle, `${name}.cjs`))).digest('hex');
    expect(name).toBe(`zod-${hash.slice(0, 12)}`);
  });

  it('works from the bundle alone', () => {
    expect(run('--version')).toEqual({ status: 0, stdout: `${JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version}\n`, stderr: '' });
    expect(run('check', 'schema.json')).toEqual({ status: 0, stdout: '', stderr: '' });
    // Validators generated at run time import the bundle's own support module (and zod from it).
    const verify = run('verify', '--schema', 'schema.json', 'session.jsonl');
    expect(verify.status).toBe(1);
    expect(verify.stdout).toContain('2 messages, 1 valid, 1 invalid');
  });

  it('writes the code cache of zod once and then uses it', () => {
    rmSync(zodCache, { force: true });
    expectExec(exec());
    expect(wellFormed(zodCache)).toBe(true);
    const written = statSync(zodCache);
    expectExec(exec());
    // A run that did not use the cache (missing, corrupt, rejected) writes it anew.
    const after = statSync(zodCache);
    expect([after.ino, after.mtimeMs]).toEqual([written.ino, written.mtimeMs]);
  });

  it('ignores a corrupt or stale code cache and writes a good one', () => {
    expectExec(exec());
    const good = readFileSync(zodCache);
    const corrupt = Buffer.from(good);
    for (let i = 64; i < corrupt.length; i += 101) corrupt[i]! ^= 0xff;
    // Stale: well-formed, but V8's cache of other code.
    const other = join(tmp, 'other.cjs');
    writeFileSync(other, 'exports.x = 1;\n');
    const made = spawnSync(process.execPath, ['--input-type=module', '-e', `import { loadCommonJs } from ${JSON.stringify(join(repoRoot, 'dist/src/cli/code-cache.js'))}; loadCommonJs(${JSON.stringify(other)}).save();`]);
    expect(made.status).toBe(0);
    for (const bad of [corrupt, readFileSync(`${other}.cache`), Buffer.from('junk')]) {
      writeFileSync(zodCache, bad);
      expectExec(exec());
      expect(wellFormed(zodCache)).toBe(true);
      expect(readFileSync(zodCache).equals(bad)).toBe(false);
    }
  });
});
