/**
 * The introspection backend against the real thing: QEMU 7.2's own
 * query-qmp-schema reply must equal what we generate from QEMU 7.2's
 * schema, element for element and in the same order, once the build's
 * condition symbols are read off the reply itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { generateIntrospection, inferDefines } from '../../src/backends/introspect.js';
import { parseSchema } from '../../src/frontend/index.js';
import { QmpClient } from '../../src/runtime/index.js';
import { qemuAvailable, startQemu, stopAllQemu } from '../helpers/qemu.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus/qemu-7.2/qapi');

describe.runIf(qemuAvailable() && corpus !== null)("introspection of QEMU 7.2's schema vs QEMU 7.2", () => {
  let reply: unknown;
  const schema = corpus === null ? null : parseSchema(join(corpus, 'qapi-schema.json'), { lenientDocs: true, onWarning: () => {} });

  beforeAll(async () => {
    const qemu = await startQemu();
    await using qmp = await QmpClient.connect({ path: qemu.socket }, { timeout: 10_000 });
    expect(qmp.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
    reply = await qmp.execute('query-qmp-schema');
  });
  afterAll(stopAllQemu);

  it('reads the build configuration off the reply without contradictions', () => {
    const inferred = inferDefines(schema!, reply);
    expect(inferred.contradictions).toEqual([]);
    // Debian's x86_64 build: a sample of what it has and has not.
    expect(inferred.defines).toEqual(expect.arrayContaining(['TARGET_I386', 'CONFIG_LINUX', 'CONFIG_SPICE', 'CONFIG_VNC']));
    expect(inferred.undefined).toEqual(expect.arrayContaining(['TARGET_S390X', 'TARGET_ARM', 'CONFIG_COCOA']));
  });

  it('generates exactly the reply: every entry, member, branch, value and feature, in order', () => {
    const { defines } = inferDefines(schema!, reply);
    const ours = generateIntrospection(schema!, { defines });
    expect((ours as unknown[]).length).toBe((reply as unknown[]).length);
    // Entry by entry first, for a readable failure; then the whole.
    (reply as unknown[]).forEach((entry, i) => expect(ours[i], `entry ${i}`).toStrictEqual(entry));
    expect(ours).toStrictEqual(reply);
  });

  it('differs from the reply when the configuration is wrong (the comparison can fail)', () => {
    const ours = generateIntrospection(schema!);
    expect(ours).not.toEqual(reply);
  });
});
