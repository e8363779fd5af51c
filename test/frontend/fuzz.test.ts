/**
 * Robustness: mutate QEMU's conformance schemas at random (fixed seed) and
 * require that every run ends either with a checked model or with a
 * QapiError that carries a source location — never another exception,
 * never a hang. Mutations take turns at every release's rules (QEMU 7.2's
 * doc parser included), strict and lenient.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { QapiError } from '../../src/frontend/errors.js';
import { dumpSchema } from '../../src/frontend/dump.js';
import { sharedDir } from '../helpers/shared.js';

const MUTATIONS = 10_000;
const SEED = 0x9e3779b9;
const BATCHES = 10;
/** Each mutation is read with one of these rule sets, strictly or leniently. */
const RULE_SETS = ['7.2', '10.0', '10.2', '11.1'] as const;

/** mulberry32: small, fast, good enough for picking mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fragments that are meaningful to the QAPI lexer, parser and checker. */
const FRAGMENTS = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  "'",
  '"',
  '#',
  '##',
  '\n',
  '\n##\n',
  ' ',
  '\\',
  '\\u00e9',
  "'struct'",
  "'union'",
  "'enum'",
  "'alternate'",
  "'command'",
  "'event'",
  "'include'",
  "'pragma'",
  "'data'",
  "'base'",
  "'discriminator'",
  "'returns'",
  "'boxed'",
  "'if'",
  "'features'",
  "'type'",
  "'str'",
  "'int'",
  "'any'",
  "'null'",
  "'QType'",
  "'q_empty'",
  "'*opt'",
  'true',
  'false',
  'null',
  '0',
  '1.5',
  "{ 'all': [] }",
  "{ 'not': 'X' }",
  "['int']",
  "'__proto__'",
  "'constructor'",
  '# @arg:',
  '# Since: 1',
  '# Returns: x',
  '# Features:',
  '# @deprecated:',
  '# = Head',
  '\t',
  '\u0000',
  '\ud800',
  "'a'".repeat(3),
  '['.repeat(200),
  '{'.repeat(200),
];

type Mutator = (text: string, rand: () => number) => string;

const pick = <T>(items: readonly T[], rand: () => number): T => items[Math.floor(rand() * items.length)] as T;
const at = (text: string, rand: () => number) => Math.floor(rand() * (text.length + 1));

const MUTATORS: Mutator[] = [
  // delete a short range
  (t, r) => {
    const i = at(t, r);
    return t.slice(0, i) + t.slice(i + 1 + Math.floor(r() * 8));
  },
  // insert a fragment
  (t, r) => {
    const i = at(t, r);
    return t.slice(0, i) + pick(FRAGMENTS, r) + t.slice(i);
  },
  // replace a quoted string with a fragment
  (t, r) => {
    const quoted = [...t.matchAll(/'[^'\n]*'/g)];
    if (quoted.length === 0) return t;
    const m = pick(quoted, r);
    return t.slice(0, m.index) + pick(FRAGMENTS, r) + t.slice(m.index + m[0].length);
  },
  // swap two quoted strings
  (t, r) => {
    const quoted = [...t.matchAll(/'[^'\n]*'/g)];
    if (quoted.length < 2) return t;
    const a = pick(quoted, r);
    const b = pick(quoted, r);
    if (a.index === b.index) return t;
    const [x, y] = a.index < b.index ? [a, b] : [b, a];
    return t.slice(0, x.index) + y[0] + t.slice(x.index + x[0].length, y.index) + x[0] + t.slice(y.index + y[0].length);
  },
  // duplicate, drop or move a line
  (t, r) => {
    const lines = t.split('\n');
    const i = Math.floor(r() * lines.length);
    const j = Math.floor(r() * lines.length);
    const op = r();
    if (op < 0.34) lines.splice(j, 0, lines[i] ?? '');
    else if (op < 0.67) lines.splice(i, 1);
    else {
      const [line] = lines.splice(i, 1);
      lines.splice(j, 0, line ?? '');
    }
    return lines.join('\n');
  },
  // truncate
  (t, r) => t.slice(0, at(t, r)),
  // flip one character to a random code point
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + String.fromCharCode(Math.floor(r() * 0x80)) + t.slice(i + 1);
  },
];

function mutate(text: string, rand: () => number): string {
  let out = text;
  const rounds = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < rounds; k++) out = pick(MUTATORS, rand)(out, rand);
  return out;
}

const conformance = sharedDir('conformance/qemu-10.0');

describe.skipIf(conformance === null)('fuzzing the frontend with mutated schemas', () => {
  let work = '';
  let cases: string[] = [];
  const originals = new Map<string, string>();

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'qapi-ts-fuzz-'));
    cpSync(conformance!, work, { recursive: true });
    cases = readFileSync(join(work, 'TESTS'), 'utf8')
      .split(/\s+/)
      .filter((n) => n !== '')
      .map((n) => (n.endsWith('.json') ? n : `${n}.json`));
    // Every schema file may be mutated: the cases and the files they include.
    const others = readdirSync(work).filter((n) => n.endsWith('.json') && !cases.includes(n));
    const included = readdirSync(join(work, 'include')).filter((n) => n.endsWith('.json'));
    for (const name of [...cases, ...others, ...included.map((n) => `include/${n}`)]) {
      if (!existsSync(join(work, name))) continue; // e.g. the missing-schema case
      originals.set(name, readFileSync(join(work, name), 'utf8'));
    }
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const perBatch = MUTATIONS / BATCHES;
  for (let batch = 0; batch < BATCHES; batch++) {
    it(`batch ${batch + 1}/${BATCHES}: ${perBatch} mutations end in a model or a located error`, () => {
      const rand = prng(SEED + batch);
      const names = [...originals.keys()];
      const mains = cases.filter((n) => originals.has(n));
      let models = 0;
      let errors = 0;
      for (let n = 0; n < perBatch; n++) {
        // Mostly mutate a test case; sometimes a file it includes.
        const target = pick(names, rand);
        const original = originals.get(target)!;
        const mutated = mutate(original, rand);
        const main = cases.includes(target) ? target : pick(mains, rand);
        writeFileSync(join(work, target), mutated);
        const started = performance.now();
        try {
          const schema = parseSchema(join(work, main), {
            qemuVersion: RULE_SETS[n % RULE_SETS.length],
            lenientDocs: n % (2 * RULE_SETS.length) >= RULE_SETS.length,
            onWarning: () => {},
          });
          dumpSchema(schema);
          models++;
        } catch (err) {
          if (!(err instanceof QapiError)) {
            const rules = RULE_SETS[n % RULE_SETS.length];
            throw new Error(
              `mutation ${batch}:${n} of ${target} (main ${main}, rules ${rules}) threw a non-QAPI error: ` +
                `${(err as Error)?.stack ?? String(err)}\n--- mutated text ---\n${mutated.slice(0, 2000)}`,
              { cause: err },
            );
          }
          expect(err.info, `error without location: ${err.message}`).not.toBeNull();
          errors++;
        } finally {
          writeFileSync(join(work, target), original);
        }
        const elapsed = performance.now() - started;
        if (elapsed > 2000) {
          throw new Error(`mutation ${batch}:${n} of ${target} took ${elapsed.toFixed(0)} ms`);
        }
      }
      expect(models + errors).toBe(perBatch);
      // Both outcomes must occur, or the mutations are not exercising much.
      expect(errors).toBeGreaterThan(0);
    });
  }
});
