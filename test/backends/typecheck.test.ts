/**
 * The generated code type-checks under `strict` for every root schema of
 * QEMU's corpus (both versions) and for our own qapi/: one TypeScript
 * program over all outputs, written to a temporary directory.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { generateFiles } from '../../src/backends/generate.js';
import { writeGenerated } from '../../src/backends/generate.js';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { strictDiagnostics } from '../helpers/tsc.js';

const corpus = sharedDir('corpus');
const conformance = sharedDir('conformance/qemu-10.0');

/** Root schemas: [label, path]. */
function roots(): [string, string][] {
  const out: [string, string][] = [['qapi', join(repoRoot, 'qapi/qapi-schema.json')]];
  if (corpus === null) return out;
  for (const version of ['qemu-10.0', 'qemu-7.2']) {
    for (const rel of [
      'qapi/qapi-schema.json',
      'qga/qapi-schema.json',
      'storage-daemon/qapi/qapi-schema.json',
      'docs/interop/vhost-user.json',
      'docs/interop/firmware.json',
    ]) {
      if (version === 'qemu-7.2' && rel === 'docs/interop/firmware.json') continue;
      out.push([`${version}/${rel}`, join(corpus, version, rel)]);
    }
  }
  if (conformance !== null) {
    // The valid cases of QEMU's test suite (odd names, every construct).
    for (const name of readFileSync(join(conformance, 'TESTS'), 'utf8').split(/\s+/)) {
      const base = name.replace(/\.json$/, '');
      if (base === '' || readFileSync(join(conformance, `${base}.err`), 'utf8') !== '') continue;
      out.push([`conformance/${base}`, join(conformance, `${base}.json`)]);
    }
  }
  return out;
}

/** Uses of the generated qapi/ types that must (or must not) compile. */
const USAGE = `
import type { IOThreadInfo, IoThreadHolder, IoThreadHolderType, CommandMap, QapiEvent } from './index.js';
import { QapiClient, IoThreadHolderTypeValues, validators } from './index.js';
import type { QmpExecutor } from '${join(repoRoot, 'src/runtime/executor.js')}';

export function describeHolder(h: IoThreadHolder): string {
  switch (h.type) {
    case 'qom':
      return h.path;
    case 'block-node':
      return h['node-name'];
    default:
      return String(h.type);
  }
}
export async function use(executor: QmpExecutor): Promise<number | bigint> {
  const client = new QapiClient(executor, { validate: true, strict: false });
  const infos: IOThreadInfo[] = await client.queryIothreads();
  const same: CommandMap['query-iothreads']['returns'] = await client.execute('query-iothreads');
  // @ts-expect-error query-iothreads takes no arguments
  await client.queryIothreads({ id: 'x' });
  // @ts-expect-error unknown command
  await client.execute('no-such-command');
  const holders: boolean = await client.supports('query-iothreads/ret-type/holders');
  // @ts-expect-error probes start at a command or event of the schema
  await client.supports('no-such-command/arg-type');
  void holders;
  // @ts-expect-error arbitrary strings are not enum values
  const bad: IoThreadHolderType = 'iothread-vq';
  const known: IoThreadHolderType = IoThreadHolderTypeValues[0];
  const parsed: IOThreadInfo = validators.IOThreadInfo.parse({});
  for await (const e of client.events(['STOP'])) {
    const name: 'STOP' = e.event;
    void name;
  }
  void bad; void known; void parsed; void same;
  return infos[0]?.['thread-id'] ?? 0;
}
export function onEvent(e: QapiEvent): string { return e.event; }
`;

describe('generated code type-checks (tsc --strict)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('all corpus root schemas, the valid conformance cases and qapi/', { timeout: 180_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'qapi-ts-typecheck-'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
    const support = join(repoRoot, 'src/support/index.js');
    const rootFiles: string[] = [];
    for (const [i, [label, path]] of roots().entries()) {
      const schema = parseSchema(path, { lenientDocs: true, onWarning: () => {} });
      const out = join(dir, `s${i}`);
      await writeGenerated(out, generateFiles(schema, { supportImport: support }));
      rootFiles.push(join(out, 'index.ts'));
      if (label === 'qapi') {
        await writeFile(join(out, 'usage.ts'), USAGE);
        rootFiles.push(join(out, 'usage.ts'));
      }
    }
    const diagnostics = strictDiagnostics(rootFiles);
    expect(diagnostics.slice(0, 20)).toEqual([]);
    expect(rootFiles.length).toBeGreaterThan(corpus === null ? 1 : 10);
  });
});
