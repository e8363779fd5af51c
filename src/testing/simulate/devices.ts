/**
 * `device_add` and `device_del` in the simulated QEMU, for the device
 * models that use IOThreads: virtio-blk-pci (and virtio-blk-device),
 * virtio-scsi-pci and virtio-balloon-pci, plugged into the machine's PCIe
 * root ports (q35 with native PCIe hotplug, one vCPU).
 *
 * Checked in QEMU 10.0's order, with its texts: the model, the bus (and
 * whether it takes hotplug), the id, each property (unknown ones, JSON
 * types as QEMU's input visitor checks them, the IOThread and the drive
 * they name), the slot, then what the model itself checks when it is
 * realized (drive set, `iothread` and `iothread-vq-mapping` not both,
 * the mapping's IOThreads and virtqueues, one balloon, free-page-hint
 * needs an IOThread, write permission conflicts on the drive).
 *
 * A device with `iothread` registers its canonical QOM path with that
 * IOThread; one with `iothread-vq-mapping` with each IOThread the mapping
 * names. `device_del` unplugs at once (native PCIe hotplug needs no guest
 * here), unregisters exactly those, and sends DEVICE_DELETED after its
 * reply: for a virtio proxy first for the backend (`{path}`), then for
 * the device (`{device, path}`; no `device` when it has no id), as QEMU
 * does.
 */
import { parseSchemaString } from '../../frontend/index.js';
import type { SchemaObjectType } from '../../frontend/model.js';
import { checkArguments } from '../arguments.js';
import { QmpErrorResponse } from '../errors.js';
import {
  deviceState,
  generic,
  OWN,
  qomHolder,
  type BlockNode,
  type Bus,
  type Device,
  type Machine,
} from './machine.js';
import { findPath, QomObject, type QomProperty } from './qom.js';

type Args = Record<string, unknown>;
type Mapping = { iothread: string; vqs?: number[] }[];

/** The properties each model takes, as QAPI types, so QEMU's input visitor texts come out. */
const PROPERTY_SCHEMA = `
{ 'pragma': { 'member-name-exceptions': [ 'VirtioBlkProperties', 'VirtioScsiProperties' ] } }
{ 'enum': 'OnOffAuto', 'data': [ 'on', 'off', 'auto' ] }
{ 'struct': 'IOThreadVirtQueueMapping', 'data': { 'iothread': 'str', '*vqs': [ 'uint16' ] } }
{ 'struct': 'PciProperties', 'data': { '*addr': 'str' } }
{ 'struct': 'VirtioBlkProperties',
  'data': { '*drive': 'str', '*iothread': 'str',
            '*iothread-vq-mapping': [ 'IOThreadVirtQueueMapping' ],
            '*num-queues': 'uint16', '*queue-size': 'uint16', '*serial': 'str',
            '*share-rw': 'bool', '*write-cache': 'OnOffAuto', '*discard': 'bool',
            '*write-zeroes': 'bool', '*config-wce': 'bool', '*bootindex': 'int32',
            '*logical_block_size': 'size', '*physical_block_size': 'size' } }
{ 'struct': 'VirtioBlkPciProperties', 'base': 'VirtioBlkProperties', 'data': { '*addr': 'str' } }
{ 'struct': 'VirtioScsiProperties',
  'data': { '*iothread': 'str', '*iothread-vq-mapping': [ 'IOThreadVirtQueueMapping' ],
            '*num_queues': 'uint32', '*virtqueue_size': 'uint32', '*max_sectors': 'uint32',
            '*cmd_per_lun': 'uint32', '*hotplug': 'bool' } }
{ 'struct': 'VirtioScsiPciProperties', 'base': 'VirtioScsiProperties', 'data': { '*addr': 'str' } }
{ 'struct': 'VirtioBalloonProperties',
  'data': { '*iothread': 'str', '*free-page-hint': 'bool', '*deflate-on-oom': 'bool',
            '*free-page-reporting': 'bool' } }
{ 'struct': 'VirtioBalloonPciProperties', 'base': 'VirtioBalloonProperties', 'data': { '*addr': 'str' } }
{ 'struct': 'PcieRootPortProperties', 'base': 'PciProperties',
  'data': { '*chassis': 'uint8', '*slot': 'uint16', '*port': 'uint8' } }
`;

