#!/usr/bin/env node
// Commands per second the test server (qapi-ts/testing) serves to our
// QmpClient, side by side with a real QEMU (-machine none), so a user knows
// whether it slows a test suite down. The command is `query-version`, which
// both answer without any scripting:
//   qemu        qemu-system-x86_64 7.2 on a unix socket (a process of its own)
//   serve       `qapi-ts serve` on a unix socket (a process of its own)
//   in-process  the server in the client's process, on a unix socket
//   memory      the server in the client's process, over an in-memory pair
// at 1 and 16 commands in flight, in interleaved rounds (median of the
// slices), plus each row's ratio to QEMU.
//
// Then the simulated holder-tracking QEMU (holderTrackingQemu, `serve
// --simulate`): `query-iothreads` with holders, against QEMU's own
// query-iothreads (two IOThreads, no holders), and hotplug cycles
// (device_add of a virtio-blk-pci on an IOThread, then device_del; each
// of the 16 loops has a root port and a node of its own), counted in
// commands per second.
//
//   npm run build && node bench/serve.mjs [--seconds 0.25] [--rounds 11]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { callLoop, median, repoRoot, startQemu, waitForPaths } from './common.mjs';

const dist = join(repoRoot, 'dist');
if (!existsSync(join(dist, 'src/testing/index.js'))) {
  console.error('bench/serve: build first (npm run build)');
  process.exit(1);
}
const { QmpClient } = await import(join(dist, 'src/runtime/index.js'));
const { QmpTestServer, holderTrackingQemu, DEMO_MACHINE } = await import(join(dist, 'src/testing/index.js'));

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '0.25' },
    rounds: { type: 'string', default: '11' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

const tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-serve-'));
const children = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
};
process.on('exit', cleanup);

// QEMU, one monitor: a QEMU monitor serves one client at a time.
const qemuSocket = (await startQemu({ args: ['-object', 'iothread,id=io0', '-object', 'iothread,id=io1'] })).socket;
// `qapi-ts serve` in a process of its own.
const serveSocket = join(tmp, 'serve.sock');
children.push(
  spawn(process.execPath, [join(repoRoot, 'bin/qapi-ts'), 'serve', '--socket', serveSocket], {
    stdio: ['ignore', 'ignore', 'inherit'],
  }),
);
const simulateSocket = join(tmp, 'simulate.sock');
children.push(
  spawn(process.execPath, [join(repoRoot, 'bin/qapi-ts'), 'serve', '--simulate', '--socket', simulateSocket], {
    stdio: ['ignore', 'ignore', 'inherit'],
  }),
);
// The server in this process, on a socket and in memory.
const server = await QmpTestServer.create({ recordReceived: false });
const localSocket = join(tmp, 'local.sock');
await server.listen({ path: localSocket });
// The simulation in this process: the demo machine, plus a root port and a node for each hotplug loop.
const LOOPS = 16;
const simulated = await QmpTestServer.create({ recordReceived: false });
simulated.use(
  holderTrackingQemu({
    rootPorts: 4 + LOOPS,
    boot: [
      ...DEMO_MACHINE,
      ...Array.from({ length: LOOPS }, (_, i) => ['blockdev-add', { driver: 'null-co', 'node-name': `hot${i}` }]),
    ],
  }),
);
await waitForPaths([serveSocket, simulateSocket]);

const modes = [
  ['qemu', () => QmpClient.connect({ path: qemuSocket })],
  ['serve', () => QmpClient.connect({ path: serveSocket })],
  ['in-process', () => QmpClient.connect({ path: localSocket })],
  ['memory', () => QmpClient.overStream(server.connect())],
];

const sessions = new Map();
async function slice(name, open, conc, ms) {
  let qmp = sessions.get(name);
  if (!qmp) {
    qmp = await open();
    const first = await qmp.execute('query-version');
    if (typeof first?.qemu?.major !== 'number') throw new Error(`${name}: unexpected reply ${JSON.stringify(first)}`);
    sessions.set(name, qmp);
  }
  const { count, elapsed } = await callLoop(() => qmp.execute('query-version'), conc, ms);
  return (count / elapsed) * 1000;
}

