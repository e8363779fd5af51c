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
import type { z } from 'zod';
import { MAX_JSON_DEPTH, parseJson, previewJson } from '../runtime/json.js';
import { safeParseOnStack, type CommandValidators, type ValidatorSet } from '../support/client.js';
import { formatPath, shortPath } from '../support/errors.js';
import type { Schema } from '../support/kit.js';
import { nestingExceeds } from '../support/nesting.js';

export type Direction = 'client' | 'server';

/** One message of a transcript, with its 1-based line number. */
export interface TranscriptEntry {
  readonly line: number;
  readonly dir: Direction;
  readonly msg: unknown;
}

/** A line that is not a transcript entry (bad JSON, wrong shape). */
export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

export interface ParsedTranscript {
  readonly entries: TranscriptEntry[];
  readonly badLines: BadLine[];
}

/** One problem in a message: where inside it (`return[0].thread-id`) and why. */
export interface Finding {
  readonly path: string;
  readonly message: string;
}

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

// ---------------------------------------------------------------------------
// Reading the transcript

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Nesting a transcript line may have: far beyond what QEMU accepts, so that
 * verify can judge over-deep messages by line; the parser is iterative and
 * a line's length bounds its cost anyway.
 */
const TRANSCRIPT_MAX_DEPTH = 100_000;

