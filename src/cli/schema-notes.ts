/**
 * Notes about a schema's release shared by `check`, `generate` and
 * `verify`: which release's doc rules would accept a schema, and a note
 * for a release newer than we know.
 */
import { isQapiError } from '../frontend/errors.js';
import { parseSchema } from '../frontend/index.js';
import { KNOWN_RULE_SETS, newerReleaseNote, rulesFor } from '../frontend/release.js';

/**
 * When a schema fails on a doc comment only and another known release's
 * rules accept it, a hint for `check`, `generate` and `verify` (not `dump`,
 * whose output is QEMU's own): which release's rules were applied and
 * which accept the schema. Null otherwise (invalid definitions, or doc
 * problems that no release forgives).
 */
export function docLayoutHint(fname: string, err: unknown, version: string): string | null {
  if (!isQapiError(err) || !err.docComment) return null;
  const rules = rulesFor(version);
  try {
    parseSchema(fname, { lenientDocs: true, qemuVersion: version, onWarning: () => {} });
  } catch {
    return null;
  }
  const accepting = [...KNOWN_RULE_SETS].reverse().filter((release) => {
    if (release === rules.ruleSet) return false;
    try {
      parseSchema(fname, { qemuVersion: release });
      return true;
    } catch {
      return false;
    }
  });
  if (accepting.length === 0) return null;
  const applied =
    rules.ruleSet === rules.version ? `QEMU ${rules.version}'s` : `QEMU ${rules.ruleSet}'s (for ${rules.version})`;
  const suggest =
    `it checks with --qemu-version ${accepting[0]}; if it is written for that release, say so, ` +
    'or pass --lenient-docs to report doc problems as warnings';
  return `note: the definitions are valid; only doc comments break ${applied} doc rules: ${suggest}`;
}

let newerNoted = false;

/** The note for a release newer than we know, once per process. */
export function noteNewerRelease(version: string, stderr: (text: string) => void): void {
  const note = newerReleaseNote(rulesFor(version));
  if (note === null || newerNoted) return;
  newerNoted = true;
  stderr(note + '\n');
}
