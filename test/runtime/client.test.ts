import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  JsonParseError,
  LineDecoder,
  QmpArgumentError,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  isQmpAbortError,
  isQmpArgumentError,
  isQmpCapabilityError,
  isQmpTimeoutError,
  parseTcpTarget,
  type ConnectOptions,
} from '../../src/runtime/index.js';
import { MAX_ARGUMENT_DEPTH, MAX_REQUEST_BYTES, MAX_REQUEST_TOKENS, encodeCommand } from '../../src/runtime/protocol.js';
import { Deadline } from '../../src/runtime/timers.js';
import { FakeQmpServer, memoryPeer, type FakePeerOptions } from '../helpers/fake-qmp-server.js';

const clients: QmpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) {
    await c.close();
    expect(c.pendingCount).toBe(0);
  }
});

async function session(peerOptions: FakePeerOptions = {}, options: ConnectOptions = {}) {
  const { stream, peer } = memoryPeer(peerOptions);
  const client = await QmpClient.overStream(stream, { timeout: 2000, ...options });
  clients.push(client);
  return { client, peer };
}

async function rejection(p: Promise<unknown>): Promise<QmpError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(QmpError);
    return e as QmpError;
  }
  throw new Error('expected a rejection');
}

const tick = () => new Promise((r) => setImmediate(r));

/** What the client reports to its onError listeners, collected. */
function reportedErrors(client: QmpClient): QmpError[] {
  const reported: QmpError[] = [];
  client.onError((e) => reported.push(e as QmpError));
  return reported;
}

describe('LineDecoder', () => {
  const message = '{"return": {"s": "h\u00e9llo \u2713 \ud83d\ude00", "n": 18446744073709551552}, "id": 1}\r\n{"event": "X", "timestamp": {"seconds": 1, "microseconds": 2}}\n';

  it('yields the same lines for every two- and three-way chunk split', () => {
    const bytes = Buffer.from(message);
    const expected = message.split('\n').filter((l) => l !== '');
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i; j < bytes.length; j += 7) {
        const lines: string[] = [];
        const d = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => { throw e; } });
        d.push(bytes.subarray(0, i));
        d.push(bytes.subarray(i, j));
        d.push(bytes.subarray(j));
        expect(lines).toEqual(expected);
        expect(d.bufferedBytes).toBe(0);
      }
    }
  });

  it('fails once, for good, on a line over the limit', () => {
    const errors: QmpProtocolError[] = [];
    const lines: string[] = [];
    const d = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => errors.push(e) }, 100);
    d.push(Buffer.from('x'.repeat(60)));
    d.push(Buffer.from('x'.repeat(60)));
    d.push(Buffer.from('{}\n{}\n'));
    expect(errors.map((e) => e.code)).toEqual(['QMP_ERR_MESSAGE_TOO_LARGE']);
    expect(lines).toEqual([]);
    const d2 = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => errors.push(e) }, 100);
    d2.push(Buffer.from(`${'y'.repeat(101)}\n`));
    expect(errors).toHaveLength(2);
  });

  it('copies an incomplete line out of its chunks: memory stays near the bytes held', () => {
    const lines: string[] = [];
    const d = new LineDecoder({ line: (t) => lines.push(t), fail: (e) => { throw e; } });
    const text = `{"return": "${'abcdefgh'.repeat(25_000)}", "id": 1}`;
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) {
      // One chunk per byte, each its own allocation, as a trickling peer gives them.
      const chunk = Buffer.from(bytes.subarray(i, i + 1));
      d.push(chunk);
      // The decoder must not keep the chunk: scribbling on it changes nothing.
      chunk.fill(0x5a);
      if (i % 1000 === 0) {
        expect(d.bufferedBytes).toBe(i + 1);
        expect(d.retainedBytes).toBeLessThanOrEqual(2 * d.bufferedBytes + 1024);
      }
    }
    expect(d.retainedBytes).toBeLessThanOrEqual(2 * bytes.length);
    d.push(Buffer.from('\n'));
    expect(lines).toEqual([text]);
    expect(d.bufferedBytes).toBe(0);
    // A large buffer is let go once its line is complete.
    expect(d.retainedBytes).toBe(0);
  });
});

