/**
 * QEMU 10.0 (Debian trixie) and 11.1 (Debian sid), each run from the
 * chroot `.ci/qemu-10.0` / `.ci/qemu-11.1` builds, driven through the
 * client generated from that release's own schemas with `strict: true`:
 * every reply and event must match that schema exactly. (7.2, the host's,
 * has its own suites: qemu.integration.ts, storage-daemon.integration.ts.)
 *
 * The system emulator runs a q35 machine (its root bus takes no hot-plug,
 * so two pcie-root-ports are added) with two IOThreads used by a
 * virtio-blk, a virtio-scsi and a virtio-blk with an iothread-vq-mapping.
 *
 * Things QEMU 10.0 does badly, kept out of these tests: object-del of an
 * IOThread a device or export uses succeeds (no in-use check; 11.1 still
 * lets a device's IOThread go), after which qemu-storage-daemon crashes on
 * the next NBD connection; object-add of colo-compare with null chardevs
 * aborts QEMU.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, type UntypedClient } from '../../src/backends/load.js';
import { QmpClient, QmpCommandError, type QmpEventMessage } from '../../src/runtime/index.js';
import { isQapiValidationError } from '../../src/support/index.js';
import {
  QEMU_BINARY,
  STORAGE_DAEMON_BINARY,
  chrootOf,
  qemuAvailable,
  releaseNumbers,
  releaseSchemas,
  runQemuTool,
  startQemu,
  startStorageDaemon,
  stopAllQemu,
  type QemuInstance,
  type QemuRelease,
} from '../helpers/qemu.js';

const IMAGE_SIZE = 1 << 20;

/** Writes a zero-filled raw image `disk.raw` into a QEMU's dir (host path). */
function rawImage(dir: string): void {
  writeFileSync(join(dir, 'disk.raw'), Buffer.alloc(IMAGE_SIZE));
}

/** The raw image in `dir` (as the process sees it) as block nodes `NAME-file` and `NAME`. */
function rawDisk(dash: '-' | '--', dir: string, name: string): string[] {
  return [
    `${dash}blockdev`,
    `driver=file,filename=${dir}/disk.raw,node-name=${name}-file`,
    `${dash}blockdev`,
    `driver=raw,file=${name}-file,node-name=${name}`,
  ];
}

/** Connects and wraps the connection in the strict client generated from `schemaPath`. */
async function strictClient(instance: QemuInstance, schemaPath: string): Promise<[QmpClient, UntypedClient]> {
  const [qmp, schema] = await Promise.all([
    QmpClient.connect({ path: instance.socket }, { oob: true, timeout: 10_000 }),
    loadValidators(schemaPath),
  ]);
  return [qmp, schema.createClient(qmp, { strict: true })];
}

function expectRelease(release: QemuRelease, qmp: QmpClient, version: unknown): void {
  expect(qmp.greeting.version.qemu).toMatchObject(releaseNumbers(release));
  expect((version as { qemu: unknown }).qemu).toEqual(qmp.greeting.version.qemu);
  expect(qmp.oobEnabled).toBe(true);
}

interface NamedNode {
  'node-name': string;
  drv: string;
  file: string;
  image: { 'virtual-size': number };
}

/** The releases run from a chroot. */
const CHROOTED = ['10.0', '11.1'] as const;