/** Splits a transcript into entries; blank lines are skipped. */
export function parseTranscript(text: string): ParsedTranscript {
  const entries: TranscriptEntry[] = [];
  const badLines: BadLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      // Messages deeper than QEMU accepts are judged below, not refused here.
      value = parseJson(raw, { maxDepth: TRANSCRIPT_MAX_DEPTH });
    } catch (e) {
      badLines.push({ line, reason: `bad JSON: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    if (!isObject(value) || (value.dir !== 'client' && value.dir !== 'server') || !Object.hasOwn(value, 'msg')) {
      badLines.push({ line, reason: 'expected {"dir": "client"|"server", "msg": …}' });
      continue;
    }
    entries.push({ line, dir: value.dir, msg: value.msg });
  }
  return { entries, badLines };
}

// ---------------------------------------------------------------------------
// Describing validator issues

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

function joinPath(prefix: string, path: readonly PathKey[]): string {
  const rest = formatPath(path);
  if (prefix === '') return rest;
  if (rest === '') return prefix;
  return rest.startsWith('[') ? prefix + rest : `${prefix}.${rest}`;
}

/** The value at `path` inside `root`, or `present: false` when a member is absent. */
function valueAt(root: unknown, path: readonly PathKey[]): { present: boolean; value: unknown } {
  let value = root;
  for (const key of path) {
    if (Array.isArray(value) && typeof key === 'number') {
      if (key >= value.length) return { present: false, value: undefined };
      value = value[key];
    } else if (isObject(value) && typeof key === 'string') {
      if (!Object.hasOwn(value, key)) return { present: false, value: undefined };
      value = value[key];
    } else {
      return { present: false, value: undefined };
    }
  }
  return { present: true, value };
}

const SHOWN_CHARS = 40;

/**
 * JSON text of `value`, cut to `SHOWN_CHARS` characters (the runtime's
 * preview writer stops once it has that many, whatever the depth).
 */
export function shortJson(value: unknown): string {
  const out = previewJson(value, SHOWN_CHARS);
  return out.length > SHOWN_CHARS ? `${out.slice(0, SHOWN_CHARS - 3)}...` : out;
}

/** A short description of a JSON value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (isObject(value)) return 'an object';
  const shown = shortJson(value);
  switch (typeof value) {
    case 'string':
      return `string ${shown}`;
    case 'number':
    case 'bigint':
      return `number ${shown}`;
    default:
      return shown;
  }
}

const MAX_LISTED_VALUES = 10;

function listValues(values: readonly unknown[]): string {
  const shown = values.slice(0, MAX_LISTED_VALUES).map((v) => shortJson(v));
  const more = values.length > MAX_LISTED_VALUES ? `, … (${values.length - MAX_LISTED_VALUES} more)` : '';
  return shown.join(', ') + more;
}

/** Turns one validator issue into findings with paths under `prefix`. */
function issueFindings(issue: Issue, root: unknown, prefix: string): Finding[] {
  const path = issue.path as readonly PathKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: joinPath(prefix, [...path, key]), message: 'unknown member' }));
  }
  const at = valueAt(root, path);
  const where = joinPath(prefix, path);
  if (!at.present && path.length > 0) return [{ path: where, message: 'missing mandatory member' }];
  switch (issue.code) {
    case 'invalid_type':
      return [{ path: where, message: `expected ${issue.expected}, got ${describeValue(at.value)}` }];
    case 'invalid_value':
      return [
        { path: where, message: `unexpected ${describeValue(at.value)}; expected one of ${listValues(issue.values)}` },
      ];
    default:
      return [{ path: where, message: issue.message }];
  }
}

/** QEMU's JSON parser refuses messages nested deeper than this. */
export const MAX_MESSAGE_NESTING = MAX_JSON_DEPTH;

const tooDeep: Finding = {
  path: '',
  message: `nested deeper than ${MAX_MESSAGE_NESTING} levels (QEMU's JSON parser refuses such a message); not checked further`,
};

/** Whether `msg` nests more than `MAX_MESSAGE_NESTING` objects and arrays (checked iteratively). */
function nestedTooDeeply(msg: unknown): boolean {
  return nestingExceeds(msg, MAX_MESSAGE_NESTING);
}

/** Runs a generated validator; problems come back as findings under `prefix`. */
export function validate(schema: Schema, value: unknown, prefix: string): Finding[] {
  const result = safeParseOnStack(schema, value);
  if (result === null) return [{ path: prefix, message: 'nested too deeply to check with the stack left' }];
  if (result.success) return [];
  return result.error.issues.flatMap((issue) => issueFindings(issue, value, prefix));
}

// ---------------------------------------------------------------------------
// Message shapes (QMP envelopes)

export interface Command {
  /** The command name, or null when the envelope does not say one. */
  readonly name: string | null;
  readonly oob: boolean;
  readonly hasId: boolean;
  readonly id: unknown;
  readonly args: unknown;
  /** Envelope problems; the server refuses such input. */
  readonly envelope: readonly Finding[];
}

const COMMAND_MEMBERS = new Set(['execute', 'exec-oob', 'arguments', 'id']);

export function readCommand(msg: unknown): Command {
  if (!isObject(msg)) {
    return {
      name: null,
      oob: false,
      hasId: false,
      id: undefined,
      args: undefined,
      envelope: [{ path: '', message: `expected a command object, got ${describeValue(msg)}` }],
    };
  }
  const envelope: Finding[] = [];
  const hasExecute = Object.hasOwn(msg, 'execute');
  const hasOob = Object.hasOwn(msg, 'exec-oob');
  const key = hasOob && !hasExecute ? 'exec-oob' : 'execute';
  let name: string | null = null;
  if (hasExecute && hasOob) {
    envelope.push({ path: '', message: "has both 'execute' and 'exec-oob'" });
  } else if (!hasExecute && !hasOob) {
    envelope.push({ path: '', message: "lacks member 'execute' (or 'exec-oob')" });
  } else if (typeof msg[key] !== 'string') {
    envelope.push({ path: key, message: `expected the command name (a string), got ${describeValue(msg[key])}` });
  } else {
    name = msg[key];
  }
  if (Object.hasOwn(msg, 'arguments') && !isObject(msg.arguments)) {
    envelope.push({ path: 'arguments', message: `expected an object, got ${describeValue(msg.arguments)}` });
  }
  for (const member of Object.keys(msg)) {
    if (!COMMAND_MEMBERS.has(member)) envelope.push({ path: member, message: 'unknown member of a command' });
  }
  return {
    name,
    oob: key === 'exec-oob',
    hasId: Object.hasOwn(msg, 'id'),
    id: msg.id,
    args: msg.arguments,
    envelope,
  };
}

function commandLabel(command: Command, what: 'command' | 'reply to' | 'error reply to'): string {
  const verb = command.oob && what === 'command' ? 'command (exec-oob)' : what;
  const id = command.hasId ? ` (id ${describeId(command.id)})` : '';
  if (command.name === null) return `${what === 'command' ? '' : `${what} `}a malformed command${id}`;
  return `${verb} '${command.name}'${id}`;
}

const describeId = shortJson;

/**
 * Structural equality of decoded JSON values (ids may be any JSON). With
 * `loose`, a bigint also equals the double nearest to it: QEMU keeps an
 * integer beyond 64 bits as a double and echoes it as one.
 */
export function jsonEqual(a: unknown, b: unknown, loose = false): boolean {
  // Pairs still to compare; iterative, so any depth is fine.
  const todo: unknown[] = [a, b];
  while (todo.length > 0) {
    const y = todo.pop();
    const x = todo.pop();
    if (x === y) continue;
    if (typeof x === 'bigint' || typeof y === 'bigint') {
      // The decoder yields a bigint only beyond 2^53, where numbers are inexact.
      if (loose && (typeof x === 'number' || typeof y === 'number') && Number(x) === Number(y)) continue;
      return false;
    }
    if (Array.isArray(x)) {
      if (!Array.isArray(y) || x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) todo.push(x[i], y[i]);
    } else if (isObject(x) && isObject(y)) {
      const keys = Object.keys(x);
      if (keys.length !== Object.keys(y).length) return false;
      for (const k of keys) {
        if (!Object.hasOwn(y, k)) return false;
        todo.push(x[k], y[k]);
      }
    } else {
      return false;
    }
  }
  return true;
}

/** A literal piece of a key being written (see jsonKey). */
class KeyText {
  constructor(readonly text: string) {}
}

/**
 * A canonical text for a decoded JSON value, such that two values have the
 * same key exactly when `jsonEqual` says they are equal (members sorted;
 * bigints marked with `n`, so 2^60 as a bigint and as a double differ).
 * With `loose`, every number (bigint or not) is written as the double
 * nearest to it: values equal under `jsonEqual(…, true)` then share a key
 * (the converse does not quite hold: distinct bigints may share a double).
 * Iterative, so any depth is fine; linear in the value's size.
 */
export function jsonKey(value: unknown, loose = false): string {
  let out = '';
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof KeyText) out += v.text;
    else if (typeof v === 'bigint') out += loose ? String(Number(v)) : `${v}n`;
    else if (typeof v === 'number') out += String(v);
    else if (typeof v === 'string') out += JSON.stringify(v);
    else if (Array.isArray(v)) {
      out += '[';
      todo.push(new KeyText(']'));
      for (let i = v.length - 1; i >= 0; i--) todo.push(v[i], new KeyText(i === 0 ? '' : ','));
    } else if (isObject(v)) {
      out += '{';
      todo.push(new KeyText('}'));
      const keys = Object.keys(v).sort();
      for (let i = keys.length - 1; i >= 0; i--)
        todo.push(v[keys[i]!], new KeyText(`${i === 0 ? '' : ','}${JSON.stringify(keys[i])}:`));
    } else out += String(v);
  }
  return out;
}

interface Slot<T> {
  readonly item: T;
  readonly id: unknown;
  done: boolean;
}

/** Slots in order; taken ones are skipped (and dropped from the front) lazily. */
class SlotList<T> {
  private items: Slot<T>[] = [];
  private head = 0;

  push(slot: Slot<T>): void {
    this.items.push(slot);
  }

  /** The first slot not taken that `accept` accepts (all, without it). */
  first(accept?: (slot: Slot<T>) => boolean): Slot<T> | undefined {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.done) this.head++;
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    for (let i = this.head; i < this.items.length; i++) {
      const slot = this.items[i]!;
      if (!slot.done && (accept === undefined || accept(slot))) return slot;
    }
    return undefined;
  }
}

