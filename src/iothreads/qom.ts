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
 * The peer is not trusted: the walk stops with a QomWalkError beyond
 * `maxObjects` objects or `maxDepth` levels, so a server that invents an
 * endless tree cannot keep us busy or grow our memory without bound.
 */
import type { QapiClient, ObjectPropertyValue } from '../../generated/index.js';
import type { ExecuteOptions } from '../runtime/executor.js';
import { isQmpCommandError } from '../runtime/errors.js';

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
  /** Child types not walked into (default: DEFAULT_SKIPPED_TYPES). */
  skipTypes?: ReadonlySet<string>;
}

/** Types whose objects own no objects and link to none: not worth a command. */
export const DEFAULT_SKIPPED_TYPES: ReadonlySet<string> = new Set(['memory-region', 'irq']);

export interface QomWalk {
  /** Every object reached, parents before children. */
  readonly objects: QomObject[];
  /** QMP commands the walk sent. */
  readonly commands: number;
}

/** The tree is larger or deeper than the limits allow. */
export class QomWalkError extends Error {
  override readonly name = 'QomWalkError';
  readonly code = 'QAPI_ERR_QOM_WALK';
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
  const maxObjects = options.maxObjects ?? 100_000;
  const maxDepth = options.maxDepth ?? 64;
  const skip = options.skipTypes ?? DEFAULT_SKIPPED_TYPES;
  const call: ExecuteOptions = { signal: options.signal, timeout: options.timeout };
  const objects: QomObject[] = [];
  const seen = new Set<string>(roots);
  let commands = 0;
  let level: string[] = [...seen];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > maxDepth) throw new QomWalkError(`QOM tree deeper than ${maxDepth} levels below ${roots.join(', ')}`);
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
        next.push(path);
      }
      if (seen.size > maxObjects) throw new QomWalkError(`QOM tree has more than ${maxObjects} objects`);
    }
    level = next;
  }
  return { objects, commands };

  async function listEach(paths: readonly string[]): Promise<(QomObject | null)[]> {
    commands += paths.length;
    return Promise.all(
      paths.map(async (path) => {
        try {
          return { path, properties: await client.qomList({ path }, call) };
        } catch (e) {
          if (vanished(e)) return null;
          throw e;
        }
      }),
    );
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
      chunk.forEach((path, j) => out.push(lists[j] ? { path, properties: lists[j].properties } : null));
    }
    return out;
  }
}

/** QEMU's answer for a path that names no object (any more). */
function vanished(e: unknown): boolean {
  return isQmpCommandError(e) && e.errorClass === 'DeviceNotFound';
}
