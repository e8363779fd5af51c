/**
 * One test per QAPI construct: the emitted TypeScript text, and how the
 * emitted validators behave once the code is transpiled and imported.
 */
import { describe, expect, test } from 'vitest';
import { generateSnippet, loadSnippet, outcome } from './helpers.js';

describe('enum', () => {
  const schema = `{ 'enum': 'Color', 'data': [ 'red', 'dark-blue' ] }`;
  test('text: literal union, unknown marker, const array', () => {
    const text = generateSnippet(schema).get('test.ts')!;
    expect(text).toContain("export type Color =\n  | 'red'\n  | 'dark-blue'\n  | UnknownValue;");
    expect(text).toContain("export const ColorValues = ['red', 'dark-blue'] as const;");
  });
  test('validators: strict rejects unknown values, compatible passes them', async () => {
    const s = await loadSnippet(schema);
    expect(outcome(s.strict.Color!, 'dark-blue')).toBe('ok');
    expect(outcome(s.strict.Color!, 'green')).toMatch(/expected one of "red"\|"dark-blue"/);
    expect(s.compat.Color!.parse('green')).toBe('green');
    expect(outcome(s.compat.Color!, 7)).not.toBe('ok');
  });
});

describe('struct with base, optional members, arrays', () => {
  const schema = `
{ 'struct': 'Base', 'data': { 'id': 'str' } }
{ 'struct': 'Thing', 'base': 'Base',
  'data': { 'thread-id': 'int8', '*tags': [ 'str' ], 'flag': 'bool', 'value': 'any',
            '*nothing': 'null', 'ratio': 'number' } }`;
  test('text: extends, quoted keys, optional and array members', () => {
    const text = generateSnippet(schema).get('test.ts')!;
    expect(text).toContain('export interface Base {\n  id: string;\n}');
    expect(text).toContain(
      "export interface Thing extends Base {\n  'thread-id': number;\n  tags?: string[];\n" +
        '  flag: boolean;\n  value: unknown;\n  nothing?: null;\n  ratio: number;\n}',
    );
  });
  test('validators: base members checked, unknown members strict vs compatible', async () => {
    const s = await loadSnippet(schema);
    const good = { id: 'x', 'thread-id': 3, flag: true, value: { any: ['json'] }, ratio: 0.5 };
    expect(outcome(s.strict.Thing!, good)).toBe('ok');
    expect(outcome(s.strict.Thing!, { ...good, id: undefined })).toMatch(/^id: /);
    expect(outcome(s.strict.Thing!, { ...good, tags: ['a', 2] })).toMatch(/^tags\.1: /);
    expect(outcome(s.strict.Thing!, { ...good, nothing: null })).toBe('ok');
    expect(outcome(s.strict.Thing!, { ...good, extra: 1 })).toMatch(/Unrecognized key: "extra"/);
    expect(s.compat.Thing!.parse({ ...good, extra: 1 })).toEqual({ ...good, extra: 1 });
    // number: a bigint from the decoder becomes a (possibly rounded) number
    expect((s.strict.Thing!.parse({ ...good, ratio: 2n ** 60n }) as { ratio: number }).ratio).toBe(2 ** 60);
  });
});

