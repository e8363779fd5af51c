/**
 * Validators for a schema at run time: generate in memory, transpile with
 * TypeScript, import. For tools (like transcript verification) that get a
 * schema path rather than checked-in generated code.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CheckedSchema, FrontendOptions } from '../frontend/model.js';
import type { SchemaValidators } from '../support/registry.js';
import type { QapiClientBase, QapiClientOptions, ValidatorSet } from '../support/client.js';
import type { QmpExecutor } from '../runtime/executor.js';
import type { Schema } from '../support/kit.js';
import { generateFiles, readOldestSchema, type GenerateOptions } from './generate.js';

export interface LoadOptions
  extends Omit<GenerateOptions, 'supportImport' | 'language' | 'docs' | 'oldestSchema'>, FrontendOptions {
  /** Path of the oldest supported release's schema (see GenerateRequest.oldestSchema). */
  oldestSchema?: string;
}

export interface LoadedSchema {
  /** Both strictnesses, lazily built. */
  readonly schemaValidators: SchemaValidators;
  /** Compatible type validators by QAPI type name. */
  readonly validators: Readonly<Record<string, Schema>>;
  /** Strict type validators by QAPI type name. */
  readonly strictValidators: Readonly<Record<string, Schema>>;
  /** Command and event validators for replies checked compatibly / strictly. */
  validatorSet(strict: boolean): ValidatorSet;
  /** Makes the generated (untyped here) client class on an executor. */
  createClient(executor: QmpExecutor, options?: QapiClientOptions): UntypedClient;
}

/** A generated client seen without its schema's types. */
export type UntypedClient = QapiClientBase<
  Record<string, { args: unknown; returns: unknown }>,
  Record<string, unknown>
>;

interface GeneratedIndex {
  schemaValidators: SchemaValidators;
  validators: Record<string, Schema>;
  strictValidators: Record<string, Schema>;
  [name: string]: unknown;
}

/** The support library's module URL, matching how this file is being run. */
export function supportModuleUrl(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`../support/index${ext}`, import.meta.url).href;
}

let typescript: typeof import('typescript') | undefined;

/**
 * TypeScript → JavaScript for one file. TypeScript is a development
 * dependency, loaded on first use: nothing the package exports needs it
 * (loadValidators generates JavaScript).
 */
function transpile(fileName: string, source: string): string {
  // TypeScript is CommonJS; require it.
  try {
    typescript ??= createRequire(import.meta.url)('typescript') as typeof import('typescript');
  } catch (err) {
    throw new Error(
      `qapi-ts: importing generated TypeScript (${fileName}) needs the 'typescript' package, which is not installed; ` +
        "install it, or generate with language: 'js'",
      { cause: err },
    );
  }
  const ts = typescript;
  return ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName,
  }).outputText;
}

/**
 * Transpiles generated files (`.ts` ones; `.js` ones are taken as they are,
 * `.d.ts` ones left out) (made with `supportImport: supportModuleUrl()`)
 * and imports their index. The files go to a temporary directory that is
 * removed once they are loaded.
 */
export async function importGenerated(files: ReadonlyMap<string, string>): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'qapi-ts-load-'));
  try {
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    for (const [name, source] of files) {
      if (name.endsWith('.d.ts')) continue; // types only: nothing to run
      const js = name.endsWith('.ts') ? transpile(name, source) : source;
      await writeFile(join(dir, name.replace(/\.ts$/, '.js')), js);
    }
    return (await import(pathToFileURL(join(dir, 'index.js')).href)) as Record<string, unknown>;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Parses `schemaPath`, generates its code in memory and imports it.
 * Throws the frontend's QapiError for an invalid schema, OldestSchemaError
 * for an invalid `oldestSchema`.
 */
export async function loadValidators(schemaPath: string, options: LoadOptions = {}): Promise<LoadedSchema> {
  const { parseSchema } = await import('../frontend/index.js');
  const schema = parseSchema(schemaPath, {
    lenientDocs: options.lenientDocs ?? true,
    onWarning: options.onWarning ?? (() => {}),
    qemuVersion: options.qemuVersion,
  });
  return loadSchemaValidators(schema, options);
}

/** Like loadValidators, for a schema already parsed and checked. */
export async function loadSchemaValidators(schema: CheckedSchema, options: LoadOptions = {}): Promise<LoadedSchema> {
  const oldestSchema = options.oldestSchema === undefined ? undefined : await readOldestSchema(options.oldestSchema);
  const files = generateFiles(schema, {
    ...options,
    oldestSchema,
    supportImport: supportModuleUrl(),
    language: 'js',
    declarations: false,
    docs: false,
  });
  const index = (await importGenerated(files)) as GeneratedIndex;
  const clientName = options.clientName ?? 'QapiClient';
  const Client = index[clientName] as new (e: QmpExecutor, o?: QapiClientOptions) => UntypedClient;
  return {
    schemaValidators: index.schemaValidators,
    validators: index.validators,
    strictValidators: index.strictValidators,
    validatorSet: (strict) => index.schemaValidators.validatorSet(strict),
    createClient: (executor, clientOptions) => new Client(executor, clientOptions),
  };
}
