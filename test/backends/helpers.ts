/** Helpers for backend tests: generate from inline schema text, load the result. */
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../helpers/shared.js';
import { parseSchemaString } from '../../src/frontend/index.js';
import { generateFiles, type GenerateOptions } from '../../src/backends/generate.js';
import { importGenerated, supportModuleUrl } from '../../src/backends/load.js';
import type { Schema } from '../../src/support/kit.js';
import type { UntypedClient } from '../../src/backends/load.js';
import type { QmpExecutor } from '../../src/runtime/executor.js';
import type { SchemaValidators } from '../../src/support/registry.js';

/** Generated files for a one-file schema given as text. */
export function generateSnippet(text: string, options: GenerateOptions = {}): Map<string, string> {
  const schema = parseSchemaString(text, 'test.json', { lenientDocs: true, onWarning: () => {} });
  return generateFiles(schema, { supportImport: supportModuleUrl(), ...options });
}

export interface LoadedSnippet {
  files: Map<string, string>;
  /** The module file's text (`test.ts`). */
  text: string;
  compat: Record<string, Schema>;
  strict: Record<string, Schema>;
  validators: SchemaValidators;
  client(
    executor: QmpExecutor,
    options?: { validate?: boolean; strict?: boolean },
  ): UntypedClient & Record<string, unknown>;
}

/** Generates, transpiles and imports a schema given as text. */
export async function loadSnippet(text: string, options: GenerateOptions = {}): Promise<LoadedSnippet> {
  const files = generateSnippet(text, options);
  const index = await importGenerated(files);
  const Client = index[options.clientName ?? 'QapiClient'] as new (
    e: QmpExecutor,
    o?: object,
  ) => UntypedClient & Record<string, unknown>;
  return {
    files,
    text: files.get('test.ts') ?? '',
    compat: index.validators as Record<string, Schema>,
    strict: index.strictValidators as Record<string, Schema>,
    validators: index.schemaValidators as SchemaValidators,
    client: (executor, o) => new Client(executor, o),
  };
}

/** Issue messages (with paths) of a failed parse, or 'ok'. */
export function outcome(schema: Schema, value: unknown): string {
  const r = schema.safeParse(value);
  if (r.success) return 'ok';
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

/** A fake executor answering from a table and recording calls. */
export function fakeExecutor(
  replies: Record<string, unknown>,
  events: { event: string; data?: unknown }[] = [],
): QmpExecutor & { calls: { command: string; args?: Record<string, unknown> }[] } {
  const calls: { command: string; args?: Record<string, unknown> }[] = [];
  return {
    calls,
    async execute(command, args) {
      calls.push({ command, args });
      return replies[command];
    },
    async *events(names) {
      for (const e of events) {
        if (!names || names.includes(e.event)) yield { ...e, timestamp: { seconds: 1, microseconds: 2 } };
      }
    },
  };
}

/**
 * Diagnostics of one `tsc --strict` (and more) program over `rootFiles`, as `file:line: message`.
 * `declarations`: `.d.ts` files outside node_modules (generated ones) are checked too.
 */
export function strictDiagnostics(rootFiles: readonly string[], { declarations = false } = {}): string[] {
  const program = ts.createProgram(rootFiles, {
    // the strictest settings a consumer may use
    noUnusedLocals: true,
    noUnusedParameters: true,
    exactOptionalPropertyTypes: true,
    noPropertyAccessFromIndexSignature: true,
    noUncheckedIndexedAccess: true,
    noImplicitReturns: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: !declarations,
    types: ['node'],
    typeRoots: [join(repoRoot, 'node_modules/@types')],
  });
  const ours = (f: ts.SourceFile): boolean =>
    !f.fileName.includes('/node_modules/') && !program.isSourceFileDefaultLibrary(f);
  const diagnostics = !declarations
    ? ts.getPreEmitDiagnostics(program)
    : [
        ...program.getOptionsDiagnostics(),
        ...program.getGlobalDiagnostics(),
        ...program
          .getSourceFiles()
          .filter(ours)
          .flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
      ];
  return diagnostics.map((d) => {
    const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
