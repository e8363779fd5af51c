/**
 * QEMU's real schemas (../shared/corpus): every root checks with
 * --lenient-docs under every release's rules (QEMU 7.2's firmware.json
 * excepted: it includes a file that is not part of the corpus); each
 * release's own roots check strictly under its own --qemu-version (11.1's
 * with no flag at all); and `dump --qemu-version R` prints exactly what
 * QEMU R's tests/qapi-schema/test-qapi.py prints (entities and doc
 * comments), checked by line count and sha256 of QEMU's output.
 *
 * The digests come from QEMU's own generators: 7.2.0 (Debian bookworm),
 * 10.0.13 (trixie) and 10.2.2 (sid; 11.0's QAPI generator equals it). 10.2
 * is not in the corpus, so it reads 11.1's schemas, which its generator
 * accepts. QEMU 11.1's generator was not available to us: for 11.1 the
 * test holds what QEMU says stays equal (the entity model: 10.2's) and
 * that every doc block is there. To regenerate a digest, or see a diff:
 *   node scripts/qemu-dump-digests.mjs QEMU_SOURCE_TREE RULES CORPUS
 */
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFrontendCommand } from '../../src/cli/frontend-commands.js';
import { CapturedIO } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';

interface Digest {
  /** The release whose rules apply (--qemu-version). */
  rules: string;
  /** The corpus release whose schema is read. */
  corpus: string;
  /** The root schema under ../shared/corpus/qemu-CORPUS. */
  root: string;
  /** Lines and sha256 of QEMU RULES's test-qapi.py dump. */
  lines: number;
  sha256: string;
}

// Printed by scripts/qemu-dump-digests.mjs.
const DIGESTS: Digest[] = [
  {
    rules: '7.2',
    corpus: '7.2',
    root: 'qapi/qapi-schema.json',
    lines: 22287,
    sha256: 'fc1140908f98bcc4f4ede32af02936bd414aaa110dff0af639c5a65d93d0561c',
  },
  {
    rules: '7.2',
    corpus: '7.2',
    root: 'qga/qapi-schema.json',
    lines: 1729,
    sha256: '18b7641c8aaf99d7f9188e6156b4ab3a4cc692214682e1ae95794418d2e9a214',
  },
  {
    rules: '7.2',
    corpus: '7.2',
    root: 'storage-daemon/qapi/qapi-schema.json',
    lines: 10270,
    sha256: '56734415d1244610e1a030d5240f44f516fbebe2fa6a9000a1fd6e6e9073fa38',
  },
  {
    rules: '7.2',
    corpus: '7.2',
    root: 'docs/interop/vhost-user.json',
    lines: 246,
    sha256: 'a24d7f00392615ecb89679f199dea7aa65b006f6ab2f1ea5d8713fc790490dd5',
  },
  // QEMU 10.0 rejects its own vhost-user.json's doc comments; 7.2 reads it.
  {
    rules: '7.2',
    corpus: '10.0',
    root: 'docs/interop/vhost-user.json',
    lines: 246,
    sha256: 'a24d7f00392615ecb89679f199dea7aa65b006f6ab2f1ea5d8713fc790490dd5',
  },
  {
    rules: '10.0',
    corpus: '10.0',
    root: 'qapi/qapi-schema.json',
    lines: 25452,
    sha256: 'd7b5256d3ef82bef5c634b807550bcc728b936b676fa142fc1943cc2ee2fb458',
  },
  {
    rules: '10.0',
    corpus: '10.0',
    root: 'qga/qapi-schema.json',
    lines: 1922,
    sha256: '015b8fedafff83bbd1fc1fc30ea10c7b48221819f5181302aa41a4a51556b250',
  },
  {
    rules: '10.0',
    corpus: '10.0',
    root: 'storage-daemon/qapi/qapi-schema.json',
    lines: 10984,
    sha256: '31f4653a302c0dd5f11c83fa2c3386604a642a1d7dcfb6f15f806ef568d76497',
  },
  {
    rules: '10.0',
    corpus: '10.0',
    root: 'docs/interop/firmware.json',
    lines: 669,
    sha256: 'd59d71114f81e7c73a72ce7c98810cef8ad9e9ba2d4e70ded6290bd5ff8e65c5',
  },
  {
    rules: '10.2',
    corpus: '11.1',
    root: 'qapi/qapi-schema.json',
    lines: 26173,
    sha256: '1db3b217e155132013b45fe1be5f67614a58e4798f3e54dcac4ff965b71d4862',
  },
  {
    rules: '10.2',
    corpus: '11.1',
    root: 'qga/qapi-schema.json',
    lines: 1910,
    sha256: 'c3826f92acccee8f3a5fe054e1b60c275bcbdf4959b6fa2fec64a46be9b502b9',
  },
  {
    rules: '10.2',
    corpus: '11.1',
    root: 'storage-daemon/qapi/qapi-schema.json',
    lines: 11337,
    sha256: '9f8739428c92325342229c3ddf7024b36251cd400ca741347cbd510e037e9221',
  },
  {
    rules: '10.2',
    corpus: '11.1',
    root: 'docs/interop/firmware.json',
    lines: 736,
    sha256: '5feed4c23eda04f2b5989a33603f154a8ceaba8189ecbd34e8b943119874255a',
  },
  {
    rules: '10.2',
    corpus: '11.1',
    root: 'docs/interop/vhost-user.json',
    lines: 253,
    sha256: '6b6a4c5b04bd2e6ef09881255b46b3c6684b74653fbe045ee26d89e2380cefca',
  },
];

const RELEASES = ['7.2', '10.0', '11.1'] as const;
const ROOTS = ['qapi/qapi-schema.json', 'qga/qapi-schema.json', 'storage-daemon/qapi/qapi-schema.json'];