describe('union', () => {
  const schema = `
{ 'enum': 'Kind', 'data': [ 'file', 'socket', 'none' ] }
{ 'struct': 'FileOpts', 'data': { 'path': 'str' } }
{ 'struct': 'SockOpts', 'data': { 'port': 'uint16' } }
{ 'union': 'Inline', 'base': { 'kind': 'Kind', '*id': 'str' }, 'discriminator': 'kind',
  'data': { 'file': 'FileOpts', 'socket': 'SockOpts' } }
{ 'struct': 'NamedBase', 'data': { 'type': 'Kind' } }
{ 'union': 'Named', 'base': 'NamedBase', 'discriminator': 'type', 'data': { 'file': 'FileOpts' } }`;
  test('text: discriminated union of base + branch, unknown branch marker', () => {
    const text = generateSnippet(schema).get('test.ts')!;
    expect(text).toContain('export interface InlineBase {\n  kind: Kind;\n  id?: string;\n}');
    expect(text).toContain(
      'export type Inline =\n' +
        "  | (Omit<InlineBase, 'kind'> & { kind: 'file' } & FileOpts)\n" +
        "  | (Omit<InlineBase, 'kind'> & { kind: 'socket' } & SockOpts)\n" +
        "  | (Omit<InlineBase, 'kind'> & { kind: 'none' })\n" +
        "  | UnknownBranch<InlineBase, 'kind'>;",
    );
    expect(text).toContain("  | (Omit<NamedBase, 'type'> & { type: 'socket' })\n");
  });
  test('validators: dispatch on the tag, branch members, empty branches', async () => {
    const s = await loadSnippet(schema);
    const u = s.strict.Inline!;
    expect(outcome(u, { kind: 'file', path: '/x', id: 'a' })).toBe('ok');
    expect(outcome(u, { kind: 'socket', port: 70000 })).toMatch(/^port: uint16 out of range/);
    expect(outcome(u, { kind: 'socket', path: '/x' })).toMatch(/port/);
    expect(outcome(u, { kind: 'none' })).toBe('ok');
    expect(outcome(u, { kind: 'none', port: 1 })).toMatch(/Unrecognized key: "port"/);
    expect(outcome(u, { kind: 'pipe' })).toMatch(/^kind: expected one of 'file', 'socket', 'none'/);
    expect(outcome(u, 'file')).not.toBe('ok');
    expect(outcome(s.strict.Named!, { type: 'socket' })).toBe('ok');
    // a member named __proto__ (possible from JSON.parse) is an unknown member, not a prototype
    const sneaky = JSON.parse('{"kind": "file", "path": "/x", "__proto__": {"polluted": true}}') as object;
    expect(outcome(u, sneaky)).toMatch(/Unrecognized key: "__proto__"/);
    const kept = s.compat.Inline!.parse(sneaky) as Record<string, unknown>;
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(outcome(s.strict.Named!, { type: 'file' })).toMatch(/^path: /);
  });
  test('validators: compatible mode passes unknown branches and members', async () => {
    const s = await loadSnippet(schema);
    const u = s.compat.Inline!;
    expect(u.parse({ kind: 'pipe', id: 'p', fd: 3 })).toEqual({ kind: 'pipe', id: 'p', fd: 3 });
    expect(u.parse({ kind: 'file', path: '/x', mode: 'ro' })).toEqual({ kind: 'file', path: '/x', mode: 'ro' });
    // known branches are still checked
    expect(outcome(u, { kind: 'file' })).toMatch(/^path: /);
    expect(outcome(u, { kind: 'pipe', id: 3 })).toMatch(/^id: /);
  });
  test('compatible mode: no own __proto__ in what an unknown branch or loose struct yields', async () => {
    const s = await loadSnippet(`${schema}
{ 'struct': 'Loose', 'data': { 'a': 'str' } }`);
    const unknownBranch = JSON.parse('{"kind": "pipe", "fd": 3, "__proto__": {"polluted": true}}') as object;
    const loose = JSON.parse('{"a": "x", "__proto__": {"polluted": true}}') as object;
    for (const [schema, value, expected] of [
      [s.compat.Inline!, unknownBranch, { kind: 'pipe', fd: 3 }],
      [s.compat.Loose!, loose, { a: 'x' }],
    ] as const) {
      const out = schema.parse(value) as Record<string, unknown>;
      expect(Object.hasOwn(out, '__proto__')).toBe(false);
      // copying the result must not change the copy's prototype
      const copy = Object.assign({}, out) as Record<string, unknown>;
      expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
      expect(copy.polluted).toBeUndefined();
      expect({ ...out }).toEqual(expected);
    }
    expect(outcome(s.strict.Inline!, unknownBranch)).toMatch(/^kind: expected one of/);
  });
});

