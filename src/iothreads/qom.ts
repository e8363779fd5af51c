/**
 * Reading QEMU's QOM composition tree over QMP.
 *
 * Every QOM object sits in one tree: `/machine` (the board and every
 * device, user-created ones under `/machine/peripheral` and
 * `/machine/peripheral-anon`) and `/objects` (objects made with
 * `-object`/`object-add`). A `child<TYPE>` property leads to a child
 * object named like the property; everything else is a plain property.
 *
 * The walk goes level by level. On QEMU 10.1 and later one `qom-list-get`
 * per level lists every object of the level with its property values; on
 * older releases one `qom-list` per object does, all of a level in flight
 * at once. An object that disappears while we walk (a hot-unplug racing
 * with us) is left out, not an error.
 *
 * Objects of the types in `skipTypes` are not listed (and so neither is
 * anything below them). By default these are `memory-region` and `irq`:
 * most of a machine's objects, none of which can hold a link to another
 * object or own an object that can; skipping them cuts a q35 walk to about
 * a quarter of the commands.
 *
 * The peer is not trusted. A walk stops with a QomWalkError beyond
 * `maxObjects` objects, `maxDepth` levels or `maxBytes` bytes held (paths,
 * property names, types and values, counted as their JSON text plus a
 * little for each property), so a server that invents an endless, deep or
 * bloated tree can neither keep us busy nor grow our memory without bound.
 * At most MAX_IN_FLIGHT commands are outstanding at once, however wide a
 * level is, and `timeout` bounds the whole walk, not each command.
 */
import type { QapiClient, ObjectPropertyValue } from '../../generated/index.js';
import type { ExecuteOptions } from '../runtime/executor.js';
import { isQmpCommandError, QmpAbortError, QmpTimeoutError } from '../runtime/errors.js';
import { deadline, type Deadline } from '../runtime/timers.js';

/** One object of the tree with its properties (values only from qom-list-get). */
export interface QomObject {
  readonly path: string;
  readonly properties: readonly ObjectPropertyValue[];
}

export interface QomWalkOptions extends Pick<ExecuteOptions, 'signal' | 'timeout'> {
  /** Use `qom-list-get` (QEMU 10.1+): one command per level instead of one per object. */
  batch?: boolean;
  /** Most objects read before giving up (default 100,000). */
  maxObjects?: number;
  /** Most levels below a root (default 64). */
  maxDepth?: number;
  /** Most bytes of paths, names, types and values held (default 32 MiB; see WalkLimits). */
  maxBytes?: number;
  /** Child types not walked into (default: DEFAULT_SKIPPED_TYPES). */
  skipTypes?: ReadonlySet<string>;
}

/** Types whose objects own no objects and link to none: not worth a command. */
export const DEFAULT_SKIPPED_TYPES: ReadonlySet<string> = new Set(['memory-region', 'irq']);

export const DEFAULT_MAX_OBJECTS = 100_000;
export const DEFAULT_MAX_DEPTH = 64;
/** 32 MiB: a q35 machine's whole tree with every value is well under 1 MiB. */
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
/** Most commands a walk has outstanding at once (QEMU answers in-band commands one by one anyway). */
export const MAX_IN_FLIGHT = 32;
/** What holding one property costs beyond its text (the object and its two strings). */
const PROPERTY_OVERHEAD = 64;

export interface QomWalk {
  /** Every object reached, parents before children. */
  readonly objects: QomObject[];
  /** QMP commands the walk sent. */
  readonly commands: number;
}

/** The tree is larger, deeper or bulkier than the limits allow, or a reply cannot be a QOM listing. */
export class QomWalkError extends Error {
  override readonly name = 'QomWalkError';
  readonly code = 'QAPI_ERR_QOM_WALK';
}

