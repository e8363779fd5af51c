/**
 * What the server answers: rules (`on`: any time, any number of times)
 * and expectations (`expect`: must come, in order unless `anyOrder()`),
 * each with one response (a fixed reply, a handler, a QMP error, a
 * verbatim line or a fault), an optional delay and events to send after.
 *
 * Choosing the rule for a command (already checked against the schema):
 *  1. the next ordered expectation, if it matches;
 *  2. any unordered expectation that matches;
 *  3. a later ordered expectation that matches (used, but the broken order
 *     is a failure);
 *  4. an `on` rule for the command;
 *  5. the fallbacks (a replayed transcript, the built-in answers);
 *  6. nothing: a GenericError reply, and an "unexpected command" failure.
 * An expectation without a response of its own answers as 4–6 would.
 */
import { jsonEqual } from '../transcripts/messages.js';
import { stringifyJson } from '../runtime/json.js';
import type { CommandTable, EventTable } from '../support/client.js';
import { QmpScriptError, type TestFailure } from './errors.js';
import type { Fault } from './faults.js';
import type { ServerSchema } from './schema.js';
import type { Session } from './session.js';

// ---------------------------------------------------------------------------
// Types seen by scripts

/** Command tables when the server is not given generated types. */
export interface UntypedCommands {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped scripts take any arguments
  [name: string]: { args: any; returns: unknown };
}
/** Event tables when the server is not given generated types. */
export interface UntypedEvents {
  [name: string]: unknown;
}

/** What a handler receives: always an object (`{}` when none were sent). */
export type HandlerArgs<A> = [Exclude<A, undefined>] extends [never] ? Record<string, never> : Exclude<A, undefined>;

/** What a handler returns: the reply value (nothing stands for `{}`). */
export type HandlerResult<R> = Record<string, never> extends R ? R | void : R;

/** Arguments after an event's name: data (optional when the event may have none), then options. */
export type EventArgs<E, K extends keyof E> = undefined extends E[K]
  ? [data?: E[K], options?: EmitOptions]
  : [data: E[K], options?: EmitOptions];

export interface EmitOptions {
  /** Milliseconds to wait before sending. */
  delay?: number;
}

/** A command as a handler sees it. */
export interface CallContext<C extends CommandTable<C> = UntypedCommands, E extends EventTable = UntypedEvents> {
  readonly command: string;
  /** The request's `id` (undefined when it had none). */
  readonly id: unknown;
  readonly oob: boolean;
  readonly session: Session<C, E>;
  /** Aborted when the session ends, so long handlers can stop. */
  readonly signal: AbortSignal;
  /** Sends an event now (before this command's reply). */
  emit<K extends keyof E & string>(name: K, ...rest: EventArgs<E, K>): void;
}

export type Handler<C extends CommandTable<C>, E extends EventTable, K extends keyof C> = (
  args: HandlerArgs<C[K]['args']>,
  context: CallContext<C, E>,
) => HandlerResult<C[K]['returns']> | Promise<HandlerResult<C[K]['returns']>>;

/** Matches a command's arguments: exact JSON equality, or a predicate. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- predicates see the arguments as sent
export type ArgsMatcher<A> = A | ((args: any) => boolean);

// ---------------------------------------------------------------------------
// Internals shared with the session

export type Response =
  | { readonly kind: 'return'; readonly value: unknown }
  | { readonly kind: 'error'; readonly errorClass: string; readonly desc: string }
  | { readonly kind: 'handler'; readonly fn: (args: never, context: never) => unknown }
  | { readonly kind: 'raw'; readonly line: string | ((id: unknown) => string) };

export interface ScriptedEvent {
  readonly name: string;
  readonly data: unknown;
  readonly delay: number;
}

/** How to answer one command. */
export interface Plan {
  readonly response: Response;
  /** Acted out on the reply line instead of sending it plainly. */
  readonly fault?: Fault;
  readonly delay: number;
  /** Events sent before the reply (a replayed command's). */
  readonly before: readonly ScriptedEvent[];
  readonly after: readonly ScriptedEvent[];
}

/** A command that passed the schema's checks, on its way to an answer. */
export interface Call {
  readonly command: string;
  readonly args: Record<string, unknown>;
  readonly id: unknown;
  readonly oob: boolean;
  /** False for a command that sends no reply on success (`success-response: false`). */
  readonly replies: boolean;
}

/** Answering with `response` at once, with no events. */
export function planOf(response: Response): Plan {
  return { response, delay: 0, before: [], after: [] };
}

/** The server's own GenericError for a command it cannot answer (`desc` after its prefix). */
export function serverError(desc: string): Plan {
  return planOf({ kind: 'error', errorClass: 'GenericError', desc: `qapi-ts test server: ${desc}` });
}

/** Answers commands no rule took (replay, built-ins); undefined: not mine. */
export type Fallback = (call: Call) => Plan | undefined;

