/**
 * A QEMU with the IOThread holder-tracking series, simulated:
 *
 *   await using server = await QmpTestServer.create<CommandMap, EventMap>();
 *   server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
 *
 * The plugin answers, from one shared state per server (machine.ts):
 * IOThreads and colo-compare objects (objects.ts), devices (devices.ts),
 * block nodes, the NBD server and exports (block.ts), the QOM tree
 * (qom.ts), `query-iothreads` with each IOThread's holders, and the run
 * state (`query-status`, `stop`, `cont` with STOP and RESUME).
 * `query-qmp-schema` is the server's own (generated from its schema).
 *
 * It installs a handler for each of these commands the server's schema
 * has, and reports `holders` only when the schema's `IOThreadInfo` has
 * them: over a schema without them it is a QEMU without the series,
 * whose holders a client must derive from QOM. Where the schema's
 * `IOThreadInfo` has `poll-weight` (ours, QEMU 11.1's) its IOThreads are
 * QEMU 11.1's: `poll-weight` (0 to 63, default 3) and `poll-grow` /
 * `poll-shrink` reading as 2 by default. `SIMULATED_VERSION` is the
 * version `qapi-ts serve --simulate` greets with.
 */
import type { CommandTable, EventTable } from '../../support/client.js';
import { isQmpErrorResponse, QmpScriptError } from '../errors.js';
import type { QmpTestServer } from '../server.js';
import type { ServerSchema } from '../schema.js';
import {
  blockdevAdd,
  blockdevDel,
  blockExportAdd,
  blockExportDel,
  nbdServerStart,
  nbdServerStop,
  queryBlockExports,
} from './block.js';
import { deviceAdd, deviceDel } from './devices.js';
import { Machine, type MachineOptions } from './machine.js';
import { objectAdd, objectDel } from './objects.js';
import { qomGet, qomList, qomListGet } from './qom.js';

/** The QEMU version the simulation stands for (`qapi-ts serve --simulate` greets with it). */
export const SIMULATED_VERSION = { major: 11, minor: 1, micro: 0 } as const;

/** A command run when the simulation is installed: name, then arguments. */
export type BootCommand = readonly [command: string, args?: Record<string, unknown>];

export interface SimulationOptions extends MachineOptions {
  /**
   * Commands run, in order, when the plugin is installed (before any
   * client connects), checked as if a client had sent them; one that
   * fails throws a QmpScriptError. `DEMO_MACHINE` is a small machine.
   */
  readonly boot?: readonly BootCommand[];
}

/**
 * The version a simulation over `schema` stands for: QEMU 11.1
 * (`SIMULATED_VERSION`) when the schema's `IOThreadInfo` has
 * `poll-weight` (ours does), else undefined (an older release; the
 * server's default greeting).
 */
export function simulatedVersion(schema: ServerSchema): typeof SIMULATED_VERSION | undefined {
  const weighted = {
    id: 'io0',
    'thread-id': 1,
    'poll-max-ns': 0,
    'poll-grow': 2,
    'poll-shrink': 2,
    'poll-weight': 3,
    'aio-max-batch': 0,
  };
  const has =
    schema.command('query-iothreads') !== undefined && schema.replyProblem('query-iothreads', [weighted]) === '';
  return has ? SIMULATED_VERSION : undefined;
}

/** Installs the simulation on a server of any command and event tables. */
export type SimulationPlugin = <C extends CommandTable<C>, E extends EventTable>(server: QmpTestServer<C, E>) => void;

/**
 * What `qapi-ts serve --simulate` starts with: IOThreads io0 and io1;
 * null-co nodes disk0 to disk3; vblk0 (virtio-blk-pci on disk0, io0),
 * vscsi0 (virtio-scsi-pci, io1), vblk1 (virtio-blk-pci on disk1, its
 * queues spread over io0 and io1), an anonymous virtio-balloon-pci with
 * free page hinting on io1, in root ports rp0 to rp3; the NBD server and
 * export exp0 of disk2 on io1. Root ports rp4 to rp7 and disk3 are free
 * for hotplug.
 */
