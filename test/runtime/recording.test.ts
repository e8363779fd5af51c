/**
 * Recording a session (`record: path | stream`, src/runtime/recorder.ts)
 * against the test server: the transcript `verify` reads, greeting
 * included, integers exact; it passes `verify` and replays through the
 * test server. The CLI's `exec --record` and `events --record` too.
 * recording.integration.ts records real QEMU 7.2 and 10.0.
 */
import { execFileSync, spawn } from 'node:child_process';
import { constants as fsConstants, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QapiClient, schemaValidators, type CommandMap, type EventMap } from '../../generated/index.js';
import { parseTranscript, verifyTranscript } from '../../src/transcripts/index.js';
import { parseSchemaString } from '../../src/frontend/index.js';
import { GuestAgentClient, QmpClient, QmpCommandError } from '../../src/runtime/index.js';
import { QmpTestServer, ServerSchema, faults } from '../../src/testing/index.js';
import { loadSnippet } from '../backends/helpers.js';
import { builtCli, runCli, spawnCli } from '../helpers/cli.js';
import { rejection } from '../helpers/rejection.js';
import { listeningServer, type ListeningServer } from '../helpers/socket-server.js';

type Server = QmpTestServer<CommandMap, EventMap>;
const open: { close(): Promise<void> }[] = [];
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qapi-ts-rec-'));
});
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
  rmSync(dir, { recursive: true, force: true });
});

const BIG = 18446744073709551552n;

/** Waits (up to ~20 s: a CLI start on a loaded machine can take seconds) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

async function scriptedServer(): Promise<Server> {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  open.push(server);
  server.on('qom-get', (args) => (args.property === 'big' ? BIG : args.property));
  server.on('stop', (_args, ctx) => {
    ctx.emit('STOP');
    return {};
  });
  server.on('query-status', () => ({ running: false, status: 'paused' }));
  return server;
}

/** A session with commands, an error reply, events, a timeout's late reply and an oob-less mix. */
async function session(client: QmpClient): Promise<void> {
  const typed = new QapiClient(client);
  await typed.qomGet({ path: '/', property: 'big' });
  await typed.stop();
  await Promise.all([typed.queryStatus(), typed.qomGet({ path: '/', property: 'x' }, { timeout: 1000 })]);
  await client.execute('no-such-command').catch(() => {});
}

