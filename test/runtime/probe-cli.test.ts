/**
 * `qapi-ts probe` without a QEMU: on saved introspection data and on a
 * QAPI schema; usage errors and malformed queries exit 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtCli, runCli } from '../helpers/cli.js';
import type { Rule } from '../../src/testing/index.js';
import { listeningServer } from '../helpers/socket-server.js';
import { sharedDir } from '../helpers/shared.js';
import { TINY_INTROSPECTION as DATA } from '../helpers/probe-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe.runIf(builtCli('src/cli/probe-command.js', 'qapi-ts probe CLI tests'))('qapi-ts probe (offline)', () => {
  it('answers from a saved reply (the array, or the whole {"return": …} message)', async () => {
    for (const text of [JSON.stringify(DATA), JSON.stringify({ return: DATA, id: 1 })]) {
      const run = await runCli([
        'probe',
        '--introspection',
        file('data.json', text),
        'query-iothreads/ret-type/poll-max-ns/!int',
        'query-iothreads/ret-type/holders',
      ]);
      expect(run).toEqual({
        code: 1,
        stdout: 'query-iothreads/ret-type/poll-max-ns/!int: yes\nquery-iothreads/ret-type/holders: no\n',
        stderr: '',
      });
    }
    const all = await runCli(['probe', '--introspection', file('data.json', JSON.stringify(DATA)), 'query-iothreads']);
    expect(all).toMatchObject({ code: 0, stdout: 'query-iothreads: yes\n' });
  });

  it('exit 2: bad usage, unreadable data, malformed queries', async () => {
    const data = file('data.json', JSON.stringify(DATA));
    const cases: [string[], RegExp][] = [
      [['probe', 'query-status'], /exactly one of --socket, --tcp, --introspection or --schema/],
      [['probe', '--introspection', data, '--socket', '/x', 'query-status'], /exactly one of/],
      [['probe', '--introspection', data], /at least one QUERY/],
      [['probe', '--introspection', data, '--define', 'X', 'q'], /--define needs --schema/],
      [['probe', '--bogus'], /^qapi-ts probe: unknown option '--bogus' \(see 'qapi-ts probe --help'\)\n$/],
      [
        ['probe', '--introspection', join(dir, 'missing.json'), 'q'],
        /--introspection .*missing\.json: No such file or directory\n$/,
      ],
      // Found while probing rather than at load: the same status (it was 3).
      [
        [
          'probe',
          '--introspection',
          file(
            'dangling.json',
            '[{"name": "c", "meta-type": "command", "arg-type": "nowhere", "ret-type": "nowhere", "allow-oob": false}]',
          ),
          'c/arg-type/x',
        ],
        /--introspection .*dangling\.json: .*'nowhere' is referenced but not defined/,
      ],
      [['probe', '--introspection', file('bad.json', '{"return": 1}'), 'q'], /expected an array of SchemaInfo objects/],
      [
        ['probe', '--introspection', file('junk.json', 'not json'), 'q'],
        /--introspection .*junk\.json: invalid literal at position 0/,
      ],
      [
        ['probe', '--introspection', data, 'query-iothreads', 'query-iothreads/$x/y'],
        /nothing may follow the terminal step '\$x'/,
      ],
      [
        ['probe', '--schema', file('bad-schema.json', "{ 'command': 'x', 'bogus': 'y' }"), 'x'],
        /--schema .*bad-schema\.json:\n[^]*bad-schema\.json:1: command has unknown key 'bogus'/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('--help exits 0 and documents the step kinds', async () => {
    const run = await runCli(['probe', '--help']);
    expect(run.code).toBe(0);
    for (const s of ['*NAME', '+VALUE', '^VALUE', '!JSONTYPE', '$FEATURE', 'exit status'])
      expect(run.stdout).toContain(s);
  });

  it('exit 4 when QEMU refuses query-qmp-schema, 3 when its reply is not introspection data; --tcp works', async () => {
    // Raw replies: the server would refuse to send what is not SchemaInfo.
    type AnyRule = Pick<Rule<never, never, never>, 'error' | 'raw'>;
    const answers: Record<string, (rule: AnyRule) => void> = {
      refuse: (rule) => rule.error('CommandNotFound', 'The command query-qmp-schema has not been found'),
      garbage: (rule) => rule.raw((id) => JSON.stringify({ return: [{ name: 'x' }, { name: 'x' }], id })),
      good: (rule) => rule.raw((id) => JSON.stringify({ return: DATA, id })),
    };
    const expected = {
      refuse: [4, /CommandNotFound/],
      garbage: [3, /name 'x' is used twice/],
      good: [0, /^$/],
    } as const;
    for (const [mode, answer] of Object.entries(answers)) {
      const server = await listeningServer({ tcp: mode === 'good' });
      answer(server.server.on('query-qmp-schema') as unknown as AnyRule);
      try {
        const target = mode === 'good' ? ['--tcp', `127.0.0.1:${server.port}`] : ['--socket', server.path];
        const run = await runCli(['probe', ...target, 'query-iothreads']);
        const [code, stderr] = expected[mode as keyof typeof expected];
        expect(run.code, mode).toBe(code);
        expect(run.stderr, mode).toMatch(stderr);
      } finally {
        await server.close();
      }
    }
  });

  const corpus = sharedDir('corpus');
  it.runIf(corpus !== null)(
    'answers on a QAPI schema, introspected as QEMU would; --define selects conditions',
    async () => {
      const schema = join(corpus ?? '', 'qemu-10.0/qapi/qapi-schema.json');
      const q = ['query-blockstats/ret-type/stats/zone_append_operations', 'blockdev-add/arg-type/+file/aio/^io_uring'];
      const all = await runCli(['probe', '--schema', schema, ...q]);
      expect(all).toMatchObject({ code: 0, stdout: `${q[0]}: yes\n${q[1]}: yes\n` });
      const none = await runCli(['probe', '--schema', schema, '--define', 'CONFIG_POSIX', ...q]);
      expect(none).toMatchObject({ code: 1, stdout: `${q[0]}: yes\n${q[1]}: no\n` });
    },
  );
});
