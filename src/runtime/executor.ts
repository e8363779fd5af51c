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
}

export interface QmpEventMessage {
  event: string;
  data?: unknown;
  timestamp: { seconds: number; microseconds: number };
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
