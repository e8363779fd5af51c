/**
 * GuestAgentClient against Debian's qemu-ga 7.2 running on the host
 * (test/helpers/guest-agent.ts), with only harmless commands: the sync on
 * connect, through stale input another client left, after a timed-out
 * call and after garbage in either direction; the typed client generated
 * from QEMU 7.2's qga schema, strict; `qapi-ts exec --guest-agent`.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { parseTranscript, verifyTranscript } from '../../src/transcripts/index.js';
import { GuestAgentClient, QmpCommandError, openSocket, type QmpError } from '../../src/runtime/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import {
  guestAgentAvailable,
  startGuestAgent,
  stopAllGuestAgents,
  type GuestAgentInstance,
} from '../helpers/guest-agent.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { sharedDir } from '../helpers/shared.js';
import { tap } from '../helpers/tap.js';

const qgaSchema = sharedDir('corpus/qemu-7.2/qga');

describe.runIf(guestAgentAvailable())('GuestAgentClient against qemu-ga', () => {
  let agent: GuestAgentInstance;
  beforeAll(async () => {
    agent = await startGuestAgent();
  });
  afterAll(stopAllGuestAgents);

  it('synchronises on connect and runs harmless commands, integers exact', async () => {
    await using ga = await GuestAgentClient.connect({ path: agent.socket }, { timeout: 5000 });
    expect(ga.syncs).toBe(1);
    expect(await ga.execute('guest-ping')).toEqual({});
    const info = (await ga.execute('guest-info')) as {
      version: string;
      supported_commands: { name: string; 'success-response': boolean }[];
    };
    expect(info.version).toMatch(/^7\.2\./);
    // The agent itself says which commands never reply on success: the runtime knows them by name.
    const silent = info.supported_commands
      .filter((c) => !c['success-response'])
      .map((c) => c.name)
      .sort();
    expect(silent).toEqual(['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-hybrid', 'guest-suspend-ram']);
    const time = await ga.execute('guest-get-time');
    expect(typeof time).toBe('bigint');
    expect(Number(time as bigint) / 1e6).toBeGreaterThan(Date.now() - 60_000);
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': hostname() });
    expect((await ga.execute('guest-get-osinfo')) as object).toHaveProperty('kernel-release');
    const e = await ga.execute('guest-no-such-command').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpCommandError);
    expect((e as QmpCommandError).errorClass).toBe('CommandNotFound');
    expect(ga.unknownReplies).toBe(0);
  });

  it('gets through half a request another client left behind (qemu-ga keeps it across connections)', async () => {
    const raw = await RawQmp.unix(agent.socket);
    raw.send('{"execute": "guest-ping", "arguments": {"x": [[[[');
    raw.stream.end();
    // A client that does not resynchronise now gets no answer: its request is swallowed.
    const naive = await RawQmp.unix(agent.socket);
    naive.send('{"execute": "guest-ping", "id": 1}');
    await expect(naive.next(300)).rejects.toThrow();
    naive.stream.destroy();
    await using ga = await GuestAgentClient.connect({ path: agent.socket }, { timeout: 5000 });
    expect(await ga.execute('guest-ping')).toEqual({});
  });

  /**
   * Stops the agent (SIGSTOP, by pid) while `body` runs, so that its replies
   * come late; SIGCONT after (return promises in an array: awaiting them
   * here would wait for the stopped agent).
   */
  async function whileStopped<T>(body: () => Promise<T>): Promise<T> {
    process.kill(agent.pid, 'SIGSTOP');
    try {
      return await body();
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
  }

  it('resynchronises after a timed-out or aborted call: its late reply is discarded, never taken for the next call', async () => {
    const out = new PassThrough();
    const text: string[] = [];
    out.on('data', (c: Buffer) => text.push(c.toString()));
    await using ga = await GuestAgentClient.connect({ path: agent.socket }, { timeout: 5000, record: out });
    const reported: unknown[] = [];
    ga.onError((e) => reported.push(e));
    for (let round = 0; round < 3; round++) {
      // The agent is stopped: the request is read and answered only after the call gave up.
      const [next] = await whileStopped(async () => {
        const late = await ga.execute('guest-get-osinfo', undefined, { timeout: 100 }).catch((x: QmpError) => x);
        expect((late as QmpError).code).toBe('QMP_ERR_TIMEOUT');
        // Queued until the agent, running again, has answered the resync.
        return [ga.execute('guest-get-host-name')];
      });
      expect(await next).toEqual({ 'host-name': hostname() });
      // Aborted once written, before any reply could be read.
      const ac = new AbortController();
      const aborted = ga.execute('guest-get-osinfo', undefined, { signal: ac.signal }).catch((x: QmpError) => x);
      process.nextTick(() => ac.abort());
      expect(((await aborted) as QmpError).code).toBe('QMP_ERR_ABORTED');
      expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': hostname() });
    }
    expect(ga.syncs).toBe(7);
    expect(ga.unknownReplies).toBe(0);
    expect(reported).toEqual([]);
    // The recording: each osinfo request is followed by a sync, and its reply was never read as a reply.
    const entries = parseTranscript(text.join('')).entries.map((e) => e.msg as Record<string, unknown>);
    const commands = entries.filter((m) => 'execute' in m).map((m) => m.execute);
    const round = ['guest-get-osinfo', 'guest-sync-delimited', 'guest-get-host-name'];
    expect(commands).toEqual(['guest-sync-delimited', ...Array(6).fill(round).flat()]);
    expect(
      entries.filter(
        (m) => typeof m.return === 'object' && m.return !== null && 'kernel-release' in (m.return as object),
      ),
    ).toEqual([]);
  });

  it('resynchronises after garbage on the line, in either direction', async () => {
    const wire = tap(await openSocket({ path: agent.socket }));
    await using ga = await GuestAgentClient.overStream(wire.stream, { timeout: 5000 });
    const reported: QmpError[] = [];
    ga.onError((e) => reported.push(e as QmpError));
    // Towards the agent: an unfinished request behind the client's back swallows the next one…
    wire.toServer('{"execute": "guest-info", "arguments": {"x": [[[[');
    const swallowed = await ga.execute('guest-ping', undefined, { timeout: 300 }).catch((x: QmpError) => x);
    expect((swallowed as QmpError).code).toBe('QMP_ERR_TIMEOUT');
    // …until the resync's 0xFF clears the agent's parser.
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': hostname() });
    expect(ga.syncs).toBe(2);
    // Towards the client: garbage while a call waits fails that call; its
    // real reply, coming after, is discarded with the rest before the sentinel.
    const failed = await whileStopped(async () => {
      const pending = ga.execute('guest-get-osinfo').catch((x: QmpError) => x);
      await new Promise((r) => setTimeout(r, 50));
      wire.toClient('\u0000garbage{"return"\n');
      return pending;
    });
    expect((failed as QmpError).code).toBe('QMP_ERR_PROTOCOL');
    expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': hostname() });
    expect(ga.syncs).toBe(3);
    expect(ga.unknownReplies).toBe(0);
  });

  describe.runIf(qgaSchema !== null)('the typed client generated from QEMU 7.2 qga schema', () => {
    let loaded: LoadedSchema;
    beforeAll(async () => {
      loaded = await loadValidators(join(qgaSchema!, 'qapi-schema.json'));
    });

    it('runs strict on the session, and knows which commands never reply', async () => {
      await using ga = await GuestAgentClient.connect({ path: agent.socket }, { timeout: 5000 });
      const client = loaded.createClient(ga, { strict: true }) as ReturnType<LoadedSchema['createClient']> &
        Record<string, () => Promise<unknown>>;
      expect(await client.guestPing!()).toEqual({});
      expect((await client.guestInfo!()) as object).toHaveProperty('supported_commands');
      expect(typeof (await client.guestGetTime!())).toBe('bigint');
      expect(await client.guestGetHostName!()).toEqual({ 'host-name': hostname() });
      expect((await client.guestGetOsinfo!()) as object).toHaveProperty('machine');
      // The generated tables say so (the commands are not called here: they would act on this machine).
      const noReply = [...loaded.validatorSet(true).noReply].sort();
      expect(noReply).toEqual(['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-hybrid', 'guest-suspend-ram']);
    });

    it.runIf(builtCli('src/cli/runtime-commands.js', 'CLI guest agent tests'))(
      'qapi-ts exec --guest-agent, with exec exit codes; --record verifies against the qga schema',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-qga-cli-'));
        try {
          const record = join(dir, 'qga.jsonl');
          const ok = await runCli([
            'exec',
            '--guest-agent',
            '--socket',
            agent.socket,
            '--record',
            record,
            'guest-get-host-name',
          ]);
          expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, `${JSON.stringify({ 'host-name': hostname() })}\n`, '']);
          const text = readFileSync(record, 'utf8');
          const r = verifyTranscript(text, loaded.validatorSet(true), { strict: true });
          expect(r.verdicts.flatMap((v) => v.findings)).toEqual([]);
          expect(r.messages).toBe(4);
          const time = await runCli(['exec', '--guest-agent', '--socket', agent.socket, 'guest-get-time']);
          expect(time.code).toBe(0);
          expect(time.stdout).toMatch(/^\d{19}\n$/);
          const missing = await runCli(['exec', '--guest-agent', '--socket', agent.socket, 'guest-nope']);
          expect([missing.code, missing.stderr]).toEqual([
            4,
            'CommandNotFound: The command guest-nope has not been found\n',
          ]);
          const usage = await runCli(['exec', '--guest-agent', '--oob', '--socket', agent.socket, 'guest-ping']);
          expect(usage.code).toBe(2);
          const gone = await runCli(['exec', '--guest-agent', '--socket', join(dir, 'none.sock'), 'guest-ping']);
          expect(gone.code).toBe(3);
          expect(gone.stderr).toMatch(/^qapi-ts exec: QMP_ERR_CONNECT: /);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  });
});
