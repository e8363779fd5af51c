/**
 * Locating ../shared (QEMU's schemas, test suite and transcripts), which
 * sits beside the project and is never copied into it (QAPI_TS_SHARED
 * names another place, e.g. a missing one to see the tests skip).
 *
 * In CI a missing folder is a hard failure; elsewhere the caller skips its
 * tests and we say so on stderr, so a skip is never silent.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** `../shared` beside the checkout, or wherever QAPI_TS_SHARED points. */
export const sharedRoot = resolve(repoRoot, process.env.QAPI_TS_SHARED || '../shared');

const warned = new Set<string>();

/** Absolute path of `../shared/REL`, or null (with a warning) when absent. */
export function sharedDir(rel: string): string | null {
  const path = join(sharedRoot, rel);
  if (existsSync(path)) return path;
  if (process.env.CI) {
    throw new Error(`CI: required shared data is missing: ${path}`);
  }
  if (!warned.has(rel)) {
    warned.add(rel);
    process.stderr.write(`SKIPPING tests that need ${path}: not found (set up ../shared beside the project)\n`);
  }
  return null;
}
