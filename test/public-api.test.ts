/**
 * The package as users import it: the built output through the `exports`
 * map (self-reference by name), not the sources; and the packed tarball
 * installed where only its dependency (zod) is, TypeScript nowhere.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/shared.js';

const built = existsSync(join(repoRoot, 'dist/src/index.js'));
if (!built && process.env.CI) throw new Error('CI: dist/ is missing (npm test builds it first)');

describe.skipIf(!built)('package exports', () => {
  it("'qapi-ts' exposes the frontend, the generator, the runtime and the generated client", async () => {
    const api = await import('qapi-ts');
    for (const name of [
      'parseSchema',
      'dumpSchema',
      'generate',
      'loadValidators',
      'QmpClient',
      'QapiClient',
      'parseJson',
      'generateIntrospection',
      'inferDefines',
      'probe',
      'probeAll',
      'schemaFromIntrospection',
      'fetchIntrospection',
      'compareSchemaWithIntrospection',
      'checkCommandArguments',
    ]) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    // Doc layout is not what this test is about (qapi/ is checked elsewhere).
    const schema = api.parseSchema(join(repoRoot, 'qapi/qapi-schema.json'), { lenientDocs: true, onWarning: () => {} });
    expect(schema.lookupType('IOThreadInfo')?.meta).toBe('struct');
    // The generated validator of query-iothreads replies, holders optional.
    const ok = api.IOThreadInfoSchema.safeParse({
      id: 'io0',
      'thread-id': 4242,
      'poll-max-ns': 32768,
      'poll-grow': 0,
      'poll-shrink': 0,
      'aio-max-batch': 0,
      holders: [
        { type: 'qom', path: '/machine/peripheral/disk0/virtio-backend' },
        { type: 'block-node', 'node-name': 'exp-node' },
      ],
    });
    expect(ok.success).toBe(true);
    expect(api.IOThreadInfoSchema.safeParse({ id: 'io0' }).success).toBe(false);
  });

  it("'qapi-ts/runtime' and 'qapi-ts/support' resolve on their own", async () => {
    const runtime = await import('qapi-ts/runtime');
    expect(typeof runtime.QmpClient.connect).toBe('function');
    expect(typeof runtime.GuestAgentClient.connect).toBe('function');
    expect(typeof runtime.ReconnectingQmpClient.connect).toBe('function');
    expect(typeof runtime.waitForEvent).toBe('function');
    expect(runtime.isQmpQueueFullError(new runtime.QmpQueueFullError('x', 'full'))).toBe(true);
    expect(runtime.parseJson('18446744073709551552')).toBe(18446744073709551552n);
    const schema = new runtime.IntrospectedSchema([
      { name: 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' },
    ]);
    expect(await runtime.probe(schema, 'query-status')).toBe(true);
    expect(() => runtime.parseProbeQuery('query-status//x')).toThrow(runtime.ProbeQueryError);
    const support = await import('qapi-ts/support');
    expect(typeof support.QapiClientBase).toBe('function');
  });
});

describe.skipIf(!built)('the packed package, installed without TypeScript', () => {
  let tmp = '';
  let app = '';
  let files: string[] = [];

  /** Runs `node ARGS` in the app folder; stdout, stderr and status. */
  function node(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const run = spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 30_000 });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-pack-'));
    // The build is there already (pretest): pack what it made.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed[0]!.files.map((f) => f.path);
    // What `npm install qapi-ts` makes: the package, its bin link, zod.
    app = join(tmp, 'app');
    const modules = join(app, 'node_modules');
    mkdirSync(join(modules, 'qapi-ts'), { recursive: true });
    mkdirSync(join(modules, '.bin'));
    execFileSync('tar', [
      '-xzf',
      join(tmp, packed[0]!.filename),
      '-C',
      join(modules, 'qapi-ts'),
      '--strip-components=1',
    ]);
    symlinkSync(join(repoRoot, 'node_modules/zod'), join(modules, 'zod'));
    symlinkSync('../qapi-ts/bin/qapi-ts', join(modules, '.bin/qapi-ts'));
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
    writeFileSync(
      join(app, 'schema.json'),
      "{ 'struct': 'Point', 'data': { 'x': 'int', 'y': 'int' } }\n{ 'command': 'get-point', 'returns': 'Point' }\n",
    );
    const session = [
      { dir: 'client', msg: { execute: 'get-point', id: 1 } },
      { dir: 'server', msg: { return: { x: 1, y: 2 }, id: 1 } },
    ];
    writeFileSync(join(app, 'session.jsonl'), session.map((m) => JSON.stringify(m) + '\n').join(''));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('ships the build, the launcher, our schema (the default of serve), README and LICENSE: no sources, no tests', () => {
    expect(files).toContain('LICENSE');
    expect(files).toContain('README.md');
    expect(files).toContain('bin/qapi-ts');
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/generated/index.js');
    expect(files).toContain('qapi/qapi-schema.json');
    const stray = files.filter(
      (f) =>
        !/^(LICENSE|README\.md|package\.json|bin\/qapi-ts|qapi\/[a-z-]+\.json|docs\/[a-z-]+\.md)$/.test(f) &&
        !/^dist\/(src|generated)\/.*\.(js|d\.ts)$/.test(f) &&
        // The CLI's bundle (scripts/bundle-cli.mjs).
        !/^dist\/bundle\/(cli\/[\w-]+\.js|support\/index\.js)$/.test(f),
    );
    expect(stray).toEqual([]);
    expect(files).toContain('dist/bundle/cli/main.js');
    expect(readFileSync(join(app, 'node_modules/qapi-ts/LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} qapi-ts contributors\n/,
    );
  });

  it('has no TypeScript to find', () => {
    const r = node('-e', "require.resolve('typescript')");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Cannot find module 'typescript'");
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/qapi-ts/package.json'), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    expect(Object.keys(manifest.dependencies!)).toEqual(['zod']);
    expect(manifest.scripts!.prepare).toBeUndefined();
  });

  it('every relative link in the shipped README and docs points at a file the package ships', () => {
    const root = join(app, 'node_modules/qapi-ts');
    const pages = ['README.md', ...files.filter((f) => f.startsWith('docs/'))];
    expect(pages.length).toBeGreaterThan(5);
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // a URL
        const path = join(dirname(join(root, page)), target!);
        if (!existsSync(path)) broken.push(`${page} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('require() and import both load every entry point, without warnings', () => {
    const names = "['parseSchema', 'generate', 'loadValidators', 'QmpClient', 'QapiClient']";
    const cjs = node(
      '-e',
      `const q = require('qapi-ts'); const r = require('qapi-ts/runtime');
       require('qapi-ts/support'); require('qapi-ts/generated');
       console.log(${names}.map((n) => typeof q[n]).join(' '), typeof r.QmpClient)`,
    );
    expect(cjs).toEqual({ status: 0, stdout: 'function function function function function function\n', stderr: '' });
    const esm = node(
      '--input-type=module',
      '-e',
      `import * as q from 'qapi-ts'; import { parseJson } from 'qapi-ts/runtime';
       console.log(${names}.map((n) => typeof q[n]).join(' '), parseJson('18446744073709551552'))`,
    );
    expect(esm).toEqual({
      status: 0,
      stdout: 'function function function function function 18446744073709551552n\n',
      stderr: '',
    });
  });

  it.each([
    ['commonjs', 'node10'],
    ['nodenext', 'nodenext'],
    ['esnext', 'bundler'],
  ])(
    'a TypeScript consumer (module %s, moduleResolution %s) finds the types of every entry point',
    (module, resolution) => {
      const dir = join(tmp, `consumer-${resolution}`);
      mkdirSync(dir);
      symlinkSync(join(app, 'node_modules'), join(dir, 'node_modules'));
      // Wrong on purpose: a string where a number is wanted proves the types were found (not `any`).
      writeFileSync(
        join(dir, 'use.ts'),
        `import { QmpClient, type ConnectOptions } from 'qapi-ts/runtime';
import { inspectIothreads } from 'qapi-ts/iothreads';
import { QmpTestServer } from 'qapi-ts/testing';
import { validators } from 'qapi-ts/generated';
import { parseSchema } from 'qapi-ts';
export const used = [QmpClient, inspectIothreads, QmpTestServer, validators, parseSchema];
export const options: ConnectOptions = { timeout: 'soon' };
`,
      );
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module,
            moduleResolution: resolution,
            target: 'es2022',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: [],
          },
          files: ['use.ts'],
        }),
      );
      const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', dir], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
      // Exactly the one planted error: every import resolved to real types.
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/use\.ts\(7,.*error TS2322: Type 'string' is not assignable to type 'number'/);
    },
  );

  it('the command line checks, generates JavaScript and verifies a session', () => {
    const bin = join('node_modules', '.bin', 'qapi-ts');
    const run = (...args: string[]) => {
      const r = spawnSync(bin, args, { cwd: app, encoding: 'utf8', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    expect(run('check', 'schema.json')).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(run('generate', 'schema.json', '-o', 'out', '--language', 'js', '-q').status).toBe(0);
    const generated = node(
      '--input-type=module',
      '-e',
      `import { validators } from './out/index.js';
       console.log(validators.Point.safeParse({ x: 1, y: 2 }).success, validators.Point.safeParse({ x: 'a' }).success)`,
    );
    expect(generated).toEqual({ status: 0, stdout: 'true false\n', stderr: '' });
    // A TypeScript consumer of that JavaScript finds its types in the .d.ts files (and, through
    // them, those of qapi-ts/support), and so does an editor checking a JavaScript consumer:
    // exactly the three errors planted on purpose.
    writeFileSync(
      join(app, 'use-generated.ts'),
      `import { QapiClient, validators, type Point } from './out/index.js';
import type { QmpExecutor } from 'qapi-ts/support';
export async function use(executor: QmpExecutor): Promise<Point> {
  const point: Point = await new QapiClient(executor).getPoint();
  const x: string = point.x;
  await new QapiClient(executor).execute('no-such-command');
  void x;
  return validators.Point.parse(point);
}
`,
    );
    writeFileSync(
      join(app, 'editor.js'),
      `import { QapiClient } from './out/index.js';
/** @param {import('qapi-ts/support').QmpExecutor} executor */
export async function use(executor) {
  /** @type {boolean} */
  const y = (await new QapiClient(executor).getPoint()).y;
  return y;
}
`,
    );
    const compilerOptions = {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      allowJs: true,
      checkJs: true,
    };
    const roots = ['use-generated.ts', 'editor.js'];
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: roots }));
    const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', app], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/editor\.js\(5,.*TS2322: Type 'number \| bigint' is not assignable to type 'boolean'/);
    expect(errors[1]).toMatch(/use-generated\.ts\(5,.*TS2322: Type 'number \| bigint' is not assignable to .*string/);
    expect(errors[2]).toMatch(/use-generated\.ts\(6,.*error TS2345: Argument of type '"no-such-command"'/);
    const verify = run('verify', '--schema', 'schema.json', 'session.jsonl');
    expect(verify.status).toBe(0);
    expect(verify.stdout).toContain('2 messages, 2 valid, 0 invalid');
  });

  it('importing generated TypeScript says TypeScript is missing (internal API)', () => {
    const r = node(
      '--input-type=module',
      '-e',
      `import { importGenerated } from './node_modules/qapi-ts/dist/src/backends/load.js';
       await importGenerated(new Map([['index.ts', 'export const x: number = 1;']]));`,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "qapi-ts: importing generated TypeScript (index.ts) needs the 'typescript' package, which is not installed; " +
        "install it, or generate with language: 'js'",
    );
  });

  it('loadValidators builds validators at run time', () => {
    const r = node(
      '--input-type=module',
      '-e',
      `import { loadValidators } from 'qapi-ts';
       const loaded = await loadValidators('schema.json');
       console.log(loaded.validators.Point.safeParse({ x: 1, y: 2 }).success,
         loaded.strictValidators.Point.safeParse({ x: 1 }).success)`,
    );
    expect(r).toEqual({ status: 0, stdout: 'true false\n', stderr: '' });
  });
});
