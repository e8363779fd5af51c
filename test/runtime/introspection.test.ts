/**
 * The probe evaluator on small hand-made introspection data: each rule of
 * libvirt's reading, and each way the data can be unusable.
 */
import { describe, expect, it } from 'vitest';
import {
  IntrospectedSchema,
  IntrospectionError,
  MAX_PROBE_DEPTH,
  ProbeQueryError,
  isIntrospectionError,
  parseProbeQuery,
} from '../../src/runtime/index.js';

const builtins = [
  { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
  { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
  { name: 'bool', 'meta-type': 'builtin', 'json-type': 'boolean' },
];

const DATA = [
  { name: 'cmd', 'meta-type': 'command', 'arg-type': 'A', 'ret-type': '[B]', 'allow-oob': true, features: ['fcmd'] },
  { name: 'plain-cmd', 'meta-type': 'command', 'arg-type': 'E0', 'ret-type': 'E0' },
  { name: 'EV', 'meta-type': 'event', 'arg-type': 'B', features: ['fev'] },
  {
    name: 'A',
    'meta-type': 'object',
    members: [
      { name: 'req', type: 'str' },
      { name: 'opt', type: 'int', default: null, features: ['fm'] },
      { name: '__com.redhat_x', type: 'bool' },
      { name: 'kind', type: 'K' },
      { name: 'alt', type: 'ALT' },
      { name: 'old', type: 'OLD', default: null },
      { name: 'odd', type: 'ODD' },
    ],
    tag: 'kind',
    variants: [
      { case: 'one', type: 'B' },
      { case: 'two', type: 'E0' },
    ],
    features: ['fobj'],
  },
  {
    name: 'K',
    'meta-type': 'enum',
    members: [{ name: 'one' }, { name: 'two', features: ['unstable'] }],
    values: ['one', 'two'],
  },
  { name: 'OLD', 'meta-type': 'enum', values: ['a', 'b'] },
  { name: 'B', 'meta-type': 'object', members: [{ name: 'deep', type: '[int]' }] },
  { name: '[int]', 'meta-type': 'array', 'element-type': 'int' },
  { name: '[B]', 'meta-type': 'array', 'element-type': 'B' },
  { name: 'E0', 'meta-type': 'object', members: [] },
  { name: 'ALT', 'meta-type': 'alternate', members: [{ type: 'str' }, { type: 'B' }] },
  { name: 'ODD', 'meta-type': 'from-the-future', members: [{ name: 'x', type: 'str' }] },
  ...builtins,
];

const schema = new IntrospectedSchema(DATA);

describe('IntrospectedSchema.probe: the rules', () => {
  const table: [string, boolean, string][] = [
    ['cmd', true, 'a command alone exists'],
    ['EV', true, 'an event alone exists'],
    ['no-such', false, 'an unknown first step is a no'],
    ['no-such/arg-type/x', false, 'an unknown first step is a no whatever follows'],
    ['A', true, 'like libvirt, the first step may name any entry (here an unmasked type)'],
    // commands and events
    ['cmd/arg-type', true, 'arg-type followed'],
    ['cmd/ret-type', true, 'ret-type followed'],
    ['EV/arg-type/deep', true, "an event's data"],
    ['EV/ret-type', false, 'events have no ret-type'],
    ['cmd/name', false, 'only arg-type and ret-type are followed (libvirt would follow any string field)'],
    ['cmd/allow-oob', false, 'allow-oob is a flag, not a type'],
    ['cmd/*arg-type', false, '* on a command'],
    ['cmd/+arg-type', false, '+ on a command'],
    ['cmd/^arg-type', false, '^ on a command'],
    ['cmd/!string', false, '! on a command'],
    ['cmd/$fcmd', true, "a command's feature"],
    ['cmd/$fobj', false, "not the command's feature"],
    ['plain-cmd/$fcmd', false, 'no features at all'],
    ['EV/$fev', true, "an event's feature"],
    // objects
    ['cmd/arg-type/req', true, 'a member'],
    ['cmd/arg-type/nope', false, 'no such member'],
    ['cmd/arg-type/*opt', true, 'an optional member'],
    ['cmd/arg-type/*req', false, 'a required member is not optional'],
    ['cmd/arg-type/*nope', false, 'no such optional member'],
    ['cmd/arg-type/__com.redhat_x', true, 'a downstream member name as written'],
    ['cmd/arg-type/ __com.redhat_x', true, "libvirt's space escape"],
    ['cmd/arg-type/+one', true, 'a union branch'],
    ['cmd/arg-type/+one/deep', true, "a member of the branch's type"],
    ['cmd/arg-type/+two/deep', false, 'the other branch has no such member'],
    ['cmd/arg-type/+three', false, 'no such branch'],
    ['EV/arg-type/+one', false, 'a struct has no branches'],
    ['cmd/arg-type/one', false, 'a branch is not a member'],
    ['cmd/arg-type/^req', false, '^ on an object'],
    ['cmd/arg-type/!object', false, '! on an object'],
    ['cmd/arg-type/$fobj', true, "an object's feature"],
    ['cmd/arg-type/$fcmd', false, "not the object's feature"],
    ['cmd/arg-type/opt/$fm', false, "member features are not reachable (the step lands on the member's type)"],
    // arrays are flattened
    ['cmd/ret-type/deep', true, 'through an array of objects'],
    ['cmd/ret-type/deep/!int', true, 'through two arrays to a built-in'],
    ['cmd/ret-type/deep/!string', false, 'wrong JSON type'],
    // alternates: each branch in turn
    ['cmd/arg-type/alt/!string', true, 'first alternative'],
    ['cmd/arg-type/alt/deep', true, 'second alternative'],
    ['cmd/arg-type/alt/!boolean', false, 'no alternative'],
    ['cmd/arg-type/alt', true, 'the member itself'],
    // enums
    ['cmd/arg-type/kind/^one', true, 'an enum value'],
    ['cmd/arg-type/kind/^three', false, 'not an enum value'],
    ['cmd/arg-type/kind/^two/$unstable', true, "an enum value's feature"],
    ['cmd/arg-type/kind/^one/$unstable', false, 'a value without that feature'],
    ['cmd/arg-type/kind/^three/$unstable', false, 'no such value'],
    ['cmd/arg-type/kind/one', false, 'a plain step on an enum'],
    ['cmd/arg-type/kind/$unstable', false, 'enums have no features to probe this way'],
    ['cmd/arg-type/kind/!string', false, '! on an enum'],
    ['cmd/arg-type/old/^a', true, 'pre-6.2 enums: values only'],
    ['cmd/arg-type/old/^c', false, 'pre-6.2 enums: not a value'],
    ['cmd/arg-type/old/^a/$unstable', false, 'pre-6.2 enums carry no features'],
    // built-ins
    ['cmd/arg-type/req/!string', true, "a built-in's JSON type"],
    ['cmd/arg-type/req/!int', false, 'another JSON type'],
    ['cmd/arg-type/req/x', false, 'a plain step on a built-in'],
    ['cmd/arg-type/req/^x', false, '^ on a built-in'],
    ['cmd/arg-type/req/$x', false, '$ on a built-in'],
    // unknown meta-types
    ['cmd/arg-type/odd', true, 'the member exists'],
    ['cmd/arg-type/odd/x', false, 'an unknown meta-type is not looked into'],
  ];
  it.each(table)('%s → %s (%s)', (query, answer) => {
    expect(schema.probe(query)).toBe(answer);
  });

  it('takes a parsed query too, and refuses a malformed one', () => {
    expect(schema.probe(parseProbeQuery('cmd/arg-type/req'))).toBe(true);
    expect(() => schema.probe('cmd//req')).toThrow(ProbeQueryError);
  });

  it('looks entries up by name', () => {
    expect(schema.lookup('cmd')?.['meta-type']).toBe('command');
    expect(schema.lookup('nope')).toBeUndefined();
    expect(schema.entries).toBe(DATA);
  });
});

function introspectionError(data: unknown, query?: string): IntrospectionError {
  try {
    const s = new IntrospectedSchema(data);
    if (query !== undefined) s.probe(query);
  } catch (e) {
    expect(isIntrospectionError(e)).toBe(true);
    expect((e as IntrospectionError).code).toBe('QMP_ERR_INTROSPECTION');
    return e as IntrospectionError;
  }
  throw new Error('expected an IntrospectionError');
}

describe('IntrospectedSchema: data that cannot be read is an error, not an answer', () => {
  it('refuses data that is not an array of named objects with unique names', () => {
    expect(introspectionError({ name: 'x' }).reason).toMatch(/expected an array.*got an object/);
    expect(introspectionError(null).reason).toMatch(/got null/);
    expect(introspectionError([1]).reason).toMatch(/element 0 is a number/);
    expect(introspectionError([[]]).reason).toMatch(/element 0 is an array/);
    expect(introspectionError([{ 'meta-type': 'command' }]).reason).toMatch(/element 0 has no string 'name'/);
    expect(introspectionError([{ name: 'a' }, { name: 'a' }]).reason).toMatch(/element 1: name 'a' is used twice/);
  });

  const cmd = (arg: string) => ({ name: 'c', 'meta-type': 'command', 'arg-type': arg, 'ret-type': arg });
  const cases: [string, unknown[], string, RegExp][] = [
    ['an undefined type', [cmd('T')], 'c/arg-type', /'T' is referenced but not defined/],
    ['a missing meta-type', [cmd('T'), { name: 'T' }], 'c/arg-type/x', /'T' has no string 'meta-type'/],
    [
      'a type name that is not a string',
      [{ name: 'c', 'meta-type': 'command', 'arg-type': 5 }],
      'c/arg-type',
      /'c' has no string 'arg-type'/,
    ],
    [
      'an array without element-type',
      [cmd('T'), { name: 'T', 'meta-type': 'array' }],
      'c/arg-type/x',
      /'T' has no string 'element-type'/,
    ],
    [
      'an alternate without members',
      [cmd('T'), { name: 'T', 'meta-type': 'alternate' }],
      'c/arg-type/x',
      /'T' has no array 'members'/,
    ],
    [
      'an alternative that is not an object',
      [cmd('T'), { name: 'T', 'meta-type': 'alternate', members: ['str'] }],
      'c/arg-type/x',
      /'T' members\[0\] is not an object/,
    ],
    [
      'an alternative without type',
      [cmd('T'), { name: 'T', 'meta-type': 'alternate', members: [{}] }],
      'c/arg-type/x',
      /'T' members\[0\] has no string 'type'/,
    ],
    [
      'an object without members',
      [cmd('T'), { name: 'T', 'meta-type': 'object' }],
      'c/arg-type/x',
      /'T' has no array 'members'/,
    ],
    [
      'a member without a name',
      [cmd('T'), { name: 'T', 'meta-type': 'object', members: [{ type: 'T' }] }],
      'c/arg-type/x',
      /'T' members\[0\] has no string 'name'/,
    ],
    [
      'a member without a type',
      [cmd('T'), { name: 'T', 'meta-type': 'object', members: [{ name: 'x' }] }],
      'c/arg-type/x',
      /'T' member 'x' has no string 'type'/,
    ],
    [
      'a branch without a type',
      [cmd('T'), { name: 'T', 'meta-type': 'object', members: [], variants: [{ case: 'x' }] }],
      'c/arg-type/+x',
      /'T' branch 'x' has no string 'type'/,
    ],
    [
      'variants that are not a list',
      [cmd('T'), { name: 'T', 'meta-type': 'object', members: [], variants: {} }],
      'c/arg-type/+x',
      /'T' has no array 'variants'/,
    ],
    ['features that are not a list', [{ ...cmd('T'), features: 'x' }], 'c/$x', /'c' has no array 'features'/],
    [
      'a feature that is not a string',
      [{ ...cmd('T'), features: [1] }],
      'c/$x',
      /'c' has a feature that is not a string/,
    ],
    [
      'a built-in without json-type',
      [cmd('T'), { name: 'T', 'meta-type': 'builtin' }],
      'c/arg-type/!int',
      /'T' has no string 'json-type'/,
    ],
    [
      'an enum without members or values',
      [cmd('T'), { name: 'T', 'meta-type': 'enum' }],
      'c/arg-type/^x',
      /'T' has no array 'values'/,
    ],
    [
      'enum values that are not strings',
      [cmd('T'), { name: 'T', 'meta-type': 'enum', values: [1] }],
      'c/arg-type/^x',
      /'T' has a value that is not a string/,
    ],
    [
      'a bad feature list on an enum value',
      [cmd('T'), { name: 'T', 'meta-type': 'enum', members: [{ name: 'x', features: [null] }] }],
      'c/arg-type/^x/$f',
      /'T' value 'x' has a feature that is not a string/,
    ],
    [
      'an enum member without a name',
      [cmd('T'), { name: 'T', 'meta-type': 'enum', members: [{}] }],
      'c/arg-type/^x',
      /'T' members\[0\] has no string 'name'/,
    ],
  ];
  it.each(cases)('%s', (_what, data, query, reason) => {
    const e = introspectionError(data, query);
    expect(e.reason).toMatch(reason);
    expect(e.query).toBe(query);
    expect(e.message).toContain(`probing '${query}'`);
  });

  it('only checks what a probe walks through', () => {
    const s = new IntrospectedSchema([
      cmd('T'),
      { name: 'other', 'meta-type': 'array' },
      { name: 'T', 'meta-type': 'object', members: [] },
    ]);
    expect(s.probe('c/arg-type/x')).toBe(false);
  });

  it('reports cycles of arrays and alternates instead of looping', () => {
    const selfArray = [cmd('[T]'), { name: '[T]', 'meta-type': 'array', 'element-type': '[T]' }];
    expect(introspectionError(selfArray, 'c/arg-type/x').reason).toMatch(/'\[T\]' contains itself/);
    const selfAlt = [cmd('T'), { name: 'T', 'meta-type': 'alternate', members: [{ type: 'T' }] }];
    expect(introspectionError(selfAlt, 'c/arg-type/x').reason).toMatch(/'T' contains itself/);
    const mutual = [
      cmd('T'),
      { name: 'T', 'meta-type': 'alternate', members: [{ type: 'int' }, { type: '[T]' }] },
      { name: '[T]', 'meta-type': 'array', 'element-type': 'T' },
      ...builtins,
    ];
    expect(introspectionError(mutual, 'c/arg-type/!string').reason).toMatch(/contains itself/);
    // As in libvirt, an alternative that answers yes before the cycle wins.
    expect(new IntrospectedSchema(mutual).probe('c/arg-type/!int')).toBe(true);
  });

  it('stops at nesting deeper than MAX_PROBE_DEPTH without overflowing the stack', () => {
    const n = 20 * MAX_PROBE_DEPTH;
    const chain: unknown[] = [cmd('A0'), ...builtins];
    for (let i = 0; i < n; i++)
      chain.push({ name: `A${i}`, 'meta-type': 'array', 'element-type': i + 1 < n ? `A${i + 1}` : 'str' });
    expect(introspectionError(chain, 'c/arg-type/!string').reason).toMatch(/deeper than 1000/);
    const shallow = chain.slice(0, 1 + builtins.length + 10); // c, built-ins, A0…A9
    shallow.push({ name: 'A10', 'meta-type': 'array', 'element-type': 'str' });
    expect(new IntrospectedSchema(shallow).probe('c/arg-type/!string')).toBe(true);
  });

  it('answers in linear time where alternatives share types (no exponential retries)', () => {
    // 60 levels, each an alternate of the next level twice: 2^60 paths.
    const data: unknown[] = [cmd('L0'), ...builtins];
    for (let i = 0; i < 60; i++) {
      const next = i < 59 ? `L${i + 1}` : 'str';
      data.push({ name: `L${i}`, 'meta-type': 'alternate', members: [{ type: next }, { type: next }] });
    }
    const s = new IntrospectedSchema(data);
    expect(s.probe('c/arg-type/!int')).toBe(false);
    expect(s.probe('c/arg-type/!string')).toBe(true);
  });
});
