/**
 * The table of symbols generated code may import from `qapi-ts/support`
 * (SUPPORT_SYMBOLS) against the support module's real exports, and
 * against what the generators actually import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as support from '../../src/support/index.js';
import { SUPPORT_SYMBOLS } from '../../src/support/symbols.js';
import { repoRoot } from '../helpers/shared.js';

/** Names `src/support/index.ts` exports, read from its export declarations. */
function declaredExports(): Map<string, 'value' | 'type'> {
  const path = join(repoRoot, 'src/support/index.ts');
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest);
  const names = new Map<string, 'value' | 'type'>();
  for (const statement of file.statements) {
    if (!ts.isExportDeclaration(statement) || !statement.exportClause) continue;
    if (!ts.isNamedExports(statement.exportClause)) continue;
    for (const e of statement.exportClause.elements) {
      names.set(e.name.text, statement.isTypeOnly || e.isTypeOnly ? 'type' : 'value');
    }
  }
  return names;
}

const symbols = Object.entries(SUPPORT_SYMBOLS);

describe('SUPPORT_SYMBOLS', () => {
  it('lists only what the support module exports, as value or type', () => {
    const declared = declaredExports();
    for (const [name, kind] of symbols) {
      expect(declared.get(name), name).toBeDefined();
      // A value is there at run time; a type is not (and is declared as one).
      expect(Object.hasOwn(support, name), name).toBe(kind === 'value');
      if (kind === 'type') expect(declared.get(name), name).toBe('type');
    }
  });

  it('covers every name generated code imports from the support library', () => {
    const dir = join(repoRoot, 'generated');
    const imported = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/^import (?:type )?\{([^}]*)\} from '\.\.\/src\/support\/index\.js';/gm)) {
        for (const n of m[1]!.split(',')) {
          const name = n.trim().replace(/^type /, '');
          if (name !== '') imported.add(name);
        }
      }
    }
    expect(imported.size).toBeGreaterThan(5);
    for (const name of imported) expect(Object.keys(SUPPORT_SYMBOLS), name).toContain(name);
  });
});