let propertyTypes: ((name: string) => SchemaObjectType) | undefined;

function propertyType(name: string): SchemaObjectType {
  if (propertyTypes === undefined) {
    const schema = parseSchemaString(PROPERTY_SCHEMA, 'simulated-device-properties.json');
    propertyTypes = (n) => schema.lookupType(n) as SchemaObjectType;
  }
  return propertyTypes(name);
}

/** What QOM shows of each property the models take: its type there, and its value when not set. */
const QOM_PROPERTIES: Readonly<Record<string, { type: string; fallback: unknown }>> = {
  addr: { type: 'str', fallback: '00.0' },
  drive: { type: 'str', fallback: '' },
  iothread: { type: 'link<iothread>', fallback: '' },
  'iothread-vq-mapping': { type: 'IOThreadVirtQueueMappingList', fallback: [] },
  'num-queues': { type: 'uint16', fallback: 1 },
  'queue-size': { type: 'uint16', fallback: 256 },
  serial: { type: 'str', fallback: '' },
  'share-rw': { type: 'bool', fallback: false },
  'write-cache': { type: 'OnOffAuto', fallback: 'auto' },
  discard: { type: 'bool', fallback: true },
  'write-zeroes': { type: 'bool', fallback: true },
  'config-wce': { type: 'bool', fallback: true },
  bootindex: { type: 'int32', fallback: -1 },
  logical_block_size: { type: 'size', fallback: 512 },
  physical_block_size: { type: 'size', fallback: 512 },
  num_queues: { type: 'uint32', fallback: 1 },
  virtqueue_size: { type: 'uint32', fallback: 256 },
  max_sectors: { type: 'uint32', fallback: 65535 },
  cmd_per_lun: { type: 'uint32', fallback: 128 },
  hotplug: { type: 'bool', fallback: true },
  'free-page-hint': { type: 'bool', fallback: false },
  'deflate-on-oom': { type: 'bool', fallback: false },
  'free-page-reporting': { type: 'bool', fallback: false },
  chassis: { type: 'uint8', fallback: 0 },
  slot: { type: 'uint16', fallback: 0 },
  port: { type: 'uint8', fallback: 0 },
};

/** A property value checked and resolved, as the model's realize sees it. */
interface Realizing {
  readonly m: Machine;
  readonly driver: string;
  readonly values: Args;
  readonly drive: BlockNode | null;
  /** The canonical path the device's backend will have (for permission conflict texts). */
  readonly backendPath: string;
}

interface Model {
  /** The QAPI struct of PROPERTY_SCHEMA with its properties. */
  readonly properties: string;
  /** The bus it plugs into: a PCI(e) slot, or a virtio bus (which the machine has none of). */
  readonly bus: 'pci' | 'virtio';
  /** The QOM type of its virtio backend child (virtio proxies). */
  readonly backend?: string;
  /** The model's own checks; returns the IOThreads it will hold, in registration order. */
  realize(r: Realizing): string[];
}

const virtioBlk = (properties: string): Model => ({
  properties,
  bus: properties === 'VirtioBlkProperties' ? 'virtio' : 'pci',
  backend: 'virtio-blk-device',
  realize(r) {
    if (r.drive === null) throw generic('drive property not set');
    const queues = Number(r.values['num-queues'] ?? 1);
    if (queues === 0) throw generic('num-queues property must be larger than 0');
    const mapping = mappingOf(r.values);
    notBoth(r.values, mapping);
    writePermission(r);
    return iothreadsOf(r, mapping, queues);
  },
});

