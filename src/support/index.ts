/**
 * Library code that generated code imports (package export
 * `qapi-ts/support`). Generated files import nothing else at run time.
 */
export { z } from 'zod';
export { INT_RANGES, intValidator, type Int64Mode, type IntKind } from './ints.js';
export { MAX_NESTING } from './nesting.js';
export { ValidatorKit, type AlternateKind, type KitOptions, type Schema, type Shape, type Thunk } from './kit.js';
export {
  ValidatorRegistry,
  SchemaValidators,
  buildRegistry,
  type CommandSpec,
  type DefineModule,
  type EventSpec,
  type SchemaDescription,
} from './registry.js';
export {
  QapiClientBase,
  check,
  type ArgsParameters,
  type CommandTable,
  type CommandValidators,
  type EventTable,
  type ProbeQueryFor,
  type QapiClientOptions,
  type Timestamp,
  type TypedEvent,
  type UnknownEvent,
  type ValidatorSet,
} from './client.js';
export {
  QapiValidationError,
  formatPath,
  isQapiValidationError,
  problemsOf,
  type ValidationProblem,
  type ValidationTarget,
} from './errors.js';
export type { UnknownBranch, UnknownValue } from './unknown.js';
export { SUPPORT_SYMBOLS, type SupportSymbol, type SupportValue } from './symbols.js';
export type { ExecuteOptions, QmpEventMessage, QmpExecutor } from '../runtime/executor.js';
