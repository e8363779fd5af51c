/**
 * QmpTestServer: a QMP server built from a QAPI schema, for tests.
 *
 *   import { QmpTestServer, faults } from 'qapi-ts/testing';
 *   import type { CommandMap, EventMap } from './generated/index.js';
 *
 *   await using server = await QmpTestServer.create<CommandMap, EventMap>({ schema: 'qapi/qapi-schema.json' });
 *   server.on('query-status', () => ({ running: true, status: 'running' }));
 *   server.expect('stop').reply({}).thenEmit('STOP');
 *   server.expect('cont').fault(faults.closeMidLine());
 *   const qmp = await QmpClient.overStream(server.connect());   // or server.listen({ path })
 *   …
 *   server.assertDone();   // throws if an expected command never came, or anything failed
 *
 * The server speaks QMP as QEMU does (session.ts), checks every command
 * against the schema as QEMU would (arguments.ts), and checks everything it
 * is scripted to send against the schema too (strictly: a scripted reply
 * or event is refused at once, naming the member; a handler's result when
 * it is produced, answered with an error and recorded in `failures`).
 *
 * Given the generated `CommandMap` and `EventMap`, scripts are typed:
 * handlers get typed arguments and must return the command's reply type.
 * A simulation of a QEMU is a set of handlers sharing state, plus events:
 * write it as a plugin and `use()` it.
 */
import type { Duplex } from 'node:stream';
import type { CommandTable, EventTable } from '../support/client.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../runtime/framing.js';
import { QmpScriptError, QmpTestFailure, type TestFailure } from './errors.js';
import type { Fault } from './faults.js';
import { Replay, type ReplayOptions } from './replay.js';
import { ServerSchema } from './schema.js';
import {
  planOf,
  Script,
  type ArgsMatcher,
  type Call,
  type EventArgs,
  type EmitOptions,
  type Handler,
  type Plan,
  type Rule,
  type UntypedCommands,
  type UntypedEvents,
} from './script.js';
import { Session, type Greeting, type QmpVersionTriple, type ReceivedCommand, type SessionHost } from './session.js';
import { listen, memoryPair, type ListenTarget, type Listener } from './transport.js';

export interface TestServerOptions {
  /** The schema: a path, or one loaded with `ServerSchema.load`. Default: this package's `qapi/`. */
  schema?: string | ServerSchema;
  /** QEMU version in the greeting (and `query-version`); default 10.1.0. */
  version?: QmpVersionTriple;
  /** `package` in the greeting; default "qapi-ts test server". */
  package?: string;
  /** Capabilities offered in the greeting; default `['oob']`. */
  capabilities?: string[];
  /** False: send no greeting at all. */
  greeting?: boolean;
  /**
   * Act as the QEMU guest agent (qemu-ga) does: no greeting and no
   * negotiation, a 0xFF byte from the client drops the partial request
   * (answered with qemu-ga's "stray" parse error), and the reply to
   * `guest-sync-delimited` is preceded by a 0xFF byte. `guest-sync` and
   * `guest-sync-delimited` echo their id unless scripted otherwise. Use
   * it with a guest agent schema (QEMU's `qga/qapi-schema.json`).
   */
  guestAgent?: boolean;
  /**
   * True (default): in-band commands are answered one after another, as
   * QEMU does. False: each is answered as soon as its handler is done,
   * so replies may overtake each other.
   */
  serial?: boolean;
  /** Longest request line accepted (default 16 MiB); longer ones get QEMU's error. */
  maxRequestBytes?: number;
  /** Keep every command received in `received` (default true). */
  recordReceived?: boolean;
  /** Called with each failure as it happens (they are also kept in `failures`). */
  onFailure?: (failure: TestFailure) => void;
}

export const DEFAULT_VERSION: QmpVersionTriple = { major: 10, minor: 1, micro: 0 };

/** Something that adds behaviour to a server (a simulation, a fixture). */
export type ServerPlugin<C extends CommandTable<C>, E extends EventTable> = (server: QmpTestServer<C, E>) => void;

export class QmpTestServer<
  C extends CommandTable<C> = UntypedCommands,
  E extends EventTable = UntypedEvents,