describe('alternate', () => {
  const schema = `
{ 'enum': 'Mode', 'data': [ 'auto', 'manual' ] }
{ 'struct': 'Opts', 'data': { 'size': 'size' } }
{ 'alternate': 'NumOrNull', 'data': { 'n': 'number', 'z': 'null', 'o': 'Opts', 'l': [ 'int8' ] } }
{ 'alternate': 'IntOrMode', 'data': { 'i': 'int', 'm': 'Mode', 'b': 'bool' } }
{ 'alternate': 'StrOrNull', 'data': { 's': 'str', 'n': 'null' } }`;
  test('text: plain union of the alternatives', () => {
    const text = generateSnippet(schema).get('test.ts')!;
    expect(text).toContain('export type NumOrNull =\n  | number\n  | null\n  | Opts\n  | number[];');
    expect(text).toContain('export type IntOrMode =\n  | number | bigint\n  | Mode\n  | boolean;');
    expect(text).toContain('export type StrOrNull =\n  | string\n  | null;');
  });
  test('validators: branch chosen by JSON kind', async () => {
    const s = await loadSnippet(schema);
    const a = s.strict.NumOrNull!;
    expect(a.parse(1.5)).toBe(1.5);
    expect(a.parse(null)).toBeNull();
    expect(a.parse({ size: 4096 })).toEqual({ size: 4096 });
    expect(a.parse([1, -2])).toEqual([1, -2]);
    expect(outcome(a, [1, 200])).toMatch(/^1: int8 out of range/);
    expect(outcome(a, { size: -1 })).toMatch(/^size: uint64 out of range/);
    expect(outcome(a, true)).toBe(': expected number or null or object or array, got boolean');
    expect(outcome(a, 'x')).toBe(': expected number or null or object or array, got string');
    const b = s.strict.IntOrMode!;
    expect(b.parse(2n ** 62n)).toBe(2n ** 62n);
    expect(outcome(b, 1.5)).toMatch(/expected int64/);
    expect(b.parse('auto')).toBe('auto');
    expect(outcome(b, 'on')).toMatch(/expected one of "auto"\|"manual"/);
    expect(s.compat.IntOrMode!.parse('on')).toBe('on');
    expect(b.parse(false)).toBe(false);
    expect(outcome(b, null)).toBe(': expected number or string or boolean, got null');
    expect(s.strict.StrOrNull!.parse('x')).toBe('x');
    expect(s.strict.StrOrNull!.parse(null)).toBeNull();
    expect(outcome(s.strict.StrOrNull!, 1)).not.toBe('ok');
  });
});

describe('integers', () => {
  const kinds = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'int', 'size'] as const;
  const ranges: Record<(typeof kinds)[number], [bigint, bigint]> = {
    int8: [-128n, 127n],
    int16: [-32768n, 32767n],
    int32: [-(2n ** 31n), 2n ** 31n - 1n],
    int64: [-(2n ** 63n), 2n ** 63n - 1n],
    int: [-(2n ** 63n), 2n ** 63n - 1n],
    uint8: [0n, 255n],
    uint16: [0n, 65535n],
    uint32: [0n, 2n ** 32n - 1n],
    uint64: [0n, 2n ** 64n - 1n],
    size: [0n, 2n ** 64n - 1n],
  };
  const schema = `{ 'struct': 'Ints', 'data': { ${kinds.map((k) => `'${k}': '${k}'`).join(', ')} } }`;
  /** The decoder's representation: number when safe, else bigint. */
  const decoded = (n: bigint): number | bigint =>
    n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;

  test('text: small kinds are number, 64-bit kinds per int64 mode', () => {
    const mixed = generateSnippet(schema).get('test.ts')!;
    expect(mixed).toContain('  int32: number;\n  int64: number | bigint;');
    expect(mixed).toContain('  size: number | bigint;');
    expect(generateSnippet(schema, { int64: 'bigint' }).get('test.ts')).toContain('  uint64: bigint;');
    expect(generateSnippet(schema, { int64: 'number' }).get('test.ts')).toContain('  uint64: number;');
  });

  test.each(kinds)('%s: bounds accepted, one beyond rejected', async (kind) => {
    const s = await loadSnippet(`{ 'struct': 'One', 'data': { 'v': '${kind}' } }`);
    const one = s.strict.One!;
    const [lo, hi] = ranges[kind];
    expect(outcome(one, { v: decoded(lo) })).toBe('ok');
    expect(outcome(one, { v: decoded(hi) })).toBe('ok');
    expect(outcome(one, { v: decoded(lo - 1n) })).toMatch(/^v: .*out of range/);
    expect(outcome(one, { v: decoded(hi + 1n) })).toMatch(/^v: .*out of range/);
    expect(outcome(one, { v: 1.5 })).toMatch(/^v: .*integer/);
    expect(outcome(one, { v: '1' })).not.toBe('ok');
  });

  test('int64 modes: mixed keeps, bigint converts, number rejects what does not fit', async () => {
    const big = 2n ** 60n;
    const mixed = await loadSnippet(schema);
    expect((mixed.strict.Ints!.parse(sample(big)) as Record<string, unknown>).uint64).toBe(big);
    const asBig = await loadSnippet(schema, { int64: 'bigint' });
    const parsed = asBig.strict.Ints!.parse(sample(5n)) as Record<string, unknown>;
    expect(parsed.uint64).toBe(5n);
    expect(parsed.int32).toBe(5);
    const asNumber = await loadSnippet(schema, { int64: 'number' });
    expect(outcome(asNumber.strict.Ints!, sample(7n))).toBe('ok');
    expect(outcome(asNumber.strict.Ints!, { ...sample(7n), size: big })).toMatch(
      /^size: size|^size: uint64 value .* does not fit in a JavaScript number/,
    );
    function sample(n: bigint): Record<string, unknown> {
      return Object.fromEntries(
        kinds.map((k) => [k, k.includes('64') || k === 'int' || k === 'size' ? decoded(n) : 5]),
      );
    }
  });
});