const results = {};
let simulationReport;
try {
  for (const conc of [1, 16]) {
    for (const [name, open] of modes) await slice(name, open, conc, 150); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < modes.length; k++) {
        const [name, open] = modes[(k + r) % modes.length];
        ((results[name] ??= {})[conc] ??= []).push(await slice(name, open, conc, seconds * 1000));
      }
    }
  }
  // A QEMU monitor serves one client at a time: close these first.
  for (const qmp of sessions.values()) await qmp.close();
  simulationReport = await simulation();
} finally {
  await server.close();
  await simulated.close();
  cleanup();
}

const rate = (name, conc) => median(results[name][conc].sort((a, b) => a - b));
console.log(`query-version commands/s, median of ${rounds} interleaved ${seconds}s slices; node ${process.version}`);
console.log(
  `${'server'.padEnd(11)} ${'conc=1'.padStart(8)} ${'conc=16'.padStart(8)}   ratio to qemu (conc=1, conc=16)`,
);
for (const [name] of modes) {
  const r1 = rate(name, 1);
  const r16 = rate(name, 16);
  console.log(
    `${name.padEnd(11)} ${r1.toFixed(0).padStart(8)} ${r16.toFixed(0).padStart(8)}` +
      `   ${(r1 / rate('qemu', 1)).toFixed(2)}, ${(r16 / rate('qemu', 16)).toFixed(2)}`,
  );
}
console.log(simulationReport);

// --- the simulated QEMU ----------------------------------------------------------

/** Each loop's own hotplug cycle: two commands. */
function hotplug(qmp, loop) {
  const id = `hot${loop}`;
  return async () => {
    await qmp.execute('device_add', {
      driver: 'virtio-blk-pci',
      id,
      bus: `rp${4 + loop}`,
      drive: id,
      iothread: loop % 2 ? 'io1' : 'io0',
    });
    await qmp.execute('device_del', { id });
  };
}

/** Commands per second of `calls` run in as many loops, `perCall` commands each; no call runs twice at once. */
async function loopRate(calls, perCall, ms) {
  const free = calls.map((_, i) => i);
  const { count, elapsed } = await callLoop(
    async () => {
      const i = free.pop();
      try {
        await calls[i]();
      } finally {
        free.push(i);
      }
    },
    calls.length,
    ms,
  );
  return ((count * perCall) / elapsed) * 1000;
}

async function simulation() {
  const open = {
    qemu: () => QmpClient.connect({ path: qemuSocket }),
    'serve --simulate': () => QmpClient.connect({ path: simulateSocket }),
    'in-process': () => QmpClient.overStream(simulated.connect()),
  };
  const qmps = {};
  for (const [name, connect] of Object.entries(open)) qmps[name] = await connect();
  const first = await qmps['serve --simulate'].execute('query-iothreads');
  if (!Array.isArray(first) || !first[0]?.holders)
    throw new Error(`serve --simulate: unexpected reply ${JSON.stringify(first)}`);
  const rows = [
    ...Object.keys(open).map((name) => [
      `query-iothreads, ${name}`,
      (conc) => Array.from({ length: conc }, () => () => qmps[name].execute('query-iothreads')),
      1,
    ]),
    ['hotplug cycle, in-process', (conc) => Array.from({ length: conc }, (_, i) => hotplug(qmps['in-process'], i)), 2],
  ];
  const rates = {};
  for (const conc of [1, LOOPS]) {
    for (const [, calls, per] of rows) await loopRate(calls(conc), per, 100); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < rows.length; k++) {
        const [label, calls, per] = rows[(k + r) % rows.length];
        ((rates[label] ??= {})[conc] ??= []).push(await loopRate(calls(conc), per, seconds * 1000));
      }
    }
  }
  for (const qmp of Object.values(qmps)) await qmp.close();
  const at = (label, conc) => median(rates[label][conc].sort((a, b) => a - b));
  const lines = [
    `\nsimulated holder-tracking QEMU, commands/s (median of ${rounds} interleaved ${seconds}s slices)`,
    `${''.padEnd(34)} ${'conc=1'.padStart(8)} ${'conc=16'.padStart(8)}` +
      "   ratio to qemu's query-iothreads (conc=1, conc=16)",
  ];
  const base = 'query-iothreads, qemu';
  for (const [label] of rows) {
    const r1 = at(label, 1);
    const r16 = at(label, LOOPS);
    lines.push(
      `${label.padEnd(34)} ${r1.toFixed(0).padStart(8)} ${r16.toFixed(0).padStart(8)}` +
        `   ${(r1 / at(base, 1)).toFixed(2)}, ${(r16 / at(base, LOOPS)).toFixed(2)}`,
    );
  }
  return lines.join('\n');
}