describe('recording a session', () => {
  it('record: PATH writes the transcript verify reads: greeting included, integers exact, consistent with the schema', async () => {
    const server = await scriptedServer();
    const path = join(dir, 'session.jsonl');
    const client = await QmpClient.overStream(server.connect(), { record: path });
    await session(client);
    await client.close();
    const text = readFileSync(path, 'utf8');
    const { entries, badLines } = parseTranscript(text);
    expect(badLines).toEqual([]);
    expect(entries[0]).toMatchObject({ dir: 'server', msg: { QMP: { capabilities: ['oob'] } } });
    expect(entries[1]).toMatchObject({ dir: 'client', msg: { execute: 'qmp_capabilities' } });
    expect(entries.some((e) => e.dir === 'server' && (e.msg as { return?: unknown }).return === BIG)).toBe(true);
    expect(text).toContain('"return": 18446744073709551552');
    expect(entries.filter((e) => (e.msg as { event?: string }).event === 'STOP')).toHaveLength(1);
    // Every line that crossed the wire, in order.
    expect(entries.filter((e) => e.dir === 'client')).toHaveLength(server.received.length);
    for (const strict of [false, true]) {
      const r = verifyTranscript(text, schemaValidators.validatorSet(strict), { strict });
      expect(r.verdicts.filter((v) => v.findings.length > 0)).toEqual([]);
      expect(r.invalid).toBe(0);
      expect(r.messages).toBe(entries.length);
    }
  });

  it('replays through the test server: the typed client gets the recorded results', async () => {
    const path = join(dir, 'session.jsonl');
    const client = await QmpClient.overStream((await scriptedServer()).connect(), { record: path });
    await session(client);
    await client.close();
    const replaying = await QmpTestServer.create<CommandMap, EventMap>();
    open.push(replaying);
    replaying.replay(readFileSync(path, 'utf8'), { requireAll: true });
    const qmp = await QmpClient.overStream(replaying.connect());
    open.push(qmp);
    const typed = new QapiClient(qmp);
    const stops = qmp.events(['STOP']);
    expect(await typed.qomGet({ path: '/', property: 'big' })).toBe(BIG);
    expect(await typed.stop()).toEqual({});
    expect((await stops.next()).value?.event).toBe('STOP');
    expect(await typed.queryStatus()).toEqual({ running: false, status: 'paused' });
    expect(await typed.qomGet({ path: '/', property: 'x' })).toBe('x');
    expect((await rejection(qmp.execute('no-such-command'), QmpCommandError)).errorClass).toBe('CommandNotFound');
    replaying.assertDone();
  });

  it('record: STREAM writes to a stream the caller owns and leaves it open', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const server = await scriptedServer();
    const client = await QmpClient.overStream(server.connect(), { record: out });
    await client.execute('qom-get', { path: '/', property: 'y' });
    await client.close();
    expect(out.writableEnded).toBe(false);
    const lines = chunks.join('').trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[3]).toBe('{"dir": "client", "msg": {"execute":"qom-get","arguments":{"path":"/","property":"y"}}}');
    expect(lines[4]).toBe('{"dir": "server", "msg": {"return": "y"}}');
  });

  it('records a server line that is not JSON as it came, so verify points at it', async () => {
    const server = await scriptedServer();
    server.on('query-status').fault(faults.garbage('SSH-2.0-OpenSSH'));
    const path = join(dir, 'session.jsonl');
    const client = await QmpClient.overStream(server.connect(), { record: path });
    await client.execute('query-status').catch(() => {});
    await client.closed;
    const text = readFileSync(path, 'utf8');
    const lines = text.trim().split('\n');
    expect(lines.at(-1)).toBe('{"dir": "server", "msg": SSH-2.0-OpenSSH}');
    const r = verifyTranscript(text, schemaValidators.validatorSet(false));
    expect(r.badLines).toEqual([{ line: lines.length, reason: expect.stringMatching(/^bad JSON/) }]);
  });

  it('a guest agent session records the sync and what followed, not what was discarded', async () => {
    const qga = `{ 'pragma': { 'command-returns-exceptions': [ 'guest-sync-delimited' ] } }
{ 'command': 'guest-sync-delimited', 'data': { 'id': 'int' }, 'returns': 'int' }
{ 'command': 'guest-ping' }`;
    const server = await QmpTestServer.create({
      schema: await ServerSchema.of(parseSchemaString(qga, 'qga.json')),
      guestAgent: true,
    });
    open.push(server);
    server.on('guest-ping', () => ({}));
    server.onConnect((s) => s.sendRaw('{"return": "stale"}\n'));
    const path = join(dir, 'qga.jsonl');
    const ga = await GuestAgentClient.overStream(server.connect(), { record: path });
    await ga.execute('guest-ping');
    await ga.close();
    const text = readFileSync(path, 'utf8');
    const msgs = parseTranscript(text).entries.map(
      (e) => `${e.dir} ${JSON.stringify(e.msg, (_k, v: unknown) => (typeof v === 'number' && v > 1000 ? 'N' : v))}`,
    );
    expect(msgs).toEqual([
      'client {"execute":"guest-sync-delimited","arguments":{"id":"N"}}',
      'server {"return":"N"}',
      'client {"execute":"guest-ping","id":1}',
      'server {"return":{},"id":1}',
    ]);
    const validators = (await loadSnippet(qga)).validators.validatorSet(true);
    expect(verifyTranscript(text, validators, { strict: true }).verdicts.flatMap((v) => v.findings)).toEqual([]);
  });

  it.runIf(existsSync('/dev/full'))(
    'a recording that fails later (a full disk) stops; onError is told, the session goes on',
    async () => {
      const server = await scriptedServer();
      const client = await QmpClient.overStream(server.connect(), { record: '/dev/full' });
      const reported: unknown[] = [];
      client.onError((e) => reported.push(e));
      for (let i = 0; i < 20; i++)
        expect(await client.execute('qom-get', { path: '/', property: `p${i}` })).toBe(`p${i}`);
      await client.close();
      // Reported to onError when it happens (here, most likely while connecting, before the listener).
      expect((client.recordingError as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(reported.length).toBeLessThanOrEqual(1);
    },
  );

  it.runIf(existsSync('/dev/full'))(
    'closed resolves once the file is closed, its write error known by then',
    async () => {
      const server = await scriptedServer();
      for (let i = 0; i < 30; i++) {
        const client = await QmpClient.overStream(server.connect(), { record: '/dev/full' });
        for (let j = 0; j < 20; j++) await client.execute('qom-get', { path: '/', property: 'x' });
        await client.close();
        expect((client.recordingError as NodeJS.ErrnoException | undefined)?.code, `session ${i}`).toBe('ENOSPC');
      }
    },
  );

  it('a path that cannot be written fails connect (ENOENT) before the session starts', async () => {
    const server = await scriptedServer();
    const wire = server.connect();
    await expect(QmpClient.overStream(wire, { record: join(dir, 'no/such/dir/x.jsonl') })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(wire.destroyed).toBe(true);
  });

  it('a FIFO no process reads fails connect at once (ENXIO), without blocking the event loop', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const server = await scriptedServer();
    const wire = server.connect();
    // A blocking open would stop this worker's event loop for good (no test
    // timeout could fire), so a reader comes after 3 s to bound the test:
    // a blocking open then succeeds late and the test fails instead of hanging.
    const rescuer = spawn('/bin/sh', ['-c', 'sleep 3; exec cat < "$0" > /dev/null', fifo], { stdio: 'ignore' });
    try {
      await expect(QmpClient.overStream(wire, { record: fifo })).rejects.toMatchObject({
        code: 'ENXIO',
        message: `ENXIO: a FIFO no process is reading, open '${fifo}'`,
      });
      expect(wire.destroyed).toBe(true);
    } finally {
      rescuer.kill();
    }
  }, 10_000);

  it('a FIFO with a reader gets the transcript', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // The read end, opened without waiting for a writer.
    const reader = new Socket({
      fd: openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    const chunks: Buffer[] = [];
    reader.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => reader.on('end', resolve));
    const server = await scriptedServer();
    const client = await QmpClient.overStream(server.connect(), { record: fifo });
    expect(await client.execute('qom-get', { path: '/', property: 'big' })).toBe(BIG);
    await client.close();
    await ended;
    expect(client.recordingError).toBeUndefined();
    const text = Buffer.concat(chunks).toString();
    expect(parseTranscript(text).entries.map((e) => e.dir)).toEqual(['server', 'client', 'server', 'client', 'server']);
  }, 10_000);

  it('a bad option fails connect before the file is created', async () => {
    const server = await scriptedServer();
    const wire = server.connect();
    const path = join(dir, 'x.jsonl');
    await expect(QmpClient.overStream(wire, { ids: 'sometimes' as never, record: path })).rejects.toThrow(RangeError);
    expect(existsSync(path)).toBe(false);
    expect(wire.destroyed).toBe(true);
  });
});

