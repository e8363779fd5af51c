/**
 * ReconnectingQmpClient: a QMP connection that outlives QEMU restarts.
 *
 *   const qmp = await ReconnectingQmpClient.connect(
 *     { path },
 *     { oob: true, waitForSocket: true, reconnect: { maxDelay: 2000 } },
 *   );
 *   for await (const ev of qmp.events(['RESUME'])) if (ev.gap) resync();   // continues across restarts
 *
 * It holds one QmpClient at a time. When that session ends for any reason
 * but `close()` (QEMU exits, crashes, restarts, the socket breaks):
 *
 * - calls pending on it reject as usual (QmpDisconnectedError; `quit`
 *   resolves): nothing is ever sent again on its own;
 * - calls made while there is no session reject at once with
 *   QmpDisconnectedError (`connectionState` is 'reconnecting');
 * - it connects again after `initialDelay` ms, then after delays growing
 *   by `factor` up to `maxDelay`, each scaled by a random factor in
 *   [1 − jitter, 1] so that many clients do not come back in step; it
 *   asks for the same capabilities (`oob`) as the first session. After
 *   `maxAttempts` failed attempts in a row it gives up: the client closes
 *   and its event streams end with a QmpDisconnectedError (cause: the last
 *   failure). Each failed attempt is reported to `onError`;
 * - event streams (`events()`) and `onEvent` listeners continue on the new
 *   session; the gap is marked: each stream's `gaps` goes up and its next
 *   event carries `gap` ({ lostAt, reconnectedAt }). Events QEMU sent while
 *   there was no connection are lost; those of the new session are not,
 *   even one in the same read as the `qmp_capabilities` reply (see
 *   connectHolding);
 * - `onReconnect` listeners get the new session (its greeting, oobEnabled)
 *   and the gap; the cached `query-qmp-schema` of schema probes is dropped
 *   (the new QEMU may be another release).
 *
 * `waitForEvent` waits across reconnects (its filter sees `gap`); its
 * trigger's call rejects if the session it ran on ends first. `record`
 * is not supported (each session would truncate the file).
 */
import { QmpClient, type ConnectOptions } from './client.js';
import { ON_SESSION_CREATED, checkSessionOptions, type HookedSessionOptions } from './connection.js';
import { QmpDisconnectedError, type QmpError } from './errors.js';
import { QmpEventSource } from './events.js';
import type { ExecuteOptions, QmpEventGap, QmpEventMessage, QmpExecutor } from './executor.js';
import { checkPositiveInteger, checkTimeout } from './options.js';
import { forgetIntrospection } from './probe.js';
import { Deadline } from './timers.js';
import type { QmpTarget } from './transport.js';

export interface ReconnectOptions {
  /** Milliseconds before the first attempt after a loss (default 100). */
  initialDelay?: number;
  /** Longest delay between attempts (default 5000). */
  maxDelay?: number;
  /** Growth of the delay after each failed attempt (default 2). */
  factor?: number;
  /** Each delay is scaled by a random factor in [1 − jitter, 1] (default 0.5; 0: none). */
  jitter?: number;
  /** Failed attempts in a row before giving up (default Infinity: never). */
  maxAttempts?: number;
}

export interface ReconnectingConnectOptions extends Omit<ConnectOptions, 'record'> {
  reconnect?: ReconnectOptions;
}

export type ReconnectingState = 'ready' | 'reconnecting' | 'closed';

type ReconnectListener = (session: QmpClient, gap: QmpEventGap) => void;

/** Events a new session receives before it is adopted, at most this many (the oldest go first). */
const MAX_HELD_EVENTS = 1024;

/** A session connected with its events held from its first byte, until it is adopted. */
interface HeldSession {
  readonly session: QmpClient;
  /** Its events so far (those in the read that brought the `qmp_capabilities` reply, say). */
  readonly held: QmpEventMessage[];
  /** Stops holding. */
  readonly release: () => void;
}

/**
 * QmpClient.connect, listening to the session's events from the moment it
 * exists: QEMU may send an event in the same read as its reply to
 * `qmp_capabilities`, and the client dispatches it before `connect()`
 * resolves, so a listener added once it has would never see it.
 */
async function connectHolding(target: QmpTarget, options: ConnectOptions): Promise<HeldSession> {
  const held: QmpEventMessage[] = [];
  let release = (): void => {};
  const hooked: HookedSessionOptions<ConnectOptions> = {
    ...options,
    [ON_SESSION_CREATED]: (session) => {
      release = session.onEvent((event) => {
        if (held.length === MAX_HELD_EVENTS) held.shift();
        held.push(event);
      });
    },
  };
  const session = await QmpClient.connect(target, hooked);
  return { session, held, release };
}

interface Backoff {
  initialDelay: number;
  maxDelay: number;
  factor: number;
  jitter: number;
  maxAttempts: number;
}

function checkBackoff(o: ReconnectOptions = {}): Backoff {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.5;
  if (typeof factor !== 'number' || !(factor >= 1) || factor === Infinity)
    throw new RangeError(`reconnect.factor must be a finite number ≥ 1, got ${String(factor)}`);
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))
    throw new RangeError(`reconnect.jitter must be a number from 0 to 1, got ${String(jitter)}`);
  const maxAttempts =
    o.maxAttempts === Infinity ? Infinity : (checkPositiveInteger(o.maxAttempts, 'reconnect.maxAttempts') ?? Infinity);
  const initialDelay = checkTimeout(o.initialDelay, 'reconnect.initialDelay') ?? 100;
  const maxDelay = checkTimeout(o.maxDelay, 'reconnect.maxDelay') ?? 5000;
  if (initialDelay === Infinity || maxDelay === Infinity) throw new RangeError('reconnect delays must be finite');
  return { initialDelay, maxDelay, factor, jitter, maxAttempts };
}

