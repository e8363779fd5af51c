/**
 * GuestAgentClient (src/runtime/guest-agent.ts) against the test server
 * acting as qemu-ga (`guestAgent: true`): the sync on connect and after
 * timeouts, aborts and garbage, stale data before the 0xFF sentinel, one
 * command at a time, commands that never reply, and a typed client
 * generated from a guest agent schema running on it.
 * test/runtime/guest-agent.integration.ts does the same against qemu-ga.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseSchemaString } from '../../src/frontend/index.js';
import { GuestAgentClient, QmpCommandError, type GuestAgentOptions, type QmpError } from '../../src/runtime/index.js';
import {
  QmpErrorResponse,
  QmpTestServer,
  ServerSchema,
  faults,
  type ReceivedCommand,
  type Session,
} from '../../src/testing/index.js';
import { loadSnippet } from '../backends/helpers.js';
import { rejection } from '../helpers/rejection.js';
import { builtCli, runCli } from '../helpers/cli.js';
import { listeningServer } from '../helpers/socket-server.js';

/** A few commands of QEMU's qga schema, in its shapes, plus one that never replies and that no name list knows. */
const QGA_SCHEMA = `
{ 'pragma': { 'command-returns-exceptions': [ 'guest-sync-delimited', 'guest-sync', 'guest-get-time' ] } }
{ 'command': 'guest-sync-delimited', 'data': { 'id': 'int' }, 'returns': 'int' }
{ 'command': 'guest-sync', 'data': { 'id': 'int' }, 'returns': 'int' }
{ 'command': 'guest-ping' }
{ 'command': 'guest-get-time', 'returns': 'int' }
{ 'struct': 'GuestHostName', 'data': { 'host-name': 'str' } }
{ 'command': 'guest-get-host-name', 'returns': 'GuestHostName' }
{ 'command': 'guest-shutdown', 'data': { '*mode': 'str' }, 'success-response': false }
{ 'command': 'guest-suspend-ram', 'success-response': false }
{ 'command': 'guest-self-destruct', 'success-response': false }`;

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function agent(options: { serial?: boolean } = {}): Promise<QmpTestServer> {
  const schema = await ServerSchema.of(parseSchemaString(QGA_SCHEMA, 'qga.json'));
  const server = await QmpTestServer.create({ schema, guestAgent: true, ...options });
  open.push(server);
  server.on('guest-ping', () => ({}));
  server.on('guest-get-time', () => 1_795_618_315_537_590_000n);
  server.on('guest-get-host-name', () => ({ 'host-name': 'vm' }));
  return server;
}

async function connect(server: QmpTestServer, options: GuestAgentOptions = {}): Promise<GuestAgentClient> {
  const ga = await GuestAgentClient.overStream(server.connect(), { timeout: 2000, ...options });
  open.push(ga);
  return ga;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  expect(cond()).toBe(true);
}
const syncs = (server: QmpTestServer): ReceivedCommand[] =>
  server.received.filter((r) => r.command === 'guest-sync-delimited');
const reportedBy = (ga: GuestAgentClient): QmpError[] => {
  const errors: QmpError[] = [];
  ga.onError((e) => errors.push(e as QmpError));
  return errors;
};

