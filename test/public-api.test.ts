/**
 * The package as users import it: the built output through the `exports`
 * map (self-reference by name), not the sources.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/shared.js';

const built = existsSync(join(repoRoot, 'dist/src/index.js'));
if (!built && process.env.CI) throw new Error('CI: dist/ is missing (npm ci builds it)');

describe.skipIf(!built)('package exports', () => {
  it("'qapi-ts' exposes the frontend, the generator, the runtime and the generated client", async () => {
    const api = await import('qapi-ts');
    for (const name of ['parseSchema', 'dumpSchema', 'generate', 'loadValidators', 'QmpClient', 'QapiClient', 'parseJson', 'generateIntrospection', 'inferDefines', 'probe', 'probeAll']) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    const schema = api.parseSchema(join(repoRoot, 'qapi/qapi-schema.json'));
    expect(schema.lookupType('IOThreadInfo')?.meta).toBe('struct');
    // The generated validator of query-iothreads replies, holders optional.
    const ok = api.IOThreadInfoSchema.safeParse({
      id: 'io0', 'thread-id': 4242, 'poll-max-ns': 32768, 'poll-grow': 0, 'poll-shrink': 0, 'aio-max-batch': 0,
      holders: [{ type: 'qom', path: '/machine/peripheral/disk0/virtio-backend' }, { type: 'block-node', 'node-name': 'exp-node' }],
    });
    expect(ok.success).toBe(true);
    expect(api.IOThreadInfoSchema.safeParse({ id: 'io0' }).success).toBe(false);
  });

  it("'qapi-ts/runtime' and 'qapi-ts/support' resolve on their own", async () => {
    const runtime = await import('qapi-ts/runtime');
    expect(typeof runtime.QmpClient.connect).toBe('function');
    expect(runtime.parseJson('18446744073709551552')).toBe(18446744073709551552n);
    const schema = new runtime.IntrospectedSchema([{ name: 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' }]);
    expect(await runtime.probe(schema, 'query-status')).toBe(true);
    expect(() => runtime.parseProbeQuery('query-status//x')).toThrow(runtime.ProbeQueryError);
    const support = await import('qapi-ts/support');
    expect(typeof support.QapiClientBase).toBe('function');
  });
});
