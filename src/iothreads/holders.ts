/**
 * Who uses each IOThread: `inspectIothreads(session)`.
 *
 * QEMU's holder-tracking series adds `holders` to `query-iothreads`. Where
 * the server's schema has that member, its own list is taken as it is
 * ("reported"). Everywhere else the holders are worked out from QOM
 * ("derived"):
 *
 *  - the composition tree below `/machine` and `/objects` is walked (see
 *    qom.ts), which also tells the canonical path of every IOThread;
 *  - a `link<iothread>` property (virtio-blk, virtio-scsi, virtio-balloon,
 *    xen-block, colo-compare…) reads as the IOThread's path, or "" when
 *    unset (or when its IOThread was deleted under it);
 *  - an `IOThreadVirtQueueMappingList` property (`iothread-vq-mapping`,
 *    virtio-blk since 9.0, virtio-scsi since 10.0) reads as a list of
 *    IOThread ids, `[]` when unset: the device then holds each of them;
 *  - a virtio proxy (`virtio-blk-pci`…) and its `virtio-backend` child
 *    show the same properties: an object whose ancestor reads exactly the
 *    same is part of that ancestor and is not listed again, so each device
 *    appears once, under the path of the device the user created;
 *  - derived holders of one IOThread are sorted by path.
 *
 * Block exports and the monitor cannot be seen over QMP on released QEMU,
 * so derived holders never include them.
 *
 * A trap: after `object-del` of an IOThread that a device maps by id, the
 * device's `iothread-vq-mapping` still names the id, and a new IOThread may
 * take it. Ids cannot tell the two apart, thread ids can: the first time a
 * session sees a device map an id, the device is bound to the thread id of
 * that IOThread then (or to none, when no IOThread has the id); later it
 * counts as a holder only while the IOThread with that id still runs on
 * the same thread. A session that connects after the IOThread was replaced
 * cannot see that it was (documented in the README). Bindings last while
 * something refers to them: a device's binding for an id goes when the
 * device no longer maps that id, all of a device's when it leaves the tree,
 * so a long watch holds no more bindings than the machine has mappings.
 *
 * The peer is not trusted: `timeout` bounds the whole inspection (every
 * command of it together), what it holds is bounded in bytes (see qom.ts,
 * WalkLimits), and a reply that does not fit the schema is a
 * QapiValidationError, including a `query-iothreads` without `holders`
 * from a server whose schema has them (absent data is not QEMU's answer).
 */
import { QapiClient, type IOThreadInfo, type IoThreadHolder } from '../../generated/index.js';
import type { ExecuteOptions, QmpExecutor } from '../runtime/executor.js';
import { isQmpCommandError } from '../runtime/errors.js';
import { stringifyJson } from '../runtime/json.js';
import { probeAll } from '../runtime/probe.js';
import { QapiValidationError } from '../support/errors.js';
import { childPath, childType, jsonSize, walkWithin, WalkLimits, type QomObject } from './qom.js';

/** Where the holders of a report come from. */
export type HolderSource = 'reported' | 'derived';

/**
 * One IOThread as the server described it: the members of our
 * `IOThreadInfo` typed (QEMU 11.1's, plus the holder-tracking series'
 * `holders`), and every member a newer QEMU sends beyond those kept as
 * it came, typed `unknown`. Holders of a kind we do not know are kept
 * too, with their `type` (see `IoThreadHolder`).
 */
export type ServerIOThreadInfo = IOThreadInfo & { readonly [member: string]: unknown };

export interface IothreadReport {
  /** `reported`: QEMU's own `holders`; `derived`: worked out from QOM. */
  readonly holders: HolderSource;
  /** Every IOThread, in QEMU's order, each with `holders` filled and every member QEMU sent. */
  readonly iothreads: ServerIOThreadInfo[];
  /** QMP commands this report took. */
  readonly commands: number;
}

