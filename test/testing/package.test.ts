/**
 * `qapi-ts/testing` as users import it: the built output through the
 * package's `exports` map, its default schema (qapi/) found from dist/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

const built = existsSync(join(repoRoot, 'dist/src/testing/index.js'));
if (!built && process.env.CI) throw new Error('CI: dist/ is missing (npm ci builds it)');

describe.skipIf(!built)("'qapi-ts/testing'", () => {
  it('resolves, and serves our schema by default', async () => {
    const testing = await import('qapi-ts/testing');
    const { QmpClient } = await import('qapi-ts/runtime');
    expect(testing.defaultSchemaPath()).toBe(join(repoRoot, 'qapi/qapi-schema.json'));
    await using server = await testing.QmpTestServer.create();
    server.on('query-status', () => ({ running: true, status: 'running' }));
    await using qmp = await QmpClient.overStream(server.connect());
    expect(await qmp.execute('query-status')).toEqual({ running: true, status: 'running' });
    expect(typeof testing.faults.closeMidLine).toBe('function');
  });
});
