/**
 * The type-level side of gen: false and the oldest release, checked by the
 * TypeScript compiler under the strictest options (one program):
 *  - QEMU 7.2's generated client, and QEMU 10.0's and 11.1's generated
 *    with 7.2 as the oldest release, compile;
 *  - the hot-plug call of the issue compiles on both, a missing or
 *    mistyped `driver` does not;
 *  - with 7.2 as the oldest release, members 7.2 lacks are optional and
 *    members both have are not; 7.2's query-sev layout is a SevInfo.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { generateFiles, writeGenerated } from '../../src/backends/generate.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { strictDiagnostics } from '../helpers/tsc.js';

const corpus = sharedDir('corpus');
const EXECUTOR = join(repoRoot, 'src/runtime/executor.js');

const HOTPLUG = `
import { QapiClient } from './index.js';
import type { QmpExecutor } from '${EXECUTOR}';

export async function hotplug(executor: QmpExecutor): Promise<void> {
  const client = new QapiClient(executor, { strict: true });
  await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp1', drive: 'disk2', iothread: 'io1' });
  await client.deviceAdd({
    driver: 'virtio-balloon-pci',
    'free-page-hint': true,
    'iothread-vq-mapping': [{ iothread: 'io1' }],
  });
  // @ts-expect-error driver is mandatory
  await client.deviceAdd({ id: 'vblk2', drive: 'disk2' });
  // @ts-expect-error driver is a string
  await client.deviceAdd({ driver: 1, drive: 'disk2' });
  // @ts-expect-error bus is a string
  await client.deviceAdd({ driver: 'virtio-blk-pci', bus: 1 });
}
`;

const OLDEST = `
import type { BlockDeviceStats, SevInfo, MachineInfo } from './index.js';
import { QapiClient } from './index.js';
import type { QmpExecutor } from '${EXECUTOR}';

type IsOptional<T, K extends keyof T> = {} extends Pick<T, K> ? true : false;
export const zoneAppend: IsOptional<BlockDeviceStats, 'zone_append_operations'> = true;
export const acpi: IsOptional<MachineInfo, 'acpi'> = true;
// @ts-expect-error both releases have rd_operations: still mandatory
export const reads: IsOptional<BlockDeviceStats, 'rd_operations'> = true;

/** 7.2 sends no sev-type, and policy and handle beside the base members. */
export function policy(info: SevInfo): number | undefined {
  if (info['sev-type'] === undefined) return info.policy + info.handle;
  if (info['sev-type'] === 'sev') return info.policy;
  return undefined;
}
export const fromQemu72: SevInfo = {
  enabled: false,
  'api-major': 0,
  'api-minor': 0,
  'build-id': 0,
  state: 'uninit',
  policy: 0,
  handle: 0,
};

export async function newer(executor: QmpExecutor): Promise<void> {
  const client = new QapiClient(executor);
  // Not in 7.2, still callable (CommandNotFound there).
  await client.queryAudiodevs();
}
`;

/** QEMU 11.1's poll-weight, which 7.2 lacks: optional with 7.2 as the oldest release; thread-id stays mandatory. */
const POLL_WEIGHT = `
import type { IOThreadInfo } from './index.js';

type IsOptional<T, K extends keyof T> = {} extends Pick<T, K> ? true : false;
export const pollWeight: IsOptional<IOThreadInfo, 'poll-weight'> = true;
// @ts-expect-error both releases have thread-id: still mandatory
export const threadId: IsOptional<IOThreadInfo, 'thread-id'> = true;
export const fromQemu72: IOThreadInfo = {
  id: 'io0',
  'thread-id': 1,
  'poll-max-ns': 32768,
  'poll-grow': 0,
  'poll-shrink': 0,
  'aio-max-batch': 0,
};
`;

describe.skipIf(corpus === null)('gen: false and the oldest release, type-checked (tsc --strict)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('QEMU 7.2, and QEMU 10.0 and 11.1 with 7.2 as the oldest release', { timeout: 120_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'qapi-ts-versions-'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    const support = join(repoRoot, 'src/support/index.js');
    const read = (v: string): ReturnType<typeof parseSchema> =>
      parseSchema(join(corpus!, `qemu-${v}/qapi/qapi-schema.json`), { lenientDocs: true, onWarning: () => {} });
    const old = read('7.2');
    const outputs: [string, Map<string, string>, string[]][] = [
      ['qemu72', generateFiles(old, { supportImport: support }), [HOTPLUG]],
      [
        'qemu10',
        generateFiles(read('10.0'), { supportImport: support, oldestSchema: old, oldestLabel: 'QEMU 7.2' }),
        [HOTPLUG, OLDEST],
      ],
      [
        'qemu111',
        generateFiles(read('11.1'), { supportImport: support, oldestSchema: old, oldestLabel: 'QEMU 7.2' }),
        [HOTPLUG, OLDEST, POLL_WEIGHT],
      ],
    ];
    const rootFiles: string[] = [];
    for (const [name, files, usages] of outputs) {
      const out = join(dir, name);
      await writeGenerated(out, files);
      rootFiles.push(join(out, 'index.ts'));
      for (const [i, usage] of usages.entries()) {
        await writeFile(join(out, `usage${i}.ts`), usage);
        rootFiles.push(join(out, `usage${i}.ts`));
      }
    }
    expect(strictDiagnostics(rootFiles).slice(0, 20)).toEqual([]);
    expect(outputs[1]![1].get('index.ts')).toContain(
      '   * Not in QEMU 7.2, the oldest supported release: the call fails with CommandNotFound there.\n',
    );
  });
});