const virtioScsi: Model = {
  properties: 'VirtioScsiPciProperties',
  bus: 'pci',
  backend: 'virtio-scsi-device',
  realize(r) {
    const mapping = mappingOf(r.values);
    notBoth(r.values, mapping);
    return iothreadsOf(r, mapping, Number(r.values.num_queues ?? 1));
  },
};

const virtioBalloon: Model = {
  properties: 'VirtioBalloonPciProperties',
  bus: 'pci',
  backend: 'virtio-balloon-device',
  realize(r) {
    for (const device of r.m.devices.values()) {
      if (device.driver === 'virtio-balloon-pci') throw generic('Only one balloon device is supported');
    }
    const iothread = r.values.iothread as string | undefined;
    if (r.values['free-page-hint'] === true && iothread === undefined)
      throw generic("'free-page-hint' requires 'iothread' to be set");
    return iothread === undefined ? [] : [iothread];
  },
};

const pcieRootPort: Model = {
  properties: 'PcieRootPortProperties',
  bus: 'pci',
  realize() {
    throw generic(
      `${OWN} root ports cannot be plugged into root ports; the machine has its own (the rootPorts option)`,
    );
  },
};

const MODELS: ReadonlyMap<string, Model> = new Map([
  ['virtio-blk-pci', virtioBlk('VirtioBlkPciProperties')],
  ['virtio-blk-device', virtioBlk('VirtioBlkProperties')],
  ['virtio-scsi-pci', virtioScsi],
  ['virtio-balloon-pci', virtioBalloon],
  ['pcie-root-port', pcieRootPort],
]);

/** The mapping, null when absent or empty (QEMU treats `[]` as unset). */
function mappingOf(values: Args): Mapping | null {
  const mapping = values['iothread-vq-mapping'] as Mapping | undefined;
  return mapping === undefined || mapping.length === 0 ? null : mapping;
}

function notBoth(values: Args, mapping: Mapping | null): void {
  if (values.iothread !== undefined && mapping !== null) {
    throw generic('iothread and iothread-vq-mapping properties cannot be set at the same time');
  }
}

/** The IOThreads the device will hold; the mapping checked as QEMU's iothread_vq_mapping_validate(). */
function iothreadsOf(r: Realizing, mapping: Mapping | null, queues: number): string[] {
  if (mapping === null) return r.values.iothread === undefined ? [] : [r.values.iothread as string];
  const names = new Set<string>();
  const assigned = new Set<number>();
  const withVqs = mapping[0]!.vqs !== undefined;
  for (const [i, entry] of mapping.entries()) {
    const name = entry.iothread;
    if (r.m.iothread(name) === undefined) throw generic(`IOThread "${name}" object does not exist`);
    if (names.has(name)) throw generic(`duplicate IOThread name "${name}" in iothread-vq-mapping`);
    names.add(name);
    if (i > 0 && (entry.vqs !== undefined) !== withVqs) {
      throw generic('either all items in iothread-vq-mapping must have vqs or none of them must have it');
    }
    for (const vq of entry.vqs ?? []) {
      if (vq >= queues)
        throw generic(
          `vq index ${vq} for IOThread "${name}" must be less than num_queues ${queues} in iothread-vq-mapping`,
        );
      if (assigned.has(vq))
        throw generic(`cannot assign vq ${vq} to IOThread "${name}" because it is already assigned`);
      assigned.add(vq);
    }
  }
  if (withVqs) {
    for (let vq = 0; vq < queues; vq++) {
      if (!assigned.has(vq)) throw generic(`missing vq ${vq} IOThread assignment in iothread-vq-mapping`);
    }
  }
  return [...names];
}

// ---------------------------------------------------------------------------
// Write permissions on a block node

const EXPORT_USER = 'an unnamed block device';

