/** Backends: TypeScript types, zod validators and the typed client. */
export {
  generate,
  generateFiles,
  writeGenerated,
  readOldestSchema,
  OldestSchemaError,
  isOldestSchemaError,
  type GenerateOptions,
  type GenerateRequest,
  type GenerateResult,
} from './generate.js';
export { GENERATED_HEADER } from './emitter.js';
export { camelCase, pascalCase, propertyKey, safeIdentifier } from './names.js';
export { evalIfCondition, formatIfCondition, type SelectionOptions } from './selection.js';
export {
  importGenerated,
  loadValidators,
  supportModuleUrl,
  type LoadOptions,
  type LoadedSchema,
  type UntypedClient,
} from './load.js';
export { generateIntrospection, inferDefines, type IntrospectionOptions, type InferredDefines } from './introspect.js';
export { compareSchemas, type SchemaDiff, type UntaggedMember } from './compat.js';
export type { Absence } from './presence.js';
