/**
 * The CLI entry points for a QEMU's own schema, against the test server (a
 * fast double answering query-qmp-schema for our qapi/ schema; the real
 * QEMUs are in live.integration.ts): generate and verify --from-socket /
 * --introspection, with SCHEMA too, exec's checks against the server's own
 * schema, and the statuses of what goes wrong.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpTestServer } from '../../src/testing/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

const OURS = join(repoRoot, 'qapi/qapi-schema.json');

describe.runIf(builtCli('src/cli/main.js', 'introspection CLI tests'))('CLI: a QEMU as the schema source', () => {
  let dir = '';
  let server: QmpTestServer;
  let refusing: QmpTestServer;
  let socket = '';
  let refusingSocket = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-ts-introspection-cli-'));
    server = await QmpTestServer.create({ schema: OURS });
    server.on('blockdev-add', () => ({}));
    server.on('query-iothreads', () => [
      {
        id: 'io0',
        'thread-id': 4242,
        'poll-max-ns': 32768,
        'poll-grow': 0,
        'poll-shrink': 0,
        'aio-max-batch': 0,
        holders: [],
      },
    ]);
    socket = join(dir, 'qmp.sock');
    await server.listen({ path: socket });
    refusing = await QmpTestServer.create({ schema: OURS });
    refusing.on('query-qmp-schema').error('CommandNotFound', 'The command query-qmp-schema has not been found');
    refusing.on('blockdev-add', () => ({}));
    refusingSocket = join(dir, 'refusing.sock');
    await refusing.listen({ path: refusingSocket });
  });
  afterAll(async () => {
    await server?.close();
    await refusing?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('generate --from-socket and --introspection of the same reply write the same files', async () => {
    const live = await runCli(['generate', '--from-socket', socket, '-o', join(dir, 'live'), '-q']);
    expect([live.code, live.stderr]).toEqual([0, '']);
    const saved = await runCli(['exec', '--socket', socket, 'query-qmp-schema']);
    writeFileSync(join(dir, 'reply.json'), saved.stdout);
    // A whole reply ({"return": …}) is taken too.
    writeFileSync(join(dir, 'whole.json'), `{"return": ${saved.stdout}}`);
    for (const file of ['reply.json', 'whole.json']) {
      const r = await runCli(['generate', '--introspection', join(dir, file), '-o', join(dir, file + '.out'), '-q']);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(readFileSync(join(dir, file + '.out/qemu.ts'), 'utf8')).toBe(
        readFileSync(join(dir, 'live/qemu.ts'), 'utf8'),
      );
    }
    expect(readFileSync(join(dir, 'live/index.ts'), 'utf8')).toContain('queryIothreads(');
  });

  it('generate SCHEMA --from-socket: the schema files agree with the server, nothing to tell', async () => {
    const r = await runCli(['generate', OURS, '--from-socket', socket, '-o', join(dir, 'both'), '-q']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(readFileSync(join(dir, 'both/misc.ts'), 'utf8')).toContain('holders');
  });

  it('generate SCHEMA --introspection of another schema: the disagreement is told', async () => {
    const other = join(dir, 'other.json');
    writeFileSync(
      other,
      "{ 'command': 'query-status' }\n{ 'command': 'only-here', 'if': 'CONFIG_X' }\n{ 'event': 'ONLY_HERE' }\n",
    );
    const r = await runCli([
      'generate',
      other,
      '--introspection',
      join(dir, 'reply.json'),
      '-o',
      join(dir, 'other'),
      '-q',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /warning: .*other\.json and .*reply\.json disagree: the QEMU has commands the schema lacks \(not generated\): .*query-iothreads/,
    );
    expect(r.stderr).toMatch(/the schema has events the QEMU lacks: ONLY_HERE/);
  });

  it("verify --from-socket and --introspection judge a session by the server's schema", async () => {
    const record = join(dir, 'session.jsonl');
    expect((await runCli(['exec', '--socket', socket, '--record', record, 'query-iothreads'])).code).toBe(0);
    for (const source of [
      ['--from-socket', socket],
      ['--introspection', join(dir, 'reply.json')],
    ]) {
      const r = await runCli(['verify', ...source, record]);
      expect([r.code, r.stdout.trim().split('\n').at(-1)]).toEqual([0, '7 messages, 7 valid, 0 invalid']);
    }
    // One defect: a reply member of the wrong type.
    const lines = readFileSync(record, 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines.at(-1)!);
    last.msg.return = [
      {
        id: 'io0',
        'thread-id': 'not a number',
        'poll-max-ns': 0,
        'poll-grow': 0,
        'poll-shrink': 0,
        'aio-max-batch': 0,
      },
    ];
    writeFileSync(join(dir, 'bad.jsonl'), [...lines.slice(0, -1), JSON.stringify(last)].join('\n') + '\n');
    const bad = await runCli(['verify', '--introspection', join(dir, 'reply.json'), join(dir, 'bad.jsonl')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('thread-id');
  });

  it("exec checks arguments against the server's schema; --schema against a file; the refusal names --no-validate", async () => {
    const ok = await runCli(['exec', '--socket', socket, 'blockdev-add', '{"driver": "null-co", "node-name": "n0"}']);
    expect([ok.code, ok.stdout]).toEqual([0, '{}\n']);
    const bad = await runCli(['exec', '--socket', socket, 'blockdev-add', '{"driver": "null-co", "node-nme": "n0"}']);
    expect([bad.code, bad.stderr]).toEqual([
      1,
      "qapi-ts exec: invalid arguments for 'blockdev-add': unknown member 'node-nme'" +
        ' (--no-validate sends them unchecked)\n',
    ]);
    expect(server.received.filter((c) => c.command === 'blockdev-add').map((c) => c.arguments)).toEqual([
      { driver: 'null-co', 'node-name': 'n0' },
    ]);
    const file = await runCli(['exec', '--socket', socket, '--schema', OURS, 'blockdev-add', '{"driver": "file"}']);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/^qapi-ts exec: invalid arguments for 'blockdev-add': driver: .*--no-validate/);
    expect((await runCli(['exec', '--socket', socket, '--schema', join(dir, 'nope.json'), 'query-status'])).code).toBe(
      2,
    );
    expect((await runCli(['exec', '--socket', socket, '--schema', OURS, '--no-validate', 'query-status'])).code).toBe(
      2,
    );
  });

  it('exec against a server that will not tell its schema: a warning, the arguments go unchecked', async () => {
    const r = await runCli([
      'exec',
      '--socket',
      refusingSocket,
      'blockdev-add',
      '{"driver": "null-co", "node-name": "n1"}',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^qapi-ts exec: warning: arguments not checked, the server did not give its schema \(CommandNotFound: /,
    );
  });

  it('statuses: usage 2, unreachable 3, refused 4, not introspection data 1 (verify: 2)', async () => {
    const out = join(dir, 'x');
    expect((await runCli(['generate', '--from-socket', socket, '--introspection', 'f', '-o', out])).code).toBe(2);
    expect((await runCli(['generate', '--from-socket', socket, '--define', 'X', '-o', out])).code).toBe(2);
    expect((await runCli(['generate', '--from-tcp', 'nohost', '-o', out])).code).toBe(2);
    expect((await runCli(['generate', '-o', out])).code).toBe(2);
    const gone = await runCli(['generate', '--from-socket', join(dir, 'missing.sock'), '-o', out]);
    expect([gone.code, gone.stderr]).toEqual([3, expect.stringMatching(/^qapi-ts generate: QMP_ERR_CONNECT: /)]);
    const noBinary = await runCli(['generate', '--from-qemu', join(dir, 'no-such-qemu'), '-o', out]);
    expect([noBinary.code, noBinary.stderr]).toEqual([
      3,
      expect.stringMatching(/QMP_ERR_CONNECT: .*no-such-qemu.*ENOENT/),
    ]);
    const refused = await runCli(['generate', '--from-socket', refusingSocket, '-o', out]);
    expect([refused.code, refused.stderr]).toEqual([
      4,
      expect.stringMatching(/refused query-qmp-schema: CommandNotFound: /),
    ]);
    writeFileSync(join(dir, 'junk.json'), '{"return": {"not": "a list"}}');
    const junk = await runCli(['generate', '--introspection', join(dir, 'junk.json'), '-o', out]);
    expect([junk.code, junk.stderr]).toEqual([1, expect.stringMatching(/bad introspection data: expected an array/)]);
    writeFileSync(
      join(dir, 'lower.json'),
      JSON.stringify([
        { name: 'ev', 'meta-type': 'event', 'arg-type': '0' },
        { name: '0', 'meta-type': 'object', members: [] },
      ]),
    );
    const invalid = await runCli(['generate', '--introspection', join(dir, 'lower.json'), '-o', out]);
    expect([invalid.code, invalid.stderr]).toEqual([
      1,
      expect.stringMatching(/the schema of .*lower\.json is invalid:\n.*In event 'ev'/),
    ]);
    expect((await runCli(['verify', '--introspection', join(dir, 'junk.json'), join(dir, 'session.jsonl')])).code).toBe(
      2,
    );
    expect((await runCli(['generate', '--introspection', join(dir, 'absent.json'), '-o', out])).code).toBe(1);
  });
});
