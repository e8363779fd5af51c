#!/usr/bin/env node
// Bundles the command line (after tsc, from dist/) into dist/bundle/, what
// bin/qapi-ts runs. Loading ~130 modules (zod alone is 95) was most of a
// short command's time; the bundle loads a handful of files:
//
//   cli/main.js        the CLI's entry; each command group (and what only
//   cli/chunk-*.js     it needs, zod included) is a chunk loaded on first
//                      use, as before
//   support/index.js   the support library, for validators `verify`
//                      generates at run time (load.ts imports it by URL)
//
// Node's built-in modules are loaded with require (createRequire), not
// imported: importing one as an ES module makes Node build a module facade
// that reads every export, and node:fs's lazy ones (ReadStream, promises)
// load the whole streams machinery, about 10 ms on every start, whether or
// not a command uses streams.
//
// Every file of the ES module part sits one directory below dist/bundle/,
// as every module sits below dist/src/, so that paths relative to
// `import.meta.url` (load.ts's `../support/index.js`) lead to the same
// files inside the bundle.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'bundle');
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', legalComments: 'none' };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** Each `node:` import becomes a CommonJS module whose exports are the built-in's, from require. */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      // the require inside such a module is left to run as it is
      args.namespace === 'builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};
/** Gives every output file a module-scoped `require` for the modules above. */
const requireBanner =
  "import { createRequire as __qapiTsRequire } from 'node:module';\n" +
  'const require = __qapiTsRequire(import.meta.url);';

const cli = await build({
  ...common,
  plugins: [builtinsByRequire],
  banner: { js: requireBanner },
  entryPoints: [join(dist, 'src/cli/main.js'), join(dist, 'src/support/index.js')],
  outbase: join(dist, 'src'),
  outdir: out,
  format: 'esm',
  splitting: true,
  chunkNames: 'cli/chunk-[hash]',
  metafile: true,
});

const misplaced = Object.keys(cli.metafile.outputs).filter((f) => relative(out, f).split(sep).length !== 2);
if (misplaced.length > 0) {
  console.error(`bundle-cli: not one directory below ${out}: ${misplaced.join(', ')}`);
  process.exit(1);
}
