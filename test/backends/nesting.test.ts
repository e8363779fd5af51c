/**
 * Deeply nested values: validators (typed client, exported zod schemas)
 * handle everything QEMU can send or accept (up to 1024 levels) without
 * exhausting the stack, and refuse deeper values with a validation error
 * naming the limit, never a RangeError.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { check, isStackOverflow } from '../../src/support/client.js';
import { QapiValidationError } from '../../src/support/errors.js';
import { MAX_NESTING } from '../../src/support/index.js';
import { customSchema, nestingExceeds } from '../../src/support/nesting.js';
import { sharedDir } from '../helpers/shared.js';
import { fakeExecutor, loadSnippet, outcome, type LoadedSnippet } from './helpers.js';

const corpus = sharedDir('corpus');

/** An ImageInfo whose backing chain has `length` images; `bad` puts a number as the last filename. */
function imageChain(length: number, bad = false): Record<string, unknown> {
  let image: Record<string, unknown> = { filename: bad ? 7 : `f${length - 1}`, format: 'qcow2', 'virtual-size': 1 };
  for (let i = length - 2; i >= 0; i--)
    image = { filename: `f${i}`, format: 'qcow2', 'virtual-size': 1, 'backing-image': image };
  return image;
}

/** blockdev-add arguments: raw nodes, each on top of the next, `length` of them, ending in a file node. */
function blockdevChain(length: number): Record<string, unknown> {
  let node: Record<string, unknown> = { driver: 'file', filename: '/img' };
  for (let i = 1; i < length; i++) node = { driver: 'raw', file: node };
  return { 'node-name': 'top', ...node };
}

/** query-block's reply with one drive whose image has a backing chain of `length`. */
function queryBlockReply(length: number): unknown[] {
  const inserted = {
    file: 'f0',
    ro: false,
    drv: 'qcow2',
    encrypted: false,
    detect_zeroes: 'off',
    active: true,
    bps: 0,
    bps_rd: 0,
    bps_wr: 0,
    iops: 0,
    iops_rd: 0,
    iops_wr: 0,
    write_threshold: 0,
    backing_file_depth: length - 1,
    cache: { writeback: true, direct: false, 'no-flush': false },
    image: imageChain(length),
  };
  return [{ device: 'd0', locked: false, removable: false, qdev: 'disk', type: 'unknown', inserted }];
}

