// How long `qapi-ts check` takes on QEMU 10.0's full system schema, from
// process start to exit, side by side with a bare `node` start (the floor)
// and, when QEMU_SRC names a QEMU source tree, QEMU's own Python frontend.
//
//   npm run bench:frontend [-- --runs N]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { report, requireFile, sharedRoot, repoRoot, timeRuns } from './common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, schema: { type: 'string' } } });
const runs = Number(values.runs);
const schema = requireFile(values.schema ?? join(sharedRoot, 'corpus/qemu-10.0/qapi/qapi-schema.json'), 'schema');
requireFile(join(repoRoot, 'dist/src/cli/main.js'), 'build output (run npm run build)');

console.log(`schema: ${schema}\nruns: ${runs} (median reported)\n`);
const floor = report('node (empty script)', timeRuns([process.execPath, '-e', ''], { runs }));
const ours = report('qapi-ts check', timeRuns([process.execPath, join(repoRoot, 'bin/qapi-ts'), 'check', schema], { runs }));

let theirs;
const qemu = process.env.QEMU_SRC;
if (qemu && existsSync(join(qemu, 'scripts/qapi/schema.py'))) {
  const py = `import sys; sys.path.insert(0, ${JSON.stringify(join(qemu, 'scripts'))})\nfrom qapi.schema import QAPISchema\nQAPISchema(sys.argv[1])`;
  theirs = report('QEMU scripts/qapi (python3)', timeRuns(['python3', '-c', py, schema], { runs }));
} else {
  console.log('QEMU scripts/qapi: set QEMU_SRC=/path/to/qemu to time it side by side');
}
console.log('');
console.log(`qapi-ts check minus node start: ${(ours - floor).toFixed(1)} ms`);
if (theirs !== undefined) console.log(`ratio qapi-ts/qemu: ${(ours / theirs).toFixed(2)}`);
