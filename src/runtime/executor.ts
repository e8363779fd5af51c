/**
 * The small interface that generated client code runs on.
 *
 * The runtime QMP client (client.ts) implements it; tests and users may
 * implement it too (a recorded session, a proxy…). Generated code imports
 * only this type and the helpers in src/support, never the socket code.
 */

export interface ExecuteOptions {
  /** Milliseconds before the call is rejected with a timeout error (Infinity: never). */
  timeout?: number;
  /** Aborting rejects the call; a late reply is dropped. */
  signal?: AbortSignal;
  /** Send as `exec-oob` (needs the `oob` capability negotiated). */
  oob?: boolean;
  /**
   * The command sends no reply when it succeeds (QAPI `'success-response':
   * false`, e.g. the guest agent's `guest-shutdown`): the call resolves with
   * `undefined` as soon as the request is written, without waiting. An
   * error reply that comes later is reported to the session's `onError`
   * listeners. Generated clients pass it for such commands.
   */
  noReply?: boolean;
}

/** Where a reconnecting session lost events: set on the first event after a reconnect. */
export interface QmpEventGap {
  /** When the connection was lost. */
  readonly lostAt: Date;
  /** When the new session was ready. */
  readonly reconnectedAt: Date;
}

export interface QmpEventMessage {
  event: string;
  data?: unknown;
  timestamp: { seconds: number; microseconds: number };
  /**
   * Only on a reconnecting client's streams: present on the first event a
   * stream delivers after the connection was lost and made again. Events
   * sent while there was no connection are lost.
   */
  gap?: QmpEventGap;
}

export interface QmpExecutor {
  /**
   * Runs one command and resolves with the reply's `return` value
   * (decoded exactly: integers beyond 2^53 arrive as bigint). A QMP error
   * reply rejects with the runtime's typed command error.
   */
  execute(command: string, args?: Record<string, unknown>, options?: ExecuteOptions): Promise<unknown>;
  /** Events as they arrive, optionally only those with the given names. */
  events(names?: readonly string[], options?: { signal?: AbortSignal }): AsyncIterable<QmpEventMessage>;
}
