/**
 * Base class of generated typed clients.
 *
 * The generated subclass adds one method per command and passes the
 * tables of validators; this class does the calling and checking. It runs
 * on any `QmpExecutor` (the runtime client, a recording, a fake).
 */
import type { ExecuteOptions, QmpEventMessage, QmpExecutor } from '../runtime/executor.js';
import { probe, type IntrospectOptions } from '../runtime/probe.js';
import { waitForEvent, type WaitForEventOptions } from '../runtime/wait.js';
import type { Schema } from './kit.js';
import { QapiValidationError, type ValidationTarget } from './errors.js';
import { problemsOf, tooDeepToValidate } from './problems.js';
import { MAX_NESTING } from './nesting.js';
import { fastSafeParse } from './fast.js';
import type { UnknownValue } from './unknown.js';

export interface CommandValidators {
  /** Arguments (always strict); null when the command takes none. */
  readonly args: Schema | null;
  /** Reply value; null when there is no reply to check. */
  readonly returns: Schema | null;
}

/** Validators of one generated schema at one reply strictness. */
export interface ValidatorSet {
  readonly commands: Readonly<Record<string, CommandValidators>>;
  /** Event name → data schema (null: the event carries no data). */
  readonly events: Readonly<Record<string, Schema | null>>;
  /** Commands that send no reply when they succeed (`'success-response': false`): called with `noReply`. */
  readonly noReply: ReadonlySet<string>;
}

export interface QapiClientOptions {
  /** Check arguments before sending and replies/events on arrival (default true). */
  validate?: boolean;
  /**
   * Reject replies and events carrying what the schema does not know
   * (members, enum values, union branches, events). Default false: those
   * are passed through, so a newer QEMU keeps working.
   */
  strict?: boolean;
}

/** Command name → argument and reply types (an interface is fine). */
export type CommandTable<C> = { [K in keyof C]: { args: unknown; returns: unknown } };
/** Event name → data type (undefined for events without data). */
export type EventTable = object;

/** Parameters after the command name: args optional when they may be omitted. */
export type ArgsParameters<A> = undefined extends A
  ? [args?: A, options?: ExecuteOptions]
  : [args: A, options?: ExecuteOptions];

export type Timestamp = QmpEventMessage['timestamp'];

/**
 * A probe query (see the runtime's probe-query.ts) starting at a command or
 * event of the schema: `'query-iothreads'`, `'query-iothreads/ret-type/holders'`.
 */
export type ProbeQueryFor<C, E> = ((keyof C | keyof E) & string) | `${(keyof C | keyof E) & string}/${string}`;

/** An event message narrowed by name (`gap`: see the runtime's ReconnectingQmpClient). */
export type TypedEvent<E extends EventTable, K extends keyof E & string = keyof E & string> = {
  [P in K]: { event: P; data: E[P]; timestamp: Timestamp; gap?: QmpEventMessage['gap'] };
}[K];

/** An event the generated code does not know (compatible mode only). */
export interface UnknownEvent {
  event: UnknownValue;
  data?: unknown;
  timestamp: Timestamp;
}

/**
 * The generated subclass's methods never shadow what every object has
 * (`toString`, `constructor`…) nor make it a thenable (`then`), so a client
 * can be returned from an async function, printed and compared like any
 * object. Its own enumerable properties are just `validate` and `strict`
 * (`JSON.stringify(client)` neither walks the connection nor builds every
 * validator).
 */
export class QapiClientBase<C extends CommandTable<C>, E extends EventTable> {
  declare readonly executor: QmpExecutor;
  readonly validate: boolean;
  readonly strict: boolean;
  declare private readonly validators: ValidatorSet;

  constructor(executor: QmpExecutor, options: QapiClientOptions, validatorSet: (strict: boolean) => ValidatorSet) {
    this.validate = options.validate ?? true;
    this.strict = options.strict ?? false;
    Object.defineProperty(this, 'executor', { value: executor });
    Object.defineProperty(this, 'validators', { value: validatorSet(this.strict) });
  }

  /** Runs a command by name with typed arguments and reply. */
  execute<K extends keyof C & string>(name: K, ...rest: ArgsParameters<C[K]['args']>): Promise<C[K]['returns']> {
    const [args, options] = rest;
    return this.call(name, args, options) as Promise<C[K]['returns']>;
  }

  /**
   * Whether the QEMU on the other end supports what `query` names, judged
   * from its `query-qmp-schema` (fetched once per executor and cached):
   * `await client.supports('query-iothreads/ret-type/holders')`. A
   * command or event the QEMU lacks answers false. For queries starting
   * elsewhere, use the runtime's `probe(executor, query)`.
   */
  supports(query: ProbeQueryFor<C, E>, options?: IntrospectOptions): Promise<boolean> {
    return probe(this.executor, query, options);
  }

