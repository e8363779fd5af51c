/**
 * The simulated QEMU against real ones.
 *
 * QEMU 10.0 (and 11.1) and the simulation start with the same machine (q35 with
 * native PCIe hotplug, IOThreads io0/io1, root ports rp0–rp5, null-co
 * nodes disk0–disk3) and get the same commands, one after another: each
 * must succeed on both or fail on both with the same class and text,
 * send the same events, and, where marked, return the same value. This
 * is where the simulation's error texts come from.
 *
 * On QEMU 7.2, 10.0 and 11.1: the widest arguments each accepts for the
 * commands our schema added (blockdev-add of the null drivers, the NBD
 * server, block exports) pass our schema's checks too, so the subset
 * never refuses what QEMU takes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import { QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import { holderTrackingQemu, QmpTestServer, type BootCommand } from '../../src/testing/index.js';
import {
  QEMU_BINARY,
  RELEASES,
  hotplugMachine,
  qemuAvailable,
  startQemu,
  stopAllQemu,
  type QemuInstance,
  type QemuRelease,
} from '../helpers/qemu.js';

const IOTHREADS = ['io0', 'io1'];
const NODES = ['disk0', 'disk1', 'disk2', 'disk3'];
const ROOT_PORTS = 6;

const BOOT: BootCommand[] = [
  ...IOTHREADS.map((id): BootCommand => ['object-add', { 'qom-type': 'iothread', id }]),
  ...NODES.map((name): BootCommand => ['blockdev-add', { driver: 'null-co', 'node-name': name }]),
];

type Outcome = { return: unknown } | { error: { class: string; desc: string } };

async function run(qmp: QmpClient, command: string, args: Record<string, unknown> | undefined): Promise<Outcome> {
  try {
    return { return: await qmp.execute(command, args) };
  } catch (e) {
    if (e instanceof QmpCommandError) return { error: { class: e.errorClass, desc: e.desc } };
    throw e;
  }
}

interface Step {
  readonly command: string;
  readonly args?: Record<string, unknown>;
  /** Compare the returned value too (default: only success or the error). */
  readonly value?: boolean;
  /** The step sends events: wait for them and compare. */
  readonly events?: boolean;
}

const step = (command: string, args?: Record<string, unknown>, more: Omit<Step, 'command' | 'args'> = {}): Step => ({
  command,
  args,
  ...more,
});
const iothread = (id: string, more: Record<string, unknown> = {}) =>
  step('object-add', { 'qom-type': 'iothread', id, ...more });
const blk = (id: string, bus: string, more: Record<string, unknown>) =>
  step('device_add', { driver: 'virtio-blk-pci', id, bus, ...more });
const get = (path: string, property: string) => step('qom-get', { path, property }, { value: true });
const exportNbd = (id: string, node: string, more: Record<string, unknown> = {}) =>
  step('block-export-add', { type: 'nbd', id, 'node-name': node, ...more });

/**
 * The scenario; `nbd` is the NBD server's socket path as QEMU sees it.
 * The simulation is an 11.1 (our schema has poll-weight): the steps about
 * poll-weight and the defaults 11.1 reports run against 11.1 only.
 */
