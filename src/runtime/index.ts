/** The runtime QMP client: connect, execute, events, schema probes, typed errors, exact JSON. */
export type { ExecuteOptions, QmpEventGap, QmpEventMessage, QmpExecutor } from './executor.js';
export { QmpClient, OOB_IN_BAND_LIMIT, type ConnectOptions } from './client.js';
export {
  QmpConnection,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_REQUESTS,
  type QmpClientState,
  type SessionOptions,
} from './connection.js';
export { GuestAgentClient, GUEST_AGENT_NO_REPLY, type GuestAgentOptions } from './guest-agent.js';
export { ReconnectingQmpClient, type ReconnectOptions, type ReconnectingConnectOptions } from './reconnect.js';
export { waitForEvent, type WaitForEventOptions } from './wait.js';
export type { RecordTarget } from './recorder.js';
export { QmpEventStream, DEFAULT_EVENT_BUFFER } from './events.js';
export { LineDecoder, DEFAULT_MAX_MESSAGE_BYTES, type LineSink } from './framing.js';
export { MAX_JSON_DEPTH, parseJson, stringifyJson, type JsonValue, type StringifyOptions } from './json.js';
export {
  MAX_ARGUMENT_DEPTH,
  MAX_REQUEST_BYTES,
  MAX_REQUEST_TOKENS,
  parseGreeting,
  type QmpGreeting,
  type QmpVersion,
} from './protocol.js';
export { openSocket, parseTcpTarget, describeTarget, type QmpTarget, type OpenOptions } from './transport.js';
export {
  IntrospectedSchema,
  MAX_PROBE_DEPTH,
  type IntrospectionJsonType,
  type SchemaInfo,
  type SchemaInfoAlternate,
  type SchemaInfoArray,
  type SchemaInfoBuiltin,
  type SchemaInfoCommand,
  type SchemaInfoEnum,
  type SchemaInfoEnumMember,
  type SchemaInfoEvent,
  type SchemaInfoObject,
  type SchemaInfoObjectMember,
  type SchemaInfoObjectVariant,
} from './introspection.js';
export {
  parseProbeQuery,
  MAX_PROBE_STEPS,
  type ProbeQuery,
  type ProbeStep,
  type ProbeStepKind,
} from './probe-query.js';
export { probe, probeAll, introspect, useIntrospection, forgetIntrospection, type IntrospectOptions } from './probe.js';
export * from './errors.js';
