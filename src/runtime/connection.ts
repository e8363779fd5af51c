/**
 * What every session has, whatever its dialect (QMP: client.ts; the guest
 * agent: guest-agent.ts): the stream, calls and their matching
 * (calls.ts), writing with backpressure (outbox.ts), recording
 * (recorder.ts), events, error reporting and the end of the session.
 *
 * A call's life: `execute()` checks and encodes it (nothing is sent when
 * that fails) and queues it; the outbox writes it when it may; the reply
 * settles it. A timeout or abort rejects only that call: while it waits to
 * be written it is withdrawn (never sent), once written its reply is
 * consumed quietly when it comes (the dialect may do more: the guest agent
 * resynchronises).
 *
 * Bad data from the server: a line that is not JSON or too deep is fatal
 * (reported to `onError`, the session closes, every pending call rejects
 * with that QmpProtocolError), unless the dialect recovers from it; a
 * reply matching no call or a message of unknown shape is only reported.
 * Any other loss of the connection rejects every pending call with
 * QmpDisconnectedError, at once.
 */
import type { Duplex } from 'node:stream';
import { Call, CallTable } from './calls.js';
import type { ExecuteOptions, QmpExecutor } from './executor.js';
import {
  QmpAbortError,
  QmpCommandError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { QmpEventSource } from './events.js';
import { LineDecoder } from './framing.js';
import { parseJson } from './json.js';
import { checkPositiveInteger, checkTimeout } from './options.js';
import { Outbox, type OutboxOwner } from './outbox.js';
import { classify, describe, encodeCommand, type QmpMessage } from './protocol.js';
import { Recorder, type RecordTarget } from './recorder.js';
import { deadline, type Deadline } from './timers.js';
import { openSocket, type QmpTarget } from './transport.js';

/** Options every session takes (QMP and guest agent). */
export interface SessionOptions {
  /**
   * Milliseconds for setting the session up: opening the socket (waiting
   * for it with `waitForSocket`) plus the greeting and negotiation (QMP)
   * or the first sync (guest agent). Default 10000; Infinity: none.
   */
  timeout?: number;
  signal?: AbortSignal;
  /** Longest accepted server line in bytes (default 16 MiB). */
  maxMessageBytes?: number;
  /** Timeout applied to calls that give none (default: none). */
  defaultTimeout?: number;
  /** Write a transcript of the session: a file path, or a stream (see recorder.ts). */
  record?: RecordTarget;
  /** Most requests waiting to be written before calls are refused (QMP_ERR_QUEUE_FULL); default 100000. */
  maxQueuedRequests?: number;
  /** Most characters of requests waiting to be written (default 64 MiB). */
  maxQueuedBytes?: number;
  /**
   * `connect()` only: a socket that does not exist yet or refuses
   * connections (the server is still starting) is tried again until
   * `timeout` runs out.
   */
  waitForSocket?: boolean;
}

export type QmpClientState = 'greeting' | 'negotiating' | 'syncing' | 'ready' | 'closed';

/**
 * @internal An option key: a function called with the session as soon as
 * it exists, before any byte is read. ReconnectingQmpClient listens to a
 * new session's events there: an event that arrives in the same read as
 * the `qmp_capabilities` reply is dispatched before `connect()` resolves,
 * so a listener added afterwards would miss it.
 */
export const ON_SESSION_CREATED: unique symbol = Symbol('qapi-ts.onSessionCreated');

/** @internal Session options with the ON_SESSION_CREATED hook. */
export type HookedSessionOptions<T extends SessionOptions> = T & {
  [ON_SESSION_CREATED]?: (session: QmpConnection) => void;
};

export const DEFAULT_CONNECT_TIMEOUT = 10_000;
export const DEFAULT_MAX_QUEUED_REQUESTS = 100_000;
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** Checks the numbers in `options` (TypeError / RangeError); returns the connect timeout. */
export function checkSessionOptions(options: SessionOptions): number {
  checkPositiveInteger(options.maxMessageBytes, 'maxMessageBytes');
  checkPositiveInteger(options.maxQueuedRequests, 'maxQueuedRequests');
  checkPositiveInteger(options.maxQueuedBytes, 'maxQueuedBytes');
  checkTimeout(options.defaultTimeout, 'defaultTimeout');
  return checkTimeout(options.timeout, 'timeout') ?? DEFAULT_CONNECT_TIMEOUT;
}

/** Opens the socket (waiting for it with `waitForSocket`); returns it and the time left of `timeout`. */
export async function openTarget(
  target: QmpTarget,
  options: SessionOptions,
  timeout: number,
): Promise<[Duplex, number]> {
  const started = Date.now();
  const socket = await openSocket(target, { timeout, signal: options.signal, wait: options.waitForSocket });
  return [socket, Math.max(1, timeout - (Date.now() - started))];
}

/** The pending calls that share one AbortSignal, and the one listener they need. */
interface SignalCalls {
  readonly calls: Set<Call>;
  readonly onAbort: () => void;
}

type ReplyMessage = Extract<QmpMessage, { kind: 'reply' }>;

export abstract class QmpConnection extends QmpEventSource implements QmpExecutor, AsyncDisposable, OutboxOwner {
  /** Replies that matched no call (neither pending nor given up on). */
  unknownReplies = 0;

  protected state: QmpClientState;
  protected readonly table = new CallTable();
  protected readonly outbox: Outbox;
  protected readonly decoder: LineDecoder;
  protected readonly recorder: Recorder | undefined;
  protected closeError: QmpError | undefined;
  /** Calls accepted and not settled, given up on or rejected. */
  private live = 0;
  private readonly bySignal = new Map<AbortSignal, SignalCalls>();
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private readonly defaultTimeout: number | undefined;
  /** A setup step (greeting, sync) waiting; rejected if the session ends first. */
  private setupWaiter: { reject: (e: unknown) => void } | undefined;

  protected constructor(
    protected readonly stream: Duplex,
    options: SessionOptions,
    initialState: QmpClientState,
    /** Every request carries an id (else in-band ones go without, see calls.ts). */
    private readonly alwaysIds: boolean,
  ) {
    super();
    this.state = initialState;
    this.defaultTimeout = options.defaultTimeout;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.decoder = new LineDecoder(
      { line: (text) => this.onLine(text), fail: (e) => this.fatal(e) },
      options.maxMessageBytes,
    );
    this.outbox = new Outbox(
      stream,
      this,
      options.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS,
      options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    );
    // Opened last: nothing above can fail after the file is created.
    this.recorder = options.record === undefined ? undefined : Recorder.open(options.record, (e) => this.report(e));
    (options as HookedSessionOptions<SessionOptions>)[ON_SESSION_CREATED]?.(this);
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.on('error', (err: Error) =>
      this.shutdown(new QmpDisconnectedError(`connection error: ${err.message}`, undefined, { cause: err })),
    );
    stream.on('close', () => this.shutdown(new QmpDisconnectedError('connection closed by the server')));
    stream.on('end', () => this.shutdown(new QmpDisconnectedError('connection closed by the server')));
  }

  /**
   * Runs `setup` (greeting and negotiation, or the first sync) within the
   * connect `timeout` and `signal`. Any failure rejects with
   * QMP_ERR_GREETING naming `where` and the phase, the original error as
   * its `cause` (an abort with QMP_ERR_ABORTED), and ends the session.
   */
  protected async establish(
    options: SessionOptions,
    timeout: number,
    where: string,
    /** What the timeout missed: `QMP greeting and negotiation`. */
    what: string,
    setup: (phase: (name: string) => void) => Promise<void>,
  ): Promise<void> {
    const signal = options.signal;
    let timer: Deadline | undefined;
    let phase = '';
    const onAbort = (): void => this.shutdown(new QmpAbortError('connect', signal?.reason));
    try {
      if (signal?.aborted) throw new QmpAbortError('connect', signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = deadline(timeout, () => {
        const hint = phase === GREETING_PHASE ? `; ${BUSY_MONITOR_HINT}` : '';
        this.shutdown(new QmpProtocolError('QMP_ERR_GREETING', `no ${what} within ${timeout} ms${hint}`));
      });
      await setup((name) => (phase = name));
      if (this.state === 'closed') throw this.closeError ?? new QmpDisconnectedError('connection closed');
      this.state = 'ready';
    } catch (e) {
      const failure = e instanceof QmpAbortError ? e : setupFailure(e, `${where}: ${phase}`);
      this.shutdown(failure);
      throw failure;
    } finally {
      timer?.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A promise for a setup step, rejected with the session's error should it end first. */
  protected setupStep<T>(start: (resolve: (value: T) => void) => void): Promise<T> {
    if (this.state === 'closed') return Promise.reject(this.closeError);
    return new Promise<T>((resolve, reject) => {
      this.setupWaiter = { reject };
      start((value) => {
        this.setupWaiter = undefined;
        resolve(value);
      });
    });
  }

  get connectionState(): QmpClientState {
    return this.state;
  }

  /** Calls awaiting a reply or waiting to be written (0 when idle; tests check nothing leaks). */
  get pendingCount(): number {
    return this.live;
  }

  /**
   * Why the `record` file could not be written, if it could not (recording
   * stopped then; reported to `onError` too).
   */
  get recordingError(): unknown {
    return this.recorder?.error;
  }

  /** Requests waiting to be written (the server reads more slowly than they come, see outbox.ts). */
  get queuedRequests(): number {
    return this.outbox.queued;
  }

  /** Resolves once the connection is gone (and a recording file written), for whatever reason. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Runs `command`. A `timeout` that is not a number ≥ 0 (or Infinity)
   * rejects with a TypeError / RangeError, a request QEMU could not parse
   * as one message with QmpArgumentError, too many requests waiting with
   * QmpQueueFullError; none of them sends anything.
   */
  execute(command: string, args?: Record<string, unknown>, options?: ExecuteOptions): Promise<unknown> {
    if (this.state !== 'ready' && this.state !== 'closed') {
      return Promise.reject(new QmpDisconnectedError('session is not ready yet', command));
    }
    return this.send(command, args, options);
  }

  protected send(
    command: string,
    args: Record<string, unknown> | undefined,
    options: ExecuteOptions | undefined,
  ): Promise<unknown> {
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
    const refused = this.refuse(command, oob);
    if (refused !== undefined) return Promise.reject(refused);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new QmpAbortError(command, signal.reason));
    const noReply = options?.noReply ?? this.repliesNever(command);
    // A call that may be given up on carries an id too: should its reply
    // never come, no later reply can be taken for it (calls.ts).
    const mayGiveUp = signal !== undefined || (timeout !== undefined && timeout !== Infinity);
    const id = this.alwaysIds || oob || noReply || mayGiveUp ? this.table.allocateId() : undefined;
    let line: string;
    try {
      line = encodeCommand(command, args, id, oob);
    } catch (e) {
      if (id !== undefined) this.table.releaseId(id);
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const call = new Call(command, args, line, id, oob, noReply, signal, resolve, reject);
      try {
        this.outbox.add(call);
      } catch (e) {
        if (id !== undefined) this.table.releaseId(id);
        reject(e);
        return;
      }
      this.live++;
      call.timer = deadline(timeout, () => this.giveUp(call, new QmpTimeoutError(command, timeout as number)));
      if (signal !== undefined) this.watchSignal(signal, call);
    });
  }

  // --- what the dialects decide ----------------------------------------------

  /** An error when `command` cannot be sent this way (e.g. `oob` not negotiated). */
  protected refuse(_command: string, _oob: boolean): QmpError | undefined {
    return undefined;
  }

  /** Whether `command` is known never to reply (when the caller does not say). */
  protected repliesNever(_command: string): boolean {
    return false;
  }

  /** @internal Whether one more in-band request may be written now (outbox.ts). */
  abstract mayWriteInBand(): boolean;

  /** A written call was given up on (it is a ghost now). */
  protected abandoned(_call: Call): void {}

  /** A call was answered. */
  protected answered(_call: Call, _reply: ReplyMessage): void {}

  /**
   * Whether a hang-up is an orderly end (event streams finish normally),
   * given the calls still pending; `quit` makes it one in QMP.
   */
  protected orderlyHangUp(_pending: readonly Call[]): boolean {
    return false;
  }

  /** The value `call` resolves with when the server hangs up on it, or undefined: it rejects. */
  protected hangUpValue(_call: Call): unknown {
    return undefined;
  }

  // --- calls -----------------------------------------------------------------

  /** @internal The outbox writes `call` now. */
  written(call: Call): void {
    this.recorder?.client(call.line);
    this.table.sent(call);
    if (call.noReply) {
      // Resolved without waiting; an error reply that may still come is
      // consumed (and reported) by the ghost the table keeps.
      this.finish(call);
      call.resolve(undefined);
    }
  }

  /**
   * Rejects one call. Waiting to be written, it is withdrawn; written, it
   * becomes a ghost that consumes its late reply.
   */
  protected giveUp(call: Call, error: QmpError): void {
    const written = call.state === 'sent';
    if (call.state === 'queued') {
      this.outbox.withdraw(call);
      call.state = 'settled';
      if (call.id !== undefined) this.table.releaseId(call.id);
    } else if (written) {
      this.table.abandon(call);
    } else {
      return;
    }
    this.finish(call);
    call.reject(error);
    if (written) this.abandoned(call);
  }

  /** Bookkeeping when a call stops being pending: counts, timer, signal. */
  private finish(call: Call): void {
    this.live--;
    call.timer?.cancel();
    if (call.signal !== undefined) this.unwatchSignal(call.signal, call);
  }

  /**
   * Calls that share a signal share one 'abort' listener, so any number of
   * calls may be in flight with one signal (Node warns from eleven
   * listeners on one signal up).
   */
  private watchSignal(signal: AbortSignal, call: Call): void {
    let entry = this.bySignal.get(signal);
    if (entry === undefined) {
      const calls = new Set<Call>();
      const onAbort = (): void => {
        this.bySignal.delete(signal);
        for (const c of calls) this.giveUp(c, new QmpAbortError(c.command, signal.reason));
      };
      entry = { calls, onAbort };
      this.bySignal.set(signal, entry);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    entry.calls.add(call);
  }

  private unwatchSignal(signal: AbortSignal, call: Call): void {
    const entry = this.bySignal.get(signal);
    if (entry === undefined) return;
    entry.calls.delete(call);
    if (entry.calls.size === 0) {
      this.bySignal.delete(signal);
      signal.removeEventListener('abort', entry.onAbort);
    }
  }

  /**
   * Rejects the written calls still awaiting replies with `error` and
   * forgets the ghosts: the replies to what was written will not be read
   * (the guest agent's resynchronisation discards them).
   */
  protected dropWritten(error: QmpError): void {
    for (const call of this.table.clear()) {
      if (call.state === 'sent') {
        call.state = 'settled';
        this.finish(call);
        call.reject(error);
      } else {
        call.state = 'settled';
      }
    }
  }

  // --- reading -----------------------------------------------------------------

  protected receive(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
    } catch (e) {
      // Nothing below should throw; if something does, it must not escape
      // the socket's 'data' handler (that would kill the process).
      this.fatal(
        new QmpProtocolError('QMP_ERR_PROTOCOL', `failed to handle a message from the server: ${String(e)}`, {
          cause: e,
        }),
      );
    }
  }

  protected onLine(text: string): void {
    this.recorder?.server(text);
    let message: unknown;
    try {
      message = parseJson(text);
    } catch (e) {
      this.malformed(text, e);
      return;
    }
    this.onMessage(message);
  }

  /** A line that is not JSON (or too deep): fatal, unless the dialect recovers. */
  protected malformed(text: string, cause: unknown): void {
    this.fatal(new QmpProtocolError('QMP_ERR_PROTOCOL', `malformed message from server: ${describe(text)}`, { cause }));
  }

  protected onMessage(message: unknown): void {
    const m = classify(message);
    if (m.kind === 'reply') {
      this.onReply(m, message);
    } else if (m.kind === 'event') {
      this.hub.dispatch(m.event);
    } else {
      this.report(new QmpProtocolError('QMP_ERR_PROTOCOL', `unrecognised message from server: ${describe(message)}`));
    }
  }

  private onReply(m: ReplyMessage, message: unknown): void {
    const call = this.table.take(m.id);
    if (call === undefined) {
      this.unknownReplies++;
      this.report(new QmpProtocolError('QMP_ERR_UNKNOWN_REPLY', `reply matches no pending call: ${describe(message)}`));
      return;
    }
    if (this.outbox.queued > 0) this.outbox.schedule();
    const ghost = call.state === 'ghost';
    call.state = 'settled';
    if (ghost) {
      // The late reply of a call given up on; an error to a `noReply` call is news.
      if (call.noReply && !m.ok) this.report(new QmpCommandError(call.command, m.errorClass, m.desc, call.args));
      return;
    }
    this.finish(call);
    this.answered(call, m);
    if (m.ok) call.resolve(m.value);
    else call.reject(new QmpCommandError(call.command, m.errorClass, m.desc, call.args));
  }

  protected report(error: unknown): void {
    this.hub.report(error);
  }

  /** A protocol violation: report it, then end the session with it. */
  protected fatal(error: QmpProtocolError): void {
    this.decoder.stop();
    this.report(error);
    this.shutdown(error);
  }

  // --- the end ------------------------------------------------------------------

  /**
   * Ends the session once: every pending call rejects (with `error` if it
   * is a protocol/abort error, else a per-call QmpDisconnectedError),
   * event streams end, the stream is destroyed, a recording is closed.
   * A hang-up the dialect calls orderly (after `quit`) ends event streams
   * normally.
   */
  protected shutdown(error: QmpError, byClient = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = error;
    this.decoder.stop();
    const waiter = this.setupWaiter;
    this.setupWaiter = undefined;
    waiter?.reject(error);
    const pending = [...this.table.clear(), ...this.outbox.close()].filter(
      (c) => c.state === 'sent' || c.state === 'queued',
    );
    const perCall = error instanceof QmpDisconnectedError;
    const hungUp = perCall && !byClient;
    const orderly = byClient || (hungUp && this.orderlyHangUp(pending));
    for (const call of pending) {
      const value = hungUp ? this.hangUpValue(call) : undefined;
      call.state = 'settled';
      this.finish(call);
      if (value !== undefined) call.resolve(value);
      else call.reject(perCall ? new QmpDisconnectedError(error.message, call.command, { cause: error.cause }) : error);
    }
    this.hub.end(orderly ? undefined : error);
    if (!this.stream.destroyed) this.stream.destroy();
    if (this.recorder === undefined) this.resolveClosed();
    else void this.recorder.close().then(this.resolveClosed);
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

/** The setup phase in which a QMP server has yet to say anything. */
export const GREETING_PHASE = 'waiting for the QMP greeting';

/**
 * Why a QMP socket accepts a connection and then stays silent: QEMU's
 * monitor serves one client at a time and greets the next only when the
 * first one leaves.
 */
export const BUSY_MONITOR_HINT =
  'the monitor accepted the connection but sent nothing: it is probably busy with another client ' +
  '(a QMP monitor serves one client at a time). Give QEMU one more monitor for this tool, ' +
  'e.g. -qmp unix:/run/vm/qmp2.sock,server=on,wait=off';

/** Any failure while setting up, as the QMP_ERR_GREETING that `connect()` rejects with. */
function setupFailure(error: unknown, during: string): QmpError {
  const reason = error instanceof Error ? error.message : String(error);
  // A QMP_ERR_GREETING of our own (timeout, not a greeting, refused) keeps its cause.
  const own = error instanceof QmpProtocolError && error.code === 'QMP_ERR_GREETING';
  return new QmpProtocolError('QMP_ERR_GREETING', `${during}: ${reason}`, { cause: own ? error.cause : error });
}
