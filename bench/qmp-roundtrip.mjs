#!/usr/bin/env node
// Round trips per second of `query-status` against a live QEMU:
//   raw     a bare Node socket loop (JSON.parse per line, no matching): the floor
//   execute our QmpClient.execute (untyped)
//   typed   the generated, validated client (when generated/ is built)
// at 1 and 16 commands in flight, measured side by side in interleaved rounds
// (median of the rounds is reported).
//
//   npm run build && npm run bench:qmp -- [--socket PATH] [--seconds 0.5] [--rounds 6]
//
// Without --socket it starts its own `qemu-system-x86_64 -machine none`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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
    seconds: { type: 'string', default: '0.5' },
    rounds: { type: 'string', default: '6' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

// --- a QEMU of our own when no socket is given -----------------------------
let qemu;
let socketPath = values.socket;
let tmp;
if (socketPath === undefined) {
  tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-'));
  socketPath = join(tmp, 'qmp.sock');
  qemu = spawn('qemu-system-x86_64', [
    '-machine', 'none', '-display', 'none', '-S', '-nodefaults',
    '-chardev', `socket,id=qmp0,path=${socketPath},server=on,wait=off`,
    '-mon', 'chardev=qmp0,mode=control',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 25));
}
const cleanup = () => {
  if (qemu && qemu.exitCode === null) qemu.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
};
process.on('exit', cleanup);

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

async function runRaw(conc, ms) {
  const { sock, setHandler } = await rawSession(socketPath);
  const line = '{"execute":"query-status"}\n';
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
        sock.write(line);
      } else if (inFlight === 0) res();
    });
  });
  const t0 = performance.now();
  for (let i = 0; i < conc; i++) {
    inFlight++;
    sock.write(line);
  }
  await new Promise((r) => setTimeout(r, ms));
  stopping = true;
  const elapsed = performance.now() - t0;
  const count = done;
  await finished;
  sock.destroy();
  return (count / elapsed) * 1000;
}

// --- (b) / (c) our client -----------------------------------------------------
async function runClient(conc, ms, typed) {
  const qmp = await QmpClient.connect({ path: socketPath });
  const call = typed
    ? (() => { const c = new QapiClient(qmp); return () => c.queryStatus(); })()
    : () => qmp.execute('query-status');
  // Check the shape once so a broken path cannot look fast.
  const first = await call();
  if (typeof first?.status !== 'string') throw new Error(`unexpected reply ${JSON.stringify(first)}`);
  let done = 0;
  let stopping = false;
  const worker = async () => {
    while (!stopping) {
      await call();
      done++;
    }
  };
  const t0 = performance.now();
  const workers = Array.from({ length: conc }, worker);
  await new Promise((r) => setTimeout(r, ms));
  stopping = true;
  const elapsed = performance.now() - t0;
  const count = done;
  await Promise.all(workers);
  await qmp.close();
  return (count / elapsed) * 1000;
}

const modes = [
  ['raw', (c, ms) => runRaw(c, ms)],
  ['execute', (c, ms) => runClient(c, ms, false)],
  ...(QapiClient ? [['typed', (c, ms) => runClient(c, ms, true)]] : []),
];
if (!QapiClient) console.log('typed: generated client not built (dist/generated/index.js missing); skipped');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
try {
  for (const conc of [1, 16]) {
    for (const [, run] of modes) await run(conc, 200); // warm-up
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no mode always runs first.
      const order = modes.map((_, i) => modes[(i + r) % modes.length]);
      for (const [name, run] of order) {
        ((results[name] ??= {})[conc] ??= []).push(await run(conc, seconds * 1000));
      }
    }
  }
} finally {
  cleanup();
}

const fmt = (x) => x.toFixed(0).padStart(8);
console.log(`query-status round trips/s (median of ${rounds} x ${seconds}s), node ${process.version}`);
console.log(`${'mode'.padEnd(8)} ${'conc=1'.padStart(8)} ${'conc=16'.padStart(8)}`);
for (const [name] of modes) {
  console.log(`${name.padEnd(8)} ${fmt(median(results[name][1]))} ${fmt(median(results[name][16]))}`);
}
const ratio = (name) =>
  `conc=1 ${(median(results[name][1]) / median(results.raw[1])).toFixed(2)} conc=16 ${(median(results[name][16]) / median(results.raw[16])).toFixed(2)}`;
console.log(`ratio execute/raw: ${ratio('execute')}`);
if (QapiClient) console.log(`ratio typed/raw: ${ratio('typed')}`);
else console.log('ratio typed/raw: n/a (generated client not built)');
