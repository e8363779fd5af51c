/**
 * Every file a command reads (transcripts for `verify` and `serve
 * --replay`, saved introspection data for `probe --introspection`, and
 * schemas) is read by the same rule: regular files only, never blocking on
 * a FIFO, never more than the documented cap (src/read-file.ts).
 *
 * The CLI runs are bounded: each gets 20 s and a 3 GB address space, so a
 * reader that blocks on a FIFO or reads /dev/zero without end fails the
 * test instead of hanging it or eating the machine.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  INTROSPECTION_FILE,
  InputFileError,
  MAX_INTROSPECTION_BYTES,
  MAX_TRANSCRIPT_BYTES,
  readInputFile,
  readInputStream,
  TRANSCRIPT_FILE,
} from '../src/read-file.js';
import { BIN, builtCli, type CliRun } from './helpers/cli.js';
import { repoRoot } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-read-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

/** A sparse file of `bytes` bytes (no disk used): past a cap without writing it. */
function sparse(name: string, bytes: number): string {
  const path = join(dir, name);
  closeSync(openSync(path, 'w'));
  truncateSync(path, bytes);
  return path;
}

function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputFileError);
    return { code: (e as InputFileError).code, message: (e as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('readInputFile', () => {
  it('reads a regular file', () => {
    const path = join(dir, 'ok.jsonl');
    writeFileSync(path, 'hello\n');
    expect(readInputFile(path, TRANSCRIPT_FILE).toString()).toBe('hello\n');
  });

  it('refuses a FIFO at once, without waiting for a writer', () => {
    expect(refusal(() => readInputFile(fifo, TRANSCRIPT_FILE))).toEqual({
      code: 'ENOTREG',
      message: `${fifo}: Not a regular file (a FIFO)`,
    });
  });

  it('refuses devices and directories, and names missing files', () => {
    expect(refusal(() => readInputFile('/dev/zero', TRANSCRIPT_FILE))).toEqual({
      code: 'ENOTREG',
      message: '/dev/zero: Not a regular file (a character device)',
    });
    expect(refusal(() => readInputFile(dir, TRANSCRIPT_FILE))).toEqual({
      code: 'EISDIR',
      message: `${dir}: Is a directory`,
    });
    const missing = join(dir, 'missing.json');
    expect(refusal(() => readInputFile(missing, TRANSCRIPT_FILE))).toEqual({
      code: 'ENOENT',
      message: `${missing}: No such file or directory`,
    });
  });

  it("refuses a file over its kind's cap before reading it", () => {
    const big = sparse('big.json', MAX_INTROSPECTION_BYTES + 1);
    expect(refusal(() => readInputFile(big, INTROSPECTION_FILE))).toEqual({
      code: 'EFBIG',
      message: `${big}: File too large (introspection data may be at most 16 MiB)`,
    });
    const atCap = sparse('at-cap.json', MAX_INTROSPECTION_BYTES);
    expect(readInputFile(atCap, INTROSPECTION_FILE).length).toBe(MAX_INTROSPECTION_BYTES);
  });

  it('counts bytes while reading: a /proc file that claims to be empty still meets the cap', () => {
    // /proc/self/maps has size 0 in stat and hundreds of bytes when read.
    const tiny = { what: 'a test file', maxBytes: 16 };
    expect(refusal(() => readInputFile('/proc/self/maps', tiny))).toEqual({
      code: 'EFBIG',
      message: '/proc/self/maps: File too large (a test file may be at most 16 bytes)',
    });
    expect(readInputFile('/proc/version', TRANSCRIPT_FILE).toString()).toBe(readFileSync('/proc/version', 'utf8'));
  });

  it('bounds a stream (standard input) too', async () => {
    const { Readable } = await import('node:stream');
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(4096));
      },
    });
    await expect(
      readInputStream(endless, 'standard input', { what: 'a transcript', maxBytes: 100_000 }),
    ).rejects.toThrow('standard input: File too large (a transcript may be at most 100000 bytes)');
    expect(endless.destroyed).toBe(true);
    const short = Readable.from([Buffer.from('a'), Buffer.from('b')]);
    expect((await readInputStream(short, '-', TRANSCRIPT_FILE)).toString()).toBe('ab');
  });
});

