/**
 * Checks a recorded QMP session against a schema's generated validators.
 *
 * A transcript has one `{"dir": "client"|"server", "msg": …}` per line.
 * Every message is judged with the validators users get from `generate`
 * (the `ValidatorSet` of the generated index), never a second
 * implementation of the schema rules:
 *
 *  - the greeting, replies and events are server messages, checked in the
 *    strictness of the validator set (compatible by default: unknown
 *    members and enum values pass, wrong types, missing members and
 *    out-of-range integers do not);
 *  - a client command is judged together with its reply, matched by `id`
 *    (commands without an id take id-less replies in order). When the
 *    server answered with an error, the command is consistent whatever it
 *    contained: that is how QEMU refuses an unknown command or member. When
 *    the server accepted it, its arguments must be valid (always strictly)
 *    and the reply must match the command's return type. Commands never
 *    answered are judged on their own.
 *
 * Numbers are decoded exactly (integers beyond 2^53 become bigints), by
 * the same decoder the runtime client uses. Nothing here does I/O.
 */
import { safeParseOnStack, type CommandValidators, type ValidatorSet } from '../support/client.js';
import type { Schema } from '../support/kit.js';
import { MAX_NESTING, nestingExceeds } from '../support/nesting.js';
import {
  describeValue,
  joinPath,
  problemsOf,
  shortJson,
  tooDeepToValidate,
  type ValidationProblem,
} from '../support/problems.js';
import { isObject, parseTranscript, type BadLine, type Direction, type TranscriptEntry } from './format.js';
import { MAX_MESSAGE_NESTING, PendingCommands, readCommand, type Command } from './messages.js';

/** One problem in a message: where inside it (`return[0].thread-id`) and why, in the client's words. */
export type Finding = ValidationProblem;

export type MessageKind = 'command' | 'greeting' | 'return' | 'error' | 'event' | 'unknown';

/** The verdict on one message; it is valid when it has no findings. */
export interface MessageVerdict {
  readonly line: number;
  readonly dir: Direction;
  readonly kind: MessageKind;
  /** What the message is, for people: `reply to 'query-status' (id "rec-2")`. */
  readonly label: string;
  readonly findings: readonly Finding[];
}

export interface VerifyOptions {
  /**
   * Also report what the schema does not know in server messages: unknown
   * events, unknown members of replies, events and the greeting. (Unknown
   * members and enum values inside reply values are the validator set's
   * business: pass the strict set.)
   */
  strict?: boolean;
}

export interface VerifyResult {
  /** Every message, in line order. */
  readonly verdicts: readonly MessageVerdict[];
  readonly badLines: readonly BadLine[];
  readonly messages: number;
  readonly valid: number;
  readonly invalid: number;
}

const tooDeep: Finding = {
  path: '',
  message:
    `nested deeper than ${MAX_MESSAGE_NESTING} levels (QEMU's JSON parser refuses such a message); ` +
    'not checked further',
};

/** Whether `msg` nests more than `MAX_MESSAGE_NESTING` objects and arrays (checked iteratively). */
function nestedTooDeeply(msg: unknown): boolean {
  return nestingExceeds(msg, MAX_MESSAGE_NESTING);
}

/** Runs a generated validator; problems come back as findings under `prefix`. */
export function validate(schema: Schema, value: unknown, prefix: string): Finding[] {
  const result = safeParseOnStack(schema, value);
  if (result === null) return [{ ...tooDeepToValidate(MAX_NESTING), path: prefix }];
  if (result.success) return [];
  return problemsOf(result.error, value).map((p) => ({ ...p, path: joinPath(prefix, p.path) }));
}

function commandLabel(command: Command, what: 'command' | 'reply to' | 'error reply to'): string {
  const verb = command.oob && what === 'command' ? 'command (exec-oob)' : what;
  const id = command.hasId ? ` (id ${describeId(command.id)})` : '';
  if (command.name === null) return `${what === 'command' ? '' : `${what} `}a malformed command${id}`;
  return `${verb} '${command.name}'${id}`;
}

const describeId = shortJson;