/**
 * Commands waiting for their reply, in the order they were sent, found in
 * (amortised) constant time: by id (an exactly equal id first, else one
 * equal once big integers are taken as doubles, as QEMU echoes ids beyond
 * 64 bits), the first without an id, or the first flagged one. Matching
 * 60,000 commands answered in reverse order used to take half a minute
 * with a linear search per reply; this keeps it linear in the transcript.
 */
export class PendingCommands<T> {
  private readonly all: Slot<T>[] = [];
  private readonly exact = new Map<string, SlotList<T>>();
  private readonly loose = new Map<string, SlotList<T>>();
  /** Ids that are plain numbers, by their double: the candidates for an id that is a bigint. */
  private readonly numbers = new Map<string, SlotList<T>>();
  private readonly idless = new SlotList<T>();
  private readonly flagged = new SlotList<T>();
  private waiting = 0;

  /** Commands not taken yet. */
  get size(): number {
    return this.waiting;
  }

  /** Adds a command; `flagged` puts it in the list `firstFlagged` searches too. */
  add(item: T, hasId: boolean, id: unknown, flagged = false): void {
    const slot: Slot<T> = { item, id, done: false };
    this.all.push(slot);
    this.waiting++;
    if (flagged) this.flagged.push(slot);
    if (!hasId) {
      this.idless.push(slot);
      return;
    }
    const lists: [Map<string, SlotList<T>>, string][] = [
      [this.exact, jsonKey(id)],
      [this.loose, jsonKey(id, true)],
    ];
    if (typeof id === 'number') lists.push([this.numbers, jsonKey(id, true)]);
    for (const [map, key] of lists) {
      let list = map.get(key);
      if (list === undefined) map.set(key, (list = new SlotList()));
      list.push(slot);
    }
  }

