/**
 * The validators' plain-function twins (src/support/fast.ts) against zod:
 * wherever a twin accepts a value, zod accepts it too and gives the very
 * same output (members in the same order, same prototypes, same bigints);
 * wherever zod refuses one, the twin refuses it (and fastSafeParse gives
 * zod's issues). Checked on hand-made edge cases over every kit construct,
 * and on real data: QEMU's schemas' introspection and a recorded QEMU 7.2
 * session.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { generateIntrospection } from '../../src/backends/introspect.js';
import { loadValidators } from '../../src/backends/load.js';
import { FAIL, fastOf, fastSafeParse } from '../../src/support/fast.js';
import type { Schema } from '../../src/support/kit.js';
import { parseJson, stringifyJson } from '../../src/runtime/json.js';
import { loadSnippet } from '../backends/helpers.js';
import { sharedDir } from '../helpers/shared.js';

/** Compares the twin with zod on `value`; returns whether the twin took the value. */
function agree(schema: Schema, value: unknown, what: string): boolean {
  const fn = fastOf(schema);
  expect(fn, `${what}: has a fast twin`).toBeDefined();
  const fast = fn!(value, 0);
  const zod = schema.safeParse(value);
  if (fast === FAIL) {
    // The twin may give up on a valid value (too deep for it); then zod decides.
    const viaFast = fastSafeParse(schema, value);
    expect(viaFast.success, what).toBe(zod.success);
    if (!zod.success) expect(viaFast.error?.issues, what).toEqual(zod.error.issues);
    return false;
  }
  expect(zod.success, `${what}: zod accepts what the twin accepts (${stringifyJson(value).slice(0, 200)})`).toBe(true);
  // Same value, prototypes included, and the same member order.
  expect(isDeepStrictEqual(fast, zod.data), `${what}: same output`).toBe(true);
  expect(stringifyJson(fast), what).toBe(stringifyJson(zod.data));
  return true;
}

const SCHEMA = `
{ 'enum': 'Color', 'data': ['red', 'green', { 'name': 'blue' }] }
{ 'enum': 'Kind', 'data': ['circle', 'square', 'empty'] }
{ 'struct': 'Ints', 'data': { 'i8': 'int8', 'u8': 'uint8', 'i32': 'int32', 'u32': 'uint32',
  '*i64': 'int', '*u64': 'uint64', '*sz': 'size', '*num': 'number' } }
{ 'struct': 'Node', 'data': { 'name': 'str', '*color': 'Color', '*next': 'Node',
  '*kids': ['Node'], '*extra': 'any', '*flag': 'bool', '*nothing': 'null' } }
{ 'struct': 'Base', 'data': { 'kind': 'Kind', 'id': 'int' } }
{ 'struct': 'Circle', 'data': { 'radius': 'number' } }
{ 'struct': 'Square', 'data': { 'side': 'int', '*label': 'str' } }
{ 'union': 'Shape', 'base': 'Base', 'discriminator': 'kind',
  'data': { 'circle': 'Circle', 'square': 'Square' } }
{ 'alternate': 'NodeOrName', 'data': { 'node': 'Node', 'name': 'str' } }
{ 'alternate': 'NodeOrScalar', 'data': { 'node': 'Node', 'n': 'int', 'b': 'bool', 'x': 'null' } }
{ 'struct': 'Holder', 'data': { 'shapes': ['Shape'], '*alt': 'NodeOrName', '*ints': 'Ints' } }
`;

const CASES: Record<string, unknown[]> = {
  Ints: [
    { i8: 0, u8: 255, i32: -2147483648, u32: 4294967295 },
    { i8: -128, u8: 0, i32: 2147483647, u32: 0, i64: -9007199254740991, u64: 9007199254740991, sz: 0, num: 1.5 },
    { i8: 0, u8: 0, i32: 0, u32: 0, i64: -(2n ** 63n), u64: 2n ** 64n - 1n, sz: 2n ** 60n, num: 2n ** 70n },
    { i8: 128, u8: 0, i32: 0, u32: 0 },
    { i8: 1.5, u8: 0, i32: 0, u32: 0 },
    { i8: 0, u8: -1, i32: 0, u32: 0 },
    { i8: 0, u8: 0, i32: 0, u32: 0, u64: -1 },
    { i8: 0, u8: 0, i32: 0, u32: 0, u64: 2n ** 64n },
    { i8: 0, u8: 0, i32: 0, u32: 0, i64: 2 ** 60 },
    { i8: 0, u8: 0, i32: 0, u32: 0, i64: 1.5 },
    { i8: 0, u8: 0, i32: 0, u32: 0, num: 2n ** 1100n },
    { i8: 0, u8: 0, i32: 0, u32: 0, num: Number.NaN },
    { i8: 0, u8: 0, i32: 0, u32: 0, num: 'x' },
    { i8: 0, u8: 0, i32: 0, u32: -0 },
    { i8: '1', u8: 0, i32: 0, u32: 0 },
    { u8: 0, i32: 0, u32: 0 },
  ],
  Node: [
    { name: 'a' },
    { color: 'red', name: 'a', later: 1, next: { name: 'b', kids: [{ name: 'c' }, { name: 'd', extra: { x: [1] } }] } },
    { name: 'a', color: 'purple' },
    { name: 'a', extra: undefined },
    { name: 'a', color: undefined },
    { name: 'a', nothing: null, flag: false },
    { name: 'a', nothing: 0 },
    { name: 'a', flag: 'yes' },
    { name: 1 },
    { name: 'a', kids: {} },
    { name: 'a', kids: [1] },
    JSON.parse('{"name": "a", "__proto__": {"polluted": true}}'),
    JSON.parse('{"__proto__": 1, "name": "a", "zz": 2}'),
    Object.assign(Object.create(null), { name: 'a', z: 1 }),
    { 2: 'x', name: 'a', 1: 'y' },
    'a',
    null,
    [],
  ],
  Shape: [
    { kind: 'circle', id: 1, radius: 2.5 },
    { radius: 2.5, id: 1, kind: 'circle' },
    { kind: 'square', id: 1, side: 3, label: 'l', more: true },
    { kind: 'square', side: 3, id: 2 },
    { kind: 'empty', id: 1 },
    { kind: 'empty', id: 1, what: 'x' },
    { kind: 'triangle', id: 1, corners: 3 },
    { kind: 'square', id: 1 },
    { kind: 'circle', id: 'one', radius: 1 },
    { id: 1, radius: 1 },
    { kind: 7, id: 1 },
    JSON.parse('{"kind": "circle", "id": 1, "radius": 1, "__proto__": {}}'),
    [],
  ],
  NodeOrName: [{ name: 'x' }, 'x', 3, 3n, true, null, [], 1.5, { name: 2 }],
  NodeOrScalar: [{ name: 'x' }, 'x', 3, 2n ** 64n, 2n ** 63n - 1n, true, null, [], 1.5, { name: 2 }],
  Holder: [
    { shapes: [] },
    {
      shapes: [
        { kind: 'circle', id: 1, radius: 1 },
        { kind: 'square', id: 2, side: 2 },
      ],
      alt: { name: 'n', kids: [] },
    },
    { shapes: [{ kind: 'circle', id: 1 }] },
    { shapes: [], ints: { i8: 0, u8: 0, i32: 0, u32: 0 }, alt: 'x', other: [1, 2] },
  ],
};

