/**
 * The clients generated from QEMU 10.0's and 11.1's schemas, with 7.2 as
 * the oldest supported release, talking to a real QEMU 7.2 (Debian's) in
 * strict mode: the replies the issue names validate, and the typed
 * device_add hot-plugs a disk onto an IOThread. The same client without
 * the oldest release rejects those replies (the control).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, type UntypedClient } from '../../src/backends/load.js';
import { QmpClient, QmpCommandError } from '../../src/runtime/index.js';
import { isQapiValidationError } from '../../src/support/index.js';
import { qemuAvailable, startQemu, stopAllQemu, type QemuInstance } from '../helpers/qemu.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus');

type Methods = Record<string, (args?: unknown) => Promise<unknown>>;

describe.runIf(corpus !== null && qemuAvailable()).each(['10.0', '11.1'] as const)(
  'QEMU %s client, oldest release 7.2, on a real QEMU 7.2',
  (newest) => {
    let qemu: QemuInstance;
    let qmp: QmpClient;
    let client: Methods;
    let unaware: Methods;

    beforeAll(async () => {
      const schema = join(corpus!, `qemu-${newest}/qapi/qapi-schema.json`);
      const [started, loaded, plain] = await Promise.all([
        startQemu({
          machine: 'q35',
          args: [
            '-object',
            'iothread,id=io1',
            '-device',
            'pcie-root-port,id=rp1,bus=pcie.0,chassis=1',
            '-blockdev',
            'null-co,node-name=disk2,size=1048576',
            '-drive',
            'if=none,id=drive0,driver=null-co,size=1048576',
          ],
        }),
        loadValidators(schema, { oldestSchema: join(corpus!, 'qemu-7.2/qapi/qapi-schema.json') }),
        loadValidators(schema),
      ]);
      qemu = started;
      qmp = await QmpClient.connect({ path: qemu.socket }, { timeout: 10_000 });
      const asMethods = (c: UntypedClient): Methods => c as unknown as Methods;
      client = asMethods(loaded.createClient(qmp, { strict: true }));
      unaware = asMethods(plain.createClient(qmp, { strict: true }));
    });
    afterAll(async () => {
      await qmp?.close();
      await stopAllQemu();
    });

    it('is talking to QEMU 7.2', () => {
      expect(qmp.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
    });

    it('queryBlock, queryBlockstats, queryMachines and queryCpuModelExpansion validate strictly', async () => {
      const blocks = (await client.queryBlock!()) as { device: string }[];
      expect(blocks.map((b) => b.device)).toContain('drive0');
      const stats = (await client.queryBlockstats!()) as { stats: Record<string, unknown> }[];
      expect(stats.length).toBeGreaterThan(0);
      expect(stats[0]!.stats).not.toHaveProperty('zone_append_operations'); // newer than 7.2
      const machines = (await client.queryMachines!()) as { name: string; acpi?: unknown }[];
      expect(machines.some((m) => m.name.startsWith('pc-q35-'))).toBe(true);
      expect(machines[0]).not.toHaveProperty('acpi');
      const expansion = (await client.queryCpuModelExpansion!({ type: 'full', model: { name: 'qemu64' } })) as {
        model: { name: string };
      };
      expect(expansion.model.name).toBe('qemu64');
      expect(expansion).not.toHaveProperty('deprecated-props');
      // query-status: 7.2 still sends singlestep, which 10.0 dropped.
      expect(await client.queryStatus!()).toMatchObject({ status: 'prelaunch', singlestep: false });
    });

    it('query-sev: a reply (in 7.2 layout, without sev-type) or a QMP error, never a validation error', async () => {
      const outcome = await client.querySev!().then(
        (reply) => ({ reply }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) {
        expect(outcome.error).toBeInstanceOf(QmpCommandError);
      } else {
        expect(outcome.reply).not.toHaveProperty('sev-type');
        expect(outcome.reply).toHaveProperty('policy');
      }
    });

    it('hot-plugs a virtio-blk disk onto an IOThread with the typed device_add', async () => {
      await expect(
        client.deviceAdd!({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp1', drive: 'disk2', iothread: 'io1' }),
      ).resolves.toEqual({});
      await expect(client.qomGet!({ path: '/machine/peripheral/vblk2', property: 'iothread' })).resolves.toBe(
        '/objects/io1',
      );
      // A missing driver is caught before anything is sent.
      const missing = await client.deviceAdd!({ id: 'vblk3', drive: 'disk2' }).catch((e: unknown) => e);
      expect(isQapiValidationError(missing)).toBe(true);
      // The caller's own arguments: no hint about the QEMU's age.
      expect((missing as Error).message).not.toContain('--oldest-schema');
    });

    it('a command 7.2 lacks fails with CommandNotFound', async () => {
      const err = await client.queryAudiodevs!().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpCommandError);
      expect((err as QmpCommandError).errorClass).toBe('CommandNotFound');
    });

    it('control: without the oldest release the same client rejects these 7.2 replies', async () => {
      let hinted = 0;
      for (const call of [
        () => unaware.queryBlockstats!(),
        () => unaware.queryMachines!(),
        () => unaware.queryStatus!(),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(isQapiValidationError(err)).toBe(true);
        // What 7.2 lacks reads as an older QEMU, and the error says what to do
        // (query-status fails on a member 7.2 has and the schema dropped: no hint).
        const lacks = (err as Error).message.includes('missing mandatory member');
        if (lacks) hinted++;
        expect((err as Error).message.includes('--oldest-schema FILE (library: oldestSchema)')).toBe(lacks);
      }
      expect(hinted).toBeGreaterThan(0);
    });
  },
);
