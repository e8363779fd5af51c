/**
 * The state of one simulated QEMU: its QOM tree, IOThreads with their
 * holders, PCIe slots, devices, block nodes, the NBD server and block
 * exports. The commands (objects.ts, devices.ts, block.ts) change it;
 * index.ts wires them to a test server.
 *
 * Holders follow the holder-tracking series: each registration is one
 * entry, put at the front of its IOThread's list (newest first), and
 * unregistering removes exactly that entry.
 */
import type { IOThreadInfo, IoThreadHolder } from '../../../generated/index.js';
import { QmpErrorResponse } from '../errors.js';
import { container, QomObject, type QomProperty } from './qom.js';

/** An IOThread (`object-add` with `qom-type: iothread`). */
export interface Iothread {
  readonly id: string;
  readonly threadId: number;
  readonly object: QomObject;
  /** poll-max-ns, poll-grow, poll-shrink, aio-max-batch, and poll-weight on QEMU 11.1 (64-bit). */
  readonly poll: {
    readonly maxNs: number | bigint;
    readonly grow: number | bigint;
    readonly shrink: number | bigint;
    readonly maxBatch: number | bigint;
    readonly weight?: number | bigint;
  };
  /** Newest first. */
  readonly holders: IoThreadHolder[];
}

/** A slot a device plugs into: `pcie.0` (not hotpluggable) or a root port's bus. */
export interface Bus {
  readonly name: string;
  readonly object: QomObject;
  readonly hotpluggable: boolean;
  /** The device in the slot (root port buses have one slot). */
  occupant: Device | null;
}

/** A device made by `device_add` (or a root port the machine starts with). */
export interface Device {
  readonly id: string | null;
  readonly driver: string;
  readonly object: QomObject;
  /** The virtio backend child, for virtio proxies. */
  readonly backend: QomObject | null;
  readonly bus: Bus | null;
  /** The block node it uses (virtio-blk), and whether it lets others write it. */
  readonly drive: BlockNode | null;
  readonly shareRw: boolean;
  /** The IOThreads it registered with, in registration order. */
  readonly iothreads: readonly string[];
  /** Whether device_del may remove it. */
  readonly removable: boolean;
}

/** A block node made by `blockdev-add`. */
export interface BlockNode {
  readonly name: string;
  readonly driver: string;
  readonly readOnly: boolean;
  readonly devices: Set<Device>;
  readonly exports: Set<BlockExport>;
}

/** A block export made by `block-export-add`. */
export interface BlockExport {
  readonly id: string;
  /** Its name on the NBD server. */
  readonly name: string;
  readonly node: BlockNode;
  readonly writable: boolean;
  /** The IOThread it registered with (null: it runs where its node does). */
  readonly iothread: string | null;
}

/** Any other object made by `object-add` (colo-compare). */
export interface UserObject {
  readonly id: string;
  readonly object: QomObject;
  readonly iothread: string | null;
}

export interface MachineOptions {
  /** PCIe root ports the machine starts with (`rp0`, `rp1`…); default 8. */
  readonly rootPorts?: number;
  /** Chardev ids the machine has (for colo-compare); default none. */
  readonly chardevs?: readonly string[];
  /** Thread id of the first IOThread; default 10001 (then 10002…). */
  readonly firstThreadId?: number;
}

/** Sends an event to every client, checked against the schema. */
export type Emit = (event: string, data?: unknown) => void;

export const MACHINE_TYPE = 'pc-q35-10.1-machine';
const MAX_ROOT_PORTS = 256;

export class Machine {
  readonly root = new QomObject('container');
  readonly machine: QomObject;
  readonly peripheral = container();
  readonly peripheralAnon = container();
  readonly objects = container();
  readonly chardevs: ReadonlySet<string>;
  readonly iothreads = new Map<string, Iothread>();
  readonly userObjects = new Map<string, UserObject>();
  readonly buses = new Map<string, Bus>();
  /** Devices by their QOM object. */
  readonly devices = new Map<QomObject, Device>();
  readonly nodes = new Map<string, BlockNode>();
  nbdServer: { readonly addr: unknown } | null = null;
  /** Newest first, as QEMU keeps them. */
  readonly exports: BlockExport[] = [];
  running = true;
  /**
   * QEMU 11.1's IOThreads (set by the plugin when the schema's IOThreadInfo
   * has `poll-weight`): `poll-weight` exists, and defaults read as their values.
   */
  pollWeight = false;
  /** Anonymous devices are `device[N]`, N counting every attempt that got as far as naming it (never reused). */
  anonymousDevices = 0;
  private nextThreadId: number;
  private readonly pending: (() => void)[] = [];

