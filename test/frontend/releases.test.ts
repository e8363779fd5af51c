/**
 * What each QEMU release's rules change (release.ts): which rule set a
 * release reads with, the doc-comment rules of 10.2/11.0 and 11.1 beyond
 * what their suites cover, QEMU 7.2's lenient recovery, the note for a
 * release newer than we know, and the hint when only doc comments fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFrontendCommand } from '../../src/cli/frontend-commands.js';
import { dumpSchema, parseSchemaString } from '../../src/frontend/index.js';
import { QapiError } from '../../src/frontend/errors.js';
import { DEFAULT_QEMU_VERSION, rulesFor } from '../../src/frontend/release.js';
import { DocBuilder } from '../../src/backends/docs.js';
import { BIN, CapturedIO, builtCli, runCli } from '../helpers/cli.js';

/** The error text for schema `text` under `version`'s rules, or 'OK'. */
function errorOf(text: string, version?: string): string {
  try {
    parseSchemaString(text, 'test.json', { qemuVersion: version });
    return 'OK';
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    return err.format();
  }
}

/** A command documented by `lines` (each without its '# '). */
function documented(lines: string[], def = "{ 'command': 'foo' }"): string {
  return `##\n${lines.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n')}\n##\n${def}\n`;
}

const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-releases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function run(command: 'check' | 'dump', ...argv: string[]) {
  const io = new CapturedIO();
  const status = runFrontendCommand(command, argv, io);
  return { status, out: io.out, err: io.err };
}

describe('rule sets', () => {
  it('maps every release to the rules of a release we reproduce', () => {
    const table: Record<string, string> = {
      '7.2': '7.2',
      '8.0': '7.2',
      '8.2.4': '7.2',
      '9.0': '10.0',
      '9.1': '10.0',
      '9.2': '10.0',
      '10.0': '10.0',
      '10.1': '10.0',
      '10.2': '10.2',
      '11.0': '10.2',
      '11.1': '11.1',
      '11.2': '11.1',
      '12.0': '11.1',
    };
    for (const [version, ruleSet] of Object.entries(table)) expect(rulesFor(version).ruleSet, version).toBe(ruleSet);
    expect(DEFAULT_QEMU_VERSION).toBe('11.1');
    expect(rulesFor().version).toBe('11.1');
    expect(rulesFor('11.1').newerThanKnown).toBe(false);
    expect(rulesFor('11.2').newerThanKnown).toBe(true);
    expect(rulesFor('12.0').version).toBe('12.0');
    expect(rulesFor('9.1').qtypePrefix).toBe('QTYPE');
    expect(rulesFor('9.2').qtypePrefix).toBeNull();
  });

  it("reads a release newer than 11.1 with 11.1's rules and says so once on stderr", () => {
    const path = file('newer.json', "{ 'struct': 'Sx', 'data': {} }\n");
    const first = run('dump', '--qemu-version', '12.0', path);
    expect(first.status).toBe(0);
    expect(first.err).toBe(
      "qapi-ts: note: QEMU 12.0 is newer than the newest release whose rules we know; reading with QEMU 11.1's rules\n",
    );
    expect(first.out).toBe(run('dump', path).out);
    expect(run('dump', '--qemu-version', '12.1', path).err).toBe(''); // once per process
  });

  it('refuses a release older than 7.2 as a usage error', () => {
    const r = run('check', '--qemu-version', '7.1', 'x.json');
    expect(r.status).toBe(2);
    expect(r.err).toContain("'7.1' is not a QEMU release from 7.2 on");
  });
});

