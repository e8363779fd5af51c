/**
 * QEMU's real schemas (../shared/corpus): every root schema checks with
 * --lenient-docs (QEMU 7.2's firmware.json excepted: it includes a file
 * that is not part of the corpus); QEMU 10.0's schemas also pass strict
 * checking; and the entity part of the dump, with `--qemu-version` set to
 * the corpus release, matches fingerprints (line count, sha256) taken from
 * QEMU's own frontend of that release. Without `--qemu-version` every root
 * is modelled as QEMU 10.0 models it.
 */
import { createHash } from 'node:crypto';
import { dirname, basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFrontendCommand } from '../../src/cli/frontend-commands.js';
import { sharedDir } from '../helpers/shared.js';

type Release = '7.2' | '10.0' | '11.1';

interface RootSchema {
  /** Path under ../shared/corpus. */
  path: string;
  /** The QEMU release it comes from. */
  version: Release;
  /** Entity lines (no `module` lines) of QEMU's dump, and sha256 of all lines before the docs. */
  entities: number;
  sha256: string;
  /** Whose dump the fingerprint is, when not `version`'s. */
  fingerprintOf?: Release;
  /** Does QEMU 10.0's frontend accept it as it is (strict docs)? */
  strict: boolean;
}

// Fingerprints of `qapi-dump` output of QEMU 7.2.0 / 10.0.13 (the version
// the schema comes from). QEMU 10.0 rejects vhost-user.json's doc comment,
// so its fingerprint is QEMU 7.2's reading of that (byte-identical) file;
// QEMU 10.0's model of it is that minus the QType prefix (see asModelOf).
const ROOTS: RootSchema[] = [
  { path: 'qemu-7.2/qapi/qapi-schema.json', version: '7.2', entities: 1231, strict: false,
    sha256: '504a5ceaf7267c4ae37c21c9530aeccd6d60e417f9f87f8e0eacd62e65ba7bd0' },
  { path: 'qemu-7.2/qga/qapi-schema.json', version: '7.2', entities: 124, strict: false,
    sha256: '5362ac48324ba1b0272771b3e38450693342b917a8d30e4cc0ab9168910795e0' },
  { path: 'qemu-7.2/storage-daemon/qapi/qapi-schema.json', version: '7.2', entities: 567, strict: false,
    sha256: '1a3a469428ae65d248689fdf8f4f634f40ba366c9c61d7b0de3f235f89a82b88' },
  { path: 'qemu-7.2/docs/interop/vhost-user.json', version: '7.2', entities: 15, strict: false,
    sha256: '76175a6141fe84b400267f6e49b2bd2be296175fa4e69cc7d113d6314d4bdb07' },
  { path: 'qemu-10.0/qapi/qapi-schema.json', version: '10.0', entities: 1376, strict: true,
    sha256: '8be2c90921fd4b447d5192ed0903521aa4b73d93329db7139bb14401083bf9df' },
  { path: 'qemu-10.0/qga/qapi-schema.json', version: '10.0', entities: 131, strict: true,
    sha256: '9a50c17ceadbf18be75e58a41cef4c872d89c63f8d57d5794f8a22a380918c38' },
  { path: 'qemu-10.0/storage-daemon/qapi/qapi-schema.json', version: '10.0', entities: 596, strict: true,
    sha256: '97da5e7d58f5f41d99777bfcdc8b083fbaab62b94ae42a2b644baf8962a16cf6' },
  { path: 'qemu-10.0/docs/interop/firmware.json', version: '10.0', entities: 19, strict: true,
    sha256: '42ac97a90e0b1c25004f02475434162e2b61ed87429b5ebdd11fcd1049f71695' },
  { path: 'qemu-10.0/docs/interop/vhost-user.json', version: '10.0', fingerprintOf: '7.2', entities: 15, strict: false,
    sha256: '76175a6141fe84b400267f6e49b2bd2be296175fa4e69cc7d113d6314d4bdb07' },
];

const corpus = sharedDir('corpus');

