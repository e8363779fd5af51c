/**
 * The introspection backend against the real thing, on every release we
 * run live (7.2 on the host, 10.0 and 11.1 in their chroots): a QEMU's own
 * query-qmp-schema reply must equal what we generate from that release's
 * schema, element for element and in the same order, once the build's
 * condition symbols are read off the reply itself.
 *
 * 10.0's and 11.1's schemas are read with lenient docs: their doc comments
 * follow their own release's rules (not what this test is about).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIntrospection, inferDefines } from '../../src/backends/introspect.js';
import { parseSchema } from '../../src/frontend/index.js';
import { QmpClient } from '../../src/runtime/index.js';
import {
  QEMU_BINARY,
  RELEASES,
  qemuAvailable,
  releaseNumbers,
  releaseSchemas,
  startQemu,
  stopAllQemu,
} from '../helpers/qemu.js';

afterAll(stopAllQemu);

describe.each(RELEASES)("introspection of QEMU %s's schema vs that QEMU's query-qmp-schema", (release) => {
  const schemas = releaseSchemas(release);
  const available = schemas !== null && qemuAvailable(QEMU_BINARY, release);
  let reply: unknown;
  const schema = available
    ? parseSchema(schemas.system, { lenientDocs: true, onWarning: () => {}, qemuVersion: release })
    : null;

  beforeAll(async () => {
    if (!available) return;
    const qemu = await startQemu({ release });
    try {
      await using qmp = await QmpClient.connect({ path: qemu.socket }, { timeout: 10_000 });
      expect(qmp.greeting.version.qemu).toMatchObject(releaseNumbers(release));
      reply = await qmp.execute('query-qmp-schema');
    } finally {
      await qemu.stop();
    }
  });

  it.runIf(available)('reads the build configuration off the reply without contradictions', () => {
    const inferred = inferDefines(schema!, reply);
    expect(inferred.contradictions).toEqual([]);
    // Debian's x86_64 build: a sample of what it has and has not. QEMU 11.1's
    // schema has no TARGET_ conditions left (target checks moved to run time).
    const targets = releaseNumbers(release).major < 11;
    expect(inferred.defines).toEqual(
      expect.arrayContaining([...(targets ? ['TARGET_I386'] : []), 'CONFIG_LINUX', 'CONFIG_SPICE', 'CONFIG_VNC']),
    );
    expect(inferred.undefined).toEqual(
      expect.arrayContaining([...(targets ? ['TARGET_S390X', 'TARGET_ARM'] : []), 'CONFIG_COCOA']),
    );
    if (!targets)
      expect([...inferred.defines, ...inferred.undefined].filter((s) => s.startsWith('TARGET_'))).toEqual([]);
  });

  it.runIf(available)('generates exactly the reply: every entry, member, branch, value and feature, in order', () => {
    const { defines } = inferDefines(schema!, reply);
    const ours = generateIntrospection(schema!, { defines });
    expect((ours as unknown[]).length).toBe((reply as unknown[]).length);
    // Entry by entry first, for a readable failure; then the whole.
    (reply as unknown[]).forEach((entry, i) => expect(ours[i], `entry ${i}`).toStrictEqual(entry));
    expect(ours).toStrictEqual(reply);
  });

  it.runIf(available)('differs from the reply when the configuration is wrong (the comparison can fail)', () => {
    const ours = generateIntrospection(schema!);
    expect(ours).not.toEqual(reply);
  });
});
