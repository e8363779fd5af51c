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

const cli = await build({
  ...common,
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
