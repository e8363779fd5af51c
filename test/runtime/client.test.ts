import { afterEach, describe, expect, it } from 'vitest';
import {
  LineDecoder,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  isQmpAbortError,
  isQmpCapabilityError,
  isQmpTimeoutError,
  parseTcpTarget,
  type ConnectOptions,
} from '../../src/runtime/index.js';
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
    const reported: QmpError[] = [];
    client.onError((e) => reported.push(e as QmpError));
    const call = client.execute('x');
    const [cmd] = await peer.waitFor(1);
    peer.reply(99999, 'stray');
    peer.send({ return: 'no id' });
    peer.reply(cmd?.id, 'mine');
    expect(await call).toBe('mine');
    expect(reported.map((e) => e.code)).toEqual(['QMP_ERR_UNKNOWN_REPLY', 'QMP_ERR_UNKNOWN_REPLY']);
    expect(client.unknownReplies).toBe(2);
  });

  it('fails connect with QMP_ERR_GREETING: none, wrong first message, or hang-up before it', async () => {
    const silent = memoryPeer({ greeting: null });
    const t0 = Date.now();
    const e1 = await rejection(QmpClient.overStream(silent.stream, { timeout: 150 }));
    expect(e1.code).toBe('QMP_ERR_GREETING');
    expect(Date.now() - t0).toBeLessThan(1000);
    const wrong = memoryPeer({ greeting: '{"return": {}}' });
    expect((await rejection(QmpClient.overStream(wrong.stream, { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
    const garbage = memoryPeer({ greeting: 'SSH-2.0-OpenSSH' });
    expect((await rejection(QmpClient.overStream(garbage.stream, { timeout: 1000 }))).code).toBe('QMP_ERR_PROTOCOL');
    const gone = memoryPeer({ greeting: null });
    setTimeout(() => gone.peer.hangup(), 20);
    expect((await rejection(QmpClient.overStream(gone.stream, { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
    const refused = memoryPeer({ autoNegotiate: false });
    refused.peer.onCommand = (c) => refused.peer.replyError(c.id, 'GenericError', 'no');
    expect((await rejection(QmpClient.overStream(refused.stream, { timeout: 1000 }))).code).toBe('QMP_ERR_GREETING');
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

const DEFAULT_NO_OOB =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}';
