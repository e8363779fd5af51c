/**
 * `if` conditions. Without defines, code is generated for every build of
 * QEMU, and a build where a member's condition fails does not send it:
 * such members are optional in types and validators. With defines,
 * conditions are evaluated exactly.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadValidators } from '../../src/backends/load.js';
import { sharedDir } from '../helpers/shared.js';
import { fakeExecutor, generateSnippet, loadSnippet, outcome } from './helpers.js';

const corpus = sharedDir('corpus');

const SCHEMA = `
{ 'enum': 'Kind', 'data': [ 'plain', { 'name': 'fancy', 'if': 'CONFIG_FANCY' } ] }
{ 'struct': 'Fancy', 'data': { 'level': 'int' }, 'if': 'CONFIG_FANCY' }
{ 'struct': 'Plain', 'data': { 'size': 'int' } }
{ 'union': 'Thing', 'base': { 'kind': 'Kind', 'name': 'str', 'note': { 'type': 'str', 'if': 'CONFIG_NOTE' } },
  'discriminator': 'kind',
  'data': { 'plain': 'Plain', 'fancy': 'Fancy' } }
{ 'alternate': 'PlainOrName', 'data': { 'name': 'str', 'plain': { 'type': 'Plain', 'if': 'CONFIG_ALT' } } }
{ 'struct': 'Info', 'data': { 'id': 'str',
    'extra': { 'type': ['str'], 'if': 'TARGET_S390X' },
    'fancy': 'Fancy',
    'when': { 'type': 'int', 'if': { 'all': [ 'A', { 'not': 'B' } ] } },
    'thing': 'Thing' } }
{ 'struct': 'InfoArgs', 'data': { 'id': 'str', 'depth': { 'type': 'int', 'if': 'CONFIG_DEPTH' } } }
{ 'command': 'query-info', 'data': 'InfoArgs', 'boxed': true, 'returns': 'Info' }
{ 'command': 'fancy-op', 'data': { 'how': 'PlainOrName' }, 'if': 'CONFIG_FANCY' }
{ 'struct': 'FancyData', 'data': { 'level': 'int', 'why': { 'type': 'str', 'if': 'CONFIG_WHY' } } }
{ 'event': 'FANCY_HAPPENED', 'data': 'FancyData', 'boxed': true,
  'if': { 'any': [ 'CONFIG_FANCY', 'CONFIG_OTHER' ] } }
`;

const plainThing = { kind: 'plain', name: 'p', size: 1 };

describe('without defines: what depends on a condition may be absent', () => {
  test('conditional members are optional in the types, with the condition documented', () => {
    const text = generateSnippet(SCHEMA).get('test.ts')!;
    expect(text).toContain('  extra?: string[];\n');
    expect(text).toContain('  fancy?: Fancy;\n'); // conditional through its type
    expect(text).toContain('  when?: number | bigint;\n');
    expect(text).toContain('  id: string;\n');
    expect(text).toContain('  depth?: number | bigint;\n');
    expect(text).toContain('  why?: string;\n');
    expect(text).toMatch(/export interface ThingBase \{[^}]*\n {2}note\?: string;\n\}/); // an implicit base
    expect(text).toMatch(
      /Optional here: only QEMU builds where its condition holds have it\.\n {3}\*\n {3}\* @ifcond TARGET_S390X\n {3}\*\/\n {2}extra\?/,
    );
    expect(text).toMatch(/@ifcond CONFIG_FANCY\n {3}\*\/\n {2}fancy\?: Fancy;/);
    expect(text).toMatch(/@ifcond A && !B\n {3}\*\/\n {2}when\?/);
  });

  test('reply, argument and event validators accept a build without them, strictly', async () => {
    const s = await loadSnippet(SCHEMA);
    const set = s.validators.validatorSet(true);
    // What a build lacking every condition sends.
    expect(outcome(set.commands['query-info']!.returns!, { id: 'x', thing: plainThing })).toBe('ok');
    expect(outcome(set.commands['query-info']!.args!, { id: 'x' })).toBe('ok');
    expect(outcome(set.events.FANCY_HAPPENED!, { level: 1 })).toBe('ok');
    // What a build where they hold sends; types are still checked.
    const full = { id: 'x', extra: ['a'], fancy: { level: 1 }, when: 2, thing: { kind: 'fancy', name: 'f', level: 3 } };
    expect(outcome(set.commands['query-info']!.returns!, full)).toBe('ok');
    expect(outcome(set.commands['query-info']!.returns!, { ...full, extra: 'a' })).toMatch(/^extra: /);
    expect(outcome(set.commands['query-info']!.returns!, { ...full, fancy: {} })).toMatch(/^fancy\.level: /);
    expect(outcome(set.commands['query-info']!.returns!, { extra: ['a'] })).toMatch(/^id: /);
    expect(outcome(set.commands['query-info']!.args!, { id: 'x', depth: 'deep' })).toMatch(/^depth: /);
    // The typed client in strict mode.
    const client = s.client(fakeExecutor({ 'query-info': { id: 'x', thing: plainThing } }), { strict: true });
    await expect((client.queryInfo as (a: unknown) => Promise<unknown>)({ id: 'x' })).resolves.toEqual({
      id: 'x',
      thing: plainThing,
    });
  });

  test('conditional branches, enum values, commands and events stay, documented', async () => {
    const files = generateSnippet(SCHEMA);
    const text = files.get('test.ts')!;
    expect(text).toContain("  /** @ifcond CONFIG_FANCY */\n  | 'fancy'\n");
    // The branch depends on its tag value and its type.
    expect(text).toContain(
      "  /** @ifcond CONFIG_FANCY */\n  | (Omit<ThingBase, 'kind'> & { kind: 'fancy' } & Fancy)\n",
    );
    expect(text).toContain('  /** @ifcond CONFIG_ALT */\n  | Plain;\n');
    const index = files.get('index.ts')!;
    expect(index).toMatch(
      /Only in QEMU builds where its condition holds; elsewhere the call fails with CommandNotFound\.\n {3}\*\n {3}\* @ifcond CONFIG_FANCY\n {3}\*\/\n {2}fancyOp\(/,
    );
    expect(index).toMatch(
      /Only QEMU builds where its condition holds emit it\.\n {3}\*\n {3}\* @ifcond CONFIG_FANCY \|\| CONFIG_OTHER\n {3}\*\/\n {2}'FANCY_HAPPENED'/,
    );
    const s = await loadSnippet(SCHEMA);
    expect(outcome(s.strict.Thing!, { kind: 'fancy', name: 'f', level: 1 })).toBe('ok');
    expect(outcome(s.strict.Thing!, plainThing)).toBe('ok');
    expect(outcome(s.strict.Thing!, { ...plainThing, note: 'n' })).toBe('ok');
    expect(outcome(s.strict.PlainOrName!, { size: 1 })).toBe('ok');
    expect(outcome(s.strict.Kind!, 'fancy')).toBe('ok');
  });
});

