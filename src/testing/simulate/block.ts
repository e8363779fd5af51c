/**
 * Block nodes, the NBD server and block exports in the simulated QEMU:
 * `blockdev-add`/`blockdev-del` (the null drivers), `nbd-server-start`/
 * `-stop`, `block-export-add`/`-del` and `query-block-exports`, with
 * QEMU 10.0's checks and texts.
 *
 * An export with `iothread` registers its node name (`{type:
 * 'block-node', node-name}`) with that IOThread, and removing the export
 * unregisters exactly that entry. A node a device uses cannot be moved
 * to another IOThread: with `fixed-iothread` that is QEMU's error; without
 * it QEMU serves the export from wherever the node runs, and so the
 * export registers nothing.
 *
 * Removing an export (`block-export-del`, or `nbd-server-stop` for all of
 * them, newest first) sends BLOCK_EXPORT_DELETED before the reply, as
 * QEMU 10.0 does when no client is connected (none ever is here). Nothing
 * listens on the NBD server's address.
 */
import { exportWritePermission } from './devices.js';
import { blockNodeHolder, generic, OWN, wellFormedId, type BlockExport, type Machine } from './machine.js';

type Args = Record<string, unknown>;

/** Longest node name QEMU takes (its buffer holds 32 bytes with the NUL). */
const NODE_NAME_MAX = 31;

export function blockdevAdd(m: Machine, args: Args): void {
  const name = args['node-name'] as string | undefined;
  if (name === undefined) throw generic("'node-name' must be specified for the root node");
  const readOnly = args['read-only'] === true;
  if (args['force-share'] === true && !readOnly) throw generic('force-share=on can only be used with read-only images');
  if (args['detect-zeroes'] === 'unmap' && args.discard !== 'unmap') {
    throw generic('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  }
  if (!wellFormedId(name)) throw generic(`Invalid node-name: '${name}'`);
  if (m.nodes.has(name)) throw generic(`Duplicate nodes with node-name='${name}'`);
  if (name.length > NODE_NAME_MAX) throw generic('Node name too long');
  // QEMU 7.2 and 10.0 abort on a negative size.
  const size = args.size as number | bigint | undefined;
  if (size !== undefined && size < 0) throw generic(`${OWN} size: must not be negative`);
  m.nodes.set(name, { name, driver: args.driver as string, readOnly, devices: new Set(), exports: new Set() });
}

export function blockdevDel(m: Machine, args: Args): void {
  const name = args['node-name'] as string;
  const node = m.nodes.get(name);
  if (node === undefined) throw generic(`Failed to find node with node-name='${name}'`);
  if (node.devices.size > 0 || node.exports.size > 0) throw generic(`Node ${name} is in use`);
  m.nodes.delete(name);
}

export function nbdServerStart(m: Machine, args: Args): void {
  if (m.nbdServer !== null) throw generic('NBD server already running');
  const creds = args['tls-creds'] as string | undefined;
  if (creds !== undefined) throw generic(`No TLS credentials with id '${creds}'`);
  m.nbdServer = { addr: args.addr };
}

export function nbdServerStop(m: Machine): void {
  if (m.nbdServer === null) throw generic('NBD server not running');
  for (const exp of [...m.exports]) removeExport(m, exp);
  m.nbdServer = null;
}

export function blockExportAdd(m: Machine, args: Args): void {
  const id = args.id as string;
  if (!wellFormedId(id)) throw generic('Invalid block export id');
  if (m.exports.some((e) => e.id === id)) throw generic(`Block export id '${id}' is already in use`);
  const nodeName = args['node-name'] as string;
  const node = m.nodes.get(nodeName);
  if (node === undefined) throw generic(`Cannot find device='' nor node-name='${nodeName}'`);
  const writable = args.writable === true;
  if (writable && node.readOnly) throw generic('Cannot export read-only node as writable');
  let iothread = (args.iothread as string | undefined) ?? null;
  if (iothread !== null) {
    if (m.iothread(iothread) === undefined) throw generic(`iothread "${iothread}" not found`);
    if (node.devices.size > 0) {
      if (args['fixed-iothread'] === true) throw generic('Cannot change iothread of active block backend');
      iothread = null;
    }
  }
  if (writable) exportWritePermission(node);
  if (m.nbdServer === null) throw generic('NBD server not running');
  const name = (args.name as string | undefined) ?? nodeName;
  if (m.exports.some((e) => e.name === name)) throw generic(`NBD server already has export named '${name}'`);
  const [bitmap] = (args.bitmaps as (string | { name: string })[] | undefined) ?? [];
  if (typeof bitmap === 'string') throw generic(`Bitmap '${bitmap}' is not found`);
  if (bitmap !== undefined) throw generic(`Dirty bitmap '${bitmap.name}' not found`);
  const exp: BlockExport = { id, name, node, writable, iothread };
  m.exports.unshift(exp);
  node.exports.add(exp);
  if (iothread !== null) m.register(iothread, blockNodeHolder(nodeName));
}

export function blockExportDel(m: Machine, args: Args): void {
  const id = args.id as string;
  const exp = m.exports.find((e) => e.id === id);
  if (exp === undefined) throw generic(`Export '${id}' is not found`);
  removeExport(m, exp);
}

function removeExport(m: Machine, exp: BlockExport): void {
  m.exports.splice(m.exports.indexOf(exp), 1);
  exp.node.exports.delete(exp);
  if (exp.iothread !== null) m.unregister(exp.iothread, blockNodeHolder(exp.node.name));
  m.emit('BLOCK_EXPORT_DELETED', { id: exp.id });
}

export function queryBlockExports(
  m: Machine,
): { id: string; type: 'nbd'; 'node-name': string; 'shutting-down': boolean }[] {
  return m.exports.map((e) => ({ id: e.id, type: 'nbd', 'node-name': e.node.name, 'shutting-down': false }));
}