describe('QEMU 10.2 doc rules (10.2, 11.0, 11.1)', () => {
  const long = 'x'.repeat(67); // '# ' + 67 + ':' = 70 columns
  it('limits lines to 70 columns, "# " included', () => {
    expect(errorOf(documented(['@foo:', '', `${long}:`]))).toBe('OK');
    expect(errorOf(documented(['@foo:', '', `${long}yz`]))).toBe(
      'test.json:4:1: documentation line longer than 70 characters',
    );
    // 10.0 has no limit; 11.0 reads with 10.2's rules
    expect(errorOf(documented(['@foo:', '', `${long}yz`]), '10.0')).toBe('OK');
    expect(errorOf(documented(['@foo:', '', `${long}yz`]), '11.0')).toContain('longer than 70');
  });

  it('exempts lines that are only a URL, and literal blocks up to their first de-indent', () => {
    const url = `https://example.org/${'a'.repeat(80)}`;
    expect(errorOf(documented(['@foo:', '', `    ${url}`]))).toBe('OK');
    expect(errorOf(documented(['@foo:', '', `see ${url}`]))).toContain('longer than 70');
    const literal = ['@foo:', '', 'Example::', '', `    ${long}${long}`, `    ${long}${long}`];
    expect(errorOf(documented(literal))).toContain('longer than 70'); // 'Example::' opens no block
    const block = ['@foo:', '', '::', '', `    ${long}${long}`, `    Two sentences. One space.`];
    expect(errorOf(documented(block))).toBe('OK');
    expect(errorOf(documented([...block, '', `${long}${long}`]))).toBe(
      'test.json:9:1: documentation line longer than 70 characters',
    );
    const qmp = ['@foo:', '', '.. qmp-example::', '', `   -> { "execute": "${long}" }`];
    expect(errorOf(documented(qmp))).toBe('OK');
  });

  it('wants two spaces between sentences, pointing at the single space', () => {
    expect(errorOf(documented(['@foo:', '', 'One sentence. Another one.']))).toBe(
      'test.json:4:16: Use two spaces between sentences\nIf this not the end of a sentence, please report a bug.',
    );
    for (const fine of [
      'One sentence.  Another one.',
      'See e.g. Foo for more',
      '1. First item',
      'Ends here.',
      'Lower. case',
    ]) {
      expect(errorOf(documented(['@foo:', '', fine])), fine).toBe('OK');
    }
    expect(errorOf(documented(['@foo:', '', 'One sentence. Another one.']), '10.1')).toBe('OK');
  });

  it("takes headings as rST text: '=' lines are no longer errors", () => {
    const freeform = '##\n# Title\n# =====\n#\n# = Not a heading any more\n##\n';
    // 10.0 takes the underline for a misplaced '=' heading
    expect(errorOf(freeform, '10.0')).toBe("test.json:3:1: '=' heading must come first in a comment block");
    expect(errorOf(freeform)).toBe('OK');
    const inDefinition = documented(['@foo:', '', '= Heading']);
    expect(errorOf(inDefinition, '10.0')).toBe("test.json:4:1: unexpected '=' markup in definition documentation");
    expect(errorOf(inDefinition, '10.2')).toBe('OK');
  });

  it("gives a command with a return type an empty 'Returns' section, where QEMU puts it", () => {
    const schema = (lines: string[], def: string) =>
      dumpSchema(
        parseSchemaString(
          "{ 'struct': 'Rx', 'data': {} }\n{ 'pragma': { 'documentation-exceptions': ['foo'] } }\n" +
            documented(lines, def),
          'test.json',
          { lenientDocs: true },
        ),
      ).split('doc symbol=foo\n')[1];
    // after the member descriptions (stubs included)
    expect(
      schema(
        ['@foo:', '', '@a: the a', '', 'Since: 1'],
        "{ 'command': 'foo', 'data': { 'a': 'int', 'b': 'int' }, 'returns': 'Rx' }",
      ),
    ).toBe('    Intro\n\n    Member=a\nthe a\n    Member=b\n\n    Returns\n\n    Since\n1\n');
    // else before the (last) 'Errors' section
    expect(schema(['@foo:', '', 'Errors: sometimes'], "{ 'command': 'foo', 'returns': 'Rx' }")).toBe(
      '    Intro\n\n    Returns\n\n    Errors\nsometimes\n',
    );
    // else before the last feature description
    expect(
      schema(
        ['@foo:', '', 'Features:', '@f1: one', '@f2: two'],
        "{ 'command': 'foo', 'returns': 'Rx', 'features': ['f1', 'f2'] }",
      ),
    ).toBe('    Intro\n\n    Feature=f1\none\n    Returns\n\n    Feature=f2\ntwo\n');
    // else right after the intro; none without a return type, none twice
    expect(schema(['@foo:', '', 'Since: 1'], "{ 'command': 'foo', 'returns': 'Rx' }")).toBe(
      '    Intro\n\n    Returns\n\n    Since\n1\n',
    );
    expect(schema(['@foo:', '', 'Since: 1'], "{ 'command': 'foo' }")).toBe('    Intro\n\n    Since\n1\n');
    expect(schema(['@foo:', '', 'Returns: an R'], "{ 'command': 'foo', 'returns': 'Rx' }")).toBe(
      '    Intro\n\n    Returns\nan R\n',
    );
  });
});

