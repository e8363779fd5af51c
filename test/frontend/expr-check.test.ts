/**
 * Context-free expression checks (expr-check.ts).
 *
 * cases/expr-check.json holds small schemas with the error QEMU 10.0's
 * parser + expression checker gives for each (or 'OK' and the normalised
 * expressions as JSON text, key order included).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DocDiagnostics, QapiError, QapiSemError } from '../../src/frontend/errors.js';
import { checkExprs } from '../../src/frontend/expr-check.js';
import { jsonObject, parseSchemaText } from '../../src/frontend/parser.js';
import { SourceInfo } from '../../src/frontend/source.js';

interface Case {
  name: string;
  schema: string;
  expected: string;
  normalized?: string;
}

const cases = JSON.parse(readFileSync(new URL('./cases/expr-check.json', import.meta.url), 'utf8')) as Case[];

function run(schema: string): { error: string } | { json: string } {
  try {
    const exprs = checkExprs(parseSchemaText(schema, 'case.json').exprs);
    return { json: JSON.stringify(exprs.map((e) => e.expr)) };
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    return { error: err.format() };
  }
}

describe('checkExprs', () => {
  it('has cases to run', () => {
    expect(cases.length).toBeGreaterThan(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = run(c.schema);
    if (c.expected === 'OK') {
      expect(result).toEqual({ json: c.normalized });
    } else {
      expect(result).toEqual({ error: c.expected });
    }
  });

  it('records the definition on the expression location', () => {
    const { exprs } = parseSchemaText("{ 'pragma': {} }\n{ 'event': 'EV' }\n", 'm.json', {});
    // include directives are passed over untouched
    const include = { expr: jsonObject(), info: new SourceInfo('m.json', null), doc: null };
    include.expr['include'] = 'whatever.json';
    expect(exprs).toHaveLength(1); // pragmas are applied, not returned
    const checked = checkExprs([include, ...exprs]);
    expect(checked[0]).toBe(include);
    expect(include.info.defnName).toBeNull();
    expect(checked[1]!.info.defnMeta).toBe('event');
    expect(checked[1]!.info.defnName).toBe('EV');
    expect(new QapiSemError(checked[1]!.info, 'x').format()).toBe("m.json: In event 'EV':\nm.json:2: x");
  });

  it('leniently detaches a doc written for another definition', () => {
    const warnings: string[] = [];
    const diag = new DocDiagnostics(true, (w) => warnings.push(w));
    const parsed = parseSchemaText("##\n# @Bar:\n##\n{ 'struct': 'Foo', 'data': {} }\n", 'd.json', diag);
    const [expr] = checkExprs(parsed.exprs, diag);
    expect(warnings).toEqual(["d.json: In struct 'Foo':\nd.json:4: documentation comment is for 'Bar'"]);
    expect(expr!.doc).toBeNull();
  });

  it('leniently lets a missing doc pass under doc-required', () => {
    const warnings: string[] = [];
    const parsed = parseSchemaText("{ 'pragma': { 'doc-required': true } }\n{ 'command': 'c' }\n", 'd.json');
    checkExprs(parsed.exprs, { lenientDocs: true, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual(["d.json: In command 'c':\nd.json:2: documentation comment required"]);
  });
});

describe('name checks on hostile names', () => {
  // The CamelCase rule as first written; it backtracks in quadratic time.
  const CAMEL_REFERENCE = /^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/;
  const VALID_NAME_REFERENCE = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;

  function typeNameError(name: string): string | null {
    const r = run(`{ 'struct': '${name}', 'data': {} }`);
    return 'error' in r ? r.error : null;
  }

  it('accepts and refuses type names exactly as the CamelCase rule says', () => {
    // Every name of up to 5 characters over an alphabet that covers each
    // class the rule distinguishes (prefixes and '-' are checked elsewhere).
    const alphabet = ['A', 'Z', 'a', 'z', '0', '9', '_'];
    const camel = "case.json: In struct '%': case.json:1: name of struct must use CamelCase";
    let names = [''];
    let checked = 0;
    for (let len = 1; len <= 5; len++) {
      names = names.flatMap((n) => alphabet.map((c) => n + c));
      for (const name of names) {
        const error = typeNameError(name);
        const stem = VALID_NAME_REFERENCE.exec(name)?.[3];
        const expected =
          stem !== undefined
            ? CAMEL_REFERENCE.test(stem)
              ? null
              : camel.replace('%', name).replace(': case', ':\ncase')
            : `case.json: In struct '${name}':\ncase.json:1: struct has an invalid name`;
        if (error !== expected) expect({ name, error }).toEqual({ name, error: expected });
        checked++;
      }
    }
    expect(checked).toBe(7 + 49 + 343 + 2401 + 16807);
  });

  it('checks a 100 KB type name in time proportional to its length', { timeout: 10_000 }, () => {
    // 'A' + 'a' * n + '_' made the old rule try every split of the a's:
    // this name took about 40 s (a 400 KB schema of such names, 108 s), and
    // the test timeout fails it; the rule now takes milliseconds.
    const n = 100_000;
    const name = `A${'a'.repeat(n)}_`;
    expect(typeNameError(name)).toBe(`case.json: In struct '${name}':\ncase.json:1: name of struct must use CamelCase`);
    expect(typeNameError(`A${'a'.repeat(n)}`)).toBeNull();
    expect(typeNameError(`A${'B'.repeat(n)}_`)).toContain('must use CamelCase');
  });
});
