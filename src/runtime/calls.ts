/**
 * Which call a reply answers.
 *
 * QEMU answers in-band commands one after another, in the order it read
 * them, and (with the argument limits of protocol.ts) exactly once each;
 * out-of-band replies come whenever they are ready, carrying their `id`.
 * So a reply without an `id` answers the oldest call sent without one, and
 * a reply with an `id` answers the call that sent it:
 *
 * - **by order** (the default for in-band calls): the request goes
 *   without an `id`. QEMU reads a request one byte per main-loop turn, so
 *   the bytes of `,"id":N` cost it more time than everything our client
 *   does per call (docs/runtime.md: Speed).
 * - **by id**: out-of-band requests (their replies overtake in-band ones);
 *   calls that may be given up on (a `timeout` or `signal`): should a
 *   server never answer one, no later reply can be taken for it; `noReply`
 *   requests (an error reply may still come, at any later point); and
 *   every request when the session uses `ids: 'always'` (servers that
 *   answer out of order) or talks to a guest agent.
 *
 * So the calls matched by order can only end with their reply (or the
 * session): none of them is ever given up on, and no reply can shift from
 * one call to another as long as the server answers in order. A call
 * given up on after it was written becomes a ghost that keeps its id until
 * its late reply comes, which is then dropped. (A call given up on before
 * it was written is simply never sent; outbox.ts.)
 *
 * Ids are short: an id is reused once its reply is in, never while a
 * ghost's late reply may still come. Ghosts are kept up to GHOST_LIMIT;
 * beyond that the oldest is forgotten and its id retired.
 */
import { Fifo } from './fifo.js';
import type { Deadline } from './timers.js';

/**
 * queued: accepted, not yet written; sent: written, awaiting its reply;
 * ghost: written, given up on (or `noReply`), its reply will be dropped;
 * settled: done.
 */
export type CallState = 'queued' | 'sent' | 'ghost' | 'settled';

export class Call {
  state: CallState = 'queued';
  timer: Deadline | undefined = undefined;

  constructor(
    readonly command: string,
    readonly args: Record<string, unknown> | undefined,
    /** The request, newline included. */
    readonly line: string,
    /** The `id` sent with the request; undefined: none (matched by order). */
    readonly id: number | undefined,
    readonly oob: boolean,
    readonly noReply: boolean,
    readonly signal: AbortSignal | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}
}

/** Ghosts with ids remembered, so their late replies are dropped quietly. */
export const GHOST_LIMIT = 65_536;

export class CallTable {
  /** Calls sent without an id, oldest first. */
  private readonly order = new Fifo<Call>();
  /** Calls sent with an id. */
  private readonly byId = new Map<number, Call>();
  /** Ids of ghosts in `byId`, oldest first. */
  private readonly ghostIds = new Set<number>();
  private highestId = 0;
  private readonly freeIds: number[] = [];
  /**
   * In-band commands written and not yet answered, ghosts included: what
   * the server holds in its queue. (`noReply` ones are not counted.)
   */
  inBandInFlight = 0;

  /** A short id no call in flight has. */
  allocateId(): number {
    return this.freeIds.pop() ?? ++this.highestId;
  }

  /** Gives back the id of a call that was never sent. */
  releaseId(id: number): void {
    this.freeIds.push(id);
  }

  /** `call` was written: its reply is awaited from now on. */
  sent(call: Call): void {
    call.state = call.noReply ? 'ghost' : 'sent';
    if (holdsWindow(call)) this.inBandInFlight++;
    if (call.id === undefined) {
      this.order.push(call);
    } else {
      this.byId.set(call.id, call);
      if (call.noReply) this.rememberGhost(call.id);
    }
  }

  /** A written call was given up on: its late reply will be consumed quietly. */
  abandon(call: Call): void {
    call.state = 'ghost';
    if (call.id !== undefined) this.rememberGhost(call.id);
  }

  /**
   * The call a reply answers, taken out of the table (its id free again),
   * or undefined when it answers none. A reply without an id answers the
   * oldest call sent without one; a reply with an id the call that has it.
   */
  take(id: unknown): Call | undefined {
    let call: Call | undefined;
    if (id === undefined) {
      call = this.order.shift();
      if (call === undefined) return undefined;
    } else {
      if (typeof id !== 'number') return undefined;
      call = this.byId.get(id);
      if (call === undefined) return undefined;
      this.byId.delete(id);
      this.ghostIds.delete(id);
      this.freeIds.push(id);
    }
    this.unwindow(call);
    return call;
  }

  /** Empties the table; returns every written call still in it (oldest in-order ones first). */
  clear(): Call[] {
    const calls = [...this.order.clear(), ...this.byId.values()];
    for (const call of calls) this.unwindow(call);
    for (const id of this.byId.keys()) this.freeIds.push(id);
    this.byId.clear();
    this.ghostIds.clear();
    return calls;
  }

  /** `call` leaves the table (each call does so once: taken, cleared or forgotten). */
  private unwindow(call: Call): void {
    if (holdsWindow(call)) this.inBandInFlight--;
  }

  private rememberGhost(id: number): void {
    this.ghostIds.add(id);
    if (this.ghostIds.size > GHOST_LIMIT) {
      // Forget the oldest; its id is retired for good, never reused.
      const oldest = this.ghostIds.values().next().value as number;
      this.ghostIds.delete(oldest);
      const call = this.byId.get(oldest);
      this.byId.delete(oldest);
      if (call !== undefined) this.unwindow(call);
    }
  }
}

/**
 * Whether a call, while in the table, counts among the in-band commands
 * the server holds (CallTable.inBandInFlight).
 */
function holdsWindow(call: Call): boolean {
  return !call.oob && !call.noReply;
}
