// How long `qapi-ts check` takes on QEMU 10.0's full system schema, from
// process start to exit, side by side with a bare `node` start (the floor)
// and, when QEMU_SRC names a QEMU source tree, QEMU's own Python frontend
// (with its bytecode cache, which the warm-up round fills: see
// pythonPeerEnv). The commands run in interleaved rounds (bench/common.mjs), and the ratio is the median of
// the per-round ratios, so load that comes and goes hits both alike.
//
//   QEMU_SRC=/path/to/qemu npm run bench:frontend [-- --runs N] [--schema PATH]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import {
  envWithoutExtraCerts,
  pythonPeerEnv,
  report,
  reportDifference,
  reportRatio,
  requireFile,
  sharedRoot,
  repoRoot,
  sorted,
  timeRounds,
} from './common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, schema: { type: 'string' } } });
const runs = Number(values.runs);
const schema = requireFile(values.schema ?? join(sharedRoot, 'corpus/qemu-10.0/qapi/qapi-schema.json'), 'schema');
requireFile(join(repoRoot, 'dist/src/cli/main.js'), 'build output (run npm run build)');

const check = [process.execPath, join(repoRoot, 'bin/qapi-ts'), 'check', '--qemu-version', '10.0', schema];
const commands = [
  { label: 'node (empty script)', argv: [process.execPath, '-e', ''] },
  { label: 'qapi-ts check', argv: check },
];
const noCerts = envWithoutExtraCerts();
if (noCerts) {
  commands.push(
    { label: 'node, no NODE_EXTRA_CA_CERTS', argv: [process.execPath, '-e', ''], env: noCerts },
    { label: 'check, no NODE_EXTRA_CA_CERTS', argv: check, env: noCerts },
  );
}
const qemu = process.env.QEMU_SRC;
const withQemu = qemu !== undefined && existsSync(join(qemu, 'scripts/qapi/schema.py'));
if (withQemu) {
  const py =
    `import sys; sys.path.insert(0, ${JSON.stringify(join(qemu, 'scripts'))})\n` +
    'from qapi.schema import QAPISchema\nQAPISchema(sys.argv[1])';
  commands.push({ label: 'QEMU scripts/qapi (python3)', argv: ['python3', '-c', py, schema], env: pythonPeerEnv() });
}

console.log(`schema: ${schema}\nruns: ${runs} interleaved rounds (medians reported)\n`);
if (noCerts) {
  console.log(
    `NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): Node reads it at every start,\n` +
      'so node and check are timed with it and without it (envWithoutExtraCerts in common.mjs)\n',
  );
}
const times = timeRounds(commands, { runs });
commands.forEach((c, i) => report(c.label, sorted(times[i])));
const peer = times[commands.length - 1];
console.log('');
reportDifference('qapi-ts check minus node start', times[1], times[0]);
if (noCerts) reportDifference('the same, no NODE_EXTRA_CA_CERTS', times[3], times[2]);
if (withQemu) {
  reportRatio('ratio qapi-ts/qemu (per round)', times[1], peer);
  if (noCerts) reportRatio('the same, no NODE_EXTRA_CA_CERTS', times[3], peer);
} else {
  console.log('QEMU scripts/qapi: set QEMU_SRC=/path/to/qemu to time it side by side');
}