function unknownMembers(msg: Record<string, unknown>, known: readonly string[], prefix: string): Finding[] {
  return Object.keys(msg)
    .filter((k) => !known.includes(k))
    .map((k) => ({ path: prefix === '' ? k : `${prefix}.${k}`, message: 'unknown member' }));
}

function isInteger(value: unknown): boolean {
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value));
}

// ---------------------------------------------------------------------------
// The verifier

interface Pending {
  readonly entry: TranscriptEntry;
  readonly command: Command;
  readonly index: number;
}

class Verifier {
  private readonly verdicts: (MessageVerdict | null)[] = [];
  private pending = new PendingCommands<Pending>();
  private readonly strict: boolean;

  constructor(
    private readonly validators: ValidatorSet,
    options: VerifyOptions,
  ) {
    this.strict = options.strict ?? false;
  }

  run(entries: readonly TranscriptEntry[]): MessageVerdict[] {
    for (const entry of entries) {
      if (entry.dir === 'client') this.client(entry);
      else this.server(entry);
    }
    // Never answered: judged on their own.
    for (const p of this.pending.remaining()) {
      this.record(p.index, p.entry, 'command', commandLabel(p.command, 'command'), this.judgeCommand(p.command));
    }
    this.pending = new PendingCommands();
    return this.verdicts.filter((v): v is MessageVerdict => v !== null);
  }

  private slot(): number {
    this.verdicts.push(null);
    return this.verdicts.length - 1;
  }

  private record(index: number, entry: TranscriptEntry, kind: MessageKind, label: string, findings: Finding[]): void {
    this.verdicts[index] = { line: entry.line, dir: entry.dir, kind, label, findings };
  }

  private client(entry: TranscriptEntry): void {
    // QEMU's parser refuses a message nested too deeply before reading any
    // of it (the id neither), so it is a command without name or id.
    const command = nestedTooDeeply(entry.msg)
      ? { name: null, oob: false, hasId: false, id: undefined, args: undefined, envelope: [tooDeep] }
      : readCommand(entry.msg);
    this.pending.add({ entry, command, index: this.slot() }, command.hasId, command.id, command.envelope.length > 0);
  }

  private server(entry: TranscriptEntry): void {
    const index = this.slot();
    const msg = entry.msg;
    if (nestedTooDeeply(msg)) {
      this.record(index, entry, 'unknown', 'server message', [tooDeep]);
    } else if (!isObject(msg)) {
      this.record(index, entry, 'unknown', 'server message', [
        { path: '', message: `expected an object, got ${describeValue(msg)}` },
      ]);
    } else if (Object.hasOwn(msg, 'QMP')) {
      this.record(index, entry, 'greeting', 'greeting', this.greeting(msg));
    } else if (Object.hasOwn(msg, 'event')) {
      this.event(index, entry, msg);
    } else if (Object.hasOwn(msg, 'return') || Object.hasOwn(msg, 'error')) {
      this.reply(index, entry, msg);
    } else {
      this.record(index, entry, 'unknown', 'server message', [
        { path: '', message: "not a greeting, reply or event (no 'QMP', 'return', 'error' or 'event' member)" },
      ]);
    }
  }

  // --- greeting -------------------------------------------------------------