export interface InspectOptions extends Pick<ExecuteOptions, 'signal' | 'timeout'> {
  /**
   * `auto` (default): QEMU's own list where its schema has `holders`,
   * derived from QOM otherwise. `derived` always works them out from QOM.
   */
  source?: 'auto' | 'derived';
  /**
   * Whether the server has `holders` and `qom-list-get`; by default asked
   * from the server's schema (once per session).
   */
  features?: ServerFeatures;
  /** Walk into every object, even those that cannot hold an IOThread (for checking; slower). */
  fullWalk?: boolean;
  /** Most bytes the inspection holds (paths, property lists, values; default 32 MiB, see qom.ts). */
  maxBytes?: number;
}

export interface ServerFeatures {
  /** `query-iothreads` reports `holders`. */
  readonly holders: boolean;
  /** `qom-list-get` exists (QEMU 10.1+). */
  readonly qomListGet: boolean;
}

const LINK_TYPE = 'link<iothread>';
const VQ_MAPPING_TYPE = 'IOThreadVirtQueueMappingList';
const ROOTS = ['/machine', '/objects'] as const;

/** Per session: device path → IOThread id → thread id it was bound to (null: none had the id). */
type Bindings = Map<string, Map<string, number | bigint | null>>;
const bindingsBySession = new WeakMap<object, Bindings>();

/** Every IOThread with its holders, and where they come from. */
export async function inspectIothreads(session: QmpExecutor, options: InspectOptions = {}): Promise<IothreadReport> {
  using limits = new WalkLimits({ ...options, what: 'inspecting IOThreads' });
  try {
    return await inspectWithin(session, options, limits);
  } catch (e) {
    throw limits.fail(e);
  }
}

async function inspectWithin(
  session: QmpExecutor,
  options: InspectOptions,
  limits: WalkLimits,
): Promise<IothreadReport> {
  const call = limits.call;
  const client = new QapiClient(session);
  const features = options.features ?? (await serverFeatures(session, call));
  // The compatible validator keeps members beyond ours.
  const iothreads = (await client.queryIothreads(call)) as ServerIOThreadInfo[];
  limits.spend(jsonSize(iothreads, limits.maxBytes), 'query-iothreads');
  if (features.holders && options.source !== 'derived') {
    const missing = iothreads.findIndex((t) => t.holders === undefined);
    if (missing >= 0) {
      throw new QapiValidationError('reply', 'query-iothreads', [
        {
          path: `[${missing}].holders`,
          message:
            "missing, though the server's schema has 'holders' " +
            "(use --derived / source: 'derived' to work them out from QOM)",
        },
      ]);
    }
    return { holders: 'reported', iothreads, commands: 1 };
  }
  const walk = await walkWithin(
    client,
    ROOTS,
    {
      batch: features.qomListGet,
      ...(options.fullWalk ? { skipTypes: new Set<string>() } : {}),
    },
    limits,
  );
  const readings = await readIothreadProperties(client, walk.objects, limits);
  let bindings = bindingsBySession.get(session);
  if (bindings === undefined) bindingsBySession.set(session, (bindings = new Map()));
  const holders = attribute(walk.objects, readings.values, iothreads, bindings);
  limits.check();
  return {
    holders: 'derived',
    iothreads: iothreads.map((t) => ({ ...t, holders: holders.get(t.id) ?? [] })),
    commands: 1 + walk.commands + readings.commands,
  };
}

/** How many device → IOThread id bindings the session keeps (see the file comment; for tests of a long watch). */
export function bindingCount(session: QmpExecutor): number {
  let n = 0;
  for (const byId of bindingsBySession.get(session)?.values() ?? []) n += byId.size;
  return n;
}

// ---------------------------------------------------------------------------
// Reading the IOThread properties

/** One IOThread-typed property as read: its type and value. */
interface Reading {
  readonly type: string;
  value: unknown;
}

