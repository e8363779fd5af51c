#!/usr/bin/env node
// Round trips per second of `query-status` against a live QEMU:
//   raw     a bare Node socket loop (JSON.parse per line, no matching): the floor
//   raw+id  the same loop, but each request carries an `"id"` the way ours do
//           (1..conc, an answered id sent again): QEMU reads QMP input one
//           byte per main-loop turn, so the id's bytes cost QEMU time; this
//           row separates that cost from our client's overhead
//   execute our QmpClient.execute (untyped), default configuration: in-band
//           requests without ids, matched in order
//   ids     the same with `ids: 'always'` (an id on every request, matched
//           by id), the client's behaviour before in-order matching
//   typed   the generated, validated client (when generated/ is built),
//           default configuration
// at 1 and 16 commands in flight, measured side by side in interleaved rounds
// (median of the slices is reported), plus node's CPU time per round trip.
//
//   npm run build && npm run bench:qmp -- [--socket PATH] [--seconds 0.25] [--rounds 15]
//
// Without --socket it starts its own `qemu-system-x86_64 -machine none`.
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { callLoop, startQemu } from './common.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
if (!existsSync(join(dist, 'src/runtime/index.js'))) {
  console.error('bench/qmp-roundtrip: build first (npm run build)');
  process.exit(1);
}
const { QmpClient } = await import(join(dist, 'src/runtime/index.js'));
let QapiClient;
try {
  ({ QapiClient } = await import(join(dist, 'generated/index.js')));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
}

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    seconds: { type: 'string', default: '0.25' },
    rounds: { type: 'string', default: '15' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

// --- a QEMU of our own when no socket is given -----------------------------
// Own QEMU: one monitor per mode, so each mode keeps its connection for the
// whole run (a QEMU monitor serves one client at a time). With --socket,
// every slice reconnects to the one socket.
let sockets;
let cleanup = () => {};
if (values.socket === undefined) ({ sockets, stop: cleanup } = await startQemu({ monitors: 5 }));

// --- (a) raw socket loop ---------------------------------------------------
function rawSession(path) {
  return new Promise((resolveSession, reject) => {
    const sock = createConnection({ path });
    let buf = '';
    let onMessage = () => {};
    sock.setEncoding('utf8');
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        onMessage(JSON.parse(line));
      }
    });
    let stage = 0;
    onMessage = (msg) => {
      if (stage === 0 && msg.QMP) {
        stage = 1;
        sock.write('{"execute":"qmp_capabilities"}\n');
      } else if (stage === 1 && 'return' in msg) {
        stage = 2;
        resolveSession({ sock, setHandler: (h) => (onMessage = h) });
      }
    };
  });
}

async function openRaw(path, withId) {
  const { sock, setHandler } = await rawSession(path);
  const request = withId ? (id) => `{"execute":"query-status","id":${id}}\n` : () => '{"execute":"query-status"}\n';
  return {
    async run(conc, ms) {
      let done = 0;
      let stopping = false;
      let inFlight = 0;
      const finished = new Promise((res) => {
        setHandler((msg) => {
          if (!('return' in msg)) return;
          done++;
          inFlight--;
          if (!stopping) {
            inFlight++;
            sock.write(request(msg.id));
          } else if (inFlight === 0) res();
        });
      });
      const t0 = performance.now();
      for (let i = 1; i <= conc; i++) {
        inFlight++;
        sock.write(request(i));
      }
      await new Promise((r) => setTimeout(r, ms));
      stopping = true;
      const elapsed = performance.now() - t0;
      const count = done;
      await finished;
      return { count, elapsed };
    },
    close: () => sock.destroy(),
  };
}

// --- (b) / (c) our client -----------------------------------------------------
async function openClient(path, typed, options = {}) {
  const qmp = await QmpClient.connect({ path }, options);
  const call = typed
    ? (() => {
        const c = new QapiClient(qmp);
        return () => c.queryStatus();
      })()
    : () => qmp.execute('query-status');
  // Check the shape once so a broken path cannot look fast.
  const first = await call();
  if (typeof first?.status !== 'string') throw new Error(`unexpected reply ${JSON.stringify(first)}`);
  return {
    run: (conc, ms) => callLoop(call, conc, ms),
    close: () => qmp.close(),
  };
}

const modes = [
  ['raw', (path) => openRaw(path, false)],
  ['raw+id', (path) => openRaw(path, true)],
  ['execute', (path) => openClient(path, false)],
  ['ids', (path) => openClient(path, false, { ids: 'always' })],
  ...(QapiClient ? [['typed', (path) => openClient(path, true)]] : []),
];
if (!QapiClient) console.log('typed: generated client not built (dist/generated/index.js missing); skipped');

