/**
 * QAPI names that mean something to JavaScript: `then`, what every object
 * inherits (`constructor`, `toString`…), keywords, names of generated
 * identifiers. Every name QEMU accepts gives a client and validators that
 * behave and compile under tsc --strict.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeGenerated } from '../../src/backends/generate.js';
import { CLIENT_MEMBERS } from '../../src/backends/context.js';
import { RESERVED_METHODS, propertyKey } from '../../src/backends/names.js';
import { QapiClientBase } from '../../src/support/client.js';
import { repoRoot } from '../helpers/shared.js';
import { fakeExecutor, generateSnippet, loadSnippet, outcome, type LoadedSnippet } from './helpers.js';
import { strictDiagnostics } from '../helpers/tsc.js';

const SCHEMA = `
{ 'pragma': { 'member-name-exceptions': [ 'Nasty' ] } }
{ 'enum': 'Word', 'data': [ 'constructor', 'to-string', 'then', 'class' ] }
{ 'struct': 'Nasty', 'data': { '*constructor': 'str', 'toString': 'str', '*hasOwnProperty': 'int',
    'valueOf': 'any', 'class': 'str', '*__org.example_then': 'Word' } }
{ 'struct': 'Plain', 'data': { 'a': 'str' } }
{ 'union': 'Pick', 'base': { 'kind': 'Word', '*constructor': 'str' }, 'discriminator': 'kind',
  'data': { 'constructor': 'Plain', 'then': 'Plain' } }
{ 'struct': 'Object', 'data': { 'a': 'str' } }
{ 'struct': 'Promise', 'data': { 'a': 'Object' } }
{ 'struct': 'TypeMap', 'data': { 'a': 'Promise' } }
{ 'struct': 'ThenArguments', 'data': { 'a': 'str' } }
{ 'command': 'then', 'data': { 'a': 'str' } }
{ 'command': 'constructor', 'data': { '*constructor': 'str' }, 'returns': 'Nasty' }
{ 'command': 'to-string' }
{ 'command': 'value-of' }
{ 'command': 'has-own-property', 'returns': 'Pick' }
{ 'command': 'is-prototype-of' }
{ 'command': 'property-is-enumerable' }
{ 'command': 'to-locale-string' }
{ 'command': '__org.example_then' }
{ 'command': 'class' }
{ 'command': 'delete' }
{ 'command': 'execute' }
{ 'command': 'validate' }
{ 'command': 'events', 'returns': 'TypeMap' }
{ 'event': 'CONSTRUCTOR', 'data': { 'constructor': 'str' } }
`;

/** A promise that rejects after `ms` (a thenable client never settles). */
function within<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`did not settle in ${ms} ms`)), ms)),
  ]);
}

