/**
 * The schema parser (lexer, JSON values, directives, includes, pragmas)
 * and doc comments, strict and lenient. Expected texts follow QEMU 10.0's
 * frontend (checked against it while writing these cases).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QapiDoc, type QapiDocArgSection, type DocMember } from '../../src/frontend/doc.js';
import { DocDiagnostics, QapiError, QapiParseError, QapiSemError } from '../../src/frontend/errors.js';
import {
  MAX_INCLUDE_DEPTH,
  MAX_NESTING,
  MAX_SCHEMA_BYTES,
  parseSchemaFile,
  parseSchemaText,
  type ParseResult,
} from '../../src/frontend/parser.js';
import { SourceInfo } from '../../src/frontend/source.js';
import { checkExprs } from '../../src/frontend/expr-check.js';
import { sharedDir } from '../helpers/shared.js';
import { BIN, builtCli } from '../helpers/cli.js';

// These cases pin QEMU 10.0's rules (test/frontend/releases.test.ts covers
// what other releases do differently).
const V10 = { qemuVersion: '10.0' } as const;

/** QEMU's error for a doc section its newer doc syntax dropped. */
const NOTE_GONE =
  "The 'Note' section is no longer supported. Please use rST's '.. note::' or '.. admonition:: notes' directives, " +
  'or another suitable admonition instead.';
const exampleGone = (name: string): string =>
  `The '${name}' section is no longer supported. ` +
  "Please use the '.. qmp-example::' directive, or other suitable markup instead.";

function parse(src: string): ParseResult {
  return parseSchemaText(src, 'test.json', V10);
}

/** The error text QEMU would print for `src`, or 'OK'. */
function errorOf(src: string): string {
  try {
    parse(src);
    return 'OK';
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    return err.format();
  }
}

/** The error text for file `name` in `dir` (names shown relative to `dir`), or 'OK'. */
function fileErrorIn(dir: string, name: string): string {
  try {
    parseSchemaFile(join(dir, name), V10);
    return 'OK';
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    return err
      .format()
      .split(dir + '/')
      .join('');
  }
}

/** Parses leniently; returns the result and the warnings. */
function lenient(src: string): { result: ParseResult; warnings: string[] } {
  const warnings: string[] = [];
  const result = parseSchemaText(src, 'test.json', { ...V10, lenientDocs: true, onWarning: (w) => warnings.push(w) });
  return { result, warnings };
}

describe('SourceInfo', () => {
  it('formats location, definition and include chain like QEMU', () => {
    const top = new SourceInfo('main.json', null).nextLine(4);
    const sub = new SourceInfo('sub/a.json', top).nextLine(2);
    expect(sub.loc()).toBe('sub/a.json:3');
    expect(sub.toString()).toBe('In file included from main.json:5:\nsub/a.json:3');
    sub.setDefn('struct', 'Foo');
    expect(sub.toString()).toBe("In file included from main.json:5:\nsub/a.json: In struct 'Foo':\nsub/a.json:3");
    expect(sub.pragma).toBe(top.pragma);
    const next = sub.nextLine();
    expect(next.line).toBe(4);
    expect(sub.line).toBe(3);
    expect(next.pragma).toBe(sub.pragma);
  });

  it('parse errors add the column, semantic errors do not', () => {
    const info = new SourceInfo('x.json', null);
    expect(new QapiParseError(info, 'oops', 7).format()).toBe('x.json:1:7: oops');
    expect(new QapiSemError(info, 'oops').toString()).toBe('x.json:1: oops');
    expect(new QapiError(null, 'no place').format()).toBe('no place');
  });
});

describe('values', () => {
  it('reads objects, arrays, strings and booleans in source order', () => {
    const { exprs } = parse(
      "{ 'struct': 'A', 'data': { 'b': 'int', '2': ['x', true, false], '1': {}, 'a\\\\b': [] } }\n",
    );
    expect(exprs).toHaveLength(1);
    const expr = exprs[0]!.expr;
    expect(Object.getPrototypeOf(expr)).toBeNull();
    const data = expr['data'] as Record<string, unknown>;
    // index-like keys keep their place, unlike plain JavaScript objects
    expect(Object.keys(data)).toEqual(['b', '2', '1', 'a\\b']);
    expect(data['2']).toEqual(['x', true, false]);
    data['2'] = 'replaced';
    data['z'] = 'new';
    expect(Object.keys(data)).toEqual(['b', '2', '1', 'a\\b', 'z']);
  });

  it('treats __proto__ as an ordinary key', () => {
    const { exprs } = parse("{ 'struct': 'A', 'data': { '__proto__': 'int' } }");
    const data = exprs[0]!.expr['data'] as Record<string, unknown>;
    expect(Object.keys(data)).toEqual(['__proto__']);
    expect(data['__proto__']).toBe('int');
  });

  it('gives expressions on the same line the same location', () => {
    const { exprs } = parse("{ 'enum': 'A', 'data': [] } { 'enum': 'B', 'data': [] }\n\n{ 'enum': 'C', 'data': [] }");
    expect(exprs.map((e) => e.info.loc())).toEqual(['test.json:1', 'test.json:1', 'test.json:3']);
  });

  it('handles CR LF and lone CR as newlines', () => {
    expect(errorOf("{ 'enum': 'A',\r\n 'data': [] }\r\n\r\n@")).toBe("test.json:4:1: stray '@'");
    expect(errorOf('\r\r@')).toBe("test.json:3:1: stray '@'");
  });
});

