/**
 * Every IOThreadInfo member the server sends reaches the caller and the
 * screen: QEMU 11.1's `poll-weight` (the simulated QEMU is an 11.1), and
 * what a QEMU newer than our schema sends beyond it: members we do not
 * know, and holders of a kind we do not know (the series' V9 lists the
 * monitor). The newer QEMU is the test server over a small schema of its
 * own, so the reply really carries those members and its
 * `query-qmp-schema` really says it reports holders.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strictValidators, validators } from '../../generated/index.js';
import { renderTable } from '../../src/cli/iothreads-command.js';
import { inspectIothreads, type ServerIOThreadInfo } from '../../src/iothreads/index.js';
import { QmpClient, parseJson } from '../../src/runtime/index.js';
import { DEMO_MACHINE, holderTrackingQemu, QmpTestServer, SIMULATED_VERSION } from '../../src/testing/index.js';
import { builtCli, runCli, spawnCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

/** A QEMU newer than our schema: one more IOThreadInfo member, one more holder kind. */
const NEWER_SCHEMA = `
{ 'enum': 'IoThreadHolderType', 'data': [ 'qom', 'block-node', 'monitor' ] }
{ 'struct': 'IoThreadHolderQom', 'data': { 'path': 'str' } }
{ 'struct': 'IoThreadHolderBlockNode', 'data': { 'node-name': 'str' } }
{ 'struct': 'IoThreadHolderMonitor', 'data': { 'id': 'str' } }
{ 'union': 'IoThreadHolder',
  'base': { 'type': 'IoThreadHolderType' },
  'discriminator': 'type',
  'data': { 'qom': 'IoThreadHolderQom',
            'block-node': 'IoThreadHolderBlockNode',
            'monitor': 'IoThreadHolderMonitor' } }
{ 'struct': 'IOThreadInfo',
  'data': { 'id': 'str', 'thread-id': 'int', 'poll-max-ns': 'int',
            'poll-grow': 'int', 'poll-shrink': 'int', 'poll-weight': 'int',
            'aio-max-batch': 'int', 'poll-budget': 'int',
            'holders': [ 'IoThreadHolder' ] } }
{ 'command': 'query-iothreads', 'returns': [ 'IOThreadInfo' ] }
`;

const NEWER_REPLY = [
  {
    id: 'io0',
    'thread-id': 4242,
    'poll-max-ns': 32768,
    'poll-grow': 2,
    'poll-shrink': 2,
    'poll-weight': 3,
    'aio-max-batch': 0,
    'poll-budget': 17,
    holders: [
      { type: 'monitor', id: 'mon0' },
      { type: 'qom', path: '/machine/peripheral/vblk0' },
    ],
  },
];

