/**
 * IOThread holders derived from QOM on real QEMU 7.2, 10.0 and 11.1: a q35
 * machine with IOThreads io0/io1, a virtio-blk on io0, a virtio-scsi and a
 * balloon (free-page-hint) on io1; from 10.0 on also a virtio-blk and a
 * virtio-scsi (its iothread-vq-mapping is new in 10.0) whose
 * iothread-vq-mapping spreads them over io0 and io1; two free PCIe root
 * ports for hotplug (native PCIe hotplug, so an unplug needs no guest).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QapiClient, strictValidators } from '../../generated/index.js';
import { inspectIothreads, type IothreadReport } from '../../src/iothreads/index.js';
import { QmpClient, parseJson } from '../../src/runtime/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import {
  QEMU_BINARY,
  RELEASES,
  hotplugMachine,
  qemuAvailable,
  releaseNumbers,
  startQemu,
  stopAllQemu,
  type QemuInstance,
  type QemuRelease,
} from '../helpers/qemu.js';

/** QEMU 10.0 and later: iothread-vq-mapping on virtio-scsi too. */
const hasScsiMapping = (release: QemuRelease): boolean => releaseNumbers(release).major >= 10;

/** IOThread id → holder paths (a holder of another kind shows as its JSON). */
export function holderPaths(report: IothreadReport): Record<string, string[]> {
  return Object.fromEntries(
    report.iothreads.map((t) => [
      t.id,
      (t.holders ?? []).map((h) => (h.type === 'qom' && 'path' in h ? String(h.path) : JSON.stringify(h))),
    ]),
  );
}

/** The machine of the scenario; `dir` is the temp dir as QEMU sees it. */
function machine(release: QemuRelease, dir: string): string[] {
  const args = [
    ...hotplugMachine({ iothreads: ['io0', 'io1'], rootPorts: 2, nullNodes: ['disk0', 'disk1', 'disk2', 'disk3'] }),
    '-device',
    'virtio-blk-pci,id=vblk0,drive=disk0,iothread=io0',
    '-device',
    'virtio-scsi-pci,id=vscsi0,iothread=io1',
    '-device',
    'virtio-balloon-pci,iothread=io1,free-page-hint=on',
    // Chardevs for colo-compare: listening sockets nobody connects to.
    ...['pri', 'sec', 'out'].flatMap((id) => ['-chardev', `socket,id=${id},path=${dir}/${id}.sock,server=on,wait=off`]),
  ];
  if (hasScsiMapping(release)) {
    args.push(
      '-device',
      JSON.stringify({
        driver: 'virtio-blk-pci',
        id: 'vblk1',
        drive: 'disk1',
        'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }],
      }),
    );
    args.push(
      '-device',
      JSON.stringify({
        driver: 'virtio-scsi-pci',
        id: 'vscsi1',
        'iothread-vq-mapping': [{ iothread: 'io1' }, { iothread: 'io0' }],
      }),
    );
  }
  return args;
}