/** Length of the `backing-image` chain of a validated ImageInfo, and its last filename (iteratively). */
function chainOf(image: unknown): [number, unknown] {
  let length = 1;
  let at = image as Record<string, unknown>;
  while (at['backing-image'] !== undefined) {
    at = at['backing-image'] as Record<string, unknown>;
    length++;
  }
  return [length, at.filename];
}

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe.skipIf(corpus === null)("QEMU 10.0's recursive types", () => {
  let qemu: LoadedSchema;
  beforeAll(async () => {
    qemu = await loadValidators(join(corpus!, 'qemu-10.0/qapi/qapi-schema.json'));
  });

  // The reply message nests 4 levels above the image chain: the longest legal chain is 1020.
  test('query-block with a 1020-image backing chain validates through the typed client', async () => {
    const client = qemu.createClient(fakeExecutor({ 'query-block': queryBlockReply(1020) }));
    const [drive] = (await client.execute('query-block')) as { inserted: { image: unknown } }[];
    expect(chainOf(drive!.inserted.image)).toEqual([1020, 'f1019']);
    const strict = qemu.createClient(fakeExecutor({ 'query-block': queryBlockReply(1020) }), { strict: true });
    await expect(strict.execute('query-block')).resolves.toHaveLength(1);
  });

  test('the exported schemas validate a 1020-image chain directly, both strictnesses', () => {
    for (const validators of [qemu.validators, qemu.strictValidators]) {
      const result = validators.ImageInfo!.safeParse(imageChain(1020));
      expect(result.success).toBe(true);
      expect(chainOf(result.data)).toEqual([1020, 'f1019']);
    }
  });

  test('a problem at the end of a long chain is reported with its full path', () => {
    const result = qemu.validators.ImageInfo!.safeParse(imageChain(900, true));
    expect(result.success).toBe(false);
    const [issue] = result.error!.issues;
    expect(issue!.path).toEqual([...Array<string>(899).fill('backing-image'), 'filename']);
    expect(result.error!.issues).toHaveLength(1);
  });

  test('blockdev-add with a chain of 1000 nodes passes the strict argument check and is sent', async () => {
    const executor = fakeExecutor({ 'blockdev-add': {} });
    const client = qemu.createClient(executor);
    await expect(client.execute('blockdev-add', blockdevChain(1000))).resolves.toEqual({});
    expect(executor.calls).toHaveLength(1);
  });

  test('deeper than the limit: a QapiValidationError naming it, nothing sent', async () => {
    const executor = fakeExecutor({ 'blockdev-add': {} });
    const client = qemu.createClient(executor);
    const err = await client.execute('blockdev-add', blockdevChain(5000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QapiValidationError);
    expect((err as Error).message).toMatch(
      /^invalid arguments of 'blockdev-add': file\.file\.file.*…\(\d+ characters\)….*file: nested deeper than 1024 levels/,
    );
    expect(executor.calls).toHaveLength(0);
    const reply = qemu.createClient(fakeExecutor({ 'query-block': queryBlockReply(3000) }));
    await expect(reply.execute('query-block')).rejects.toThrow(/nested deeper than 1024 levels/);
  });

  test('a cyclic argument value is refused, not followed forever', async () => {
    const node: Record<string, unknown> = { driver: 'raw' };
    node.file = node;
    const client = qemu.createClient(fakeExecutor({ 'blockdev-add': {} }));
    await expect(client.execute('blockdev-add', { 'node-name': 'n', ...node })).rejects.toThrow(
      /nested deeper than 1024 levels/,
    );
  });
});

describe('deep values of an inline recursive schema', () => {
  let s: LoadedSnippet;
  beforeAll(async () => {
    s = await loadSnippet(`{ 'struct': 'Tree', 'data': { 'name': 'str', '*children': [ 'Tree' ] } }
{ 'alternate': 'TreeOrName', 'data': { 'tree': 'Tree', 'name': 'str' } }
{ 'struct': 'Holder', 'data': { 'what': 'TreeOrName' } }
{ 'command': 'plant', 'data': { 'tree': 'Tree' } }`);
  });

  /** A tree `depth` levels deep: each level has a leaf and the next level. */
  function tree(depth: number, badAt = -1): Record<string, unknown> {
    let t: Record<string, unknown> = { name: 'bottom' };
    for (let i = depth - 1; i >= 1; i--) t = { name: i === badAt ? 5 : `n${i}`, children: [{ name: 'leaf' }, t] };
    return t;
  }

  test('1000 levels (through arrays and an alternate) validate, output equal to the input', () => {
    const result = s.strict.Holder!.safeParse({ what: tree(1000) });
    expect(result.success).toBe(true);
    let at = (result.data as { what: Record<string, unknown> }).what;
    let levels = 1;
    for (; at.children; levels++) {
      const children = at.children as Record<string, unknown>[];
      expect(children).toHaveLength(2);
      expect(children[0]).toEqual({ name: 'leaf' });
      at = children[1]!;
    }
    expect([levels, at.name]).toEqual([1000, 'bottom']);
  });

  test('an issue deep inside gets its path; an async parse gives the same', async () => {
    const path = `what.${Array<string>(699).fill('children.1').join('.')}.name`;
    const expected = `${path}: Invalid input: expected string, received number`;
    expect(outcome(s.strict.Holder!, { what: tree(1000, 700) })).toBe(expected);
    const async = await s.strict.Holder!.safeParseAsync({ what: tree(1000, 700) });
    expect(async.error?.issues.map((i) => i.path.join('.'))).toEqual([expected.replace(/: .*/, '')]);
    expect((await s.strict.Holder!.safeParseAsync({ what: tree(1000) })).success).toBe(true);
  });

  test('too deep or cyclic: an issue naming the limit, also for direct use', () => {
    // The leaf and the next level at depth 1025 are refused.
    const issues = s.strict.Tree!.safeParse(tree(2000)).error!.issues;
    expect(issues.map((i) => [i.path.length, i.path.at(-1), i.message.slice(0, 30)])).toEqual([
      [2 * 1025, 0, 'nested deeper than 1024 levels'],
      [2 * 1025, 1, 'nested deeper than 1024 levels'],
    ]);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.children = [cyclic];
    expect(s.compat.Tree!.safeParse(cyclic).error?.issues.map((i) => i.message.slice(0, 30))).toEqual([
      'nested deeper than 1024 levels',
    ]);
    expect(MAX_NESTING).toBe(1024);
  });

  test('the typed client validates deep arguments', async () => {
    const executor = fakeExecutor({ plant: {} });
    await expect(s.client(executor).execute('plant', { tree: tree(1000) })).resolves.toEqual({});
    await expect(s.client(executor).execute('plant', { tree: tree(1500) })).rejects.toThrow(QapiValidationError);
  });
});

describe('backstops', () => {
  test('a stack overflow inside a validator becomes a QapiValidationError', () => {
    const overflowing = customSchema(() => {
      throw new RangeError('Maximum call stack size exceeded');
    });
    const err = errorOf(() => check(overflowing, {}, 'reply', 'query-block'));
    expect(err).toBeInstanceOf(QapiValidationError);
    expect((err as Error).message).toBe(
      "invalid reply to 'query-block': nested too deeply to validate with the stack left (limit: 1024 levels)",
    );
    const other = customSchema(() => {
      throw new RangeError('Invalid array length');
    });
    expect(isStackOverflow(errorOf(() => check(other, {}, 'reply', 'x')))).toBe(false);
  });

  test('nestingExceeds counts objects and arrays iteratively', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(nestingExceeds(deep, 1024)).toBe(true);
    expect(nestingExceeds({ a: [1, { b: [] }] }, 4)).toBe(false);
    expect(nestingExceeds({ a: [1, { b: [] }] }, 3)).toBe(true);
    expect(nestingExceeds('flat', 0)).toBe(false);
  });
});