describe('QEMU 11.1 doc rules', () => {
  it('reads an overview indented under @NAME: as the intro, and paragraphs after it as plain sections', () => {
    const text = documented(
      ['@foo:', '    Does foo.', '    In two lines.', '', 'A paragraph.', '', '@a: the a'],
      "{ 'command': 'foo', 'data': { 'a': 'int' } }",
    );
    const schema = parseSchemaString(text, 'test.json');
    expect(dumpSchema(schema).split('doc symbol=foo\n')[1]).toBe(
      '    Intro\n    Does foo.\n    In two lines.\n    Plain\nA paragraph.\n    Member=a\nthe a\n',
    );
    // 10.2 has no intro: the indented lines are a paragraph of the body
    expect(dumpSchema(parseSchemaString(text, 'test.json', { qemuVersion: '10.2' })).split('doc symbol=foo\n')[1]).toBe(
      '    body=\n    Does foo.\n    In two lines.\n\nA paragraph.\n    arg=a\nthe a\n',
    );
  });

  it('still gives generated code a summary when the overview is a plain paragraph', () => {
    const text = documented(['@foo:', '', 'Does foo.', '', 'More.'], "{ 'command': 'foo' }");
    const doc = parseSchemaString(text, 'test.json').docs[0]!;
    expect(doc.body.kind).toBe('Intro');
    expect(new DocBuilder().summary(doc).render()).toBe('/** Does foo. */\n');
    const indented = parseSchemaString(documented(['@foo:', '    Does foo.'], "{ 'command': 'foo' }"), 'test.json')
      .docs[0]!;
    expect(new DocBuilder().summary(indented).render()).toBe('/** Does foo. */\n');
  });
});

describe('QEMU 7.2 rules, leniently', () => {
  it('reports each doc problem as a warning and keeps the text', () => {
    const warnings: string[] = [];
    const text = documented(
      ['@foo:', '', '@a:', '', 'Note:', '', 'Since: 1', 'Since: 2'],
      "{ 'command': 'foo', 'data': { 'a': 'int' } }",
    );
    const schema = parseSchemaString(text, 'test.json', {
      qemuVersion: '7.2',
      lenientDocs: true,
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings).toEqual([
      "test.json:6:1: warning: empty doc section 'a'",
      "test.json:8:1: warning: empty doc section 'Note'",
      "test.json:9:1: warning: duplicated 'Since' section",
    ]);
    expect(dumpSchema(schema).split('doc symbol=foo\n')[1]).toBe(
      '    body=\n\n    arg=a\n\n    section=Note\n\n    section=Since\n1\n    section=Since\n2\n',
    );
  });
});

describe('when only doc comments fail', () => {
  const longLine = documented(['@foo:', '', `${'x'.repeat(70)}`]);

  it('check names the rules applied and the release whose rules accept the schema', () => {
    const path = file('long.json', longLine);
    const r = run('check', path);
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      `${path}:4:1: documentation line longer than 70 characters\n` +
        "qapi-ts check: note: the definitions are valid; only doc comments break QEMU 11.1's doc rules: " +
        'it checks with --qemu-version 10.0; if it is written for that release, say so, ' +
        'or pass --lenient-docs to report doc problems as warnings\n',
    );
    expect(run('check', '--qemu-version', '11.0', path).err).toContain("break QEMU 10.2's (for 11.0) doc rules");
    expect(run('check', '--qemu-version', '10.0', path).status).toBe(0);
    // dump prints exactly what QEMU prints
    expect(run('dump', path).err).toBe(`${path}:4:1: documentation line longer than 70 characters\n`);
  });

  it('says nothing more when the definitions are invalid too, or no known rules accept the docs', () => {
    const broken = file('broken.json', longLine.replace("'foo' }", "'foo', 'data': 'Nope' }"));
    expect(run('check', '--lenient-docs', broken).err).not.toContain('note:');
    expect(run('check', broken).err).not.toContain('note:');
    const nowhere = file('nowhere.json', documented(['@foo:', '', '@bar: no such member']));
    const r = run('check', nowhere);
    expect(r.status).toBe(1);
    expect(r.err).toBe(`${nowhere}:4: documented member 'bar' does not exist\n`);
  });
});

describe.skipIf(!builtCli('src/cli/main.js', 'generate/verify --qemu-version'))('generate and verify', () => {
  it('take --qemu-version, refuse a bad one, and hint on doc-only failures', async () => {
    const path = file('gen.json', documented(['@foo:', '', `${'x'.repeat(70)}`]));
    const out = join(dir, 'out');
    const bad = await runCli(['generate', path, '-o', out, '--qemu-version', '6.2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--qemu-version: '6.2' is not a QEMU release from 7.2 on");
    const strict = await runCli(['generate', path, '-o', out, '--strict-docs', '-q']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('qapi-ts generate: note: the definitions are valid; only doc comments break');
    expect((await runCli(['generate', path, '-o', out, '--strict-docs', '-q', '--qemu-version', '10.0'])).code).toBe(0);
    const transcript = file('t.jsonl', '{"dir": "client", "msg": {"execute": "foo"}}\n');
    const verify = await runCli(['verify', '--strict-docs', '--schema', path, transcript]);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain('qapi-ts verify: note: the definitions are valid');
    const ok = await runCli(['verify', '--strict-docs', '--qemu-version', '10.0', '--schema', path, transcript]);
    expect(ok.stdout).toContain('1 messages, 1 valid, 0 invalid');
    expect(BIN).toBeTruthy();
  });
});
