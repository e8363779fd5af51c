/**
 * The runtime client against real QEMU: Debian's 7.2 (the host's) and 11.1
 * (the sid chroot of .ci/qemu-11.1), the oldest and the newest release we
 * support. (10.0 has the typed suites of qemu-releases.integration.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  QmpClient,
  QmpCommandError,
  QmpDisconnectedError,
  isQmpArgumentError,
  isQmpCapabilityError,
  isQmpQueueFullError,
  openSocket,
  type QmpError,
  type QmpEventMessage,
} from '../../src/runtime/index.js';
import { parseTranscript } from '../../src/transcripts/index.js';
import { MAX_ARGUMENT_DEPTH } from '../../src/runtime/protocol.js';
import {
  OLDEST_AND_NEWEST,
  QEMU_BINARY,
  qemuAvailable,
  startQemu as startAnyQemu,
  stopAllQemu,
  type QemuInstance,
  type QemuOptions,
} from '../helpers/qemu.js';

/** `{"a": [[…]]}`: arguments `depth` levels deep (the object itself is level 1). */
function deepArguments(depth: number): Record<string, unknown> {
  let v: unknown = 1;
  for (let i = 1; i < depth; i++) v = [v];
  return { a: v };
}

/**
 * QEMU's raw answers to one request line (sent after negotiating by hand),
 * up to the reply to a sentinel command that follows it.
 */
async function rawAnswers(socket: string, line: string): Promise<Record<string, unknown>[]> {
  const conn = createConnection({ path: socket });
  const lines: string[] = [];
  let buffer = '';
  let wake: (() => void) | undefined;
  conn.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    wake?.();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    return JSON.parse(lines.shift() as string) as Record<string, unknown>;
  };
  try {
    await next(); // greeting
    conn.write('{"execute": "qmp_capabilities"}\n');
    await next();
    conn.write(`${line}\n{"execute": "query-status", "id": "sentinel"}\n`);
    const answers: Record<string, unknown>[] = [];
    for (let m = await next(); m.id !== 'sentinel'; m = await next()) answers.push(m);
    return answers;
  } finally {
    conn.destroy();
  }
}

