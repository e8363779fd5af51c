/**
 * qapi-ts: QAPI schema frontend, code generator, generated client for our
 * own schema (qapi/), and the runtime QMP client.
 */

// Frontend: read and check a schema as QEMU does; the model backends read.
export type * from './frontend/model.js';
export {
  parseSchema,
  parseSchemaString,
  dumpSchema,
  dumpEntities,
  visitSchema,
  QapiError,
  QapiParseError,
  QapiSemError,
  isQapiError,
  type SchemaOptions,
} from './frontend/index.js';

// IOThread holders on every QEMU (also available alone as 'qapi-ts/iothreads').
export * from './iothreads/index.js';

// Runtime QMP client (also available alone as 'qapi-ts/runtime').
export * from './runtime/index.js';

// Code generator (backends: code, query-qmp-schema introspection) and the code
// generated for qapi/ (query-iothreads & co).
export {
  generate,
  generateFiles,
  loadValidators,
  generateIntrospection,
  inferDefines,
  type GenerateOptions,
  type InferredDefines,
  type IntrospectionOptions,
  type GenerateRequest,
  type GenerateResult,
  type LoadOptions,
  type LoadedSchema,
} from './backends/index.js';
// A QEMU's own schema (query-qmp-schema) as a schema source.
export {
  schemaFromIntrospection,
  introspectionSchemaText,
  fetchIntrospection,
  compareSchemaWithIntrospection,
  checkCommandArguments,
  DEFAULT_OPEN_COMMANDS,
  type IntrospectionSchemaOptions,
  type IntrospectionSource,
  type SchemaAgreement,
} from './introspection/index.js';
export * as qapi from '../generated/index.js';
export {
  QapiClient,
  validators as qapiValidators,
  strictValidators as qapiStrictValidators,
  type IOThreadInfo,
  type IoThreadHolder,
  type IoThreadHolderType,
} from '../generated/index.js';
import { validators as generatedValidators } from '../generated/index.js';
/** Validator of `query-iothreads` reply elements (compatible with newer QEMU). */
export const IOThreadInfoSchema = generatedValidators.IOThreadInfo;
/** Validator of an IOThread holder (compatible with newer QEMU). */
export const IoThreadHolderSchema = generatedValidators.IoThreadHolder;
export {
  QapiValidationError,
  isQapiValidationError,
  type QapiClientOptions,
  type UnknownValue,
  type ValidationProblem,
} from './support/index.js';