  constructor(
    options: MachineOptions,
    /** Set by the plugin once it knows its server. */
    public emit: Emit = () => {},
  ) {
    const ports = options.rootPorts ?? 8;
    if (!Number.isSafeInteger(ports) || ports < 0 || ports > MAX_ROOT_PORTS) {
      throw new RangeError(`rootPorts: expected 0 to ${MAX_ROOT_PORTS}, got ${ports}`);
    }
    this.nextThreadId = options.firstThreadId ?? 10001;
    this.machine = this.root.add('machine', new QomObject(MACHINE_TYPE));
    this.machine.add('peripheral', this.peripheral);
    this.machine.add('peripheral-anon', this.peripheralAnon);
    this.machine.add('unattached', container());
    const host = this.machine.add('q35', new QomObject('q35-pcihost'));
    const rootBus = host.add('pcie.0', new QomObject('PCIE', [{ name: 'realized', type: 'bool', get: () => true }]));
    this.buses.set('pcie.0', { name: 'pcie.0', object: rootBus, hotpluggable: false, occupant: null });
    this.root.add('objects', this.objects);
    const chardevs = this.root.add('chardevs', container());
    this.chardevs = new Set(options.chardevs ?? []);
    for (const id of this.chardevs) chardevs.add(id, new QomObject('chardev-socket'));
    for (let i = 0; i < ports; i++) this.addRootPort(`rp${i}`, i + 1);
  }

  private addRootPort(id: string, chassis: number): void {
    const object = this.peripheral.add(
      id,
      new QomObject('pcie-root-port', [
        { name: 'parent_bus', type: 'link<bus>', get: () => '/machine/q35/pcie.0' },
        ...deviceState(false),
        { name: 'chassis', type: 'uint8', get: () => chassis },
        { name: 'slot', type: 'uint16', get: () => 0 },
      ]),
    );
    const bus: Bus = { name: id, object: new QomObject('PCIE'), hotpluggable: true, occupant: null };
    object.add(id, bus.object);
    this.buses.set(id, bus);
    const port: Device = {
      id,
      driver: 'pcie-root-port',
      object,
      backend: null,
      bus: this.buses.get('pcie.0')!,
      drive: null,
      shareRw: false,
      iothreads: [],
      removable: false,
    };
    this.devices.set(object, port);
  }

  /** Runs `fn` once the reply to the command being handled is sent (events QEMU sends after it). */
  afterReply(fn: () => void): void {
    this.pending.push(fn);
  }

  /** What afterReply() collected since the last call. */
  takeAfterReply(): (() => void)[] {
    return this.pending.splice(0);
  }

  /** A fresh host thread id. */
  threadId(): number {
    return this.nextThreadId++;
  }

  iothread(id: string): Iothread | undefined {
    return this.iothreads.get(id);
  }

  /** Registers `holder` with IOThread `id` (at the front: newest first). */
  register(id: string, holder: IoThreadHolder): void {
    this.iothreads.get(id)?.holders.unshift(holder);
  }

  /** Removes exactly one registration equal to `holder` from IOThread `id`. */
  unregister(id: string, holder: IoThreadHolder): void {
    const holders = this.iothreads.get(id)?.holders;
    if (holders === undefined) return;
    const at = holders.findIndex((h) => sameHolder(h, holder));
    if (at >= 0) holders.splice(at, 1);
  }

  /** query-iothreads: in creation order, with holders when the schema has them. */
  queryIothreads(withHolders: boolean): IOThreadInfo[] {
    return [...this.iothreads.values()].map((t) => ({
      id: t.id,
      'thread-id': t.threadId,
      'poll-max-ns': t.poll.maxNs,
      'poll-grow': t.poll.grow,
      'poll-shrink': t.poll.shrink,
      ...(t.poll.weight === undefined ? {} : { 'poll-weight': t.poll.weight }),
      'aio-max-batch': t.poll.maxBatch,
      ...(withHolders ? { holders: t.holders.map((h) => ({ ...h })) } : {}),
    }));
  }

  /** What query-status reports as the run state. */
  get status(): 'running' | 'paused' {
    return this.running ? 'running' : 'paused';
  }

  /** query-status, stop, cont: events before the reply, none when nothing changes. */
  setRunning(running: boolean): void {
    if (running === this.running) return;
    this.running = running;
    this.emit(running ? 'RESUME' : 'STOP');
  }
}

/** The properties every realized device has. */
export function deviceState(hotplugged: boolean): QomProperty[] {
  return [
    { name: 'realized', type: 'bool', get: () => true },
    { name: 'hotplugged', type: 'bool', get: () => hotplugged },
    { name: 'hotpluggable', type: 'bool', get: () => true },
  ];
}

export function qomHolder(path: string): IoThreadHolder {
  return { type: 'qom', path };
}

export function blockNodeHolder(node: string): IoThreadHolder {
  return { type: 'block-node', 'node-name': node };
}

function sameHolder(a: IoThreadHolder, b: IoThreadHolder): boolean {
  const key = (h: IoThreadHolder): string =>
    `${h.type}\0${'path' in h ? String(h.path) : ''}\0${'node-name' in h ? String(h['node-name']) : ''}`;
  return key(a) === key(b);
}

/** QEMU's id_wellformed(): a letter, then letters, digits, '-', '.' and '_'. */
export function wellFormedId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.-]*$/.test(id);
}

export function generic(desc: string): QmpErrorResponse {
  return new QmpErrorResponse('GenericError', desc);
}

/** The prefix of errors the simulation gives where QEMU has no answer of its own (it aborts). */
export const OWN = 'qapi-ts simulation:';
