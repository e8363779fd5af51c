/**
 * The schema model and its API on small inline schemas of our own: what
 * the checker builds (implicit types, branches, modules), how visitors
 * walk it, lenient doc mode, and the CLI's own behaviour. QEMU's test
 * suite (conformance.test.ts) covers the error messages at large.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFrontendCommand } from '../../src/cli/frontend-commands.js';
import {
  cName,
  dumpSchema,
  entitiesOfKind,
  formatIfCond,
  parseSchema,
  parseSchemaString,
  QapiError,
  DEFAULT_QEMU_VERSION,
  qemuVersionProblem,
  type SchemaEntity,
  type SchemaObjectType,
  type SchemaVisitor,
} from '../../src/frontend/index.js';
import { CapturedIO } from '../helpers/cli.js';

/** The message of the QapiError that checking `text` throws. */
function errorOf(text: string, options = {}): string {
  try {
    parseSchemaString(text, 'test.json', options);
  } catch (err) {
    expect(err).toBeInstanceOf(QapiError);
    return (err as QapiError).message;
  }
  throw new Error('schema unexpectedly valid');
}

function objectType(schema: ReturnType<typeof parseSchemaString>, name: string): SchemaObjectType {
  const t = schema.lookupType(name);
  if (!t || (t.meta !== 'struct' && t.meta !== 'union')) throw new Error(`${name} is not an object type`);
  return t;
}

describe('model building', () => {
  const schema = parseSchemaString(
    `{ 'enum': 'Kind', 'data': [ 'a', 'b', { 'name': 'c', 'if': 'HAVE_C' } ] }
{ 'struct': 'Base', 'data': { 'kind': 'Kind', '*id': 'str' } }
{ 'struct': 'Item', 'data': { 'x': 'int' } }
{ 'union': 'Uni', 'base': 'Base', 'discriminator': 'kind', 'data': { 'a': 'Item' } }
{ 'union': 'Vee', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind', 'data': {} }
{ 'command': 'do-it', 'data': { 'list': ['Item'], '*flag': 'bool' }, 'returns': 'Item',
  'features': [ 'unstable' ] }
{ 'event': 'DONE', 'data': 'Item' }
`,
  );

  it('defines built-ins, their arrays, q_empty and QType first', () => {
    const builtin = schema.entities.filter((e) => e.module === './builtin').map((e) => e.name);
    expect(builtin.slice(0, 4)).toEqual(['str', 'strList', 'number', 'numberList']);
    expect(builtin).toContain('q_empty');
    expect(builtin).toContain('QType');
    expect(schema.lookupType('QType')?.isImplicit()).toBe(true);
  });

  it('gives a struct its base members first, then its own', () => {
    const u = objectType(schema, 'Uni');
    expect(u.meta).toBe('union');
    expect(u.base?.name).toBe('Base');
    expect(u.members.map((m) => [m.name, m.definedIn, m.optional])).toEqual([
      ['kind', 'Base', false],
      ['id', 'Base', true],
    ]);
  });

  it('fills in q_empty branches for enum values without one, keeping their conditions', () => {
    const u = objectType(schema, 'Uni');
    expect(u.branches?.tagMember.name).toBe('kind');
    expect(u.branches?.variants.map((v) => [v.name, v.type.name, v.ifcond.ifcond])).toEqual([
      ['a', 'Item', null],
      ['b', 'q_empty', null],
      ['c', 'q_empty', 'HAVE_C'],
    ]);
  });

  it('makes implicit types for inline bases and arguments', () => {
    const v = objectType(schema, 'Vee');
    expect(v.base?.name).toBe('q_obj_Vee-base');
    expect(v.base?.isImplicit()).toBe(true);
    const cmd = schema.lookupEntity('do-it');
    expect(cmd?.meta).toBe('command');
    if (cmd?.meta !== 'command') return;
    expect(cmd.argType?.name).toBe('q_obj_do-it-arg');
    expect(cmd.argType?.members.map((m) => `${m.name}:${m.type.name}`)).toEqual(['list:ItemList', 'flag:bool']);
    expect(cmd.retType?.name).toBe('Item');
    expect(cmd.features.map((f) => [f.name, f.isSpecial()])).toEqual([['unstable', true]]);
  });

  it("makes array types on first use, in the element type's module", () => {
    const list = schema.lookupType('ItemList');
    expect(list?.meta).toBe('array');
    if (list?.meta !== 'array') return;
    expect(list.elementType.name).toBe('Item');
    expect(list.module).toBe('schema.json');
    expect(list.isImplicit()).toBe(true);
  });

  it('looks up types and entities by name', () => {
    expect(schema.lookupType('do-it')).toBeUndefined();
    expect(schema.lookupEntity('do-it')?.name).toBe('do-it');
    expect(schema.lookupType('nope')).toBeUndefined();
  });
});

