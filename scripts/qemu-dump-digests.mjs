#!/usr/bin/env node
// Regenerates the reference digests of test/frontend/corpus.test.ts from a
// QEMU source tree, and shows where our dump differs.
//
//   node scripts/qemu-dump-digests.mjs QEMU_SRC RULES CORPUS [ROOT...]
//
// QEMU_SRC  an unpacked QEMU source tree of release RULES (it needs
//           scripts/qapi/ and tests/qapi-schema/test-qapi.py; e.g. Debian's
//           `apt-get source qemu`)
// RULES     the release whose rules both sides apply (--qemu-version)
// CORPUS    the corpus release whose schemas to read (../shared/corpus/qemu-CORPUS)
// ROOT      schema roots under it (default: the system, guest agent and
//           storage daemon roots)
//
// For each root it runs QEMU's own test-qapi.py (its test_frontend(), the
// dump the suite compares) from the root's folder, prints the line count
// and sha256 of QEMU's output in the form the test's table takes, and when
// `bin/qapi-ts dump --qemu-version RULES` prints something else, a unified
// diff (first 60 lines). Nothing of QEMU's is kept: outputs go to a
// temporary folder that is removed. Needs python3 and `npm run build`.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [src, rules, corpusRelease, ...roots] = process.argv.slice(2);
if (!src || !rules || !corpusRelease) {
  process.stderr.write('usage: node scripts/qemu-dump-digests.mjs QEMU_SRC RULES CORPUS [ROOT...]\n');
  process.exit(2);
}
const testQapi = join(resolve(src), 'tests/qapi-schema/test-qapi.py');
if (!existsSync(testQapi)) {
  process.stderr.write(`${testQapi} not found: QEMU_SRC must be a QEMU source tree\n`);
  process.exit(2);
}
const corpus = join(repo, '..', 'shared', 'corpus', `qemu-${corpusRelease}`);
const rootList = roots.length
  ? roots
  : ['qapi/qapi-schema.json', 'qga/qapi-schema.json', 'storage-daemon/qapi/qapi-schema.json'];

// Loads test-qapi.py as a module and calls its test_frontend(SCHEMA).
const PY = [
  'import importlib.util, os, sys',
  'src, schema = sys.argv[1], sys.argv[2]',
  "sys.path.insert(0, os.path.join(src, 'scripts'))",
  "spec = importlib.util.spec_from_file_location('test_qapi', os.path.join(src, 'tests/qapi-schema/test-qapi.py'))",
  'mod = importlib.util.module_from_spec(spec)',
  'spec.loader.exec_module(mod)',
  'mod.test_frontend(schema)',
].join('\n');

const tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-digests-'));
let differing = 0;
try {
  for (const root of rootList) {
    const file = join(corpus, root);
    const cwd = dirname(file);
    const qemu = spawnSync('python3', ['-c', PY, resolve(src), basename(file)], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    if (qemu.status !== 0) {
      process.stdout.write(`${root}: QEMU ${rules}'s test-qapi.py failed (status ${qemu.status}):\n${qemu.stderr}`);
      differing++;
      continue;
    }
    const ours = spawnSync(
      process.execPath,
      [join(repo, 'bin/qapi-ts'), 'dump', '--qemu-version', rules, basename(file)],
      {
        cwd,
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      },
    );
    const lines = qemu.stdout.split('\n').length - 1;
    const sha256 = createHash('sha256').update(qemu.stdout).digest('hex');
    process.stdout.write(
      `  { rules: '${rules}', corpus: '${corpusRelease}', root: '${root}', lines: ${lines},\n` +
        `    sha256: '${sha256}' },\n`,
    );
    if (ours.stdout === qemu.stdout) continue;
    differing++;
    const a = join(tmp, 'qemu.out');
    const b = join(tmp, 'qapi-ts.out');
    writeFileSync(a, qemu.stdout);
    writeFileSync(b, ours.stdout);
    const diff = spawnSync('diff', ['-u', '--label', `QEMU ${rules}`, '--label', 'qapi-ts', a, b], {
      encoding: 'utf8',
    });
    const shown = diff.stdout.split('\n').slice(0, 60).join('\n');
    process.stdout.write(
      `    # differs from qapi-ts dump --qemu-version ${rules}` +
        ` (status ${ours.status}${ours.stderr ? `: ${ours.stderr.trim()}` : ''}):\n${shown}\n`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(differing ? 1 : 0);