describe('QEMU 11.1 (the simulated QEMU): poll-weight everywhere', () => {
  let server: QmpTestServer;
  beforeAll(async () => {
    server = await QmpTestServer.create({ version: { ...SIMULATED_VERSION } });
    server.use(
      holderTrackingQemu({
        boot: [
          ...DEMO_MACHINE,
          ['object-add', { 'qom-type': 'iothread', id: 'io2', 'poll-grow': 5, 'poll-weight': 7 }],
        ],
      }),
    );
  });
  afterAll(() => server?.close());

  it("reports 11.1's IOThreadInfo, valid strictly against our schema", async () => {
    await using qmp = await QmpClient.overStream(server.connect());
    expect(qmp.greeting.version.qemu).toEqual({ major: 11, minor: 1, micro: 0 });
    const report = await inspectIothreads(qmp);
    expect(report.iothreads.map((t) => [t.id, t['poll-grow'], t['poll-shrink'], t['poll-weight']])).toEqual([
      ['io0', 2, 2, 3],
      ['io1', 2, 2, 3],
      ['io2', 5, 2, 7],
    ]);
    for (const t of report.iothreads) expect(strictValidators.IOThreadInfo.safeParse(t).success).toBe(true);
    const table = renderTable(report).split('\n');
    expect(table[0]).toMatch(/^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+WEIGHT\s+MAX-BATCH\s+HOLDERS$/);
    const weight = table[0]!.indexOf('WEIGHT');
    expect(
      table
        .find((l) => l.startsWith('io2 '))!
        .slice(weight)
        .split(/\s+/)[0],
    ).toBe('7');
  });

  it('refuses a poll-weight above 63, as QEMU 11.1 does', async () => {
    await using qmp = await QmpClient.overStream(server.connect());
    await expect(
      qmp.execute('object-add', { 'qom-type': 'iothread', id: 'io9', 'poll-weight': 64 }),
    ).rejects.toMatchObject({
      errorClass: 'GenericError',
      desc: 'poll-weight value must be in range [0, 63]',
    });
  });

  it('over a schema without poll-weight it reports none, and grow/shrink as given (QEMU before 11.1)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-members-'));
    try {
      const schema = join(dir, 'old.json');
      writeFileSync(
        schema,
        [
          "{ 'struct': 'IOThreadInfo', 'data': { 'id': 'str', 'thread-id': 'int', 'poll-max-ns': 'int', " +
            "'poll-grow': 'int', 'poll-shrink': 'int', 'aio-max-batch': 'int' } }",
          `{ 'command': 'query-iothreads', 'returns': [ 'IOThreadInfo' ] }`,
          "{ 'struct': 'IothreadProperties', 'data': { '*poll-max-ns': 'int', '*poll-grow': 'int', " +
            "'*poll-shrink': 'int', '*aio-max-batch': 'int', '*thread-pool-min': 'int', '*thread-pool-max': 'int' } }",
          `{ 'enum': 'ObjectType', 'data': [ 'iothread' ] }`,
          "{ 'union': 'ObjectOptions', 'base': { 'qom-type': 'ObjectType', 'id': 'str' }, " +
            "'discriminator': 'qom-type', 'data': { 'iothread': 'IothreadProperties' } }",
          `{ 'command': 'object-add', 'data': 'ObjectOptions', 'boxed': true }`,
        ].join('\n'),
      );
      await using old = await QmpTestServer.create({ schema });
      old.use(holderTrackingQemu({ boot: [['object-add', { 'qom-type': 'iothread', id: 'io0' }]] }));
      await using qmp = await QmpClient.overStream(old.connect());
      expect(await qmp.execute('query-iothreads')).toEqual([
        { id: 'io0', 'thread-id': 10001, 'poll-max-ns': 32768, 'poll-grow': 0, 'poll-shrink': 0, 'aio-max-batch': 0 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a QEMU newer than our schema: members and holder kinds beyond ours', () => {
  let dir: string;
  let server: QmpTestServer;
  let socket: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-ts-members-'));
    const schema = join(dir, 'newer.json');
    // Our introspect.json, so that it answers query-qmp-schema (and probes say it reports holders).
    writeFileSync(schema, `{ 'include': '${join(repoRoot, 'qapi/introspect.json')}' }\n${NEWER_SCHEMA}`);
    server = await QmpTestServer.create({ schema, version: { major: 12, minor: 0, micro: 0 } });
    server.on('query-iothreads', () => NEWER_REPLY);
    socket = join(dir, 'qmp.sock');
    await server.listen({ path: socket });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inspectIothreads keeps them, typed: our members as ours, the rest unknown; compatible validation passes, strict does not', async () => {
    await using qmp = await QmpClient.overStream(server.connect());
    const report = await inspectIothreads(qmp);
    expect(report.holders).toBe('reported');
    const [t] = report.iothreads;
    expect(t).toEqual(NEWER_REPLY[0]);
    const budget: unknown = t!['poll-budget'];
    expect(budget).toBe(17);
    expect(validators.IOThreadInfo.safeParse(t).success).toBe(true);
    expect(validators.IoThreadHolder.safeParse(t!.holders![0]).success).toBe(true);
    // The control: strictly, our schema does not know them.
    expect(strictValidators.IOThreadInfo.safeParse(t).success).toBe(false);
  });

  it('the table has a column per member sent and shows the unknown holder by its type', async () => {
    await using qmp = await QmpClient.overStream(server.connect());
    const lines = renderTable(await inspectIothreads(qmp)).split('\n');
    expect(lines[0]).toMatch(
      /^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+WEIGHT\s+MAX-BATCH\s+POLL-BUDGET\s+HOLDERS$/,
    );
    expect(lines[1]).toMatch(/^io0\s+4242\s+32768\s+2\s+2\s+3\s+0\s+17\s+monitor \{"id":"mon0"\}$/);
    expect(lines[2]!.trim()).toBe('/machine/peripheral/vblk0');
    expect(lines[2]!.indexOf('/')).toBe(lines[0]!.indexOf('HOLDERS'));
  });

  it.runIf(builtCli('src/cli/main.js', 'qapi-ts iothreads --json on a newer QEMU'))(
    'qapi-ts iothreads --json passes them on as sent',
    async () => {
      const run = await runCli(['iothreads', '--socket', socket, '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const out = parseJson(run.stdout) as { holders: string; iothreads: unknown[] };
      expect(out).toEqual({ holders: 'reported', iothreads: NEWER_REPLY });
      const table = await runCli(['iothreads', '--socket', socket]);
      expect(table.code).toBe(0);
      expect(table.stdout).toContain('POLL-BUDGET');
      expect(table.stdout).toContain('monitor {"id":"mon0"}');
    },
  );
});

describe.runIf(builtCli('src/cli/main.js', 'qapi-ts serve --simulate as QEMU 11.1'))(
  'qapi-ts serve --simulate is a QEMU 11.1',
  () => {
    it("greets as 11.1.0 and answers with 11.1's IOThreadInfo, which the table shows", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-members-'));
      const socket = join(dir, 'qmp.sock');
      const served = spawnCli(['serve', '--simulate', '--socket', socket]);
      try {
        for (let i = 0; i < 400 && !served.stderr.includes('Ctrl-C stops'); i++)
          await new Promise((r) => setTimeout(r, 25));
        expect(served.stderr).toContain('(version 11.1.0;');
        const version = await runCli(['exec', '--socket', socket, 'query-version']);
        expect(parseJson(version.stdout)).toEqual({
          qemu: { major: 11, minor: 1, micro: 0 },
          package: 'qapi-ts test server',
        });
        const json = await runCli(['iothreads', '--socket', socket, '--json']);
        const threads = (parseJson(json.stdout) as { iothreads: unknown[] }).iothreads.map((t) =>
          strictValidators.IOThreadInfo.parse(t),
        );
        expect(threads.map((t) => [t.id, t['poll-grow'], t['poll-shrink'], t['poll-weight']])).toEqual([
          ['io0', 2, 2, 3],
          ['io1', 2, 2, 3],
        ]);
        const table = await runCli(['iothreads', '--socket', socket]);
        expect(table.stdout.split('\n')[0]).toMatch(
          /^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+WEIGHT\s+MAX-BATCH\s+HOLDERS$/,
        );
        expect(table.stdout.split('\n')[1]).toMatch(
          /^io0\s+10001\s+32768\s+2\s+2\s+3\s+0\s+\/machine\/peripheral\/vblk1$/,
        );
      } finally {
        served.child.kill('SIGINT');
        await served.exited;
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

describe('the table stays readable whatever a server sends', () => {
  it('at most 8 columns of members beyond ours (the rest counted), long names, values and holders cut', () => {
    const extra = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`m${i}`, i]));
    const thread = {
      id: 'io0',
      'thread-id': 1,
      'poll-max-ns': 0,
      'poll-grow': 0,
      'poll-shrink': 0,
      'aio-max-batch': 0,
      ...extra,
      ['n'.repeat(500)]: 'v'.repeat(500),
      'ctl\u001b': 'a\u0007b',
      holders: [{ type: 'monitor\u001b[2J', id: 'x'.repeat(10_000) }],
    };
    // As the compatible validator passes it on (an unknown tag is an UnknownValue at the type level).
    const text = renderTable({
      holders: 'reported',
      iothreads: [thread as unknown as ServerIOThreadInfo],
      commands: 1,
    });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(
      /^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+MAX-BATCH\s+M0\s+M1\s+M2\s+M3\s+M4\s+M5\s+M6\s+M7\s+HOLDERS$/,
    );
    expect(lines).toContain('5 more members not shown (see --json)');
    // No control character reaches the terminal; nothing runs on for kilobytes.
    // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(text.length).toBeLessThan(1000);
    expect(lines[1]).toContain('"monitor\\u001b[2J" {"id":"xxx');
  });
});
