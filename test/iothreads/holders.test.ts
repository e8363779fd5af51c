/**
 * Holder derivation on an in-memory QOM tree shaped like QEMU's: the
 * traps (proxy + backend, deleted IOThreads, reused ids), batching, and a
 * hostile server; and QEMU's own list taken as it is, from the simulated
 * holder-tracking QEMU.
 */
import { describe, expect, it } from 'vitest';
import { bindingCount } from '../../src/iothreads/holders.js';
import { inspectIothreads, QomWalkError, type ServerFeatures } from '../../src/iothreads/index.js';
import type { QmpEventMessage, QmpExecutor } from '../../src/runtime/executor.js';
import { QmpCommandError } from '../../src/runtime/errors.js';
import { QmpClient } from '../../src/runtime/index.js';
import { holderTrackingQemu, QmpTestServer } from '../../src/testing/index.js';

interface Prop {
  name: string;
  type: string;
  value?: unknown;
}

/** A QMP peer that knows only QOM and query-iothreads. */
class FakeQom implements QmpExecutor {
  readonly objects = new Map<string, Prop[]>();
  readonly threads = new Map<string, number>();
  readonly sent: string[] = [];
  private nextTid = 1000;

  constructor() {
    for (const path of ['/machine', '/machine/peripheral', '/machine/peripheral-anon', '/objects'])
      this.objects.set(path, []);
    this.child('/machine', 'peripheral', 'container');
    this.child('/machine', 'peripheral-anon', 'container');
  }

  private child(parent: string, name: string, type: string): string {
    const path = `${parent}/${name}`;
    this.objects.get(parent)!.push({ name, type: `child<${type}>` });
    if (!this.objects.has(path)) this.objects.set(path, [{ name: 'type', type: 'string' }]);
    return path;
  }

  addIothread(id: string): void {
    this.child('/objects', id, 'iothread');
    this.threads.set(id, this.nextTid++);
  }

  /** object-del: the object leaves the tree; devices linking to it read "". */
  delIothread(id: string): void {
    const path = `/objects/${id}`;
    this.remove(path);
    this.threads.delete(id);
    for (const props of this.objects.values()) {
      for (const p of props) if (p.type === 'link<iothread>' && p.value === path) p.value = '';
    }
  }

  private remove(path: string): void {
    const slash = path.lastIndexOf('/');
    const parent = this.objects.get(path.slice(0, slash));
    const name = path.slice(slash + 1);
    if (parent)
      parent.splice(
        parent.findIndex((p) => p.name === name),
        1,
      );
    for (const key of [...this.objects.keys()])
      if (key === path || key.startsWith(`${path}/`)) this.objects.delete(key);
  }

  /** A virtio device: proxy and backend show the same IOThread properties. */
  addDevice(id: string | null, props: { iothread?: string; mapping?: string[] }, type = 'virtio-blk-pci'): string {
    const container = id === null ? '/machine/peripheral-anon' : '/machine/peripheral';
    const name = id ?? `device[${this.objects.get(container)!.filter((p) => p.name.startsWith('device[')).length}]`;
    const path = this.child(container, name, type);
    const backend = this.child(path, 'virtio-backend', type.replace('-pci', '-device'));
    for (const at of [path, backend]) {
      const list = this.objects.get(at)!;
      list.push({
        name: 'iothread',
        type: 'link<iothread>',
        value: props.iothread ? `/objects/${props.iothread}` : '',
      });
      if (props.mapping) {
        list.push({
          name: 'iothread-vq-mapping',
          type: 'IOThreadVirtQueueMappingList',
          value: props.mapping.map((iothread) => ({ iothread })),
        });
      }
      list.push({ name: 'mr', type: 'child<memory-region>' });
      this.objects.set(`${at}/mr`, [{ name: 'type', type: 'string' }]);
    }
    return path;
  }

  delDevice(path: string): void {
    this.remove(path);
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.sent.push(command);
    const get = (path: string): Prop[] => {
      const props = this.objects.get(path);
      if (!props) throw new QmpCommandError(command, 'DeviceNotFound', `Device '${path}' not found`);
      return props;
    };
    switch (command) {
      case 'query-iothreads':
        return [...this.threads].map(([id, tid]) => ({
          id,
          'thread-id': tid,
          'poll-max-ns': 32768,
          'poll-grow': 0,
          'poll-shrink': 0,
          'aio-max-batch': 0,
        }));
      case 'qom-list':
        return get(args?.path as string).map(({ name, type }) => ({ name, type }));
      case 'qom-get': {
        const p = get(args?.path as string).find((x) => x.name === args?.property);
        if (!p) throw new QmpCommandError(command, 'GenericError', 'Property not found');
        return p.value;
      }
      case 'qom-list-get':
        return (args?.paths as string[]).map((path) => ({ properties: get(path) }));
      default:
        throw new QmpCommandError(command, 'CommandNotFound', `The command ${command} has not been found`);
    }
  }

