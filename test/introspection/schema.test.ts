/**
 * A schema from a query-qmp-schema reply (src/introspection/): the model
 * says again what the reply says, types get readable stable names, the
 * output is byte-identical for the same reply, device_add stays open,
 * malformed replies are typed errors; schema files with a reply; exec's
 * argument check on introspection data.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSchema, parseSchemaString } from '../../src/frontend/index.js';
import { generateIntrospection } from '../../src/backends/introspect.js';
import { generateFiles } from '../../src/backends/generate.js';
import { loadSchemaValidators, supportModuleUrl } from '../../src/backends/load.js';
import { IntrospectionError } from '../../src/runtime/errors.js';
import { IntrospectedSchema } from '../../src/runtime/introspection.js';
import { camelName, introspectionSchemaText, schemaFromIntrospection } from '../../src/introspection/schema.js';
import { compareSchemaWithIntrospection } from '../../src/introspection/combine.js';
import { checkCommandArguments } from '../../src/introspection/arguments.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';

const OURS = join(repoRoot, 'qapi/qapi-schema.json');

function replyOf(path: string): unknown[] {
  return generateIntrospection(parseSchema(path, { lenientDocs: true, onWarning: () => {} }));
}

/** Key-sorted JSON of each entry. */
function canonical(entries: readonly unknown[]): string[] {
  return entries.map((e) =>
    JSON.stringify(e, (_k, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
        : v,
    ),
  );
}

describe('a schema from introspection says again what the reply says', () => {
  const corpora = ['qemu-7.2', 'qemu-10.0', 'qemu-11.1'].map((r) => [r, sharedDir(`corpus/${r}`)] as const);
  for (const [release, dir] of corpora) {
    it.runIf(dir !== null)(
      `${release}: introspecting the model gives the reply back, entry for entry`,
      { timeout: 60_000 },
      async () => {
        const reply = replyOf(join(dir!, 'qapi/qapi-schema.json'));
        const model = await schemaFromIntrospection(reply);
        expect(canonical(generateIntrospection(model))).toEqual(canonical(reply));
        // No made-up name clashes with one the backends make (which would get a _2).
        const exported = [
          ...generateFiles(model)
            .get('qemu.ts')!
            .matchAll(/^export (?:interface|type) (\w+)/gm),
        ].map((m) => m[1]!);
        expect(exported.length).toBeGreaterThan(500);
        expect(exported.filter((n) => /_\d+$/.test(n))).toEqual([]);
      },
    );
  }

  it('our own schema too, and the same reply gives byte-identical files', async () => {
    const reply = replyOf(OURS);
    const a = await schemaFromIntrospection(reply);
    expect(canonical(generateIntrospection(a))).toEqual(canonical(reply));
    const again = await schemaFromIntrospection(structuredClone(reply));
    expect(generateFiles(again)).toEqual(generateFiles(a));
  });
});

describe('names', () => {
  it('are made from where a type is first used, never a number', () => {
    const { names, text } = introspectionSchemaText(replyOf(OURS));
    const all = [...names.values()];
    expect(all.every((n) => /^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/.test(n))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(
      expect.arrayContaining([
        'QueryIothreadsRetElement',
        'BlockdevAddArg',
        'BlockdevAddArgNullAio',
        'QueryVersionRet',
      ]),
    );
    expect(text).toContain("{ 'command': 'blockdev-add', 'data': 'BlockdevAddArg', 'boxed': true }");
  });

  it('are CamelCase whatever the QAPI name looks like', () => {
    expect(camelName('query-iothreads')).toBe('QueryIothreads');
    expect(camelName('BLOCK_JOB_COMPLETED')).toBe('BlockJobCompleted');
    expect(camelName('__com.redhat_drive-add')).toBe('ComRedhatDriveAdd');
    expect(camelName('x-debug')).toBe('XDebug');
    expect(camelName('0')).toBe('0');
  });

  it('clashes get a suffix; a name ending in List does not stay so', async () => {
    const reply = [
      { name: 'a-b', 'meta-type': 'command', 'arg-type': '1', 'ret-type': '0' },
      { name: 'a_b', 'meta-type': 'command', 'arg-type': '2', 'ret-type': '0' },
      { name: 'x', 'meta-type': 'command', 'arg-type': '3', 'ret-type': '0' },
      { name: '0', 'meta-type': 'object', members: [] },
      { name: '1', 'meta-type': 'object', members: [{ name: 'v', type: '4' }] },
      { name: '2', 'meta-type': 'object', members: [{ name: 'v', type: '4' }], features: ['f'] },
      { name: '3', 'meta-type': 'object', members: [{ name: 'the-list', type: '5' }] },
      { name: '4', 'meta-type': 'enum', members: [{ name: 'one' }], values: ['one'] },
      { name: '5', 'meta-type': 'enum', members: [{ name: 'one' }], values: ['one'] },
    ];
    const { names } = introspectionSchemaText(reply);
    // 1 and 3 are used by one command each: written inline, no name of their
    // own (their members' names still start with one).
    expect(Object.fromEntries(names)).toEqual({ '2': 'ABArg2', '4': 'ABArgV', '5': 'XArgTheListType' });
    expect(
      introspectionSchemaText([{ name: 'EV', 'meta-type': 'event', 'arg-type': '1' }, ...reply.slice(3)]).names.get(
        '4',
      ),
    ).toBe('EvDataV');
    await schemaFromIntrospection(reply); // and the frontend takes it
  });
});

describe("'gen': false commands stay open", () => {
  it('device_add takes members it does not declare; with openCommands [] it does not', async () => {
    const reply = replyOf(OURS);
    const args = { driver: 'virtio-blk-pci', id: 'v0', drive: 'disk0', iothread: 'io0' };
    const open = await loadSchemaValidators(await schemaFromIntrospection(reply));
    expect(open.validatorSet(true).commands['device_add']?.args?.safeParse(args).success).toBe(true);
    const closed = await loadSchemaValidators(await schemaFromIntrospection(reply, { openCommands: [] }));
    expect(closed.validatorSet(true).commands['device_add']?.args?.safeParse(args).success).toBe(false);
  });
});

describe('malformed replies are typed errors naming the place', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not a list', { return: [] }, /expected an array/],
    ['an element without meta-type', [{ name: 'x' }], /element 0 \('x'\): unknown meta-type/],
    [
      'a command without arg-type',
      [{ name: 'c', 'meta-type': 'command', 'ret-type': '0' }],
      /element 0 \('c'\): 'arg-type' is not a string/,
    ],
    [
      'an undefined type',
      [{ name: 'c', 'meta-type': 'command', 'arg-type': '9', 'ret-type': '9' }],
      /command 'c' uses type '9', which is not defined/,
    ],
    [
      'a name QAPI cannot have',
      [
        { name: "c'", 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' },
        { name: '0', 'meta-type': 'object', members: [] },
      ],
      /is not a QAPI name/,
    ],
    [
      'an array of arrays',
      [
        { name: 'c', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '[[int]]' },
        { name: '0', 'meta-type': 'object', members: [] },
        { name: '[[int]]', 'meta-type': 'array', 'element-type': '[int]' },
        { name: '[int]', 'meta-type': 'array', 'element-type': 'int' },
        { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
      ],
      /array of arrays/,
    ],
    [
      'a union whose tag is no member',
      [
        { name: 'e', 'meta-type': 'event', 'arg-type': '1' },
        { name: '1', 'meta-type': 'object', members: [], tag: 't', variants: [] },
      ],
      /tag 't' is not a member/,
    ],
  ];
  for (const [what, data, message] of cases) {
    it(what, () => {
      let error: unknown;
      try {
        introspectionSchemaText(data);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IntrospectionError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it("what breaks QAPI rules is the frontend's located error, naming the definition", async () => {
    // An event name in lower case.
    await expect(
      schemaFromIntrospection([
        { name: 'ev', 'meta-type': 'event', 'arg-type': '0' },
        { name: '0', 'meta-type': 'object', members: [] },
      ]),
    ).rejects.toThrow(/In event 'ev':[^]*must not use lowercase/);
  });

  it('a long chain of types is bounded work', { timeout: 10_000 }, async () => {
    const n = 20_000;
    const reply: unknown[] = [{ name: 'c', 'meta-type': 'command', 'arg-type': 't0', 'ret-type': 't0' }];
    for (let i = 0; i < n; i++)
      reply.push({
        name: `t${i}`,
        'meta-type': 'object',
        members: i + 1 < n ? [{ name: 'next', type: `t${i + 1}`, default: null }] : [],
      });
    const { names } = introspectionSchemaText(reply);
    expect(names.size).toBe(n);
    expect(Math.max(...[...names.values()].map((name) => name.length))).toBeLessThanOrEqual(90);
  });
});

describe('schema files with a reply', () => {
  it('a reply of the same schema: no disagreement, the defined symbols found', () => {
    const schema = parseSchemaString(
      "{ 'command': 'a' }\n{ 'command': 'b', 'if': 'CONFIG_B' }\n{ 'command': 'c', 'if': 'CONFIG_C' }\n",
      'x.json',
    );
    const reply = generateIntrospection(schema, { defines: ['CONFIG_B'] });
    expect(compareSchemaWithIntrospection(schema, reply)).toEqual({ defines: ['CONFIG_B'], disagreements: [] });
  });

  it.runIf(sharedDir('corpus/qemu-7.2') !== null)('files of another release: the differences are told', () => {
    const old = parseSchema(join(sharedDir('corpus/qemu-7.2')!, 'qapi/qapi-schema.json'), {
      lenientDocs: true,
      onWarning: () => {},
    });
    const { disagreements } = compareSchemaWithIntrospection(
      old,
      replyOf(join(sharedDir('corpus/qemu-11.1')!, 'qapi/qapi-schema.json')),
    );
    expect(disagreements.join('\n')).toMatch(
      /the QEMU has commands the schema lacks \(not generated\): .*qom-list-get/,
    );
  });
});

describe("exec's check of arguments against the server's schema", () => {
  const schema = new IntrospectedSchema(replyOf(OURS));
  const check = (command: string, args?: Record<string, unknown>): string | undefined =>
    checkCommandArguments(schema, command, args);

  it('accepts what the schema accepts', () => {
    expect(check('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1024 })).toBeUndefined();
    expect(check('query-iothreads')).toBeUndefined();
    expect(check('device_add', { driver: 'virtio-blk-pci', drive: 'd', iothread: 'io0' })).toBeUndefined();
    expect(check('no-such-command', { anything: 1 })).toBeUndefined();
  });

  it('a hostile schema (alternates of alternates, a chain of unions) is bounded work', { timeout: 10_000 }, () => {
    const n = 60;
    const alts: unknown[] = [
      { name: 'c', 'meta-type': 'command', 'arg-type': 'o', 'ret-type': 'o' },
      { name: 'o', 'meta-type': 'object', members: [{ name: 'v', type: 'a0' }] },
    ];
    for (let i = 0; i < n; i++)
      alts.push({
        name: `a${i}`,
        'meta-type': 'alternate',
        members: [{ type: i + 1 < n ? `a${i + 1}` : 'int' }, { type: i + 1 < n ? `a${i + 1}` : 'int' }],
      });
    alts.push({ name: 'int', 'meta-type': 'builtin', 'json-type': 'int' });
    expect(() => checkCommandArguments(new IntrospectedSchema(alts), 'c', { v: 'x' })).toThrow(IntrospectionError);
    const unions: unknown[] = [
      { name: 'c', 'meta-type': 'command', 'arg-type': 'u', 'ret-type': 'u' },
      { name: 's', 'meta-type': 'builtin', 'json-type': 'string' },
    ];
    unions.push({
      name: 'u',
      'meta-type': 'object',
      members: [{ name: 't', type: 'e' }],
      tag: 't',
      variants: [{ case: 'x', type: 'u' }],
    });
    unions.push({ name: 'e', 'meta-type': 'enum', values: ['x'] });
    // A union that is its own branch: an answer, not a loop.
    expect(checkCommandArguments(new IntrospectedSchema(unions), 'c', { t: 'x' })).toBe('t: missing mandatory member');
  });

  it('refuses what it does not, naming the member', () => {
    expect(check('blockdev-add', { driver: 'null-co', 'node-name': 'n0', sise: 1024 })).toBe("unknown member 'sise'");
    expect(check('blockdev-add', { driver: 'no-such-driver' })).toMatch(/^driver: 'no-such-driver' is not one of/);
    expect(check('blockdev-del', {})).toBe('node-name: missing mandatory member');
    expect(check('blockdev-del', { 'node-name': 3 })).toBe('node-name: expected a string, got 3');
    expect(check('query-iothreads', { x: 1 })).toBe("unknown member 'x'");
    expect(check('device_add', { id: 'v0' })).toBe('driver: missing mandatory member');
  });
});

it('support import: generated code from a reply loads with our support library', async () => {
  const files = generateFiles(await schemaFromIntrospection(replyOf(OURS)), { supportImport: supportModuleUrl() });
  expect([...files.keys()].sort()).toEqual(['builtin.ts', 'index.ts', 'qemu.ts']);
});