describe('syntax errors', () => {
  const cases: Array<[string, string]> = [
    ["{ 'a': 1 }", "test.json:1:8: stray '1'"],
    ['   xyz{', "test.json:1:4: stray 'xyz'"],
    // QEMU's tab rule, (col + 7) % 8 + 1, moves the column only past column 8
    ["\t{ 'a' @", "test.json:1:7: stray '@'"],
    ["         \t{ 'a' @", "test.json:1:8: stray '@'"],
    ["{ 'a\n", `test.json:1:3: missing terminating "'"`],
    ["{ 'a\\n' }", 'test.json:1:3: unknown escape \\n'],
    ["{ 'a\u0001' }", 'test.json:1:3: funny character in string'],
    ["{ 'é' }", 'test.json:1:3: funny character in string'],
    ["\u{1F600}\u{1F600} 'a", "test.json:1:1: stray '\u{1F600}\u{1F600}'"],
    ["'\u{1F600}' : }", 'test.json:1:1: funny character in string'],
    ["{ 'a' 'b' }", "test.json:1:7: expected ':'"],
    ["{ 'a': 'b' 'c' }", "test.json:1:12: expected ',' or '}'"],
    ["{ 'a': 'b', }", 'test.json:1:13: expected string'],
    ["{ 'a': 'b', 'a': 'c' }", "test.json:1:18: duplicate key 'a'"],
    ['{ true: 1 }', "test.json:1:3: expected string or '}'"],
    ["{ 'a': [ 'b' 'c' ] }", "test.json:1:14: expected ',' or ']'"],
    ["{ 'a': [ : ] }", "test.json:1:10: expected '{', '[', ']', string, or boolean"],
    ["{ 'a': }", "test.json:1:8: expected '{', '[', string, or boolean"],
    ["{ 'a': [", "test.json:1:9: expected '{', '[', ']', string, or boolean"],
    ["['a']", 'test.json:1: top-level expression must be an object'],
    ["{ 'a': truex }", "test.json:1:12: stray 'x'"],
  ];
  it.each(cases)('%j', (src, expected) => {
    expect(errorOf(src)).toBe(expected);
  });

  it('refuses absurd nesting with a located error instead of overflowing', () => {
    const src = `{ 'a': ${'['.repeat(MAX_NESTING + 10)}`;
    expect(errorOf(src)).toBe(`test.json:1:${8 + MAX_NESTING - 1}: nesting too deep`);
  });
});

