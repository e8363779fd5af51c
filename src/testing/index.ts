/**
 * `qapi-ts/testing`: a QMP server built from a QAPI schema, for testing
 * code that talks to QEMU without a QEMU. See docs/test-server.md.
 */
export { QmpTestServer, DEFAULT_VERSION, type TestServerOptions, type ServerPlugin } from './server.js';
export { ServerSchema, defaultSchemaPath, type ServerSchemaOptions } from './schema.js';
export { Session, type SessionState, type Greeting, type QmpVersionTriple, type ReceivedCommand } from './session.js';
export {
  Rule,
  type ArgsMatcher,
  type CallContext,
  type EmitOptions,
  type EventArgs,
  type Handler,
  type HandlerArgs,
  type HandlerResult,
  type UntypedCommands,
  type UntypedEvents,
} from './script.js';
export { faults, type Fault, type FaultName } from './faults.js';
export { Replay, type RecordedCommand, type ReplayOptions } from './replay.js';
export { checkArguments, type ArgumentCheck, type ArgumentOptions } from './arguments.js';
export { memoryPair, OUTPUT_HIGH_WATER, type ListenTarget } from './transport.js';
export * from './errors.js';
export {
  holderTrackingQemu,
  DEMO_MACHINE,
  SIMULATED_VERSION,
  type BootCommand,
  type SimulationOptions,
  type SimulationPlugin,
} from './simulate/index.js';