function scenario(nbd: string, release: QemuRelease): Step[] {
  const v11 =
    release === '11.1'
      ? [
          iothread('io5', { 'poll-weight': 64 }),
          iothread('io5', { 'poll-weight': -1 }),
          iothread('io6', { 'poll-weight': 0, 'poll-grow': 0 }),
          get('/objects/io6', 'poll-weight'),
          get('/objects/io6', 'poll-grow'),
          get('/objects/io6', 'poll-shrink'),
          iothread('io7', { 'poll-weight': 63, 'poll-shrink': 9 }),
          get('/objects/io7', 'poll-weight'),
          get('/objects/io7', 'poll-shrink'),
          step('object-del', { id: 'io6' }),
          step('object-del', { id: 'io7' }),
        ]
      : [];
  return [
    ...v11,
    // IOThreads
    iothread('io0'),
    iothread('bad id'),
    ...['poll-max-ns', 'poll-grow', 'poll-shrink', 'aio-max-batch', 'thread-pool-min'].map((p) =>
      iothread('io5', { [p]: -1 }),
    ),
    iothread('io5', { 'thread-pool-max': 0 }),
    iothread('io5', { 'thread-pool-min': 9, 'thread-pool-max': 8 }),
    iothread('io2', {
      'poll-max-ns': 1000,
      'poll-grow': 2,
      'poll-shrink': 3,
      'aio-max-batch': 4,
      'thread-pool-min': 1,
      'thread-pool-max': 8,
    }),
    get('/objects/io2', 'poll-max-ns'),
    get('/objects/io2', 'thread-pool-max'),
    get('io2', 'type'),
    step('object-del', { id: 'nope' }),
    // Block nodes
    step('blockdev-add', {
      driver: 'null-co',
      'node-name': 'n1',
      size: 1048576,
      'latency-ns': 0,
      'read-zeroes': true,
      discard: 'unmap',
      cache: { direct: false, 'no-flush': true },
      active: true,
      'read-only': false,
      'auto-read-only': false,
      'force-share': false,
      'detect-zeroes': 'off',
    }),
    step('blockdev-add', { driver: 'null-aio', 'node-name': 'n2' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'n1' }),
    step('blockdev-add', { driver: 'null-co' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'bad name' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': '1abc' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': `a${'1'.repeat(30)}` }),
    step('blockdev-add', { driver: 'null-co', 'node-name': `a${'1'.repeat(31)}` }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'n3', 'force-share': true }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'n3', 'detect-zeroes': 'unmap' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'n3', 'detect-zeroes': 'unmap', discard: 'unmap' }),
    step('blockdev-add', { driver: 'null-co', 'node-name': 'ro', 'read-only': true, 'force-share': true }),
    step('blockdev-del', { 'node-name': 'nope' }),
    step('blockdev-del', { 'node-name': 'n2' }),
    // Devices
    step('device_add', { driver: 'nope-dev', id: 'x' }),
    step('device_add', { driver: 'virtio-blk-pci', id: 'x', drive: 'disk0' }),
    step('device_add', { driver: 'virtio-blk-pci', id: 'x', bus: 'nope', drive: 'disk0' }),
    step('device_add', { driver: 'virtio-blk-device', id: 'x', drive: 'disk0' }),
    step('device_add', { driver: 'virtio-blk-device', id: 'x', bus: 'rp1', drive: 'disk0' }),
    step('device_add', { driver: 'pcie-root-port', id: 'rp9', chassis: 9 }),
    blk('vblk0', 'rp0', { drive: 'disk0', iothread: 'nope' }),
    blk('vblk0', 'rp0', { drive: 'nope', iothread: 'io0' }),
    blk('vblk0', 'rp0', { iothread: 'io0' }),
    blk('vblk0', 'rp0', { drive: 'disk0', bogus: 1 }),
    blk('vblk0', 'rp0', { drive: 'disk0', iothread: 5 }),
    blk('vblk0', 'rp0', { drive: 'disk0', 'share-rw': 'x' }),
    blk('vblk0', 'rp0', { drive: 'disk0', 'num-queues': 0 }),
    blk('vblk0', 'rp0', { drive: 'disk0', iothread: 'io0' }),
    blk('vblk0', 'rp1', { drive: 'disk1' }),
    blk('vblkx', 'rp0', { drive: 'disk1' }),
    blk('vblkx', 'rp1', { drive: 'disk0' }),
    blk('vblkx', 'rp1', { drive: 'disk0', 'share-rw': true }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'nope' }] }),
    blk('vmq', 'rp1', { drive: 'disk1', iothread: 'io0', 'iothread-vq-mapping': [{ iothread: 'io0' }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io0' }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0', vqs: [0, 1] }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0', bogus: 1 }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': 'io0' }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{}] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0', vqs: [-1] }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'iothread-vq-mapping': [{ iothread: 'io0', vqs: [0] }, { iothread: 'io1' }] }),
    blk('vmq', 'rp1', { drive: 'disk1', 'num-queues': 2, 'iothread-vq-mapping': [{ iothread: 'io0', vqs: [0] }] }),
    blk('vmq', 'rp1', {
      drive: 'disk1',
      'num-queues': 2,
      'iothread-vq-mapping': [
        { iothread: 'io0', vqs: [0] },
        { iothread: 'io1', vqs: [0, 1] },
      ],
    }),
    blk('vmq', 'rp1', {
      drive: 'disk1',
      'num-queues': 3,
      'iothread-vq-mapping': [
        { iothread: 'io1', vqs: [0, 2] },
        { iothread: 'io0', vqs: [1] },
      ],
    }),
    get('/machine/peripheral/vmq', 'iothread-vq-mapping'),
    get('/machine/peripheral/vmq/virtio-backend', 'iothread-vq-mapping'),
    get('/machine/peripheral/vmq', 'iothread'),
    get('/machine/peripheral/vmq', 'num-queues'),
    get('/machine/peripheral/vblk0', 'iothread'),
    get('/machine/peripheral/vblk0/virtio-backend', 'iothread'),
    get('/machine/peripheral/vblk0', 'drive'),
    get('/machine/peripheral/vblk0', 'parent_bus'),
    get('/machine/peripheral/vblk0/virtio-backend', 'parent_bus'),
    get('/machine/peripheral/vblk0', 'virtio-backend'),
    get('/machine/peripheral/vblk0/virtio-backend', 'type'),
    get('/machine/peripheral/vblk0', 'hotplugged'),
    get('vblk0', 'type'),
    get('/machine/peripheral/vblk0', 'bogus'),
    get('/machine/peripheral/nope', 'type'),
    step('qom-list', { path: '' }),
    step('device_add', { driver: 'virtio-scsi-pci', id: 'vscsi0', bus: 'rp2', iothread: 'io1' }),
    get('/machine/peripheral/vscsi0/virtio-backend', 'iothread'),
    step('device_add', {
      driver: 'virtio-scsi-pci',
      id: 'vscsi1',
      bus: 'rp3',
      iothread: 'io0',
      'iothread-vq-mapping': [{ iothread: 'io0' }],
    }),
    step('device_add', { driver: 'virtio-balloon-pci', id: 'b0', bus: 'rp3', 'iothread-vq-mapping': [] }),
    step('device_add', { driver: 'virtio-balloon-pci', bus: 'rp3', iothread: 'io1', 'free-page-hint': 'yes' }),
    step('device_add', { driver: 'virtio-balloon-pci', bus: 'rp3', iothread: 'io1', 'free-page-hint': true }),
    get('/machine/peripheral-anon/device[0]', 'iothread'),
    step('device_add', { driver: 'virtio-balloon-pci', id: 'b1', bus: 'rp4' }),
    step('device_add', { id: 'x' }),
    step('device_del', { id: 'nope' }),
    step('device_del', { id: 'rp0' }),
    step('device_del', { id: '/machine/peripheral' }),
    step('device_del', { id: '/objects/io0' }),
    step('device_del', { id: '/machine/peripheral/vblk0/virtio-backend' }),
    step('device_del', { id: 'vblk0' }, { events: true }),
    step('device_del', { id: 'vblk0' }),
    step('device_del', { id: '/machine/peripheral-anon/device[0]' }, { events: true }),
    // Last of the balloons: after this failure QEMU 10.0 counts a balloon that is not there.
    step('device_add', { driver: 'virtio-balloon-pci', bus: 'rp3', 'free-page-hint': true }),
    blk('vblk0', 'rp0', { drive: 'disk0', iothread: 'io1' }),
    // The NBD server and exports
    exportNbd('e0', 'n1'),
    step('nbd-server-start', { addr: { type: 'unix', data: { path: nbd } }, 'tls-creds': 'nope' }),
    step('nbd-server-start', {
      addr: { type: 'unix', data: { path: nbd } },
      'tls-authz': 'authz0',
      'max-connections': 4,
    }),
    step('nbd-server-start', { addr: { type: 'inet', data: { host: '127.0.0.1', port: '0' } } }),
    exportNbd('bad id', 'n1'),
    exportNbd('e0', 'nope'),
    exportNbd('e0', 'n1', { iothread: 'nope' }),
    exportNbd('e0', 'ro', { writable: true }),
    exportNbd('e0', 'n1', { bitmaps: ['b0'] }),
    exportNbd('e0', 'n1', { bitmaps: [{ node: 'n1', name: 'b0' }] }),
    exportNbd('e0', 'n1', {
      iothread: 'io0',
      'fixed-iothread': true,
      writable: true,
      writethrough: false,
      name: 'exp0',
      description: 'the first',
      'allocation-depth': true,
    }),
    exportNbd('e0', 'n3'),
    exportNbd('e1', 'n3', { name: 'exp0' }),
    exportNbd('e1', 'disk1', { iothread: 'io0', 'fixed-iothread': true }),
    exportNbd('e1', 'disk1', { iothread: 'io0' }),
    exportNbd('e2', 'disk0', { writable: true }),
    exportNbd('e2', 'ro'),
    step('query-block-exports', undefined, { value: true }),
    step('blockdev-del', { 'node-name': 'n1' }),
    step('blockdev-del', { 'node-name': 'disk0' }),
    step('block-export-del', { id: 'nope' }),
    step('block-export-del', { id: 'e0', mode: 'hard' }, { events: true }),
    step('block-export-del', { id: 'e0' }),
    step('blockdev-del', { 'node-name': 'n1' }),
    step('nbd-server-stop', undefined, { events: true }),
    step('nbd-server-stop'),
    step('query-block-exports', undefined, { value: true }),
    step('object-del', { id: 'io2' }),
    step('qom-list', { path: '/objects/io2' }),
  ];
}

