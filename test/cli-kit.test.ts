/**
 * The CLI kit (src/cli/kit.ts, commands.ts): one help format with exit
 * statuses, `help COMMAND`, one-line usage errors naming the flag, the
 * same flags everywhere, --json documents, --watch timestamps and shell
 * completion written from the same tables the commands parse with.
 *
 * Most run in-process through main() with buffers for stdout and stderr
 * (the kit passes the streams in, so no spies).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bashScript, fishScript, zshScript } from '../src/cli/completion.js';
import { COMMAND_SPECS } from '../src/cli/commands.js';
import { formatHelp } from '../src/cli/kit.js';
import { main } from '../src/cli/main.js';
import { QmpTestServer } from '../src/testing/server.js';
import { ServerSchema } from '../src/testing/schema.js';
import { DEMO_MACHINE, holderTrackingQemu, simulatedVersion } from '../src/testing/simulate/index.js';
import { CapturedIO, builtCli, spawnCli } from './helpers/cli.js';
import { repoRoot } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-kit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = new CapturedIO();
  const code = await main(argv, io);
  return { code, stdout: io.out, stderr: io.err };
}

const NAMES = COMMAND_SPECS.map((c) => c.name);

describe('help', () => {
  it('help COMMAND prints that command help (the same as COMMAND --help), exit 0', async () => {
    for (const spec of COMMAND_SPECS) {
      const viaHelp = await run('help', spec.name);
      expect(viaHelp.code, spec.name).toBe(0);
      expect(viaHelp.stdout).toBe(formatHelp(spec));
      expect(viaHelp.stdout).toMatch(new RegExp(`^usage: qapi-ts ${spec.name} `));
      expect(viaHelp.stdout).toMatch(/\n\noptions:\n[^]*\n\nexit status: 0 /);
      const viaFlag = await run(spec.name, '--help');
      expect(viaFlag, spec.name).toEqual({ code: 0, stdout: viaHelp.stdout, stderr: '' });
    }
    const top = await run('help');
    expect(top.code).toBe(0);
    for (const name of [...NAMES, 'help']) expect(top.stdout).toContain(`\n  ${name} `);
    expect(top.stdout).toContain('exit status: 0 ok');
    expect(await run('help', 'nope')).toEqual({
      code: 2,
      stdout: '',
      stderr: "qapi-ts help: unknown command 'nope' (see 'qapi-ts help')\n",
    });
  });

  it('names every option a command parses, value names included, and -h', () => {
    for (const spec of COMMAND_SPECS) {
      const help = formatHelp(spec);
      for (const [name, o] of Object.entries(spec.options)) {
        const label = `--${name}${o.type === 'string' ? ` ${o.value}` : ''}`;
        expect(help, `${spec.name} ${name}`).toContain(label);
        if (o.short !== undefined) expect(help).toContain(`-${o.short}, --${name}`);
      }
      expect(help).toContain('-h, --help');
      for (const line of help.split('\n').slice(spec.usage.length)) expect(line.length, line).toBeLessThanOrEqual(80);
    }
  });
});

describe('usage errors', () => {
  it("are one line naming the flag, exit 2, for every command (not Node's message and the whole usage)", async () => {
    for (const name of NAMES) {
      const r = await run(name, '--no-such-flag');
      expect(r, name).toEqual({
        code: 2,
        stdout: '',
        stderr: `qapi-ts ${name}: unknown option '--no-such-flag' (see 'qapi-ts ${name} --help')\n`,
      });
    }
    expect((await run('generate', 'x.json', '-o')).stderr).toBe(
      "qapi-ts generate: option '--out' needs a value (see 'qapi-ts generate --help')\n",
    );
    expect((await run('check', '--json=yes', 'x.json')).stderr).toBe(
      "qapi-ts check: option '--json' takes no value (see 'qapi-ts check --help')\n",
    );
  });

  it('--qemu-version: the schema rules release where schemas are read; serve points at --greet-version', async () => {
    const rest: Record<string, string[]> = {
      check: ['x.json'],
      dump: ['x.json'],
      generate: ['x.json', '-o', join(dir, 'out')],
      verify: ['--schema', 'x.json', 't.jsonl'],
    };
    for (const [name, args] of Object.entries(rest)) {
      const r = await run(name, '--qemu-version', 'seven', ...args);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toContain("--qemu-version: 'seven' is not a QEMU release");
    }
    const serve = await run('serve', '--qemu-version', '9.2.1', '--socket', join(dir, 's.sock'));
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain('for the version in the greeting, use --greet-version 9.2.1');
  });

  it('generate -q leaves out the summary line, which is what its help says it does', async () => {
    const schema = join(dir, 'q.json');
    writeFileSync(schema, "{ 'struct': 'Point', 'data': { 'x': 'int' } }\n");
    const loud = await run('generate', schema, '-o', join(dir, 'loud'));
    expect(loud).toMatchObject({ code: 0, stdout: '' });
    expect(loud.stderr).toMatch(/^qapi-ts generate: \d+ files in /);
    expect(await run('generate', schema, '-o', join(dir, 'quiet'), '-q')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(formatHelp(COMMAND_SPECS.find((c) => c.name === 'generate')!)).toContain('leave out the closing summary');
  });
});

describe('--json', () => {
  const good = join(dir, 'good.json');
  const bad = join(dir, 'bad.json');
  writeFileSync(
    good,
    "{ 'struct': 'Point', 'data': { 'x': 'int', 'y': 'int' } }\n{ 'command': 'get-point', 'returns': 'Point' }\n",
  );
  writeFileSync(bad, "{ 'struct': 'Point', 'data': { 'x': 'nope' } }\n");

  it('check: one document, the error as data', async () => {
    expect(await run('check', '--json', good)).toEqual({
      code: 0,
      stdout: '{"valid":true,"warnings":[]}\n',
      stderr: '',
    });
    const r = await run('check', '--json', bad);
    expect(r).toMatchObject({ code: 1, stderr: '' });
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ valid: false, error: { file: bad, line: 1, column: null }, warnings: [] });
    expect(doc.error.reason).toContain("'nope'");
    expect(doc.error.message.endsWith(doc.error.reason)).toBe(true);
  });

  it('verify: counts, invalid messages, bad lines and diagnostics in one document', async () => {
    const transcript = join(dir, 'session.jsonl');
    writeFileSync(
      transcript,
      [
        { dir: 'client', msg: { execute: 'get-point', id: 1 } },
        { dir: 'server', msg: { return: { x: 1, y: 'two' }, id: 1 } },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n') + '\nnot json\n',
    );
    const r = await run('verify', '--json', '--schema', good, transcript);
    expect(r).toMatchObject({ code: 2, stderr: '' });
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      status: 2,
      transcript,
      result: { messages: 2, valid: 1, invalid: 1, badLines: [{ line: 3 }] },
    });
    expect(doc.result.invalidMessages).toEqual([
      {
        line: 2,
        dir: 'server',
        kind: 'return',
        label: "reply to 'get-point' (id 1)",
        findings: [{ path: 'return.y', message: 'expected int64 (an integer), got string', kind: 'other' }],
      },
    ]);
    expect(doc.diagnostics.join('\n')).toContain(`${transcript}:3:`);
    // Failing before any message is judged: still one document, status and why.
    const missing = await run('verify', '--json', '--schema', good, join(dir, 'none.jsonl'));
    expect(missing.code).toBe(2);
    const none = JSON.parse(missing.stdout);
    expect(none).toMatchObject({ status: 2, result: null });
    expect(none.diagnostics[0]).toContain('cannot read');
  });

  it('probe: answers, and a malformed query as an error in the document', async () => {
    const schema = join(repoRoot, 'qapi/qapi-schema.json');
    const r = await run('probe', '--json', '--schema', schema, 'query-iothreads/ret-type/poll-max-ns', 'nope');
    expect(r).toEqual({
      code: 1,
      stderr: '',
      stdout:
        '{"status":1,"answers":[{"query":"query-iothreads/ret-type/poll-max-ns","supported":true},' +
        '{"query":"nope","supported":false}],"error":null}\n',
    });
    const malformed = await run('probe', '--json', '--schema', schema, 'query-iothreads//');
    expect(malformed.code).toBe(2);
    expect(JSON.parse(malformed.stdout)).toMatchObject({
      status: 2,
      answers: null,
      error: expect.stringMatching(/^qapi-ts probe: /),
    });
  });
});

describe('completion', () => {
  const scripts = { bash: bashScript(), zsh: zshScript(), fish: fishScript() };

  it('qapi-ts completion SHELL prints the script; no shell or an unknown one is a usage error', async () => {
    for (const [shell, script] of Object.entries(scripts)) {
      expect(await run('completion', shell)).toEqual({ code: 0, stdout: script, stderr: '' });
    }
    expect((await run('completion')).code).toBe(2);
    expect((await run('completion', 'tcsh')).stderr).toBe(
      "qapi-ts completion: unknown shell 'tcsh' (bash, zsh, fish) (see 'qapi-ts completion --help')\n",
    );
  });

  it('lists every command and every option of each', () => {
    for (const [shell, script] of Object.entries(scripts)) {
      for (const spec of COMMAND_SPECS) {
        expect(script, `${shell} ${spec.name}`).toMatch(new RegExp(`\\b${spec.name}\\b`));
        for (const [name, o] of Object.entries(spec.options)) {
          const long = shell === 'fish' ? `-l ${name} ` : `--${name}`;
          expect(script, `${shell} ${spec.name} --${name}`).toContain(long);
          if (o.short !== undefined) expect(script).toContain(shell === 'fish' ? `-s ${o.short} ` : `-${o.short}`);
        }
      }
    }
  });

  /** `SHELL -n` on the script: it parses. A shell that is not installed fails the test under CI. */
  function parses(shell: string, script: string): void {
    const file = join(dir, `completion.${shell}`);
    writeFileSync(file, script);
    const r = spawnSync(shell, ['-n', file], { encoding: 'utf8', timeout: 10_000 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI && shell !== 'bash') {
      process.stderr.write(`SKIPPING ${shell} -n: ${shell} is not installed\n`);
      return;
    }
    expect(r.error).toBeUndefined();
    expect([r.status, r.stderr], shell).toEqual([0, '']);
  }

  it('bash -n, zsh -n and fish -n accept the scripts', () => {
    for (const [shell, script] of Object.entries(scripts)) parses(shell, script);
  });

  it('bash completes commands, options and option values from the tables', () => {
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const r = spawnSync(
        'bash',
        [
          '-c',
          `${scripts.bash}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ` +
            '_qapi_ts; printf "%s\\n" "${COMPREPLY[@]}"',
        ],
        { encoding: 'utf8', timeout: 10_000, cwd: dir },
      );
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(complete('qapi-ts io')).toEqual(['iothreads']);
    expect(complete('qapi-ts help ser')).toEqual(['serve']);
    expect(complete('qapi-ts serve --gr')).toEqual(['--greet-version']);
    expect(complete('qapi-ts generate --int64 b')).toEqual(['bigint']);
    expect(complete('qapi-ts completion f')).toEqual(['fish']);
  });
});