describe.each(RELEASES)('IOThread holders on real QEMU %s (derived from QOM)', (release) => {
  const available = qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let qmp: QmpClient;
  let client: QapiClient;
  // The devices on both IOThreads through their iothread-vq-mapping.
  const mq = hasScsiMapping(release) ? ['/machine/peripheral/vblk1'] : [];
  const mqScsi = hasScsiMapping(release) ? ['/machine/peripheral/vscsi1'] : [];

  beforeAll(async () => {
    if (!available) return;
    // A second monitor for the CLI: QEMU serves one client per monitor.
    qemu = await startQemu({
      release,
      machine: 'q35,accel=tcg',
      makeArgs: (dir) => machine(release, dir),
      monitors: 2,
    });
    qmp = await QmpClient.connect({ path: qemu.socket });
    client = new QapiClient(qmp, { strict: true });
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it.runIf(available)('lists exactly the devices on each IOThread, each once, by its own path', async () => {
    const report = await inspectIothreads(qmp);
    expect(report.holders).toBe('derived');
    expect(holderPaths(report)).toEqual({
      io0: ['/machine/peripheral/vblk0', ...mq, ...mqScsi],
      io1: ['/machine/peripheral-anon/device[0]', ...mq, '/machine/peripheral/vscsi0', ...mqScsi],
    });
    // Skipping memory regions and IRQs changes nothing but the cost: half the
    // commands or fewer, one qom-list per object; with qom-list-get (10.1 on)
    // one command per tree level either way.
    const full = await inspectIothreads(qmp, { fullWalk: true });
    expect(full.iothreads).toEqual(report.iothreads);
    if (releaseNumbers(release).major >= 11) expect(report.commands).toBeLessThanOrEqual(full.commands);
    else expect(report.commands * 2).toBeLessThan(full.commands);
  });

  it.runIf(available && builtCli('src/cli/main.js', 'qapi-ts iothreads --json'))(
    'qapi-ts iothreads --json gives the same holders',
    async () => {
      const run = await runCli(['iothreads', '--socket', qemu.sockets[1]!, '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const out = parseJson(run.stdout) as { holders: string; iothreads: unknown[] };
      expect(out.holders).toBe('derived');
      const threads = out.iothreads.map((t) => strictValidators.IOThreadInfo.parse(t));
      expect(
        Object.fromEntries(threads.map((t) => [t.id, (t.holders ?? []).map((h) => ('path' in h ? h.path : h))])),
      ).toEqual({
        io0: ['/machine/peripheral/vblk0', ...mq, ...mqScsi],
        io1: ['/machine/peripheral-anon/device[0]', ...mq, '/machine/peripheral/vscsi0', ...mqScsi],
      });
      // Every member QEMU sent, nothing more: QEMU 11.1 adds poll-weight and reports grow/shrink defaults as 2.
      const polling = threads.map((t) => [t['poll-grow'], t['poll-shrink'], t['poll-weight']]);
      expect(polling).toEqual(
        release === '11.1'
          ? [
              [2, 2, 3],
              [2, 2, 3],
            ]
          : [
              [0, 0, undefined],
              [0, 0, undefined],
            ],
      );
      const raw = (await qmp.execute('query-iothreads')) as Record<string, unknown>[];
      expect(out.iothreads.map((t) => Object.keys(t as object).sort())).toEqual(
        raw.map((t) => [...Object.keys(t), 'holders'].sort()),
      );
      const table = await runCli(['iothreads', '--socket', qemu.sockets[1]!]);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(
        release === '11.1'
          ? /^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+WEIGHT\s+MAX-BATCH\s+HOLDERS$/
          : /^IOTHREAD\s+THREAD-ID\s+POLL-MAX-NS\s+GROW\s+SHRINK\s+MAX-BATCH\s+HOLDERS$/,
      );
    },
  );

  it.runIf(available)('sees a virtio-blk hot-plugged onto io1 through the typed client come and go', async () => {
    await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp1', drive: 'disk2', iothread: 'io1' });
    expect(holderPaths(await inspectIothreads(qmp)).io1).toEqual([
      '/machine/peripheral-anon/device[0]',
      ...mq,
      '/machine/peripheral/vblk2',
      '/machine/peripheral/vscsi0',
      ...mqScsi,
    ]);
    const deleted = client.events(['DEVICE_DELETED']);
    await client.deviceDel({ id: 'vblk2' });
    for await (const event of deleted) if (event.data.device === 'vblk2') break;
    expect(holderPaths(await inspectIothreads(qmp)).io1).toEqual([
      '/machine/peripheral-anon/device[0]',
      ...mq,
      '/machine/peripheral/vscsi0',
      ...mqScsi,
    ]);
  });

  if (hasScsiMapping(release))
    it.runIf(available)(
      'sees a virtio-scsi with an iothread-vq-mapping hot-plugged onto both IOThreads come and go',
      async () => {
        const before = holderPaths(await inspectIothreads(qmp));
        await client.deviceAdd({
          driver: 'virtio-scsi-pci',
          id: 'vscsi2',
          bus: 'rp0',
          'iothread-vq-mapping': [{ iothread: 'io1' }, { iothread: 'io0' }],
        });
        expect(
          await qmp.execute('qom-get', { path: '/machine/peripheral/vscsi2', property: 'iothread-vq-mapping' }),
        ).toEqual([{ iothread: 'io1' }, { iothread: 'io0' }]);
        const plugged = holderPaths(await inspectIothreads(qmp));
        expect(plugged).toEqual({
          io0: ['/machine/peripheral/vblk0', ...mq, ...mqScsi, '/machine/peripheral/vscsi2'],
          io1: [
            '/machine/peripheral-anon/device[0]',
            ...mq,
            '/machine/peripheral/vscsi0',
            ...mqScsi,
            '/machine/peripheral/vscsi2',
          ],
        });
        const deleted = client.events(['DEVICE_DELETED']);
        await client.deviceDel({ id: 'vscsi2' });
        for await (const event of deleted) if (event.data.device === 'vscsi2') break;
        expect(holderPaths(await inspectIothreads(qmp))).toEqual(before);
      },
    );

  it.runIf(available)('sees an IOThread and a colo-compare object on it come and go', async () => {
    await client.objectAdd({ 'qom-type': 'iothread', id: 'io2' });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual([]);
    await client.objectAdd({
      'qom-type': 'colo-compare',
      id: 'cc0',
      primary_in: 'pri',
      secondary_in: 'sec',
      outdev: 'out',
      iothread: 'io2',
    });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual(['/objects/cc0']);
    await client.objectDel({ id: 'cc0' });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual([]);
    await client.objectDel({ id: 'io2' });
    expect(Object.keys(holderPaths(await inspectIothreads(qmp))).sort()).toEqual(['io0', 'io1']);
  });

  // QEMU 7.2 has no iothread-vq-mapping.
  if (hasScsiMapping(release))
    it.runIf(available)('never hands the users of a deleted IOThread to a new one with the same id', async () => {
      // QEMU 10.0 and 11.1 delete an IOThread in use without complaint; the devices keep the old thread.
      await client.objectAdd({ 'qom-type': 'iothread', id: 'io3' });
      await client.deviceAdd({
        driver: 'virtio-blk-pci',
        id: 'mq3',
        bus: 'rp0',
        drive: 'disk3',
        'iothread-vq-mapping': [{ iothread: 'io3' }],
      });
      expect(holderPaths(await inspectIothreads(qmp)).io3).toEqual(['/machine/peripheral/mq3']);
      await client.objectDel({ id: 'io3' });
      await client.objectAdd({ 'qom-type': 'iothread', id: 'io3' });
      // The mapping still names io3, but it is not this io3.
      expect(
        await qmp.execute('qom-get', { path: '/machine/peripheral/mq3', property: 'iothread-vq-mapping' }),
      ).toEqual([{ iothread: 'io3' }]);
      expect(holderPaths(await inspectIothreads(qmp)).io3).toEqual([]);
    });
});