/** Object → property name → reading, for every IOThread-typed property. */
interface Readings {
  readonly values: Map<QomObject, Map<string, Reading>>;
  readonly commands: number;
}

function isIothreadProperty(type: string): boolean {
  return type === LINK_TYPE || type === VQ_MAPPING_TYPE;
}

async function readIothreadProperties(
  client: QapiClient,
  objects: readonly QomObject[],
  limits: WalkLimits,
): Promise<Readings> {
  const values = new Map<QomObject, Map<string, Reading>>();
  const reads: { object: QomObject; name: string; type: string; into: Map<string, Reading> }[] = [];
  for (const object of objects) {
    for (const p of object.properties) {
      if (!isIothreadProperty(p.type)) continue;
      let byName = values.get(object);
      if (byName === undefined) values.set(object, (byName = new Map()));
      if ('value' in p) {
        byName.set(p.name, { type: p.type, value: p.value });
        continue;
      }
      reads.push({ object, name: p.name, type: p.type, into: byName });
    }
  }
  // A few at a time: a tree with 100,000 such properties must not flood our own queue.
  await limits.map(reads, async ({ object, name, type, into }) => {
    try {
      const value = await client.qomGet({ path: object.path, property: name }, limits.call);
      limits.spend(jsonSize(value, limits.maxBytes - limits.bytes), object.path);
      into.set(name, { type, value });
    } catch (e) {
      // The object went away since it was listed: it holds nothing.
      if (!(isQmpCommandError(e) && e.errorClass === 'DeviceNotFound')) throw e;
    }
  });
  return { values, commands: reads.length };
}

// ---------------------------------------------------------------------------
// From readings to holders

/** Adds the IOThread ids named by an `iothread-vq-mapping` value to `ids`; malformed entries are ignored. */
function addMappedIds(value: unknown, ids: Set<string>): void {
  if (!Array.isArray(value)) return;
  for (const entry of value) {
    const id = typeof entry === 'object' && entry !== null ? (entry as { iothread?: unknown }).iothread : undefined;
    if (typeof id === 'string') ids.add(id);
  }
}

