/**
 * A clone without ../shared: the tests that need it must skip with a
 * message (exit 0), and under CI they must fail instead. Runs vitest on
 * the frontend's test files that read ../shared, in a child process, with
 * QAPI_TS_SHARED pointing at a folder that does not exist.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

const FILES = ['test/frontend/conformance.test.ts', 'test/frontend/corpus.test.ts', 'test/frontend/fuzz.test.ts'];
const missing = join(repoRoot, 'no-such-shared-folder');

function vitest(ci: boolean): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = {};
  // Our own run's settings (VITEST_*, CI) must not leak into the child run.
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('VITEST') && key !== 'TEST' && key !== 'CI') env[key] = value;
  }
  env.QAPI_TS_SHARED = missing;
  if (ci) env.CI = 'true';
  const run = spawnSync(process.execPath, [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', ...FILES], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('without ../shared', () => {
  it('skips the tests that need it, saying so, and passes', () => {
    const { status, output } = vitest(false);
    expect(output).toContain(`SKIPPING tests that need ${join(missing, 'conformance/qemu-10.0')}: not found`);
    expect(output).toContain(`SKIPPING tests that need ${join(missing, 'corpus')}: not found`);
    expect(output).toMatch(/\ntests: 0 passed, 0 failed, [1-9][0-9]* skipped\n/);
    expect(status).toBe(0);
  });

  it('fails under CI, naming what is missing', () => {
    const { status, output } = vitest(true);
    expect(output).toContain(`CI: required shared data is missing: ${join(missing, 'conformance/qemu-10.0')}`);
    expect(output).toMatch(/\ntests: 0 passed, [1-9][0-9]* failed/);
    expect(status).toBe(1);
  });
});