/** Runs a frontend command from the schema's folder, as a user would. */
function run(command: 'check' | 'dump', path: string, ...flags: string[]) {
  const file = join(corpus!, path);
  const saved = process.cwd();
  let out = '';
  let err = '';
  process.chdir(dirname(file));
  try {
    const status = runFrontendCommand(command, [...flags, basename(file)], {
      stdout: (text) => void (out += text),
      stderr: (text) => void (err += text),
    });
    return { status, out, err };
  } finally {
    process.chdir(saved);
  }
}

/** The dump up to the first doc block. */
function entityPart(dump: string): string {
  const i = dump.search(/^doc /m);
  return i < 0 ? dump : dump.slice(0, i);
}

/** The entity part of `dump --lenient-docs FLAGS PATH`. */
function dumpEntities(path: string, ...flags: string[]): string {
  const { status, out } = run('dump', path, '--lenient-docs', ...flags);
  expect(status).toBe(0);
  return entityPart(out);
}

const QTYPE_PREFIXED = 'enum QType\n    prefix QTYPE\n';
const QTYPE_PLAIN = 'enum QType\n';

/**
 * Release `from`'s dump entities turned into release `to`'s: the two
 * models differ only in the QType prefix (QEMU 7.2 has it, 10.0 not).
 */
function asModelOf(entities: string, from: Release, to: Release): string {
  expect(entities.includes(QTYPE_PREFIXED)).toBe(from === '7.2');
  if (from === to || (from !== '7.2' && to !== '7.2')) return entities;
  return from === '7.2' ? entities.replace(QTYPE_PREFIXED, QTYPE_PLAIN) : entities.replace(QTYPE_PLAIN, QTYPE_PREFIXED);
}

describe.skipIf(corpus === null)('QEMU schema corpus', () => {
  let saved = '';
  beforeEach(() => {
    saved = process.cwd();
  });
  afterEach(() => {
    expect(process.cwd()).toBe(saved);
  });

  for (const root of ROOTS) {
    describe(root.path, () => {
      it('check --lenient-docs exits 0; every diagnostic is a warning', () => {
        const { status, out, err } = run('check', root.path, '--lenient-docs');
        expect(err.split('\n').filter((l) => /^[^ ]+:\d+(:\d+)?: /.test(l) && !l.includes(': warning: '))).toEqual([]);
        expect(status).toBe(0);
        expect(out).toBe('');
      });

      const fingerprinted = root.fingerprintOf ?? root.version;
      it(`entity lines with --qemu-version ${fingerprinted} match QEMU ${fingerprinted}'s (count and sha256)`, () => {
        const entities = dumpEntities(root.path, '--qemu-version', fingerprinted);
        const count = entities.split('\n').filter((l) => /^[a-z]/.test(l) && !l.startsWith('module ')).length;
        expect(count).toBe(root.entities);
        expect(createHash('sha256').update(entities).digest('hex')).toBe(root.sha256);
      });

      // The same, in the corpus release's model and in the default one.
      for (const [flags, release] of [[['--qemu-version', root.version], root.version], [[], '11.1']] as const) {
        if (flags.length && release === fingerprinted) continue;
        it(`entity lines ${flags.length ? `with ${flags.join(' ')}` : 'by default'} are QEMU ${release}'s model`, () => {
          const expected = asModelOf(dumpEntities(root.path, '--qemu-version', fingerprinted), fingerprinted, release);
          expect(dumpEntities(root.path, ...flags)).toBe(expected);
        });
      }

      it(root.strict ? 'strict dump succeeds without a word on stderr' : 'strict check fails on doc comments', () => {
        const { status, out, err } = run(root.strict ? 'dump' : 'check', root.path, '--qemu-version', root.version);
        if (root.strict) {
          expect(err).toBe('');
          expect(status).toBe(0);
          expect(out).toMatch(/^module \.\/builtin\n/);
        } else {
          expect(status).toBe(1);
          expect(out).toBe('');
          expect(err).toMatch(/: [^\n]+\n$/);
        }
      });
    });
  }

  it("qemu-7.2/docs/interop/firmware.json fails with QEMU's missing-include error", () => {
    const { status, out, err } = run('check', 'qemu-7.2/docs/interop/firmware.json', '--lenient-docs');
    expect(status).toBe(1);
    expect(out).toBe('');
    expect(err).toBe("firmware.json:17: can't read include file 'machine.json': No such file or directory\n");
  });
});