export const DEMO_MACHINE: readonly BootCommand[] = [
  ['object-add', { 'qom-type': 'iothread', id: 'io0' }],
  ['object-add', { 'qom-type': 'iothread', id: 'io1' }],
  ...['disk0', 'disk1', 'disk2', 'disk3'].map((name): BootCommand => [
    'blockdev-add',
    { driver: 'null-co', 'node-name': name },
  ]),
  ['device_add', { driver: 'virtio-blk-pci', id: 'vblk0', bus: 'rp0', drive: 'disk0', iothread: 'io0' }],
  ['device_add', { driver: 'virtio-scsi-pci', id: 'vscsi0', bus: 'rp1', iothread: 'io1' }],
  [
    'device_add',
    {
      driver: 'virtio-blk-pci',
      id: 'vblk1',
      bus: 'rp2',
      drive: 'disk1',
      'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }],
    },
  ],
  ['device_add', { driver: 'virtio-balloon-pci', bus: 'rp3', iothread: 'io1', 'free-page-hint': true }],
  ['nbd-server-start', { addr: { type: 'inet', data: { host: '127.0.0.1', port: '10809' } } }],
  ['block-export-add', { type: 'nbd', id: 'exp0', 'node-name': 'disk2', iothread: 'io1' }],
];

type Args = Record<string, unknown>;

/** A QEMU with the holder-tracking series; each server it is installed on gets a machine of its own. */
export function holderTrackingQemu(options: SimulationOptions = {}): SimulationPlugin {
  return (server) => install(server as unknown as QmpTestServer, options);
}

function install(server: QmpTestServer, options: SimulationOptions): void {
  const m = new Machine(options);
  const schema = server.schema;
  const sample = {
    id: 'io0',
    'thread-id': 1,
    'poll-max-ns': 0,
    'poll-grow': 0,
    'poll-shrink': 0,
    'aio-max-batch': 0,
    holders: [],
  };
  const holders =
    schema.command('query-iothreads') !== undefined && schema.replyProblem('query-iothreads', [sample]) === '';
  m.pollWeight = simulatedVersion(schema) !== undefined;
  const commands: Readonly<Record<string, (args: Args) => unknown>> = {
    'query-iothreads': () => m.queryIothreads(holders),
    'object-add': (a) => objectAdd(m, a),
    'object-del': (a) => objectDel(m, a),
    device_add: (a) => deviceAdd(m, a),
    device_del: (a) => deviceDel(m, a),
    'qom-list': (a) => qomList(m.root, a.path as string),
    'qom-get': (a) => qomGet(m.root, a.path as string, a.property as string),
    'qom-list-get': (a) => qomListGet(m.root, a.paths as string[]),
    'blockdev-add': (a) => blockdevAdd(m, a),
    'blockdev-del': (a) => blockdevDel(m, a),
    'nbd-server-start': (a) => nbdServerStart(m, a),
    'nbd-server-stop': () => nbdServerStop(m),
    'block-export-add': (a) => blockExportAdd(m, a),
    'block-export-del': (a) => blockExportDel(m, a),
    'query-block-exports': () => queryBlockExports(m),
    'query-status': () => ({ running: m.running, status: m.status }),
    stop: () => m.setRunning(false),
    cont: () => m.setRunning(true),
  };

  for (const [i, [name, args = {}]] of (options.boot ?? []).entries()) {
    const where = `boot command ${i + 1} '${name}'`;
    const run = commands[name];
    const command = schema.command(name);
    if (run === undefined || command === undefined)
      throw new QmpScriptError(`${where}: not a simulated command of the schema`);
    const checked = schema.checkArguments(command, args);
    if (!checked.ok) throw new QmpScriptError(`${where}: ${checked.desc}`);
    try {
      run(checked.value);
    } catch (e) {
      if (isQmpErrorResponse(e)) throw new QmpScriptError(`${where}: ${e.desc}`);
      throw e;
    }
    m.takeAfterReply();
  }

  m.emit = (event, data) => {
    if (schema.hasEvent(event)) server.emit(event, data);
  };
  for (const [name, run] of Object.entries(commands)) {
    if (schema.command(name) === undefined) continue;
    server.on(name, (args: Args) => {
      try {
        return run(args);
      } finally {
        const after = m.takeAfterReply();
        // The reply is written once this handler's promise settles, before any timer fires.
        if (after.length > 0) setImmediate(() => after.forEach((fn) => fn()));
      }
    });
  }
}
