// How long `qapi-ts generate` takes for QEMU 10.0's full system schema,
// process start to exit, writing into an empty directory each run, side by
// side with a bare `node` start and `qapi-ts check` (the frontend alone):
// the three run in interleaved rounds, and differences are medians of the
// per-round differences, so load that comes and goes cannot make one
// negative. When QEMU_SRC names a QEMU source tree, QEMU's own generator
// (`scripts/qapi-gen.py`, C code for the same schema, into an empty
// directory too) runs in the same rounds and the ratio generate/qapi-gen
// is the median of the per-round ratios. Target: well under 650 ms.
//
//   [QEMU_SRC=/path/to/qemu] npm run bench:generate [-- --runs N] [--schema PATH]
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  pythonPeerEnv,
  report,
  reportDifference,
  reportRatio,
  repoRoot,
  requireFile,
  sharedRoot,
  sorted,
  timeRounds,
} from './common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '11' }, schema: { type: 'string' } } });
const runs = Number(values.runs);
const schema = requireFile(values.schema ?? join(sharedRoot, 'corpus/qemu-10.0/qapi/qapi-schema.json'), 'schema');
const bin = join(repoRoot, 'bin/qapi-ts');
requireFile(join(repoRoot, 'dist/src/cli/main.js'), 'build output (run npm run build)');

const work = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-'));
const out = join(work, 'out');
const qemuOut = join(work, 'qemu-out');
const qemu = process.env.QEMU_SRC;
const qapiGen = qemu === undefined ? undefined : join(qemu, 'scripts/qapi-gen.py');
const withQemu = qapiGen !== undefined && existsSync(qapiGen);

try {
  console.log(
    `schema: ${schema}\n` +
      `runs: ${runs} rounds of node, check, generate${withQemu ? ' and qapi-gen.py' : ''},` +
      ' interleaved (medians reported)\n',
  );
  const [floor, check, gen, theirs] = timeRounds(
    [
      { argv: [process.execPath, '-e', ''] },
      { argv: [process.execPath, bin, 'check', '--lenient-docs', schema] },
      // into an empty output directory every time
      {
        argv: [process.execPath, bin, 'generate', '--qemu-version', '10.0', schema, '-o', out, '-q'],
        before: () => rmSync(out, { recursive: true, force: true }),
      },
      ...(withQemu
        ? [
            {
              argv: ['python3', qapiGen, '-o', qemuOut, schema],
              env: pythonPeerEnv(),
              before: () => rmSync(qemuOut, { recursive: true, force: true }),
            },
          ]
        : []),
    ],
    { runs },
  );
  report('node (empty script)', sorted(floor));
  report('qapi-ts check', sorted(check));
  const genMedian = report('qapi-ts generate', sorted(gen));
  if (withQemu) report('QEMU scripts/qapi-gen.py', sorted(theirs));
  const files = readdirSync(out);
  const bytes = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
  console.log('');
  console.log(`output: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`);
  console.log('per round, side by side:');
  reportDifference('generate minus check (backends)', gen, check);
  reportDifference('generate minus node start', gen, floor);
  reportRatio('ratio generate/check', gen, check);
  if (withQemu) reportRatio('ratio generate/qapi-gen.py', gen, theirs);
  else console.log('QEMU scripts/qapi-gen.py: set QEMU_SRC=/path/to/qemu to time it side by side');
  console.log(`target 650 ms: ${genMedian < 650 ? 'met' : 'MISSED'}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