describe('directives', () => {
  it('checks include and pragma shapes', () => {
    expect(errorOf("{ 'include': 'a.json', 'x': 1 }")).toMatch(/stray/);
    expect(errorOf("{ 'include': 'a.json', 'x': 'y' }")).toBe("test.json:1: invalid 'include' directive");
    expect(errorOf("{ 'include': ['a.json'] }")).toBe("test.json:1: value of 'include' must be a string");
    expect(errorOf("{ 'pragma': {}, 'x': 'y' }")).toBe("test.json:1: invalid 'pragma' directive");
    expect(errorOf("{ 'pragma': 'x' }")).toBe("test.json:1: value of 'pragma' must be an object");
    expect(errorOf("{ 'pragma': { 'doc-required': 'yes' } }")).toBe(
      "test.json:1: pragma 'doc-required' must be boolean",
    );
    expect(errorOf("{ 'pragma': { 'command-name-exceptions': ['a', true] } }")).toBe(
      'test.json:1: pragma command-name-exceptions must be a list of strings',
    );
    expect(errorOf("{ 'pragma': { 'bogus': true } }")).toBe("test.json:1: unknown pragma 'bogus'");
  });

  it('stores pragmas in the object shared by the whole schema', () => {
    const { exprs } = parse(
      "{ 'pragma': { 'doc-required': true, 'member-name-exceptions': ['A'] } }\n" +
        "{ 'pragma': { 'command-returns-exceptions': ['c'], 'documentation-exceptions': ['D'] } }\n" +
        "{ 'pragma': { 'command-name-exceptions': ['x_y'] } }\n" +
        "{ 'enum': 'E', 'data': [] }",
    );
    const pragma = exprs[0]!.info.pragma;
    expect(pragma.docRequired).toBe(true);
    // Sets, not arrays: every definition looks itself up in them, and a
    // list of 40,000 names made that quadratic.
    expect(pragma.memberNameExceptions).toEqual(new Set(['A']));
    expect(pragma.commandReturnsExceptions).toEqual(new Set(['c']));
    expect(pragma.documentationExceptions).toEqual(new Set(['D']));
    expect(pragma.commandNameExceptions).toEqual(new Set(['x_y']));
  });

  it('applies a 40,000-name command-name-exceptions list to every command', () => {
    const n = 40_000;
    const names = Array.from({ length: n }, (_, i) => `cmd_${i}`);
    const src =
      `{ 'pragma': { 'command-name-exceptions': [${names.map((c) => `'${c}'`).join(', ')}] } }\n` +
      names.map((c) => `{ 'command': '${c}' }\n`).join('') +
      "{ 'command': 'not_listed' }\n";
    expect(() => checkExprs(parse(src).exprs)).toThrow(
      `test.json:${n + 2}: name of command must not use uppercase or '_'`,
    );
  });
});

describe('includes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-parser-'));
    mkdirSync(join(dir, 'sub'));
    const files: Record<string, string> = {
      'main.json': "{ 'include': 'sub/a.json' }\n{ 'include': 'b.json' }\n{ 'enum': 'Main', 'data': [] }\n",
      'sub/a.json': "# comment\n{ 'include': 'c.json' }\n{ 'pragma': { 'doc-required': true } }\n",
      'sub/c.json': "{ 'enum': 'C', 'data': [] }\n",
      'b.json': "{ 'include': 'sub/c.json' }\n{ 'enum': 'B', 'data': [] }\n",
      'loop.json': "{ 'include': 'loop2.json' }\n",
      'loop2.json': "\n{ 'include': 'loop.json' }\n",
      'self.json': "{ 'include': 'self.json' }\n",
      'missing.json': "\n\n{ 'include': 'nowhere.json' }\n",
      'dir.json': "{ 'include': 'sub' }\n",
      'badutf8.json': "{ 'include': 'latin1.json' }\n",
      'errsub.json': "{ 'include': 'sub/bad.json' }\n",
      'sub/bad.json': "{ 'enum': 'X', 'data': [] }\n{ 'enum': 'Y' 'data': [] }\n",
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'latin1.json'), Buffer.from([0x23, 0x20, 0xe9, 0x0a]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const fileError = (name: string): string => fileErrorIn(dir, name);

  it('includes relative to the including file, each file once', () => {
    const main = join(dir, 'main.json');
    const { exprs } = parseSchemaFile(main);
    const shown = exprs.map((e) => [e.info.fname.slice(dir.length + 1), e.info.line, JSON.stringify(e.expr)]);
    expect(shown).toEqual([
      ['main.json', 1, JSON.stringify({ include: join(dir, 'sub/a.json') })],
      ['sub/a.json', 2, JSON.stringify({ include: join(dir, 'sub/c.json') })],
      ['sub/c.json', 1, '{"enum":"C","data":[]}'],
      ['main.json', 2, JSON.stringify({ include: join(dir, 'b.json') })],
      // b.json includes sub/c.json again: the directive stays, the file is not re-read
      ['b.json', 1, JSON.stringify({ include: join(dir, 'sub/c.json') })],
      ['b.json', 2, '{"enum":"B","data":[]}'],
      ['main.json', 3, '{"enum":"Main","data":[]}'],
    ]);
    // the pragma in sub/a.json applies to the whole tree
    expect(exprs[6]!.info.pragma.docRequired).toBe(true);
    expect(exprs[2]!.info.includePath()).toBe(
      `In file included from ${dir}/main.json:1:\nIn file included from ${dir}/sub/a.json:2:\n`,
    );
  });

  it('reports loops, missing files and errors inside included files', () => {
    expect(fileError('loop.json')).toBe(
      'In file included from loop.json:1:\nloop2.json:2: inclusion loop for loop.json',
    );
    expect(fileError('self.json')).toBe('self.json:1: inclusion loop for self.json');
    expect(fileError('missing.json')).toBe(
      "missing.json:3: can't read include file 'nowhere.json': No such file or directory",
    );
    expect(fileError('dir.json')).toBe("dir.json:1: can't read include file 'sub': Is a directory");
    expect(fileError('badutf8.json')).toMatch(/^badutf8.json:1: can't read include file 'latin1.json': /);
    expect(fileError('errsub.json')).toBe(
      "In file included from errsub.json:1:\nsub/bad.json:2:15: expected ',' or '}'",
    );
    expect(fileError('absent.json')).toBe("can't read schema file 'absent.json': No such file or directory");
  });
});

