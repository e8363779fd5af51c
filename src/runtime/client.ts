/**
 * QmpClient: one QMP session.
 *
 *   await using qmp = await QmpClient.connect({ path: '/run/qemu.qmp' }, { oob: true });
 *   const status = await qmp.execute('query-status');
 *
 * - `connect()` reads the greeting and negotiates capabilities (`oob` when
 *   asked for and offered); anything that goes wrong once the socket is
 *   open fails it with QMP_ERR_GREETING (the first error kept as `cause`).
 *   An event that comes before the `qmp_capabilities` reply is an event,
 *   never taken for the reply.
 * - Calls: in-band requests go without an `id` and are matched in order;
 *   `exec-oob` ones carry an id (calls.ts). With `ids: 'always'` every
 *   request carries one and replies may come in any order. With `oob`
 *   negotiated at most eight in-band commands are in flight, so that an
 *   out-of-band command is always read (the rest wait, in order).
 * - After `quit` is answered (or the connection drops while it is
 *   pending: QEMU's reply races its exit) the hang-up is an orderly end:
 *   event iterators finish normally and `quit` resolves.
 * - Everything else (timeouts, aborts, backpressure, recording, events,
 *   the end of the session) is the same for every dialect: connection.ts.
 */
import type { Duplex } from 'node:stream';
import type { Call } from './calls.js';
import { GREETING_PHASE, QmpConnection, checkSessionOptions, openTarget, type SessionOptions } from './connection.js';
import { QmpCapabilityError, QmpCommandError, QmpProtocolError, type QmpError } from './errors.js';
import { parseGreeting, type QmpGreeting } from './protocol.js';
import { describeTarget, type QmpTarget } from './transport.js';

export interface ConnectOptions extends SessionOptions {
  /** Ask for out-of-band execution; enabled only when the server offers it. */
  oob?: boolean;
  /**
   * `'auto'` (default): in-band requests go without an `id` and replies
   * are matched in order (QEMU answers in order; it is faster, see the
   * README). `'always'`: every request carries an id and replies are
   * matched by id in any order, for servers that answer out of order.
   */
  ids?: 'auto' | 'always';
}

/** In-band commands in flight at most when `oob` is negotiated (QMP's rule; QEMU's request queue length). */
export const OOB_IN_BAND_LIMIT = 8;

/** Whether every request carries an id (`ids: 'always'`); a RangeError for a value other than 'auto' or 'always'. */
function checkIds(options: ConnectOptions): boolean {
  const { ids } = options;
  if (ids !== undefined && ids !== 'auto' && ids !== 'always') {
    throw new RangeError(`ids must be 'auto' or 'always', got ${String(ids)}`);
  }
  return ids === 'always';
}

export class QmpClient extends QmpConnection {
  /** Server's greeting; set once the session is up. */
  greeting!: QmpGreeting;
  /** Whether `oob` was negotiated, so `{ oob: true }` calls may be sent. */
  oobEnabled = false;
  /** `quit` was answered: the coming hang-up is expected. */
  private quitAnswered = false;
  private greetingArrived: ((message: unknown) => void) | undefined;

  private constructor(stream: Duplex, options: ConnectOptions) {
    // `ids` is checked before the session opens anything (the record file).
    super(stream, options, 'greeting', checkIds(options));
  }

  /** Opens a socket, reads the greeting and negotiates capabilities. */
  static async connect(target: QmpTarget, options: ConnectOptions = {}): Promise<QmpClient> {
    const timeout = checkSessionOptions(options);
    checkIds(options);
    const [socket, left] = await openTarget(target, options, timeout);
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
    const timeout = checkSessionOptions(options);
    let client: QmpClient;
    try {
      client = new QmpClient(stream, options);
    } catch (e) {
      stream.destroy();
      throw e;
    }
    await client.establish(options, timeout, where, 'QMP greeting and negotiation', async (phase) => {
      phase(GREETING_PHASE);
      const greeting = parseGreeting(await client.setupStep<unknown>((resolve) => (client.greetingArrived = resolve)));
      client.greeting = greeting;
      phase('negotiating capabilities');
      const enable = options.oob && greeting.capabilities.includes('oob') ? ['oob'] : [];
      try {
        await client.send('qmp_capabilities', enable.length ? { enable } : undefined, undefined);
      } catch (e) {
        if (e instanceof QmpCommandError) {
          throw new QmpProtocolError(
            'QMP_ERR_GREETING',
            `capabilities negotiation refused: ${e.errorClass}: ${e.desc}`,
            { cause: e },
          );
        }
        throw e;
      }
      client.oobEnabled = enable.length > 0;
    });
    return client;
  }

  protected override onMessage(message: unknown): void {
    if (this.state !== 'greeting') {
      super.onMessage(message);
      return;
    }
    // Anything after the greeting (even in the same chunk) is handled as
    // a normal message, so switch state before the awaiting code resumes.
    this.state = 'negotiating';
    const arrived = this.greetingArrived;
    this.greetingArrived = undefined;
    arrived?.(message);
  }

  protected override refuse(command: string, oob: boolean): QmpError | undefined {
    if (oob && !this.oobEnabled) {
      return new QmpCapabilityError(
        command,
        "out-of-band execution needs the 'oob' capability, which was not negotiated",
      );
    }
    return undefined;
  }

  /** @internal */
  mayWriteInBand(): boolean {
    return !this.oobEnabled || this.table.inBandInFlight < OOB_IN_BAND_LIMIT;
  }

  protected override answered(call: Call, reply: { ok: boolean }): void {
    if (reply.ok && call.command === 'quit') this.quitAnswered = true;
  }

  protected override orderlyHangUp(pending: readonly Call[]): boolean {
    return this.quitAnswered || pending.some((c) => c.command === 'quit' && c.state === 'sent');
  }

  /** `quit` written and not answered when QEMU hangs up: it did quit; resolve with what it answers. */
  protected override hangUpValue(call: Call): unknown {
    return call.command === 'quit' && call.state === 'sent' ? {} : undefined;
  }
}