describe.each(CHROOTED)('QEMU %s q35 with IOThreads, strict client from its schema', (release) => {
  const schemas = releaseSchemas(release);
  const available = schemas !== null && qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let qmp: QmpClient;
  let client: UntypedClient;
  const vqMapping = [
    { iothread: 'io0', vqs: [0, 2] },
    { iothread: 'io1', vqs: [1, 3] },
  ];

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({
      release,
      machine: 'q35,accel=tcg',
      setup: rawImage,
      makeArgs: (dir) => [
        // Native PCIe hot-plug: a device the guest never powered on is
        // unplugged at once (ACPI hot-plug would wait for a guest).
        '-global',
        'ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off',
        '-object',
        'iothread,id=io0',
        '-object',
        'iothread,id=io1',
        '-device',
        'pcie-root-port,id=rp0,chassis=1,bus=pcie.0,addr=0x2',
        '-device',
        'pcie-root-port,id=rp1,chassis=2,bus=pcie.0,addr=0x3',
        ...rawDisk('-', dir, 'disk0'),
        '-blockdev',
        `null-co,node-name=null1,size=${IMAGE_SIZE}`,
        '-blockdev',
        `null-co,node-name=null2,size=${IMAGE_SIZE}`,
        '-device',
        'virtio-blk-pci,id=vblk0,drive=disk0,iothread=io0',
        '-device',
        'virtio-scsi-pci,id=scsi0,iothread=io1',
        '-device',
        'scsi-hd,id=sd0,drive=null1,bus=scsi0.0',
        // A list-valued property: only the JSON form of -device takes it.
        '-device',
        JSON.stringify({
          driver: 'virtio-blk-pci',
          id: 'vblk1',
          drive: 'null2',
          'num-queues': 4,
          'iothread-vq-mapping': vqMapping,
        }),
      ],
    });
    [qmp, client] = await strictClient(qemu, schemas!.system);
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  const qomGet = (path: string, property: string) => client.execute('qom-get', { path, property });

  it.runIf(available)(
    `greets as QEMU ${release} and answers query-version and query-status as its schema says`,
    async () => {
      expectRelease(release, qmp, await client.execute('query-version'));
      expect(await client.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
    },
  );

  it.runIf(available)('lists both IOThreads', async () => {
    const threads = (await client.execute('query-iothreads')) as { id: string; 'thread-id': number }[];
    expect(threads.map((t) => t.id).sort()).toEqual(['io0', 'io1']);
    for (const t of threads) expect(t['thread-id']).toBeGreaterThan(0);
    // 11.1 adds poll-weight (default 3) and reports poll-grow/poll-shrink defaults as 2, not 0.
    const polling =
      release === '11.1'
        ? { 'poll-grow': 2, 'poll-shrink': 2, 'poll-weight': 3 }
        : { 'poll-grow': 0, 'poll-shrink': 0 };
    for (const t of threads) expect(t).toMatchObject(polling);
    for (const t of threads) expect('poll-weight' in t).toBe(release === '11.1');
  });

  it.runIf(available)('query-block: one backend per device, the raw image at its path inside the chroot', async () => {
    const blocks = (await client.execute('query-block')) as {
      qdev: string;
      inserted: { 'node-name': string; file: string };
    }[];
    const byNode = Object.fromEntries(blocks.map((b) => [b.inserted['node-name'], b.qdev]));
    expect(byNode).toEqual({
      disk0: '/machine/peripheral/vblk0/virtio-backend',
      null1: 'sd0',
      null2: '/machine/peripheral/vblk1/virtio-backend',
    });
    expect(blocks.find((b) => b.inserted['node-name'] === 'disk0')?.inserted.file).toBe(`${qemu.innerDir}/disk.raw`);
  });

  it.runIf(available)('query-named-block-nodes (flat) validates strictly and shows every node', async () => {
    const nodes = (await client.execute('query-named-block-nodes', { flat: true })) as NamedNode[];
    const drivers = Object.fromEntries(nodes.map((n) => [n['node-name'], n.drv]));
    expect(drivers).toEqual({ 'disk0-file': 'file', disk0: 'raw', null1: 'null-co', null2: 'null-co' });
    for (const n of nodes) expect(n.image['virtual-size']).toBe(IMAGE_SIZE);
  });

  it.runIf(available)(
    'QOM: an iothread property reads as the IOThread object path, a vq-mapping as the list given',
    async () => {
      const props = (await client.execute('qom-list', { path: '/machine/peripheral/vblk0' })) as {
        name: string;
        type: string;
      }[];
      const types = Object.fromEntries(props.map((p) => [p.name, p.type]));
      expect(types).toMatchObject({
        iothread: 'link<iothread>',
        'iothread-vq-mapping': 'IOThreadVirtQueueMappingList',
      });

      expect(await qomGet('/machine/peripheral/vblk0', 'iothread')).toBe('/objects/io0');
      expect(await qomGet('/machine/peripheral/scsi0', 'iothread')).toBe('/objects/io1');
      expect(await qomGet('/machine/peripheral/vblk1', 'iothread-vq-mapping')).toEqual(vqMapping);
      // A device on a vq-mapping has no single IOThread: the link is empty.
      expect(await qomGet('/machine/peripheral/vblk1', 'iothread')).toBe('');
      expect(await qomGet('/machine/peripheral/vblk0', 'iothread-vq-mapping')).toEqual([]);
      // The virtio backend child carries the same properties.
      expect(await qomGet('/machine/peripheral/vblk0/virtio-backend', 'iothread')).toBe('/objects/io0');
      // The IOThread objects themselves sit under /objects.
      const objects = (await client.execute('qom-list', { path: '/objects' })) as { name: string; type: string }[];
      expect(
        objects
          .filter((o) => o.type === 'child<iothread>')
          .map((o) => o.name)
          .sort(),
      ).toEqual(['io0', 'io1']);
    },
  );

  /**
   * Hot-plugs a virtio-blk with `props` into `bus` through `add`, checks it
   * through the strict client, unplugs it and waits for DEVICE_DELETED.
   */
  async function hotplugCycle(
    add: (args: Record<string, unknown>) => Promise<unknown>,
    id: string,
    bus: string,
    props: Record<string, unknown>,
  ): Promise<void> {
    const node = `${id}-node`;
    const path = `/machine/peripheral/${id}`;
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': node, size: IMAGE_SIZE });
    expect(await add({ driver: 'virtio-blk-pci', id, bus, drive: node, ...props })).toEqual({});
    for (const [name, value] of Object.entries(props)) {
      if (name === 'iothread') expect(await qomGet(path, name)).toBe(`/objects/${value as string}`);
      else expect(await qomGet(path, name)).toEqual(value);
    }
    const blocks = (await client.execute('query-block')) as { qdev: string; inserted: { 'node-name': string } }[];
    expect(blocks.find((b) => b.inserted['node-name'] === node)?.qdev).toBe(`${path}/virtio-backend`);

    const events = client.events(['DEVICE_DELETED'])[Symbol.asyncIterator]();
    await client.execute('device_del', { id });
    const deleted: unknown[] = [];
    while (!deleted.some((d) => (d as { device?: string }).device === id)) {
      const { value } = await events.next();
      deleted.push((value as QmpEventMessage).data);
    }
    await events.return?.();
    // The backend goes first, then the device itself.
    expect(deleted).toEqual([{ path: `${path}/virtio-backend` }, { device: id, path }]);
    const peripherals = (await client.execute('qom-list', { path: '/machine/peripheral' })) as { name: string }[];
    expect(peripherals.map((p) => p.name)).not.toContain(id);
    await client.execute('blockdev-del', { 'node-name': node });
  }

  // device_add is `gen: false`: device properties beyond driver/bus/id are
  // further arguments, which the generated client passes on (checked:
  // driver/bus/id exactly, the rest open).
  const typedDeviceAdd = (args: Record<string, unknown>) => client.execute('device_add', args);

  it.runIf(available)(
    'hot-plugs a virtio-blk on an IOThread into a root port, then unplugs it (DEVICE_DELETED)',
    async () => {
      await hotplugCycle(typedDeviceAdd, 'hp0', 'rp0', { iothread: 'io1' });
    },
  );

  it.runIf(available)(
    'hot-plugs a virtio-blk with an iothread-vq-mapping (JSON list argument), then unplugs it',
    async () => {
      await hotplugCycle(typedDeviceAdd, 'hp1', 'rp0', {
        'num-queues': 2,
        'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }],
      });
    },
  );

  it.runIf(available)('refuses hot-plug into the q35 root bus with a GenericError', async () => {
    const err = await qmp
      .execute('device_add', { driver: 'virtio-blk-pci', id: 'nope', bus: 'pcie.0', drive: 'disk0' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect((err as QmpCommandError).errorClass).toBe('GenericError');
    expect((err as QmpCommandError).desc).toMatch(/hotplug/i);
  });

  it.runIf(available)('the generated client still refuses device_add without a driver', async () => {
    const err = await client
      .execute('device_add', { id: 'nodriver', bus: 'rp1', iothread: 'io0' })
      .catch((e: unknown) => e);
    expect(isQapiValidationError(err)).toBe(true);
  });

  it.runIf(available)('query-cpu-model-expansion: the reply QEMU sends for x86 has no deprecated-props', async () => {
    const raw = (await qmp.execute('query-cpu-model-expansion', { type: 'full', model: { name: 'qemu64' } })) as {
      model: { name: string; props: Record<string, unknown> };
    };
    expect(Object.keys(raw)).toEqual(['model']);
    expect(raw.model.name).toBe('qemu64');
    expect(raw.model.props).toMatchObject({ lm: true, family: 15, vendor: 'AuthenticAMD' });
  });

  // 'deprecated-props' exists only `if: TARGET_S390X`: without --define it
  // is optional, so x86's reply validates strictly.
  it.runIf(available)('query-cpu-model-expansion validates strictly', async () => {
    const info = (await client.execute('query-cpu-model-expansion', { type: 'full', model: { name: 'qemu64' } })) as {
      model: { name: string; props: Record<string, unknown> };
    };
    expect(info.model.name).toBe('qemu64');
    expect(info.model.props).toMatchObject({ lm: true });
  });
});

describe.each(CHROOTED)('qemu-storage-daemon %s: NBD export on an IOThread, strict client', (release) => {
  const schemas = releaseSchemas(release);
  const available = schemas !== null && qemuAvailable(STORAGE_DAEMON_BINARY, release);
  let qsd: QemuInstance;
  let qmp: QmpClient;
  let client: UntypedClient;
  let nbdUri: string;

  beforeAll(async () => {
    if (!available) return;
    qsd = await startStorageDaemon(
      (dir) => [
        '--object',
        'iothread,id=io0',
        ...rawDisk('--', dir, 'disk0'),
        '--nbd-server',
        `addr.type=unix,addr.path=${dir}/nbd.sock`,
        '--export',
        'nbd,id=exp0,node-name=disk0,name=exp0,iothread=io0,writable=on',
      ],
      { release, setup: rawImage },
    );
    nbdUri = `nbd+unix:///exp0?socket=${qsd.innerDir}/nbd.sock`;
    [qmp, client] = await strictClient(qsd, schemas!.storageDaemon);
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  /** Runs the release's qemu-io on the export. */
  const qemuIo = (...commands: string[]) =>
    runQemuTool(release, 'qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), nbdUri]);

  it.runIf(available)(`greets as QEMU ${release} and lists the export on its node`, async () => {
    expectRelease(release, qmp, await client.execute('query-version'));
    expect(await client.execute('query-block-exports')).toEqual([
      { type: 'nbd', id: 'exp0', 'node-name': 'disk0', 'shutting-down': false },
    ]);
    const nodes = (await client.execute('query-named-block-nodes', { flat: true })) as NamedNode[];
    expect(nodes.map((n) => `${n['node-name']}:${n.drv}`).sort()).toEqual(['disk0-file:file', 'disk0:raw']);
    expect(nodes.find((n) => n['node-name'] === 'disk0-file')?.file).toBe(`${qsd.innerDir}/disk.raw`);
  });

  it.runIf(available)('serves writes over NBD through the IOThread into the image file', async () => {
    const out = await qemuIo('write -P 0x5a 4096 65536', 'read -P 0x5a 4096 65536');
    expect(out).toMatch(/wrote 65536\/65536 bytes/);
    expect(out).toMatch(/read 65536\/65536 bytes/);
    const image = readFileSync(join(qsd.dir, 'disk.raw'));
    expect(image.subarray(4096, 4096 + 65536).every((b) => b === 0x5a)).toBe(true);
    expect(image[4095]).toBe(0);
    expect(image[4096 + 65536]).toBe(0);
  });

  it.runIf(available)(
    'exports a hot-added node on a hot-added IOThread, reports its deletion, and keeps serving the first',
    async () => {
      const events = client.events(['BLOCK_EXPORT_DELETED'])[Symbol.asyncIterator]();
      await client.execute('object-add', { 'qom-type': 'iothread', id: 'io1' });
      await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'null1', size: IMAGE_SIZE });
      await client.execute('block-export-add', { type: 'nbd', id: 'exp1', 'node-name': 'null1', iothread: 'io1' });
      const exports = (await client.execute('query-block-exports')) as { id: string; 'node-name': string }[];
      expect(exports.map((e) => `${e.id}:${e['node-name']}`).sort()).toEqual(['exp0:disk0', 'exp1:null1']);

      await client.execute('block-export-del', { id: 'exp1' });
      const { value } = await events.next();
      expect(value).toMatchObject({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'exp1' } });
      await events.return?.();
      await client.execute('blockdev-del', { 'node-name': 'null1' });
      // io1 stays: deleting an IOThread an export used crashes 10.0's daemon
      // on the next NBD connection.
      expect(await qemuIo('read -P 0x5a 4096 4096')).toMatch(/read 4096\/4096 bytes/);
      expect(await client.execute('query-block-exports')).toEqual([
        { type: 'nbd', id: 'exp0', 'node-name': 'disk0', 'shutting-down': false },
      ]);
    },
  );

  it.runIf(available)('runs inside the chroot and is cleaned up from the host: process gone, dir removed', async () => {
    const root = chrootOf(release)!.root;
    expect(qsd.dir.startsWith(`${root}/tmp/qapi-ts-qemu-`)).toBe(true);
    expect(qsd.dir).toBe(join(root, qsd.innerDir));
    expect(readFileSync(`/proc/${qsd.pid}/cmdline`, 'utf8')).toContain('qemu-storage-daemon');
    await qmp.close();
    await qsd.stop();
    expect(existsSync(`/proc/${qsd.pid}`)).toBe(false);
    expect(existsSync(qsd.dir)).toBe(false);
  });
});