  private greeting(msg: Record<string, unknown>): Finding[] {
    const findings: Finding[] = this.strict ? unknownMembers(msg, ['QMP'], '') : [];
    const qmp = msg.QMP;
    if (!isObject(qmp)) return [...findings, { path: 'QMP', message: `expected an object, got ${describeValue(qmp)}` }];
    if (this.strict) findings.push(...unknownMembers(qmp, ['version', 'capabilities'], 'QMP'));
    // The version is what query-version returns, when the schema has it.
    const versionSchema = this.commandTable('query-version')?.returns ?? null;
    if (!Object.hasOwn(qmp, 'version')) findings.push({ path: 'QMP.version', message: 'missing mandatory member' });
    else if (versionSchema) findings.push(...validate(versionSchema, qmp.version, 'QMP.version'));
    else if (!isObject(qmp.version))
      findings.push({ path: 'QMP.version', message: `expected an object, got ${describeValue(qmp.version)}` });
    const caps = qmp.capabilities;
    if (!Array.isArray(caps)) {
      findings.push({
        path: 'QMP.capabilities',
        message: Object.hasOwn(qmp, 'capabilities')
          ? `expected an array, got ${describeValue(caps)}`
          : 'missing mandatory member',
      });
    } else {
      const strings = caps.every((cap) => typeof cap === 'string');
      caps.forEach((cap, i) => {
        if (typeof cap !== 'string')
          findings.push({ path: `QMP.capabilities[${i}]`, message: `expected string, got ${describeValue(cap)}` });
      });
      // Capability names are those qmp_capabilities accepts.
      const negotiate = this.commandTable('qmp_capabilities')?.args ?? null;
      if (this.strict && negotiate && strings) {
        for (const f of validate(negotiate, { enable: caps }, '')) {
          findings.push({ path: f.path.replace(/^enable/, 'QMP.capabilities'), message: f.message });
        }
      }
    }
    return findings;
  }

  // --- events ---------------------------------------------------------------

  private event(index: number, entry: TranscriptEntry, msg: Record<string, unknown>): void {
    const name = msg.event;
    const findings: Finding[] = this.strict ? unknownMembers(msg, ['event', 'data', 'timestamp'], '') : [];
    findings.push(...timestampFindings(msg));
    if (typeof name !== 'string') {
      findings.push({ path: 'event', message: `expected the event name (a string), got ${describeValue(name)}` });
      this.record(index, entry, 'event', 'event', findings);
      return;
    }
    const label = `event '${name}'`;
    const events = this.validators.events;
    if (!Object.hasOwn(events, name)) {
      if (this.strict) findings.push({ path: 'event', message: 'event not in the schema' });
    } else {
      const schema = events[name] ?? null;
      if (schema) {
        if (!Object.hasOwn(msg, 'data')) findings.push({ path: 'data', message: 'missing mandatory member' });
        else findings.push(...validate(schema, msg.data, 'data'));
      } else if (
        this.strict &&
        Object.hasOwn(msg, 'data') &&
        !(isObject(msg.data) && Object.keys(msg.data).length === 0)
      ) {
        findings.push({ path: 'data', message: 'the event carries no data' });
      }
    }
    this.record(index, entry, 'event', label, findings);
  }

  // --- replies --------------------------------------------------------------

  /** Finds (and removes) the command a reply answers. */
  private match(msg: Record<string, unknown>, isError: boolean): Pending | null {
    if (Object.hasOwn(msg, 'id')) return this.pending.takeById(msg.id) ?? null;
    // The server cannot always read the id of input it refuses.
    return this.pending.takeIdless() ?? (isError ? this.pending.takeFlagged() : undefined) ?? null;
  }

  private reply(index: number, entry: TranscriptEntry, msg: Record<string, unknown>): void {
    const isError = Object.hasOwn(msg, 'error');
    const findings: Finding[] = [];
    if (isError && Object.hasOwn(msg, 'return')) findings.push({ path: '', message: "has both 'return' and 'error'" });
    if (this.strict) findings.push(...unknownMembers(msg, ['return', 'error', 'id'], ''));
    const pending = this.match(msg, isError);
    if (isError) findings.push(...this.errorShape(msg.error));

    if (pending === null) {
      const id = Object.hasOwn(msg, 'id') ? `id ${describeId(msg.id)}` : 'no id';
      // A refusal of input too broken to carry an id needs no command.
      if (!isError || Object.hasOwn(msg, 'id')) {
        findings.push({ path: Object.hasOwn(msg, 'id') ? 'id' : '', message: `answers no command in flight (${id})` });
      }
      this.record(index, entry, isError ? 'error' : 'return', isError ? 'error reply' : 'reply', findings);
      return;
    }

    const command = pending.command;
    if (isError) {
      // Refused: consistent whatever the command held.
      this.record(pending.index, pending.entry, 'command', commandLabel(command, 'command'), []);
      this.record(index, entry, 'error', commandLabel(command, 'error reply to'), findings);
      return;
    }
    // Accepted: the command must be valid, and the reply must fit it.
    this.record(pending.index, pending.entry, 'command', commandLabel(command, 'command'), this.judgeCommand(command));
    const table = command.name === null ? undefined : this.commandTable(command.name);
    if (table) findings.push(...this.returnFindings(table, msg.return));
    this.record(index, entry, 'return', commandLabel(command, 'reply to'), findings);
  }

