/**
 * QMP messages in a transcript: reading a command's envelope, comparing
 * and keying ids (any JSON, exact integers), and the commands waiting for
 * their reply. Shared by `verify` and the test server's replay.
 */
import { MAX_JSON_DEPTH } from '../runtime/json.js';
import { describeValue, type ValidationProblem as Finding } from '../support/problems.js';
import { isObject } from './format.js';

/** QEMU's JSON parser refuses messages nested deeper than this. */
export const MAX_MESSAGE_NESTING = MAX_JSON_DEPTH;

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