> implements AsyncDisposable {
  /** Commands received, in arrival order (when `recordReceived`). */
  readonly received: ReceivedCommand[] = [];
  private readonly script: Script;
  private readonly live = new Set<Session<C, E>>();
  private readonly listeners: Listener[] = [];
  private readonly replays: Replay[] = [];
  private readonly sessionWaiters: ((session: Session<C, E>) => void)[] = [];
  private readonly host: SessionHost & {
    greeting: Greeting | null;
    onConnect: (Fault | ((s: Session<never, never>) => void))[];
  };
  private sessionCount = 0;
  private closing = false;

  private constructor(
    readonly schema: ServerSchema,
    private readonly options: TestServerOptions,
  ) {
    this.script = new Script(schema, options.onFailure);
    const version = {
      qemu: { ...(options.version ?? DEFAULT_VERSION) },
      package: options.package ?? 'qapi-ts test server',
    };
    const greeting =
      options.greeting === false || options.guestAgent
        ? null
        : { version, capabilities: [...(options.capabilities ?? ['oob'])] };
    if (greeting !== null && schema.command('query-version') !== undefined) {
      const problem = schema.replyProblem('query-version', greeting.version);
      if (problem !== '') throw new QmpScriptError(`greeting version: ${problem}`);
    }
    const record = options.recordReceived ?? true;
    this.host = {
      schema,
      script: this.script,
      greeting,
      onConnect: [],
      serial: options.serial ?? true,
      guestAgent: options.guestAgent ?? false,
      maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      record: (command) => {
        if (record) this.received.push(command);
      },
      closed: (session) => this.live.delete(session as unknown as Session<C, E>),
    };
    this.script.addFallback((call) => {
      // The first replay that knows the command answers it; later ones are not asked (asking uses up a recording).
      for (const replay of this.replays) {
        const plan = replay.answer(call);
        if (plan !== undefined) return plan;
      }
      return undefined;
    });
    this.script.addFallback((call) => this.builtin(call));
  }

  /** Loads the schema (shared with other servers of the same schema) and makes a server. */
  static async create<C extends CommandTable<C> = UntypedCommands, E extends EventTable = UntypedEvents>(
    options: TestServerOptions = {},
  ): Promise<QmpTestServer<C, E>> {
    const schema = options.schema instanceof ServerSchema ? options.schema : await ServerSchema.load(options.schema);
    return new QmpTestServer<C, E>(schema, options);
  }

  /** The greeting sent to each client (null when none is). */
  get greeting(): Greeting | null {
    return this.host.greeting;
  }

  /** Sessions currently connected. */
  get sessions(): ReadonlySet<Session<C, E>> {
    return this.live;
  }

  /** Problems seen while serving (unexpected commands, invalid handler results…). */
  get failures(): readonly TestFailure[] {
    return this.script.failures;
  }

  // --- scripting --------------------------------------------------------------------

  /**
   * The rule for `command`, used whenever no expectation takes it; with a
   * handler, shorthand for `on(command).handle(handler)`. A later `on` for
   * the same command replaces it.
   */
  on<K extends keyof C & string>(command: K, handler?: NoInfer<Handler<C, E, K>>): Rule<C, E, K> {
    const rule = this.script.on<C, E, K>(command);
    return handler === undefined ? rule : rule.handle(handler);
  }

  /**
   * Expects `command` (with exactly these arguments, or arguments the
   * predicate accepts), in order after the expectations before it unless
   * `anyOrder()`. Script its answer on the returned rule; without one it is
   * answered by the `on` rule, a replay or a built-in answer.
   */
  expect<K extends keyof C & string>(command: K, args?: NoInfer<ArgsMatcher<C[K]['args']>>): Rule<C, E, K> {
    return this.script.expect<C, E, K>(command, args);
  }

  /**
   * Answers commands from a recorded transcript (see replay.ts); returns
   * what was loaded. Sessions from now on get the recorded greeting,
   * unless the server was created with a `version`.
   */
  replay(transcript: string, options: ReplayOptions = {}): Replay {
    const replay = new Replay(this.schema, (f) => this.script.fail(f), options).load(transcript);
    this.replays.push(replay);
    if (replay.greeting !== undefined && this.host.greeting !== null && this.options.version === undefined) {
      this.host.greeting = { version: replay.greeting.version, capabilities: [...replay.greeting.capabilities] };
    }
    return replay;
  }

  /** Sends an event to every session in command mode, now or after `delay` ms; checked against the schema. */
  emit<K extends keyof E & string>(name: K, ...rest: EventArgs<E, K>): void {
    const [data, options] = rest as [unknown, EmitOptions | undefined];
    this.schema.assertEvent(name, data);
    for (const session of this.live) session.emitChecked(name, data, options?.delay ?? 0);
  }

  /** Acts out a fault on every session now. */
  async inject(fault: Fault): Promise<void> {
    await Promise.all([...this.live].map((s) => s.inject(fault)));
  }

  /**
   * On each new connection: a fault acted out on the greeting (`hangUp`
   * before it, `garbage` instead of it, `closeMidLine` half of it…), or a
   * function given the session before it is greeted.
   */
  onConnect(action: Fault | ((session: Session<C, E>) => void)): this {
    this.host.onConnect.push(action as Fault | ((s: Session<never, never>) => void));
    return this;
  }

  /** Adds behaviour written elsewhere (a simulation, a fixture). */
  use(plugin: ServerPlugin<C, E>): this {
    plugin(this);
    return this;
  }

  /**
   * Throws a QmpTestFailure listing every expectation not met (and, for
   * replays with `requireAll`, every recorded command not replayed) and
   * every failure seen while serving.
   */
  assertDone(): void {
    const problems = [
      ...this.script.unmet(),
      ...this.replays.flatMap((r) => (r.options.requireAll ? r.unused() : [])),
      ...this.script.failures,
    ];
    if (this.script.droppedFailures > 0) {
      problems.push({ kind: 'handler', message: `… and ${this.script.droppedFailures} more failures` });
    }
    if (problems.length > 0) throw new QmpTestFailure(problems);
  }

  // --- connections ----------------------------------------------------------------

  /** A new session over an in-memory pair; returns the client's end. */
  connect(): Duplex {
    const [client, server] = memoryPair();
    this.accept(server);
    return client;
  }

  /** Listens on a unix socket or TCP port (port 0: any free one); resolves with the actual address. */
  async listen(target: ListenTarget): Promise<ListenTarget> {
    if (this.closing) throw new Error('the server is closed');
    const listener = await listen(target, (socket) => this.accept(socket));
    this.listeners.push(listener);
    return listener.target;
  }

  /** Resolves with the next session to connect. */
  nextSession(): Promise<Session<C, E>> {
    return new Promise((resolve) => this.sessionWaiters.push(resolve));
  }

  private accept(stream: Duplex): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const session = new Session<C, E>(this.host, stream, ++this.sessionCount);
    this.live.add(session);
    session.start();
    for (const waiter of this.sessionWaiters.splice(0)) waiter(session);
  }

  /** Stops listening (unix socket files are removed) and ends every session. */
  async close(): Promise<void> {
    this.closing = true;
    const listeners = this.listeners.splice(0);
    const sessions = [...this.live];
    for (const session of sessions) session.shutdown();
    await Promise.all([...listeners.map((l) => l.close()), ...sessions.map((s) => s.closed)]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- built-in answers ---------------------------------------------------------------

  /** Answers QEMU's server always has: negotiation, its version, its command list, its schema. */
  private builtin(call: Call): Plan | undefined {
    const plain = (value: unknown): Plan => planOf({ kind: 'return', value });
    switch (call.command) {
      case 'qmp_capabilities':
        return plain({});
      case 'guest-sync':
      case 'guest-sync-delimited':
        return plain(call.args.id);
      case 'query-version':
        return this.host.greeting === null ? undefined : plain(this.host.greeting.version);
      case 'query-commands': {
        const list = this.schema.commandNames().map((name) => ({ name }));
        return this.schema.replyProblem('query-commands', list) === '' ? plain(list) : undefined;
      }
      case 'query-qmp-schema': {
        const data = this.schema.introspection();
        return data === null ? undefined : plain(data);
      }
      default:
        return undefined;
    }
  }
}