const corpus = sharedDir('corpus');

/** Runs a frontend command from the schema's folder, as a user would. */
function run(command: 'check' | 'dump', path: string, ...flags: string[]) {
  const file = join(corpus!, path);
  const saved = process.cwd();
  const io = new CapturedIO();
  process.chdir(dirname(file));
  try {
    const status = runFrontendCommand(command, [...flags, basename(file)], io);
    return { status, out: io.out, err: io.err };
  } finally {
    process.chdir(saved);
  }
}

/** The flags that select `release` (none for the default, 11.1). */
const versionFlags = (release: string): string[] => (release === '11.1' ? [] : ['--qemu-version', release]);

/** The dump up to the first doc block. */
function entityPart(dump: string): string {
  const i = dump.search(/^doc /m);
  return i < 0 ? dump : dump.slice(0, i);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe.skipIf(corpus === null)('QEMU schema corpus', () => {
  let saved = '';
  beforeEach(() => {
    saved = process.cwd();
  });
  afterEach(() => {
    expect(process.cwd()).toBe(saved);
  });

  describe.each(DIGESTS)('dump --qemu-version $rules of qemu-$corpus/$root', (d) => {
    it(`is what QEMU ${d.rules}'s test-qapi.py prints (${d.lines} lines, sha256)`, () => {
      const path = `qemu-${d.corpus}/${d.root}`;
      const { status, out, err } = run('dump', path, '--qemu-version', d.rules);
      expect(err).toBe('');
      expect(status).toBe(0);
      const hint =
        `qapi-ts dump --qemu-version ${d.rules} ${path} differs from QEMU ${d.rules}'s test-qapi.py; ` +
        `for a diff: node scripts/qemu-dump-digests.mjs QEMU_${d.rules}_SOURCE ${d.rules} ${d.corpus} ${d.root}`;
      expect(out.split('\n').length - 1, hint).toBe(d.lines);
      expect(sha256(out), hint).toBe(d.sha256);
    });
  });

  for (const release of RELEASES) {
    describe.each(ROOTS)(`qemu-${release}/%s`, (root) => {
      const path = `qemu-${release}/${root}`;

      it(`checks strictly with ${versionFlags(release).join(' ') || 'no --qemu-version'}`, () => {
        const { status, out, err } = run('check', path, ...versionFlags(release));
        expect(err).toBe('');
        expect(out).toBe('');
        expect(status).toBe(0);
      });

      // QEMU 7.2 does not know the newer schemas' 'documentation-exceptions' pragma.
      const readable = RELEASES.filter((rules) => rules !== '7.2' || release === '7.2');
      it.each(readable)('checks with --lenient-docs under %s rules; every diagnostic is a warning', (rules) => {
        const { status, out, err } = run('check', path, '--lenient-docs', '--qemu-version', rules);
        expect(err.split('\n').filter((l) => /^[^ ]+:\d+(:\d+)?: /.test(l) && !l.includes(': warning: '))).toEqual([]);
        expect(status).toBe(0);
        expect(out).toBe('');
      });
    });
  }

  describe.each(ROOTS)('qemu-11.1/%s under 11.1 rules', (root) => {
    const path = `qemu-11.1/${root}`;
    const reference = DIGESTS.find((d) => d.rules === '10.2' && d.corpus === '11.1' && d.root === root)!;

    it("has 10.2's entity model and one doc block per doc comment, in 11.1's format", () => {
      const v111 = run('dump', path);
      const v102 = run('dump', path, '--qemu-version', '10.2');
      expect(v111.status).toBe(0);
      expect(v102.status).toBe(0);
      expect(sha256(v102.out)).toBe(reference.sha256); // 10.2's side is QEMU's own
      expect(entityPart(v111.out)).toBe(entityPart(v102.out));
      const docHeads = (dump: string) => dump.split('\n').filter((l) => /^doc /.test(l));
      expect(docHeads(v111.out)).toEqual(docHeads(v102.out));
      // Definition docs open with their intro; free-form ones are one plain section.
      expect(v111.out).not.toMatch(/^ {4}(body|arg|feature|section)=/m);
      expect(v111.out.match(/^doc symbol=.*\n {4}Intro\n/gm)?.length).toBe(
        docHeads(v111.out).filter((l) => l.startsWith('doc symbol=')).length,
      );
    });
  });

  it("QEMU 10.2's rules reject 10.0's own schema for doc layout only, and the error says so", () => {
    const strict = run('check', 'qemu-10.0/qapi/qapi-schema.json', '--qemu-version', '10.2');
    expect(strict.status).toBe(1);
    expect(strict.err).toMatch(/: documentation line longer than 70 characters\n/);
    expect(strict.err).toContain("only doc comments break QEMU 10.2's doc rules: it checks with --qemu-version 10.0");
    expect(strict.err).toContain('--lenient-docs');
  });

  it.each(['10.0', '11.1'])("QEMU 7.2's rules refuse qemu-%s's schema for its newer pragma", (release) => {
    const { status, err } = run(
      'check',
      `qemu-${release}/qga/qapi-schema.json`,
      '--lenient-docs',
      '--qemu-version',
      '7.2',
    );
    expect(status).toBe(1);
    expect(err).toBe("qapi-schema.json:29: unknown pragma 'documentation-exceptions'\n");
  });

  it("qemu-7.2/docs/interop/firmware.json fails with QEMU's missing-include error", () => {
    const { status, out, err } = run(
      'check',
      'qemu-7.2/docs/interop/firmware.json',
      '--lenient-docs',
      '--qemu-version',
      '7.2',
    );
    expect(status).toBe(1);
    expect(out).toBe('');
    expect(err).toBe("firmware.json:17: can't read include file 'machine.json': No such file or directory\n");
  });
});