/**
 * Events (`events`, `waitForEvent`, `onEvent`) span reconnects; `onError`
 * also hears each loss of connection and each failed attempt.
 */
export class ReconnectingQmpClient extends QmpEventSource implements QmpExecutor, AsyncDisposable {
  /** Sessions made again after a loss. */
  reconnects = 0;
  private current: QmpClient | undefined;
  private state: ReconnectingState = 'ready';
  private readonly reconnectListeners = new Set<ReconnectListener>();
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  /** Cancels the wait between attempts. */
  private readonly stopping = new AbortController();

  private constructor(
    private readonly target: QmpTarget,
    private readonly options: ReconnectingConnectOptions,
    private readonly backoff: Backoff,
    first: HeldSession,
  ) {
    super();
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.adopt(first);
  }

  /**
   * Connects (see ConnectOptions: `waitForSocket` waits for a QEMU still
   * starting) and keeps connecting after losses.
   */
  static async connect(target: QmpTarget, options: ReconnectingConnectOptions = {}): Promise<ReconnectingQmpClient> {
    const backoff = checkBackoff(options.reconnect);
    checkSessionOptions(options);
    if ('record' in options && (options as ConnectOptions).record !== undefined) {
      throw new TypeError(
        'ReconnectingQmpClient does not record (each session would truncate the file); record a QmpClient',
      );
    }
    const first = await connectHolding(target, options);
    return new ReconnectingQmpClient(target, options, backoff, first);
  }

  /** The session in use (undefined while reconnecting or closed). */
  get session(): QmpClient | undefined {
    return this.current;
  }

  get connectionState(): ReconnectingState {
    return this.state;
  }

  get pendingCount(): number {
    return this.current?.pendingCount ?? 0;
  }

  /** Resolves once closed for good (`close()`, or reconnecting gave up). */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /** Runs `command` on the current session; with none (reconnecting), rejects at once with QmpDisconnectedError. */
  execute(command: string, args?: Record<string, unknown>, options?: ExecuteOptions): Promise<unknown> {
    if (this.current === undefined) {
      const why = this.state === 'closed' ? 'the client is closed' : 'not connected (reconnecting)';
      return Promise.reject(new QmpDisconnectedError(why, command));
    }
    return this.current.execute(command, args, options);
  }

  /** Called with each new session after a loss, and the gap. */
  onReconnect(listener: ReconnectListener): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Closes the session and stops reconnecting; event streams end normally. */
  async close(): Promise<void> {
    if (this.state !== 'closed') this.end(undefined);
    await this.closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Makes `session` the current one: its events so far, then every later one, go to our subscribers. */
  private adopt({ session, held, release }: HeldSession): void {
    this.current = session;
    this.state = 'ready';
    session.onEvent((event) => this.hub.dispatch(event));
    release();
    for (const event of held.splice(0)) this.hub.dispatch(event);
    session.onError((error) => this.hub.report(error));
    void session.closed.then(() => this.lost(session));
  }

  private async lost(session: QmpClient): Promise<void> {
    if (session !== this.current || this.state === 'closed') return;
    this.current = undefined;
    this.state = 'reconnecting';
    const lostAt = new Date();
    forgetIntrospection(this);
    let delay = this.backoff.initialDelay;
    for (let attempt = 1; ; attempt++) {
      await this.sleep(delay * (1 - this.backoff.jitter * Math.random()));
      if (this.isClosed()) return;
      let next: HeldSession;
      try {
        next = await connectHolding(this.target, {
          ...this.options,
          waitForSocket: false,
          signal: this.stopping.signal,
        });
      } catch (e) {
        if (this.isClosed()) return;
        this.hub.report(e);
        if (attempt >= this.backoff.maxAttempts) {
          this.end(new QmpDisconnectedError(`gave up reconnecting after ${attempt} attempts`, undefined, { cause: e }));
          return;
        }
        delay = Math.min(this.backoff.maxDelay, delay * this.backoff.factor);
        continue;
      }
      if (this.isClosed()) {
        next.release();
        await next.session.close();
        return;
      }
      this.reconnects++;
      const gap: QmpEventGap = { lostAt, reconnectedAt: new Date() };
      // Marked first, so the session's first event (even one that came
      // with the negotiation's reply) carries the gap.
      this.hub.markGap(gap);
      this.adopt(next);
      for (const l of this.reconnectListeners) {
        try {
          l(next.session, gap);
        } catch (e) {
          this.hub.report(e);
        }
      }
      return;
    }
  }

  /** Read again after an await (TypeScript's narrowing does not know the state can change). */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Waits `ms` (any finite length: a Deadline, see timers.ts), or until `close()`. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopping.signal;
      const done = (): void => {
        timer.cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = new Deadline(ms, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private end(error: QmpError | undefined): void {
    this.state = 'closed';
    this.stopping.abort();
    const session = this.current;
    this.current = undefined;
    this.hub.end(error);
    if (session === undefined) this.resolveClosed();
    else void session.close().then(this.resolveClosed);
  }
}