// One measurement slice of `mode`: round trips/s and node CPU µs per round trip.
const open = new Map();
async function slice(index, conc, ms) {
  const [name, opener] = modes[index];
  let session = open.get(name);
  if (!session) {
    session = await opener(sockets ? sockets[index] : values.socket);
    if (sockets) open.set(name, session);
  }
  const cpu0 = process.cpuUsage();
  const { count, elapsed } = await session.run(conc, ms);
  const cpu = process.cpuUsage(cpu0);
  if (!sockets) await session.close();
  return { rate: (count / elapsed) * 1000, cpuPerCall: (cpu.user + cpu.system) / count };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
try {
  for (const conc of [1, 16]) {
    for (let i = 0; i < modes.length; i++) await slice(i, conc, 200); // warm-up
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no mode always runs first.
      for (let k = 0; k < modes.length; k++) {
        const i = (k + r) % modes.length;
        ((results[modes[i][0]] ??= {})[conc] ??= []).push(await slice(i, conc, seconds * 1000));
      }
    }
  }
  for (const s of open.values()) await s.close();
} finally {
  cleanup();
}

// --- client overhead without QEMU ------------------------------------------
// The same three loops over an in-memory stream whose "server" answers every
// request on the next turn of the event loop: what is left is the per-call
// CPU cost of each path (QEMU and the kernel are out of the picture).
function memoryServer() {
  let pending = '';
  const greeting =
    '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n';
  const stream = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      pending += chunk.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const id = /"id":(\d+)/.exec(pending.slice(0, nl))?.[1];
        pending = pending.slice(nl + 1);
        const reply =
          '{"return": {"status": "prelaunch", "singlestep": false, "running": false}' +
          `${id ? `, "id": ${id}` : ''}}\r\n`;
        setImmediate(() => stream.push(reply));
      }
      cb();
    },
  });
  stream.push(greeting);
  return stream;
}

async function inMemoryOverhead(n) {
  const raw = memoryServer();
  let onReply;
  let buf = '';
  raw.setEncoding('utf8');
  raw.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if ('return' in msg) onReply?.(msg);
    }
  });
  const qmp = await QmpClient.overStream(memoryServer());
  const typed = QapiClient ? new QapiClient(qmp) : undefined;
  const paths = [
    [
      'raw+id',
      () =>
        new Promise((r) => {
          onReply = r;
          raw.write('{"execute":"query-status","id":1}\n');
        }),
    ],
    ['execute', () => qmp.execute('query-status')],
    ...(typed ? [['typed', () => typed.queryStatus()]] : []),
  ];
  const cpu = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, call] of paths) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) await call();
      const c = process.cpuUsage(c0);
      (cpu[name] ??= []).push((c.user + c.system) / n);
    }
  }
  await qmp.close();
  raw.destroy();
  return Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
}

const overhead = await inMemoryOverhead(20_000);
console.log('in-memory server (no QEMU), CPU µs per call incl. the fake server, median of 3 x 20000:');
console.log(
  `  ${Object.entries(overhead)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}`,
);

const rate = (name, conc) => median(results[name][conc].map((x) => x.rate));
const cpu = (name, conc) => median(results[name][conc].map((x) => x.cpuPerCall));
console.log(`query-status round trips/s, median of ${rounds} interleaved ${seconds}s slices; node ${process.version}`);
console.log(
  `${'mode'.padEnd(8)} ${'conc=1'.padStart(8)} ${'conc=16'.padStart(8)}   node CPU µs/round trip (conc=1, conc=16)`,
);
for (const [name] of modes) {
  console.log(
    `${name.padEnd(8)} ${rate(name, 1).toFixed(0).padStart(8)} ${rate(name, 16).toFixed(0).padStart(8)}` +
      `   ${cpu(name, 1).toFixed(1)}, ${cpu(name, 16).toFixed(1)}`,
  );
}
const ratio = (name) =>
  `conc=1 ${(rate(name, 1) / rate('raw', 1)).toFixed(2)} conc=16 ${(rate(name, 16) / rate('raw', 16)).toFixed(2)}`;
console.log(`ratio execute/raw: ${ratio('execute')}`);
const ratioId = (name) =>
  `conc=1 ${(rate(name, 1) / rate('raw+id', 1)).toFixed(2)}` +
  ` conc=16 ${(rate(name, 16) / rate('raw+id', 16)).toFixed(2)}`;
console.log(`ratio execute/raw+id: ${ratioId('execute')}`);
console.log(`ratio ids/raw: ${ratio('ids')}`);
if (QapiClient) console.log(`ratio typed/raw+id: ${ratioId('typed')}`);
if (QapiClient) console.log(`ratio typed/raw: ${ratio('typed')}`);
else console.log('ratio typed/raw: n/a (generated client not built)');
