/**
 * The introspection backend: QEMU's query-qmp-schema format on a small
 * schema (numbering, integer folding, empty types, optional members,
 * features, conditions), inferring defined symbols back from a reply, and
 * QEMU 10.0's schema answering the probe table offline.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIntrospection, inferDefines } from '../../src/backends/introspect.js';
import { parseSchema, parseSchemaString } from '../../src/frontend/index.js';
import { IntrospectedSchema, type SchemaInfo } from '../../src/runtime/index.js';
import { PROBE_CASES } from '../helpers/probe-cases.js';
import { sharedDir } from '../helpers/shared.js';

const SCHEMA = `
{ 'enum': 'Color',
  'data': [ 'red', { 'name': 'blue', 'if': 'CONFIG_BLUE' }, { 'name': 'green', 'features': [ 'unstable' ] } ] }
{ 'struct': 'Base', 'data': { 'kind': 'Color' } }
{ 'union': 'TheUnion', 'base': 'Base', 'discriminator': 'kind', 'data': { 'red': 'Thing' } }
{ 'struct': 'Thing',
  'data': { 'n': 'uint8', '*list': [ 'int16' ], '*s': 'str',
            'c': { 'type': 'str', 'if': 'CONFIG_C' },
            'f': { 'type': 'bool', 'features': [ 'deprecated' ] } },
  'features': [ { 'name': 'fx', 'if': 'CONFIG_FX' } ] }
{ 'alternate': 'Alt', 'data': { 'a': 'Thing', 'b': 'str' } }
{ 'struct': 'Unreached', 'data': { 'any': 'any', 'sizes': [ 'size' ] } }
{ 'struct': 'Never', 'data': { 'x': 'number' } }
{ 'command': 'cmd-a', 'data': { 'un': 'TheUnion', 'alt': 'Alt' }, 'returns': [ 'Thing' ], 'allow-oob': true }
{ 'command': 'cmd-b', 'if': 'CONFIG_B', 'data': 'Unreached', 'features': [ 'unstable' ] }
{ 'event': 'EV', 'data': 'Thing', 'boxed': true }
{ 'event': 'EV2', 'if': { 'not': 'CONFIG_B' } }
`;

const schema = parseSchemaString(SCHEMA, 'test.json');

/** What QEMU's generator makes of SCHEMA, every condition holding. */
const EXPECTED: SchemaInfo[] = [
  // Commands and events first, in schema order; types numbered on first use.
  { name: 'cmd-a', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '[1]', 'allow-oob': true },
  { name: 'cmd-b', 'meta-type': 'command', 'arg-type': '2', 'ret-type': '3', features: ['unstable'] },
  { name: 'EV', 'meta-type': 'event', 'arg-type': '1' },
  { name: 'EV2', 'meta-type': 'event', 'arg-type': '3' },
  // Then the types, in the order they were first used.
  {
    name: '0',
    'meta-type': 'object',
    members: [
      { name: 'un', type: '4' },
      { name: 'alt', type: '5' },
    ],
  },
  { name: '[1]', 'meta-type': 'array', 'element-type': '1' },
  {
    name: '1',
    'meta-type': 'object',
    members: [
      { name: 'n', type: 'int' },
      { name: 'list', type: '[int]', default: null },
      { name: 's', type: 'str', default: null },
      { name: 'c', type: 'str' },
      { name: 'f', type: 'bool', features: ['deprecated'] },
    ],
    features: ['fx'],
  },
  {
    name: '2',
    'meta-type': 'object',
    members: [
      { name: 'any', type: 'any' },
      { name: 'sizes', type: '[int]' },
    ],
  },
  { name: '3', 'meta-type': 'object', members: [] },
  {
    name: '4',
    'meta-type': 'object',
    members: [{ name: 'kind', type: '6' }],
    tag: 'kind',
    variants: [
      { case: 'red', type: '1' },
      { case: 'blue', type: '3' },
      { case: 'green', type: '3' },
    ],
  },
  { name: '5', 'meta-type': 'alternate', members: [{ type: '1' }, { type: 'str' }] },
  { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
  { name: '[int]', 'meta-type': 'array', 'element-type': 'int' },
  { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
  { name: 'bool', 'meta-type': 'builtin', 'json-type': 'boolean' },
  { name: 'any', 'meta-type': 'builtin', 'json-type': 'value' },
  {
    name: '6',
    'meta-type': 'enum',
    members: [{ name: 'red' }, { name: 'blue' }, { name: 'green', features: ['unstable'] }],
    values: ['red', 'blue', 'green'],
  },
];

describe('generateIntrospection', () => {
  it("produces QEMU's query-qmp-schema: order, masked names, int folding, q_empty, defaults, features", () => {
    expect(generateIntrospection(schema)).toStrictEqual(EXPECTED);
  });

  it('leaves out what is false under `defines`, and nothing else', () => {
    const out = generateIntrospection(schema, { defines: ['CONFIG_FX'] });
    const names = out.map((e) => e.name);
    // cmd-b is compiled out, but its (unconditional) argument type stays, still numbered 2.
    expect(names).toEqual([
      'cmd-a',
      'EV',
      'EV2',
      '0',
      '[1]',
      '1',
      '2',
      '3',
      '4',
      '5',
      'int',
      '[int]',
      'str',
      'bool',
      'any',
      '6',
    ]);
    const thing = out.find((e) => e.name === '1') as Extract<SchemaInfo, { 'meta-type': 'object' }>;
    expect(thing.members.map((m) => m.name)).toEqual(['n', 'list', 's', 'f']);
    expect(thing.features).toEqual(['fx']);
    const union = out.find((e) => e.name === '4') as Extract<SchemaInfo, { 'meta-type': 'object' }>;
    expect(union.variants).toEqual([
      { case: 'red', type: '1' },
      { case: 'green', type: '3' },
    ]);
    expect(out.find((e) => e.name === '6')).toStrictEqual({
      name: '6',
      'meta-type': 'enum',
      members: [{ name: 'red' }, { name: 'green', features: ['unstable'] }],
      values: ['red', 'green'],
    });
  });

  it('keeps a features list emptied by conditions, as QEMU does', () => {
    const out = generateIntrospection(schema, { defines: ['CONFIG_B'] });
    expect(out.find((e) => e.name === '1')?.features).toEqual([]);
    expect(out.map((e) => e.name)).toContain('cmd-b');
    expect(out.map((e) => e.name)).not.toContain('EV2');
  });

  it('keeps type names with unmask', () => {
    const out = generateIntrospection(schema, { unmask: true });
    expect(out.slice(0, 6).map((e) => e.name)).toEqual(['cmd-a', 'cmd-b', 'EV', 'EV2', 'q_obj_cmd-a-arg', '[Thing]']);
    expect(out[0]).toStrictEqual({
      name: 'cmd-a',
      'meta-type': 'command',
      'arg-type': 'q_obj_cmd-a-arg',
      'ret-type': '[Thing]',
      'allow-oob': true,
    });
    expect(out.at(-1)?.name).toBe('Color');
  });

  it('answers probes on its own output', () => {
    const s = new IntrospectedSchema(generateIntrospection(schema));
    expect(s.probe('cmd-a/arg-type/un/+red/*list/!int')).toBe(true);
    expect(s.probe('cmd-a/arg-type/alt/f')).toBe(true);
    expect(s.probe('cmd-a/arg-type/un/kind/^green/$unstable')).toBe(true);
    expect(s.probe('EV/arg-type/$fx')).toBe(true);
    expect(s.probe('cmd-a/ret-type/*n')).toBe(false);
  });
});

describe('inferDefines', () => {
  it('recovers the symbols a reply was built with', () => {
    const reply = JSON.parse(JSON.stringify(generateIntrospection(schema, { defines: ['CONFIG_FX'] })));
    expect(inferDefines(schema, reply)).toEqual({
      defines: ['CONFIG_FX'],
      undefined: ['CONFIG_B', 'CONFIG_BLUE', 'CONFIG_C'],
      contradictions: [],
    });
  });

  it('works through all/any/not', () => {
    const s = parseSchemaString(`
{ 'enum': 'Letters',
  'data': [ 'a', { 'name': 'b', 'if': { 'all': [ 'X', 'Y' ] } }, { 'name': 'c', 'if': { 'any': [ 'P', 'Q' ] } },
            { 'name': 'd', 'if': { 'any': [ 'X', 'R' ] } }, { 'name': 'e', 'if': { 'all': [ 'X', { 'not': 'S' } ] } },
            { 'name': 'f', 'if': { 'any': [ 'P', 'T' ] } }, { 'name': 'g', 'if': { 'all': [ 'Y', 'U' ] } } ] }
{ 'command': 'cmd', 'data': { 'e': 'Letters' } }`);
    const reply = generateIntrospection(s, { defines: ['X', 'Y', 'T'] });
    // b: X and Y; c: neither P nor Q; d: nothing new about R; e: not S;
    // f: P is out, so T; g: Y is in, so not U.
    expect(inferDefines(s, reply)).toEqual({
      defines: ['T', 'X', 'Y'],
      undefined: ['P', 'Q', 'S', 'U'],
      contradictions: [],
    });
  });

  it('reports a reply no set of symbols explains', () => {
    const reply = generateIntrospection(schema);
    // Both cmd-b (CONFIG_B) and EV2 (not CONFIG_B) are there.
    expect(inferDefines(schema, reply).contradictions).toEqual([JSON.stringify({ not: 'CONFIG_B' })]);
  });
});

const corpus = sharedDir('corpus');

describe.runIf(corpus !== null)("QEMU's schemas", () => {
  const load = (rel: string) => parseSchema(join(corpus ?? '', rel), { lenientDocs: true, onWarning: () => {} });

  it.each([
    'qemu-7.2/qapi/qapi-schema.json',
    'qemu-7.2/storage-daemon/qapi/qapi-schema.json',
    'qemu-10.0/qapi/qapi-schema.json',
    'qemu-10.0/storage-daemon/qapi/qapi-schema.json',
  ])('%s: every name used is listed once, every type listed is used', (rel) => {
    const out = generateIntrospection(load(rel));
    const names = out.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    const used = new Set<string>();
    for (const e of out) {
      if (e['meta-type'] === 'command') used.add(e['arg-type']).add(e['ret-type']);
      if (e['meta-type'] === 'event') used.add(e['arg-type']);
      if (e['meta-type'] === 'array') used.add(e['element-type']);
      if (e['meta-type'] === 'object') {
        for (const m of e.members) used.add(m.type);
        for (const v of e.variants ?? []) used.add(v.type);
      }
      if (e['meta-type'] === 'alternate') for (const m of e.members) used.add(m.type);
    }
    const types = names.filter((n, i) => out[i]?.['meta-type'] !== 'command' && out[i]?.['meta-type'] !== 'event');
    expect([...used].filter((n) => !names.includes(n))).toEqual([]);
    expect(types.filter((n) => !used.has(n))).toEqual([]);
    // Masked names are 0, 1, 2… in order of first appearance.
    const masked = types.filter((n) => /^\d+$/.test(n)).map(Number);
    expect([...masked].sort((a, b) => a - b)).toEqual(masked.map((_, i) => i));
  });

  it.each(PROBE_CASES.map((c) => [c.query, c.qemu100] as const))('QEMU 10.0 offline: %s → %s', (query, answer) => {
    tenDotZero ??= new IntrospectedSchema(generateIntrospection(load('qemu-10.0/qapi/qapi-schema.json')));
    expect(tenDotZero.probe(query)).toBe(answer);
  });
});

let tenDotZero: IntrospectedSchema | undefined;