/** `{name, next: {name, next: …}}` nested `levels` deep. */
function chain(levels: number): unknown {
  let node: Record<string, unknown> = { name: 'end' };
  for (let i = 0; i < levels - 1; i++) node = { name: `n${i}`, next: node };
  return node;
}

describe('fast validator twins agree with zod', () => {
  for (const int64 of ['mixed', 'bigint', 'number'] as const) {
    it(`on every construct, strict and compatible (int64: ${int64})`, async () => {
      const loaded = await loadSnippet(SCHEMA, { int64 });
      let taken = 0;
      let total = 0;
      for (const [kind, validators] of [
        ['compatible', loaded.compat],
        ['strict', loaded.strict],
      ] as const) {
        for (const [type, values] of Object.entries(CASES)) {
          values.forEach((value, i) => {
            total++;
            if (agree(validators[type]!, value, `${kind} ${type} #${i}`)) taken++;
          });
        }
      }
      // The twins do the work for the valid values (not just defer to zod).
      expect(taken).toBeGreaterThan(total / 3);
    });
  }

  it('deep values: the twin gives up beyond its stack budget, zod decides (same results as before)', async () => {
    const { compat, strict } = await loadSnippet(SCHEMA);
    for (const levels of [10, 64, 65, 200, 1024, 1025]) {
      for (const validators of [compat, strict]) {
        const value = chain(levels);
        const taken = agree(validators.Node!, value, `chain of ${levels}`);
        expect(taken).toBe(levels <= 65);
      }
    }
  });

  it("on QEMU's introspection of its own schemas (query-qmp-schema as the SchemaInfo list)", async () => {
    const corpus = sharedDir('corpus');
    if (corpus === null) return;
    const { validatorSet } = await loadValidators(join(corpus, 'qemu-11.1/qapi/qapi-schema.json'));
    for (const release of ['7.2', '10.0', '11.1']) {
      const schema = parseSchema(join(corpus, `qemu-${release}/qapi/qapi-schema.json`), {
        lenientDocs: true,
        onWarning: () => {},
      });
      // Through text, as a reply arrives.
      const reply = parseJson(stringifyJson(generateIntrospection(schema)));
      for (const strict of [false, true]) {
        const returns = validatorSet(strict).commands['query-qmp-schema']!.returns!;
        expect(agree(returns, reply, `${release} strict=${strict}`)).toBe(true);
      }
    }
  });

  it('on every reply of a recorded QEMU 7.2 session', async () => {
    const corpus = sharedDir('corpus');
    const transcripts = sharedDir('transcripts');
    if (corpus === null || transcripts === null) return;
    const { validatorSet } = await loadValidators(join(corpus, 'qemu-7.2/qapi/qapi-schema.json'));
    const lines = readFileSync(join(transcripts, 'qemu-7.2/system-x86_64.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const sent = new Map<unknown, string>();
    let replies = 0;
    for (const line of lines) {
      const { dir, msg } = parseJson(line) as { dir: string; msg: Record<string, unknown> };
      if (dir === 'client' && typeof msg.execute === 'string') sent.set(msg.id, msg.execute);
      if (dir !== 'server' || !('return' in msg)) continue;
      const command = sent.get(msg.id);
      if (command === undefined) continue;
      for (const strict of [false, true]) {
        const returns = validatorSet(strict).commands[command]?.returns;
        if (returns) {
          agree(returns, msg.return, `${command} strict=${strict}`);
          replies++;
        }
      }
    }
    expect(replies).toBeGreaterThan(20);
  });
});