describe('visiting', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qapi-ts-schema-'));
    writeFileSync(join(dir, 'main.json'), `{ 'include': 'sub.json' }\n{ 'struct': 'Top', 'data': { 'o': ['One'] } }\n`);
    writeFileSync(join(dir, 'sub.json'), `{ 'struct': 'One', 'data': {} }\n{ 'command': 'go' }\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("visits modules in order, each module's entities in definition order", () => {
    const schema = parseSchema(join(dir, 'main.json'));
    const seen: string[] = [];
    const visitor: SchemaVisitor = {
      visitBegin: () => seen.push('begin'),
      visitModule: (name) => seen.push(`module ${name}`),
      visitNeeded: (e: SchemaEntity) => e.module !== './builtin',
      visitInclude: (e) => seen.push(`include ${e.name}`),
      visitObjectType: (e) => seen.push(`object ${e.name}`),
      visitArrayType: (e) => seen.push(`array ${e.name}`),
      visitCommand: (e) => seen.push(`command ${e.name}`),
      visitEnd: () => seen.push('end'),
    };
    schema.visit(visitor);
    expect(seen).toEqual([
      'begin',
      'module ./builtin',
      'module main.json',
      'include sub.json',
      'object Top',
      'module sub.json',
      'object One',
      'command go',
      // defined where Top first used it, placed with its element type
      'array OneList',
      'end',
    ]);
    expect(schema.modules).toEqual(['./builtin', 'main.json', 'sub.json']);
    expect(entitiesOfKind(schema, 'command').map((c) => c.name)).toEqual(['go']);
  });
});

describe('semantic errors', () => {
  it('reports a redefinition with both locations', () => {
    expect(errorOf("{ 'struct': 'Sx', 'data': {} }\n{ 'enum': 'Sx', 'data': [] }\n")).toBe(
      "test.json: In enum 'Sx':\ntest.json:2: 'Sx' is already defined\n" +
        "test.json: In struct 'Sx':\ntest.json:1: previous definition",
    );
  });

  it('reports a redefined built-in by its description', () => {
    expect(errorOf("{ 'struct': 'QType', 'data': {} }\n")).toBe(
      "test.json: In struct 'QType':\ntest.json:1: enum type 'QType' is already defined",
    );
  });

  it('finds structs that contain themselves through a base', () => {
    expect(
      errorOf("{ 'struct': 'Ay', 'base': 'Be', 'data': {} }\n{ 'struct': 'Be', 'base': 'Ay', 'data': {} }\n"),
    ).toBe("test.json: In struct 'Ay':\ntest.json:1: object Ay contains itself");
  });

  it('judges clashes by C name', () => {
    expect(
      errorOf(
        "{ 'pragma': { 'member-name-exceptions': [ 'Sx' ] } }\n" +
          "{ 'struct': 'Bx', 'data': { 'a-b': 'int' } }\n{ 'struct': 'Sx', 'base': 'Bx', 'data': { 'a_b': 'str' } }\n",
      ),
    ).toBe("test.json: In struct 'Sx':\ntest.json:3: member 'a_b' collides with member 'a-b' of type 'Bx'");
  });

  it('limits the schema to 64 features, special ones included', () => {
    const features = Array.from({ length: 63 }, (_, i) => `'f${i}'`).join(', ');
    expect(errorOf(`{ 'command': 'c', 'features': [ ${features} ] }\n`)).toBe(
      "test.json: In command 'c':\ntest.json:1: Maximum of 64 schema features is permitted",
    );
    const fewer = Array.from({ length: 62 }, (_, i) => `'f${i}'`).join(', ');
    expect(() => parseSchemaString(`{ 'command': 'c', 'features': [ ${fewer} ] }\n`, 'test.json')).not.toThrow();
  });

  it('rejects arrays of arrays with a located error (QEMU stops on an assertion)', () => {
    expect(errorOf("{ 'struct': 'Sx', 'data': { 'a': ['int'], 'b': ['intList'] } }\n")).toBe(
      "test.json: In struct 'Sx':\ntest.json:1: arrays of arrays are not supported: ['intList']",
    );
  });

  it('reports bases nested too deeply to check instead of crashing', () => {
    const n = 30_000;
    const lines = [`{ 'struct': 'Sx${n}', 'data': {} }`];
    for (let i = 0; i < n; i++) lines.push(`{ 'struct': 'Sx${i}', 'base': 'Sx${i + 1}', 'data': {} }`);
    expect(errorOf(lines.join('\n') + '\n')).toBe(
      "test.json: In struct 'Sx0':\ntest.json:2: struct type 'Sx0' is nested too deeply to check",
    );
  });

  it('treats an empty type name for data, returns or base as none, as QEMU does', () => {
    const schema = parseSchemaString(
      "{ 'command': 'cmd', 'data': '', 'returns': '' }\n{ 'struct': 'Sx', 'base': '', 'data': {} }\n",
    );
    const cmd = schema.lookupEntity('cmd');
    expect(cmd?.meta === 'command' && [cmd.argType, cmd.retType]).toEqual([null, null]);
    expect(objectType(schema, 'Sx').base).toBeNull();
  });

  it('never leaves a member without its type', () => {
    expect(errorOf("{ 'command': 'c', 'data': { 'x': 'Nope' } }\n")).toBe(
      "test.json: In command 'c':\ntest.json:1: parameter 'x' uses unknown type 'Nope'",
    );
  });
});

describe('lenient doc mode', () => {
  const text = `{ 'pragma': { 'doc-required': true } }
##
# @Sx:
#
# @a: the a
# @zz: not there
##
{ 'struct': 'Sx', 'data': { 'a': 'int', 'b': 'str' } }
{ 'enum': 'Ee', 'data': [ 'x' ] }
`;

  it('is strict by default', () => {
    expect(errorOf(text)).toBe("test.json: In enum 'Ee':\ntest.json:9: documentation comment required");
  });

  it('turns doc problems into warnings and builds the whole model', () => {
    const warnings: string[] = [];
    const schema = parseSchemaString(text, 'test.json', { lenientDocs: true, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([
      "test.json: In enum 'Ee':\ntest.json:9: warning: documentation comment required",
      "test.json: In struct 'Sx':\ntest.json:8: warning: member 'b' lacks documentation",
      "test.json:6: warning: documented member 'zz' does not exist",
    ]);
    expect(schema.warnings).toEqual(warnings);
    expect(objectType(schema, 'Sx').members.map((m) => m.name)).toEqual(['a', 'b']);
    expect(schema.lookupType('Ee')?.meta).toBe('enum');
  });
});

describe('cName', () => {
  it.each([
    ['a-b', 'a_b', 'a_b'],
    ['__a.b_c', '__a_b_c', '__a_b_c'],
    ['int', 'q_int', 'int'],
    ['unix', 'q_unix', 'unix'],
    ['1x', 'q_1x', '1x'],
    ['Camel', 'Camel', 'Camel'],
    ['a\u{1F4A9}b', 'a_b', 'a_b'],
  ])('%s → %s (unprotected %s)', (name, protectedName, plain) => {
    expect(cName(name)).toBe(protectedName);
    expect(cName(name, false)).toBe(plain);
  });
});

describe('dump', () => {
  it('prints conditions as Python prints them', () => {
    expect(formatIfCond('CONFIG_A')).toBe('CONFIG_A');
    expect(formatIfCond({ all: ['CONFIG_A', { not: 'CONFIG_B' }] })).toBe("{'all': ['CONFIG_A', {'not': 'CONFIG_B'}]}");
    expect(formatIfCond({ any: [{ all: ['A', 'B'] }, 'C'] })).toBe("{'any': [{'all': ['A', 'B']}, 'C']}");
  });

  const QTYPE_PREFIXED = 'enum QType\n    prefix QTYPE\n    member none\n';

  it('models the QType enum as the named QEMU release does: prefix QTYPE up to 9.1, none from 9.2', () => {
    const text = "{ 'struct': 'Sx', 'data': {} }\n";
    const dump = (qemuVersion?: string) => dumpSchema(parseSchemaString(text, 'schema.json', { qemuVersion }));
    for (const v of ['7.2', '8.0', '8.2', '9.0', '9.1', '9.1.3']) expect(dump(v), v).toContain(QTYPE_PREFIXED);
    for (const v of ['9.2', '10.0', '10.1', '10.2.1', '11.0']) {
      expect(dump(v), v).toContain('enum QType\n    member none\n');
      expect(dump(v), v).not.toContain('prefix QTYPE');
    }
    expect(parseSchemaString(text, 'schema.json', { qemuVersion: '8.2.7' }).qemuVersion).toBe('8.2');
  });

  it("applies QEMU 11.1's rules by default, whatever the doc comments look like", () => {
    // Old-style Note:/Example: sections do not date a schema: QEMU 10.0
    // still ships files that use them.
    const doc = (section: string) =>
      `##\n# @Sx:\n#\n# Some struct.\n#\n${section}# Since: 1.0\n##\n{ 'struct': 'Sx', 'data': {} }\n`;
    const lenient = { lenientDocs: true, onWarning: () => {} };
    for (const section of ['# Example:\n#\n#     -> { "execute": "x" }\n#\n', '# Note: this is old style.\n#\n', '']) {
      const schema = parseSchemaString(doc(section), 'schema.json', lenient);
      expect(schema.qemuVersion).toBe(DEFAULT_QEMU_VERSION);
      expect(DEFAULT_QEMU_VERSION).toBe('11.1');
      expect(schema.rules.ruleSet).toBe('11.1');
      expect(dumpSchema(schema)).not.toContain('prefix QTYPE');
      expect(dumpSchema(schema)).toContain('doc symbol=Sx\n    Intro\n');
      expect(dumpSchema(parseSchemaString(doc(section), 'schema.json', { ...lenient, qemuVersion: '9.1' }))).toContain(
        QTYPE_PREFIXED,
      );
    }
  });

  it.each(['auto', '', '10', '7.1', '6.2', '9.9', '10.3', '9.1.50', '9.1.90', '10.0.0.1', ' 10.0', 'v10.0', '010.0'])(
    'refuses qemuVersion %j with a RangeError naming it',
    (v) => {
      expect(() => parseSchemaString("{ 'struct': 'Sx', 'data': {} }\n", 'schema.json', { qemuVersion: v })).toThrow(
        new RangeError(`qapi-ts: qemuVersion ${qemuVersionProblem(v)}`),
      );
      expect(qemuVersionProblem(v)).toContain(`'${v}' is not a QEMU release`);
    },
  );
});

