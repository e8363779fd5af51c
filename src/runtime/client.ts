/**
 * QmpClient: one QMP session.
 *
 *   await using qmp = await QmpClient.connect({ path: '/run/qemu.qmp' }, { oob: true });
 *   const status = await qmp.execute('query-status');
 *
 * - Every call gets a fresh integer id; replies are matched by id, so any
 *   number of calls may be in flight (with `oob` negotiated QEMU may answer
 *   out of order).
 * - A call's timeout or abort rejects that call only; its late reply is
 *   dropped quietly. A reply matching no call at all is reported to
 *   `onError` listeners (QMP_ERR_UNKNOWN_REPLY) and otherwise ignored.
 * - A malformed, oversized or too deeply nested line from the server is
 *   fatal: the connection is closed and every pending call rejects with
 *   that QmpProtocolError. Any other loss of the connection rejects every
 *   pending call with QmpDisconnectedError, at once.
 * - `connect()` fails with QMP_ERR_GREETING for anything that goes wrong
 *   once the socket is open (the first error is kept as `cause`).
 * - After `quit` is answered (or the connection drops while it is
 *   pending: QEMU's reply races its exit) the hang-up is an orderly end:
 *   event iterators finish normally.
 * - Requests QEMU could not parse as one message are refused before
 *   sending (QmpArgumentError, see protocol.ts), so every command gets
 *   exactly one reply.
 * - Events: `events(names?)` (async iterator, see events.ts for buffering
 *   and overflow) and `onEvent(listener, names?)` callbacks.
 */
