#!/usr/bin/env node
// Bundles the command line (after tsc, from dist/) into dist/bundle/, what
// bin/qapi-ts runs. Loading ~130 modules (zod alone is 95) was most of a
// short command's time; the bundle loads a handful of files:
//
//   cli/main.js        the CLI's entry; each command group (and what only
//   cli/chunk-*.js     it needs) is a chunk loaded on first use, as before
//   support/index.js   the support library, for validators `verify`
//                      generates at run time (load.ts imports it by URL)
//   zod-HASH.cjs       zod, as CommonJS, run through V8's code cache
//                      (src/cli/code-cache.ts); HASH names its contents
//
// Every file of the ES module part sits one directory below dist/bundle/,
// as every module sits below dist/src/, so that paths relative to
// `import.meta.url` (load.ts's `../support/index.js`) lead to the same
// files inside the bundle.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'bundle');
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', legalComments: 'none' };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// zod, CommonJS (vm.Script, and so V8's code cache, runs scripts, not modules).
const zod = await build({
  ...common,
  stdin: { contents: "export { z } from 'zod';", resolveDir: root },
  format: 'cjs',
  write: false,
});
const zodCode = zod.outputFiles[0].contents;
const zodFile = `zod-${createHash('sha256').update(zodCode).digest('hex').slice(0, 12)}.cjs`;
writeFileSync(join(out, zodFile), zodCode);

// The CLI, with `import 'zod'` answered by a module that loads the file above.
const zodModule = `
import { fileURLToPath } from 'node:url';
import { requireCached } from ${JSON.stringify(join(dist, 'src/cli/code-cache.js'))};
export const { z } = requireCached(fileURLToPath(new URL('../${zodFile}', import.meta.url)));
`;
const cli = await build({
  ...common,
  entryPoints: [join(dist, 'src/cli/main.js'), join(dist, 'src/support/index.js')],
  outbase: join(dist, 'src'),
  outdir: out,
  format: 'esm',
  splitting: true,
  chunkNames: 'cli/chunk-[hash]',
  metafile: true,
  plugins: [
    {
      name: 'zod-from-code-cache',
      setup(b) {
        b.onResolve({ filter: /^zod$/ }, () => ({ path: 'zod', namespace: 'code-cache' }));
        b.onLoad({ filter: /.*/, namespace: 'code-cache' }, () => ({ contents: zodModule, resolveDir: root }));
      },
    },
  ],
});

const misplaced = Object.keys(cli.metafile.outputs).filter((f) => relative(out, f).split(sep).length !== 2);
if (misplaced.length > 0) {
  console.error(`bundle-cli: not one directory below ${out}: ${misplaced.join(', ')}`);
  process.exit(1);
}