describe('hostile files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-hostile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const fileError = (name: string): string => fileErrorIn(dir, name);

  /** Files c0.json … c{n-1}.json, each including the next; the last defines `last`. */
  function chain(prefix: string, n: number, last: string): void {
    for (let i = 0; i < n; i++) {
      const text = i < n - 1 ? `{ 'include': '${prefix}${i + 1}.json' }\n` : last;
      writeFileSync(join(dir, `${prefix}${i}.json`), text);
    }
  }

  it(`refuses includes nested more than ${MAX_INCLUDE_DEPTH} deep, naming the chain`, () => {
    chain('deep', 2500, "{ 'enum': 'Deepest', 'data': [] }\n");
    const err = fileError('deep0.json');
    const lines = err.split('\n');
    expect(lines).toHaveLength(MAX_INCLUDE_DEPTH + 1);
    expect(lines[0]).toBe('In file included from deep0.json:1:');
    expect(lines[MAX_INCLUDE_DEPTH - 1]).toBe(`In file included from deep${MAX_INCLUDE_DEPTH - 1}.json:1:`);
    expect(lines[MAX_INCLUDE_DEPTH]).toBe(
      `deep${MAX_INCLUDE_DEPTH}.json:1: includes nested too deeply (the limit is ${MAX_INCLUDE_DEPTH} levels)`,
    );
  });

  it(`reads includes exactly ${MAX_INCLUDE_DEPTH} deep, even with the deepest expressions at the bottom`, () => {
    const depth = MAX_NESTING - 4;
    const cond = `${"{ 'not': ".repeat(depth)}'bad'${' }'.repeat(depth)}`;
    chain('edge', MAX_INCLUDE_DEPTH + 1, `{ 'struct': 'Edge', 'data': { 'm': { 'type': 'int', 'if': ${cond} } } }\n`);
    const { exprs } = parseSchemaFile(join(dir, 'edge0.json'));
    expect(exprs).toHaveLength(MAX_INCLUDE_DEPTH + 1);
    expect(() => checkExprs(exprs)).toThrow("'if' condition 'bad' of 'data' member 'm' is not a valid identifier");
  });

  it(`refuses a schema of more than ${MAX_SCHEMA_BYTES / 1024 / 1024} MiB, in one file or in all`, () => {
    const tooLarge = `File too large (a schema may read at most ${MAX_SCHEMA_BYTES / 1024 / 1024} MiB in all)`;
    // Sparse: takes no disk space, and its zeros must not be read at all.
    writeFileSync(join(dir, 'huge.json'), '');
    truncateSync(join(dir, 'huge.json'), MAX_SCHEMA_BYTES + 1);
    writeFileSync(join(dir, 'inc-huge.json'), "\n{ 'include': 'huge.json' }\n");
    expect(fileError('inc-huge.json')).toBe(`inc-huge.json:2: can't read include file 'huge.json': ${tooLarge}`);
    expect(fileError('huge.json')).toBe(
      `can't read schema file '${join(dir, 'huge.json')}': ${tooLarge}`.split(dir + '/').join(''),
    );
    // Three files of 40% each: the third one is over the limit.
    const part = '\n'.repeat(Math.floor(MAX_SCHEMA_BYTES * 0.4));
    for (const name of ['p1', 'p2', 'p3']) writeFileSync(join(dir, `${name}.json`), part);
    writeFileSync(
      join(dir, 'parts.json'),
      "{ 'include': 'p1.json' }\n{ 'include': 'p2.json' }\n{ 'include': 'p3.json' }\n",
    );
    expect(fileError('parts.json')).toBe(`parts.json:3: can't read include file 'p3.json': ${tooLarge}`);
  });

  // Through the built CLI in a child process: were the file read, a FIFO
  // would block it and /dev/zero would fill its memory; the kill after
  // 10 s turns that into a failure instead of a hung test run.
  describe.skipIf(!builtCli('src/cli/main.js', 'hostile include tests through bin/qapi-ts'))(
    'that are not regular files',
    () => {
      function check(name: string): { status: number | null; stderr: string } {
        const run = spawnSync(process.execPath, [BIN, 'check', name], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 10_000,
          killSignal: 'SIGKILL',
        });
        return { status: run.status, stderr: run.stderr };
      }

      it('refuses /dev/zero, a FIFO and a directory, included or given, with a located error', () => {
        expect(spawnSync('mkfifo', [join(dir, 'fifo')]).status).toBe(0);
        mkdirSync(join(dir, 'folder'));
        const cases: Array<[string, string]> = [
          ['/dev/zero', 'Not a regular file (a character device)'],
          ['fifo', 'Not a regular file (a FIFO)'],
          ['folder', 'Is a directory'],
        ];
        for (const [target, reason] of cases) {
          writeFileSync(join(dir, 'inc.json'), `# hostile\n{ 'include': '${target}' }\n`);
          expect(check('inc.json'), target).toEqual({
            status: 1,
            stderr: `inc.json:2: can't read include file '${target}': ${reason}\n`,
          });
          expect(check(target), target).toEqual({
            status: 1,
            stderr: `can't read schema file '${target}': ${reason}\n`,
          });
        }
      });
    },
  );

  it('reads files that report no size (/proc) to their end', () => {
    writeFileSync(join(dir, 'proc.json'), "{ 'include': '/proc/self/status' }\n");
    expect(fileError('proc.json')).toMatch(
      /^In file included from proc\.json:1:\n\/proc\/self\/status:1:1: stray 'Name'$/,
    );
  });
});