describe.runIf(builtCli('bundle/cli/main.js', 'iothreads --watch timestamps'))('iothreads --watch', () => {
  it('heads each picture with the time of its refresh; --json puts it in "time"', async () => {
    const schema = await ServerSchema.load();
    const version = simulatedVersion(schema);
    const server = await QmpTestServer.create({ schema, ...(version ? { version: { ...version } } : {}) });
    server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
    const socket = join(dir, 'watch.sock');
    await server.listen({ path: socket });
    try {
      for (const json of [false, true]) {
        const before = Date.now();
        const cli = spawnCli(['iothreads', '--socket', socket, '--watch', '0.05', ...(json ? ['--json'] : [])]);
        for (let i = 0; i < 400 && !cli.stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 25));
        cli.child.kill('SIGINT');
        expect(await cli.exited).toBe(0);
        const first = cli.stdout.split('\n')[0]!;
        const time = json ? (JSON.parse(first) as { time: string }).time : first;
        expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(Date.parse(time)).toBeGreaterThanOrEqual(before - 1000);
        if (!json) expect(cli.stdout.split('\n')[1]).toMatch(/^IOTHREAD /);
        else
          expect(JSON.parse(first)).toMatchObject({ holders: 'reported', iothreads: [{ id: 'io0' }, { id: 'io1' }] });
        expect(cli.stderr).toBe('');
      }
    } finally {
      await server.close();
    }
  });
});
