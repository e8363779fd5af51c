// How long `qapi-ts generate` takes for QEMU 10.0's full system schema,
// process start to exit, writing into an empty directory each run (median
// of several runs), beside a bare `node` start and `qapi-ts check` (the
// frontend alone). Target: well under 650 ms (QEMU's C generator: ~1.3 s).
//
//   npm run bench:generate [-- --runs N] [--schema PATH]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, report, repoRoot, requireFile, sharedRoot, timeRuns } from './common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '11' }, schema: { type: 'string' } } });
const runs = Number(values.runs);
const schema = requireFile(values.schema ?? join(sharedRoot, 'corpus/qemu-10.0/qapi/qapi-schema.json'), 'schema');
const bin = join(repoRoot, 'bin/qapi-ts');
requireFile(join(repoRoot, 'dist/src/cli/main.js'), 'build output (run npm run build)');

const work = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-'));
const out = join(work, 'out');

/** One timed `generate` into an empty output directory. */
function generateOnce() {
  rmSync(out, { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'generate', schema, '-o', out, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`qapi-ts generate exited ${r.status}: ${r.stderr}`);
  return ms;
}

try {
  console.log(`schema: ${schema}\nruns: ${runs} (median reported)\n`);
  const floor = report('node (empty script)', timeRuns([process.execPath, '-e', ''], { runs }));
  const check = report('qapi-ts check', timeRuns([process.execPath, bin, 'check', '--lenient-docs', schema], { runs }));
  generateOnce(); // warm-up
  const times = [];
  for (let i = 0; i < runs; i++) times.push(generateOnce());
  times.sort((a, b) => a - b);
  const gen = report('qapi-ts generate', times);
  const files = readdirSync(out);
  const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
  console.log('');
  console.log(`output: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`);
  console.log(`generate minus check (backends + writing): ${(gen - check).toFixed(1)} ms`);
  console.log(`generate minus node start: ${(gen - floor).toFixed(1)} ms`);
  console.log(`target 650 ms: ${median(times) < 650 ? 'met' : 'MISSED'}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
