#!/usr/bin/env node
// What deriving IOThread holders from QOM costs on a real QEMU: a q35
// machine with two IOThreads and a dozen devices, measured side by side
// in interleaved rounds:
//   query-iothreads   one round trip (what a QEMU that reports holders costs)
//   derived           inspectIothreads(): the QOM walk, pipelined per level,
//                     memory regions and IRQs skipped
//   derived, full walk the same walk into every object
//   sequential walk   the same walk, one command at a time (what a naive
//                     client would pay)
//
//   npm run build && npm run bench:iothreads -- [--rounds 9] [--socket PATH]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, repoRoot, startQemu } from './common.mjs';

const dist = join(repoRoot, 'dist');
if (!existsSync(join(dist, 'src/iothreads/index.js'))) {
  console.error('bench/iothreads: build first (npm run build)');
  process.exit(1);
}
const { QmpClient } = await import(join(dist, 'src/runtime/index.js'));
const { inspectIothreads } = await import(join(dist, 'src/iothreads/index.js'));

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, socket: { type: 'string' } } });
const rounds = Number(values.rounds);

let socket = values.socket;
if (socket === undefined) {
  const devices = [];
  for (let i = 0; i < 6; i++) {
    devices.push(
      '-blockdev',
      `driver=null-co,node-name=d${i}`,
      '-device',
      `virtio-blk-pci,id=vblk${i},drive=d${i},iothread=io${i % 2}`,
    );
  }
  for (let i = 0; i < 2; i++) devices.push('-device', `virtio-scsi-pci,id=vscsi${i},iothread=io${i}`);
  for (let i = 0; i < 3; i++) devices.push('-device', `pcie-root-port,id=rp${i},chassis=${i + 1}`);
  devices.push('-device', 'virtio-balloon-pci,iothread=io1,free-page-hint=on');
  ({ socket } = await startQemu({
    machine: 'q35,accel=tcg',
    args: ['-object', 'iothread,id=io0', '-object', 'iothread,id=io1', ...devices],
  }));
}

const qmp = await QmpClient.connect({ path: socket });

/** The walk inspectIothreads does, but awaiting every command before the next. */
async function sequentialWalk() {
  let commands = 0;
  const queue = ['/machine', '/objects'];
  while (queue.length > 0) {
    const path = queue.shift();
    commands++;
    for (const p of await qmp.execute('qom-list', { path })) {
      if (p.type === 'child<memory-region>' || p.type === 'child<irq>') continue;
      if (p.type.startsWith('child<')) queue.push(`${path}/${p.name}`);
      else if (p.type === 'link<iothread>' || p.type === 'IOThreadVirtQueueMappingList') {
        commands++;
        await qmp.execute('qom-get', { path, property: p.name });
      }
    }
  }
  return commands;
}

const modes = {
  'query-iothreads': async () => (await qmp.execute('query-iothreads'), 1),
  derived: async () => (await inspectIothreads(qmp, { source: 'derived' })).commands,
  'derived, full walk': async () => (await inspectIothreads(qmp, { source: 'derived', fullWalk: true })).commands,
  'sequential walk': sequentialWalk,
};
const times = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const commands = {};
for (const run of Object.values(modes)) await run(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [mode, run] of Object.entries(modes)) {
    const t0 = performance.now();
    commands[mode] = await run();
    times[mode].push(performance.now() - t0);
  }
}
await qmp.close();

const report = await inspectIothreads(await QmpClient.connect({ path: socket }));
const held = report.iothreads.map((t) => `${t.id}: ${t.holders.length}`).join(', ');
console.log(`q35, ${held} holders (${report.holders}); median of ${rounds} interleaved rounds`);
const base = median(times.derived.sort((a, b) => a - b));
for (const [mode, list] of Object.entries(times)) {
  const m = median(list.sort((a, b) => a - b));
  console.log(
    `${mode.padEnd(18)} ${String(commands[mode]).padStart(5)} commands` +
      `  median ${m.toFixed(1).padStart(7)} ms  ratio to derived ${(m / base).toFixed(2)}`,
  );
}
process.exit(0);
