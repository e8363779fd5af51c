/**
 * Every error the runtime raises. Each class has a stable string `code`
 * (match on that, or use `instanceof` / the `isX` guards) and all share the
 * `QmpError` root.
 *
 * | code                        | class                   | when                                             |
 * |-----------------------------|-------------------------|--------------------------------------------------|
 * | QMP_ERR_JSON                | JsonParseError          | text is not valid JSON, or nested deeper than    |
 * |                             |                         | 1024 levels (parseJson)                          |
 * | QMP_ERR_CONNECT             | QmpConnectError         | socket could not be opened / connect timed out   |
 * | QMP_ERR_GREETING            | QmpProtocolError        | connect() failed after the socket opened: no,    |
 * |                             |                         | bad or oversized greeting, hang-up, timeout,     |
 * |                             |                         | negotiation refused (the first error is `cause`) |
 * | QMP_ERR_PROTOCOL            | QmpProtocolError        | a line that is not JSON or nested deeper than    |
 * |                             |                         | 1024 levels (fatal); unknown message shape       |
 * | QMP_ERR_MESSAGE_TOO_LARGE   | QmpProtocolError        | a line longer than `maxMessageBytes` (fatal)     |
 * | QMP_ERR_UNKNOWN_REPLY       | QmpProtocolError        | a reply matching no call (reported, not fatal)   |
 * | QMP_ERR_DISCONNECTED        | QmpDisconnectedError    | connection closed while the call was pending     |
 * | QMP_ERR_TIMEOUT             | QmpTimeoutError         | the call's `timeout` elapsed                     |
 * | QMP_ERR_ABORTED             | QmpAbortError           | the call's `signal` was aborted                  |
 * | QMP_ERR_OOB_NOT_NEGOTIATED  | QmpCapabilityError      | `oob: true` without the `oob` capability         |
 * | QMP_ERR_COMMAND             | QmpCommandError         | the server answered with an error reply          |
 * | QMP_ERR_PROBE_QUERY         | ProbeQueryError         | a malformed schema probe query (probe.ts)        |
 * | QMP_ERR_INTROSPECTION       | IntrospectionError      | query-qmp-schema data that cannot be read        |
 * | QMP_ERR_ARGUMENT            | QmpArgumentError        | a request QEMU cannot parse (arguments too deep, |
 * |                             |                         | cyclic, lone surrogates, too many tokens/bytes); |
 * |                             |                         | rejected before anything is sent                 |
 * | QMP_ERR_QUEUE_FULL          | QmpQueueFullError       | too many requests waiting to be written (the     |
 * |                             |                         | server reads slower than they come); not sent    |
 *
 * "Fatal" errors close the session and reject every pending call with
 * that same error; "reported" ones go to the client's `onError` listeners
 * and the session carries on. A plain hang-up rejects each pending call
 * with its own QmpDisconnectedError (naming its command); after `quit`
 * it is an orderly end (see client.ts).
 *
 * Invalid options (a timeout that is negative, NaN or not a number, a
 * `bufferSize` that is not a positive integer…) are programmer errors:
 * TypeError (wrong type) or RangeError (bad value), never a QmpError.
 */

export type QmpErrorCode =
  | 'QMP_ERR_JSON'
  | 'QMP_ERR_CONNECT'
  | 'QMP_ERR_GREETING'
  | 'QMP_ERR_PROTOCOL'
  | 'QMP_ERR_MESSAGE_TOO_LARGE'
  | 'QMP_ERR_UNKNOWN_REPLY'
  | 'QMP_ERR_DISCONNECTED'
  | 'QMP_ERR_TIMEOUT'
  | 'QMP_ERR_ABORTED'
  | 'QMP_ERR_OOB_NOT_NEGOTIATED'
  | 'QMP_ERR_COMMAND'
  | 'QMP_ERR_PROBE_QUERY'
  | 'QMP_ERR_INTROSPECTION'
  | 'QMP_ERR_ARGUMENT'
  | 'QMP_ERR_QUEUE_FULL';

