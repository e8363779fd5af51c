/**
 * `generate --language js`: every `.js` file has a `.d.ts` beside it with
 * exactly the types of the TypeScript output, and carries the TypeScript
 * output's doc comments. For our qapi/, QEMU's schemas (10.0, 7.2, and
 * 10.0 with 7.2 as the oldest release) and the valid cases of QEMU's test
 * suite (no consumer for those):
 *  - a consumer importing the JavaScript through its .d.ts type-checks under
 *    strict, and misuses of types, client and validators are type errors;
 *  - the .d.ts and the TypeScript output declare identical types and values
 *    (checked by the compiler, module against module);
 *  - the .d.ts declares what the .js exports at run time, no more, no less;
 *  - the doc comments match the TypeScript output's, declaration by declaration.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckedSchema } from '../../src/frontend/model.js';
import { parseSchema } from '../../src/frontend/index.js';
import { generateFiles, writeGenerated, type GenerateOptions } from '../../src/backends/generate.js';
import { GENERATED_HEADER } from '../../src/backends/emitter.js';
import { importGenerated, supportModuleUrl } from '../../src/backends/load.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { generateSnippet } from './helpers.js';
import { strictDiagnostics } from '../helpers/tsc.js';

const corpus = sharedDir('corpus');
const conformance = sharedDir('conformance/qemu-10.0');
const support = join(repoRoot, 'src/support/index.js');
const executorModule = join(repoRoot, 'src/runtime/executor.js');

interface Case {
  label: string;
  schema: CheckedSchema;
  options: GenerateOptions;
  /** A consumer of the JavaScript output ('' for none). */
  usage: string;
}

function parse(path: string): CheckedSchema {
  return parseSchema(path, { lenientDocs: true, onWarning: () => {} });
}

/** Uses of qapi/'s JavaScript output through its .d.ts; each `@ts-expect-error` must be an error. */
const QAPI_USAGE = `
import type { IOThreadInfo, IoThreadHolder, IoThreadHolderType, CommandMap, QapiEvent, TypeMap } from './index.js';
import { QapiClient, IoThreadHolderTypeValues, validators, strictValidators, commands, events } from './index.js';
import type { QmpExecutor } from '${executorModule}';

export function describeHolder(h: IoThreadHolder): string {
  switch (h.type) {
    case 'qom':
      return h.path;
    case 'block-node':
      return h['node-name'];
    default:
      return String(h.type);
  }
}
export async function use(executor: QmpExecutor): Promise<number | bigint> {
  const client = new QapiClient(executor, { validate: true, strict: false });
  const infos: IOThreadInfo[] = await client.queryIothreads();
  const same: CommandMap['query-iothreads']['returns'] = await client.execute('query-iothreads');
  // @ts-expect-error query-iothreads takes no arguments
  await client.queryIothreads({ id: 'x' });
  // @ts-expect-error unknown command
  await client.execute('no-such-command');
  // @ts-expect-error qom-list needs its path
  await client.qomList({});
  // @ts-expect-error the client has no such method
  await client.queryIothreadz();
  const holders: boolean = await client.supports('query-iothreads/ret-type/holders');
  // @ts-expect-error probes start at a command or event of the schema
  await client.supports('no-such-command/arg-type');
  // @ts-expect-error arbitrary strings are not enum values
  const bad: IoThreadHolderType = 'iothread-vq';
  const known: IoThreadHolderType = IoThreadHolderTypeValues[0];
  // @ts-expect-error the values are a readonly tuple of the known values
  IoThreadHolderTypeValues.push('x');
  // @ts-expect-error the tuple has two values
  const third: IoThreadHolderType = IoThreadHolderTypeValues[2];
  const parsed: IOThreadInfo = validators.IOThreadInfo.parse({});
  const strict: TypeMap['IOThreadInfo'] = strictValidators.IOThreadInfo.parse({});
  // @ts-expect-error a validator yields its type, not another
  const wrong: IoThreadHolder = validators.IOThreadInfo.parse({});
  // @ts-expect-error no validator for a type the schema lacks
  void validators.NoSuchType;
  const spec = commands['query-iothreads']?.args;
  const data = events['STOP'];
  for await (const e of client.events(['STOP'])) {
    const name: 'STOP' = e.event;
    void name;
  }
  void holders; void bad; void known; void third; void parsed; void strict; void wrong; void same; void spec; void data;
  return infos[0]?.['thread-id'] ?? 0;
}
export function onEvent(e: QapiEvent): string { return e.event; }
`;