/** `text`, cut to at most `max` characters (a path from the peer may be megabytes long). */
export function shortened(text: string, max = 160): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}… (${text.length} characters)`;
}

/**
 * What one inspection may spend, over all its commands: time (`timeout`
 * is one deadline for the whole of it), bytes held (`maxBytes`), and
 * commands outstanding (MAX_IN_FLIGHT, see `map`). Every command gets
 * `call` (one signal: the caller's, the deadline's, or the first failure's);
 * `fail(e)` turns what ended the work into the error to throw.
 */
export class WalkLimits implements Disposable {
  private readonly controller = new AbortController();
  private readonly timer: Deadline | undefined;
  private timedOut: QmpTimeoutError | undefined;
  private readonly unlink: (() => void) | undefined;
  /** When the deadline passes (Date.now() clock; Infinity: never). */
  private readonly end: number;
  /** Bytes counted so far. */
  bytes = 0;
  readonly call: ExecuteOptions;

  constructor(readonly options: { timeout?: number; signal?: AbortSignal; maxBytes?: number; what: string }) {
    this.call = { signal: this.controller.signal };
    const outer = options.signal;
    if (outer !== undefined) {
      if (outer.aborted) this.controller.abort(outer.reason);
      const forward = (): void => this.controller.abort(outer.reason);
      outer.addEventListener('abort', forward, { once: true });
      this.unlink = () => outer.removeEventListener('abort', forward);
    }
    this.end = Date.now() + (options.timeout ?? Infinity);
    this.timer = deadline(options.timeout, () => this.expire());
  }

  private expire(): QmpTimeoutError {
    if (this.timedOut === undefined) {
      const error = new QmpTimeoutError(this.options.what, this.options.timeout as number);
      error.message =
        `${this.options.what}: not done within ${this.options.timeout} ms` +
        ' (the timeout bounds all of its commands together)';
      this.timedOut = error;
      this.controller.abort(error);
    }
    return this.timedOut;
  }

  get maxBytes(): number {
    return this.options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Counts `bytes` more held; past maxBytes a QomWalkError naming `where`. */
  spend(bytes: number, where: string): void {
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) {
      throw new QomWalkError(
        `QOM tree too bulky: more than ${this.maxBytes} bytes of paths, property names, types and values` +
          ` (at ${shortened(where)})`,
      );
    }
  }

  /** Counts one property as listed. */
  spendProperty(p: { name: string; type: string; value?: unknown }, where: string): void {
    let bytes = PROPERTY_OVERHEAD + p.name.length + p.type.length;
    if (p.value !== undefined) bytes += jsonSize(p.value, this.maxBytes - this.bytes);
    this.spend(bytes, where);
  }

  /** Throws now if the deadline passed or the caller aborted (between stretches of work without commands). */
  check(): void {
    // The timer cannot fire during a stretch of work that never yields: look at the clock.
    if (this.timedOut || Date.now() > this.end) throw this.expire();
    if (this.controller.signal.aborted) throw new QmpAbortError(this.options.what, this.controller.signal.reason);
  }

  /** The error to throw for `e`; anything in flight is given up. */
  fail(e: unknown): unknown {
    this.controller.abort(e);
    return this.timedOut ?? e;
  }

  /**
   * `fn` over `items` with at most MAX_IN_FLIGHT calls outstanding, results
   * in order; the first failure stops new calls and is thrown.
   */
  async map<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
    const out = new Array<R>(items.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < items.length) {
        const i = next++;
        try {
          out[i] = await fn(items[i] as T);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, items.length) }, worker));
    return out;
  }

  [Symbol.dispose](): void {
    this.timer?.cancel();
    this.unlink?.();
  }
}

/** Roughly the length of `value` as JSON text, without recursion; stops counting past `cap`. */
export function jsonSize(value: unknown, cap: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= cap) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') size += String(v).length;
    else if (Array.isArray(v)) {
      size += 2 + v.length;
      for (let i = 0; i < v.length && size <= cap; i++) stack.push(v[i]);
    } else if (typeof v === 'object' && v !== null) {
      size += 2;
      for (const key in v) {
        size += key.length + 4;
        stack.push((v as Record<string, unknown>)[key]);
        if (size > cap) break;
      }
    } else size += 4;
  }
  return size;
}

/** Paths per `qom-list-get`, so one message stays a sensible size. */
const BATCH_PATHS = 512;

/** The path of child `name` of the object at `parent`. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** `child<TYPE>` → `TYPE`, anything else → null. */
export function childType(type: string): string | null {
  return type.startsWith('child<') && type.endsWith('>') ? type.slice(6, -1) : null;
}

/** Walks the composition tree below `roots` (e.g. `/machine`, `/objects`). */
export async function walkComposition(
  client: QapiClient,
  roots: readonly string[],
  options: QomWalkOptions = {},
): Promise<QomWalk> {
  using limits = new WalkLimits({ ...options, what: 'QOM walk' });
  try {
    return await walkWithin(client, roots, options, limits);
  } catch (e) {
    throw limits.fail(e);
  }
}

/** walkComposition within limits shared with the caller's other work (holders.ts). */
export async function walkWithin(
  client: QapiClient,
  roots: readonly string[],
  options: Omit<QomWalkOptions, 'signal' | 'timeout' | 'maxBytes'>,
  limits: WalkLimits,
): Promise<QomWalk> {
  const maxObjects = options.maxObjects ?? DEFAULT_MAX_OBJECTS;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const skip = options.skipTypes ?? DEFAULT_SKIPPED_TYPES;
  const call = limits.call;
  const objects: QomObject[] = [];
  const seen = new Set<string>(roots);
  for (const root of seen) limits.spend(root.length, root);
  let commands = 0;
  let level: string[] = [...seen];
  for (let depth = 0; level.length > 0; depth++) {
    limits.check();
    if (depth > maxDepth) {
      throw new QomWalkError(
        `QOM tree deeper than ${maxDepth} levels below ${roots.join(', ')} (at ${shortened(level[0] as string)})`,
      );
    }
    const listed = options.batch ? await listBatched(level) : await listEach(level);
    const next: string[] = [];
    for (const object of listed) {
      if (object === null) continue;
      objects.push(object);
      for (const p of object.properties) {
        const type = childType(p.type);
        if (type === null || skip.has(type)) continue;
        const path = childPath(object.path, p.name);
        if (seen.has(path)) continue;
        seen.add(path);
        limits.spend(path.length, path);
        next.push(path);
      }
      if (seen.size > maxObjects) throw new QomWalkError(`QOM tree has more than ${maxObjects} objects`);
    }
    level = next;
  }
  return { objects, commands };

  /** The object at `path` with `properties`, counted against the byte limit as it arrives. */
  function held(path: string, properties: readonly ObjectPropertyValue[]): QomObject {
    for (const p of properties) limits.spendProperty(p, path);
    return { path, properties };
  }

  async function listEach(paths: readonly string[]): Promise<(QomObject | null)[]> {
    return limits.map(paths, async (path) => {
      commands++;
      try {
        return held(path, await client.qomList({ path }, call));
      } catch (e) {
        if (vanished(e)) return null;
        throw e;
      }
    });
  }

  async function listBatched(paths: readonly string[]): Promise<(QomObject | null)[]> {
    const out: (QomObject | null)[] = [];
    for (let i = 0; i < paths.length; i += BATCH_PATHS) {
      const chunk = paths.slice(i, i + BATCH_PATHS);
      commands++;
      let lists;
      try {
        lists = await client.qomListGet({ paths: chunk }, call);
      } catch (e) {
        // One path that vanished fails the whole command; ask one by one.
        if (!isQmpCommandError(e)) throw e;
        out.push(...(await listEach(chunk)));
        continue;
      }
      chunk.forEach((path, j) => {
        const list = lists[j];
        out.push(list ? held(path, list.properties) : null);
      });
    }
    return out;
  }
}

/** QEMU's answer for a path that names no object (any more). */
function vanished(e: unknown): boolean {
  return isQmpCommandError(e) && e.errorClass === 'DeviceNotFound';
}