/** A stable text of an object's readings, to spot a proxy and its backend. */
function signature(byName: ReadonlyMap<string, Reading>): string {
  // stringifyJson: values come from the peer and may hold integers beyond 2^53 (bigints).
  return stringifyJson([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parentPath(path: string): string | null {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? null : path.slice(0, slash);
}

/** IOThread id → its holders (sorted by path). */
function attribute(
  objects: readonly QomObject[],
  readings: ReadonlyMap<QomObject, ReadonlyMap<string, Reading>>,
  iothreads: readonly IOThreadInfo[],
  bindings: Bindings,
): Map<string, IoThreadHolder[]> {
  // Canonical path of each IOThread object → its id (the last path component).
  const iothreadByPath = new Map<string, string>();
  for (const object of objects) {
    for (const p of object.properties) {
      if (childType(p.type) === 'iothread') iothreadByPath.set(childPath(object.path, p.name), p.name);
    }
  }
  const threadIds = new Map(iothreads.map((t) => [t.id, t['thread-id']]));
  const ancestry = new Ancestry();
  for (const [object, byName] of readings) ancestry.add(object.path, signature(byName));

  const held = new Map<string, Set<string>>();
  const hold = (id: string, path: string): void => {
    let paths = held.get(id);
    if (paths === undefined) held.set(id, (paths = new Set()));
    paths.add(path);
  };
  const present = new Set<string>();
  for (const [object, byName] of readings) {
    if (ancestry.readsLikeAncestor(object.path)) continue;
    present.add(object.path);
    const mapped = new Set<string>();
    for (const { type, value } of byName.values()) {
      if (type === LINK_TYPE) {
        const id = typeof value === 'string' ? iothreadByPath.get(value) : undefined;
        if (id !== undefined && threadIds.has(id)) hold(id, object.path);
      } else {
        addMappedIds(value, mapped);
      }
    }
    for (const id of mapped) {
      if (boundToCurrent(bindings, object.path, id, threadIds.get(id))) hold(id, object.path);
    }
    forgetUnmapped(bindings, object.path, mapped);
  }
  // Forget devices that are gone: a new device at the same path starts afresh.
  for (const path of bindings.keys()) if (!present.has(path)) bindings.delete(path);

  const out = new Map<string, IoThreadHolder[]>();
  for (const [id, paths] of held) {
    out.set(
      id,
      [...paths].sort().map((path): IoThreadHolder => ({ type: 'qom', path })),
    );
  }
  return out;
}

/**
 * Spots an object whose ancestor reads exactly the same (a proxy and its
 * backend), in time linear in the paths' length however deep and wide the
 * tree: each signature is hashed once (and known by a number), and each
 * path's nearest ancestor with readings is found once (memoised), so no
 * ancestor path is cut out and hashed again for every descendant.
 */
class Ancestry {
  /** Signature text → its number. */
  private readonly numbers = new Map<string, number>();
  /** Path with readings → the number of its signature. */
  private readonly signatureOf = new Map<string, number>();
  /** Path → its nearest proper ancestor with readings (null: none). */
  private readonly nearest = new Map<string, string | null>();

  add(path: string, signature: string): void {
    let n = this.numbers.get(signature);
    if (n === undefined) this.numbers.set(signature, (n = this.numbers.size));
    this.signatureOf.set(path, n);
  }

  readsLikeAncestor(path: string): boolean {
    const own = this.signatureOf.get(path);
    for (let up = this.nearestWithReadings(path); up !== null; up = this.nearestWithReadings(up)) {
      if (this.signatureOf.get(up) === own) return true;
    }
    return false;
  }

  private nearestWithReadings(path: string): string | null {
    const known = this.nearest.get(path);
    if (known !== undefined) return known;
    const between: string[] = [path];
    let found: string | null = null;
    for (let up = parentPath(path); up !== null; up = parentPath(up)) {
      if (this.signatureOf.has(up)) {
        found = up;
        break;
      }
      const memo = this.nearest.get(up);
      if (memo !== undefined) {
        found = memo;
        break;
      }
      between.push(up);
    }
    for (const p of between) this.nearest.set(p, found);
    return found;
  }
}

/** Drops the device's bindings for ids it no longer maps (and the device, when it maps none). */
function forgetUnmapped(bindings: Bindings, device: string, mapped: ReadonlySet<string>): void {
  const byId = bindings.get(device);
  if (byId === undefined) return;
  if (mapped.size === 0) {
    bindings.delete(device);
    return;
  }
  for (const id of byId.keys()) if (!mapped.has(id)) byId.delete(id);
}

/** See the file comment: a mapping holds the IOThread only while it is the one first seen. */
function boundToCurrent(
  bindings: Bindings,
  device: string,
  id: string,
  threadId: number | bigint | undefined,
): boolean {
  let byId = bindings.get(device);
  if (byId === undefined) bindings.set(device, (byId = new Map()));
  if (!byId.has(id)) byId.set(id, threadId ?? null);
  return threadId !== undefined && byId.get(id) === threadId;
}

// ---------------------------------------------------------------------------
// What the server can do

/** The probes (libvirt-style, see runtime/probe.ts) behind ServerFeatures. */
export const HOLDER_PROBES = ['query-iothreads/ret-type/holders', 'qom-list-get'] as const;

/** Whether the server reports holders and has qom-list-get (its schema is fetched once per session). */
export async function serverFeatures(
  session: QmpExecutor,
  call: Pick<ExecuteOptions, 'signal' | 'timeout'> = {},
): Promise<ServerFeatures> {
  const [holders, qomListGet] = await probeAll(session, HOLDER_PROBES, call);
  return { holders: holders === true, qomListGet: qomListGet === true };
}
