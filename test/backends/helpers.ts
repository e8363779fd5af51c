/** Helpers for backend tests: generate from inline schema text, load the result. */
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

// Moved to test/helpers/tsc.ts (the one compiler setup of the tests); kept
// here for code written against the old place.
export { strictDiagnostics } from '../helpers/tsc.js';