import type { Duplex } from 'node:stream';
import type { ExecuteOptions, QmpEventMessage, QmpExecutor } from './executor.js';
import {
  QmpAbortError,
  QmpCapabilityError,
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { QmpEventStream } from './events.js';
import { LineDecoder, type LineSink } from './framing.js';
import { parseJson } from './json.js';
import { checkPositiveInteger, checkTimeout } from './options.js';
import { classify, describe, encodeCommand, parseGreeting, type QmpGreeting } from './protocol.js';
import { deadline, type Deadline } from './timers.js';
import { describeTarget, openSocket, type QmpTarget } from './transport.js';

export interface ConnectOptions {
  /** Milliseconds for connect + greeting + negotiation together (default 10000; Infinity: none). */
  timeout?: number;
  signal?: AbortSignal;
  /** Ask for out-of-band execution; enabled only when the server offers it. */
  oob?: boolean;
  /** Longest accepted server line in bytes (default 16 MiB). */
  maxMessageBytes?: number;
  /** Timeout applied to calls that give none (default: none). */
  defaultTimeout?: number;
}

/** Checks the numbers in `options` (TypeError / RangeError); returns the connect timeout. */
function checkConnectOptions(options: ConnectOptions): number {
  checkPositiveInteger(options.maxMessageBytes, 'maxMessageBytes');
  checkTimeout(options.defaultTimeout, 'defaultTimeout');
  return checkTimeout(options.timeout, 'timeout') ?? DEFAULT_CONNECT_TIMEOUT;
}

export type QmpClientState = 'greeting' | 'negotiating' | 'ready' | 'closed';

interface Pending {
  command: string;
  args: Record<string, unknown> | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  timer: Deadline | undefined;
  signal: AbortSignal | undefined;
}

/** The pending calls that share one AbortSignal, and the one listener they need. */
interface SignalCalls {
  readonly ids: Set<number>;
  readonly onAbort: () => void;
}

type EventListener = (event: QmpEventMessage) => void;
type ErrorListener = (error: unknown) => void;

/** Ids of calls given up on, so their late replies are dropped quietly. */
const ABANDONED_LIMIT = 65_536;
const DEFAULT_CONNECT_TIMEOUT = 10_000;

export class QmpClient implements QmpExecutor, AsyncDisposable {
  /** Server's greeting; set once the session is up. */
  greeting!: QmpGreeting;
  /** Whether `oob` was negotiated, so `{ oob: true }` calls may be sent. */
  oobEnabled = false;
  /** Replies that matched no call (neither pending nor given up on). */
  unknownReplies = 0;

  private state: QmpClientState = 'greeting';
  /** Ids run 1, 2, 3…; an id is used again once its call's reply is in (see allocateId). */
  private highestId = 0;
  private readonly freeIds: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly abandoned = new Set<number>();
  private readonly bySignal = new Map<AbortSignal, SignalCalls>();
  private readonly streams = new Set<QmpEventStream>();
  private readonly eventListeners = new Set<{ names: ReadonlySet<string> | null; fn: EventListener }>();
  private readonly errorListeners = new Set<ErrorListener>();
  private readonly decoder: LineDecoder;
  private outbox: string[] = [];
  private flushQueued = false;
  private closeError: QmpError | undefined;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private greetingWaiter: { resolve: (g: unknown) => void; reject: (e: unknown) => void } | undefined;
  private readonly defaultTimeout: number | undefined;
  /** `quit` was answered: the coming hang-up is expected. */
  private quitAnswered = false;

  private constructor(private readonly stream: Duplex, options: ConnectOptions) {
    this.defaultTimeout = options.defaultTimeout;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    const sink: LineSink = { line: (text) => this.onLine(text), fail: (e) => this.fatal(e) };
    this.decoder = new LineDecoder(sink, options.maxMessageBytes);
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.on('error', (err: Error) => this.shutdown(new QmpDisconnectedError(`connection error: ${err.message}`, undefined, { cause: err })));
    stream.on('close', () => this.shutdown(new QmpDisconnectedError('connection closed by the server')));
    stream.on('end', () => this.shutdown(new QmpDisconnectedError('connection closed by the server')));
  }

  /** Opens a socket, reads the greeting and negotiates capabilities. */
  static async connect(target: QmpTarget, options: ConnectOptions = {}): Promise<QmpClient> {
    const timeout = checkConnectOptions(options);
    const started = Date.now();
    const socket = await openSocket(target, { timeout, signal: options.signal });
    const left = Math.max(1, timeout - (Date.now() - started));
    return QmpClient.overStream(socket, { ...options, timeout: left }, describeTarget(target));
  }

  /**
   * Runs a session over an already open stream (a socket, an in-memory
   * pair…). Any failure before the session is ready (no greeting in time,
   * one that is not JSON, too large or not a greeting, a hang-up, refused
   * negotiation) rejects with QMP_ERR_GREETING, the original error as its
   * `cause`; the signal's abort rejects with QMP_ERR_ABORTED.
   */
  static async overStream(stream: Duplex, options: ConnectOptions = {}, where = 'stream'): Promise<QmpClient> {
    const timeout = checkConnectOptions(options);
    const client = new QmpClient(stream, options);
    const signal = options.signal;
    let timer: Deadline | undefined;
    let phase = 'waiting for the QMP greeting';
    const onAbort = (): void => client.shutdown(new QmpAbortError('connect', signal?.reason));
    try {
      if (signal?.aborted) throw new QmpAbortError('connect', signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = deadline(timeout, () => {
        client.shutdown(new QmpProtocolError('QMP_ERR_GREETING', `no QMP greeting and negotiation within ${timeout} ms`));
      });
      const greeting = parseGreeting(await client.waitGreeting());
      client.greeting = greeting;
      phase = 'negotiating capabilities';
      const enable = options.oob && greeting.capabilities.includes('oob') ? ['oob'] : [];
      try {
        await client.send('qmp_capabilities', enable.length ? { enable } : undefined, undefined);
      } catch (e) {
        if (e instanceof QmpCommandError) {
          throw new QmpProtocolError('QMP_ERR_GREETING', `capabilities negotiation refused: ${e.errorClass}: ${e.desc}`, { cause: e });
        }
        throw e;
      }
      if (client.state === 'closed') throw client.closeError ?? new QmpDisconnectedError('connection closed');
      client.oobEnabled = enable.length > 0;
      client.state = 'ready';
      return client;
    } catch (e) {
      const failure = e instanceof QmpAbortError ? e : greetingFailure(e, `${where}: ${phase}`);
      client.shutdown(failure);
      throw failure;
    } finally {
      timer?.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  get connectionState(): QmpClientState {
    return this.state;
  }

  /** Calls awaiting a reply (0 when idle; tests check nothing leaks). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Resolves once the connection is gone, for whatever reason. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Runs `command`. A `timeout` that is not a number ≥ 0 (or Infinity)
   * rejects with a TypeError / RangeError, and a request QEMU could not
   * parse as one message with QmpArgumentError; neither sends anything.
   */
  execute(command: string, args?: Record<string, unknown>, options?: ExecuteOptions): Promise<unknown> {
    if (this.state !== 'ready' && this.state !== 'closed') {
      return Promise.reject(new QmpDisconnectedError('session is not ready yet', command));
    }
    return this.send(command, args, options);
  }

  private send(command: string, args: Record<string, unknown> | undefined, options: ExecuteOptions | undefined): Promise<unknown> {
    let timeout: number | undefined;
    try {
      timeout = checkTimeout(options?.timeout, 'timeout') ?? this.defaultTimeout;
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.state === 'closed') {
      return Promise.reject(new QmpDisconnectedError('connection is closed', command, { cause: this.closeError }));
    }
    const oob = options?.oob === true;
    if (oob && !this.oobEnabled) {
      return Promise.reject(
        new QmpCapabilityError(command, "out-of-band execution needs the 'oob' capability, which was not negotiated"),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new QmpAbortError(command, signal.reason));
    const id = this.allocateId();
    let line: string;
    try {
      line = encodeCommand(command, args, id, oob);
    } catch (e) {
      this.freeIds.push(id);
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { command, args, resolve, reject, timer: undefined, signal };
      p.timer = deadline(timeout, () => this.giveUp(id, new QmpTimeoutError(command, timeout as number)));
      if (signal !== undefined) this.watchSignal(signal, id);
      this.pending.set(id, p);
      this.write(line);
    });
  }

  /**
   * QEMU reads QMP input one byte per main-loop turn, so every byte of a
   * request costs server time: ids stay short by reusing those whose reply
   * has arrived. An id is free again only after its reply, never while a
   * given-up call's late reply may still come.
   */
  private allocateId(): number {
    return this.freeIds.pop() ?? ++this.highestId;
  }

  /** Rejects one pending call and remembers its id so a late reply is ignored. */
  giveUp(id: number, error: QmpError): void {
    const p = this.take(id);
    if (p === undefined) return;
    this.abandoned.add(id);
    if (this.abandoned.size > ABANDONED_LIMIT) {
      // Forget the oldest; its id is retired for good, not reused.
      const oldest = this.abandoned.values().next().value as number;
      this.abandoned.delete(oldest);
    }
    p.reject(error);
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    p.timer?.cancel();
    if (p.signal !== undefined) this.unwatchSignal(p.signal, id);
    return p;
  }

  /**
   * Calls that share a signal share one 'abort' listener, so any number of
   * calls may be in flight with one signal (Node warns from eleven
   * listeners on one signal up).
   */
  private watchSignal(signal: AbortSignal, id: number): void {
    let calls = this.bySignal.get(signal);
    if (calls === undefined) {
      const ids = new Set<number>();
      const onAbort = (): void => {
        this.bySignal.delete(signal);
        for (const callId of ids) {
          const command = this.pending.get(callId)?.command ?? 'command';
          this.giveUp(callId, new QmpAbortError(command, signal.reason));
        }
      };
      calls = { ids, onAbort };
      this.bySignal.set(signal, calls);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    calls.ids.add(id);
  }

  private unwatchSignal(signal: AbortSignal, id: number): void {
    const calls = this.bySignal.get(signal);
    if (calls === undefined) return;
    calls.ids.delete(id);
    if (calls.ids.size === 0) {
      this.bySignal.delete(signal);
      signal.removeEventListener('abort', calls.onAbort);
    }
  }

  // Requests issued in the same tick go out in one write.
  private write(line: string): void {
    this.outbox.push(line);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(flushOutbox, this);
    }
  }

  /** @internal */
  flush(): void {
    this.flushQueued = false;
    const lines = this.outbox;
    if (lines.length === 0 || this.state === 'closed') return;
    this.outbox = [];
    this.stream.write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
  }

  private waitGreeting(): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(this.closeError);
    return new Promise((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
  }

  private receive(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
    } catch (e) {
      // Nothing below should throw; if something does, it must not escape
      // the socket's 'data' handler (that would kill the process).
      this.fatal(new QmpProtocolError('QMP_ERR_PROTOCOL', `failed to handle a message from the server: ${String(e)}`, { cause: e }));
    }
  }

  private onLine(text: string): void {
    let message: unknown;
    try {
      message = parseJson(text);
    } catch (e) {
      this.fatal(new QmpProtocolError('QMP_ERR_PROTOCOL', `malformed message from server: ${describe(text)}`, { cause: e }));
      return;
    }
    if (this.state === 'greeting') {
      // Anything after the greeting (even in the same chunk) is handled as
      // a normal message, so switch state before the awaiting code resumes.
      this.state = 'negotiating';
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      w?.resolve(message);
      return;
    }
    const m = classify(message);
    if (m.kind === 'reply') {
      const id = m.id;
      const p = typeof id === 'number' ? this.take(id) : undefined;
      if (p === undefined) {
        if (typeof id === 'number' && this.abandoned.delete(id)) {
          this.freeIds.push(id);
          return;
        }
        this.unknownReplies++;
        this.report(new QmpProtocolError('QMP_ERR_UNKNOWN_REPLY', `reply matches no pending call: ${describe(message)}`));
        return;
      }
      this.freeIds.push(id as number);
      if (m.ok && p.command === 'quit') this.quitAnswered = true;
      if (m.ok) p.resolve(m.value);
      else p.reject(new QmpCommandError(p.command, m.errorClass, m.desc, p.args));
    } else if (m.kind === 'event') {
      this.dispatchEvent(m.event);
    } else {
      this.report(new QmpProtocolError('QMP_ERR_PROTOCOL', `unrecognised message from server: ${describe(message)}`));
    }
  }

  private dispatchEvent(event: QmpEventMessage): void {
    for (const s of this.streams) s.offer(event);
    for (const l of this.eventListeners) {
      if (l.names !== null && !l.names.has(event.event)) continue;
      try {
        l.fn(event);
      } catch (e) {
        this.report(e);
      }
    }
  }

  private report(error: unknown): void {
    for (const l of this.errorListeners) {
      try {
        l(error);
      } catch {
        // A failing error listener must not break the reader.
      }
    }
  }

  /** A protocol violation: report it, then end the session with it. */
  private fatal(error: QmpProtocolError): void {
    this.decoder.stop();
    this.report(error);
    this.shutdown(error);
  }

  /**
   * Ends the session once: every pending call rejects (with `error` if it
   * is a protocol/abort error, else a per-call QmpDisconnectedError),
   * event streams end, the stream is destroyed.
   *
   * A hang-up after `quit` was answered, or while it is pending (QEMU may
   * exit before its reply is read), is orderly: `quit` resolves with `{}`
   * (what QEMU answers) and event streams end normally.
   */
  private shutdown(error: QmpError, byClient = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = error;
    this.decoder.stop();
    this.outbox = [];
    const w = this.greetingWaiter;
    this.greetingWaiter = undefined;
    w?.reject(error);
    const perCall = error instanceof QmpDisconnectedError;
    const hungUp = perCall && !byClient;
    const quitPending = hungUp && [...this.pending.values()].some((p) => p.command === 'quit');
    const orderly = byClient || (hungUp && (this.quitAnswered || quitPending));
    for (const [id, p] of this.pending) {
      this.take(id);
      if (hungUp && p.command === 'quit') p.resolve({});
      else p.reject(perCall ? new QmpDisconnectedError(error.message, p.command, { cause: error.cause }) : error);
    }
    this.abandoned.clear();
    for (const s of this.streams) s.end(orderly ? undefined : error);
    this.streams.clear();
    if (!this.stream.destroyed) this.stream.destroy();
    this.resolveClosed();
  }

  /**
   * Events from now on, optionally only the named ones. Buffers up to
   * `bufferSize` (default 1024), dropping the oldest beyond that and
   * counting them in the stream's `dropped`.
   */
  events(names?: readonly string[], options: { signal?: AbortSignal; bufferSize?: number } = {}): QmpEventStream {
    const { signal } = options;
    const onAbort = (): void => stream.end();
    const stream = new QmpEventStream(names, options.bufferSize, (s) => {
      this.streams.delete(s);
      signal?.removeEventListener('abort', onAbort);
    });
    if (this.state === 'closed') {
      stream.end(this.closeError);
    } else if (signal?.aborted) {
      stream.end();
    } else {
      this.streams.add(stream);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    return stream;
  }

  /** Calls `listener` for each event (only the named ones, if given); returns an unsubscribe function. */
  onEvent(listener: EventListener, names?: readonly string[]): () => void {
    const entry = { names: names === undefined || names.length === 0 ? null : new Set(names), fn: listener };
    this.eventListeners.add(entry);
    return () => this.eventListeners.delete(entry);
  }

  /** Non-fatal problems (unknown replies, throwing listeners) and the fatal protocol error. */
  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Closes the session: pending calls reject with QmpDisconnectedError, event iterators end. */
  async close(): Promise<void> {
    this.shutdown(new QmpDisconnectedError('connection closed by the client'), true);
    await this.closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Any failure while connecting, as the QMP_ERR_GREETING that `connect()` rejects with. */
function greetingFailure(error: unknown, during: string): QmpError {
  const reason = error instanceof Error ? error.message : String(error);
  // A QMP_ERR_GREETING of our own (timeout, not a greeting, refused) keeps its cause.
  const own = error instanceof QmpProtocolError && error.code === 'QMP_ERR_GREETING';
  return new QmpProtocolError('QMP_ERR_GREETING', `${during}: ${reason}`, { cause: own ? error.cause : error });
}

function flushOutbox(client: QmpClient): void {
  client.flush();
}
