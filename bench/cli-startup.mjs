// What a CLI command costs from process start to exit, per command, side by
// side in interleaved rounds (bench/common.mjs): a bare `node` start (the
// floor), the CLI as bin/qapi-ts runs it (the bundle of
// scripts/bundle-cli.mjs), and the CLI loaded module by module from
// dist/src (what the launcher did before the bundle;
// bench/unbundled-cli.mjs).
//
// Commands: --version; check on QEMU 10.0's schema; exec query-status and
// probe against a real QEMU 7.2 (`-machine none`, started here, killed at
// exit); verify of the recorded QEMU 7.2 session; generate for our own
// schema (qapi/).
//
//   npm run build && npm run bench:cli [-- --runs N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, repoRoot, requireFile, sharedRoot, sorted, startQemu, timeRounds } from './common.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '11' } } });
const runs = Number(values.runs);
const bundle = join(repoRoot, 'dist/bundle');
requireFile(join(bundle, 'cli/main.js'), 'the CLI bundle (run npm run build)');
const schema10 = requireFile(join(sharedRoot, 'corpus/qemu-10.0/qapi/qapi-schema.json'), 'QEMU 10.0 schema');
const schema72 = requireFile(join(sharedRoot, 'corpus/qemu-7.2/qapi/qapi-schema.json'), 'QEMU 7.2 schema');
const session = requireFile(join(sharedRoot, 'transcripts/qemu-7.2/system-x86_64.jsonl'), 'QEMU 7.2 session');

const tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
let socket;
try {
  ({ socket } = await startQemu());
} catch (err) {
  console.log(`QEMU did not start (${err.message.split('\n')[0]}): exec and probe left out\n`);
}

const commands = [
  ['--version'],
  ['check', '--qemu-version', '10.0', schema10],
  ...(socket === undefined
    ? []
    : [
        ['exec', '--socket', socket, 'query-status'],
        ['probe', '--socket', socket, 'query-status', 'query-iothreads/ret-type/poll-max-ns'],
      ]),
  ['verify', '--schema', schema72, session],
  ['generate', join(repoRoot, 'qapi/qapi-schema.json'), '-o', join(tmp, 'generated'), '-q'],
];

const bin = join(repoRoot, 'bin/qapi-ts');
const unbundled = join(repoRoot, 'bench/unbundled-cli.mjs');
const fmt = (ms) => `${ms.toFixed(1)} ms`.padStart(9);
const ratio = (a, b) => median(sorted(a.map((t, i) => t / b[i]))).toFixed(2);

console.log(`median of ${runs} interleaved rounds; ratios are medians of per-round ratios to the unbundled CLI\n`);
console.log(
  `${'command'.padEnd(10)} ${'node'.padStart(9)} ${'unbundled'.padStart(9)} ${'bundle'.padStart(9)}  bundle/unb.`,
);
for (const args of commands) {
  const [node, modules, bundled] = timeRounds(
    [
      { argv: [process.execPath, '-e', '0'] },
      { argv: [process.execPath, unbundled, ...args] },
      { argv: [process.execPath, bin, ...args] },
    ],
    { runs },
  );
  const m = (t) => fmt(median(sorted(t)));
  console.log(`${args[0].padEnd(10)} ${m(node)} ${m(modules)} ${m(bundled)}  ${ratio(bundled, modules).padStart(11)}`);
}