const MAX_FAILURES = 1000;

/** Where a script line was written, for messages about it. */
function callerLocation(): string {
  const stack = new Error().stack?.split('\n') ?? [];
  const line = stack.find(
    (l, i) =>
      i > 0 &&
      !/[/\\]src[/\\]testing[/\\]|[/\\]dist[/\\]src[/\\]testing[/\\]|node:internal/.test(l) &&
      /\(|at /.test(l),
  );
  const m = line === undefined ? null : /\(?((?:file:\/\/)?[^()\s]+:\d+:\d+)\)?\s*$/.exec(line);
  return m ? m[1]!.replace(/^file:\/\//, '') : 'unknown location';
}

// ---------------------------------------------------------------------------
// Rules

export class Rule<C extends CommandTable<C>, E extends EventTable, K extends keyof C & string> {
  /** @internal */ response: Response | undefined;
  /** @internal */ faultValue: Fault | undefined;
  /** @internal */ delayMs = 0;
  /** @internal */ readonly events: ScriptedEvent[] = [];
  /** @internal */ remaining: number;
  /** @internal */ ordered = true;
  /** @internal */ readonly where = callerLocation();

  /** @internal */
  constructor(
    private readonly schema: ServerSchema,
    readonly command: K,
    /** True for `expect`, false for `on`. */
    readonly expected: boolean,
    private readonly matcher: ((args: Record<string, unknown>) => boolean) | undefined,
    private readonly argsText: string | undefined,
  ) {
    this.remaining = expected ? 1 : Infinity;
  }

  private set(response: Response): this {
    if (this.response !== undefined) throw new QmpScriptError(`${this.describe()}: a response is already scripted`);
    this.response = response;
    return this;
  }

  /** Answers with this value; checked against the schema now. */
  reply(value: HandlerResult<C[K]['returns']>): this {
    const v = value === undefined ? {} : value;
    this.schema.assertReply(this.command, v);
    return this.set({ kind: 'return', value: v });
  }

  /** Answers with a QMP error, e.g. `error('DeviceNotFound', "Device 'x' not found")`. */
  error(errorClass: string, desc: string): this {
    return this.set({ kind: 'error', errorClass, desc });
  }

  /** Answers with what `fn` returns (checked when produced) or throws (`QmpErrorResponse`). */
  handle(fn: Handler<C, E, K>): this {
    return this.set({ kind: 'handler', fn: fn as unknown as (args: never, context: never) => unknown });
  }

  /** Sends this line verbatim instead of a reply (a function gets the request's id). */
  raw(line: string | ((id: unknown) => string)): this {
    return this.set({ kind: 'raw', line });
  }

  /**
   * Acts out a fault on the reply instead of sending it plainly: with
   * `split` or `closeMidLine` the reply (as scripted, or `{"return": {}}`
   * when none is) is sent in pieces or in half; other faults replace it.
   */
  fault(fault: Fault): this {
    if (this.faultValue !== undefined) throw new QmpScriptError(`${this.describe()}: a fault is already scripted`);
    this.faultValue = fault;
    return this;
  }

  /** Waits this long before answering (in-band commands behind it wait too, as in QEMU). */
  delay(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay: expected milliseconds, got ${ms}`);
    this.delayMs = ms;
    return this;
  }

  /** Sends an event after the reply (after `delay` ms when given); checked against the schema now. */
  thenEmit<N extends keyof E & string>(name: N, ...rest: EventArgs<E, N>): this {
    const [data, options] = rest as [unknown, EmitOptions | undefined];
    this.schema.assertEvent(name, data);
    this.events.push({ name, data, delay: options?.delay ?? 0 });
    return this;
  }

  /** Expect the command this many times (default once). */
  times(n: number): this {
    if (!this.expected) throw new QmpScriptError(`${this.describe()}: times() is for expectations`);
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`times: expected a positive integer, got ${n}`);
    this.remaining = n;
    return this;
  }

  /** The expectation may be met at any point, not only in its turn. */
  anyOrder(): this {
    this.ordered = false;
    return this;
  }

  /** @internal */
  matches(call: Call): boolean {
    return call.command === this.command && (this.matcher === undefined || this.matcher(call.args));
  }

  /** @internal */
  describe(): string {
    const args = this.argsText === undefined ? '' : ` with ${this.argsText}`;
    return `${this.expected ? 'expected' : 'rule for'} '${this.command}'${args} (${this.where})`;
  }

  /**
   * @internal An expectation without an answer of its own answers as
   * `answer` says, with its own delay and events on top.
   */
  onTopOf(answer: Plan): Plan {
    return { ...answer, delay: answer.delay + this.delayMs, after: [...answer.after, ...this.events] };
  }

  /** @internal */
  plan(): Plan | undefined {
    if (this.response === undefined && this.faultValue === undefined) return undefined;
    const response = this.response ?? { kind: 'return', value: {} };
    return { response, fault: this.faultValue, delay: this.delayMs, before: [], after: this.events };
  }
}

// ---------------------------------------------------------------------------
// The script

export class Script {
  readonly failures: TestFailure[] = [];
  /** Failures beyond MAX_FAILURES, counted only. */
  droppedFailures = 0;
  private readonly expectations: Rule<never, never, never>[] = [];
  private readonly rules = new Map<string, Rule<never, never, never>>();
  private readonly fallbacks: Fallback[] = [];

  constructor(
    private readonly schema: ServerSchema,
    private readonly onFailure?: (failure: TestFailure) => void,
  ) {}

  fail(failure: TestFailure): void {
    if (this.failures.length < MAX_FAILURES) this.failures.push(failure);
    else this.droppedFailures++;
    this.onFailure?.(failure);
  }

  /** A rule for `command` (replacing an earlier one). */
  on<C extends CommandTable<C>, E extends EventTable, K extends keyof C & string>(command: K): Rule<C, E, K> {
    this.schema.assertCommand(command);
    const rule = new Rule<C, E, K>(this.schema, command, false, undefined, undefined);
    this.rules.set(command, rule as unknown as Rule<never, never, never>);
    return rule;
  }

  expect<C extends CommandTable<C>, E extends EventTable, K extends keyof C & string>(
    command: K,
    args?: ArgsMatcher<C[K]['args']>,
  ): Rule<C, E, K> {
    this.schema.assertCommand(command);
    let matcher: ((a: Record<string, unknown>) => boolean) | undefined;
    let text: string | undefined;
    if (typeof args === 'function') {
      matcher = args as (a: Record<string, unknown>) => boolean;
      text = 'matching arguments';
    } else if (args !== undefined) {
      const wanted = args as unknown;
      matcher = (a) => jsonEqual(a, wanted);
      text = `arguments ${stringifyJson(wanted)}`;
    }
    const rule = new Rule<C, E, K>(this.schema, command, true, matcher, text);
    this.expectations.push(rule as unknown as Rule<never, never, never>);
    return rule;
  }

  addFallback(fallback: Fallback): void {
    this.fallbacks.push(fallback);
  }

  /** Chooses how to answer `call` (see the file comment). */
  plan(call: Call): Plan {
    const expectation = this.takeExpectation(call);
    const own = expectation?.plan();
    if (own !== undefined) return own;
    const answer = this.answer(call);
    if (answer !== undefined) return expectation === undefined ? answer : expectation.onTopOf(answer);
    if (expectation !== undefined) {
      // Expected, but nothing says how to answer.
      this.fail({
        kind: 'unexpected',
        command: call.command,
        message: `${expectation.describe()} came, but nothing scripts its reply`,
      });
      return serverError(`no reply scripted for '${call.command}'`);
    }
    const next = this.expectations.find((e) => e.remaining > 0);
    const hint = next === undefined ? '' : `; next ${next.describe()}`;
    this.fail({
      kind: 'unexpected',
      command: call.command,
      message: `unexpected command '${call.command}' ${describeArgs(call.args)}${hint}`,
    });
    return serverError(`nothing scripted for '${call.command}'`);
  }

  /** The answer of the `on` rule, else of the first fallback that has one. */
  private answer(call: Call): Plan | undefined {
    const rule = this.rules.get(call.command)?.plan();
    if (rule !== undefined) return rule;
    for (const fallback of this.fallbacks) {
      const plan = fallback(call);
      if (plan !== undefined) return plan;
    }
    return undefined;
  }

  private takeExpectation(call: Call): Rule<never, never, never> | undefined {
    const pending = this.expectations.filter((e) => e.remaining > 0);
    const head = pending.find((e) => e.ordered);
    let chosen: Rule<never, never, never> | undefined;
    if (head?.matches(call)) chosen = head;
    chosen ??= pending.find((e) => !e.ordered && e.matches(call));
    if (chosen === undefined) {
      chosen = pending.find((e) => e.ordered && e.matches(call));
      if (chosen !== undefined && head !== undefined) {
        this.fail({
          kind: 'order',
          command: call.command,
          message: `${chosen.describe()} came before ${head.describe()}`,
        });
      }
    }
    if (chosen !== undefined) chosen.remaining--;
    return chosen;
  }

  /** Expectations not (fully) met, as failures. */
  unmet(): TestFailure[] {
    return this.expectations
      .filter((e) => e.remaining > 0)
      .map((e) => ({
        kind: 'unused' as const,
        command: e.command,
        message:
          `${e.describe()} was never received` +
          (Number.isFinite(e.remaining) && e.remaining > 1 ? ` (${e.remaining} more times)` : ''),
      }));
  }
}

function describeArgs(args: Record<string, unknown>): string {
  const text = stringifyJson(args);
  return text === '{}' ? '(no arguments)' : `with arguments ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}
