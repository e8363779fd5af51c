/**
 * generated/ is the current, deterministic output for qapi/, type-checks,
 * and is what the package's public API exports.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { generateFiles } from '../../src/backends/generate.js';
import { GENERATED_HEADER } from '../../src/backends/emitter.js';
import * as api from '../../src/index.js';
import { repoRoot } from '../helpers/shared.js';
import { fakeExecutor } from './helpers.js';
import { strictDiagnostics } from '../helpers/tsc.js';

/** The options `npm run generate` passes, read from package.json. */
async function generateScriptOptions(): Promise<{ schema: string; out: string; supportImport: string }> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts.generate ?? '';
  const m = /generate (\S+) -o (\S+) --support-import (\S+)/.exec(script);
  if (!m) throw new Error(`unexpected generate script: ${script}`);
  return { schema: m[1]!, out: m[2]!, supportImport: m[3]! };
}

function regenerate(schemaPath: string, supportImport: string): Map<string, string> {
  const schema = parseSchema(join(repoRoot, schemaPath), { lenientDocs: true, onWarning: () => {} });
  return generateFiles(schema, { supportImport });
}

describe('generated/', () => {
  test('is up to date with qapi/ (run `npm run generate` if not)', async () => {
    const { schema, out, supportImport } = await generateScriptOptions();
    const fresh = regenerate(schema, supportImport);
    const dir = join(repoRoot, out);
    const onDisk = (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort();
    expect(onDisk).toEqual([...fresh.keys()].sort());
    for (const [name, text] of fresh) {
      const committed = await readFile(join(dir, name), 'utf8');
      expect(committed.startsWith(GENERATED_HEADER), `${name} header`).toBe(true);
      expect(committed, `generated/${name} is stale`).toBe(text);
    }
  });

  test('generation is deterministic', async () => {
    const { schema, supportImport } = await generateScriptOptions();
    const a = regenerate(schema, supportImport);
    const b = regenerate(schema, supportImport);
    expect([...b.entries()]).toEqual([...a.entries()]);
  });

  test('type-checks together with the public API (tsc --strict)', () => {
    const generatedDiagnostics = strictDiagnostics([
      join(repoRoot, 'generated/index.ts'),
      join(repoRoot, 'src/index.ts'),
    ]).filter((d) => d.includes('/generated/') || d.includes('src/index.ts:') || d.includes('/src/support/'));
    expect(generatedDiagnostics).toEqual([]);
  });
});

describe('public API', () => {
  const info = {
    id: 'iothread0',
    'thread-id': 1234,
    'poll-max-ns': 32768,
    'poll-grow': 0,
    'poll-shrink': 0,
    'aio-max-batch': 0,
  };

  test('exports the query-iothreads types and validators', () => {
    expect(api.IOThreadInfoSchema.parse(info)).toEqual(info);
    expect(api.IoThreadHolderSchema.parse({ type: 'block-node', 'node-name': 'disk0' })).toEqual({
      type: 'block-node',
      'node-name': 'disk0',
    });
    expect(api.IOThreadInfoSchema.safeParse({ ...info, 'thread-id': 'x' }).success).toBe(false);
    expect(api.qapi.IoThreadHolderTypeValues).toEqual(['qom', 'block-node']);
    expect(api.qapi.commands['query-iothreads']?.returns?.safeParse([info]).success).toBe(true);
    expect(typeof api.generate).toBe('function');
    expect(typeof api.loadValidators).toBe('function');
    expect(typeof api.parseSchema).toBe('function');
    expect(new api.QapiValidationError('reply', 'x', [{ path: 'a', message: 'bad' }]).message).toBe(
      "invalid reply to 'x': a: bad",
    );
  });

  test('QapiClient.queryIothreads on any executor', async () => {
    const exec = fakeExecutor({
      'query-iothreads': [
        { ...info, 'thread-id': 2n ** 60n, holders: [{ type: 'qom', path: '/machine/peripheral/vblk0' }] },
      ],
    });
    const client = new api.QapiClient(exec, { validate: true, strict: false });
    const [first] = await client.queryIothreads();
    expect(first?.['thread-id']).toBe(2n ** 60n);
    expect(first?.holders?.[0]).toEqual({ type: 'qom', path: '/machine/peripheral/vblk0' });
    expect(exec.calls).toEqual([{ command: 'query-iothreads', args: undefined }]);
  });
});
