/**
 * The simulated holder-tracking QEMU (holderTrackingQemu): our typed
 * client and inspectIothreads on it, holders exactly as the series keeps
 * them (newest first, exact removal), hotplug cycles with DEVICE_DELETED,
 * exports with BLOCK_EXPORT_DELETED, the object-del refusal, and derived
 * holders agreeing with the reported ones.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  QapiClient,
  type CommandMap,
  type EventMap,
  type IOThreadInfo,
  type IoThreadHolder,
} from '../../generated/index.js';
import { inspectIothreads, type IothreadReport } from '../../src/iothreads/index.js';
import { probe, probeAll, QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import {
  DEMO_MACHINE,
  holderTrackingQemu,
  QmpScriptError,
  QmpTestServer,
  ServerSchema,
  type SimulationOptions,
} from '../../src/testing/index.js';
import { loadValidators } from '../../src/backends/load.js';
import { verifyTranscript } from '../../src/transcripts/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { repoRoot } from '../helpers/shared.js';
import { rejection } from '../helpers/rejection.js';

type Server = QmpTestServer<CommandMap, EventMap>;

const open: { close(): unknown }[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function simulate(options: SimulationOptions = { boot: DEMO_MACHINE }, schema?: ServerSchema): Promise<Server> {
  const server = await QmpTestServer.create<CommandMap, EventMap>(schema === undefined ? {} : { schema });
  server.use(holderTrackingQemu(options));
  open.push(server);
  return server;
}

async function connect(server: Server) {
  const qmp = await QmpClient.overStream(server.connect(), { timeout: 5000 });
  open.push(qmp);
  const events: QmpEventMessage[] = [];
  qmp.onEvent((e) => events.push(e));
  return { qmp, client: new QapiClient(qmp, { strict: true }), events };
}

/** A holder as one string: its path, or `node:NAME`. */
function holderText(h: IoThreadHolder): string {
  if (h.type === 'qom' && 'path' in h) return String(h.path);
  if (h.type === 'block-node' && 'node-name' in h) return `node:${String(h['node-name'])}`;
  return JSON.stringify(h);
}

function holders(report: { iothreads: readonly IOThreadInfo[] }): Record<string, string[]> {
  return Object.fromEntries(report.iothreads.map((t) => [t.id, (t.holders ?? []).map(holderText)]));
}

const failure = (p: Promise<unknown>): Promise<QmpCommandError> => rejection(p, QmpCommandError);

const P = '/machine/peripheral';
const DEMO_HOLDERS = {
  io0: [`${P}/vblk1`, `${P}/vblk0`],
  io1: ['node:disk2', '/machine/peripheral-anon/device[0]', `${P}/vblk1`, `${P}/vscsi0`],
};