/** QEMU's text when two users of `node` cannot both have what they need. */
export function permissionConflict(node: string, requiredBy: string, unsharedBy: string): QmpErrorResponse {
  return generic(
    `Permission conflict on node '${node}': permissions 'write' are both required by ${requiredBy}` +
      ` (uses node '${node}' as 'root' child) ` +
      `and unshared by ${unsharedBy} (uses node '${node}' as 'root' child).`,
  );
}

function deviceUser(device: Device): string {
  return `block device '${(device.backend ?? device.object).path}'`;
}

/** A virtio-blk writes its (writable) node and shares writing only with share-rw. */
function writePermission(r: Realizing): void {
  const node = r.drive!;
  if (node.readOnly) return;
  const shareRw = r.values['share-rw'] === true;
  const self = `block device '${r.backendPath}'`;
  for (const other of node.devices) {
    if (!shareRw) throw permissionConflict(node.name, deviceUser(other), self);
    if (!other.shareRw) throw permissionConflict(node.name, self, deviceUser(other));
  }
  for (const exp of node.exports) {
    if (exp.writable && !shareRw) throw permissionConflict(node.name, EXPORT_USER, self);
  }
}

/** A writable export of `node` (exports share everything, devices do not unless share-rw). */
export function exportWritePermission(node: BlockNode): void {
  for (const device of node.devices) {
    if (!device.shareRw) throw permissionConflict(node.name, EXPORT_USER, deviceUser(device));
  }
}

// ---------------------------------------------------------------------------
// device_add / device_del

