/**
 * Which QEMU release's rules the frontend applies.
 *
 * QEMU's QAPI generator changes from release to release: the model it
 * builds (the built-in QType enum lost its prefix in 9.2), the rules for
 * doc comments, a few expression checks, and the doc part of its test
 * dump. A schema is written for one release; `qemuVersion` ('MAJOR.MINOR')
 * names it. We reproduce the generators of the releases whose own test
 * suites we check against (KNOWN_RULE_SETS); every other release reads
 * with the rules of the nearest known release before it, except where a
 * change is known to have come later (see rulesFor):
 *
 * | asked for        | rules applied | why |
 * | ---------------- | ------------- | --- |
 * | 7.2 – 8.2        | 7.2           | the doc parser was rewritten in 9.0 |
 * | 9.0 – 10.1       | 10.0          | 10.1 is not in our data; the doc-layout checks below came in 10.2 |
 * | 10.2, 11.0       | 10.2          | 70-column lines, two spaces after sentences, rST headings, auto `Returns:` (a) |
 * | 11.1 and later   | 11.1          | plus an indented overview under `@NAME:` and the new doc dump (b) |
 *
 * (a) 11.0's generator equals 10.2's. (b) Later releases read as 11.1,
 * with a note.
 *
 * Older than 7.2 is refused.
 */

/** A QEMU release as 'MAJOR.MINOR'. */
export type QemuVersion = string;

/** The releases whose generators we reproduce exactly, oldest first. */
export const KNOWN_RULE_SETS = ['7.2', '10.0', '10.2', '11.1'] as const;
export type RuleSet = (typeof KNOWN_RULE_SETS)[number];

/** The default release: the newest whose rules we know. */
export const DEFAULT_QEMU_VERSION: QemuVersion = '11.1';
/** The oldest release we read. */
export const OLDEST_QEMU_VERSION: QemuVersion = '7.2';

/** What differs between releases, as the frontend's stages ask for it. */
export interface ReleaseRules {
  /** The release asked for, as 'MAJOR.MINOR'. */
  readonly version: QemuVersion;
  /** The known release whose generator is reproduced. */
  readonly ruleSet: RuleSet;
  /** True when `version` is newer than every release we know. */
  readonly newerThanKnown: boolean;
  /** The built-in QType enum's prefix ('QTYPE' up to 9.1). */
  readonly qtypePrefix: string | null;
  /** 7.2's doc-comment parser and checks (before the 9.0 rewrite). */
  readonly legacyDocs: boolean;
  /** 7.2's expression checks: type names, arrays, conditional arguments, pragmas, features. */
  readonly legacyExprs: boolean;
  /** 10.2: lines of at most 70 columns and two spaces between sentences. */
  readonly docLineFormat: boolean;
  /** 10.2: headings are rST; '=' lines are plain text. */
  readonly rstHeadings: boolean;
  /** 10.2: a command with a return type gets an empty 'Returns' section. */
  readonly ensureReturns: boolean;
  /** 11.1: an overview indented under `@NAME:` (the 'Intro' section). */
  readonly indentedIntro: boolean;
  /** The doc part of the test dump: 7.2's, 10.0's or 11.1's. */
  readonly dumpFormat: '7.2' | '10.0' | '11.1';
}

/**
 * MAJOR.MINOR, optionally .MICRO (below 50 a stable update, from 50 a
 * development snapshot). Since 4.0 QEMU makes three releases a year:
 * MAJOR.0, MAJOR.1 and MAJOR.2.
 */
const RELEASE = /^([1-9][0-9]{0,2})\.([0-2])(?:\.(0|[1-9][0-9]?))?$/;

type Parts = readonly [number, number];

function compareRelease(a: Parts, b: Parts): number {
  return a[0] - b[0] || a[1] - b[1];
}

function releaseParts(version: string): Parts | null {
  const m = RELEASE.exec(version);
  if (!m || (m[3] !== undefined && Number(m[3]) >= 50)) return null;
  return [Number(m[1]), Number(m[2])];
}

const at = (version: string): Parts => releaseParts(version)!;

/**
 * `version` as 'MAJOR.MINOR' ('8.2.3' → '8.2'), or null when it does not
 * name a QEMU release from OLDEST_QEMU_VERSION on. Development snapshots
 * (x.y.50 and up) are refused: they may be on either side of a change.
 */
export function normalizeQemuVersion(version: string): QemuVersion | null {
  const parts = releaseParts(version);
  if (!parts || compareRelease(parts, at(OLDEST_QEMU_VERSION)) < 0) return null;
  return `${parts[0]}.${parts[1]}`;
}

/** The problem with a `qemuVersion` value, worded for users. */
export function qemuVersionProblem(version: string): string {
  return (
    `'${version}' is not a QEMU release from ${OLDEST_QEMU_VERSION} on` +
    ` (MAJOR.MINOR, e.g. 10.0 or ${DEFAULT_QEMU_VERSION})`
  );
}

/** The first release whose built-in QType enum has no prefix. */
const QTYPE_UNPREFIXED_SINCE: Parts = [9, 2];
/** The first release with the rewritten doc parser (10.0's rules). */
const NEW_DOC_PARSER_SINCE: Parts = [9, 0];

const cache = new Map<string, ReleaseRules>();

/**
 * The rules of release `version` (any form normalizeQemuVersion takes);
 * throws a RangeError for a version we do not read.
 */
export function rulesFor(version: string = DEFAULT_QEMU_VERSION): ReleaseRules {
  const normal = normalizeQemuVersion(version);
  if (normal === null) throw new RangeError(`qapi-ts: qemuVersion ${qemuVersionProblem(String(version))}`);
  let rules = cache.get(normal);
  if (rules) return rules;
  const parts = at(normal);
  const since = (v: string | Parts): boolean => compareRelease(parts, typeof v === 'string' ? at(v) : v) >= 0;
  const ruleSet: RuleSet = since('11.1')
    ? '11.1'
    : since('10.2')
      ? '10.2'
      : since(NEW_DOC_PARSER_SINCE)
        ? '10.0'
        : '7.2';
  rules = {
    version: normal,
    ruleSet,
    newerThanKnown: compareRelease(parts, at(KNOWN_RULE_SETS[KNOWN_RULE_SETS.length - 1]!)) > 0,
    qtypePrefix: since(QTYPE_UNPREFIXED_SINCE) ? null : 'QTYPE',
    legacyDocs: ruleSet === '7.2',
    legacyExprs: ruleSet === '7.2',
    docLineFormat: ruleSet === '10.2' || ruleSet === '11.1',
    rstHeadings: ruleSet === '10.2' || ruleSet === '11.1',
    ensureReturns: ruleSet === '10.2' || ruleSet === '11.1',
    indentedIntro: ruleSet === '11.1',
    dumpFormat: ruleSet === '7.2' ? '7.2' : ruleSet === '11.1' ? '11.1' : '10.0',
  };
  cache.set(normal, rules);
  return rules;
}

/**
 * The note for a release newer than every one we know (once per process
 * is enough: callers print it on stderr), or null.
 */
export function newerReleaseNote(rules: ReleaseRules): string | null {
  if (!rules.newerThanKnown) return null;
  const newest = KNOWN_RULE_SETS[KNOWN_RULE_SETS.length - 1]!;
  return (
    `qapi-ts: note: QEMU ${rules.version} is newer than the newest release whose rules we know;` +
    ` reading with QEMU ${newest}'s rules`
  );
}