describe('with defines: conditions are evaluated exactly', () => {
  test('members whose condition holds are mandatory, the others are gone', async () => {
    const s390 = await loadSnippet(SCHEMA, { defines: ['TARGET_S390X', 'A'] });
    expect(s390.text).toContain('  extra: string[];\n');
    expect(s390.text).toContain('  when: number | bigint;\n');
    expect(s390.text).not.toMatch(/ fancy\??:/); // its type is not there
    expect(s390.text).not.toContain('Optional here');
    const info = s390.strict.Info!;
    expect(outcome(info, { id: 'x', extra: [], when: 1, thing: plainThing })).toBe('ok');
    expect(outcome(info, { id: 'x', when: 1, thing: plainThing })).toMatch(/^extra: /);
    expect(outcome(info, { id: 'x', extra: [], when: 1, thing: plainThing, fancy: { level: 1 } })).toMatch(
      /Unrecognized key: "fancy"/,
    );

    // all/any/not
    const notB = await loadSnippet(SCHEMA, { defines: ['A', 'B', 'CONFIG_FANCY'] });
    expect(notB.text).not.toMatch(/ when\??:/);
    expect(notB.text).toContain('  fancy: Fancy;\n');
    expect(outcome(notB.strict.Thing!, { kind: 'fancy', name: 'f', level: 1 })).toBe('ok');
    const none = await loadSnippet(SCHEMA, { defines: [] });
    expect(outcome(none.strict.Thing!, { kind: 'fancy', name: 'f', level: 1 })).toMatch(/^kind: /);
    expect(none.files.get('index.ts')).not.toContain('fancyOp(');
    expect(none.files.get('index.ts')).not.toContain('FANCY_HAPPENED');
    const other = generateSnippet(SCHEMA, { defines: ['CONFIG_OTHER'] }).get('index.ts')!;
    expect(other).toContain("'FANCY_HAPPENED': FancyData;");
  });
});