describe('doc comments', () => {
  it('splits a definition doc into body, members, features and sections', () => {
    const { exprs, docs } = parse(
      [
        '##',
        '# = Heading',
        '##',
        '',
        '##',
        '# @Foo:',
        '#',
        '# Body text',
        '# goes on.',
        '#',
        '# @a: first',
        '#     continued',
        '#',
        '# @b:',
        '#     described below',
        '#',
        '# Features:',
        '#',
        '# @deprecated: do not use',
        '#',
        '# Plain paragraph.',
        '#',
        '# Since: 1.2',
        '#',
        '# TODO: later',
        '##',
        "{ 'struct': 'Foo', 'data': { 'a': 'int', 'b': 'str' } }",
      ].join('\n'),
    );
    expect(docs).toHaveLength(2);
    const [free, doc] = docs as [QapiDoc, QapiDoc];
    expect(free.symbol).toBeNull();
    expect(free.body.text).toBe('= Heading');
    expect(exprs[0]!.doc).toBe(doc);
    expect(doc.symbol).toBe('Foo');
    expect(doc.info.loc()).toBe('test.json:5');
    expect(doc.body.text).toBe('Body text\ngoes on.');
    expect(doc.body.info.loc()).toBe('test.json:8');
    expect([...doc.args.keys()]).toEqual(['a', 'b']);
    expect(doc.args.get('a')!.text).toBe('first\n    continued');
    // indentation of continuation lines is kept
    expect(doc.args.get('b')!.text).toBe('    described below');
    expect(doc.args.get('b')!.info.loc()).toBe('test.json:14');
    expect([...doc.features.keys()]).toEqual(['deprecated']);
    expect(doc.sections.map((s) => [s.kind, s.text])).toEqual([
      ['Plain', 'Plain paragraph.'],
      ['Since', '1.2'],
      ['Todo', 'later'],
    ]);
    expect(doc.since!.text).toBe('1.2');
    expect(doc.allSections.map((s) => s.kind)).toEqual([
      'Plain',
      'Member',
      'Member',
      'Feature',
      'Plain',
      'Since',
      'Todo',
    ]);
  });

  const DEF = "{ 'command': 'cmd' }";
  const errors: Array<[string, string[], string]> = [
    ['missing end', ['##', '# @cmd:'], "test.json:3:1: documentation comment must end with '##'"],
    ['junk at start', ['###', '# @cmd:', '##'], "test.json:1:1: junk after '##' at start of documentation comment"],
    ['junk at end', ['##', '# @cmd:', '## x'], "test.json:3:1: junk after '##' at end of documentation comment"],
    ['missing space', ['##', '#@cmd:', '##'], 'test.json:2:1: missing space after #'],
    ['no colon', ['##', '# @cmd', '##'], "test.json:2:1: line should end with ':'"],
    ['no name', ['##', '# @:', '##'], "test.json:2:1: name required after '@'"],
    ['Note', ['##', '# @cmd:', '# Note: x', '##'], `test.json:3:1: ${NOTE_GONE}`],
    ['Examples', ['##', '# @cmd:', '# Examples:', '##'], `test.json:3:1: ${exampleGone('Examples')}`],
    [
      'de-indent',
      ['##', '# @cmd:', '# @a: x', '#   y', '# z', '##'],
      'test.json:5:1: unexpected de-indent (expected at least 2 spaces)',
    ],
    [
      'Features twice',
      ['##', '# @cmd:', '# Features:', '# @f: x', '# Features:', '##'],
      "test.json:5:1: duplicated 'Features:' line",
    ],
    ['Features empty', ['##', '# @cmd:', '# Features:', '# x', '##'], 'test.json:4:1: feature descriptions expected'],
    [
      'arg after section',
      ['##', '# @cmd:', '# Since: 1', '# @a: x', '##'],
      "test.json:4:1: description of '@a:' follows a section",
    ],
    [
      '= in definition',
      ['##', '# @cmd:', '# = x', '##'],
      "test.json:3:1: unexpected '=' markup in definition documentation",
    ],
    ['empty section', ['##', '# @cmd:', '# Since:', '##'], "test.json:3: text required after 'Since:'"],
    ['empty member', ['##', '# @cmd:', '# @a:', '##'], "test.json:3: text required after 'Member:'"],
    [
      'duplicate section',
      ['##', '# @cmd:', '# Since: 1', '# Since: 2', '##'],
      "test.json:4: duplicated 'Since' section",
    ],
    ['duplicate member', ['##', '# @cmd:', '# @a: x', '# @a: y', '##'], "test.json:4: 'a' parameter name duplicated"],
    ['empty member name', ['##', '# @cmd:', '# @: x', '##'], 'test.json:3: invalid parameter name'],
  ];
  it.each(errors)('strict: %s', (_what, lines, expected) => {
    expect(errorOf([...lines, DEF].join('\n'))).toBe(expected);
  });

  it('strict: free-form problems and misplaced docs', () => {
    expect(errorOf('##\n# text\n# = Late heading\n##\n')).toBe(
      "test.json:3:1: '=' heading must come first in a comment block",
    );
    expect(errorOf('##\n# text\n# @a: x\n##\n')).toBe("test.json:3:1: '@a:' not allowed in free-form documentation");
    expect(errorOf(`##\n# free\n##\n${DEF}`)).toBe('test.json:1: definition documentation required');
    expect(errorOf("##\n# @cmd:\n##\n{ 'include': 'x.json' }")).toBe(
      "test.json:1: documentation for 'cmd' is not followed by the definition",
    );
    expect(errorOf('##\n# @cmd:\n##\n##\n# free\n##\n')).toBe(
      "test.json:1: documentation for 'cmd' is not followed by the definition",
    );
    expect(errorOf('##\n# @cmd:\n##\n')).toBe("test.json:1: documentation for 'cmd' is not followed by the definition");
  });

  it.each(errors)('lenient: %s becomes the same warning and parsing goes on', (_what, lines, expected) => {
    const { result, warnings } = lenient([...lines, DEF, "{ 'command': 'other' }"].join('\n'));
    expect(warnings).toContain(expected);
    expect(result.exprs.map((e) => e.expr['command'])).toEqual(['cmd', 'other']);
  });

  it('lenient: keeps unsupported sections as plain text', () => {
    const { result, warnings } = lenient(
      ['##', '# @cmd:', '#', '# Example:', '#', '# -> { "execute": "cmd" }', '##', DEF].join('\n'),
    );
    expect(warnings).toHaveLength(1);
    const doc = result.exprs[0]!.doc!;
    expect(doc.symbol).toBe('cmd');
    expect(doc.body.text).toBe('Example:\n\n-> { "execute": "cmd" }');
    expect(doc.sections).toEqual([]);
  });

  it('lenient: drops docs that do not fit and keeps the definitions', () => {
    const { result, warnings } = lenient(`##\n# free\n##\n${DEF}\n##\n# @x:\n##\n{ 'pragma': {} }`);
    expect(warnings).toEqual([
      'test.json:1: definition documentation required',
      "test.json:5: documentation for 'x' is not followed by the definition",
    ]);
    expect(result.exprs[0]!.doc).toBeNull();
  });

  it('lenient: a block missing its closing ## ends before the next token', () => {
    const { result, warnings } = lenient(`##\n# @cmd:\n${DEF}`);
    expect(warnings).toEqual(["test.json:3:1: documentation comment must end with '##'"]);
    expect(result.exprs).toHaveLength(1);
    expect(result.exprs[0]!.doc!.symbol).toBe('cmd');
  });

  it('lenient mode still rejects syntax errors', () => {
    expect(() => lenient("{ 'a' }")).toThrow(QapiParseError);
  });
});