/** Waits until `events` holds `n` events (they follow the reply by a turn of the event loop). */
async function eventCount(events: readonly QmpEventMessage[], n: number): Promise<void> {
  for (let i = 0; i < 200 && events.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  expect(events.length).toBe(n);
}

/** Our schema (qapi/) copied, with `holders` taken out of IOThreadInfo: a QEMU without the series. */
function schemaWithoutHolders(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-sim-'));
  dirs.push(dir);
  cpSync(join(repoRoot, 'qapi'), dir, { recursive: true });
  const misc = join(dir, 'misc.json');
  const text = readFileSync(misc, 'utf8');
  const without = text
    .replace(/# @holders:[\s\S]*?\(since 10\.1\)\n#\n/, '')
    .replace(",\n            '*holders': [ 'IoThreadHolder' ]", '');
  expect(without).not.toContain('holders');
  writeFileSync(misc, without);
  return join(dir, 'qapi-schema.json');
}

describe('the simulated holder-tracking QEMU', () => {
  it('answers the typed client; holders are reported, newest first, and inspectIothreads takes them as they are', async () => {
    const server = await simulate();
    const { qmp, client } = await connect(server);
    const threads = await client.queryIothreads();
    expect(threads.map((t) => [t.id, t['thread-id'], t['poll-max-ns']])).toEqual([
      ['io0', 10001, 32768],
      ['io1', 10002, 32768],
    ]);
    expect(holders({ iothreads: threads })).toEqual(DEMO_HOLDERS);
    expect(threads[1]?.holders?.[0]).toEqual({ type: 'block-node', 'node-name': 'disk2' });

    const report = await inspectIothreads(qmp);
    expect(report.holders).toBe('reported');
    expect(report.commands).toBe(1);
    expect(report.iothreads).toEqual(threads);
    expect(await client.queryStatus()).toEqual({ running: true, status: 'running' });
    expect(await client.queryBlockExports()).toEqual([
      { id: 'exp0', type: 'nbd', 'node-name': 'disk2', 'shutting-down': false },
    ]);
    server.assertDone();
  });

  it('answers query-qmp-schema from its schema: probe says yes to holders, and no on a server whose schema lacks them', async () => {
    const server = await simulate();
    const { qmp } = await connect(server);
    expect(
      await probeAll(qmp, [
        'query-iothreads/ret-type/holders',
        'query-iothreads/ret-type/holders/+block-node/node-name',
        'qom-list-get',
        'block-export-add/arg-type/+nbd/allocation-depth',
        'device_add/arg-type/drive',
      ]),
    ).toEqual([true, true, true, true, false]);

    const plain = await QmpTestServer.create({ schema: schemaWithoutHolders() });
    open.push(plain);
    const other = await QmpClient.overStream(plain.connect());
    open.push(other);
    expect(await probe(other, 'query-iothreads/ret-type/holders')).toBe(false);
    expect(await probe(other, 'query-iothreads/ret-type/thread-id')).toBe(true);
    plain.assertDone();
    server.assertDone();
  });

  it('over a schema without holders it is a QEMU without the series: holders are derived from its QOM tree', async () => {
    const server = await simulate({ boot: DEMO_MACHINE }, await ServerSchema.load(schemaWithoutHolders()));
    const { qmp } = await connect(server);
    const raw = (await qmp.execute('query-iothreads')) as object[];
    expect(raw.map((t) => 'holders' in t)).toEqual([false, false]);
    const report = await inspectIothreads(qmp);
    expect(report.holders).toBe('derived');
    const withoutExports = Object.fromEntries(
      Object.entries(DEMO_HOLDERS).map(([id, list]) => [id, list.filter((h) => !h.startsWith('node:')).sort()]),
    );
    expect(holders(report)).toEqual(withoutExports);
    server.assertDone();
  });

  it('hotplug cycles: a device registers with its IOThread(s) at the front, and device_del removes exactly that, then DEVICE_DELETED', async () => {
    const server = await simulate();
    const { client, events } = await connect(server);
    const io = async () => holders({ iothreads: await client.queryIothreads() });
    for (let cycle = 0; cycle < 3; cycle++) {
      await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp4', drive: 'disk3', iothread: 'io0' });
      // An anonymous device is device[N], N counting up, never reused (failed attempts count too).
      await failure(client.deviceAdd({ driver: 'virtio-scsi-pci', bus: 'rp5', iothread: 'nope' }));
      await client.deviceAdd({
        driver: 'virtio-scsi-pci',
        bus: 'rp5',
        'iothread-vq-mapping': [{ iothread: 'io1' }, { iothread: 'io0' }],
      });
      const anon = `/machine/peripheral-anon/device[${2 + 2 * cycle}]`;
      expect(await io()).toEqual({
        io0: [anon, `${P}/vblk2`, ...DEMO_HOLDERS.io0],
        io1: [anon, ...DEMO_HOLDERS.io1],
      });
      events.length = 0;
      await client.deviceDel({ id: 'vblk2' });
      // Gone at once; the events follow the reply.
      expect((await io()).io0).toEqual([anon, ...DEMO_HOLDERS.io0]);
      await client.deviceDel({ id: anon });
      expect(await io()).toEqual(DEMO_HOLDERS);
      await eventCount(events, 4);
      expect(events.map((e) => [e.event, e.data])).toEqual([
        ['DEVICE_DELETED', { path: `${P}/vblk2/virtio-backend` }],
        ['DEVICE_DELETED', { device: 'vblk2', path: `${P}/vblk2` }],
        ['DEVICE_DELETED', { path: `${anon}/virtio-backend` }],
        ['DEVICE_DELETED', { path: anon }],
      ]);
    }
    await client.deviceDel({ id: '/machine/peripheral-anon/device[0]' });
    await client.deviceAdd({ driver: 'virtio-balloon-pci', bus: 'rp6' });
    expect(await client.qomList({ path: '/machine/peripheral-anon' })).toEqual([
      { name: 'type', type: 'string' },
      { name: 'device[7]', type: 'child<virtio-balloon-pci>' },
    ]);
    expect((await io()).io1).toEqual(['node:disk2', `${P}/vblk1`, `${P}/vscsi0`]);
    server.assertDone();
  });

  it('DEVICE_DELETED reaches every session, after the reply on the wire', async () => {
    const server = await simulate();
    const { events: otherEvents } = await connect(server);
    const raw = new RawQmp(server.connect());
    open.push({ close: () => raw.stream.destroy() });
    await raw.negotiate();
    raw.send('{"execute": "device_del", "arguments": {"id": "vblk0"}, "id": 1}');
    expect(await raw.next()).toEqual({ return: {}, id: 1 });
    expect(await raw.next()).toMatchObject({ event: 'DEVICE_DELETED', data: { path: `${P}/vblk0/virtio-backend` } });
    expect(await raw.next()).toMatchObject({ event: 'DEVICE_DELETED', data: { device: 'vblk0', path: `${P}/vblk0` } });
    await eventCount(otherEvents, 2);
    server.assertDone();
  });

  it('exports register their node with their IOThread; BLOCK_EXPORT_DELETED comes before the reply; nbd-server-stop removes them all, newest first', async () => {
    const server = await simulate();
    const { client } = await connect(server);
    await client.blockdevAdd({ driver: 'null-aio', 'node-name': 'exp-a' });
    await client.blockExportAdd({
      type: 'nbd',
      id: 'a',
      'node-name': 'exp-a',
      iothread: 'io0',
      'fixed-iothread': true,
      writable: true,
    });
    await client.blockExportAdd({ type: 'nbd', id: 'b', 'node-name': 'exp-a', name: 'second', iothread: 'io0' });
    await client.blockExportAdd({ type: 'nbd', id: 'c', 'node-name': 'disk3' });
    expect(holders({ iothreads: await client.queryIothreads() }).io0).toEqual([
      'node:exp-a',
      'node:exp-a',
      ...DEMO_HOLDERS.io0,
    ]);
    expect((await client.queryBlockExports()).map((e) => e.id)).toEqual(['c', 'b', 'a', 'exp0']);
    // A node a device uses stays where the device runs: fixed-iothread fails, otherwise nothing registers.
    expect(
      (
        await failure(
          client.blockExportAdd({
            type: 'nbd',
            id: 'd',
            'node-name': 'disk0',
            iothread: 'io1',
            'fixed-iothread': true,
          }),
        )
      ).desc,
    ).toBe('Cannot change iothread of active block backend');
    await client.blockExportAdd({ type: 'nbd', id: 'd', 'node-name': 'disk0', iothread: 'io1' });
    expect(holders({ iothreads: await client.queryIothreads() }).io1).toEqual(DEMO_HOLDERS.io1);

    const raw = new RawQmp(server.connect());
    open.push({ close: () => raw.stream.destroy() });
    await raw.negotiate();
    raw.send('{"execute": "block-export-del", "arguments": {"id": "b", "mode": "hard"}, "id": 1}');
    expect(await raw.next()).toMatchObject({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'b' } });
    expect(await raw.next()).toEqual({ return: {}, id: 1 });
    // Exactly one of the two identical registrations went.
    expect(holders({ iothreads: await client.queryIothreads() }).io0).toEqual(['node:exp-a', ...DEMO_HOLDERS.io0]);
    expect((await failure(client.blockdevDel({ 'node-name': 'exp-a' }))).desc).toBe('Node exp-a is in use');

    raw.send('{"execute": "nbd-server-stop", "id": 2}');
    for (const id of ['d', 'c', 'a', 'exp0'])
      expect(await raw.next()).toMatchObject({ event: 'BLOCK_EXPORT_DELETED', data: { id } });
    expect(await raw.next()).toEqual({ return: {}, id: 2 });
    const after = holders({ iothreads: await client.queryIothreads() });
    expect(after).toEqual({ io0: DEMO_HOLDERS.io0, io1: DEMO_HOLDERS.io1.slice(1) });
    await client.blockdevDel({ 'node-name': 'exp-a' });
    expect((await failure(client.nbdServerStop())).desc).toBe('NBD server not running');
    server.assertDone();
  });

  it('refuses object-del of an IOThread in use, naming its holders; deletes it once they are gone', async () => {
    const server = await simulate();
    const { client } = await connect(server);
    const refused = await failure(client.objectDel({ id: 'io1' }));
    expect(refused.errorClass).toBe('GenericError');
    expect(refused.desc).toBe(
      "IOThread 'io1' is in use by block node 'disk2', /machine/peripheral-anon/device[0], " +
        '/machine/peripheral/vblk1, /machine/peripheral/vscsi0',
    );
    await client.blockExportDel({ id: 'exp0' });
    for (const id of ['/machine/peripheral-anon/device[0]', 'vblk1', 'vscsi0']) await client.deviceDel({ id });
    await client.objectDel({ id: 'io1' });
    expect((await client.queryIothreads()).map((t) => t.id)).toEqual(['io0']);
    expect((await failure(client.qomList({ path: '/objects/io1' }))).errorClass).toBe('DeviceNotFound');
    expect((await failure(client.objectDel({ id: 'io1' }))).desc).toBe("object 'io1' not found");
    server.assertDone();
  });

  it('derived holders agree with the reported ones on every device and object, across hotplug cycles', async () => {
    const server = await simulate({ boot: DEMO_MACHINE, chardevs: ['pri', 'sec', 'out'] });
    const { qmp, client } = await connect(server);
    const qomHolders = (report: IothreadReport) =>
      Object.fromEntries(
        Object.entries(holders(report)).map(([id, list]) => [id, list.filter((h) => !h.startsWith('node:')).sort()]),
      );
    const agree = async (): Promise<IothreadReport> => {
      const reported = await inspectIothreads(qmp);
      const derived = await inspectIothreads(qmp, { source: 'derived' });
      expect(reported.holders).toBe('reported');
      expect(derived.holders).toBe('derived');
      expect(holders(derived)).toEqual(qomHolders(reported));
      // What derived cannot see: exports (block nodes).
      return reported;
    };
    await agree();
    await client.objectAdd({ 'qom-type': 'iothread', id: 'io2', 'poll-max-ns': 0 });
    await client.objectAdd({
      'qom-type': 'colo-compare',
      id: 'cc0',
      primary_in: 'pri',
      secondary_in: 'sec',
      outdev: 'out',
      iothread: 'io2',
    });
    for (let cycle = 0; cycle < 3; cycle++) {
      await client.deviceAdd({
        driver: 'virtio-blk-pci',
        id: `hot${cycle}`,
        bus: 'rp4',
        drive: 'disk3',
        'num-queues': 3,
        'iothread-vq-mapping': [
          { iothread: 'io2', vqs: [0, 2] },
          { iothread: 'io0', vqs: [1] },
        ],
      });
      await client.deviceAdd({ driver: 'virtio-scsi-pci', bus: 'rp5', iothread: 'io2' });
      await client.blockExportAdd({ type: 'nbd', id: 'e', 'node-name': 'disk2', name: 'again', iothread: 'io2' });
      const report = await agree();
      const anon = `/machine/peripheral-anon/device[${1 + cycle}]`;
      expect(holders(report).io2).toEqual(['node:disk2', anon, `${P}/hot${cycle}`, '/objects/cc0']);
      await client.deviceDel({ id: `hot${cycle}` });
      await client.deviceDel({ id: anon });
      await client.blockExportDel({ id: 'e' });
      await agree();
    }
    await client.objectDel({ id: 'cc0' });
    expect(holders(await agree()).io2).toEqual([]);
    server.assertDone();
  });

  it("keeps QEMU's order of stop/cont events (before the reply, none without a change)", async () => {
    const server = await simulate({});
    const { client, events } = await connect(server);
    await client.cont();
    await client.stop();
    await client.stop();
    expect(await client.queryStatus()).toEqual({ running: false, status: 'paused' });
    await client.cont();
    expect(events.map((e) => e.event)).toEqual(['STOP', 'RESUME']);
    server.assertDone();
  });

  it('everything it sends in a busy session is valid for the schema, strictly (verify)', async () => {
    const server = await simulate({ boot: DEMO_MACHINE, chardevs: ['pri', 'sec', 'out'] });
    // Recorded by the runtime itself (`record`), the format verify reads.
    const recorded = new PassThrough();
    const chunks: Buffer[] = [];
    recorded.on('data', (c: Buffer) => chunks.push(c));
    const qmp = await QmpClient.overStream(server.connect(), { record: recorded });
    open.push(qmp);
    const client = new QapiClient(qmp);
    const paths = [
      '/',
      '/machine',
      '/machine/peripheral',
      '/machine/peripheral/vblk1',
      '/machine/peripheral/vblk1/virtio-backend',
      '/objects',
      '/objects/io0',
    ];
    await Promise.all([
      client.queryIothreads(),
      client.qomListGet({ paths }),
      ...paths.map((path) => client.qomList({ path })),
      client.qomGet({ path: 'vblk1', property: 'iothread-vq-mapping' }),
      client.queryBlockExports(),
      client.queryStatus(),
      qmp.execute('query-qmp-schema'),
    ]);
    await client.objectAdd({ 'qom-type': 'iothread', id: 'io2', 'aio-max-batch': 2n ** 53n + 2n });
    await client.objectAdd({
      'qom-type': 'colo-compare',
      id: 'cc0',
      primary_in: 'pri',
      secondary_in: 'sec',
      outdev: 'out',
      iothread: 'io2',
    });
    await client.deviceAdd({
      driver: 'virtio-blk-pci',
      id: 'v',
      bus: 'rp4',
      drive: 'disk3',
      'iothread-vq-mapping': [{ iothread: 'io2' }],
    });
    await client.blockExportAdd({ type: 'nbd', id: 'e', 'node-name': 'disk0', name: 'e' });
    await client.queryIothreads();
    await failure(client.deviceAdd({ driver: 'virtio-blk-pci', bus: 'rp5', drive: 'disk3' }));
    await client.deviceDel({ id: 'v' });
    await client.nbdServerStop();
    await client.stop();
    await client.cont();
    expect((await client.queryIothreads())[2]?.['aio-max-batch']).toBe(2n ** 53n + 2n);
    await new Promise((r) => setTimeout(r, 20));
    const loaded = await loadValidators(join(repoRoot, 'qapi/qapi-schema.json'));
    const result = verifyTranscript(Buffer.concat(chunks).toString('utf8'), loaded.validatorSet(true), {
      strict: true,
    });
    expect(result.verdicts.filter((v) => v.findings.length > 0)).toEqual([]);
    expect(result.verdicts.filter((v) => v.kind === 'event').length).toBe(2 + 2 + 2);
    expect(result.messages).toBeGreaterThan(30);
    server.assertDone();
  });

  it('mixes with scripting: an expectation without a response gets the simulated answer; a later on() replaces it', async () => {
    const server = await simulate();
    server.expect('device_del', { id: 'vblk0' });
    const { client } = await connect(server);
    expect(() => server.assertDone()).toThrow("expected 'device_del'");
    await client.deviceDel({ id: 'vblk0' });
    expect(holders({ iothreads: await client.queryIothreads() }).io0).toEqual([`${P}/vblk1`]);
    server.on('query-status', () => ({ running: false, status: 'inmigrate' }));
    expect(await client.queryStatus()).toEqual({ running: false, status: 'inmigrate' });
    server.assertDone();
  });

  it('refuses a boot command that fails, naming it', async () => {
    const server = await QmpTestServer.create<CommandMap, EventMap>();
    open.push(server);
    expect(() =>
      server.use(
        holderTrackingQemu({
          boot: [
            ['object-add', { 'qom-type': 'iothread', id: 'io0' }],
            ['object-del', { id: 'nope' }],
          ],
        }),
      ),
    ).toThrow(new QmpScriptError("boot command 2 'object-del': object 'nope' not found"));
    expect(() => server.use(holderTrackingQemu({ boot: [['blockdev-add', { driver: 'nope' }]] }))).toThrow(
      "boot command 1 'blockdev-add': Parameter 'driver' does not accept value 'nope'",
    );
    expect(() => server.use(holderTrackingQemu({ boot: [['quit']] }))).toThrow(
      "boot command 1 'quit': not a simulated command of the schema",
    );
    expect(() => holderTrackingQemu({ rootPorts: 1e9 })(server)).toThrow(RangeError);
  });
});
