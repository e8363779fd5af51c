/**
 * QEMU's own QAPI frontend test suites, one per release we reproduce
 * (../shared/conformance/qemu-7.2, -10.0, -11.1): for every case in TESTS,
 * `qapi-ts dump --qemu-version RELEASE NAME.json` run from inside that
 * folder must print exactly NAME.out on stdout and NAME.err on stderr, and
 * exit 1 exactly when NAME.err is not empty. The newest release's suite
 * runs with no --qemu-version at all: it is the default.
 *
 * Every case runs in-process through the function the CLI uses; a few also
 * run through the real `bin/qapi-ts` (which needs `npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFrontendCommand } from '../../src/cli/frontend-commands.js';
import { CapturedIO } from '../helpers/cli.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';

/** Each suite, with the flags that select its release (none for the default). */
const SUITES: readonly { release: string; flags: readonly string[] }[] = [
  { release: '7.2', flags: ['--qemu-version', '7.2'] },
  { release: '10.0', flags: ['--qemu-version', '10.0'] },
  { release: '11.1', flags: [] },
];

function listCases(dir: string): string[] {
  return readFileSync(join(dir, 'TESTS'), 'utf8')
    .split(/\s+/)
    .filter((name) => name !== '')
    .map((name) => name.replace(/\.json$/, ''));
}

/** Runs `dump NAME.json` in-process (cwd must be the suite folder). */
function dumpInProcess(name: string, flags: readonly string[]): { out: string; err: string; status: number } {
  const io = new CapturedIO();
  const status = runFrontendCommand('dump', [...flags, `${name}.json`], io);
  return { out: io.out, err: io.err, status };
}

for (const { release, flags } of SUITES) {
  const suite = sharedDir(`conformance/qemu-${release}`);
  // Vitest runs the body of a skipped describe too (to list its tests as
  // skipped), so nothing in it may touch the suite's folder unless it exists.
  describe.skipIf(suite === null)(
    `QEMU ${release} QAPI test suite${flags.length ? ` (${flags.join(' ')})` : ' (no flag)'}`,
    () => {
      const dir = suite ?? '';
      const cases = suite === null ? [] : listCases(suite);
      const expected = (name: string, ext: 'out' | 'err') => readFileSync(join(dir, `${name}.${ext}`), 'utf8');
      let savedCwd = '';

      beforeAll(() => {
        savedCwd = process.cwd();
        process.chdir(dir);
      });
      afterAll(() => {
        process.chdir(savedCwd);
      });

      it('lists a substantial number of cases', () => {
        expect(cases.length).toBeGreaterThan(100);
      });

      describe('in-process', () => {
        for (const name of cases) {
          it(name, () => {
            const { out, err, status } = dumpInProcess(name, flags);
            const wantErr = expected(name, 'err');
            expect(err).toBe(wantErr);
            expect(out).toBe(expected(name, 'out'));
            expect(status).toBe(wantErr === '' ? 0 : 1);
          });
        }
      });

      const bin = join(repoRoot, 'bin/qapi-ts');
      const built = existsSync(join(repoRoot, 'dist/src/cli/main.js'));
      if (!built && process.env.CI) throw new Error('CI: dist/ missing; run npm run build before the tests');
      if (!built) process.stderr.write('SKIPPING bin/qapi-ts conformance runs: run npm run build first\n');

      describe.skipIf(!built)('through bin/qapi-ts', () => {
        // A success with docs, a semantic error, a parse error with column, an
        // error inside an included file.
        const sample = [
          'doc-good',
          'union-invalid-discriminator',
          'unclosed-list',
          'include-no-file',
          'include-relpath',
        ].filter((name) => cases.includes(name));

        it('samples exist in TESTS', () => {
          expect(sample.length).toBeGreaterThanOrEqual(4);
        });

        for (const name of sample) {
          it(name, () => {
            const run = spawnSync(process.execPath, [bin, 'dump', ...flags, `${name}.json`], {
              cwd: dir,
              encoding: 'utf8',
            });
            const wantErr = expected(name, 'err');
            expect(run.stderr).toBe(wantErr);
            expect(run.stdout).toBe(expected(name, 'out'));
            expect(run.status).toBe(wantErr === '' ? 0 : 1);
          });
        }
      });
    },
  );
}
