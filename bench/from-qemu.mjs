// How long `qapi-ts generate --from-socket` takes against a live QEMU
// (11.1 from the sid chroot by default), end to end: process start,
// connect, negotiate, fetch query-qmp-schema, build the model, generate,
// write into an empty directory. Side by side, in interleaved rounds: a
// bare `node` start and `generate --introspection` from the same reply
// saved to a file (the difference is what talking to QEMU costs).
// Target: under 1 s.
//
//   npm run bench:from-qemu [-- --runs N] [--release 11.1|10.0|7.2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { report, reportDifference, repoRoot, requireFile, sorted, startQemu, timeRounds } from './common.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '11' }, release: { type: 'string', default: '11.1' } },
});
const runs = Number(values.runs);
const roots = {
  7.2: null,
  '10.0': process.env.QAPI_TS_TRIXIE_ROOT || '/var/lib/qapi-ts/trixie',
  11.1: process.env.QAPI_TS_SID_ROOT || '/var/lib/qapi-ts/sid',
};
if (!(values.release in roots)) {
  console.error(`--release must be one of ${Object.keys(roots).join(', ')}`);
  process.exit(2);
}
const root = roots[values.release];
if (root !== null) requireFile(join(root, '.qapi-ts-ready'), `QEMU ${values.release} chroot`);
const bin = join(repoRoot, 'bin/qapi-ts');
requireFile(join(repoRoot, 'dist/src/cli/main.js'), 'build output (run npm run build)');

// QEMU with its QMP socket in a fresh dir (inside the chroot for 10.0 and 11.1).
const qemu = await startQemu({ root });
const socket = qemu.socket;
const work = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-'));
const out = join(work, 'out');

try {
  const saved = join(work, 'reply.json');
  const r = spawnSync(process.execPath, [bin, 'exec', '--socket', socket, 'query-qmp-schema'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`query-qmp-schema failed: ${r.stderr}`);
  writeFileSync(saved, r.stdout);
  const version = spawnSync(process.execPath, [bin, 'exec', '--socket', socket, 'query-version'], {
    encoding: 'utf8',
  }).stdout.trim();
  console.log(
    `QEMU ${values.release} (${version}), reply ${(r.stdout.length / 1024).toFixed(0)} KiB\n` +
      `runs: ${runs} rounds, interleaved (medians reported)\n`,
  );
  const [floor, fromFile, live] = timeRounds(
    [
      { argv: [process.execPath, '-e', ''] },
      {
        argv: [process.execPath, bin, 'generate', '--introspection', saved, '-o', out, '-q'],
        before: () => rmSync(out, { recursive: true, force: true }),
      },
      {
        argv: [process.execPath, bin, 'generate', '--from-socket', socket, '-o', out, '-q'],
        before: () => rmSync(out, { recursive: true, force: true }),
      },
    ],
    { runs },
  );
  report('node (empty script)', sorted(floor));
  report('generate --introspection FILE', sorted(fromFile));
  const liveMedian = report('generate --from-socket (live)', sorted(live));
  console.log('');
  reportDifference('live minus file (talking to QEMU)', live, fromFile);
  reportDifference('live minus node start', live, floor);
  console.log(`target 1000 ms end to end (process start to exit): ${liveMedian < 1000 ? 'met' : 'MISSED'}`);

  // In one process (warm): connect, fetch, build the model, generate, write.
  // CPU time beside wall time: on a loaded machine the wall time is mostly waiting.
  const { fetchIntrospection, schemaFromIntrospection } = await import('../dist/src/introspection/index.js');
  const { generateFiles, writeGenerated } = await import('../dist/src/backends/generate.js');
  const wall = [];
  const cpu = [];
  for (let i = -1; i < runs; i++) {
    rmSync(out, { recursive: true, force: true });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const reply = await fetchIntrospection({ kind: 'target', target: { path: socket } });
    await writeGenerated(out, generateFiles(await schemaFromIntrospection(reply)));
    const ms = performance.now() - t0;
    const used = process.cpuUsage(c0);
    if (i >= 0) {
      wall.push(ms);
      cpu.push((used.user + used.system) / 1000);
    }
  }
  console.log('');
  report('in process: wall', sorted(wall));
  report('in process: CPU (user+system)', sorted(cpu));
} finally {
  qemu.stop();
  rmSync(work, { recursive: true, force: true });
}
