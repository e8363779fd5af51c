/**
 * The TypeScript compiler for the tests that compile generated code: one
 * set of options (the strictest a consumer may use), one program per call
 * (put everything a test compiles into one call: what several files share
 * is then checked once), and the files no test writes (TypeScript's libs,
 * node_modules, src/) parsed once per test file.
 */
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from './shared.js';

/** `tsc --strict` and more: what the generated code must compile under. */
export const STRICT_OPTIONS: Readonly<ts.CompilerOptions> = {
  noUnusedLocals: true,
  noUnusedParameters: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  noImplicitReturns: true,
  noImplicitOverride: true,
  verbatimModuleSyntax: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
  typeRoots: [join(repoRoot, 'node_modules/@types')],
};

export interface CompileOptions {
  /** Check `.d.ts` files outside node_modules (generated ones) too. */
  declarations?: boolean;
  /**
   * Only these files' diagnostics (and the program's own): the others are
   * read for their types but not checked, which is much faster when a small
   * file uses a big generated client.
   */
  only?: readonly string[];
}

const fixedDirs = [join(repoRoot, 'node_modules') + '/', join(repoRoot, 'src') + '/'];
const parsed = new Map<string, ts.SourceFile>();

/** A compiler host that parses a file no test writes once, whatever the program. */
function cachingHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  const libDir = host.getDefaultLibLocation?.() ?? '';
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const fixed = fixedDirs.some((d) => fileName.startsWith(d)) || (libDir !== '' && fileName.startsWith(libDir));
    if (!fixed) return read(fileName, languageVersion, onError, shouldCreate);
    const key = `${JSON.stringify(languageVersion)}\0${fileName}`;
    let file = parsed.get(key);
    if (file === undefined) {
      file = read(fileName, languageVersion, onError, shouldCreate);
      if (file !== undefined) parsed.set(key, file);
    }
    return file;
  };
  return host;
}

/** Diagnostics of one program over `rootFiles` under STRICT_OPTIONS, as `file:line: message`. */
export function strictDiagnostics(
  rootFiles: readonly string[],
  { declarations = false, only }: CompileOptions = {},
): string[] {
  const options: ts.CompilerOptions = { ...STRICT_OPTIONS, skipLibCheck: !declarations };
  const program = ts.createProgram({ rootNames: rootFiles, options, host: cachingHost(options) });
  const ours = (f: ts.SourceFile): boolean =>
    !f.fileName.includes('/node_modules/') && !program.isSourceFileDefaultLibrary(f);
  let diagnostics: readonly ts.Diagnostic[];
  if (only !== undefined) {
    const files = only.map((name) => {
      const file = program.getSourceFile(name);
      if (file === undefined) throw new Error(`${name} is not in the program`);
      return file;
    });
    diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...files.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
    ];
  } else if (!declarations) {
    diagnostics = ts.getPreEmitDiagnostics(program);
  } else {
    diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...program
        .getSourceFiles()
        .filter(ours)
        .flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
    ];
  }
  return diagnostics.map((d) => {
    const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