describe('client method names', () => {
  test('never then, an inherited member or a base class member: those get a suffix', () => {
    const index = generateSnippet(SCHEMA).get('index.ts')!;
    const methods = [...index.matchAll(/^ {2}([\w$]+)\((?:args|options)/gm)].map((m) => m[1]);
    expect(methods).toEqual([
      'then_2',
      'constructor_2',
      'toString_2',
      'valueOf_2',
      'hasOwnProperty_2',
      'isPrototypeOf_2',
      'propertyIsEnumerable_2',
      'toLocaleString_2',
      '__orgExampleThen',
      'class_',
      'delete_',
      'execute_2',
      'validate_2',
      'events_2',
    ]);
    expect(index).toContain(
      '  then_2(args: ThenArguments_2, options?: ExecuteOptions): Promise<Record<string, never>> {\n' +
        "    return this.execute('then', args, options);",
    );
  });

  test('the reserved lists cover Object.prototype and the base class', () => {
    const inherited = Object.getOwnPropertyNames(Object.prototype);
    expect(inherited.filter((name) => !RESERVED_METHODS.includes(name))).toEqual([]);
    const base = new QapiClientBase(fakeExecutor({}), {}, () => ({ commands: {}, events: {}, noReply: new Set() }));
    const members = [...Object.getOwnPropertyNames(QapiClientBase.prototype), ...Object.getOwnPropertyNames(base)];
    const reserved = new Set([...RESERVED_METHODS, ...CLIENT_MEMBERS]);
    expect(members.filter((name) => !reserved.has(name))).toEqual([]);
    expect(propertyKey('__proto__')).toBe("['__proto__']");
  });
});

describe('generated code for JavaScript-significant names', () => {
  let s: LoadedSnippet;
  beforeAll(async () => {
    s = await loadSnippet(SCHEMA);
  });

  test('the client is not a thenable and keeps Object behaviour', async () => {
    const executor = fakeExecutor({
      then: {},
      'to-string': {},
      constructor: { toString: 's', valueOf: 1, class: 'c' },
    });
    const client = s.client(executor);
    expect(await within((async () => client)())).toBe(client);
    expect(String(client)).toBe('[object Object]');
    expect(`${client}`).toBe('[object Object]');
    expect(client instanceof Object).toBe(true);
    expect(client.constructor.name).toBe('QapiClient');
    expect(Object.prototype.hasOwnProperty.call(client, 'validate')).toBe(true);
    expect(JSON.stringify(client)).toBe('{"validate":true,"strict":false}');
    expect(executor.calls).toEqual([]);
    await (client.then_2 as (a: unknown) => Promise<unknown>)({ a: 'x' });
    await client.execute('then', { a: 'y' });
    await (client.toString_2 as () => Promise<unknown>)();
    expect(await (client.constructor_2 as () => Promise<unknown>)()).toEqual({ toString: 's', valueOf: 1, class: 'c' });
    expect(executor.calls.map((c) => c.command)).toEqual(['then', 'then', 'to-string', 'constructor']);
  });

  test('members named like inherited ones are read as own members only', () => {
    for (const nasty of [s.strict.Nasty!, s.compat.Nasty!]) {
      // absent optional `constructor` / `hasOwnProperty`: fine
      expect(outcome(nasty, { toString: 's', valueOf: null, class: 'c' })).toBe('ok');
      // missing required `toString` / `valueOf`: refused, not taken from Object.prototype
      expect(outcome(nasty, { valueOf: 1, class: 'c' })).toBe(
        'toString: Invalid input: expected string, received undefined',
      );
      expect(outcome(nasty, { toString: 's', class: 'c' })).toMatch(/^valueOf: /);
      expect(outcome(nasty, { toString: 's', valueOf: 1, class: 'c', constructor: 5 })).toMatch(/^constructor: /);
      const out = nasty.parse({
        toString: 's',
        valueOf: [1],
        class: 'c',
        constructor: 'k',
        hasOwnProperty: 2,
        '__org.example_then': 'then',
      });
      expect(out).toEqual({
        toString: 's',
        valueOf: [1],
        class: 'c',
        constructor: 'k',
        hasOwnProperty: 2,
        '__org.example_then': 'then',
      });
      expect(Object.keys(nasty.parse({ toString: 's', valueOf: 1, class: 'c' }) as object).sort()).toEqual([
        'class',
        'toString',
        'valueOf',
      ]);
    }
    expect(outcome(s.strict.Pick!, { kind: 'then', a: 'x' })).toBe('ok');
    expect(outcome(s.strict.Pick!, { kind: 'constructor', a: 'x', constructor: 'c' })).toBe('ok');
    expect(outcome(s.strict.Pick!, { kind: 'constructor', a: 'x', constructor: 1 })).toMatch(/^constructor: /);
    expect(outcome(s.strict.Pick!, { kind: 'constructor' })).toMatch(/^a: /);
    expect(outcome(s.strict.Word!, 'constructor')).toBe('ok');
    expect(outcome(s.compat.Pick!, { kind: 'toString' })).toBe('ok');
    expect(outcome(s.strict.Pick!, { kind: 'toString' })).toMatch(/^kind: expected one of 'constructor', 'then'/);
    expect(outcome(s.validators.validatorSet(true).events.CONSTRUCTOR!, {})).toMatch(/^constructor: /);
  });

  describe('tsc --strict', () => {
    let dir = '';
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('the generated code and code using it compile', { timeout: 60_000 }, async () => {
      dir = await mkdtemp(join(tmpdir(), 'qapi-ts-js-names-'));
      await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
      await writeGenerated(dir, generateSnippet(SCHEMA, { supportImport: join(repoRoot, 'src/support/index.js') }));
      await writeFile(
        join(dir, 'usage.ts'),
        `
import { QapiClient, validators, type Nasty, type Pick, type Object_, type CommandMap } from './index.js';
import type { QmpExecutor } from '${join(repoRoot, 'src/runtime/executor.js')}';

export async function use(executor: QmpExecutor): Promise<string> {
  const client: QapiClient = await (async () => new QapiClient(executor))();
  await client.then_2({ a: 'x' });
  const nasty: Nasty = await client.constructor_2({ constructor: 'c' });
  const pick: Pick = await client.hasOwnProperty_2();
  const same: CommandMap['constructor']['returns'] = await client.execute('constructor');
  const o: Object_ = validators.Object.parse({ a: 'x' });
  const text: string = nasty.toString + String(client) + JSON.stringify(client) + o.a + same.class;
  return pick.kind === 'then' ? pick.a : text;
}
`,
      );
      expect(strictDiagnostics([join(dir, 'index.ts'), join(dir, 'usage.ts')])).toEqual([]);
    });
  });
});
