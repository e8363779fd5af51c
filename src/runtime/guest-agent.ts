/**
 * GuestAgentClient: a session with the QEMU guest agent (qemu-ga).
 *
 *   await using ga = await GuestAgentClient.connect({ path: '/run/vm/qga.sock' });
 *   await ga.execute('guest-ping');
 *
 * The agent speaks QMP's JSON without a greeting or negotiation, answers
 * one command after another, and its channel may hold stale data: a
 * previous client's half-written request (qemu-ga keeps its parser's state
 * from one connection to the next), or replies a client gave up on (a
 * guest that rebooted never sends them). So the client resynchronises:
 *
 *  1. it writes the byte 0xFF (the agent's parser drops whatever partial
 *     request it holds, answering with an error for the stray byte) and
 *     `{"execute":"guest-sync-delimited","arguments":{"id":N}}`, N random
 *     below 2^53;
 *  2. it discards everything it reads up to the 0xFF byte the agent sends
 *     before that reply (its sentinel), then every line until
 *     `{"return": N}`; each further 0xFF starts the line afresh (the
 *     sentinel of an older sync).
 *
 * It does so on connect (within the connect `timeout`), after every call
 * given up on once it was written (a timeout or abort: its late reply,
 * if it ever comes, is discarded rather than taken for the next call's),
 * and after a line that is not JSON (the call in flight rejects with that
 * QMP_ERR_PROTOCOL error; the session carries on). A sync not answered
 * within `syncTimeout` is reported to `onError` and sent again, with a new
 * id. Calls wait (queued, their own timeouts running) until the session is
 * in sync.
 *
 * Commands go one at a time (the agent runs them one after another
 * anyway), each with an `id`, so a stray reply can never pass for the
 * answer to the call in flight. Commands declared `'success-response':
 * false` never answer when they succeed: `guest-shutdown` and the
 * `guest-suspend-*` commands are known by name (or pass `noReply: true`;
 * generated clients do for every such command). Such a call resolves with
 * `undefined` once its request is written; if the agent answers with an
 * error after all, it is reported to `onError` as a QmpCommandError.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { QmpConnection, checkSessionOptions, openTarget, type SessionOptions } from './connection.js';
import { QmpProtocolError, QmpTimeoutError, type QmpError } from './errors.js';
import { parseJson } from './json.js';
import { checkTimeout } from './options.js';
import { describe } from './protocol.js';
import { deadline, type Deadline } from './timers.js';
import { describeTarget, type QmpTarget } from './transport.js';

export interface GuestAgentOptions extends SessionOptions {
  /**
   * Milliseconds to wait for the reply to each sync before sending another
   * (default: the connect timeout, 10000). The first sync is also bounded
   * by the connect `timeout`.
   */
  syncTimeout?: number;
}

/** Guest agent commands that reply only to fail (`'success-response': false` in QEMU's qga schema). */
export const GUEST_AGENT_NO_REPLY: ReadonlySet<string> = new Set([
  'guest-shutdown',
  'guest-suspend-disk',
  'guest-suspend-ram',
  'guest-suspend-hybrid',
]);

const SENTINEL = 0xff;
const SENTINEL_BYTE = Buffer.from([SENTINEL]);

/** A random sync id below 2^53, so it is a plain JSON number both ways. */
function syncId(): number {
  const bytes = randomBytes(8);
  return (bytes.readUInt32BE(0) & 0x1f_ffff) * 2 ** 32 + bytes.readUInt32BE(4);
}

interface Sync {
  readonly id: number;
  /** The agent's 0xFF came: lines from now on are read. */
  sentinel: boolean;
  readonly timer: Deadline | undefined;
}

export class GuestAgentClient extends QmpConnection {
  /** Completed synchronisations, the first one (on connect) included. */
  syncs = 0;
  private sync: Sync | undefined;
  private readonly syncTimeout: number;
  private syncDone: (() => void) | undefined;

  private constructor(stream: Duplex, options: GuestAgentOptions, connectTimeout: number) {
    super(stream, options, 'syncing', true);
    this.syncTimeout = checkTimeout(options.syncTimeout, 'syncTimeout') ?? connectTimeout;
  }

  /** Opens the agent's socket and synchronises with it. */
  static async connect(target: QmpTarget, options: GuestAgentOptions = {}): Promise<GuestAgentClient> {
    const timeout = checkSessionOptions(options);
    checkTimeout(options.syncTimeout, 'syncTimeout');
    const [socket, left] = await openTarget(target, options, timeout);
    return GuestAgentClient.overStream(
      socket,
      { ...options, syncTimeout: options.syncTimeout ?? timeout, timeout: left },
      describeTarget(target),
    );
  }