/** Uses of a QEMU schema's JavaScript output (any release since 7.2). */
const QEMU_USAGE = `
import type { BlockdevOptions, RunState, StatusInfo, EventMap } from './index.js';
import { QapiClient, RunStateValues, validators, schemaValidators, defineRunStateValidators } from './index.js';
import type { QmpExecutor } from '${executorModule}';

export async function use(executor: QmpExecutor): Promise<boolean> {
  const client = new QapiClient(executor);
  const status: StatusInfo = await client.queryStatus();
  // @ts-expect-error query-status takes no arguments
  await client.queryStatus({ verbose: true });
  const node: BlockdevOptions = { driver: 'null-co', 'node-name': 'n0' };
  await client.blockdevAdd(node);
  // @ts-expect-error node-name is a string
  await client.blockdevAdd({ driver: 'null-co', 'node-name': 0 });
  // @ts-expect-error no such driver
  await client.blockdevAdd({ driver: 'no-such-driver' });
  const state: RunState = RunStateValues[0];
  // @ts-expect-error not a run state
  const flying: RunState = 'flying';
  const checked: StatusInfo = validators.StatusInfo.parse({ running: true, status: 'running' });
  // @ts-expect-error StatusInfo has no such member
  void checked.flying;
  const stopped: EventMap['STOP'] = undefined;
  // @ts-expect-error define functions take a registry and a kit
  defineRunStateValidators();
  void schemaValidators.validatorSet(true); void state; void flying; void stopped;
  return status.running;
}
`;

/**
 * Compiler-checked identity of the .d.ts and the TypeScript output: the
 * tables covering every type, and every value export (validators, value
 * tuples, define functions, the client class).
 */
const PARITY = `
import type * as T from '../ts/index.js';
import type * as J from './index.js';

type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends (<G>() => G extends B ? 1 : 2) ? true : false;
function same<A, B>(_proof: Equal<A, B>): void {}
same<J.TypeMap, T.TypeMap>(true);
same<J.Validators, T.Validators>(true);
same<J.CommandMap, T.CommandMap>(true);
same<J.EventMap, T.EventMap>(true);
same<J.QapiEvent, T.QapiEvent>(true);
same<typeof J, typeof T>(true);
same<J.QapiClient, T.QapiClient>(true);
`;

function cases(): Case[] {
  const qapi = parse(join(repoRoot, 'qapi/qapi-schema.json'));
  const out: Case[] = [{ label: 'qapi', schema: qapi, options: {}, usage: QAPI_USAGE }];
  if (conformance !== null) {
    // The valid cases of QEMU's test suite: odd names, every construct.
    for (const name of readFileSync(join(conformance, 'TESTS'), 'utf8').split(/\s+/)) {
      const base = name.replace(/\.json$/, '');
      if (base === '' || readFileSync(join(conformance, `${base}.err`), 'utf8') !== '') continue;
      const schema = parse(join(conformance, `${base}.json`));
      out.push({ label: `conformance/${base}`, schema, options: {}, usage: '' });
    }
  }
  if (corpus === null) return out;
  const q10 = parse(join(corpus, 'qemu-10.0/qapi/qapi-schema.json'));
  const q72 = parse(join(corpus, 'qemu-7.2/qapi/qapi-schema.json'));
  out.push({ label: 'qemu-10.0', schema: q10, options: {}, usage: QEMU_USAGE });
  out.push({ label: 'qemu-7.2', schema: q72, options: {}, usage: QEMU_USAGE });
  const oldest = { oldestSchema: q72, oldestLabel: 'QEMU 7.2' };
  out.push({ label: 'qemu-10.0, oldest 7.2', schema: q10, options: oldest, usage: QEMU_USAGE });
  return out;
}

