/**
 * One client connection, run as QEMU's QMP monitor runs it.
 *
 *   greeting → capabilities negotiation → command mode
 *
 * - The greeting offers the server's capabilities (default `oob`).
 * - In negotiation mode only `qmp_capabilities` works; any other command
 *   gets CommandNotFound "Expecting capabilities negotiation with
 *   'qmp_capabilities'". In command mode `qmp_capabilities` gets
 *   CommandNotFound "Capabilities negotiation is already complete, command
 *   ignored". Events are sent only in command mode.
 * - Every request is checked as QEMU's dispatcher checks it: the envelope
 *   ("QMP input must be a JSON object", "QMP input lacks member 'execute'",
 *   "QMP input member 'x' is unexpected"…), then the command ("The command
 *   x has not been found"), `exec-oob` (unexpected without the `oob`
 *   capability; "The command x does not support OOB" for a command not
 *   marked allow-oob), then the arguments (arguments.ts).
 * - In-band requests are answered one after another, in order (a delayed
 *   reply holds back the ones behind it); `exec-oob` ones at once. As in
 *   QEMU, reading stops while requests queue up behind a slow one (after
 *   one without `oob`, after eight with it), so memory stays bounded.
 *   Reading (and answering) also stops while more than OUTPUT_HIGH_WATER
 *   bytes of output wait for a client that does not read them, and input
 *   is taken apart one request at a time, so no read is answered past it.
 * - Replies are `{"return": …, "id": …}` / `{"id": …, "error": {…}}` and
 *   events `{"timestamp": …, "event": …, "data": …}`, each line ended with
 *   "\r\n", as QEMU writes them.
 * - As a guest agent (`guestAgent`): no greeting, no negotiation; a 0xFF
 *   byte drops the partial request and is answered with qemu-ga's error
 *   for it; the reply to `guest-sync-delimited` starts with a 0xFF byte.
 */
import type { Duplex } from 'node:stream';
import { stringifyJson } from '../runtime/json.js';
import type { CommandTable, EventTable } from '../support/client.js';
import { QmpErrorResponse } from './errors.js';
import { actOut, type Fault } from './faults.js';
import { RequestReader, type Request } from './input.js';
import type { ServerSchema } from './schema.js';
import type {
  Call,
  CallContext,
  EventArgs,
  EmitOptions,
  Plan,
  Script,
  UntypedCommands,
  UntypedEvents,
} from './script.js';
import { Wire } from './transport.js';
import { MAX_TIMER_MS } from '../runtime/timers.js';
import { Fifo } from '../runtime/fifo.js';

export type SessionState = 'negotiation' | 'command' | 'closed';

export interface QmpVersionTriple {
  major: number;
  minor: number;
  micro: number;
}

export interface Greeting {
  version: { qemu: QmpVersionTriple; package: string };
  capabilities: string[];
}

/** A command as it arrived (before any check), for tests to look at. */
export interface ReceivedCommand {
  /** The session's number (1, 2, … in connection order). */
  readonly session: number;
  readonly command: string;
  /** The `arguments` member as sent (undefined when absent). */
  readonly arguments: Record<string, unknown> | undefined;
  readonly id: unknown;
  readonly oob: boolean;
}

/** What a session needs from its server. */
export interface SessionHost {
  readonly schema: ServerSchema;
  readonly script: Script;
  /** null: send no greeting. */
  readonly greeting: Greeting | null;
  readonly onConnect: readonly (Fault | ((session: Session<never, never>) => void))[];
  readonly serial: boolean;
  /** Speak as qemu-ga (see the file comment). */
  readonly guestAgent: boolean;
  readonly maxRequestBytes: number;
  record(command: ReceivedCommand): void;
  closed(session: Session<never, never>): void;
}

type Outcome =
  | { readonly kind: 'return'; readonly value: unknown }
  | { readonly kind: 'error'; readonly errorClass: string; readonly desc: string }
  | { readonly kind: 'raw'; readonly line: string };

type Timer = NodeJS.Timeout | NodeJS.Immediate;

/** Requests queued behind a slow in-band command before reading stops (QEMU's QMP_REQ_QUEUE_LEN_MAX). */
const QUEUE_LIMIT_OOB = 8;

