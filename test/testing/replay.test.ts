/**
 * Replaying QEMU 7.2's recorded session through the test server: the typed
 * client generated from QEMU 7.2's schema (loadValidators) gets the
 * recorded results, errors and events; and `verify` accepts the transcript
 * of that conversation, recorded on the client's side.
 */
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { parseTranscript, verifyTranscript, formatReport } from '../../src/transcripts/index.js';
import { QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import { QmpTestServer, QmpTranscriptError, ServerSchema, isQmpTestFailure } from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus/qemu-7.2/qapi');
const transcripts = sharedDir('transcripts/qemu-7.2');

type Msg = Record<string, unknown>;

describe.skipIf(corpus === null || transcripts === null)('replaying the recorded QEMU 7.2 session', () => {
  let loaded: LoadedSchema;
  let schema: ServerSchema;
  let text: string;
  beforeAll(async () => {
    const path = join(corpus!, 'qapi-schema.json');
    [loaded, schema] = await Promise.all([loadValidators(path), ServerSchema.load(path)]);
    text = readFileSync(join(transcripts!, 'system-x86_64.jsonl'), 'utf8');
  });

  it('gives the typed client the recorded results, errors and events; verify accepts the new transcript', async () => {
    await using server = await QmpTestServer.create({ schema });
    const replay = server.replay(text, { requireAll: true });
    expect(server.greeting?.version).toEqual({
      qemu: { major: 7, minor: 2, micro: 22 },
      package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
    });
    const recorded = new PassThrough();
    const chunks: Buffer[] = [];
    recorded.on('data', (c: Buffer) => chunks.push(c));
    await using qmp = await QmpClient.overStream(server.connect(), { oob: true, record: recorded });
    const typed = loaded.createClient(qmp);
    const events: QmpEventMessage[] = [];
    qmp.onEvent((e) => events.push(e));

    const { entries } = parseTranscript(text);
    const replies = new Map(entries.filter((e) => e.dir === 'server').map((e) => [(e.msg as Msg).id, e.msg as Msg]));
    const recordedEvents: Msg[] = entries
      .filter((e) => e.dir === 'server' && 'event' in (e.msg as Msg))
      .map((e) => e.msg as Msg);
    let compared = 0;
    for (const { dir, msg } of entries) {
      const m = msg as Msg;
      if (dir !== 'client' || m.execute === 'qmp_capabilities') continue;
      const name = m.execute as string;
      const args = m.arguments as Msg | undefined;
      const reply = replies.get(m.id)!;
      const known = schema.command(name) !== undefined && schema.checkArguments(schema.command(name)!, args ?? {}).ok;
      // The typed client refuses what the schema refuses before sending; send those untyped.
      const call = known ? typed.execute(name, args) : qmp.execute(name, args);
      if ('return' in reply) {
        const returns = loaded.validatorSet(false).commands[name]!.returns;
        expect(await call, name).toEqual(returns ? returns.parse(reply.return) : reply.return);
      } else {
        const e = (await call.then(
          () => null,
          (x: unknown) => x,
        )) as QmpCommandError;
        expect(e, name).toBeInstanceOf(QmpCommandError);
        expect([e.errorClass, e.desc]).toEqual([(reply.error as Msg).class, (reply.error as Msg).desc]);
      }
      compared++;
    }
    expect(compared).toBe(61);
    expect(events.map((e) => [e.event, e.data])).toEqual(recordedEvents.map((e) => [e.event, e.data]));
    server.assertDone();
    expect(replay.unused()).toEqual([]);

    const transcript = Buffer.concat(chunks).toString();
    for (const strict of [false, true]) {
      const result = verifyTranscript(transcript, loaded.validatorSet(strict), { strict });
      expect(formatReport(result, 'recorded').slice(0, -1), `strict: ${strict}`).toEqual([]);
      expect(result.messages).toBe(transcript.trim().split('\n').length);
      expect(result.messages).toBeGreaterThan(120);
    }
  });

  it('answers each recording once, in order, and fails what was not recorded', async () => {
    await using server = await QmpTestServer.create({ schema });
    server.replay(text);
    await using qmp = await QmpClient.overStream(server.connect());
    const typed = loaded.createClient(qmp);
    const first = await typed.execute('query-iothreads');
    const second = await typed.execute('query-iothreads');
    expect((first as unknown[]).length + 1).toBe((second as unknown[]).length);
    const e = (await typed.execute('query-iothreads').catch((x: unknown) => x)) as QmpCommandError;
    expect(e.desc).toBe("qapi-ts test server: no recorded reply left for 'query-iothreads' with these arguments");
    const other = (await typed.execute('qom-list', { path: '/nowhere' }).catch((x: unknown) => x)) as QmpCommandError;
    expect(other.errorClass).toBe('GenericError');
    const never = (await typed
      .execute('query-hotpluggable-cpus')
      .then(() => typed.execute('x-exit-preconfig'))
      .catch((x: unknown) => x)) as QmpCommandError;
    expect(never.desc).toBe("qapi-ts test server: nothing scripted for 'x-exit-preconfig'");
    expect(server.failures.map((f) => f.kind)).toEqual(['replay', 'replay', 'unexpected']);
    try {
      server.assertDone();
      expect.unreachable();
    } catch (x) {
      expect(isQmpTestFailure(x)).toBe(true);
    }
  });
});

describe('loading a transcript to replay', () => {
  it('refuses what cannot be replayed, with its line', async () => {
    await using server = await QmpTestServer.create();
    const greeting =
      '{"dir": "server", "msg": {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, ' +
      '"capabilities": []}}}';
    const command = '{"dir": "client", "msg": {"execute": "query-status", "id": 1}}';
    const cases: [string, RegExp][] = [
      [`${greeting}\nnot json`, /^line 2: bad JSON/],
      [
        `${greeting}\n${command}\n` +
          '{"dir": "server", "msg": {"return": {"running": "yes", "status": "running"}, "id": 1}}',
        /^line 3: reply to 'query-status': running: expected boolean/,
      ],
      [
        `${greeting}\n${command}\n` +
          '{"dir": "server", "msg": {"event": "DEVICE_DELETED", "data": {}, ' +
          '"timestamp": {"seconds": 1, "microseconds": 0}}}',
        /^line 3: event 'DEVICE_DELETED': path: missing mandatory member/,
      ],
      ['{"dir": "server", "msg": {"QMP": {}}}', /^line 1: malformed QMP greeting/],
    ];
    for (const [transcript, message] of cases) {
      let thrown: unknown;
      try {
        server.replay(transcript);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(QmpTranscriptError);
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it('skips recorded commands whose envelope the server refuses', async () => {
    await using server = await QmpTestServer.create();
    const refused = (id: number, member: string) =>
      `{"dir": "server", "msg": {"id": ${id}, ` +
      `"error": {"class": "GenericError", "desc": "QMP input member '${member}' is unexpected"}}}`;
    const replay = server.replay(
      [
        '{"dir": "client", "msg": {"execute": "stop", "id": 1, "bogus": true}}',
        refused(1, 'bogus'),
        '{"dir": "client", "msg": {"execute": "stop", "exec-oob": "stop", "id": 2}}',
        refused(2, 'exec-oob'),
      ].join('\n'),
      { requireAll: true },
    );
    expect(replay.commands).toEqual([]);
    server.assertDone();
  });

  it('answers a command from the first replay that takes it, leaving the later ones alone', async () => {
    await using server = await QmpTestServer.create();
    const session = (desc: string) =>
      [
        '{"dir": "client", "msg": {"execute": "stop", "id": 1}}',
        `{"dir": "server", "msg": {"error": {"class": "GenericError", "desc": "${desc}"}, "id": 1}}`,
      ].join('\n');
    const first = server.replay(session('first'));
    const second = server.replay(session('second'));
    await using qmp = await QmpClient.overStream(server.connect());
    const e = (await qmp.execute('stop').catch((x: unknown) => x)) as QmpCommandError;
    expect(e.desc).toBe('first');
    expect([first.unused().length, second.unused().length]).toEqual([0, 1]);
    expect(server.failures).toEqual([]);
  });

  it('sends the events recorded during a command before its reply and those after it after', async () => {
    await using server = await QmpTestServer.create();
    const ev = (name: string) =>
      `{"dir": "server", "msg": {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "${name}"}}`;
    server.replay(
      [
        '{"dir": "client", "msg": {"execute": "stop", "id": "a"}}',
        ev('STOP'),
        '{"dir": "server", "msg": {"return": {}, "id": "a"}}',
        ev('RESUME'),
        '{"dir": "client", "msg": {"execute": "cont", "id": "b"}}',
        '{"dir": "server", "msg": {"return": {}, "id": "b"}}',
      ].join('\n'),
    );
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    raw.send('{"execute": "stop", "id": 7}');
    const seen = [await raw.next(), await raw.next(), await raw.next()].map((m) => (m as Msg).event ?? (m as Msg).id);
    expect(seen).toEqual(['STOP', 7, 'RESUME']);
    raw.close();
  });
});
