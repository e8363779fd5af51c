// Shared helpers for the process-level benchmarks: run a command several
// times (or several commands in interleaved rounds), wall-clock each run
// from spawn to exit, report the median.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedRoot = resolve(repoRoot, '../shared');

export function requireFile(path, what) {
  if (!existsSync(path)) {
    console.error(`${what} not found: ${path}`);
    process.exit(2);
  }
  return path;
}

/** Runs `argv` once, from spawn to exit; its time in ms. */
function timeOnce(argv, { cwd = repoRoot, check = true, env = process.env } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (check && r.status !== 0) {
    throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return ms;
}

/** Runs `argv` `runs` times (after one warm-up) and returns sorted times in ms. */
export function timeRuns(argv, { runs = 11, cwd = repoRoot, check = true } = {}) {
  timeOnce(argv, { cwd, check });
  const times = [];
  for (let i = 0; i < runs; i++) times.push(timeOnce(argv, { cwd, check }));
  return times.sort((a, b) => a - b);
}

/**
 * Times several commands side by side: each round runs every command once
 * (`before()`, if given, runs untimed first), in an order that rotates from
 * round to round, so a change in machine load hits them alike. After one
 * warm-up round, `runs` rounds; returns each command's times in round
 * order, so that times of the same round can be paired.
 */
export function timeRounds(commands, { runs = 11, cwd = repoRoot } = {}) {
  const times = commands.map(() => []);
  for (let round = -1; round < runs; round++) {
    for (let k = 0; k < commands.length; k++) {
      const i = (Math.max(round, 0) + k) % commands.length;
      commands[i].before?.();
      const ms = timeOnce(commands[i].argv, { cwd, env: commands[i].env });
      if (round >= 0) times[i].push(ms);
    }
  }
  return times;
}

/**
 * The environment for QEMU's Python scripts as a peer: with their bytecode
 * cache, as a developer's QEMU tree has it. PYTHONDONTWRITEBYTECODE (set on
 * some machines, CI images among them) is dropped, and the cache goes to a
 * directory of its own (PYTHONPYCACHEPREFIX), so it is written even when the
 * QEMU tree is read-only; the warm-up round fills it. Without this the peer
 * compiles its modules on every run and looks ~10% slower than it is.
 */
export function pythonPeerEnv() {
  const env = { ...process.env, PYTHONPYCACHEPREFIX: join(tmpdir(), 'qapi-ts-bench-pycache') };
  delete env.PYTHONDONTWRITEBYTECODE;
  return env;
}

/**
 * NODE_EXTRA_CA_CERTS makes Node 20 read and parse that certificate file
 * at every start, before any of our code runs (~80 ms for the system
 * bundle on the machine where it was noticed), whether or not the process
 * ever opens a TLS connection. Some machines (sandboxes, CI images) set it
 * for every process. When it is set, the process benches time node's
 * commands both ways: as the environment has it, and without it (the
 * startup most machines have); `null` when it is not set.
 */
export function envWithoutExtraCerts() {
  if (!process.env.NODE_EXTRA_CA_CERTS) return null;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export const sorted = (times) => [...times].sort((a, b) => a - b);

export const median = (sortedTimes) => sortedTimes[Math.floor(sortedTimes.length / 2)];

/**
 * How much longer `a` takes than `b`: the median of the per-round
 * differences (rounds from timeRounds), which machine load cannot push
 * below zero the way a difference of two separate medians can. Should the
 * median still be negative (the two are equal within noise), it is
 * reported as 0 with a note.
 */
export function reportDifference(label, a, b) {
  const diffs = sorted(a.map((t, i) => t - b[i]));
  const mid = median(diffs);
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  const note = mid < 0 ? `  (clamped: median was ${fmt(mid)}, equal within noise)` : '';
  console.log(
    `${label.padEnd(34)} median ${fmt(Math.max(mid, 0)).padStart(10)}` +
      `  min ${fmt(diffs[0]).padStart(10)}  max ${fmt(diffs[diffs.length - 1]).padStart(10)}${note}`,
  );
  return Math.max(mid, 0);
}

/** The median of the per-round ratios a/b. */
export function reportRatio(label, a, b) {
  const ratio = median(sorted(a.map((t, i) => t / b[i])));
  console.log(`${label.padEnd(34)} ${ratio.toFixed(2)}`);
  return ratio;
}

export function report(label, sorted) {
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(
    `${label.padEnd(34)} median ${fmt(median(sorted)).padStart(10)}` +
      `  min ${fmt(sorted[0]).padStart(10)}  max ${fmt(sorted[sorted.length - 1]).padStart(10)}`,
  );
  return median(sorted);
}

/**
 * Runs `call` in `conc` loops at once for `ms` milliseconds; returns the
 * calls completed in that time and the time taken (calls still in flight
 * when time is up are awaited but not counted).
 */
export async function callLoop(call, conc, ms) {
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
  return { count, elapsed };
}

/** Resolves once every path exists (a socket a child process creates); throws after ~10 s. */
export async function waitForPaths(paths, what = paths.join(', ')) {
  for (let i = 0; i < 400 && !paths.every((p) => existsSync(p)); i++) await new Promise((r) => setTimeout(r, 25));
  if (!paths.every((p) => existsSync(p))) throw new Error(`${what} did not appear`);
}

/**
 * Starts qemu-system-x86_64 for a bench: `-S`, no display, no default
 * devices, `monitors` QMP unix sockets (a QEMU monitor serves one client
 * at a time) in a fresh temp dir, plus `args`. It is killed, and the dir
 * removed, by `stop()` or when the bench exits. Resolves once every socket
 * listens. `root`: a chroot holding another release (`.ci/qemu-11.1`'s),
 * run as `chroot ROOT qemu-system-x86_64 …` with the dir in its /tmp;
 * `sockets` are the host's paths either way.
 */
export async function startQemu({ machine = 'none', monitors = 1, args = [], root = null } = {}) {
  const dir = mkdtempSync(join(root === null ? tmpdir() : join(root, 'tmp'), 'qapi-ts-bench-qemu-'));
  const inner = root === null ? dir : `/tmp/${basename(dir)}`;
  const sockets = Array.from({ length: monitors }, (_, i) => join(dir, `qmp${i}.sock`));
  const command = root === null ? ['qemu-system-x86_64'] : ['chroot', root, 'qemu-system-x86_64'];
  const child = spawn(
    command[0],
    [
      ...command.slice(1),
      '-machine',
      machine,
      '-display',
      'none',
      '-S',
      '-nodefaults',
      // -qmp, not -chardev with -mon, which QEMU 11.1 warns is deprecated
      ...sockets.flatMap((_, i) => ['-qmp', `unix:${join(inner, `qmp${i}.sock`)},server=on,wait=off`]),
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // The bench's own work decides when it ends, not this child.
  child.unref();
  let failed;
  child.on('error', (e) => (failed = e));
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  for (
    let i = 0;
    i < 400 && failed === undefined && child.exitCode === null && !sockets.every((p) => existsSync(p));
    i++
  ) {
    await new Promise((r) => setTimeout(r, 25));
  }
  if (failed !== undefined || !sockets.every((p) => existsSync(p))) {
    throw new Error(`qemu-system-x86_64 did not start${failed ? `: ${failed.message}` : ''}`);
  }
  return { dir, sockets, socket: sockets[0], stop };
}