/** The guest agent's resynchronisation byte, both ways. */
const SENTINEL = 0xff;
/** What qemu-ga 7.2 answers to a 0xFF byte from the client (measured). */
const STRAY_SENTINEL_DESC = "JSON parse error, stray '\\uFFFD'";

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function timestamp(): string {
  const now = Date.now();
  return `{"seconds": ${Math.floor(now / 1000)}, "microseconds": ${(now % 1000) * 1000}}`;
}

function errorLine(idMember: string, errorClass: string, desc: string): string {
  const error = `"error": {"class": ${JSON.stringify(errorClass)}, "desc": ${JSON.stringify(desc)}}`;
  return idMember === '' ? `{${error}}\r\n` : `{${idMember.slice(2)}, ${error}}\r\n`;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A double as QEMU writes it (`%.17g`; `inf`, `-inf` for what overflowed when it was read). */
function qemuDouble(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, expText] = x.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const digits = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
    return `${digits}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, 16 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** Whether QEMU would read this number as a double and so write it back differently from JSON.stringify. */
function echoedAsDouble(v: unknown): boolean {
  if (typeof v === 'bigint') return v < INT64_MIN || v > INT64_MAX;
  return typeof v === 'number' && (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v)));
}

/**
 * The request's id as QEMU echoes it: QEMU keeps an integer that fits in
 * int64 and reads any other number as a double, which it writes back with
 * `%.17g`, so an id of 2^64 comes back as `1.8446744073709552e+19` and
 * one of `1e400` as `inf` (not JSON; measured from QEMU 7.2). Iterative.
 */
function echoId(id: unknown): string {
  if (typeof id === 'string') return JSON.stringify(id);
  let plain = true;
  const todo: unknown[] = [id];
  while (plain && todo.length > 0) {
    const v = todo.pop();
    if (echoedAsDouble(v)) plain = false;
    else if (typeof v === 'object' && v !== null) todo.push(...Object.values(v));
  }
  if (plain) return stringifyJson(id);
  let out = '';
  const parts: unknown[] = [id];
  while (parts.length > 0) {
    const v = parts.pop();
    if (v instanceof Literal) out += v.text;
    else if (echoedAsDouble(v)) out += qemuDouble(Number(v));
    else if (Array.isArray(v)) {
      parts.push(new Literal(']'));
      for (let i = v.length - 1; i >= 0; i--) parts.push(v[i], new Literal(i === 0 ? '' : ', '));
      out += '[';
    } else if (typeof v === 'object' && v !== null) {
      const keys = Object.keys(v);
      parts.push(new Literal('}'));
      for (let i = keys.length - 1; i >= 0; i--) {
        parts.push(
          (v as Record<string, unknown>)[keys[i]!],
          new Literal(`${i === 0 ? '' : ', '}${JSON.stringify(keys[i])}: `),
        );
      }
      out += '{';
    } else out += stringifyJson(v);
  }
  return out;
}

class Literal {
  constructor(readonly text: string) {}
}

export class Session<C extends CommandTable<C> = UntypedCommands, E extends EventTable = UntypedEvents> {
  state: SessionState = 'negotiation';
  oobEnabled = false;
  /** Resolves once the connection is gone. */
  readonly closed: Promise<void>;
  private readonly wire: Wire;
  private readonly reader: RequestReader;
  private readonly queue = new Fifo<() => void | Promise<void>>();
  private running = false;
  /** Input read but not taken apart yet, as reading stopped: oldest first. */
  private readonly held: Buffer[] = [];
  private releasing = false;
  private readonly timers = new Set<Timer>();
  private readonly abort = new AbortController();
  private resolveClosed!: () => void;

  /** @internal */
  constructor(
    private readonly host: SessionHost,
    stream: Duplex,
    /** 1, 2, … in connection order. */
    readonly id: number,
  ) {
    this.wire = new Wire(stream);
    this.wire.onDrained = () => this.pump();
    this.wire.onResumed = () => this.release();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.reader = new RequestReader((request) => this.onRequest(request), host.maxRequestBytes);
    if (host.guestAgent) this.state = 'command';
    stream.on('data', (chunk: Buffer) => this.input(chunk));
    stream.on('error', () => {});
    stream.on('close', () => this.shutdown());
    stream.on('end', () => this.wire.end());
  }

  /** @internal Greets the client (or acts out the connect faults). */
  start(): void {
    const greeting = this.host.greeting;
    const line = greeting === null ? undefined : `${stringifyJson({ QMP: greeting })}\r\n`;
    const faults = this.host.onConnect.filter((f): f is Fault => typeof f !== 'function');
    for (const hook of this.host.onConnect)
      if (typeof hook === 'function') hook(this as unknown as Session<never, never>);
    if (faults.length === 0) {
      if (line !== undefined) this.wire.write(line);
      return;
    }
    for (const fault of faults) actOut(fault, this.wire, line, '', this.timers);
  }

  /** Requests read but waiting behind a slow in-band one (or for the client to read its replies). */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Bytes written to the client that it has not taken yet. Past
   * OUTPUT_HIGH_WATER (1 MiB) the session stops reading and answering
   * until the client catches up.
   */
  get unsentBytes(): number {
    return this.wire.unsentBytes;
  }

  // --- scripting a live session ----------------------------------------------

  /** Sends an event to this client now (or after `delay` ms); checked against the schema. */
  emit<K extends keyof E & string>(name: K, ...rest: EventArgs<E, K>): void {
    const [data, options] = rest as [unknown, EmitOptions | undefined];
    this.host.schema.assertEvent(name, data);
    this.emitChecked(name, data, options?.delay ?? 0);
  }

  /** @internal An event already checked against the schema (the server's, for every session). */
  emitChecked(name: string, data: unknown, delay: number): void {
    this.later(delay, () => this.sendEvent(name, data));
  }

  /** Writes bytes verbatim, unchecked (a message QEMU would never send, say). */
  sendRaw(data: string | Buffer): void {
    this.wire.write(data);
  }

  /** Acts out a fault now, outside any reply; resolves once it is acted out. */
  async inject(fault: Fault): Promise<void> {
    await actOut(fault, this.wire, undefined, '', this.timers);
  }

  /** Stops reading from the client (its writes pile up) until resumeReading(). */
  stopReading(): void {
    this.wire.pause('fault');
  }

  resumeReading(): void {
    this.wire.resume('fault');
  }

  /** Hangs up (FIN). */
  hangUp(): void {
    this.wire.end();
  }

  /** Drops the connection abruptly. */
  reset(): void {
    this.wire.reset();
  }

  // --- requests ---------------------------------------------------------------

  private input(chunk: Buffer): void {
    if (this.held.length === 0) this.feed(chunk);
    else this.held.push(chunk);
  }

  /** Reading is on again: take apart the input held when it stopped (until it stops again). */
  private release(): void {
    // Answering a request resumes reading synchronously: the chunks after
    // the one being taken apart must wait for it.
    if (this.releasing) return;
    this.releasing = true;
    try {
      while (this.held.length > 0 && this.wire.reading && this.state !== 'closed') this.feed(this.held.shift()!);
    } finally {
      this.releasing = false;
    }
  }

  /**
   * Takes input apart one request at a time, and stops as soon as reading
   * stops (a slow command, a client not reading its replies): the rest of
   * the chunk is held, as bytes, until reading resumes. So one chunk full of
   * requests cannot make the server answer past the output mark. As a
   * guest agent, each 0xFF drops the partial request, with an error for
   * the byte.
   */
  private feed(chunk: Buffer): void {
    const agent = this.host.guestAgent;
    let sentinel = -1;
    let start = 0;
    while (start < chunk.length) {
      if (!this.wire.reading) {
        this.held.unshift(chunk.subarray(start));
        return;
      }
      if (agent && sentinel < start) {
        sentinel = chunk.indexOf(SENTINEL, start);
        if (sentinel === -1) sentinel = chunk.length;
      }
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl + 1;
      if (agent && sentinel < end) {
        this.reader.push(chunk.subarray(start, sentinel));
        this.reader.reset();
        this.onRequest({ ok: false, desc: STRAY_SENTINEL_DESC });
        start = sentinel + 1;
        continue;
      }
      this.reader.push(chunk.subarray(start, end));
      start = end;
    }
  }

  private onRequest(request: Request): void {
    if (this.state === 'closed') return;
    if (!request.ok) {
      this.enqueue(() => this.send(errorLine('', 'GenericError', request.desc)));
      return;
    }
    const msg = request.message;
    if (isDict(msg) && typeof msg['exec-oob'] === 'string' && !Object.hasOwn(msg, 'execute')) {
      // Out-of-band: dispatched as it arrives, overtaking the queue.
      void this.dispatch(msg);
      return;
    }
    this.enqueue(() => this.dispatch(msg));
  }

  /**
   * Runs in-band work in order; reading pauses while it piles up. Nothing
   * runs while the client leaves too much output unread (the wire is
   * congested): what was read waits here, and the wire reads no more.
   */
  private enqueue(job: () => void | Promise<void>): void {
    if (!this.host.serial && !this.wire.congested && this.queue.length === 0) {
      void job();
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    const serial = this.host.serial;
    while (this.queue.length > 0 && !this.wire.congested && !(serial && this.running)) {
      const job = this.queue.shift()!;
      const pending = job();
      if (pending !== undefined && serial) {
        this.running = true;
        void pending.finally(() => {
          this.running = false;
          this.pump();
        });
      }
    }
    if (this.running && this.queue.length >= (this.oobEnabled ? QUEUE_LIMIT_OOB - 1 : 1)) this.wire.pause('queue');
    else this.wire.resume('queue');
  }

  /** QEMU's qmp_dispatch(): the envelope, the command, then the arguments. */
  private dispatch(msg: unknown): void | Promise<void> {
    if (!isDict(msg)) return this.send(errorLine('', 'GenericError', 'QMP input must be a JSON object'));
    const idMember = Object.hasOwn(msg, 'id') ? `, "id": ${echoId(msg.id)}` : '';
    const refuse = (desc: string, errorClass = 'GenericError'): void =>
      this.send(errorLine(idMember, errorClass, desc));
    let key: 'execute' | 'exec-oob' | undefined;
    for (const member of Object.keys(msg)) {
      if (member === 'execute' || (member === 'exec-oob' && this.oobEnabled)) {
        if (typeof msg[member] !== 'string') return refuse(`QMP input member '${member}' must be a string`);
        if (key !== undefined) return refuse(`QMP input member '${member}' is unexpected`);
        key = member;
      } else if (member === 'arguments') {
        if (!isDict(msg.arguments)) return refuse("QMP input member 'arguments' must be an object");
      } else if (member !== 'id') {
        return refuse(`QMP input member '${member}' is unexpected`);
      }
    }
    if (key === undefined) return refuse("QMP input lacks member 'execute'");
    const name = msg[key] as string;
    const oob = key === 'exec-oob';
    const sent = msg.arguments as Record<string, unknown> | undefined;
    this.host.record({ session: this.id, command: name, arguments: sent, id: msg.id, oob });

    const command = this.host.schema.command(name);
    const negotiating = this.state === 'negotiation';
    if (negotiating && name !== 'qmp_capabilities') {
      return refuse("Expecting capabilities negotiation with 'qmp_capabilities'", 'CommandNotFound');
    }
    if (command === undefined && !(negotiating && name === 'qmp_capabilities')) {
      return refuse(`The command ${name} has not been found`, 'CommandNotFound');
    }
    if (oob && !command?.allowOob) return refuse(`The command ${name} does not support OOB`);
    let args = sent ?? {};
    if (command !== undefined) {
      const checked = this.host.schema.checkArguments(command, args);
      if (!checked.ok) return refuse(checked.desc);
      args = checked.value;
    }
    if (name === 'qmp_capabilities') {
      if (!negotiating)
        return refuse('Capabilities negotiation is already complete, command ignored', 'CommandNotFound');
      const enable = Array.isArray(args.enable) ? (args.enable as unknown[]) : [];
      const offered = this.host.greeting?.capabilities ?? [];
      const missing = enable.filter((cap) => !offered.includes(cap as string));
      if (missing.length > 0) return refuse(`Capability ${missing.join(', ')} not available`);
    }
    const call: Call = { command: name, args, id: msg.id, oob, replies: command?.successResponse !== false };
    return this.answer(call, this.host.script.plan(call), idMember);
  }

  // --- answering ---------------------------------------------------------------

  private answer(call: Call, plan: Plan, idMember: string): void | Promise<void> {
    for (const event of plan.before) this.sendEvent(event.name, event.data);
    const response = plan.response;
    if (plan.delay === 0 && response.kind !== 'handler')
      return this.finish(call, plan, idMember, this.outcome(call, response));
    return this.answerLater(call, plan, idMember);
  }

  private async answerLater(call: Call, plan: Plan, idMember: string): Promise<void> {
    if (plan.delay > 0) await this.sleep(plan.delay);
    if (this.isClosed()) return;
    const response = plan.response;
    const outcome =
      response.kind === 'handler' ? await this.runHandler(call, response.fn) : this.outcome(call, response);
    if (this.isClosed()) return;
    await this.finish(call, plan, idMember, outcome);
  }

  private outcome(call: Call, response: Exclude<Plan['response'], { kind: 'handler' }>): Outcome {
    if (response.kind === 'raw') {
      const line = typeof response.line === 'function' ? response.line(call.id) : response.line;
      return { kind: 'raw', line: line.endsWith('\n') ? line : `${line}\r\n` };
    }
    return response;
  }

  private async runHandler(call: Call, fn: (args: never, context: never) => unknown): Promise<Outcome> {
    const context: CallContext<C, E> = {
      command: call.command,
      id: call.id,
      oob: call.oob,
      session: this,
      signal: this.abort.signal,
      emit: (name, ...rest) => {
        const [data] = rest as [unknown];
        this.host.schema.assertEvent(name, data);
        this.sendEvent(name, data);
      },
    };
    let value: unknown;
    try {
      value = await (fn as (args: unknown, context: unknown) => unknown)(call.args, context);
    } catch (e) {
      if (e instanceof QmpErrorResponse) return { kind: 'error', errorClass: e.errorClass, desc: e.desc };
      const message = e instanceof Error ? e.message : String(e);
      this.host.script.fail({
        kind: 'handler',
        command: call.command,
        message: `handler for '${call.command}' threw: ${message}`,
      });
      return {
        kind: 'error',
        errorClass: 'GenericError',
        desc: `qapi-ts test server: handler for '${call.command}' failed: ${message}`,
      };
    }
    if (value === undefined) value = {};
    const problem = this.host.schema.replyProblem(call.command, value);
    if (problem !== '') {
      const message = `reply to '${call.command}' from its handler: ${problem}`;
      this.host.script.fail({ kind: 'invalid-reply', command: call.command, message });
      return { kind: 'error', errorClass: 'GenericError', desc: `qapi-ts test server: invalid ${message}` };
    }
    return { kind: 'return', value };
  }

  private finish(call: Call, plan: Plan, idMember: string, outcome: Outcome): void | Promise<void> {
    if (outcome.kind === 'return' && call.command === 'qmp_capabilities' && this.state === 'negotiation') {
      this.state = 'command';
      this.oobEnabled = Array.isArray(call.args.enable) && call.args.enable.includes('oob');
    }
    let line: string | undefined;
    if (outcome.kind === 'error') line = errorLine(idMember, outcome.errorClass, outcome.desc);
    else if (outcome.kind === 'raw') line = outcome.line;
    else if (call.replies) line = `{"return": ${stringifyJson(outcome.value)}${idMember}}\r\n`;
    const events = (): void => {
      for (const event of plan.after) this.later(event.delay, () => this.sendEvent(event.name, event.data));
    };
    if (plan.fault === undefined) {
      if (line !== undefined) {
        const delimited = this.host.guestAgent && call.command === 'guest-sync-delimited' && outcome.kind === 'return';
        this.send(delimited ? Buffer.concat([Buffer.from([SENTINEL]), Buffer.from(line)]) : line);
      }
      return events();
    }
    const acting = actOut(plan.fault, this.wire, line ?? `{"return": {}${idMember}}\r\n`, idMember, this.timers);
    if (acting === undefined) return events();
    return acting.then(events);
  }

  // --- output and time ------------------------------------------------------------

  /** Read again after an await (TypeScript's narrowing does not know the state can change). */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private send(line: string | Buffer): void {
    this.wire.write(line);
  }

  private sendEvent(name: string, data: unknown): void {
    if (this.state !== 'command') return;
    const body = data === undefined ? '' : `, "data": ${stringifyJson(data)}`;
    this.send(`{"timestamp": ${timestamp()}, "event": ${JSON.stringify(name)}${body}}\r\n`);
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    // One Node timer waits at most MAX_TIMER_MS; a longer delay is waited out in steps.
    const step = Math.min(ms, MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (ms > step) this.later(ms - step, fn);
      else fn();
    }, step);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  /** @internal Ends the session: timers stop, handlers see their signal abort. */
  shutdown(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const timer of this.timers) {
      clearTimeout(timer as NodeJS.Timeout);
      clearImmediate(timer as NodeJS.Immediate);
    }
    this.timers.clear();
    this.queue.clear();
    this.held.length = 0;
    this.abort.abort();
    if (!this.wire.closed) this.wire.stream.destroy();
    this.host.closed(this as unknown as Session<never, never>);
    this.resolveClosed();
  }
}
