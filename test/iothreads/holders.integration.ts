/**
 * IOThread holders derived from QOM on a real QEMU: a q35 machine with
 * IOThreads io0/io1, a virtio-blk on io0, a virtio-scsi and a balloon
 * (free-page-hint) on io1, two free PCIe root ports for hotplug.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QapiClient } from '../../generated/index.js';
import { inspectIothreads, type IothreadReport } from '../../src/iothreads/index.js';
import { QmpClient } from '../../src/runtime/index.js';
import { qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';

/** IOThread id → holder paths (a holder of another kind shows as its JSON). */
export function holderPaths(report: IothreadReport): Record<string, string[]> {
  return Object.fromEntries(
    report.iothreads.map((t) => [t.id, (t.holders ?? []).map((h) => (h.type === 'qom' && 'path' in h ? String(h.path) : JSON.stringify(h)))]),
  );
}

/** Chardevs colo-compare can use: listening abstract unix sockets, no files needed. */
export function coloChardevs(): string[] {
  const tag = randomBytes(6).toString('hex');
  return ['pri', 'sec', 'out'].flatMap((id) => ['-chardev', `socket,id=${id},path=qapi-ts-${tag}-${id},abstract=on,server=on,wait=off`]);
}

export const HOLDER_MACHINE = [
  '-object', 'iothread,id=io0', '-object', 'iothread,id=io1',
  '-device', 'pcie-root-port,id=rp0,chassis=1', '-device', 'pcie-root-port,id=rp1,chassis=2',
  '-blockdev', 'driver=null-co,node-name=disk0', '-blockdev', 'driver=null-co,node-name=disk2',
  '-device', 'virtio-blk-pci,id=vblk0,drive=disk0,iothread=io0',
  '-device', 'virtio-scsi-pci,id=vscsi0,iothread=io1',
  '-device', 'virtio-balloon-pci,iothread=io1,free-page-hint=on',
];

describe.runIf(qemuAvailable())('IOThread holders on real QEMU 7.2 (derived from QOM)', () => {
  let qemu: QemuInstance;
  let qmp: QmpClient;
  let client: QapiClient;

  beforeAll(async () => {
    qemu = await startQemu({ machine: 'q35,accel=tcg', args: [...HOLDER_MACHINE, ...coloChardevs()] });
    qmp = await QmpClient.connect({ path: qemu.socket });
    client = new QapiClient(qmp, { strict: true });
  });
  afterAll(async () => {
    await qmp?.close();
    await stopAllQemu();
  });

  it('lists exactly the devices on each IOThread, each once, by its own path', async () => {
    const report = await inspectIothreads(qmp);
    expect(report.holders).toBe('derived');
    expect(holderPaths(report)).toEqual({
      io0: ['/machine/peripheral/vblk0'],
      io1: ['/machine/peripheral-anon/device[0]', '/machine/peripheral/vscsi0'],
    });
    // Skipping memory regions and IRQs changes nothing but the cost.
    const full = await inspectIothreads(qmp, { fullWalk: true });
    expect(full.iothreads).toEqual(report.iothreads);
    expect(report.commands * 2).toBeLessThan(full.commands);
  });

  it('sees a virtio-blk hot-plugged onto io1 through the typed client', async () => {
    await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp1', drive: 'disk2', iothread: 'io1' });
    expect(holderPaths(await inspectIothreads(qmp)).io1).toEqual([
      '/machine/peripheral-anon/device[0]',
      '/machine/peripheral/vblk2',
      '/machine/peripheral/vscsi0',
    ]);
  });

  it('sees an IOThread and a colo-compare object on it come and go', async () => {
    await client.objectAdd({ 'qom-type': 'iothread', id: 'io2' });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual([]);
    await client.objectAdd({ 'qom-type': 'colo-compare', id: 'cc0', primary_in: 'pri', secondary_in: 'sec', outdev: 'out', iothread: 'io2' });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual(['/objects/cc0']);
    await client.objectDel({ id: 'cc0' });
    expect(holderPaths(await inspectIothreads(qmp)).io2).toEqual([]);
    await client.objectDel({ id: 'io2' });
    expect(Object.keys(holderPaths(await inspectIothreads(qmp))).sort()).toEqual(['io0', 'io1']);
  });
});