describe('QapiDoc connecting members', () => {
  /** The doc of a struct S (or of `def`). */
  function docFor(src: string, def = "{ 'struct': 'S', 'data': {} }"): QapiDoc {
    return parse(`${src}${def}`).docs[0]!;
  }
  const info = new SourceInfo('m.json', null).nextLine(9);
  const member = (name: string, role = 'member'): DocMember => ({ name, role, info });

  it('connects documented members and features', () => {
    const doc = docFor('##\n# @S:\n# @a: x\n# Features:\n# @f: y\n##\n');
    doc.connectMember(member('a'));
    doc.connectFeature(member('f', 'feature'));
    expect(doc.args.get('a')!.member!.name).toBe('a');
    expect(() => doc.check()).not.toThrow();
  });

  it('reports undocumented and bogus names like QEMU', () => {
    const doc = docFor('##\n# @S:\n# @a: x\n# @b: y\n# Since: 1\n##\n');
    expect(() => doc.connectMember(member('c', 'value'))).toThrow("m.json:10: value 'c' lacks documentation");
    expect(() => doc.connectFeature(member('f', 'feature'))).toThrow("m.json:10: feature 'f' lacks documentation");
    expect(() => doc.check()).toThrow("test.json:3: documented members 'a', 'b' do not exist");
    doc.connectMember(member('a'));
    expect(() => doc.check()).toThrow("test.json:4: documented member 'b' does not exist");
  });

  it('inserts stubs for thousands of exempted members in linear time', () => {
    const { exprs } = parse(
      "{ 'pragma': { 'documentation-exceptions': ['S'] } }\n" +
        "##\n# @S:\n# @a: x\n# Since: 1\n##\n{ 'struct': 'S', 'data': {} }",
    );
    const doc = exprs[0]!.doc!;
    // Count how often the section list is looked at: finding the place
    // for each stub anew made 20,000 stubs cost 200 million looks.
    let reads = 0;
    const sections = doc.allSections;
    const counted = new Proxy(sections, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    Object.defineProperty(doc, 'allSections', { value: counted });
    const n = 20_000;
    for (let i = 0; i < n; i++) doc.connectMember({ name: `m${i}`, role: 'member', info: exprs[0]!.info });
    expect(reads).toBeLessThan(10 * n);
    expect(sections.length).toBe(n + 3);
    expect(sections.map((s) => s.kind).slice(-2)).toEqual(['Member', 'Since']);
    expect((sections[2] as QapiDocArgSection).name).toBe('m0');
    expect((sections[n + 1] as QapiDocArgSection).name).toBe(`m${n - 1}`);
  });

  it('inserts a stub for exempted members after the member descriptions', () => {
    const { exprs } = parse(
      "{ 'pragma': { 'documentation-exceptions': ['S'] } }\n" +
        "##\n# @S:\n# @a: x\n# Since: 1\n##\n{ 'struct': 'S', 'data': {} }",
    );
    const doc = exprs[0]!.doc!;
    doc.connectMember({ name: 'z', role: 'member', info: exprs[0]!.info });
    expect(doc.allSections.map((s) => s.kind)).toEqual(['Plain', 'Member', 'Member', 'Since']);
    expect(doc.args.get('z')!.member!.name).toBe('z');
  });

  it('checks sections against the definition kind', () => {
    const returns = docFor('##\n# @S:\n# Returns: x\n# Errors: y\n##\n');
    expect(() => returns.checkExpr({ struct: 'S' })).toThrow(
      "test.json:3: 'Returns' section is only valid for commands",
    );
    expect(() => returns.checkExpr({ command: 's' })).toThrow(
      "test.json:3: 'Returns' section, but command doesn't return anything",
    );
    expect(() => returns.checkExpr({ command: 's', returns: 'int' })).not.toThrow();
    const errs = docFor('##\n# @S:\n# Errors: y\n##\n');
    expect(() => errs.checkExpr({ enum: 'S' })).toThrow("test.json:3: 'Errors' section is only valid for commands");
  });

  it('lenient diagnostics collect warnings instead of throwing', () => {
    const seen: string[] = [];
    const diag = new DocDiagnostics(true, (w) => seen.push(w));
    const doc = new QapiDoc(info, 'S', diag);
    doc.connectMember(member('a'));
    doc.connectFeature(member('f', 'feature'));
    expect(seen).toEqual(["m.json:10: member 'a' lacks documentation", "m.json:10: feature 'f' lacks documentation"]);
    expect(diag.warnings).toEqual(seen);
  });
});

describe('robustness', () => {
  it('ends every random input in a result or a QapiError', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    const alphabet = [
      "'",
      '#',
      '##',
      '\n',
      '{',
      '}',
      '[',
      ']',
      ':',
      ',',
      '\\',
      '@a:',
      'Since:',
      'true',
      ' ',
      '\t',
      'x',
      '\u0000',
      '\ud800',
      'é',
    ];
    let errors = 0;
    for (let i = 0; i < 400; i++) {
      let src = '';
      for (let j = rnd(60); j > 0; j--) src += alphabet[rnd(alphabet.length)];
      for (const lenientDocs of [false, true]) {
        try {
          checkExprs(parseSchemaText(src, 'r.json', { lenientDocs }).exprs, { lenientDocs });
        } catch (err) {
          expect(err).toBeInstanceOf(QapiError);
          errors++;
        }
      }
    }
    expect(errors).toBeGreaterThan(100);
  });

  it('survives deeply nested conditions', () => {
    const depth = MAX_NESTING - 2;
    const src = `{ 'struct': 'Foo', 'data': {}, 'if': ${"{ 'not': ".repeat(depth)}'bad'${' }'.repeat(depth)} }`;
    expect(() => checkExprs(parse(src).exprs)).toThrow("'if' condition 'bad' of struct is not a valid identifier");
  });
});

