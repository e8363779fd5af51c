/**
 * The code generator's entry points: `generateFiles` (model → file texts,
 * no I/O) and `generate` (schema file → files on disk).
 */
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isQapiError, type QapiError } from '../frontend/errors.js';
import type { CheckedSchema, SchemaEntity } from '../frontend/model.js';
import { GenContext, type GenerateOptions } from './context.js';
import { GENERATED_HEADER, type GeneratedFile } from './emitter.js';
import { isInputFileError, readInputFile, readInputPrefix } from '../read-file.js';
import { indexFile } from './client.js';
import { moduleFile } from './modules.js';

export type { GenerateOptions } from './context.js';

/**
 * Generates every output file: file name (relative) → content. JavaScript
 * output has each `.js` file followed by its `.d.ts`.
 */
export function generateFiles(schema: CheckedSchema, options: GenerateOptions = {}): Map<string, string> {
  const ctx = new GenContext(schema, options);
  const files = new Map<string, string>();
  const put = (out: GeneratedFile): void => {
    files.set(out.path, out.render(ctx.options.supportImport));
    if (out.declarations) files.set(out.declarations.path, out.declarations.render(ctx.options.supportImport));
  };
  let module: string | null = null;
  let entities: SchemaEntity[] = [];
  const flush = (): void => {
    const file = module === null ? undefined : ctx.moduleFiles.get(module);
    if (file !== undefined) put(moduleFile(ctx, file, entities));
  };
  const add = (e: SchemaEntity): void => void entities.push(e);
  // One visit: each module's entities in order, then one file per module.
  schema.visit({
    visitModule(name) {
      flush();
      module = name;
      entities = [];
    },
    visitNeeded: (e) => ctx.selection.entity(e),
    visitEnumType: add,
    visitArrayType: add,
    visitObjectType: add,
    visitAlternateType: add,
    visitCommand: add,
    visitEvent: add,
    visitEnd: flush,
  });
  put(indexFile(ctx));
  return files;
}

export interface GenerateRequest extends Omit<GenerateOptions, 'oldestSchema'> {
  /** Path of the main schema file. */
  schema: string;
  /**
   * Path of the oldest supported release's schema: what it lacks is typed
   * and validated as possibly absent (its doc comments are not checked).
   */
  oldestSchema?: string;
  /** Output directory (created if missing). */
  outDir: string;
  /** The QEMU release whose rules to read `schema` with (frontend's qemuVersion; default: the newest known). */
  qemuVersion?: string;
  /** Doc-comment problems are errors (default: warnings). */
  strictDocs?: boolean;
  /** Receives doc-comment warnings (default: written to stderr). */
  onWarning?: (message: string) => void;
}

export interface GenerateResult {
  /** All generated files (relative to outDir). */
  files: string[];
  /** Files whose content changed and were written. */
  written: string[];
  /** Stale generated files that were removed. */
  removed: string[];
}

/**
 * Parses and checks `schema`, then writes the generated files to `outDir`.
 * Throws the frontend's QapiError when the schema is invalid.
 */
export async function generate(request: GenerateRequest): Promise<GenerateResult> {
  const { parseSchema } = await import('../frontend/index.js');
  const onWarning = request.onWarning ?? ((message: string) => process.stderr.write(`${message}\n`));
  const schema = parseSchema(request.schema, {
    lenientDocs: !request.strictDocs,
    onWarning,
    qemuVersion: request.qemuVersion,
  });
  const oldestSchema = request.oldestSchema === undefined ? undefined : await readOldestSchema(request.oldestSchema);
  return writeGenerated(request.outDir, generateFiles(schema, { ...request, oldestSchema }));
}

/** The oldest release's schema (`oldestSchema`) cannot be read or is invalid. */
export class OldestSchemaError extends Error {
  override name = 'OldestSchemaError';
  readonly code = 'QAPI_TS_OLDEST_SCHEMA';

  constructor(
    /** The path given. */
    readonly path: string,
    /** The frontend's error, located in that schema's files. */
    readonly schemaError: QapiError,
  ) {
    super(`in the oldest schema ${path}:\n${schemaError.format()}`);
  }
}

export function isOldestSchemaError(value: unknown): value is OldestSchemaError {
  return value instanceof OldestSchemaError;
}

/**
 * Reads and checks the oldest release's schema; its doc comments (in
 * that release's style) are not checked. Throws OldestSchemaError.
 */
export async function readOldestSchema(path: string): Promise<CheckedSchema> {
  const { parseSchema } = await import('../frontend/index.js');
  try {
    return parseSchema(path, { lenientDocs: true });
  } catch (err) {
    if (isQapiError(err)) throw new OldestSchemaError(path, err);
    throw err;
  }
}

/**
 * Whether `path` holds exactly `content`. Only a regular file is read, and
 * no more bytes than `content` has (a longer file differs): a FIFO or a
 * device in the way is an InputFileError (`Not a regular file (a FIFO)`),
 * never waited on or read without end.
 */
function holds(path: string, content: string): boolean {
  try {
    return (
      readInputFile(path, { what: 'a generated file', maxBytes: Buffer.byteLength(content) }).toString('utf8') ===
      content
    );
  } catch (e) {
    if (isInputFileError(e) && (e.code === 'ENOENT' || e.code === 'EFBIG')) return false;
    throw e;
  }
}

/**
 * Writes `files` into `dir`, leaving files whose content is unchanged
 * alone and removing `.ts` / `.js` / `.d.ts` files that carry our header
 * but are no longer generated.
 */
export async function writeGenerated(dir: string, files: ReadonlyMap<string, string>): Promise<GenerateResult> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    if (!holds(path, content)) {
      await writeFile(path, content);
      written.push(name);
    }
  }
  const removed: string[] = [];
  const header = Buffer.byteLength(GENERATED_HEADER);
  for (const name of await readdir(dir)) {
    if (!/\.[jt]s$/.test(name) || files.has(name)) continue;
    // Only the header is read, of regular files only (a FIFO is not ours).
    let text = '';
    try {
      text = readInputPrefix(join(dir, name), header).toString('utf8');
    } catch {
      // Unreadable: not ours to remove.
    }
    if (text.startsWith(GENERATED_HEADER)) {
      await unlink(join(dir, name));
      removed.push(name);
    }
  }
  return { files: [...files.keys()], written, removed };
}