export class QmpError extends Error {
  readonly code: QmpErrorCode;
  constructor(code: QmpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Text that is not JSON; `position` is the UTF-16 offset where it went wrong. */
export class JsonParseError extends QmpError {
  readonly position: number;
  constructor(message: string, position: number, options?: { cause?: unknown }) {
    super('QMP_ERR_JSON', `${message} at position ${position}`, options);
    this.position = position;
  }
}

export class QmpConnectError extends QmpError {
  readonly target: string;
  constructor(target: string, reason: string, options?: { cause?: unknown }) {
    super('QMP_ERR_CONNECT', `cannot connect to ${target}: ${reason}`, options);
    this.target = target;
  }
}

export type QmpProtocolCode =
  'QMP_ERR_GREETING' | 'QMP_ERR_PROTOCOL' | 'QMP_ERR_MESSAGE_TOO_LARGE' | 'QMP_ERR_UNKNOWN_REPLY';

export class QmpProtocolError extends QmpError {
  declare readonly code: QmpProtocolCode;
  constructor(code: QmpProtocolCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class QmpDisconnectedError extends QmpError {
  /** The command that was pending, when the error belongs to one call. */
  readonly command: string | undefined;
  constructor(message: string, command?: string, options?: { cause?: unknown }) {
    super('QMP_ERR_DISCONNECTED', command === undefined ? message : `${command}: ${message}`, options);
    this.command = command;
  }
}

export class QmpTimeoutError extends QmpError {
  /** The command (or, for `waitForEvent`, the event) waited for. */
  readonly command: string;
  readonly timeout: number;
  /** `what` names what did not come: 'reply' (a call) or 'event' (waitForEvent). */
  constructor(command: string, timeout: number, what: 'reply' | 'event' = 'reply') {
    super('QMP_ERR_TIMEOUT', `${command}: no ${what} within ${timeout} ms`);
    this.command = command;
    this.timeout = timeout;
  }
}

export class QmpAbortError extends QmpError {
  readonly command: string;
  constructor(command: string, reason: unknown) {
    super('QMP_ERR_ABORTED', `${command}: aborted`, { cause: reason });
    this.command = command;
  }
}

export class QmpCapabilityError extends QmpError {
  readonly command: string;
  constructor(command: string, message: string) {
    super('QMP_ERR_OOB_NOT_NEGOTIATED', `${command}: ${message}`);
    this.command = command;
  }
}

/**
 * The error classes QEMU replies with (7.2 to 10.x); any other string a
 * server sends is kept as is, so the type stays open.
 */
export type QmpErrorClass =
  'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap' | (string & {});

/** The server's error reply: `{"error": {"class": ..., "desc": ...}}`. */
export class QmpCommandError extends QmpError {
  /** QMP error class, e.g. `GenericError`, `CommandNotFound`. */
  readonly errorClass: QmpErrorClass;
  readonly desc: string;
  readonly command: string;
  readonly args: Record<string, unknown> | undefined;
  constructor(command: string, errorClass: QmpErrorClass, desc: string, args?: Record<string, unknown>) {
    super('QMP_ERR_COMMAND', `${command}: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
    this.args = args;
  }
}

/** A probe query that breaks the grammar (see probe-query.ts); `step` is 0-based (0: the entry name). */
export class ProbeQueryError extends QmpError {
  readonly query: string;
  readonly step: number | null;
  readonly reason: string;
  constructor(query: string, step: number | null, reason: string) {
    super(
      'QMP_ERR_PROBE_QUERY',
      `malformed probe query '${query}': ${step === null ? '' : `step ${step + 1}: `}${reason}`,
    );
    this.query = query;
    this.step = step;
    this.reason = reason;
  }
}

/**
 * Introspection data (`query-qmp-schema`'s reply) that does not have the
 * documented shape, refers to a type it does not define, or nests
 * cyclically or too deep. `query` names the probe that ran into it, if any.
 */
export class IntrospectionError extends QmpError {
  readonly query: string | null;
  readonly reason: string;
  constructor(reason: string, query: string | null = null) {
    super(
      'QMP_ERR_INTROSPECTION',
      query === null ? `bad introspection data: ${reason}` : `bad introspection data (probing '${query}'): ${reason}`,
    );
    this.query = query;
    this.reason = reason;
  }
}

/**
 * A request that QEMU's JSON parser would not accept as one message, so it
 * is never sent. QEMU answers such input with errors that carry no `id`
 * (one or many), which could not be told apart from other calls' replies.
 */
export class QmpArgumentError extends QmpError {
  readonly command: string;
  constructor(command: string, message: string, options?: { cause?: unknown }) {
    super('QMP_ERR_ARGUMENT', `${command}: ${message}`, options);
    this.command = command;
  }
}

/**
 * A call refused because too many requests are already waiting to be
 * written: the server reads more slowly than they are issued (or has
 * stopped reading). Nothing was sent; see `maxQueuedRequests` and
 * `maxQueuedBytes`.
 */
export class QmpQueueFullError extends QmpError {
  readonly command: string;
  constructor(command: string, message: string) {
    super('QMP_ERR_QUEUE_FULL', `${command}: ${message}`);
    this.command = command;
  }
}

function guard<T extends QmpError>(cls: abstract new (...args: never[]) => T): (e: unknown) => e is T {
  return (e: unknown): e is T => e instanceof cls;
}

export const isQmpError = guard(QmpError);
export const isJsonParseError = guard(JsonParseError);
export const isQmpConnectError = guard(QmpConnectError);
export const isQmpProtocolError = guard(QmpProtocolError);
export const isQmpDisconnectedError = guard(QmpDisconnectedError);
export const isQmpTimeoutError = guard(QmpTimeoutError);
export const isQmpAbortError = guard(QmpAbortError);
export const isQmpCapabilityError = guard(QmpCapabilityError);
export const isQmpCommandError = guard(QmpCommandError);
export const isProbeQueryError = guard(ProbeQueryError);
export const isIntrospectionError = guard(IntrospectionError);
export const isQmpArgumentError = guard(QmpArgumentError);
export const isQmpQueueFullError = guard(QmpQueueFullError);