describe('GuestAgentClient against the test server as qemu-ga', () => {
  it('synchronises on connect with 0xFF and guest-sync-delimited (a random id below 2^53), then runs commands', async () => {
    const server = await agent();
    const ga = await connect(server);
    expect(ga.connectionState).toBe('ready');
    expect(ga.syncs).toBe(1);
    const [sync] = syncs(server);
    const id = sync?.arguments?.id as number;
    expect(Number.isSafeInteger(id) && id >= 0).toBe(true);
    expect(sync?.id).toBeUndefined();
    expect(await ga.execute('guest-ping')).toEqual({});
    expect(await ga.execute('guest-get-time')).toBe(1_795_618_315_537_590_000n);
    expect(ga.unknownReplies).toBe(0);
    // Random ids: two sessions do not share one.
    const other = await connect(server);
    expect(other.syncs).toBe(1);
    expect(syncs(server)[1]?.arguments?.id).not.toBe(id);
  });

  it('discards stale data up to the sentinel and stale lines after it, even a sentinel of an older sync', async () => {
    const server = await agent();
    const stale = '{"return": {}, "id": 1}\n{"return": 42}\n{"ret';
    server.onConnect((session) =>
      session.sendRaw(
        Buffer.concat([
          Buffer.from(stale),
          Buffer.from([0xff]),
          Buffer.from('{"return": 7}\n{"error": {"class": "GenericError", "desc": "x"}}\n'),
        ]),
      ),
    );
    const ga = await connect(server);
    const reported = reportedBy(ga);
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm' });
    expect(ga.unknownReplies).toBe(0);
    expect(reported).toEqual([]);
  });

  it("qemu-ga's parser drops a partial request at 0xFF: the sync gets through what another client left behind", async () => {
    const server = await agent();
    // Half a request on the wire before the client starts (qemu-ga keeps
    // such leftovers from one connection to the next).
    const wire = server.connect();
    wire.write('{"execute": "guest-ping", "arguments": {"x": [[[[');
    const ga = await GuestAgentClient.overStream(wire, { timeout: 2000 });
    open.push(ga);
    expect(await ga.execute('guest-ping')).toEqual({});
    expect(server.received.map((r) => r.command)).toEqual(['guest-sync-delimited', 'guest-ping']);
  });

  it('resynchronises after a timed-out call; its late reply is discarded, not taken for the next call', async () => {
    const server = await agent();
    server.expect('guest-get-host-name').reply({ 'host-name': 'late' }).delay(80);
    const ga = await connect(server);
    const reported = reportedBy(ga);
    expect((await rejection(ga.execute('guest-get-host-name', undefined, { timeout: 20 }))).code).toBe(
      'QMP_ERR_TIMEOUT',
    );
    // Queued until in sync again.
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm' });
    expect(ga.syncs).toBe(2);
    expect(syncs(server)).toHaveLength(2);
    expect(ga.unknownReplies).toBe(0);
    expect(reported).toEqual([]);
  });

  it('resynchronises after an aborted call, and after a call the agent never answers', async () => {
    const server = await agent();
    server.expect('guest-get-host-name').fault(faults.noReply());
    const ga = await connect(server);
    const ac = new AbortController();
    const aborted = rejection(ga.execute('guest-get-time', undefined, { signal: ac.signal }));
    await until(() => server.received.some((r) => r.command === 'guest-get-time'));
    ac.abort();
    expect((await aborted).code).toBe('QMP_ERR_ABORTED');
    expect((await rejection(ga.execute('guest-get-host-name', undefined, { timeout: 30 }))).code).toBe(
      'QMP_ERR_TIMEOUT',
    );
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm' });
    expect(ga.syncs).toBe(3);
  });

  it('a line that is not JSON fails the call in flight and resynchronises; the session goes on', async () => {
    const server = await agent();
    server.expect('guest-get-host-name').raw('this is not json');
    const ga = await connect(server);
    const reported = reportedBy(ga);
    const e = await rejection(ga.execute('guest-get-host-name'));
    expect(e.code).toBe('QMP_ERR_PROTOCOL');
    expect(e.message).toMatch(/^malformed message from the guest agent: .*\(resynchronising\)/);
    expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_PROTOCOL']);
    expect(ga.connectionState).toBe('ready');
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm' });
    expect(ga.syncs).toBe(2);
    // A stray 0xFF when in sync is garbage too.
    server.expect('guest-ping').raw(() => '\u00ff{"return": {}}');
    expect((await rejection(ga.execute('guest-ping'))).code).toBe('QMP_ERR_PROTOCOL');
    expect(await ga.execute('guest-ping')).toEqual({});
  });

  it('sends a sync again when one is not answered within syncTimeout, on connect and later', async () => {
    const server = await agent();
    server.expect('guest-sync-delimited').fault(faults.noReply());
    const ga = await connect(server, { syncTimeout: 50 });
    expect(ga.syncs).toBe(1);
    expect(syncs(server)).toHaveLength(2);
    const reported = reportedBy(ga);
    // The agent answers the next sync late: the one after it is the one taken.
    server.expect('guest-ping').fault(faults.noReply());
    server
      .expect('guest-sync-delimited')
      .handle((args) => args.id)
      .delay(80);
    expect((await rejection(ga.execute('guest-ping', undefined, { timeout: 10 }))).code).toBe('QMP_ERR_TIMEOUT');
    expect(await ga.execute('guest-ping')).toEqual({});
    expect(reported.map((r) => r.code)).toEqual(['QMP_ERR_TIMEOUT']);
    expect(reported[0]?.message).toBe('guest-sync-delimited: no reply within 50 ms');
    expect(ga.unknownReplies).toBe(0);
    // Without any answer, connect fails within its timeout.
    const silent = await agent();
    silent.on('guest-sync-delimited').fault(faults.noReply());
    const failed = await rejection(
      GuestAgentClient.overStream(silent.connect(), { timeout: 100, syncTimeout: 30 }, 'qga'),
    );
    expect(failed.code).toBe('QMP_ERR_GREETING');
    expect(failed.message).toBe(
      'qga: synchronising with the guest agent: no reply to guest-sync-delimited within 100 ms',
    );
  });

  it('no timer outlives the client: a resync pending at close() ends with it, nothing is reported after', async () => {
    for (const trigger of ['garbage', 'timeout'] as const) {
      const server = await agent();
      const ga = await connect(server, { syncTimeout: 100 });
      // The call fails (a line that is not JSON, or its own timeout), a
      // resync starts and the agent never answers it.
      if (trigger === 'garbage') server.expect('guest-ping').raw('this is not json');
      else server.expect('guest-ping').fault(faults.noReply());
      server.on('guest-sync-delimited').fault(faults.noReply());
      const reported = reportedBy(ga);
      const failed = await rejection(ga.execute('guest-ping', undefined, { timeout: 50 }));
      expect(failed.code, trigger).toBe(trigger === 'garbage' ? 'QMP_ERR_PROTOCOL' : 'QMP_ERR_TIMEOUT');
      await until(() => syncs(server).length === 2);
      const before = reported.length;
      await ga.close();
      // Three sync timeouts' worth: the old timer reported a timeout (and
      // resent) after close, and held the process open until it fired.
      await sleep(300);
      expect(reported.slice(before), trigger).toEqual([]);
      expect(syncs(server), trigger).toHaveLength(2);
    }
  });

  it('sends one command at a time, each with an id', async () => {
    const server = await agent({ serial: false });
    let running = 0;
    let most = 0;
    server.on('guest-ping', async () => {
      most = Math.max(most, ++running);
      await sleep(2);
      running--;
      return {};
    });
    const ga = await connect(server);
    await Promise.all(Array.from({ length: 10 }, () => ga.execute('guest-ping')));
    expect(most).toBe(1);
    const pings = server.received.filter((r) => r.command === 'guest-ping');
    expect(pings).toHaveLength(10);
    expect(pings.every((r) => typeof r.id === 'number')).toBe(true);
  });

  it('guest-shutdown and guest-suspend-* resolve once sent; an error reply is reported and shifts nothing', async () => {
    const server = await agent();
    const shutdowns: unknown[] = [];
    server.on('guest-shutdown', (args) => {
      shutdowns.push(args);
      if (args.mode === 'bogus') throw new QmpErrorResponse('GenericError', "Invalid parameter 'bogus'");
    });
    server.on('guest-suspend-ram', () => {
      throw new QmpErrorResponse('GenericError', 'suspend is not supported');
    });
    const ga = await connect(server);
    const reported = reportedBy(ga);
    expect(await ga.execute('guest-shutdown', { mode: 'powerdown' })).toBeUndefined();
    expect(await ga.execute('guest-shutdown', { mode: 'bogus' })).toBeUndefined();
    expect(await ga.execute('guest-suspend-ram')).toBeUndefined();
    expect(await ga.execute('guest-get-host-name')).toEqual({ 'host-name': 'vm' });
    await until(() => reported.length === 2);
    expect(reported.map((e) => (e as QmpCommandError).desc)).toEqual([
      "Invalid parameter 'bogus'",
      'suspend is not supported',
    ]);
    expect(shutdowns).toEqual([{ mode: 'powerdown' }, { mode: 'bogus' }]);
    expect(ga.unknownReplies).toBe(0);
    expect(ga.pendingCount).toBe(0);
  });

  it('runs a typed client generated from a guest agent schema; commands without a success response are called with noReply', async () => {
    const snippet = await loadSnippet(QGA_SCHEMA);
    const server = await agent();
    let destructed = 0;
    server.on('guest-self-destruct', () => void destructed++);
    const ga = await connect(server);
    const client = snippet.client(ga, { strict: true });
    expect(await (client.guestGetHostName as () => Promise<unknown>)()).toEqual({ 'host-name': 'vm' });
    expect(await (client.guestGetTime as () => Promise<unknown>)()).toBe(1_795_618_315_537_590_000n);
    // Not one of the names the runtime knows: the generated table says it never replies.
    expect(await (client.guestSelfDestruct as () => Promise<unknown>)()).toBeUndefined();
    expect(await (client.guestPing as () => Promise<unknown>)()).toEqual({});
    expect(destructed).toBe(1);
    const unvalidated = snippet.client(ga, { validate: false });
    expect(await (unvalidated.guestSelfDestruct as () => Promise<unknown>)()).toBeUndefined();
    expect(await ga.execute('guest-ping')).toEqual({});
    expect(destructed).toBe(2);
  });

  it('fails connect when the agent hangs up, and rejects calls pending when it goes away', async () => {
    const gone = await agent();
    gone.on('guest-sync-delimited').fault(faults.noReply());
    gone.onConnect((session: Session) => setTimeout(() => session.hangUp(), 10));
    const e = await rejection(GuestAgentClient.overStream(gone.connect(), { timeout: 2000 }, 'qga'));
    expect(e.code).toBe('QMP_ERR_GREETING');
    expect((e.cause as QmpError).code).toBe('QMP_ERR_DISCONNECTED');
    const server = await agent();
    server.on('guest-ping').fault(faults.hangUp());
    const ga = await connect(server);
    expect((await rejection(ga.execute('guest-ping'))).code).toBe('QMP_ERR_DISCONNECTED');
    expect(ga.connectionState).toBe('closed');
  });
});

describe.runIf(builtCli('bundle/cli/main.js', 'guest agent CLI tests'))('exec --guest-agent', () => {
  it('exits as soon as the call fails: the resync it started ends with the client (it held the process for --timeout)', async () => {
    const schema = await ServerSchema.of(parseSchemaString(QGA_SCHEMA, 'qga.json'));
    const listening = await listeningServer({ schema, guestAgent: true } as never);
    open.push(listening);
    const server = listening.server as unknown as QmpTestServer;
    // The first sync is answered, the one after the garbage never is.
    server.expect('guest-sync-delimited').handle((args) => args.id);
    server.on('guest-sync-delimited').fault(faults.noReply());
    server.expect('guest-ping').raw('this is not json');
    // The sync timeout is the connect timeout, 60 s: the old timer kept the
    // process alive that long, so the 20 s limit below failed the run.
    const run = await runCli(
      ['exec', '--guest-agent', '--socket', listening.path, '--timeout', '60000', 'guest-ping'],
      { timeout: 20_000 },
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^qapi-ts exec: QMP_ERR_PROTOCOL: malformed message from the guest agent: "this is not json\\r" \(resynchronising\)\n$/,
    );
  });
});