  /**
   * Waits for the first event `name` whose data `filter` accepts (checked
   * and typed as `events()` delivers it), subscribed from this call on, so
   * the `trigger` (the command that causes it) cannot race it:
   *
   *   await client.waitForEvent('DEVICE_DELETED', {
   *     filter: (data) => data.device === 'disk0',
   *     trigger: () => client.deviceDel({ id: 'disk0' }),
   *     timeout: 5000,
   *   });
   *
   * Resolves once the trigger succeeded and the event came; rejects with
   * the trigger's error, QMP_ERR_TIMEOUT, QMP_ERR_ABORTED (`signal`) or
   * the session's end. The promise never causes an unhandled rejection,
   * even when it is never awaited (see the runtime's wait.ts).
   */
  waitForEvent<K extends keyof E & string>(
    name: K,
    options?: WaitForEventOptions<E[K], TypedEvent<E, K>>,
  ): Promise<TypedEvent<E, K>> {
    return waitForEvent(name, (signal) => this.events([name], { signal }), options);
  }

  /** Runs `name`, checking arguments and reply unless validation is off. */
  protected async call(name: string, args: unknown, options?: ExecuteOptions): Promise<unknown> {
    const sent = args === undefined || args === null ? undefined : (args as Record<string, unknown>);
    if (options?.noReply === undefined && this.validators.noReply.has(name)) options = { ...options, noReply: true };
    if (!this.validate) return this.executor.execute(name, sent, options);
    const table = this.validators.commands[name];
    if (table === undefined) {
      throw new QapiValidationError('arguments', name, [{ path: '', message: 'command not in the schema' }]);
    }
    if (table.args) {
      check(table.args, sent ?? {}, 'arguments', name);
    } else if (sent !== undefined && Object.keys(sent).length > 0) {
      throw new QapiValidationError('arguments', name, [
        {
          path: '',
          message: `command takes no arguments, got ${Object.keys(sent)
            .map((k) => `'${k}'`)
            .join(', ')}`,
        },
      ]);
    }
    const reply = await this.executor.execute(name, sent, options);
    return table.returns ? check(table.returns, reply, 'reply', name) : reply;
  }

  /** Events as they arrive, checked and narrowed by name. */
  events<K extends keyof E & string>(
    names: readonly K[],
    options?: { signal?: AbortSignal },
  ): AsyncIterable<TypedEvent<E, K>>;
  events(names?: undefined, options?: { signal?: AbortSignal }): AsyncIterable<TypedEvent<E> | UnknownEvent>;
  events(names?: readonly string[], options?: { signal?: AbortSignal }): AsyncIterable<unknown> {
    const source = this.executor.events(names, options);
    if (!this.validate) return source;
    return this.checkedEvents(source);
  }

  private async *checkedEvents(source: AsyncIterable<QmpEventMessage>): AsyncIterable<QmpEventMessage> {
    const table = this.validators.events;
    for await (const message of source) {
      if (!Object.hasOwn(table, message.event)) {
        if (this.strict) {
          throw new QapiValidationError('event', message.event, [{ path: '', message: 'event not in the schema' }]);
        }
        yield message;
        continue;
      }
      const schema = table[message.event];
      if (schema) {
        yield { ...message, data: check(schema, message.data, 'event', message.event) };
      } else {
        yield message;
      }
    }
  }
}

/**
 * Parses `value` with `schema` or throws a QapiValidationError; a stack
 * overflow (see safeParseOnStack) is reported as one too.
 */
export function check(schema: Schema, value: unknown, target: ValidationTarget, subject: string): unknown {
  const result = safeParseOnStack(schema, value);
  if (result === null) {
    throw new QapiValidationError(target, subject, [tooDeepToValidate(MAX_NESTING)]);
  }
  if (!result.success) throw new QapiValidationError(target, subject, problemsOf(result.error, value));
  return result.data;
}

/**
 * `schema.safeParse(value)`, or null when the stack ran out. Validation
 * needs a bounded amount of stack (see nesting.ts); should the caller have
 * used up the rest, that is a result, never a RangeError.
 */
export function safeParseOnStack(schema: Schema, value: unknown): ReturnType<Schema['safeParse']> | null {
  try {
    // The kit's plain-function twin first, zod's parse when it says no (fast.ts).
    return fastSafeParse(schema, value);
  } catch (err) {
    if (!isStackOverflow(err)) throw err;
    return null;
  }
}

/** V8's RangeError for an exhausted stack. */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}