  /** Takes the first command whose id equals `id` exactly, else loosely. */
  takeById(id: unknown): T | undefined {
    let slot = this.exact.get(jsonKey(id))?.first();
    if (slot === undefined) {
      const key = jsonKey(id, true);
      // A bigint that is not there exactly can only equal a double. Any
      // other scalar loosely equals everything under its key: the first
      // waiting one. Only an object or array with a bigint inside needs a
      // look along its list (distinct bigints can share a double).
      if (typeof id === 'bigint') slot = this.numbers.get(key)?.first();
      else if (typeof id !== 'object' || id === null) slot = this.loose.get(key)?.first();
      else slot = this.loose.get(key)?.first((s) => jsonEqual(s.id, id, true));
    }
    return this.take(slot);
  }

  /** Takes the first command sent without an id. */
  takeIdless(): T | undefined {
    return this.take(this.idless.first());
  }

  /** Takes the first flagged command. */
  takeFlagged(): T | undefined {
    return this.take(this.flagged.first());
  }

  /** The first flagged command, left waiting. */
  firstFlagged(): T | undefined {
    return this.flagged.first()?.item;
  }

  /** The commands not taken, in order. */
  remaining(): T[] {
    return this.all.filter((s) => !s.done).map((s) => s.item);
  }

  private take(slot: Slot<T> | undefined): T | undefined {
    if (slot === undefined) return undefined;
    slot.done = true;
    this.waiting--;
    return slot.item;
  }
}

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

/**
 * The report's lines: one per finding of each invalid message, then the
 * totals. Findings of one message that differ only in array indices
 * (`return[0].acpi`, `return[1].acpi`…) are shown once, with a count.
 */
export function formatReport(result: VerifyResult, source: string): string[] {
  const out: string[] = [];
  for (const verdict of result.verdicts) {
    const groups = new Map<string, { first: Finding; more: number }>();
    for (const f of verdict.findings) {
      const key = `${f.path.replace(/\[\d+\]/g, '[]')}\0${f.message}`;
      const group = groups.get(key);
      if (group) group.more++;
      else groups.set(key, { first: f, more: 0 });
    }
    for (const { first, more } of groups.values()) {
      const where = first.path === '' ? '' : `${shortPath(first.path)}: `;
      const also = more === 0 ? '' : ` (and ${more} more like it)`;
      out.push(`${source}:${verdict.line}: ${verdict.label}: ${where}${first.message}${also}`);
    }
  }
  out.push(formatSummary(result));
  return out;
}

export function formatSummary(result: Pick<VerifyResult, 'messages' | 'valid' | 'invalid'>): string {
  return `${result.messages} messages, ${result.valid} valid, ${result.invalid} invalid`;
}
