/**
 * A QEMU's own schema (its `query-qmp-schema` reply) as a schema source:
 * the model made from it, fetching it, schema files checked against it,
 * and arguments checked against it.
 */
export {
  schemaFromIntrospection,
  introspectionSchemaText,
  camelName,
  DEFAULT_OPEN_COMMANDS,
  INTROSPECTION_FNAME,
  type IntrospectionSchemaOptions,
  type IntrospectionSchemaText,
} from './schema.js';
export {
  fetchIntrospection,
  readIntrospectionFile,
  QEMU_PROBE_ARGS,
  type IntrospectionSource,
  type FetchOptions,
} from './fetch.js';
export { compareSchemaWithIntrospection, type SchemaAgreement } from './combine.js';
export { checkCommandArguments } from './arguments.js';