describe('number', () => {
  test.each(['mixed', 'bigint', 'number'] as const)(
    'int64 %s: a finite double; a bigint too large for one is refused, naming the member',
    async (int64) => {
      const s = await loadSnippet(`{ 'struct': 'Num', 'data': { 'x': 'number', 'n': 'int' } }`, { int64 });
      const num = s.strict.Num!;
      const n = int64 === 'bigint' ? 1n : 1;
      expect(outcome(num, { x: 1.5, n })).toBe('ok');
      expect((num.parse({ x: 2n ** 60n, n }) as { x: unknown }).x).toBe(2 ** 60);
      expect(outcome(num, { x: 10n ** 400n, n })).toBe(
        'x: expected a finite number, got 10000000000000000000…0000000000 (401 digits)',
      );
      expect(outcome(num, { x: -(10n ** 400n), n })).toMatch(/^x: expected a finite number, got -1000/);
      expect(outcome(num, { x: Infinity, n })).toBe('x: expected a finite number, got Infinity');
      expect(outcome(num, { x: NaN, n })).toBe('x: expected a finite number, got NaN');
      expect(outcome(num, { x: '1', n })).toMatch(/^x: .*expected number/);
      if (int64 === 'number') {
        expect(outcome(num, { x: 1, n: 10n ** 400n })).toBe(
          'n: int64 value 10000000000000000000…0000000000 (401 digits) does not fit in a JavaScript number' +
            " (generated with int64: 'number')",
        );
      }
    },
  );
});

