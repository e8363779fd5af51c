/**
 * The generated client layer: method naming, argument and reply checks,
 * compatible vs strict mode, events; and code split over modules that
 * include each other.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseSchema, parseSchemaString } from '../../src/frontend/index.js';
import { generateIntrospection } from '../../src/backends/introspect.js';
import { generateFiles } from '../../src/backends/generate.js';
import { importGenerated, supportModuleUrl } from '../../src/backends/load.js';
import { camelCase, NameTable, pascalCase, propertyKey, safeIdentifier } from '../../src/backends/names.js';
import { QapiValidationError } from '../../src/support/errors.js';
import type { Schema } from '../../src/support/kit.js';
import { fakeExecutor, generateSnippet, loadSnippet, outcome } from './helpers.js';

const schema = `
{ 'pragma': { 'command-name-exceptions': [ 'qmp_capabilities' ] } }
{ 'enum': 'HolderType', 'data': [ 'qom', 'block-node' ] }
{ 'struct': 'Qom', 'data': { 'path': 'str' } }
{ 'union': 'Holder', 'base': { 'type': 'HolderType' }, 'discriminator': 'type',
  'data': { 'qom': 'Qom' } }
{ 'struct': 'Info', 'data': { 'id': 'str', 'thread-id': 'int', '*holders': [ 'Holder' ] } }
{ 'command': 'query-infos', 'returns': [ 'Info' ] }
{ 'command': 'qmp_capabilities', 'data': { '*enable': [ 'str' ] } }
{ 'command': 'set-thing', 'data': { 'id': 'str', 'value': 'uint8' } }
{ 'command': 'boxed-thing', 'data': 'Info', 'boxed': true }
{ 'command': 'execute', 'data': { 'what': 'str' } }
{ 'event': 'THING_CHANGED', 'data': { 'id': 'str', 'holder': 'Holder' } }
{ 'event': 'STOP' }`;

describe('names', () => {
  test('case conversion and escaping', () => {
    expect(camelCase('query-iothreads')).toBe('queryIothreads');
    expect(camelCase('qmp_capabilities')).toBe('qmpCapabilities');
    expect(camelCase('__com.redhat_drive-add')).toBe('__comRedhatDriveAdd');
    expect(pascalCase('BLOCK_JOB_READY')).toBe('BlockJobReady');
    expect(pascalCase('query-iothreads')).toBe('QueryIothreads');
    expect(safeIdentifier('Object')).toBe('Object_');
    expect(safeIdentifier('__org.qemu_x-Foo')).toBe('__org_qemu_x_Foo');
    expect(propertyKey('thread-id')).toBe("'thread-id'");
    expect(propertyKey('id')).toBe('id');
    const table = new NameTable(['execute']);
    expect([table.claim('execute'), table.claim('queryFoo'), table.claim('queryFoo')]).toEqual([
      'execute_2',
      'queryFoo',
      'queryFoo_2',
    ]);
  });

  test('method per command; clashes with client members get a suffix', () => {
    const index = generateSnippet(schema).get('index.ts')!;
    expect(index).toContain(
      '  queryInfos(options?: ExecuteOptions): Promise<Info[]> {\n' +
        "    return this.execute('query-infos', undefined, options);\n  }",
    );
    expect(index).toContain(
      '  qmpCapabilities(args?: QmpCapabilitiesArguments, options?: ExecuteOptions): Promise<Record<string, never>> {',
    );
    expect(index).toContain(
      '  setThing(args: SetThingArguments, options?: ExecuteOptions): Promise<Record<string, never>> {',
    );
    expect(index).toContain('  boxedThing(args: Info, options?: ExecuteOptions)');
    expect(index).toContain('  execute_2(args: ExecuteArguments, options?: ExecuteOptions)');
    expect(index).toContain("  'query-infos': { args: undefined; returns: Info[] };");
    expect(index).toContain(
      "  'qmp_capabilities': { args: QmpCapabilitiesArguments | undefined; returns: Record<string, never> };",
    );
    expect(index).toContain("  'boxed-thing': { args: Info; returns: Record<string, never> };");
    expect(index).toContain("  'THING_CHANGED': ThingChangedData;\n");
    expect(index).toContain("  'STOP': undefined;\n");
  });

  test("supports(query) probes the server's query-qmp-schema; a command named supports becomes supports_2", async () => {
    const text = `{ 'struct': 'Info', 'data': { 'id': 'str', '*holders': [ 'str' ] } }
{ 'command': 'query-infos', 'returns': [ 'Info' ] }
{ 'command': 'supports', 'data': { 'what': 'str' } }`;
    const s = await loadSnippet(text);
    expect(s.files.get('index.ts')).toContain('  supports_2(args: SupportsArguments, options?: ExecuteOptions)');
    const introspection = generateIntrospection(parseSchemaString(text, 'test.json'));
    const executor = fakeExecutor({ 'query-qmp-schema': introspection });
    const client = s.client(executor);
    expect(await client.supports('query-infos/ret-type/*holders')).toBe(true);
    expect(await client.supports('query-infos/ret-type/*id')).toBe(false);
    expect(await client.supports('supports/arg-type/what/!string')).toBe(true);
    expect(executor.calls.map((c) => c.command)).toEqual(['query-qmp-schema']);
  });

  test('QAPI types named like what generated code imports or declares are renamed', async () => {
    const s = await loadSnippet(`{ 'struct': 'ExecuteOptions', 'data': { 'a': 'str' } }
{ 'enum': 'UnknownValue', 'data': [ 'x' ] }
{ 'struct': 'CommandMap', 'data': { 'val': 'UnknownValue' } }
{ 'command': 'do-it', 'data': 'ExecuteOptions', 'returns': 'CommandMap' }`);
    expect(s.text).toContain('export interface ExecuteOptions_2 {');
    expect(s.text).toContain('export type UnknownValue_2 =');
    expect(s.text).toContain('export interface CommandMap_2 {\n  val: UnknownValue_2;\n}');
    expect(s.files.get('index.ts')).toContain(
      '  doIt(args: ExecuteOptions_2, options?: ExecuteOptions): Promise<CommandMap_2> {',
    );
    expect(outcome(s.strict.CommandMap!, { val: 'x' })).toBe('ok');
  });
});

describe('typed client', () => {
  const info = { id: 'io0', 'thread-id': 4242, holders: [{ type: 'qom', path: '/machine/x' }] };

  test('commands: reply checked and returned, arguments sent as given', async () => {
    const s = await loadSnippet(schema);
    const exec = fakeExecutor({ 'query-infos': [info], 'set-thing': {}, qmp_capabilities: {} });
    const client = s.client(exec);
    expect(await (client.queryInfos as () => Promise<unknown>)()).toEqual([info]);
    await (client.setThing as (a: unknown) => Promise<unknown>)({ id: 'a', value: 7 });
    await (client.qmpCapabilities as () => Promise<unknown>)();
    await client.execute('qmp_capabilities', { enable: ['oob'] });
    expect(exec.calls).toEqual([
      { command: 'query-infos', args: undefined },
      { command: 'set-thing', args: { id: 'a', value: 7 } },
      { command: 'qmp_capabilities', args: undefined },
      { command: 'qmp_capabilities', args: { enable: ['oob'] } },
    ]);
  });

  test('arguments are always checked strictly, before anything is sent', async () => {
    const s = await loadSnippet(schema);
    const exec = fakeExecutor({ 'set-thing': {} });
    const client = s.client(exec, { strict: false });
    await expect(client.execute('set-thing', { id: 'a', value: 300 })).rejects.toThrow(
      "invalid arguments of 'set-thing': value: uint8 out of range (maximum 255)",
    );
    await expect(client.execute('set-thing', { id: 'a', value: 1, extra: true })).rejects.toThrow(
      "invalid arguments of 'set-thing': extra: unknown member",
    );
    await expect(client.execute('query-infos', { x: 1 })).rejects.toThrow(
      "invalid arguments of 'query-infos': command takes no arguments, got 'x'",
    );
    const err = await client.execute('set-thing', { value: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QapiValidationError);
    expect((err as QapiValidationError).problems[0]?.path).toBe('id');
    expect(exec.calls).toEqual([]);
  });

  test('replies: compatible by default, strict on request, unchecked with validate: false', async () => {
    const s = await loadSnippet(schema);
    const newer = [
      {
        ...info,
        'new-member': 1,
        holders: [
          { type: 'iothread-vq', vq: 3 },
          { type: 'qom', path: '/p', extra: 1 },
        ],
      },
    ];
    const exec = fakeExecutor({ 'query-infos': newer });
    expect(await s.client(exec).execute('query-infos')).toEqual(newer);
    await expect(s.client(exec, { strict: true }).execute('query-infos')).rejects.toThrow(
      `invalid reply to 'query-infos': [0].holders[0].type: unexpected string "iothread-vq"; expected one of "qom", ` +
        '"block-node"; [0].holders[1].extra: unknown member; [0].new-member: unknown member (if the QEMU is older ' +
        'than the schema, generate with --oldest-schema FILE (library: oldestSchema) so its messages are accepted)',
    );
    const broken = fakeExecutor({ 'query-infos': [{ id: 5 }] });
    await expect(s.client(broken).execute('query-infos')).rejects.toThrow(/\[0\]\.id: /);
    expect(await s.client(broken, { validate: false }).execute('query-infos')).toEqual([{ id: 5 }]);
    expect(await s.client(broken, { validate: false }).execute('set-thing', { nonsense: true })).toBeUndefined();
  });

  test('events: data checked; unknown events passed unless strict', async () => {
    const s = await loadSnippet(schema);
    const events = [
      { event: 'STOP' },
      { event: 'THING_CHANGED', data: { id: 'a', holder: { type: 'qom', path: '/q' } } },
      { event: 'SOMETHING_NEW', data: { x: 1 } },
    ];
    const seen: string[] = [];
    for await (const e of s.client(fakeExecutor({}, events)).events()) seen.push(String(e.event));
    expect(seen).toEqual(['STOP', 'THING_CHANGED', 'SOMETHING_NEW']);
    const only: unknown[] = [];
    const filtered = s.client(fakeExecutor({}, events)) as unknown as {
      events(names: string[]): AsyncIterable<unknown>;
    };
    for await (const e of filtered.events(['THING_CHANGED'])) only.push(e);
    expect(only).toHaveLength(1);
    const strict = s.client(fakeExecutor({}, events), { strict: true }).events();
    await expect(collect(strict)).rejects.toThrow("invalid event 'SOMETHING_NEW': event not in the schema");
    const bad = s.client(fakeExecutor({}, [{ event: 'THING_CHANGED', data: { id: 1 } }])).events();
    await expect(collect(bad)).rejects.toThrow(/invalid event 'THING_CHANGED': id: /);
  });

  test('commands / events maps of the generated index', async () => {
    const s = await loadSnippet(schema);
    const set = s.validators.validatorSet(false);
    expect(Object.keys(set.commands)).toEqual([
      'query-infos',
      'qmp_capabilities',
      'set-thing',
      'boxed-thing',
      'execute',
    ]);
    expect(set.commands['query-infos']!.args).toBeNull();
    expect(outcome(set.commands['set-thing']!.args!, { id: 'x', value: 1 })).toBe('ok');
    expect(outcome(set.commands['boxed-thing']!.args!, info)).toBe('ok');
    expect(outcome(set.events.THING_CHANGED!, { id: 'x', holder: { type: 'qom', path: '' } })).toBe('ok');
    expect(set.events.STOP).toBeNull();
  });
});

async function collect(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

describe('modules', () => {
  test('one file per module; types referring to each other across modules in both directions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qapi-ts-modules-'));
    try {
      await writeFile(join(dir, 'main.json'), "{ 'include': 'a.json' }\n{ 'include': 'b.json' }\n");
      await writeFile(
        join(dir, 'a.json'),
        "{ 'struct': 'Outer', 'data': { 'inner': 'Inner', '*depth': 'int' } }\n" +
          "{ 'command': 'get-outer', 'returns': 'Outer' }\n",
      );
      await writeFile(join(dir, 'b.json'), "{ 'struct': 'Inner', 'data': { '*back': 'Outer', 'name': 'str' } }\n");
      const model = parseSchema(join(dir, 'main.json'));
      const files = generateFiles(model, { supportImport: supportModuleUrl() });
      expect([...files.keys()].sort()).toEqual(['a.ts', 'b.ts', 'builtin.ts', 'index.ts', 'main.ts']);
      expect(files.get('a.ts')).toContain("import type { Inner } from './b.js';");
      expect(files.get('b.ts')).toContain("import type { Outer } from './a.js';");
      const index = await importGenerated(files);
      const strict = index.strictValidators as Record<string, Schema>;
      expect(outcome(strict.Outer!, { inner: { name: 'x', back: { inner: { name: 'y' } } } })).toBe('ok');
      expect(outcome(strict.Outer!, { inner: { name: 'x', back: { inner: { name: 2 } } } })).toMatch(
        /^inner\.back\.inner\.name: /,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('plain JavaScript output (language: js)', () => {
  test('no types (they are in the .d.ts beside); validators and client behave as the TypeScript output', async () => {
    const files = generateSnippet(schema, { language: 'js' });
    expect([...files.keys()].sort()).toEqual([
      'builtin.d.ts',
      'builtin.js',
      'index.d.ts',
      'index.js',
      'test.d.ts',
      'test.js',
    ]);
    const test = files.get('test.js')!;
    expect(test).toContain("export const HolderTypeValues = ['qom', 'block-node'];");
    expect(test).toContain('export function defineTestValidators(r, v) {');
    expect(test).not.toMatch(/\binterface\b|^export type|import type/m);
    expect(files.get('test.d.ts')).toContain("export declare const HolderTypeValues: readonly ['qom', 'block-node'];");
    const index = files.get('index.js')!;
    expect(index).toContain('  setThing(args, options) {');
    expect(index).toContain('  queryInfos(options) {');
    expect(index).not.toMatch(/\binterface\b|: Promise<|import type/);
    const loaded = await importGenerated(files);
    const strict = loaded.strictValidators as Record<string, Schema>;
    expect(outcome(strict.Holder!, { type: 'qom', path: '/x' })).toBe('ok');
    expect(outcome(strict.Holder!, { type: 'other' })).toMatch(/^type: /);
    const Client = loaded.QapiClient as new (e: ReturnType<typeof fakeExecutor>) => {
      setThing(a: unknown): Promise<unknown>;
    };
    const exec = fakeExecutor({ 'set-thing': {} });
    await expect(new Client(exec).setThing({ id: 'a', value: 256 })).rejects.toThrow(/uint8 out of range/);
    expect(await new Client(exec).setThing({ id: 'a', value: 1 })).toEqual({});
  });
});
