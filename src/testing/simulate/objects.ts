/**
 * `object-add` and `object-del` in the simulated QEMU: IOThreads and
 * colo-compare objects, below `/objects`.
 *
 * QEMU's checks and texts (QEMU 10.0): an id that is not an identifier,
 * a negative polling or pool setting, a clash with an existing object,
 * a thread pool whose minimum exceeds its maximum.
 *
 * Deleting an IOThread that still has holders is refused, naming them
 * (QEMU 7.2 and 10.0 delete it and leave its users running on a thread
 * that is gone; the holder-tracking series exists so this can be
 * refused).
 */
import type { IoThreadHolder } from '../../../generated/index.js';
import { generic, OWN, qomHolder, wellFormedId, type Iothread, type Machine } from './machine.js';
import { QomObject } from './qom.js';

type Args = Record<string, unknown>;
type Int = number | bigint;

const POLL_DEFAULTS: readonly [string, Int][] = [
  ['poll-max-ns', 32768],
  ['poll-grow', 0],
  ['poll-shrink', 0],
  ['aio-max-batch', 0],
  ['thread-pool-min', 0],
  ['thread-pool-max', 64],
];

/**
 * QEMU 11.1 (`Machine.pollWeight`): `poll-weight` too, at most 63; a
 * `poll-grow`, `poll-shrink` or `poll-weight` of 0 (the default) reads as
 * the value it stands for, in `query-iothreads` and `qom-get` alike.
 */
const POLL_WEIGHT_MAX = 63;
const EFFECTIVE_DEFAULTS: ReadonlyMap<string, Int> = new Map([
  ['poll-grow', 2],
  ['poll-shrink', 2],
  ['poll-weight', 3],
]);

export function objectAdd(m: Machine, args: Args): void {
  const id = args.id as string;
  if (!wellFormedId(id)) throw generic("Parameter 'id' expects an identifier");
  switch (args['qom-type']) {
    case 'iothread':
      return addIothread(m, id, args);
    case 'colo-compare':
      return addColoCompare(m, id, args);
    default:
      throw generic(`${OWN} objects of type '${String(args['qom-type'])}' are not simulated`);
  }
}

function addIothread(m: Machine, id: string, args: Args): void {
  const values = new Map<string, Int>();
  const settings: [string, Int][] = m.pollWeight ? [...POLL_DEFAULTS, ['poll-weight', 0]] : [...POLL_DEFAULTS];
  for (const [name, fallback] of settings) {
    const given = args[name] as Int | undefined;
    const max = name === 'poll-weight' ? POLL_WEIGHT_MAX : '9223372036854775807';
    if (given !== undefined && (given < 0 || (name === 'poll-weight' && given > POLL_WEIGHT_MAX))) {
      throw generic(`${name} value must be in range [0, ${max}]`);
    }
    let value = given ?? fallback;
    if (m.pollWeight && value == 0) value = EFFECTIVE_DEFAULTS.get(name) ?? value;
    values.set(name, value);
  }
  const value = (name: string): Int => values.get(name)!;
  const object = new QomObject(
    'iothread',
    settings.map(([name]) => ({ name, type: 'int', get: () => value(name) })),
  );
  m.objects.add(id, object);
  if (value('thread-pool-min') > value('thread-pool-max') || value('thread-pool-max') <= 0) {
    object.detach();
    throw generic('bad thread-pool-min/thread-pool-max values');
  }
  const thread: Iothread = {
    id,
    threadId: m.threadId(),
    object,
    poll: {
      maxNs: value('poll-max-ns'),
      grow: value('poll-grow'),
      shrink: value('poll-shrink'),
      maxBatch: value('aio-max-batch'),
      ...(m.pollWeight ? { weight: value('poll-weight') } : {}),
    },
    holders: [],
  };
  m.iothreads.set(id, thread);
}

function addColoCompare(m: Machine, id: string, args: Args): void {
  // QEMU 10.0 aborts on a missing chardev or IOThread here; the simulation refuses instead.
  for (const member of ['primary_in', 'secondary_in', 'outdev', 'notify_dev']) {
    const chardev = args[member] as string | undefined;
    if (chardev !== undefined && !m.chardevs.has(chardev)) throw generic(`${OWN} ${member}: no chardev '${chardev}'`);
  }
  const iothread = args.iothread as string;
  if (m.iothread(iothread) === undefined) throw generic(`${OWN} iothread: no IOThread '${iothread}'`);
  const text = (member: string, fallback: unknown) => () => args[member] ?? fallback;
  const object = new QomObject('colo-compare', [
    { name: 'vnet_hdr_support', type: 'bool', get: text('vnet_hdr_support', false) },
    { name: 'iothread', type: 'link<iothread>', get: () => (m.iothread(iothread) ? `/objects/${iothread}` : '') },
    { name: 'compare_timeout', type: 'uint64', get: text('compare_timeout', 3000) },
    { name: 'max_queue_size', type: 'uint32', get: text('max_queue_size', 1024) },
    { name: 'notify_dev', type: 'string', get: text('notify_dev', '') },
    { name: 'outdev', type: 'string', get: text('outdev', '') },
    { name: 'expired_scan_cycle', type: 'uint32', get: text('expired_scan_cycle', 3000) },
    { name: 'primary_in', type: 'string', get: text('primary_in', '') },
    { name: 'secondary_in', type: 'string', get: text('secondary_in', '') },
  ]);
  m.objects.add(id, object);
  m.userObjects.set(id, { id, object, iothread });
  m.register(iothread, qomHolder(object.path));
}

export function objectDel(m: Machine, args: Args): void {
  const id = args.id as string;
  const thread = m.iothread(id);
  if (thread !== undefined) {
    if (thread.holders.length > 0)
      throw generic(`IOThread '${id}' is in use by ${thread.holders.map(describeHolder).join(', ')}`);
    thread.object.detach();
    m.iothreads.delete(id);
    return;
  }
  const user = m.userObjects.get(id);
  if (user === undefined) throw generic(`object '${id}' not found`);
  if (user.iothread !== null) m.unregister(user.iothread, qomHolder(user.object.path));
  user.object.detach();
  m.userObjects.delete(id);
}

/** A holder as the refusal names it: a QOM path, or `block node 'NAME'`. */
export function describeHolder(h: IoThreadHolder): string {
  if ('path' in h) return String(h.path);
  if ('node-name' in h) return `block node '${String(h['node-name'])}'`;
  return JSON.stringify(h);
}