describe.runIf(builtCli('src/cli/runtime-commands.js', 'CLI recording tests'))(
  'qapi-ts exec --record / events --record',
  () => {
    let listening: ListeningServer;
    beforeEach(async () => {
      listening = await listeningServer();
      open.push(listening);
      listening.server.on('qom-get', () => BIG);
    });

    it('exec --record FILE writes the session; verify accepts it', async () => {
      const path = join(dir, 'exec.jsonl');
      const r = await runCli([
        'exec',
        '--socket',
        listening.path,
        '--record',
        path,
        'qom-get',
        '{"path": "/", "property": "p"}',
      ]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, '18446744073709551552\n', '']);
      const text = readFileSync(path, 'utf8');
      // Greeting, negotiation, query-qmp-schema (exec checks the arguments
      // against the server's own schema), the command.
      expect(parseTranscript(text).entries.map((e) => e.dir)).toEqual([
        'server',
        'client',
        'server',
        'client',
        'server',
        'client',
        'server',
      ]);
      expect(verifyTranscript(text, schemaValidators.validatorSet(true), { strict: true }).invalid).toBe(0);
      const bad = await runCli([
        'exec',
        '--socket',
        listening.path,
        '--record',
        join(dir, 'missing/x.jsonl'),
        'query-status',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^qapi-ts exec: --record: cannot write .*missing\/x\.jsonl: ENOENT/);
      expect((await runCli(['exec', '--socket', listening.path, '--record', '', 'query-status'])).code).toBe(2);
    });

    it('exec --record FIFO without a reader: exit 2 at once, naming the file (it hung forever)', async () => {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      for (const command of [['exec', 'query-status'], ['events']]) {
        const [name, ...rest] = command;
        const r = await runCli([name!, '--socket', listening.path, '--record', fifo, '--timeout', '2000', ...rest], {
          timeout: 20_000,
        });
        expect([r.code, r.stdout, r.stderr], name).toEqual([
          2,
          '',
          `qapi-ts ${name}: --record: cannot write ${fifo}: ENXIO: a FIFO no process is reading, open '${fifo}'\n`,
        ]);
      }
    });

    it.runIf(existsSync('/dev/full'))(
      'a recording that fails on the way is an error: exit 2 after the result (it was exit 0, no word)',
      async () => {
        const full = await runCli(
          ['exec', '--socket', listening.path, '--record', '/dev/full', 'qom-get', '{"path": "/", "property": "p"}'],
          { timeout: 20_000 },
        );
        expect([full.code, full.stdout]).toEqual([2, '18446744073709551552\n']);
        expect(full.stderr).toMatch(
          /^qapi-ts exec: --record: cannot write \/dev\/full: ENOSPC: no space left on device, write\n$/,
        );
        // A file in /proc opens, then refuses every write (EIO).
        const proc = await runCli(
          [
            'exec',
            '--socket',
            listening.path,
            '--record',
            '/proc/version',
            'qom-get',
            '{"path": "/", "property": "p"}',
          ],
          { timeout: 20_000 },
        );
        expect([proc.code, proc.stdout]).toEqual([2, '18446744073709551552\n']);
        expect(proc.stderr).toMatch(/^qapi-ts exec: --record: cannot write \/proc\/version: EIO: i\/o error, write\n$/);
        // The command failed first: its status stays, and the recording's failure is told too.
        listening.server.on('query-status').error('GenericError', 'no status today');
        const both = await runCli(['exec', '--socket', listening.path, '--record', '/dev/full', 'query-status'], {
          timeout: 20_000,
        });
        expect(both.code).toBe(4);
        expect(both.stderr).toContain('qapi-ts exec: --record: cannot write /dev/full: ENOSPC');
        expect(both.stderr).toContain('GenericError: no status today');
        // events stops by itself once its recording fails, instead of running on without it.
        const events = await runCli(['events', '--socket', listening.path, '--record', '/dev/full'], {
          timeout: 20_000,
        });
        expect([events.code, events.stdout]).toEqual([2, '']);
        expect(events.stderr).toMatch(/^qapi-ts events: --record: cannot write \/dev\/full: ENOSPC/);
      },
    );

    it('events --record FILE writes the session until interrupted', async () => {
      const path = join(dir, 'events.jsonl');
      const cli = spawnCli(['events', '--socket', listening.path, '--record', path]);
      await until(() => [...listening.server.sessions].some((s) => s.state === 'command'));
      listening.server.emit('STOP');
      await until(() => cli.stdout.includes('"STOP"'));
      cli.child.kill('SIGINT');
      expect(await cli.exited).toBe(0);
      const entries = parseTranscript(readFileSync(path, 'utf8')).entries;
      expect(entries.map((e) => (e.msg as { event?: string }).event).filter(Boolean)).toEqual(['STOP']);
      expect(entries[0]?.msg).toHaveProperty('QMP');
    });
  },
);