describe('check and dump commands', () => {
  function run(command: 'check' | 'dump', ...argv: string[]) {
    const io = new CapturedIO();
    const status = runFrontendCommand(command, argv, io);
    return { status, out: io.out, err: io.err };
  }

  it('prints help on stdout', () => {
    const r = run('check', '--help');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^usage: qapi-ts check /);
    expect(r.out).toContain('--lenient-docs');
  });

  it('rejects bad usage with status 2', () => {
    expect(run('dump').status).toBe(2);
    expect(run('dump', 'a.json', 'b.json').status).toBe(2);
    expect(run('dump', '--bogus', 'a.json').status).toBe(2);
    for (const v of ['9.9', 'auto']) {
      const r = run('check', '--qemu-version', v, 'a.json');
      expect(r.status).toBe(2);
      expect(r.err).toBe(
        `qapi-ts check: --qemu-version: '${v}' is not a QEMU release from 7.2 on (MAJOR.MINOR, e.g. 10.0 or 11.1) ` +
          "(see 'qapi-ts check --help')\n",
      );
    }
  });

  it('--qemu-version picks the model; the help names the default and where the models part', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-qv-'));
    const file = join(dir, 'schema.json');
    try {
      writeFileSync(file, "{ 'struct': 'Sx', 'data': {} }\n");
      expect(run('dump', '--qemu-version', '9.1', file).out).toContain('enum QType\n    prefix QTYPE\n');
      expect(run('dump', '--qemu-version', '9.2', file).out).not.toContain('prefix QTYPE');
      expect(run('dump', file).out).not.toContain('prefix QTYPE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const help = run('dump', '--help').out.replace(/\s+/g, ' ');
    expect(help).toContain('default 11.1, the newest known');
    expect(help).toContain('up to 9.1 the built-in QType enum has the prefix QTYPE');
  });

  it('reports an unreadable schema file as QEMU does, with nothing on stdout', () => {
    const r = run('dump', 'no-such-dir/no-such.json');
    expect(r).toEqual({
      status: 1,
      out: '',
      err: "can't read schema file 'no-such-dir/no-such.json': No such file or directory\n",
    });
  });
});