describe("QEMU's real schemas (../shared/corpus)", () => {
  const corpus = sharedDir('corpus');
  // What QEMU 10.0's frontend says about each root schema (null: accepted)
  const roots: Array<[string, string | null]> = [
    ['qemu-10.0/qapi/qapi-schema.json', null],
    ['qemu-10.0/qga/qapi-schema.json', null],
    ['qemu-10.0/storage-daemon/qapi/qapi-schema.json', null],
    ['qemu-10.0/docs/interop/firmware.json', null],
    ['qemu-10.0/docs/interop/vhost-user.json', `vhost-user.json:246:1: ${exampleGone('Example')}`],
    ['qemu-7.2/qapi/qapi-schema.json', "qapi-schema.json:32:1: '=' heading must come first in a comment block"],
    ['qemu-7.2/qga/qapi-schema.json', `qapi-schema.json:427:1: ${NOTE_GONE}`],
    [
      'qemu-7.2/storage-daemon/qapi/qapi-schema.json',
      'In file included from qapi-schema.json:21:\nIn file included from ../../qapi/block-core.json:11:\n' +
        `../../qapi/sockets.json:103:1: ${NOTE_GONE}`,
    ],
    ['qemu-7.2/docs/interop/vhost-user.json', `vhost-user.json:246:1: ${exampleGone('Example')}`],
  ];
  const firmware72 = "firmware.json:17: can't read include file 'machine.json': No such file or directory";

  function check(file: string, lenientDocs: boolean): { count: number; warnings: string[] } {
    const warnings: string[] = [];
    const options = { ...V10, lenientDocs, onWarning: (w: string) => warnings.push(w) };
    const exprs = checkExprs(parseSchemaFile(file, options).exprs, options);
    return { count: exprs.length, warnings };
  }

  function errorText(file: string, lenientDocs: boolean): string | null {
    try {
      check(file, lenientDocs);
      return null;
    } catch (err) {
      if (!(err instanceof QapiError)) throw err;
      const dir = file.slice(0, file.lastIndexOf('/') + 1);
      return err.format().split(dir).join('');
    }
  }

  it.runIf(corpus).each(roots)('strict %s', (rel, expected) => {
    expect(errorText(join(corpus!, rel), false)).toBe(expected);
  });

  it.runIf(corpus).each(roots)('lenient %s parses completely', (rel, strictError) => {
    const { count, warnings } = check(join(corpus!, rel), true);
    expect(count).toBeGreaterThan(5);
    if (strictError) expect(warnings.length).toBeGreaterThan(0);
  });

  it.runIf(corpus)("7.2's firmware.json fails on its missing include either way", () => {
    const file = join(corpus!, 'qemu-7.2/docs/interop/firmware.json');
    expect(errorText(file, false)).toBe(firmware72);
    expect(errorText(file, true)).toBe(firmware72);
  });
});
