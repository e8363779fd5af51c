/**
 * `'gen': false` commands take more arguments than they declare (QEMU's
 * device_add takes the device's properties). Their arguments are open:
 * declared members checked as usual, any other member allowed. The
 * type-level side (the call compiles under strict) is in
 * versions-typecheck.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { loadValidators } from '../../src/backends/load.js';
import { sharedDir } from '../helpers/shared.js';
import { fakeExecutor, loadSnippet, outcome } from './helpers.js';

const corpus = sharedDir('corpus');

const SCHEMA = `
{ 'command': 'thing-add', 'data': { 'driver': 'str', '*id': 'str' }, 'gen': false }
{ 'struct': 'Opts', 'data': { 'name': 'str', '*size': 'int' } }
{ 'command': 'opts-add', 'data': 'Opts', 'gen': false }
{ 'command': 'opts-set', 'data': 'Opts' }
{ 'command': 'query-opts', 'returns': 'Opts' }
`;

describe("'gen': false arguments are open", () => {
  test('implicit arguments: an index signature and an open validator', async () => {
    const s = await loadSnippet(SCHEMA);
    expect(s.text).toMatch(
      /export interface ThingAddArguments \{\n {2}driver: string;\n {2}id\?: string;\n(?: {2}\/\*\*[^\n]*\*\/\n)? {2}\[argument: string\]: unknown;\n\}/,
    );
    const args = s.validators.validatorSet(true).commands['thing-add']!.args!;
    expect(outcome(args, { driver: 'virtio-blk-pci', id: 'd', drive: 'disk2', iothread: 'io1' })).toBe('ok');
    expect(outcome(args, { id: 'd', drive: 'disk2' })).toMatch(/^driver: /);
    expect(outcome(args, { driver: 5 })).toMatch(/^driver: /);
    const executor = fakeExecutor({ 'thing-add': {} });
    const client = s.client(executor, { strict: true }) as unknown as Record<string, (a: unknown) => Promise<unknown>>;
    await client.thingAdd!({ driver: 'x', iothread: 'io1' });
    expect(executor.calls).toEqual([{ command: 'thing-add', args: { driver: 'x', iothread: 'io1' } }]);
    await expect(client.thingAdd!({ iothread: 'io1' })).rejects.toThrow(/driver/);
  });

  test('a named argument type is open for that command only', async () => {
    const s = await loadSnippet(SCHEMA);
    const index = s.files.get('index.ts')!;
    expect(index).toContain(
      "'opts-add': { args: Opts & { [argument: string]: unknown }; returns: Record<string, never> };",
    );
    expect(index).toContain("'opts-set': { args: Opts; returns: Record<string, never> };");
    const set = s.validators.validatorSet(true);
    expect(outcome(set.commands['opts-add']!.args!, { name: 'n', extra: true })).toBe('ok');
    expect(outcome(set.commands['opts-add']!.args!, { extra: true })).toMatch(/^name: /);
    expect(outcome(set.commands['opts-set']!.args!, { name: 'n', extra: true })).toMatch(/Unrecognized key: "extra"/);
    expect(outcome(set.commands['query-opts']!.returns!, { name: 'n', extra: true })).toMatch(
      /Unrecognized key: "extra"/,
    );
    expect(outcome(s.strict.Opts!, { name: 'n', extra: true })).toMatch(/Unrecognized key: "extra"/);
  });
});

/** Root schemas of the corpus that have a `'gen': false` command, with those commands. */
function genFalseCommands(): [string, string[]][] {
  const out: [string, string[]][] = [];
  for (const version of ['qemu-7.2', 'qemu-10.0']) {
    for (const rel of ['qapi/qapi-schema.json', 'qga/qapi-schema.json', 'storage-daemon/qapi/qapi-schema.json']) {
      const path = join(corpus!, version, rel);
      const schema = parseSchema(path, { lenientDocs: true, onWarning: () => {} });
      const names = schema.entities.flatMap((e) => (e.meta === 'command' && !e.gen ? [e.name] : []));
      if (names.length > 0) out.push([path, names]);
    }
  }
  return out;
}

describe.skipIf(corpus === null)("every 'gen': false command of the corpus", () => {
  test('takes further arguments and still checks the declared ones', async () => {
    const found = genFalseCommands();
    // device_add, in 7.2's and in 10.0's system emulator schema.
    expect(found.map(([path, names]) => `${path.slice(corpus!.length + 1)}: ${names.join(' ')}`)).toEqual([
      'qemu-7.2/qapi/qapi-schema.json: device_add',
      'qemu-10.0/qapi/qapi-schema.json: device_add',
    ]);
    for (const [path, names] of found) {
      const loaded = await loadValidators(path);
      for (const name of names) {
        const args = loaded.validatorSet(true).commands[name]!.args!;
        const hotplug = { driver: 'virtio-blk-pci', id: 'vblk2', bus: 'rp1', drive: 'disk2', iothread: 'io1' };
        expect(outcome(args, hotplug), path).toBe('ok');
        expect(
          outcome(args, { ...hotplug, 'iothread-vq-mapping': [{ iothread: 'io1' }], 'free-page-hint': true }),
          path,
        ).toBe('ok');
        const { driver: _driver, ...noDriver } = hotplug;
        expect(outcome(args, noDriver), path).toMatch(/^driver: /);
        expect(outcome(args, { ...hotplug, bus: 1 }), path).toMatch(/^bus: /);
        const executor = fakeExecutor({ device_add: {} });
        const client = loaded.createClient(executor, { strict: true }) as unknown as Record<
          string,
          (a: unknown) => Promise<unknown>
        >;
        await expect(client.deviceAdd!(hotplug)).resolves.toEqual({});
        await expect(client.deviceAdd!(noDriver)).rejects.toThrow(/driver/);
        expect(executor.calls).toEqual([{ command: 'device_add', args: hotplug }]);
      }
    }
  });
});