/** Every doc comment of a file, in order. */
function docComments(text: string): string[] {
  return text.match(/\/\*\*(?:(?!\*\/)[^])*\*\//g) ?? [];
}

/**
 * Each value declaration (`export const|function|class`, class members)
 * with the doc comment right above it: `name <- doc`.
 */
function documentedValues(text: string): string[] {
  const out: string[] = [];
  const doc = /(\/\*\*(?:(?!\*\/)[^])*\*\/\n)?/.source;
  const re = new RegExp(`${doc}(?:export (?:declare )?(?:const|function|class) ([\\w$]+)|^ {2}([\\w$]+)\\()`, 'gm');
  for (const m of text.matchAll(re)) out.push(`${m[2] ?? `.${m[3]}`} <- ${(m[1] ?? '').replace(/\n\s*/g, ' ')}`);
  return out;
}

/** Names of the values the .d.ts files declare (all modules: index re-exports them). */
function declaredValues(files: ReadonlyMap<string, string>): string[] {
  const names: string[] = [];
  for (const [name, text] of files) {
    if (!name.endsWith('.d.ts')) continue;
    for (const m of text.matchAll(/^export declare (?:const|function|class) ([\w$]+)/gm)) names.push(m[1]!);
  }
  return names.sort();
}

describe('generate --language js: .d.ts and docs', () => {
  let dir = '';
  const all: (Case & { ts: Map<string, string>; js: Map<string, string> })[] = [];

  beforeAll(() => {
    for (const c of cases()) {
      const ts = generateFiles(c.schema, { ...c.options, supportImport: support });
      const js = generateFiles(c.schema, { ...c.options, supportImport: support, language: 'js' });
      all.push({ ...c, ts, js });
    }
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every .js has a .d.ts beside it, and nothing else is written', () => {
    expect(all.filter((c) => c.usage !== '').length).toBe(corpus === null ? 1 : 4);
    expect(all.length).toBeGreaterThan(conformance === null ? 0 : 10);
    for (const { label, ts, js } of all) {
      const expected = [...ts.keys()].flatMap((f) => [f.replace(/\.ts$/, '.js'), f.replace(/\.ts$/, '.d.ts')]);
      expect([...js.keys()], label).toEqual(expected);
      for (const [name, text] of js) expect(text.startsWith(`${GENERATED_HEADER}\n`), `${label}: ${name}`).toBe(true);
    }
  });

  test('the .d.ts files carry the TypeScript docs, and the .js files those of what they define', () => {
    for (const { label, ts, js } of all) {
      const tsDocs = [...ts.values()].flatMap(docComments);
      const dtsDocs = [...js].filter(([n]) => n.endsWith('.d.ts')).flatMap(([, text]) => docComments(text));
      expect(dtsDocs.length, label).toBe(tsDocs.length);
      expect(dtsDocs.sort(), label).toEqual(tsDocs.sort());
      let jsDocs = 0;
      for (const [name, text] of ts) {
        const base = name.replace(/\.ts$/, '');
        const values = documentedValues(text);
        expect(documentedValues(js.get(`${base}.js`)!), `${label}: ${base}.js`).toEqual(values);
        expect(documentedValues(js.get(`${base}.d.ts`)!), `${label}: ${base}.d.ts`).toEqual(values);
        jsDocs += docComments(js.get(`${base}.js`)!).length;
      }
      // The client's methods are documented: the bulk of what the .js has.
      const commands = (ts.get('index.ts')!.match(/^ {2}'[^']+': \{ args: /gm) ?? []).length;
      expect(jsDocs, label).toBeGreaterThan(commands);
    }
  });

  test('the .d.ts declares exactly what the .js exports at run time', async () => {
    for (const { label, schema, js, options } of all) {
      const runnable = generateFiles(schema, { ...options, supportImport: supportModuleUrl(), language: 'js' });
      const index = await importGenerated(runnable);
      expect(Object.keys(index).sort(), label).toEqual(declaredValues(js));
    }
  });

  test('a strict TypeScript consumer of the .js output gets the TypeScript types', { timeout: 240_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'qapi-ts-js-dts-'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    const rootFiles: string[] = [];
    for (const [i, { ts, js, usage }] of all.entries()) {
      const base = join(dir, `s${i}`);
      await writeGenerated(join(base, 'ts'), ts);
      await writeGenerated(join(base, 'js'), js);
      await writeFile(join(base, 'js', 'parity.ts'), PARITY);
      rootFiles.push(join(base, 'js', 'parity.ts'));
      if (usage !== '') {
        await writeFile(join(base, 'js', 'usage.ts'), usage);
        rootFiles.push(join(base, 'js', 'usage.ts'));
      }
    }
    const diagnostics = strictDiagnostics(rootFiles, { declarations: true });
    expect(diagnostics.slice(0, 20)).toEqual([]);
  });
});

describe('writing JavaScript output', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qapi-ts-js-write-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('is deterministic, rewrites only what changed and removes stale .d.ts files', async () => {
    const types = `
{ 'enum': 'Mode', 'data': [ 'on', 'off' ] }
{ 'struct': 'Thing', 'data': { 'mode': 'Mode' } }
`;
    const command = "{ 'command': 'get-thing', 'returns': 'Thing' }\n";
    const schema = types + command;
    const first = generateSnippet(schema, { language: 'js' });
    expect([...generateSnippet(schema, { language: 'js' })]).toEqual([...first]);
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'gone.d.ts'), '// generated by qapi-ts; do not edit.\nexport {};\n');
    await writeFile(join(out, 'mine.d.ts'), 'export declare const handWritten: 1;\n');
    const written = await writeGenerated(out, first);
    expect(written.written).toEqual(['builtin.js', 'builtin.d.ts', 'test.js', 'test.d.ts', 'index.js', 'index.d.ts']);
    expect(written.removed).toEqual(['gone.d.ts']);
    const again = await writeGenerated(out, generateSnippet(schema, { language: 'js' }));
    expect(again.written).toEqual([]);
    // A type's doc is in the .d.ts only; a command's in the client of both.
    const modeDocs = `##\n# @Mode:\n#\n# A mode.\n##\n${types}`;
    const modeDoc = await writeGenerated(out, generateSnippet(modeDocs + command, { language: 'js' }));
    expect(modeDoc.written).toEqual(['test.d.ts']);
    expect(await readFile(join(out, 'test.d.ts'), 'utf8')).toContain('/** A mode. */\nexport type Mode =');
    const commandDocs = `${modeDocs}##\n# @get-thing:\n#\n# Gets the thing.\n##\n${command}`;
    const commandDoc = await writeGenerated(out, generateSnippet(commandDocs, { language: 'js' }));
    expect(commandDoc.written).toEqual(['index.js', 'index.d.ts']);
    expect(await readFile(join(out, 'index.js'), 'utf8')).toContain('  /** Gets the thing. */\n  getThing(options) {');
    expect(await readFile(join(out, 'index.d.ts'), 'utf8')).toContain(
      '  /** Gets the thing. */\n  getThing(options?: ExecuteOptions): Promise<Thing>;',
    );
    // Back to TypeScript: every .js and .d.ts we wrote is removed, the hand-written one kept.
    const ts = await writeGenerated(out, generateSnippet(schema));
    expect(ts.removed.sort()).toEqual(['builtin.d.ts', 'builtin.js', 'index.d.ts', 'index.js', 'test.d.ts', 'test.js']);
    expect((await readdir(out)).sort()).toEqual(['builtin.ts', 'index.ts', 'mine.d.ts', 'test.ts']);
  });
});
