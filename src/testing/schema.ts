/**
 * The schema a test server serves: the checked model (for QEMU's argument
 * checks, see arguments.ts) and the validators `generate` makes for it
 * (loaded with `loadSchemaValidators`, JavaScript output: no TypeScript at
 * run time), used strictly on everything the server is scripted to send.
 *
 * Loading is the slow part (a big schema takes a second or so), so
 * `ServerSchema.load()` keeps each loaded schema for the next server.
 */
import { fileURLToPath } from 'node:url';
import type { CheckedSchema, SchemaCommand, SchemaEvent } from '../frontend/model.js';
import { generateIntrospection } from '../backends/introspect.js';
import { loadSchemaValidators } from '../backends/load.js';
import { validate } from '../transcripts/verify.js';
import { describeValue } from '../support/problems.js';
import type { ValidatorSet } from '../support/client.js';
import { shortPath } from '../support/errors.js';
import type { Int64Mode } from '../support/ints.js';
import { checkArguments, type ArgumentCheck } from './arguments.js';
import { QmpScriptError } from './errors.js';

export interface ServerSchemaOptions {
  /**
   * How 64-bit integers reach handlers: as decoded (`mixed`, the default),
   * always `bigint`, or always `number`: match the `--int64` of the
   * generated types the handlers are written against.
   */
  int64?: Int64Mode;
}

/** Our own schema (`qapi/qapi-schema.json` of this package). */
export function defaultSchemaPath(): string {
  // src/testing/*.ts in the checkout, dist/src/testing/*.js when built.
  const up = import.meta.url.endsWith('.ts') ? '../../' : '../../../';
  return fileURLToPath(new URL(`${up}qapi/qapi-schema.json`, import.meta.url));
}

const cache = new Map<string, Promise<ServerSchema>>();

export class ServerSchema {
  private readonly commands = new Map<string, SchemaCommand>();
  private readonly events = new Map<string, SchemaEvent>();
  private readonly strict: ValidatorSet;
  private introspected: unknown[] | null | undefined;

  private constructor(
    readonly model: CheckedSchema,
    validators: ValidatorSet,
    readonly options: ServerSchemaOptions,
  ) {
    this.strict = validators;
    for (const entity of model.entities) {
      if (entity.meta === 'command') this.commands.set(entity.name, entity);
      else if (entity.meta === 'event') this.events.set(entity.name, entity);
    }
  }

  /**
   * Parses and checks the schema at `path` (default: ours) and loads its
   * validators; a QapiError says what is wrong with an invalid schema.
   * The same path and options give the same (shared) ServerSchema.
   */
  static load(path: string = defaultSchemaPath(), options: ServerSchemaOptions = {}): Promise<ServerSchema> {
    const key = `${options.int64 ?? 'mixed'}\0${path}`;
    let loaded = cache.get(key);
    if (loaded === undefined) {
      loaded = (async () => {
        const { parseSchema } = await import('../frontend/index.js');
        return ServerSchema.of(parseSchema(path, { lenientDocs: true, onWarning: () => {} }), options);
      })();
      cache.set(key, loaded);
      loaded.catch(() => cache.delete(key));
    }
    return loaded;
  }

  /** For a schema already parsed and checked (`parseSchema`, `parseSchemaString`). */
  static async of(model: CheckedSchema, options: ServerSchemaOptions = {}): Promise<ServerSchema> {
    const loaded = await loadSchemaValidators(model);
    return new ServerSchema(model, loaded.validatorSet(true), options);
  }

  /**
   * `query-qmp-schema`'s reply for this schema, as QEMU's own generator
   * makes it (type names masked, every `if` taken as true), computed once;
   * null when the schema has no `query-qmp-schema` or its reply type
   * cannot hold that data.
   */
  introspection(): unknown[] | null {
    if (this.introspected === undefined) {
      const data = this.commands.has('query-qmp-schema') ? generateIntrospection(this.model) : null;
      this.introspected = data !== null && this.replyProblem('query-qmp-schema', data) === '' ? data : null;
    }
    return this.introspected;
  }

  command(name: string): SchemaCommand | undefined {
    return this.commands.get(name);
  }

  commandNames(): string[] {
    return [...this.commands.keys()];
  }

  hasEvent(name: string): boolean {
    return this.events.has(name);
  }

  /** The command's arguments as QEMU checks them (null: not in the schema). */
  checkArguments(command: SchemaCommand, args: Record<string, unknown>): ArgumentCheck {
    return checkArguments(command.argType, args, { allowUnknown: !command.gen, int64: this.options.int64 });
  }

  /** What is wrong with `value` as the reply to `command` ('' when nothing). */
  replyProblem(command: string, value: unknown): string {
    const table = this.strict.commands[command];
    if (table === undefined) return `'${command}' is not a command of the schema`;
    if (table.returns === null) return '';
    return describeFindings(validate(table.returns, value, ''));
  }

  /** What is wrong with `data` as the data of `event` ('' when nothing). */
  eventProblem(event: string, data: unknown): string {
    if (!Object.hasOwn(this.strict.events, event)) return `'${event}' is not an event of the schema`;
    const schema = this.strict.events[event];
    if (schema === null || schema === undefined) {
      return data === undefined ? '' : `the event carries no data, got ${describeValue(data)}`;
    }
    if (data === undefined) return 'data: missing (the event carries data)';
    return describeFindings(validate(schema, data, ''));
  }

  /** Throws a QmpScriptError naming the member when `value` cannot be `command`'s reply. */
  assertReply(command: string, value: unknown): void {
    const problem = this.replyProblem(command, value);
    if (problem !== '') throw new QmpScriptError(`reply to '${command}': ${problem}`);
  }

  /** Throws a QmpScriptError when `data` cannot be `event`'s data. */
  assertEvent(event: string, data: unknown): void {
    const problem = this.eventProblem(event, data);
    if (problem !== '') throw new QmpScriptError(`event '${event}': ${problem}`);
  }

  /** Throws a QmpScriptError unless `name` is a command of the schema. */
  assertCommand(name: string): SchemaCommand {
    const command = this.commands.get(name);
    if (command === undefined) throw new QmpScriptError(`'${name}' is not a command of the schema ${this.model.fname}`);
    return command;
  }
}

/** Findings for a message; member paths over 160 characters are shortened as `verify` shortens them. */
function describeFindings(findings: readonly { path: string; message: string }[]): string {
  return findings.map((f) => (f.path === '' ? f.message : `${shortPath(f.path)}: ${f.message}`)).join('; ');
}