export function deviceAdd(m: Machine, args: Args): void {
  const { driver, bus: busName, id, ...given } = args as Args & { driver: string; bus?: string; id?: string };
  const model = MODELS.get(driver);
  if (model === undefined) throw generic(`'${driver}' is not a valid device model name`);
  const bus = findBus(m, model, driver, busName);
  // QEMU 10.0 takes any id, even '' or one with a '/', and makes an object no path can name.
  if (id === '' || id?.includes('/')) throw generic(`${OWN} id: '${id}' cannot name a QOM object`);
  const name = id ?? `device[${m.anonymousDevices++}]`;
  if (id !== undefined && m.peripheral.children.has(id)) throw generic(`Duplicate device ID '${id}'`);

  const type = propertyType(model.properties);
  const known = new Set(type.members.map((member) => member.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw generic(`Property '${driver}.${name}' not found`);
  }
  const checked = checkArguments(type, given);
  if (!checked.ok) throw generic(checked.desc);
  const values = checked.value;
  let drive: BlockNode | null = null;
  for (const name of Object.keys(given)) {
    if (name === 'iothread' && m.iothread(values.iothread as string) === undefined) {
      throw new QmpErrorResponse('DeviceNotFound', `Device '${values.iothread as string}' not found`);
    }
    if (name === 'drive') {
      drive = m.nodes.get(values.drive as string) ?? null;
      if (drive === null)
        throw generic(`Property '${model.backend ?? driver}.drive' can't find value '${values.drive as string}'`);
    }
  }

  if (bus.occupant !== null) {
    throw generic(
      `PCI: slot 0 function 0 already occupied by ${bus.occupant.driver},` +
        ` new func ${driver} cannot be exposed to guest.`,
    );
  }
  const parent = id === undefined ? m.peripheralAnon : m.peripheral;
  const path = `${parent.path}/${name}`;
  const iothreads = model.realize({ m, driver, values, drive, backendPath: `${path}/virtio-backend` });

  const object = new QomObject(driver, properties(m, model, values, bus.object.path, true));
  parent.add(name, object);
  let backend: QomObject | null = null;
  if (model.backend !== undefined) {
    backend = new QomObject(model.backend, properties(m, model, values, `${path}/virtio-bus`, false));
    object.add('virtio-backend', backend);
    object.add('virtio-bus', new QomObject('virtio-pci-bus', [{ name: 'realized', type: 'bool', get: () => true }]));
    object.add('msix-table[0]', new QomObject('memory-region'));
    if (model.backend === 'virtio-scsi-device') backend.add(`${id ?? 'scsi'}.0`, new QomObject('SCSI'));
  }
  const device: Device = {
    id: id ?? null,
    driver,
    object,
    backend,
    bus,
    drive,
    shareRw: values['share-rw'] === true,
    iothreads,
    removable: true,
  };
  m.devices.set(object, device);
  bus.occupant = device;
  drive?.devices.add(device);
  for (const iothread of iothreads) m.register(iothread, qomHolder(path));
}

function findBus(m: Machine, model: Model, driver: string, name: string | undefined): Bus {
  let bus: Bus | undefined;
  if (name !== undefined) {
    bus = m.buses.get(name);
    if (bus === undefined) throw generic(`Bus '${name}' not found`);
    if (model.bus !== 'pci') throw generic(`Device '${driver}' can't go on PCIE bus`);
  } else {
    if (model.bus !== 'pci') throw generic(`No 'virtio-bus' bus found for device '${driver}'`);
    bus = m.buses.get('pcie.0')!;
  }
  if (!bus.hotpluggable) throw generic(`Bus '${bus.name}' does not support hotplugging`);
  return bus;
}

/** The QOM properties of a device (`proxy`) or its virtio backend. */
function properties(m: Machine, model: Model, values: Args, parentBus: string, proxy: boolean): QomProperty[] {
  const names = propertyType(model.properties)
    .members.map((member) => member.name)
    .filter((name) => proxy || name !== 'addr');
  return [
    { name: 'parent_bus', type: 'link<bus>', get: () => parentBus },
    ...deviceState(true),
    ...names.map((name): QomProperty => {
      const { type, fallback } = QOM_PROPERTIES[name]!;
      if (name === 'iothread') {
        const id = values.iothread as string | undefined;
        return { name, type, get: () => (id !== undefined && m.iothread(id) ? `/objects/${id}` : '') };
      }
      if (name === 'iothread-vq-mapping') {
        const mapping = ((values[name] as Mapping | undefined) ?? []).map((e) => ({
          ...e,
          ...(e.vqs ? { vqs: [...e.vqs] } : {}),
        }));
        return { name, type, get: () => mapping.map((e) => ({ ...e })) };
      }
      const value = values[name] ?? fallback;
      return { name, type, get: () => value };
    }),
  ];
}

export function deviceDel(m: Machine, args: Args): void {
  const target = args.id as string;
  const device = findDevice(m, target);
  if (!device.removable) throw generic(`Bus '${device.bus!.name}' does not support hotplugging`);
  const path = device.object.path;
  const backendPath = device.backend?.path;
  device.object.detach();
  m.devices.delete(device.object);
  if (device.bus !== null) device.bus.occupant = null;
  device.drive?.devices.delete(device);
  for (const iothread of device.iothreads) m.unregister(iothread, qomHolder(path));
  m.afterReply(() => {
    if (backendPath !== undefined) m.emit('DEVICE_DELETED', { path: backendPath });
    m.emit('DEVICE_DELETED', device.id === null ? { path } : { device: device.id, path });
  });
}

/** The device `device_del` names: an id, or an absolute QOM path. */
function findDevice(m: Machine, target: string): Device {
  const notFound = (): QmpErrorResponse => new QmpErrorResponse('DeviceNotFound', `Device '${target}' not found`);
  if (!target.startsWith('/')) {
    const object = m.peripheral.children.get(target);
    const device = object === undefined ? undefined : m.devices.get(object);
    if (device === undefined) throw notFound();
    return device;
  }
  const object = findPath(m.root, target);
  if (object === null || object === 'ambiguous') throw notFound();
  const device = m.devices.get(object);
  if (device !== undefined) return device;
  for (const d of m.devices.values())
    if (d.backend === object) throw generic("Bus 'virtio-bus' does not support hotplugging");
  throw generic(`${target} is not a device`);
}
