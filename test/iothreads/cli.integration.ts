/**
 * `qapi-ts iothreads` against real QEMU 7.2, 10.0 and 11.1: the table (a
 * column per member QEMU sends: WEIGHT on 11.1), `--json` checked with the
 * strict IOThreadInfo validator generated from qapi/, and `--watch`
 * following a hotplug/unplug made over a second monitor.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QapiClient, strictValidators } from '../../generated/index.js';
import { QmpClient } from '../../src/runtime/index.js';
import { parseJson } from '../../src/runtime/json.js';
import { BIN, builtCli, runCli } from '../helpers/cli.js';
import {
  QEMU_BINARY,
  RELEASES,
  hotplugMachine,
  qemuAvailable,
  startQemu,
  stopAllQemu,
  type QemuInstance,
} from '../helpers/qemu.js';

const MACHINE = [
  ...hotplugMachine({ iothreads: ['io0', 'io1', 'spare'], rootPorts: 1, nullNodes: ['disk0', 'disk2'] }),
  '-device',
  'virtio-blk-pci,id=vblk0,drive=disk0,iothread=io0',
  '-device',
  'virtio-scsi-pci,id=vscsi0,iothread=io1',
  '-device',
  'virtio-balloon-pci,iothread=io1,free-page-hint=on',
];

const built = builtCli('src/cli/main.js', 'qapi-ts iothreads tests');

describe.each(RELEASES)('qapi-ts iothreads on real QEMU %s', (release) => {
  const available = built && qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;

  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release, machine: 'q35,accel=tcg', args: MACHINE, monitors: 2 });
  });
  afterAll(() => stopAllQemu());

  it.runIf(available)('--json gives the derived holders as IOThreadInfo objects', async () => {
    const run = await runCli(['iothreads', '--socket', qemu.socket, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = parseJson(run.stdout) as { holders: string; iothreads: unknown[] };
    expect(Object.keys(out)).toEqual(['holders', 'iothreads']);
    expect(out.holders).toBe('derived');
    const threads = out.iothreads.map((t) => strictValidators.IOThreadInfo.parse(t));
    expect(Object.fromEntries(threads.map((t) => [t.id, t.holders]))).toEqual({
      io0: [{ type: 'qom', path: '/machine/peripheral/vblk0' }],
      io1: [
        { type: 'qom', path: '/machine/peripheral-anon/device[0]' },
        { type: 'qom', path: '/machine/peripheral/vscsi0' },
      ],
      spare: [],
    });
  });

  it.runIf(available)(
    'prints a table: one row per IOThread, one line per holder, and where holders come from',
    async () => {
      const run = await runCli(['iothreads', '--socket', qemu.socket]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n');
      const weight = release === '11.1' ? 'WEIGHT\\s+' : '';
      expect(lines[0]).toMatch(
        new RegExp(`^IOTHREAD\\s+THREAD-ID\\s+POLL-MAX-NS\\s+GROW\\s+SHRINK\\s+${weight}MAX-BATCH\\s+HOLDERS$`),
      );
      // 11.1: grow 2, shrink 2, weight 3 by default; before: grow 0, shrink 0.
      expect(lines.find((l) => l.startsWith('spare '))).toMatch(
        release === '11.1' ? /^spare\s+\d+\s+32768\s+2\s+2\s+3\s+0\s+-$/ : /^spare\s+\d+\s+32768\s+0\s+0\s+0\s+-$/,
      );
      const rows = lines.slice(1, -1);
      expect(rows.find((l) => l.startsWith('io0 '))).toMatch(/\s\/machine\/peripheral\/vblk0$/);
      expect(rows.find((l) => l.startsWith('spare '))).toMatch(/\s-$/);
      const io1 = rows.findIndex((l) => l.startsWith('io1 '));
      expect(rows[io1]).toMatch(/\/machine\/peripheral-anon\/device\[0\]$/);
      expect(rows[io1 + 1]).toMatch(/^\s+\/machine\/peripheral\/vscsi0$/);
      // Holder lines line up under the HOLDERS column.
      expect(rows[io1 + 1]!.indexOf('/')).toBe(lines[0]!.indexOf('HOLDERS'));
      expect(lines.at(-1)).toMatch(/derived from QOM/);
    },
  );

  it.runIf(available)(
    '--watch prints again when a device is plugged in and when it is gone, and Ctrl-C ends it with 0',
    async () => {
      const child = spawn(process.execPath, [BIN, 'iothreads', '--socket', qemu.socket, '--watch', '0.2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const frames = (): string[] =>
        out
          .split('\n\n')
          .map((f) => f.trimEnd())
          .filter((f) => f !== '');
      const until = async (what: () => boolean): Promise<void> => {
        for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
        expect(what()).toBe(true);
      };
      try {
        await until(() => frames().length === 1 && out.endsWith('\n'));
        await using qmp = await QmpClient.connect({ path: qemu.sockets[1]! });
        const client = new QapiClient(qmp);
        await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp0', drive: 'disk2', iothread: 'io1' });
        await until(() => frames().length === 2);
        expect(frames()[1]).toContain('/machine/peripheral/vblk2');
        expect(frames()[0]).not.toContain('vblk2');
        const deleted = client.events(['DEVICE_DELETED']);
        await client.deviceDel({ id: 'vblk2' });
        for await (const event of deleted) if (event.data.device === 'vblk2') break;
        await until(() => frames().length === 3);
        // Each picture is headed by the time of its refresh (ISO 8601, UTC).
        const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n/;
        for (const frame of frames()) expect(frame).toMatch(time);
        expect(frames()[2]!.replace(time, ''), out).toBe(frames()[0]!.replace(time, ''));
        // Nothing changes: nothing is printed.
        await new Promise((r) => setTimeout(r, 600));
        expect(frames()).toHaveLength(3);
      } finally {
        child.kill('SIGINT');
      }
      expect(await exited).toBe(0);
      expect(err).toBe('');
    },
  );

  it.runIf(available)('usage errors exit 2, a connection failure 3', async () => {
    expect((await runCli(['iothreads'])).code).toBe(2);
    expect((await runCli(['iothreads', '--socket', qemu.socket, '--watch', '0'])).code).toBe(2);
    expect((await runCli(['iothreads', '--socket', qemu.socket, 'extra'])).code).toBe(2);
    const lost = await runCli(['iothreads', '--socket', `${qemu.dir}/nothing.sock`]);
    expect(lost.code).toBe(3);
    expect(lost.stderr).toMatch(/^qapi-ts iothreads: QMP_ERR_CONNECT: /);
  });
});