  private commandTable(name: string): CommandValidators | undefined {
    const commands = this.validators.commands;
    return Object.hasOwn(commands, name) ? commands[name] : undefined;
  }

  private returnFindings(table: CommandValidators, value: unknown): Finding[] {
    if (table.returns) return validate(table.returns, value, 'return');
    // No return type: QEMU replies with an empty object.
    if (!this.strict) return [];
    if (!isObject(value)) return [{ path: 'return', message: `expected an empty object, got ${describeValue(value)}` }];
    return unknownMembers(value, [], 'return');
  }

  private errorShape(error: unknown): Finding[] {
    if (!isObject(error)) return [{ path: 'error', message: `expected an object, got ${describeValue(error)}` }];
    const findings: Finding[] = [];
    for (const member of ['class', 'desc']) {
      if (!Object.hasOwn(error, member))
        findings.push({ path: `error.${member}`, message: 'missing mandatory member' });
      else if (typeof error[member] !== 'string') {
        findings.push({ path: `error.${member}`, message: `expected string, got ${describeValue(error[member])}` });
      }
    }
    if (this.strict) findings.push(...unknownMembers(error, ['class', 'desc'], 'error'));
    return findings;
  }

  /** What is wrong with a command, judged on its own. */
  private judgeCommand(command: Command): Finding[] {
    const findings = [...command.envelope];
    if (command.name === null) return findings;
    const table = this.commandTable(command.name);
    if (!table) {
      findings.push({
        path: command.oob ? 'exec-oob' : 'execute',
        message: `command '${command.name}' is not in the schema`,
      });
      return findings;
    }
    const args = command.args === undefined ? {} : command.args;
    if (!isObject(args)) return findings; // already an envelope finding
    if (table.args) {
      findings.push(...validate(table.args, args, 'arguments'));
    } else {
      for (const member of Object.keys(args)) {
        findings.push({ path: `arguments.${member}`, message: 'unknown member (the command takes no arguments)' });
      }
    }
    return findings;
  }
}

function timestampFindings(msg: Record<string, unknown>): Finding[] {
  const ts = msg.timestamp;
  if (!Object.hasOwn(msg, 'timestamp')) return [{ path: 'timestamp', message: 'missing mandatory member' }];
  if (!isObject(ts)) return [{ path: 'timestamp', message: `expected an object, got ${describeValue(ts)}` }];
  const findings: Finding[] = [];
  for (const member of ['seconds', 'microseconds']) {
    if (!Object.hasOwn(ts, member)) findings.push({ path: `timestamp.${member}`, message: 'missing mandatory member' });
    else if (!isInteger(ts[member])) {
      findings.push({ path: `timestamp.${member}`, message: `expected an integer, got ${describeValue(ts[member])}` });
    }
  }
  return findings;
}

/** Judges parsed transcript entries. */
export function verifyEntries(
  entries: readonly TranscriptEntry[],
  validators: ValidatorSet,
  options: VerifyOptions = {},
  badLines: readonly BadLine[] = [],
): VerifyResult {
  const verdicts = new Verifier(validators, options).run(entries);
  verdicts.sort((a, b) => a.line - b.line);
  const invalid = verdicts.filter((v) => v.findings.length > 0).length;
  return { verdicts, badLines, messages: verdicts.length, valid: verdicts.length - invalid, invalid };
}

/** Parses and judges a transcript's text. */
export function verifyTranscript(text: string, validators: ValidatorSet, options: VerifyOptions = {}): VerifyResult {
  const { entries, badLines } = parseTranscript(text);
  return verifyEntries(entries, validators, options, badLines);
}