/** Runs the CLI with 20 s and a 3 GB address space at most; stdin from `stdin` if given. */
function boundedCli(args: readonly string[], stdin?: string): Promise<CliRun> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const redirect = stdin === undefined ? '' : ` < '${stdin}'`;
  return new Promise((resolve) => {
    execFile(
      '/bin/sh',
      ['-c', `ulimit -v 3000000; exec ${quoted}${redirect}`],
      { timeout: 20_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.runIf(builtCli('bundle/cli/main.js', 'file reader CLI tests'))('every command that reads a file', () => {
  const schema = join(repoRoot, 'qapi/qapi-schema.json');
  const bigTranscript = sparse('big.jsonl', MAX_TRANSCRIPT_BYTES + 1);
  const bigIntrospection = sparse('big-introspection.json', MAX_INTROSPECTION_BYTES + 1);

  // Each command, how it names the file in its message, and its exit status.
  const readers: {
    name: string;
    run: (file: string) => string[];
    code: number;
    prefix: (file: string) => string;
    kind: string;
  }[] = [
    {
      name: 'verify',
      run: (f) => ['verify', '--schema', schema, f],
      code: 2,
      prefix: (f) => `qapi-ts verify: cannot read ${f}: `,
      kind: 'a transcript may be at most 256 MiB',
    },
    {
      name: 'serve --replay',
      run: (f) => ['serve', '--socket', join(dir, 'serve.sock'), '--replay', f],
      code: 1,
      prefix: (f) => `qapi-ts serve: --replay ${f}: `,
      kind: 'a transcript may be at most 256 MiB',
    },
    {
      name: 'probe --introspection',
      run: (f) => ['probe', '--introspection', f, 'query-status'],
      code: 2,
      prefix: (f) => `qapi-ts probe: --introspection ${f}: `,
      kind: 'introspection data may be at most 16 MiB',
    },
  ];

  for (const reader of readers) {
    it(`${reader.name}: a FIFO, /dev/zero and an oversized file are refused at once with exit ${reader.code}`, async () => {
      const big = reader.name.startsWith('probe') ? bigIntrospection : bigTranscript;
      const cases: [string, string][] = [
        [fifo, 'Not a regular file (a FIFO)'],
        ['/dev/zero', 'Not a regular file (a character device)'],
        [big, `File too large (${reader.kind})`],
      ];
      const runs = await Promise.all(cases.map(([file]) => boundedCli(reader.run(file))));
      runs.forEach((run, i) => {
        const [file, reason] = cases[i]!;
        expect({ file, ...run }).toEqual({
          file,
          code: reader.code,
          stdout: '',
          stderr: `${reader.prefix(file)}${reason}\n`,
        });
      });
    });
  }

  it('the schema reader follows the same rule (check)', async () => {
    const runs = await Promise.all([fifo, '/dev/zero'].map((file) => boundedCli(['check', file])));
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/can't read schema file '.*': Not a regular file \(a (FIFO|character device)\)/);
    }
  });

  it('generate -o DIR: a FIFO or device where a file would go is an error (exit 1), one among stale files is left alone', async () => {
    const out = join(dir, 'gen-fifo');
    mkdirSync(out);
    execFileSync('mkfifo', [join(out, 'index.ts')]);
    const blocked = await boundedCli(['generate', schema, '-o', out, '-q']);
    expect(blocked).toEqual({
      code: 1,
      stdout: '',
      stderr: `qapi-ts generate: ${join(out, 'index.ts')}: Not a regular file (a FIFO)\n`,
    });
    const device = join(dir, 'gen-device');
    mkdirSync(device);
    symlinkSync('/dev/zero', join(device, 'index.ts'));
    expect(await boundedCli(['generate', schema, '-o', device, '-q'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `qapi-ts generate: ${join(device, 'index.ts')}: Not a regular file (a character device)\n`,
    });
    // Not a name generate writes: looked at for our header (regular files only), kept.
    const stale = join(dir, 'gen-stale');
    mkdirSync(stale);
    execFileSync('mkfifo', [join(stale, 'old.ts')]);
    symlinkSync('/dev/zero', join(stale, 'zero.ts'));
    expect(await boundedCli(['generate', schema, '-o', stale, '-q'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readdirSync(stale)).toEqual(expect.arrayContaining(['old.ts', 'zero.ts', 'index.ts']));
  });

  it('verify - reads standard input, bounded: < /dev/zero ends with "File too large"', async () => {
    const run = await boundedCli(['verify', '--schema', schema, '-'], '/dev/zero');
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'qapi-ts verify: cannot read standard input: File too large (a transcript may be at most 256 MiB)\n',
    });
  });
});