describe.each(OLDEST_AND_NEWEST)('QEMU %s', (release) => {
  /**
   * Tests of our own queueing and timeouts more than of anything QEMU does
   * differently from release to release, and the slowest here: defined
   * for the host's QEMU only (absent, not skipped, for the others).
   */
  const itOnHost = (name: string, fn: () => Promise<void>): void => {
    if (release === '7.2') it(name, fn);
  };
  const startQemu = (options: QemuOptions = {}) => startAnyQemu({ ...options, release });
  const runIt = qemuAvailable(QEMU_BINARY, release);

  describe.runIf(runIt)('QmpClient against real QEMU', () => {
    let qemu: QemuInstance;
    let qmp: QmpClient;

    beforeAll(async () => {
      qemu = await startQemu({ args: ['-object', 'iothread,id=io0'] });
      qmp = await QmpClient.connect({ path: qemu.socket }, { oob: true, timeout: 10_000 });
    });
    afterAll(async () => {
      await qmp?.close();
      await stopAllQemu();
    });

    it('negotiates from the greeting, with oob', async () => {
      expect(qmp.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
      expect(qmp.greeting.capabilities).toContain('oob');
      expect(qmp.oobEnabled).toBe(true);
      const version = (await qmp.execute('query-version')) as { qemu: { major: number; minor: number } };
      expect(version.qemu).toEqual(qmp.greeting.version.qemu);
    });

    itOnHost('a monitor busy with another client: the greeting timeout says so and how to add a monitor', async () => {
      // `qmp` holds the only monitor: QEMU accepts the connection and stays silent.
      const err = (await QmpClient.connect({ path: qemu.socket }, { timeout: 1000 }).catch(
        (e: unknown) => e,
      )) as QmpError;
      expect(err.code).toBe('QMP_ERR_GREETING');
      expect(err.message).toMatch(
        /no QMP greeting and negotiation within \d+ ms; the monitor accepted the connection but sent nothing: it is probably busy with another client/,
      );
      expect(err.message).toContain('-qmp unix:/run/vm/qmp2.sock,server=on,wait=off');
      // The first client is unaffected.
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
    });

    it('adds and deletes an IOThread, reflected in query-iothreads', async () => {
      const ids = async () => ((await qmp.execute('query-iothreads')) as { id: string }[]).map((t) => t.id).sort();
      expect(await ids()).toEqual(['io0']);
      await qmp.execute('object-add', { 'qom-type': 'iothread', id: 'io1' });
      expect(await ids()).toEqual(['io0', 'io1']);
      await qmp.execute('object-del', { id: 'io1' });
      expect(await ids()).toEqual(['io0']);
    });

    it('rejects with typed command errors: CommandNotFound, GenericError', async () => {
      const nf = await qmp.execute('no-such-command').catch((e: unknown) => e);
      expect(nf).toBeInstanceOf(QmpCommandError);
      expect((nf as QmpCommandError).errorClass).toBe('CommandNotFound');
      expect((nf as QmpCommandError).command).toBe('no-such-command');
      const ge = await qmp.execute('object-del', { id: 'nope' }).catch((e: unknown) => e);
      expect(ge).toBeInstanceOf(QmpCommandError);
      expect((ge as QmpCommandError).errorClass).toBe('GenericError');
      expect((ge as QmpCommandError).desc).toMatch(/nope/);
    });

    it('delivers RESUME after cont', async () => {
      const resume = qmp.events(['RESUME']);
      await qmp.execute('cont');
      const { value } = await resume.next();
      expect(value?.event).toBe('RESUME');
      expect(value?.timestamp.seconds).toBeGreaterThan(0);
      await resume.return();
      await qmp.execute('stop');
    });

    it('delivers BLOCK_EXPORT_DELETED after deleting an NBD export', async () => {
      const seen: QmpEventMessage[] = [];
      const off = qmp.onEvent((e) => seen.push(e), ['BLOCK_EXPORT_DELETED']);
      const stream = qmp.events(['BLOCK_EXPORT_DELETED']);
      await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'null0', size: 1048576 });
      // The socket goes in QEMU's own dir, as QEMU sees it (inside the chroot for 11.1).
      const path = join(qemu.innerDir, 'nbd.sock');
      await qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path } } });
      await qmp.execute('block-export-add', { type: 'nbd', id: 'exp0', 'node-name': 'null0' });
      await qmp.execute('block-export-del', { id: 'exp0' });
      const { value } = await stream.next();
      expect(value).toMatchObject({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'exp0' } });
      expect(seen.map((e) => e.data)).toEqual([{ id: 'exp0' }]);
      off();
      await stream.return();
      await qmp.execute('nbd-server-stop');
      await qmp.execute('blockdev-del', { 'node-name': 'null0' });
    });

    it('runs an allow-oob command with exec-oob', async () => {
      const schema = (await qmp.execute('query-qmp-schema')) as { name: string; 'allow-oob'?: boolean }[];
      expect(schema.length).toBeGreaterThan(100);
      expect(schema.find((e) => e.name === 'query-yank')?.['allow-oob']).toBe(true);
      const yank = await qmp.execute('query-yank', undefined, { oob: true });
      expect(Array.isArray(yank)).toBe(true);
    });

    itOnHost('pipelines 10,000 commands with every reply matched', async () => {
      const kinds = ['query-status', 'query-name', 'query-iothreads', 'query-version'] as const;
      const calls = Array.from({ length: 10_000 }, (_, i) => qmp.execute(kinds[i % 4] as string));
      const replies = await Promise.all(calls);
      for (const [i, r] of replies.entries()) {
        switch (i % 4) {
          case 0:
            expect((r as { status: string }).status).toBe('paused');
            break;
          case 1:
            expect(r).toEqual({});
            break;
          case 2:
            expect((r as { id: string }[])[0]?.id).toBe('io0');
            break;
          default:
            expect((r as { qemu: object }).qemu).toEqual(qmp.greeting.version.qemu);
        }
      }
      expect(qmp.pendingCount).toBe(0);
      expect(qmp.unknownReplies).toBe(0);
    });
  });

  describe.runIf(runIt)('QmpClient against real QEMU (own instances)', () => {
    afterAll(stopAllQemu);

    it("matches QEMU's parser limits: what we send gets one reply with its id, what we refuse would not", async () => {
      const qemu = await startQemu();
      const request = (args: string) => `{"execute":"query-status","arguments":${args},"id":1}`;
      // The deepest arguments we send: QEMU answers them, with the id.
      const ok = await rawAnswers(qemu.socket, request(JSON.stringify(deepArguments(MAX_ARGUMENT_DEPTH))));
      expect(ok).toHaveLength(1);
      expect(ok[0]).toMatchObject({ id: 1, error: { class: 'GenericError' } });
      // One level more, a lone surrogate, a noncharacter: answers without an id.
      for (const args of [JSON.stringify(deepArguments(MAX_ARGUMENT_DEPTH + 1)), '{"s":"\\ud800"}', '{"s":"\uffff"}']) {
        const answers = await rawAnswers(qemu.socket, request(args));
        expect(answers.length, args.slice(0, 40)).toBeGreaterThan(0);
        for (const a of answers) expect(a).not.toHaveProperty('id');
      }
      // The client refuses those before sending, and the session carries on.
      await using qmp = await QmpClient.connect({ path: qemu.socket });
      const e = await qmp.execute('query-status', deepArguments(MAX_ARGUMENT_DEPTH + 1)).catch((x: unknown) => x);
      expect(isQmpArgumentError(e)).toBe(true);
      const answered = await qmp.execute('query-status', deepArguments(MAX_ARGUMENT_DEPTH)).catch((x: unknown) => x);
      expect(answered).toBeInstanceOf(QmpCommandError);
      expect((answered as QmpCommandError).desc).toBe("Parameter 'a' is unexpected");
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
      expect(qmp.unknownReplies).toBe(0);
    });

    it('after quit, the event iterator sees SHUTDOWN and then ends normally', async () => {
      const qemu = await startQemu();
      const qmp = await QmpClient.connect({ path: qemu.socket });
      const events = qmp.events();
      expect(await qmp.execute('quit')).toEqual({});
      const names: string[] = [];
      for await (const ev of events) names.push(ev.event);
      expect(names).toEqual(['SHUTDOWN']);
      await qmp.closed;
      expect(qmp.connectionState).toBe('closed');
    });

    it('refuses exec-oob with a typed error when oob was not negotiated', async () => {
      const qemu = await startQemu();
      await using qmp = await QmpClient.connect({ path: qemu.socket });
      expect(qmp.oobEnabled).toBe(false);
      const e = await qmp.execute('query-yank', undefined, { oob: true }).catch((x: unknown) => x);
      expect(isQmpCapabilityError(e)).toBe(true);
    });

    it('connects over TCP (port chosen by QEMU, read back with query-chardev)', async () => {
      const qemu = await startQemu({
        args: [
          '-chardev',
          'socket,id=tcpmon,host=127.0.0.1,port=0,server=on,wait=off',
          '-mon',
          'chardev=tcpmon,mode=control',
        ],
      });
      let port: number;
      {
        await using unix = await QmpClient.connect({ path: qemu.socket });
        const chardevs = (await unix.execute('query-chardev')) as { label: string; filename: string }[];
        const tcp = chardevs.find((c) => c.label === 'tcpmon');
        port = Number(/:(\d+),server/.exec(tcp?.filename ?? '')?.[1]);
        expect(port).toBeGreaterThan(0);
      }
      await using qmp = await QmpClient.connect({ host: '127.0.0.1', port });
      expect(qmp.greeting.capabilities).toContain('oob');
      const version = (await qmp.execute('query-version')) as { qemu: object };
      expect(version.qemu).toEqual(qmp.greeting.version.qemu);
    });

    it('decodes 64-bit integers exactly in query-cpu-model-expansion', async () => {
      const qemu = await startQemu({ machine: 'pc,accel=tcg' });
      await using qmp = await QmpClient.connect({ path: qemu.socket });
      const r = (await qmp.execute('query-cpu-model-expansion', { type: 'full', model: { name: 'qemu64' } })) as {
        model: { props: Record<string, unknown> };
      };
      expect(r.model.props['lbr-fmt']).toBe(18446744073709551552n);
      expect(typeof r.model.props['lbr-fmt']).toBe('bigint');
    });

    it('rejects every pending call promptly when QEMU is killed mid-stream', async () => {
      const qemu = await startQemu();
      await using qmp = await QmpClient.connect({ path: qemu.socket });
      const calls = Array.from({ length: 5000 }, () => qmp.execute('query-status'));
      const settled = Promise.allSettled(calls);
      // Let some replies arrive first.
      await calls[10];
      await qemu.kill('SIGKILL');
      const t0 = Date.now();
      const results = await settled;
      const elapsed = Date.now() - t0;
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(rejected.length).toBeGreaterThan(0);
      for (const r of rejected) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QmpDisconnectedError);
      expect(elapsed).toBeLessThan(2000);
      expect(qmp.pendingCount).toBe(0);
      expect(qmp.connectionState).toBe('closed');
    });
  });

  describe.runIf(runIt)('QmpClient against real QEMU: matching, waiting, backpressure', () => {
    afterAll(stopAllQemu);

    itOnHost(
      '10,000 pipelined commands mixed with timeouts, aborts and oob: every answer reaches its own call',
      async () => {
        // io0…io9 with poll-max-ns 1000…1009: qom-get of each answers with its own number.
        const qemu = await startQemu({
          args: Array.from({ length: 10 }, (_, i) => ['-object', `iothread,id=io${i},poll-max-ns=${1000 + i}`]).flat(),
        });
        const transcript = new PassThrough();
        const lines: string[] = [];
        let rest = '';
        transcript.on('data', (c: Buffer) => {
          const parts = (rest + c.toString()).split('\n');
          rest = parts.pop() as string;
          lines.push(...parts);
        });
        await using qmp = await QmpClient.connect({ path: qemu.socket }, { oob: true, record: transcript });
        expect(qmp.oobEnabled).toBe(true);
        let seed = 42;
        const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
        const tally = { ok: 0, error: 0, timeout: 0, aborted: 0, oob: 0 };
        const checks: Promise<void>[] = [];
        for (let i = 0; i < 10_000; i++) {
          const k = i % 10;
          const kind = random();
          const expectReply = (call: Promise<unknown>, mayFail: string[]): Promise<void> =>
            call.then(
              (v) => {
                expect(v).toBe(1000 + k);
                tally.ok++;
              },
              (e: QmpError) => {
                expect(mayFail, `${i}: ${e.message}`).toContain(e.code);
                tally[e.code === 'QMP_ERR_TIMEOUT' ? 'timeout' : 'aborted']++;
              },
            );
          const args = { path: `/objects/io${k}`, property: 'poll-max-ns' };
          if (kind < 0.1) {
            checks.push(expectReply(qmp.execute('qom-get', args, { timeout: random() * 3 }), ['QMP_ERR_TIMEOUT']));
          } else if (kind < 0.2) {
            const ac = new AbortController();
            setTimeout(() => ac.abort(), random() * 3);
            checks.push(expectReply(qmp.execute('qom-get', args, { signal: ac.signal }), ['QMP_ERR_ABORTED']));
          } else if (kind < 0.25) {
            checks.push(
              qmp.execute('query-yank', undefined, { oob: true }).then((v) => {
                // The monitor's own chardev: an array, told apart from qom-get's numbers.
                expect(v).toEqual([{ type: 'chardev', id: 'qmp0' }]);
                tally.oob++;
              }),
            );
          } else if (kind < 0.3) {
            checks.push(
              qmp.execute('qom-get', { path: `/objects/nope${i}`, property: 'x' }).then(
                () => expect.unreachable(),
                (e: QmpCommandError) => {
                  expect(e.desc).toContain(`nope${i}`);
                  tally.error++;
                },
              ),
            );
          } else {
            checks.push(expectReply(qmp.execute('qom-get', args), []));
          }
          if (i % 500 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        await Promise.all(checks);
        expect(tally.ok).toBeGreaterThan(6000);
        expect(tally.timeout + tally.aborted).toBeGreaterThan(100);
        expect(tally.oob).toBeGreaterThan(300);
        expect(tally.error).toBeGreaterThan(300);
        // The late replies of calls given up on come first, then this one's.
        expect(await qmp.execute('qom-get', { path: '/objects/io7', property: 'poll-max-ns' })).toBe(1007);
        expect(qmp.unknownReplies).toBe(0);
        expect(qmp.pendingCount).toBe(0);
        // The wire, from the recording: in-band requests went without ids unless
        // they could be given up on, and never more than eight were in flight.
        await qmp.close();
        const entries = parseTranscript(lines.join('\n')).entries;
        const inFlight = new Set<unknown>();
        let idless = 0;
        let outstanding = 0;
        let most = 0;
        for (const { dir, msg } of entries.slice(3)) {
          const m = msg as Record<string, unknown>;
          if (dir === 'client') {
            if ('execute' in m) {
              outstanding++;
              if (m.id === undefined) idless++;
              else inFlight.add(m.id);
            }
          } else if ('return' in m || 'error' in m) {
            if (m.id === undefined || inFlight.delete(m.id)) outstanding--;
          }
          most = Math.max(most, outstanding);
        }
        expect(idless).toBeGreaterThan(6000);
        expect(most).toBeLessThanOrEqual(8);
        expect(outstanding).toBe(0);
      },
    );

    it('waitForEvent: device_del and its DEVICE_DELETED, subscribed before the command', async () => {
      const qemu = await startQemu({ machine: 'pc,accel=tcg', args: ['-device', 'qemu-xhci,id=xhci'] });
      await using qmp = await QmpClient.connect({ path: qemu.socket });
      for (let round = 0; round < 5; round++) {
        await qmp.execute('device_add', { driver: 'usb-tablet', id: `tab${round}` });
        const event = await qmp.waitForEvent('DEVICE_DELETED', {
          filter: (data) => (data as { device?: string }).device === `tab${round}`,
          trigger: () => qmp.execute('device_del', { id: `tab${round}` }),
          timeout: 5000,
        });
        expect(event.data).toEqual({ device: `tab${round}`, path: `/machine/peripheral/tab${round}` });
      }
      const e = await qmp
        .waitForEvent('DEVICE_DELETED', { trigger: () => qmp.execute('device_del', { id: 'nope' }), timeout: 5000 })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpCommandError);
      expect((e as QmpCommandError).errorClass).toBe('DeviceNotFound');
    });

    itOnHost(
      'backpressure: a stopped QEMU reads nothing; the client queues instead of buffering in the socket, ' +
        'and caps the queue',
      async () => {
        const qemu = await startQemu({ monitors: 2 });
        const socket = await openSocket({ path: qemu.sockets[0] as string });
        await using qmp = await QmpClient.overStream(socket);
        await using capped = await QmpClient.connect({ path: qemu.sockets[1] as string }, { maxQueuedRequests: 1000 });
        process.kill(qemu.pid, 'SIGSTOP');
        try {
          const calls = Array.from({ length: 30_000 }, () => qmp.execute('query-status'));
          const cappedCalls = Array.from({ length: 5000 }, () =>
            capped.execute('query-status').catch((e: unknown) => e),
          );
          await new Promise((r) => setTimeout(r, 200));
          expect(qmp.queuedRequests).toBeGreaterThan(15_000);
          expect(socket.writableLength).toBeLessThanOrEqual(socket.writableHighWaterMark + 64 * 1024 + 100);
          process.kill(qemu.pid, 'SIGCONT');
          const replies = await Promise.all(calls);
          expect(replies.every((r) => (r as { status: string }).status === 'prelaunch')).toBe(true);
          const cappedResults = await Promise.all(cappedCalls);
          const refused = cappedResults.filter(isQmpQueueFullError);
          expect(refused.length).toBe(5000 - 1000);
          expect(cappedResults.filter((r) => (r as { status?: string }).status === 'prelaunch')).toHaveLength(1000);
          expect(qmp.queuedRequests).toBe(0);
        } finally {
          process.kill(qemu.pid, 'SIGCONT');
        }
      },
    );
  });
});