describe('QmpClient against a fake server', () => {
  it('negotiates, and enables oob only when asked and offered', async () => {
    const a = await session({}, { oob: true });
    expect(a.client.greeting.version.qemu).toEqual({ major: 7, minor: 2, micro: 0 });
    expect(a.client.oobEnabled).toBe(true);
    expect(JSON.parse(a.peer.lines[0] as string)).toEqual({ execute: 'qmp_capabilities', arguments: { enable: ['oob'] }, id: 1 });
    const b = await session({}, {});
    expect(b.client.oobEnabled).toBe(false);
    expect(JSON.parse(b.peer.lines[0] as string)).toEqual({ execute: 'qmp_capabilities', id: 1 });
    const c = await session({ greeting: DEFAULT_NO_OOB }, { oob: true });
    expect(c.client.oobEnabled).toBe(false);
  });

  it('decodes a reply split at every byte boundary', async () => {
    const { client, peer } = await session();
    const body = { s: 'h\u00e9llo \u2713 \ud83d\ude00', n: '__BIG__' };
    for (let i = 1; ; i++) {
      const call = client.execute('split-me');
      const [cmd] = (await peer.waitFor(peer.received.length + 1)).slice(-1);
      const line = Buffer.from(`${JSON.stringify({ return: body, id: cmd?.id }).replace('"__BIG__"', '18446744073709551552')}\r\n`);
      if (i >= line.length) {
        peer.sendRaw(line);
        await call;
        break;
      }
      peer.sendRaw(line.subarray(0, i));
      await tick();
      peer.sendRaw(line.subarray(i));
      expect(await call).toEqual({ s: body.s, n: 18446744073709551552n });
    }
    // And one byte per chunk.
    const call = client.execute('bytewise');
    const [cmd] = (await peer.waitFor(peer.received.length + 1)).slice(-1);
    for (const b of Buffer.from(`{"return": [1, "\u2713"], "id": ${String(cmd?.id)}}\n`)) peer.sendRaw(Buffer.from([b]));
    expect(await call).toEqual([1, '\u2713']);
  });

  it('matches out-of-order replies by id, many in flight', async () => {
    const { client, peer } = await session();
    const calls = Array.from({ length: 50 }, (_, i) => client.execute('echo', { i }));
    const cmds = await peer.waitFor(50);
    for (const c of [...cmds].reverse()) peer.reply(c.id, c.arguments?.i);
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(client.pendingCount).toBe(0);
  });

  it('rejects an error reply with QmpCommandError carrying class, desc and command', async () => {
    const { client, peer } = await session();
    peer.onCommand = (c) => peer.replyError(c.id, 'CommandNotFound', "The command nope has not been found");
    const e = await rejection(client.execute('nope', { a: 1 }));
    expect(e).toBeInstanceOf(QmpCommandError);
    expect(e.code).toBe('QMP_ERR_COMMAND');
    const ce = e as QmpCommandError;
    expect([ce.errorClass, ce.desc, ce.command, ce.args]).toEqual(['CommandNotFound', 'The command nope has not been found', 'nope', { a: 1 }]);
  });

  it('treats a garbage line as a fatal protocol error, rejecting every pending call', async () => {
    const { client, peer } = await session();
    const reported: unknown[] = [];
    client.onError((e) => reported.push(e));
    const calls = [client.execute('a'), client.execute('b')];
    await peer.waitFor(2);
    peer.sendRaw('this is not json\r\n');
    for (const c of calls) {
      const e = await rejection(c);
      expect(e).toBeInstanceOf(QmpProtocolError);
      expect(e.code).toBe('QMP_ERR_PROTOCOL');
    }
    expect(reported).toHaveLength(1);
    expect(client.pendingCount).toBe(0);
    expect(client.connectionState).toBe('closed');
    const after = await rejection(client.execute('c'));
    expect(after.code).toBe('QMP_ERR_DISCONNECTED');
    expect((after.cause as QmpError).code).toBe('QMP_ERR_PROTOCOL');
  });

  it('treats a line over maxMessageBytes as fatal (QMP_ERR_MESSAGE_TOO_LARGE)', async () => {
    const { client, peer } = await session({}, { maxMessageBytes: 4096 });
    const call = client.execute('big');
    const [cmd] = await peer.waitFor(1);
    for (let i = 0; i < 5; i++) peer.sendRaw(`{"return": "${'z'.repeat(1000)}`);
    peer.sendRaw(`", "id": ${String(cmd?.id)}}\n`);
    expect((await rejection(call)).code).toBe('QMP_ERR_MESSAGE_TOO_LARGE');
    expect(client.pendingCount).toBe(0);
  });

  it('reports a reply with an unknown id without disturbing other calls', async () => {
    const { client, peer } = await session();
    const reported = reportedErrors(client);
    const call = client.execute('x');
    const [cmd] = await peer.waitFor(1);
    peer.reply(99999, 'stray');
    peer.send({ return: 'no id' });
    peer.reply(cmd?.id, 'mine');
    expect(await call).toBe('mine');
    expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_UNKNOWN_REPLY', 'QMP_ERR_UNKNOWN_REPLY']);
    expect(client.unknownReplies).toBe(2);
  });

  it('times out a call the server never answers, and drops its late reply quietly', async () => {
    const { client, peer } = await session();
    const reported: unknown[] = [];
    client.onError((e) => reported.push(e));
    const e = await rejection(client.execute('slow', undefined, { timeout: 50 }));
    expect(isQmpTimeoutError(e)).toBe(true);
    expect(e.code).toBe('QMP_ERR_TIMEOUT');
    expect(client.pendingCount).toBe(0);
    const [cmd] = await peer.waitFor(1);
    peer.reply(cmd?.id, 'late');
    peer.onCommand = (c) => peer.reply(c.id, 'ok');
    expect(await client.execute('next')).toBe('ok');
    expect(reported).toEqual([]);
    expect(client.unknownReplies).toBe(0);
  });

  it('keeps ids short by reusing answered ones, never one whose late reply may still come', async () => {
    const { client, peer } = await session();
    const ids = () => peer.received.map((c) => c.id);
    peer.onCommand = (c) => peer.reply(c.id, c.execute);
    for (let i = 0; i < 20; i++) await client.execute(`seq${i}`);
    expect(new Set(ids())).toEqual(new Set([1]));

    // A call given up on keeps its id until the late reply arrives.
    peer.onCommand = undefined;
    const slow = client.execute('slow', undefined, { timeout: 30 });
    const [slowCmd] = (await peer.waitFor(21)).slice(-1);
    expect(isQmpTimeoutError(await rejection(slow))).toBe(true);
    const during = client.execute('during');
    const [duringCmd] = (await peer.waitFor(22)).slice(-1);
    expect(duringCmd?.id).not.toBe(slowCmd?.id);
    peer.reply(slowCmd?.id, 'late for slow');
    peer.reply(duringCmd?.id, 'during');
    expect(await during).toBe('during');

    // Now both ids are free again; concurrent calls still get distinct ids.
    const batch = Array.from({ length: 8 }, (_, i) => client.execute('batch', { i }));
    const sent = (await peer.waitFor(30)).slice(-8);
    expect(new Set(sent.map((c) => c.id)).size).toBe(8);
    expect(Math.max(...sent.map((c) => Number(c.id)))).toBeLessThanOrEqual(8);
    for (const c of sent.reverse()) peer.reply(c.id, c.arguments?.i);
    expect(await Promise.all(batch)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(client.unknownReplies).toBe(0);
    expect(client.pendingCount).toBe(0);
  });

  it('aborts one call by signal; others are unaffected', async () => {
    const { client, peer } = await session();
    const ac = new AbortController();
    const aborted = client.execute('a', undefined, { signal: ac.signal });
    const other = client.execute('b');
    const cmds = await peer.waitFor(2);
    ac.abort();
    expect(isQmpAbortError(await rejection(aborted))).toBe(true);
    peer.reply(cmds[0]?.id, 'late');
    peer.reply(cmds[1]?.id, 'b-result');
    expect(await other).toBe('b-result');
    const pre = new AbortController();
    pre.abort();
    expect((await rejection(client.execute('c', undefined, { signal: pre.signal }))).code).toBe('QMP_ERR_ABORTED');
    expect(client.pendingCount).toBe(0);
  });

  it('many calls sharing one signal share one abort listener; aborting rejects them all', async () => {
    const { client, peer } = await session();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      const calls = Array.from({ length: 100 }, (_, i) => client.execute(`c${i}`, undefined, { signal: ac.signal }));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      const received = await peer.waitFor(100);
      // Half are answered: still one listener, for the rest.
      for (const cmd of received.slice(0, 50)) peer.reply(cmd.id, {});
      await Promise.all(calls.slice(0, 50));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
      ac.abort('stop');
      const errors = await Promise.all(calls.slice(50).map(rejection));
      expect(errors.every(isQmpAbortError)).toBe(true);
      expect(errors.map((e) => (e as QmpError & { command: string }).command)).toEqual(received.slice(50).map((c) => c.execute));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      expect(client.pendingCount).toBe(0);
      // A signal whose calls all settle keeps no listener.
      const other = new AbortController();
      const one = client.execute('one', undefined, { signal: other.signal });
      peer.reply((await peer.waitFor(101))[100]!.id, {});
      await one;
      expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
      await tick();
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects every pending call at once when the server closes mid-message', async () => {
    const { client, peer } = await session();
    const calls = Array.from({ length: 5 }, (_, i) => client.execute(`c${i}`));
    const cmds = await peer.waitFor(5);
    peer.sendRaw(`{"return": {}, "id": ${String(cmds[0]?.id)}`);
    peer.hangup();
    const errors = await Promise.all(calls.map(rejection));
    for (const [i, e] of errors.entries()) {
      expect(e).toBeInstanceOf(QmpDisconnectedError);
      expect((e as QmpDisconnectedError).command).toBe(`c${i}`);
    }
    expect(client.pendingCount).toBe(0);
    await client.closed;
  });

  it('sends exec-oob only when oob was negotiated', async () => {
    const plain = await session();
    const e = await rejection(plain.client.execute('migrate-pause', undefined, { oob: true }));
    expect(isQmpCapabilityError(e)).toBe(true);
    expect(e.code).toBe('QMP_ERR_OOB_NOT_NEGOTIATED');
    const oob = await session({}, { oob: true });
    oob.peer.onCommand = (c) => oob.peer.reply(c.id, c.oob);
    expect(await oob.client.execute('migrate-pause', undefined, { oob: true })).toBe(true);
    expect(oob.peer.lines.at(-1)).toMatch(/^\{"exec-oob":"migrate-pause","id":\d+\}$/);
  });

  it('delivers events to iterators (buffered from subscription) and listeners', async () => {
    const { client, peer } = await session();
    const all = client.events();
    const resumes = client.events(['RESUME']);
    const heard: string[] = [];
    const off = client.onEvent((ev) => heard.push(ev.event), ['STOP']);
    peer.event('STOP');
    peer.event('RESUME', { x: 1 });
    peer.event('STOP');
    await tick();
    off();
    peer.event('STOP');
    const first = await resumes.next();
    expect(first.value).toEqual({ event: 'RESUME', data: { x: 1 }, timestamp: { seconds: 1, microseconds: 2 } });
    const names: string[] = [];
    for await (const ev of all) {
      names.push(ev.event);
      if (names.length === 4) break;
    }
    expect(names).toEqual(['STOP', 'RESUME', 'STOP', 'STOP']);
    expect(heard).toEqual(['STOP', 'STOP']);
    await client.close();
    expect(await resumes.next()).toEqual({ value: undefined, done: true });
  });

  it('drops the oldest events when a stream buffer overflows, and counts them', async () => {
    const { client, peer } = await session();
    const stream = client.events(undefined, { bufferSize: 3 });
    for (let i = 0; i < 10; i++) peer.event('TICK', { i });
    await tick();
    expect(stream.dropped).toBe(7);
    expect(stream.buffered).toBe(3);
    const got: unknown[] = [];
    for (let i = 0; i < 3; i++) got.push((await stream.next()).value?.data);
    expect(got).toEqual([{ i: 7 }, { i: 8 }, { i: 9 }]);
  });

  it('ends an event iterator on its abort signal', async () => {
    const { client, peer } = await session();
    const ac = new AbortController();
    const stream = client.events(['A'], { signal: ac.signal });
    const pending = stream.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    peer.event('A');
    await tick();
    expect(stream.buffered).toBe(0);
    const pre = client.events(undefined, { signal: ac.signal });
    expect(await pre.next()).toEqual({ value: undefined, done: true });
  });

  it('errors event iterators when the connection is lost, after draining them', async () => {
    const { client, peer } = await session();
    const stream = client.events();
    peer.event('A');
    await tick();
    peer.hangup();
    await client.closed;
    expect((await stream.next()).value?.event).toBe('A');
    expect((await rejection(stream.next())).code).toBe('QMP_ERR_DISCONNECTED');
  });

  it('supports await using and rejects calls pending at close()', async () => {
    const { stream, peer } = memoryPeer();
    let pending: Promise<unknown> | undefined;
    {
      await using client = await QmpClient.overStream(stream);
      pending = client.execute('hang');
      await peer.waitFor(1);
    }
    const e = await rejection(pending);
    expect(e.code).toBe('QMP_ERR_DISCONNECTED');
  });

  it('copes with a greeting and an event in one chunk', async () => {
    const { stream, peer } = memoryPeer({
      greeting: `${DEFAULT_NO_OOB}\r\n{"event": "EARLY", "timestamp": {"seconds": 1, "microseconds": 0}}`,
    });
    const client = await QmpClient.overStream(stream, { timeout: 1000 });
    clients.push(client);
    peer.onCommand = (c) => peer.reply(c.id, 'fine');
    expect(await client.execute('x')).toBe('fine');
  });

  it('works over TCP', async () => {
    const server = await FakeQmpServer.start({ tcp: true }, (peer) => {
      peer.onCommand = (c) => peer.reply(c.id, 18446744073709551552n.toString());
    });
    try {
      const client = await QmpClient.connect({ host: '127.0.0.1', port: server.port });
      clients.push(client);
      expect(await client.execute('over-tcp')).toBe('18446744073709551552');
      const e = await rejection(QmpClient.connect(parseTcpTarget('127.0.0.1:1')));
      expect(e.code).toBe('QMP_ERR_CONNECT');
      expect(() => parseTcpTarget('no-port')).toThrow(QmpConnectError);
      expect(parseTcpTarget('[::1]:4444')).toEqual({ host: '::1', port: 4444 });
    } finally {
      await server.close();
    }
  });

  it('connect honours an abort signal', async () => {
    const silent = memoryPeer({ greeting: null });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    expect((await rejection(QmpClient.overStream(silent.stream, { timeout: 5000, signal: ac.signal }))).code).toBe('QMP_ERR_ABORTED');
  });

  it('works over a unix socket, and fails to connect with QmpConnectError', async () => {
    const server = await FakeQmpServer.start({}, (peer) => {
      peer.onCommand = (c) => peer.reply(c.id, { echo: c.execute });
    });
    try {
      const client = await QmpClient.connect({ path: server.path });
      clients.push(client);
      expect(await client.execute('hello')).toEqual({ echo: 'hello' });
      const e = await rejection(QmpClient.connect({ path: `${server.path}.missing` }));
      expect(e).toBeInstanceOf(QmpConnectError);
      expect(e.code).toBe('QMP_ERR_CONNECT');
      expect(e.message).toContain('ENOENT');
    } finally {
      await server.close();
    }
  });
});

const nested = (depth: number, inner = '1'): string => '['.repeat(depth) + inner + ']'.repeat(depth);

/** A value `depth` arrays deep, built without recursion. */
function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('QmpClient against hostile servers', () => {
  it('treats a line nested 10,000 deep as a fatal protocol error, not a crash', async () => {
    for (const line of [nested(10_000), `{"error": {"class": "GenericError", "desc": ${nested(10_000)}}, "id": 1}`]) {
      const { client, peer } = await session();
      const reported = reportedErrors(client);
      const calls = [client.execute('a'), client.execute('b')];
      await peer.waitFor(2);
      peer.sendRaw(`${line}\r\n`);
      for (const c of calls) {
        const e = await rejection(c);
        expect(e.code).toBe('QMP_ERR_PROTOCOL');
        expect(e.cause).toBeInstanceOf(JsonParseError);
        expect((e.cause as Error).message).toMatch(/^nesting deeper than 1024 levels/);
      }
      expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_PROTOCOL']);
      expect(client.connectionState).toBe('closed');
      expect(client.pendingCount).toBe(0);
    }
  });

  it('describes deep or huge messages briefly (error replies, unknown shapes)', async () => {
    const { client, peer } = await session();
    const reported = reportedErrors(client);
    const call = client.execute('x');
    const [cmd] = await peer.waitFor(1);
    peer.sendRaw(`${nested(1000)}\n`);
    peer.sendRaw(`{"error": {"class": "GenericError", "desc": ${nested(1000)}}, "id": ${String(cmd?.id)}}\n`);
    const e = (await rejection(call)) as QmpCommandError;
    expect(e.code).toBe('QMP_ERR_COMMAND');
    expect(e.desc.length).toBeLessThan(250);
    expect(e.desc).toMatch(/^\{"class":"GenericError","desc":\[\[\[/);
    expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    expect(reported[0]?.message.length).toBeLessThan(300);
  });

  it('survives a too-deep line on a real socket: pending calls reject, onError is told', async () => {
    const server = await FakeQmpServer.start({}, (peer) => {
      peer.onCommand = () => peer.sendRaw(`${nested(10_000)}\n`);
    });
    try {
      const client = await QmpClient.connect({ path: server.path });
      clients.push(client);
      const reported = reportedErrors(client);
      const e = await rejection(client.execute('query-status'));
      expect(e.code).toBe('QMP_ERR_PROTOCOL');
      await client.closed;
      expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    } finally {
      await server.close();
    }
  });

  it('fails connect with QMP_ERR_GREETING for any failure before the session is ready, keeping the cause', async () => {
    const cases: [string, FakePeerOptions, ConnectOptions, string | undefined, ((p: ReturnType<typeof memoryPeer>) => void)?][] = [
      ['not JSON', { greeting: 'SSH-2.0-OpenSSH' }, {}, 'QMP_ERR_PROTOCOL'],
      ['too deep', { greeting: nested(5000) }, {}, 'QMP_ERR_PROTOCOL'],
      ['too large', { greeting: `{"QMP": "${'x'.repeat(200)}"}` }, { maxMessageBytes: 100 }, 'QMP_ERR_MESSAGE_TOO_LARGE'],
      ['not a greeting', { greeting: '{"return": {}}' }, {}, undefined],
      ['hang-up before the greeting', { greeting: null }, {}, 'QMP_ERR_DISCONNECTED', (p) => setTimeout(() => p.peer.hangup(), 20)],
      ['hang-up while negotiating', { autoNegotiate: false }, {}, 'QMP_ERR_DISCONNECTED', (p) => (p.peer.onCommand = () => p.peer.hangup())],
      ['negotiation refused', { autoNegotiate: false }, {}, 'QMP_ERR_COMMAND', (p) => (p.peer.onCommand = (c) => p.peer.replyError(c.id, 'GenericError', 'no'))],
      ['silence', { greeting: null }, { timeout: 100 }, undefined],
    ];
    for (const [what, peerOptions, options, causeCode, act] of cases) {
      const p = memoryPeer(peerOptions);
      act?.(p);
      const e = await rejection(QmpClient.overStream(p.stream, { timeout: 2000, ...options }, 'fake'));
      expect(e.code, what).toBe('QMP_ERR_GREETING');
      expect(e.message, what).toMatch(/^fake: (waiting for the QMP greeting|negotiating capabilities): /);
      expect((e.cause as QmpError | undefined)?.code, what).toBe(causeCode);
    }
  });

  it('lets timeouts of 2^31 ms and more, or Infinity, run instead of firing at once', async () => {
    const { client, peer } = await session({}, { defaultTimeout: 2 ** 31 });
    const calls = [
      client.execute('default'),
      client.execute('inf', undefined, { timeout: Infinity }),
      client.execute('huge', undefined, { timeout: 3_000_000_000 }),
    ];
    const cmds = await peer.waitFor(3);
    await new Promise((r) => setTimeout(r, 50));
    expect(client.pendingCount).toBe(3);
    for (const c of cmds) peer.reply(c.id, c.execute);
    expect(await Promise.all(calls)).toEqual(['default', 'inf', 'huge']);
    // Connect timeouts too: a greeting that comes after 50 ms is still in time.
    for (const timeout of [Infinity, 2 ** 31]) {
      const late = memoryPeer({ greeting: null });
      setTimeout(() => late.peer.sendRaw(`${DEFAULT_NO_OOB}\n`), 50);
      const c = await QmpClient.overStream(late.stream, { timeout });
      clients.push(c);
      expect(c.connectionState).toBe('ready');
    }
    const server = await FakeQmpServer.start();
    try {
      const c = await QmpClient.connect({ path: server.path }, { timeout: 2 ** 32 });
      clients.push(c);
      expect(c.connectionState).toBe('ready');
    } finally {
      await server.close();
    }
  });

  it('chains timers for waits beyond what Node can time in one go', () => {
    vi.useFakeTimers();
    try {
      let fired = 0;
      const d = new Deadline(2 ** 31 + 1000, () => fired++);
      vi.advanceTimersByTime(2 ** 31 + 999);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(1);
      expect(fired).toBe(1);
      const cancelled = new Deadline(3 * 2 ** 31, () => fired++);
      vi.advanceTimersByTime(2 ** 31 + 5);
      cancelled.cancel();
      vi.advanceTimersByTime(4 * 2 ** 31);
      expect(fired).toBe(1);
      d.cancel();
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects bad timeouts and buffer sizes up front, sending nothing', async () => {
    const { client, peer } = await session();
    for (const [timeout, type] of [[-1, RangeError], [NaN, RangeError], [-Infinity, RangeError], ['100', TypeError]] as const) {
      const e = await client.execute('x', undefined, { timeout: timeout as number }).catch((err: unknown) => err);
      expect(e, String(timeout)).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(/^timeout must be a number of milliseconds/);
    }
    await tick();
    expect(peer.received).toEqual([]);
    expect(client.pendingCount).toBe(0);
    for (const [bufferSize, type] of [[NaN, RangeError], [0, RangeError], [-5, RangeError], [1.5, RangeError], [Infinity, RangeError], ['3', TypeError]] as const) {
      expect(() => client.events(undefined, { bufferSize: bufferSize as number }), String(bufferSize)).toThrow(type);
    }
    expect(client.events(undefined, { bufferSize: 1 }).bufferSize).toBe(1);
    expect(() => new LineDecoder({ line: () => {}, fail: () => {} }, NaN)).toThrow(RangeError);
    const bad: [ConnectOptions, ErrorConstructor][] = [
      [{ timeout: -5 }, RangeError],
      [{ timeout: NaN }, RangeError],
      [{ defaultTimeout: -1 }, RangeError],
      [{ maxMessageBytes: 0 }, RangeError],
      [{ maxMessageBytes: NaN }, RangeError],
      [{ timeout: '5' as unknown as number }, TypeError],
    ];
    for (const [options, type] of bad) {
      await expect(QmpClient.connect({ path: '/nonexistent/qmp.sock' }, options), JSON.stringify(options)).rejects.toThrow(type);
      const p = memoryPeer();
      await expect(QmpClient.overStream(p.stream, options)).rejects.toThrow(type);
    }
  });

  it('ends event iterators normally when the server hangs up after answering quit', async () => {
    const { client, peer } = await session();
    const stream = client.events();
    const other = client.execute('slow');
    peer.onCommand = (c) => {
      if (c.execute !== 'quit') return;
      peer.reply(c.id, {});
      peer.event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
      peer.hangup();
    };
    expect(await client.execute('quit')).toEqual({});
    await client.closed;
    const names: string[] = [];
    for await (const ev of stream) names.push(ev.event);
    expect(names).toEqual(['SHUTDOWN']);
    expect((await rejection(other)).code).toBe('QMP_ERR_DISCONNECTED');
    expect(client.pendingCount).toBe(0);
  });

  it('resolves quit when the server hangs up before its reply arrives', async () => {
    const { client, peer } = await session();
    const stream = client.events();
    peer.onCommand = (c) => {
      if (c.execute === 'quit') peer.hangup();
    };
    expect(await client.execute('quit')).toEqual({});
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('refuses arguments QEMU could not parse as one request, before sending anything', async () => {
    const { client, peer } = await session();
    peer.onCommand = (c) => peer.reply(c.id, 'ok');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [string, string, Record<string, unknown> | undefined, RegExp][] = [
      ['x', `${MAX_ARGUMENT_DEPTH + 1} levels`, { a: deepValue(MAX_ARGUMENT_DEPTH) }, /arguments nested deeper than 1023 levels/],
      ['x', '60,000 levels', { a: deepValue(60_000) }, /arguments nested deeper than 1023 levels/],
      ['x', 'cyclic', cyclic, /cannot be encoded as JSON: .*cyclic/],
      ['x', 'an array', [1] as unknown as Record<string, unknown>, /arguments must be an object, got an array/],
      ['x', 'a lone surrogate', { s: 'a\ud800b' }, /lone surrogate \(\\ud800\)/],
      ['x', 'a lone surrogate in a key', { 'k\udfff': 1 }, /lone surrogate \(\\udfff\)/],
      ['x\udc00', 'a lone surrogate in the command', undefined, /lone surrogate/],
      ['x', 'a noncharacter', { s: '\uffff' }, /noncharacter U\+FFFF/],
      ['x', 'a noncharacter beyond the BMP', { s: '\u{10fffe}' }, /noncharacter U\+10FFFE/],
    ];
    for (const [command, what, args, message] of cases) {
      const e = await rejection(client.execute(command, args));
      expect(isQmpArgumentError(e), what).toBe(true);
      expect(e).toBeInstanceOf(QmpArgumentError);
      expect(e.code).toBe('QMP_ERR_ARGUMENT');
      expect((e as QmpArgumentError).command).toBe(command);
      expect(e.message, what).toMatch(message);
    }
    await tick();
    expect(peer.received).toEqual([]);
    expect(client.pendingCount).toBe(0);
    // Right at the limits it is sent, and the session is unharmed.
    const fine = { a: deepValue(MAX_ARGUMENT_DEPTH - 1), s: '\u{1f600}\ufdcf\\ud800' };
    expect(await client.execute('x', fine)).toBe('ok');
    expect(peer.received[0]?.arguments).toEqual(fine);
  });
});

describe('encodeCommand: the token and byte limits of QEMU\'s JSON streamer', () => {
  it('allows 2^21 tokens, not one more', () => {
    expect(MAX_REQUEST_TOKENS).toBe(2 ** 21);
    // {"execute":"x","arguments":{"a":[0,…]},"id":1} is 2n + 17 tokens; with ,"b":[] 2n + 22.
    const line = (n: number, extra: boolean) => encodeCommand('x', { a: new Array(n).fill(0), ...(extra ? { b: [] } : {}) }, 1, false);
    expect(() => line(1_048_567, false)).not.toThrow(); // 2,097,151 tokens
    expect(() => line(1_048_565, true)).not.toThrow(); // 2,097,152
    expect(() => line(1_048_568, false)).toThrow(/request has 2097153 JSON tokens; QEMU accepts at most 2097152/);
    expect(() => line(1_048_566, true)).toThrow(QmpArgumentError);
  });

  it('allows 64 MiB − 1 bytes of tokens, not one more', () => {
    const envelope = Buffer.byteLength(encodeCommand('x', { s: '' }, 1, false)) - 1;
    const room = MAX_REQUEST_BYTES - envelope;
    expect(() => encodeCommand('x', { s: 'y'.repeat(room) }, 1, false)).not.toThrow();
    expect(() => encodeCommand('x', { s: 'y'.repeat(room + 1) }, 1, false)).toThrow(/request is 67108864 bytes; QEMU accepts at most 67108863/);
    // Counted in UTF-8 bytes, not characters.
    expect(() => encodeCommand('x', { s: '\u00e9'.repeat(Math.ceil(room / 2) + 1) }, 1, false)).toThrow(QmpArgumentError);
  });
});

const DEFAULT_NO_OOB =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}';
