// Shared helpers for the process-level benchmarks: run a command several
// times, wall-clock each run from spawn to exit, report the median.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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

/** Runs `argv` `runs` times (after one warm-up) and returns sorted times in ms. */
export function timeRuns(argv, { runs = 11, cwd = repoRoot, check = true } = {}) {
  const once = () => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (check && r.status !== 0) {
      throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
    }
    return ms;
  };
  once();
  const times = [];
  for (let i = 0; i < runs; i++) times.push(once());
  return times.sort((a, b) => a - b);
}

export const median = (sorted) => sorted[Math.floor(sorted.length / 2)];

export function report(label, sorted) {
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(
    `${label.padEnd(34)} median ${fmt(median(sorted)).padStart(10)}  min ${fmt(sorted[0]).padStart(10)}  max ${fmt(sorted[sorted.length - 1]).padStart(10)}`,
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
