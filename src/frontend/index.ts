/**
 * The frontend's public API: read a schema file, check it exactly as QEMU's
 * generator does, and return the checked model (model.ts) for backends.
 */
import { QapiSchema, type SchemaOptions } from './schema.js';

/**
 * Parses and checks the schema in `fname` and everything it includes.
 * Throws a QapiError (with QEMU's exact message) when the schema is
 * invalid. With `lenientDocs`, doc-comment problems are passed to
 * `onWarning` instead and the complete model is still built.
 * `qemuVersion` names the QEMU release whose rules to apply (doc
 * comments, checks, model, dump; see release.ts; by default QEMU 11.1's).
 */
export function parseSchema(fname: string, options: SchemaOptions = {}): QapiSchema {
  return new QapiSchema(fname, options);
}

/**
 * Like parseSchema, for schema text not in a file: `text` is read as the
 * content of `fname` (which names it in messages and anchors includes).
 */
export function parseSchemaString(text: string, fname = 'schema.json', options: SchemaOptions = {}): QapiSchema {
  return new QapiSchema(fname, options, text);
}

export {
  QapiSchema,
  formatWarning,
  DEFAULT_QEMU_VERSION,
  OLDEST_QEMU_VERSION,
  normalizeQemuVersion,
  qemuVersionProblem,
} from './schema.js';
export type { SchemaOptions, QemuVersion } from './schema.js';
export { rulesFor, KNOWN_RULE_SETS, newerReleaseNote } from './release.js';
export type { ReleaseRules, RuleSet } from './release.js';
export { dumpSchema, dumpEntities, formatIfCond } from './dump.js';
export { visitSchema, visitEntity, entitiesOfKind } from './visitor.js';
export { cName } from './entities.js';
export { QapiError, QapiParseError, QapiSemError, isQapiError, DocDiagnostics } from './errors.js';
export { SourceInfo } from './source.js';
export type * from './model.js';