/** A query-cpu-model-expansion reply as QEMU 10.0 on x86_64 sends it (no deprecated-props). */
const X86_EXPANSION = {
  model: {
    name: 'qemu64',
    props: { 'phys-bits': 0, xlevel: 2147483658, cmov: true, 'vmx-entry-load-rtit-ctl': false },
  },
};

describe.skipIf(corpus === null)("QEMU 10.0's CpuModelExpansionInfo (deprecated-props only on s390x)", () => {
  const schema = (): string => join(corpus!, 'qemu-10.0/qapi/qapi-schema.json');

  test('an x86_64 reply validates strictly, through verify tables and the typed client', async () => {
    const loaded = await loadValidators(schema());
    const returns = loaded.validatorSet(true).commands['query-cpu-model-expansion']!.returns!;
    expect(outcome(returns, X86_EXPANSION)).toBe('ok');
    expect(outcome(returns, { ...X86_EXPANSION, 'deprecated-props': ['a'] })).toBe('ok'); // s390x
    expect(outcome(returns, { ...X86_EXPANSION, 'deprecated-props': 'a' })).toMatch(/^deprecated-props: /);
    const client = loaded.createClient(fakeExecutor({ 'query-cpu-model-expansion': X86_EXPANSION }), {
      strict: true,
    }) as unknown as Record<string, (a: unknown) => Promise<unknown>>;
    await expect(client.queryCpuModelExpansion!({ type: 'full', model: { name: 'qemu64' } })).resolves.toEqual(
      X86_EXPANSION,
    );
  });

  test('with the x86_64 defines the member is gone and strict rejects it', async () => {
    const loaded = await loadValidators(schema(), {
      defines: ['TARGET_I386', 'CONFIG_KVM', 'CONFIG_LINUX', 'CONFIG_POSIX'],
    });
    const returns = loaded.validatorSet(true).commands['query-cpu-model-expansion']!.returns!;
    expect(outcome(returns, X86_EXPANSION)).toBe('ok');
    expect(outcome(returns, { ...X86_EXPANSION, 'deprecated-props': [] })).toMatch(
      /Unrecognized key: "deprecated-props"/,
    );
    // With the s390x define it is exact the other way round.
    const s390 = await loadValidators(schema(), { defines: ['TARGET_S390X'] });
    const s390Returns = s390.validatorSet(true).commands['query-cpu-model-expansion']!.returns!;
    expect(outcome(s390Returns, X86_EXPANSION)).toMatch(/^deprecated-props: /);
    expect(outcome(s390Returns, { ...X86_EXPANSION, 'deprecated-props': [] })).toBe('ok');
  });

  test('the generated type has the member optional without defines, absent with x86_64 ones', async () => {
    const { parseSchema } = await import('../../src/frontend/index.js');
    const { generateFiles } = await import('../../src/backends/generate.js');
    const parsed = parseSchema(schema(), { lenientDocs: true, onWarning: () => {} });
    const all = generateFiles(parsed).get('machine-target.ts')!;
    expect(all).toMatch(/export interface CpuModelExpansionInfo \{[^}]*\n {2}'deprecated-props'\?: string\[\];\n\}/);
    const x86 = generateFiles(parsed, { defines: ['TARGET_I386'] }).get('machine-target.ts')!;
    expect(x86).toMatch(/export interface CpuModelExpansionInfo \{[^}]*model: CpuModelInfo;\n\}/);
  });
});