  async *events(): AsyncIterable<QmpEventMessage> {}
}

const DERIVED: ServerFeatures = { holders: false, qomListGet: false };
const holdersOf = (report: Awaited<ReturnType<typeof inspectIothreads>>) =>
  Object.fromEntries(report.iothreads.map((t) => [t.id, (t.holders ?? []).map((h) => ('path' in h ? h.path : h))]));

describe('inspectIothreads: holders derived from QOM', () => {
  it('reports each device once, by the path of the device the user created', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    qom.addIothread('io1');
    qom.addIothread('spare');
    qom.addDevice('vblk0', { iothread: 'io0' });
    qom.addDevice('vscsi0', { iothread: 'io1' }, 'virtio-scsi-pci');
    qom.addDevice(null, { iothread: 'io1' }, 'virtio-balloon-pci');
    qom.addDevice('plain', {});
    const report = await inspectIothreads(qom, { features: DERIVED });
    expect(report.holders).toBe('derived');
    expect(holdersOf(report)).toEqual({
      io0: ['/machine/peripheral/vblk0'],
      io1: ['/machine/peripheral-anon/device[0]', '/machine/peripheral/vscsi0'],
      spare: [],
    });
    expect(report.iothreads.every((t) => t.holders?.every((h) => h.type === 'qom'))).toBe(true);
  });

  it('a device with iothread-vq-mapping holds every IOThread it names', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    qom.addIothread('io1');
    qom.addDevice('mq', { mapping: ['io0', 'io1', 'io0'] });
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({
      io0: ['/machine/peripheral/mq'],
      io1: ['/machine/peripheral/mq'],
    });
  });

  it("never gives a deleted IOThread's users to a new IOThread that takes its id", async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    qom.addDevice('link', { iothread: 'io0' });
    qom.addDevice('mq', { mapping: ['io0'] });
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({
      io0: ['/machine/peripheral/link', '/machine/peripheral/mq'],
    });
    qom.delIothread('io0');
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({});
    qom.addIothread('io0');
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({ io0: [] });
    // A device plugged in after the new io0 exists is its holder.
    qom.addDevice('fresh', { mapping: ['io0'] });
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({
      io0: ['/machine/peripheral/fresh'],
    });
    // Unplugging 'mq' and plugging a new device under the same id starts afresh.
    qom.delDevice('/machine/peripheral/mq');
    await inspectIothreads(qom, { features: DERIVED });
    qom.addDevice('mq', { mapping: ['io0'] });
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({
      io0: ['/machine/peripheral/fresh', '/machine/peripheral/mq'],
    });
  });

  it('a device first seen mapping an id no IOThread has never holds a later IOThread of that id', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    qom.addDevice('mq', { mapping: ['io0'] });
    qom.delIothread('io0');
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({});
    qom.addIothread('io0');
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({ io0: [] });
  });

  it('keeps no binding nothing refers to: a long watch of fresh ids and fresh devices holds a bounded number', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    const mq = qom.addDevice('mq', { mapping: ['io0'] });
    const counts: number[] = [];
    let last: string | null = null;
    for (let tick = 0; tick < 200; tick++) {
      // The same device maps a fresh id each tick (a hostile server can), half of them existing IOThreads…
      qom.addIothread(`t${tick}`);
      for (const at of [mq, `${mq}/virtio-backend`]) {
        qom.objects.get(at)!.find((p) => p.name === 'iothread-vq-mapping')!.value = [
          { iothread: 'io0' },
          { iothread: tick % 2 ? `t${tick}` : `gone${tick}` },
        ];
      }
      // …and a fresh device replaces the last one.
      if (last !== null) qom.delDevice(last);
      last = qom.addDevice(`fresh${tick}`, { mapping: [`t${tick}`, 'io0'] });
      const report = await inspectIothreads(qom, { features: DERIVED });
      if (tick % 2) expect(holdersOf(report)[`t${tick}`]).toEqual([last, mq].sort());
      counts.push(bindingCount(qom));
    }
    // mq: io0 and this tick's id; the fresh device: two ids.
    expect(Math.max(...counts)).toBe(4);
  });

  it('uses one qom-list-get per level where the server has it', async () => {
    const each = new FakeQom();
    const batched = new FakeQom();
    for (const qom of [each, batched]) {
      qom.addIothread('io0');
      for (let i = 0; i < 10; i++) qom.addDevice(`d${i}`, { iothread: i % 2 ? 'io0' : undefined });
    }
    const a = await inspectIothreads(each, { features: DERIVED });
    const b = await inspectIothreads(batched, { features: { holders: false, qomListGet: true } });
    expect(b.iothreads).toEqual(a.iothreads);
    expect(b.commands).toBe(batched.sent.length);
    expect(a.commands).toBe(each.sent.length);
    expect(batched.sent.filter((c) => c === 'qom-list-get').length).toBeLessThanOrEqual(6);
    expect(batched.sent).not.toContain('qom-get');
    expect(b.commands * 5).toBeLessThan(a.commands);
  });

  it('leaves out objects that vanish during the walk', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    const gone = qom.addDevice('gone', { iothread: 'io0' });
    qom.addDevice('kept', { iothread: 'io0' });
    const execute = qom.execute.bind(qom);
    qom.execute = async (command, args) => {
      if (command === 'qom-list' && args?.path === gone) qom.delDevice(gone);
      return execute(command, args);
    };
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({
      io0: ['/machine/peripheral/kept'],
    });
  });

  it('ignores malformed property values and stops on an endless tree', async () => {
    const qom = new FakeQom();
    qom.addIothread('io0');
    const path = qom.addDevice('odd', {});
    qom.objects
      .get(path)!
      .push({ name: 'm', type: 'IOThreadVirtQueueMappingList', value: [null, 7, { iothread: 3 }, 'io0'] });
    qom.objects.get(path)!.push({ name: 'l', type: 'link<iothread>', value: { path: '/objects/io0' } });
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({ io0: [] });
    // Integers beyond 2^53 arrive as bigints: still a reading like any other.
    const big = qom.addDevice('big', { mapping: ['io0'] });
    for (const at of [big, `${big}/virtio-backend`]) {
      qom.objects.get(at)!.find((p) => p.name === 'iothread-vq-mapping')!.value = [
        { iothread: 'io0', vqs: [2n ** 64n - 1n] },
      ];
    }
    expect(holdersOf(await inspectIothreads(qom, { features: DERIVED }))).toEqual({ io0: ['/machine/peripheral/big'] });

    const endless = new FakeQom();
    const execute = endless.execute.bind(endless);
    endless.execute = async (command, args) =>
      command === 'qom-list'
        ? [
            { name: 'again', type: 'child<container>' },
            { name: 'more', type: 'child<container>' },
          ]
        : execute(command, args);
    await expect(inspectIothreads(endless, { features: DERIVED })).rejects.toBeInstanceOf(QomWalkError);
  });

  it("takes the server's own list where its schema has holders (the simulated holder-tracking QEMU), as it is", async () => {
    await using server = await QmpTestServer.create();
    server.use(
      holderTrackingQemu({
        boot: [
          ['object-add', { 'qom-type': 'iothread', id: 'io0' }],
          ['blockdev-add', { driver: 'null-co', 'node-name': 'exp0' }],
          ['device_add', { driver: 'virtio-blk-pci', id: 'vblk0', bus: 'rp0', drive: 'exp0', iothread: 'io0' }],
          ['nbd-server-start', { addr: { type: 'unix', data: { path: '/nowhere/nbd.sock' } } }],
          ['blockdev-add', { driver: 'null-co', 'node-name': 'exp1' }],
          ['block-export-add', { type: 'nbd', id: 'e1', 'node-name': 'exp1', iothread: 'io0' }],
        ],
      }),
    );
    await using qmp = await QmpClient.overStream(server.connect());
    const report = await inspectIothreads(qmp);
    expect(report).toMatchObject({ holders: 'reported', commands: 1 });
    // Newest first, as QEMU keeps them: not sorted, not filtered.
    expect(report.iothreads[0]?.holders).toEqual([
      { type: 'block-node', 'node-name': 'exp1' },
      { type: 'qom', path: '/machine/peripheral/vblk0' },
    ]);
    // Nothing but the schema and query-iothreads was asked: no QOM walk.
    expect(server.received.map((c) => c.command)).toEqual(['qmp_capabilities', 'query-qmp-schema', 'query-iothreads']);
    server.assertDone();
  });
});