describe('conditionals and features', () => {
  const schema = `
{ 'enum': 'Level', 'data': [ 'low', { 'name': 'high', 'if': { 'not': 'CONFIG_SMALL' } },
                             { 'name': 'old', 'features': [ 'deprecated' ] } ] }
{ 'struct': 'Conf', 'data': { 'a': 'str',
    '*b': { 'type': 'str', 'if': { 'all': [ 'CONFIG_A', 'CONFIG_B' ] } },
    '*c': { 'type': 'str', 'features': [ 'unstable' ] } },
  'if': { 'any': [ 'CONFIG_A', 'CONFIG_C' ] } }
{ 'command': 'x-test', 'features': [ 'unstable' ] }
{ 'command': 'old-test', 'features': [ 'deprecated' ] }
{ 'command': 'test', 'data': { 'level': 'Level' } }`;

  test('text: conditions and features documented', () => {
    const files = generateSnippet(schema);
    const text = files.get('test.ts')!;
    expect(text).toContain('@ifcond !CONFIG_SMALL');
    expect(text).toContain('@ifcond CONFIG_A && CONFIG_B');
    expect(text).toContain('/** @ifcond CONFIG_A || CONFIG_C */\nexport interface Conf');
    expect(text).toContain("  /** @deprecated */\n  | 'old'\n");
    expect(text).toMatch(/\/\*\* @experimental [^\n]*\*\/\n {2}c\?: string;/);
    const index = files.get('index.ts')!;
    expect(index).toMatch(/\/\*\* @experimental [^\n]*\*\/\n {2}xTest\(/);
    expect(index).toContain('  /** @deprecated */\n  oldTest(');
  });

  test('defines select what is generated', async () => {
    const none = generateSnippet(schema, { defines: [] }).get('test.ts')!;
    expect(none).not.toContain('interface Conf');
    expect(none).toContain("'high'");
    const small = await loadSnippet(schema, { defines: ['CONFIG_A', 'CONFIG_SMALL'] });
    expect(small.text).toContain('export interface Conf {\n  a: string;\n');
    expect(small.text).not.toContain('  b?: string;');
    expect(small.text).not.toContain("'high'");
    expect(outcome(small.strict.Level!, 'high')).not.toBe('ok');
    expect(outcome(small.strict.Conf!, { a: 'x', b: 'y' })).toMatch(/Unrecognized key: "b"/);
    const both = await loadSnippet(schema, { defines: ['CONFIG_A', 'CONFIG_B'] });
    expect(outcome(both.strict.Conf!, { a: 'x', b: 'y' })).toBe('ok');
    expect(outcome(both.strict.Level!, 'high')).toBe('ok');
  });

  test('unstable and deprecated can be left out', async () => {
    const s = await loadSnippet(schema, { omitUnstable: true, omitDeprecated: true });
    const index = s.files.get('index.ts')!;
    expect(index).not.toContain('xTest(');
    expect(index).not.toContain('oldTest(');
    expect(index).toContain('test(');
    expect(s.text).not.toContain("'old'");
    expect(s.text).not.toContain('c?: string');
    expect(outcome(s.strict.Level!, 'old')).not.toBe('ok');
    expect(outcome(s.strict.Conf!, { a: 'x', c: 'y' })).toMatch(/Unrecognized key: "c"/);
    const all = generateSnippet(schema).get('index.ts')!;
    expect(all).toContain('xTest(');
  });
});

describe('recursion and module cycles', () => {
  test('a recursive struct validates nested values', async () => {
    const s = await loadSnippet(`{ 'struct': 'Tree', 'data': { 'name': 'str', '*children': [ 'Tree' ] } }`);
    const tree = { name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] };
    expect(outcome(s.strict.Tree!, tree)).toBe('ok');
    expect(outcome(s.strict.Tree!, { name: 'a', children: [{ name: 'b', children: [{ name: 1 }] }] })).toBe(
      'children.0.children.0.name: Invalid input: expected string, received number',
    );
  });
});

describe('doc comments', () => {
  const schema = `##
# @Mode:
#
# How to run.
#
# @fast: quickly, see @Thing
#
# Since: 9.0
##
{ 'enum': 'Mode', 'data': [ 'fast' ] }

##
# @Thing:
#
# A thing with a */ in its doc.
#
# @mode: the mode, documented over
#     two lines
#
# Since: 9.1
##
{ 'struct': 'Thing', 'data': { 'mode': 'Mode' } }

##
# @do-it:
#
# Does it.
#
# @speed: how fast
#
# Returns: the thing
#
# Errors:
#     - GenericError if it cannot
#
# Since: 10.0
##
{ 'command': 'do-it', 'data': { 'speed': 'int' }, 'returns': 'Thing' }
`;
  test('docs: false leaves them out (for code that is only run)', () => {
    const files = generateSnippet(schema, { docs: false });
    expect(files.get('test.ts')).not.toContain('How to run');
    expect(files.get('test.ts')).toContain("export type Mode =\n  | 'fast'\n  | UnknownValue;");
    expect(files.get('index.ts')).not.toContain('Does it');
  });

  test('types, members, commands and their implicit arguments carry JSDoc', () => {
    const files = generateSnippet(schema);
    const text = files.get('test.ts')!;
    expect(text).toContain(
      "/**\n * How to run.\n *\n * @since 9.0\n */\nexport type Mode =\n  /** quickly, see `Thing` */\n  | 'fast'",
    );
    expect(text).toContain(
      '/**\n * A thing with a *\\/ in its doc.\n *\n * @since 9.1\n */\nexport interface Thing {\n' +
        '  /**\n   * the mode, documented over\n   * two lines\n   */\n  mode: Mode;',
    );
    expect(text).toContain(
      '/** Arguments of command `do-it`. */\nexport interface DoItArguments {\n' +
        '  /** how fast */\n  speed: number | bigint;',
    );
    const index = files.get('index.ts')!;
    expect(index).toContain(
      '  /**\n   * Does it.\n   *\n   * @returns the thing\n   * @throws - GenericError if it cannot\n' +
        '   * @since 10.0\n   */\n  doIt(args: DoItArguments',
    );
  });
});
