/**
 * The frontend's public API: read a schema file, check it exactly as QEMU's
 * generator does, and return the checked model (model.ts) for backends.
 */
import type { FrontendOptions } from './model.js';
import { QapiSchema } from './schema.js';

/**
 * Parses and checks the schema in `fname` and everything it includes.
 * Throws a QapiError (with QEMU's exact message) when the schema is
 * invalid. With `lenientDocs`, doc-comment problems are passed to
 * `onWarning` instead and the complete model is still built.
 */
export function parseSchema(fname: string, options: FrontendOptions = {}): QapiSchema {
  return new QapiSchema(fname, options);
}

export { QapiSchema, formatWarning } from './schema.js';
export { dumpSchema, dumpEntities, formatIfCond } from './dump.js';
export { visitSchema, visitEntity, entitiesOfKind } from './visitor.js';
export { cName } from './entities.js';
export { QapiError, QapiParseError, QapiSemError, isQapiError, DocDiagnostics } from './errors.js';
export { SourceInfo } from './source.js';
export type * from './model.js';