/** How long QEMU may take to send an event after its reply. */
const EVENT_WAIT_MS = 300;

describe.each(['10.0', '11.1'] as const)('the simulation answers as QEMU %s does', (release) => {
  const available = qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let real: QmpClient;
  let sim: QmpClient;
  let server: QmpTestServer;
  const events = { real: [] as QmpEventMessage[], sim: [] as QmpEventMessage[] };

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({
      release,
      machine: 'q35,accel=tcg',
      args: hotplugMachine({ iothreads: IOTHREADS, rootPorts: ROOT_PORTS, nullNodes: NODES }),
    });
    real = await QmpClient.connect({ path: qemu.socket });
    server = await QmpTestServer.create();
    server.use(holderTrackingQemu({ rootPorts: ROOT_PORTS, boot: BOOT }));
    sim = await QmpClient.overStream(server.connect());
    real.onEvent((e) => events.real.push(e));
    sim.onEvent((e) => events.sim.push(e));
  });
  afterAll(async () => {
    await real?.close();
    await sim?.close();
    await server?.close();
    await stopAllQemu();
  });

  it.runIf(available)('step by step: the same outcome, text and events', async () => {
    const differences: string[] = [];
    for (const [i, s] of scenario(`${qemu.innerDir}/nbd.sock`, release).entries()) {
      events.real.length = 0;
      events.sim.length = 0;
      const fromQemu = await run(real, s.command, s.args);
      const fromSim = await run(sim, s.command, s.args);
      const where = `step ${i + 1}: ${s.command} ${JSON.stringify(s.args ?? {})}`;
      const shape = (o: Outcome) => ('error' in o ? o : s.value ? o : { return: 'ok' });
      if (!isDeepStrictEqual(shape(fromQemu), shape(fromSim))) {
        differences.push(`${where}\n    QEMU: ${JSON.stringify(fromQemu)}\n    sim:  ${JSON.stringify(fromSim)}`);
      }
      if (s.events) await new Promise((r) => setTimeout(r, EVENT_WAIT_MS));
      const seen = (list: QmpEventMessage[]) => JSON.stringify(list.map((e) => [e.event, e.data]));
      if (seen(events.real) !== seen(events.sim))
        differences.push(`${where}: events\n    QEMU: ${seen(events.real)}\n    sim:  ${seen(events.sim)}`);
    }
    expect(differences).toEqual([]);
    server.assertDone();
  });
});