  /**
   * Runs a session over an already open stream. A first sync that fails
   * (no answer within the connect `timeout`, a hang-up) rejects with
   * QMP_ERR_GREETING, the original error as its `cause`.
   */
  static async overStream(
    stream: Duplex,
    options: GuestAgentOptions = {},
    where = 'stream',
  ): Promise<GuestAgentClient> {
    const timeout = checkSessionOptions(options);
    let client: GuestAgentClient;
    try {
      client = new GuestAgentClient(stream, options, timeout);
    } catch (e) {
      stream.destroy();
      throw e;
    }
    await client.establish(options, timeout, where, 'reply to guest-sync-delimited', async (phase) => {
      phase('synchronising with the guest agent');
      await client.setupStep<void>((resolve) => {
        client.syncDone = resolve;
        client.startSync();
      });
    });
    return client;
  }

  /** @internal One command at a time, none while resynchronising. */
  mayWriteInBand(): boolean {
    return this.sync === undefined && this.table.inBandInFlight === 0;
  }

  protected override repliesNever(command: string): boolean {
    return GUEST_AGENT_NO_REPLY.has(command);
  }

  /** A written call given up on: its reply may never come, or come late. */
  protected override abandoned(): void {
    this.startSync();
  }

  /** A line that is not JSON: the call in flight fails with it, and the session resynchronises. */
  protected override malformed(text: string, cause: unknown): void {
    const error = new QmpProtocolError(
      'QMP_ERR_PROTOCOL',
      `malformed message from the guest agent: ${describe(text)} (resynchronising)`,
      { cause },
    );
    this.report(error);
    this.startSync(error);
  }

  /**
   * Starts a sync: 0xFF and guest-sync-delimited with a fresh id. What was
   * written before is answered before the sentinel and discarded: calls
   * still waiting for those replies reject with `error`.
   */
  private startSync(error?: QmpProtocolError): void {
    if (this.state === 'closed') return;
    this.sync?.timer?.cancel();
    this.dropWritten(
      error ??
        new QmpProtocolError('QMP_ERR_PROTOCOL', 'the guest agent was resynchronised before this call was answered'),
    );
    const id = syncId();
    const timeout = this.syncTimeout;
    this.sync = { id, sentinel: false, timer: deadline(timeout, () => this.syncTimedOut(id, timeout)) };
    const request = `{"execute":"guest-sync-delimited","arguments":{"id":${id}}}\n`;
    this.recorder?.client(request);
    this.outbox.writeNow(Buffer.concat([SENTINEL_BYTE, Buffer.from(request)]));
  }

  /**
   * The session ends: so does a sync in progress, timer included. (It used
   * to run on: a client closed during a resync kept the process alive until
   * `syncTimeout` and then reported a timeout to `onError`.)
   */
  protected override shutdown(error: QmpError, byClient = false): void {
    this.sync?.timer?.cancel();
    super.shutdown(error, byClient);
  }

  private syncTimedOut(id: number, timeout: number): void {
    if (this.state === 'closed' || this.sync?.id !== id) return;
    this.report(new QmpTimeoutError('guest-sync-delimited', timeout));
    this.startSync();
  }

  private synced(): void {
    this.sync?.timer?.cancel();
    this.sync = undefined;
    this.syncs++;
    const done = this.syncDone;
    this.syncDone = undefined;
    done?.();
    this.outbox.schedule();
  }

  protected override receive(chunk: Buffer): void {
    while (this.sync !== undefined && chunk.length > 0) {
      const at = chunk.indexOf(SENTINEL);
      if (!this.sync.sentinel) {
        // Stale: everything up to the agent's sentinel.
        if (at === -1) return;
        this.sync.sentinel = true;
        this.decoder.reset();
        chunk = chunk.subarray(at + 1);
        continue;
      }
      super.receive(at === -1 ? chunk : chunk.subarray(0, at));
      if (at === -1) return;
      if (this.sync === undefined) {
        // In sync again: the 0xFF after the reply is ordinary (bad) input.
        chunk = chunk.subarray(at);
        break;
      }
      // The sentinel of a later sync (after an older one's): start afresh.
      this.decoder.reset();
      chunk = chunk.subarray(at + 1);
    }
    if (chunk.length > 0) super.receive(chunk);
  }

  protected override onLine(text: string): void {
    const sync = this.sync;
    if (sync === undefined) {
      super.onLine(text);
      return;
    }
    // Resynchronising: all but the reply to our sync is stale (and not
    // recorded). Lines before the sentinel only get here from the rest of
    // the chunk that started the sync, which the agent wrote before it
    // could read our request.
    if (!sync.sentinel) return;
    let message: unknown;
    try {
      message = parseJson(text);
    } catch {
      return;
    }
    if (typeof message === 'object' && message !== null && (message as { return?: unknown }).return === sync.id) {
      this.recorder?.server(text);
      this.synced();
    }
  }
}