/** The widest arguments QEMU `release` takes for the commands our schema added, in order. */
function widest(release: QemuRelease, nbd: string): Step[] {
  const newer = release !== '7.2';
  return [
    step('blockdev-add', {
      driver: 'null-co',
      'node-name': 'w1',
      size: 4096,
      'latency-ns': 10,
      'read-zeroes': true,
      discard: 'unmap',
      cache: { direct: true, 'no-flush': false },
      ...(newer ? { active: true } : {}),
      'read-only': true,
      'auto-read-only': true,
      'force-share': true,
      'detect-zeroes': 'unmap',
    }),
    step('blockdev-add', {
      driver: 'null-aio',
      'node-name': 'w2',
      size: 8192,
      'latency-ns': 0,
      'read-zeroes': false,
      'detect-zeroes': 'on',
    }),
    step('nbd-server-start', {
      addr: {
        type: 'inet',
        data: {
          host: '127.0.0.1',
          port: '0',
          numeric: true,
          to: 0,
          ipv4: true,
          ipv6: false,
          'keep-alive': true,
          mptcp: false,
        },
      },
      'max-connections': 8,
    }),
    step('nbd-server-stop'),
    step('nbd-server-start', {
      addr: { type: 'unix', data: { path: nbd, abstract: false, tight: true } },
      'tls-authz': 'authz0',
    }),
    step('block-export-add', {
      type: 'nbd',
      id: 'w1',
      'node-name': 'w1',
      iothread: 'io0',
      'fixed-iothread': false,
      writable: false,
      writethrough: true,
      ...(newer ? { 'allow-inactive': false } : {}),
      name: 'w1',
      description: 'widest',
      bitmaps: [],
      'allocation-depth': true,
    }),
    step('block-export-add', {
      type: 'nbd',
      id: 'w2',
      'node-name': 'w2',
      iothread: 'io1',
      'fixed-iothread': true,
      writable: true,
    }),
    step('query-block-exports'),
    step('block-export-del', { id: 'w1', mode: 'hard' }),
    step('block-export-del', { id: 'w2', mode: 'safe' }),
    step('nbd-server-stop'),
    step('blockdev-del', { 'node-name': 'w1' }),
  ];
}

describe.each(RELEASES)('what QEMU %s accepts, our schema accepts', (release) => {
  const available = qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let real: QmpClient;
  let server: QmpTestServer;

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release, args: IOTHREADS.flatMap((id) => ['-object', `iothread,id=${id}`]) });
    real = await QmpClient.connect({ path: qemu.socket });
    server = await QmpTestServer.create();
  });
  afterAll(async () => {
    await real?.close();
    await server?.close();
    await stopAllQemu();
  });

  it.runIf(available)('blockdev-add (null drivers), the NBD server and exports, with every member', async () => {
    for (const s of widest(release, `${qemu.innerDir}/nbd.sock`)) {
      expect({ step: s.command, outcome: await run(real, s.command, s.args) }).toMatchObject({
        step: s.command,
        outcome: { return: expect.anything() },
      });
      const command = server.schema.command(s.command)!;
      expect({ step: s.command, check: server.schema.checkArguments(command, s.args ?? {}) }).toMatchObject({
        step: s.command,
        check: { ok: true },
      });
    }
  });
});
