/**
 * Deriving holders from a hostile QEMU (the test server, scripted): trees
 * bloated in bytes (property lists, child names, values), a mapping of
 * 200,000 ids, a slow tree that no single command times out on, more
 * IOThread properties than the client's own queue takes, and a reply
 * without the holders its schema promises. Every case is bounded (a few
 * MB, a few seconds at most).
 */
import { describe, expect, it } from 'vitest';
import type { CommandMap, EventMap, IOThreadInfo, ObjectPropertyValue } from '../../generated/index.js';
import { inspectIothreads, QomWalkError, walkComposition, type ServerFeatures } from '../../src/iothreads/index.js';
import { QapiClient } from '../../generated/index.js';
import { QmpClient } from '../../src/runtime/index.js';
import { QapiValidationError } from '../../src/support/errors.js';
import { QmpErrorResponse, QmpTestServer } from '../../src/testing/index.js';

/** A QOM tree served by handlers: `list(path)` (undefined: no such object), `get(path, name)`. */
interface Tree {
  list(path: string): ObjectPropertyValue[] | undefined;
  get?(path: string, property: string): unknown;
  iothreads?: IOThreadInfo[];
  /** Milliseconds each qom-list takes. */
  slow?: number;
}

const DERIVED: ServerFeatures = { holders: false, qomListGet: false };
const BATCHED: ServerFeatures = { holders: false, qomListGet: true };

const thread = (id: string, tid: number): IOThreadInfo => ({
  id,
  'thread-id': tid,
  'poll-max-ns': 0,
  'poll-grow': 0,
  'poll-shrink': 0,
  'aio-max-batch': 0,
});

async function serve(tree: Tree, options: { maxQueuedRequests?: number } = {}) {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  const list = (path: string): ObjectPropertyValue[] => {
    const props = tree.list(path);
    if (props === undefined) throw new QmpErrorResponse('DeviceNotFound', `Device '${path.slice(0, 40)}' not found`);
    return props;
  };
  server.on('query-iothreads', () => tree.iothreads ?? []);
  server.on('qom-list', async ({ path }) => {
    if (tree.slow) await new Promise((r) => setTimeout(r, tree.slow));
    return list(path).map(({ name, type }) => ({ name, type }));
  });
  server.on('qom-list-get', ({ paths }) => paths.map((path) => ({ properties: list(path) })));
  server.on('qom-get', ({ path, property }) => tree.get?.(path, property) ?? null);
  const qmp = await QmpClient.overStream(server.connect(), options);
  return {
    server,
    qmp,
    async [Symbol.asyncDispose]() {
      await qmp.close();
      await server.close();
    },
  };
}

/** Only /machine (empty) and /objects with `children`. */
const objectsWith =
  (children: (path: string) => ObjectPropertyValue[] | undefined, top: ObjectPropertyValue[]): Tree['list'] =>
  (path) =>
    path === '/machine' ? [] : path === '/objects' ? top : children(path);

describe('the QOM walk holds a bounded number of bytes', () => {
  it('stops on long property lists (the 300 objects × 14 MB attack, scaled down)', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `o${i}`);
    const props = Array.from({ length: 2000 }, (_, j): ObjectPropertyValue => ({
      name: `prop-with-a-longish-name-${j}`,
      type: 'str',
    }));
    await using s = await serve({
      list: objectsWith(
        () => props,
        names.map((name) => ({ name, type: 'child<container>' })),
      ),
    });
    const error = await inspectIothreads(s.qmp, { features: DERIVED, maxBytes: 1 << 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QomWalkError);
    expect((error as Error).message).toMatch(
      /^QOM tree too bulky: more than 1048576 bytes of paths, property names, types and values \(at \/objects\/o\d+\)$/,
    );
  });

  it('stops on long child names, whose paths grow level by level (the 1 MB names attack, scaled down)', async () => {
    const name = 'n'.repeat(100_000);
    // A chain 20 levels deep: paths of 0.1, 0.2 … 2 MB, 21 MB in all.
    const list = objectsWith(
      (path) => (path.split('/').length < 23 ? [{ name, type: 'child<container>' }] : []),
      [{ name, type: 'child<container>' }],
    );
    await using s = await serve({ list });
    const error = await walkComposition(new QapiClient(s.qmp), ['/machine', '/objects'], { maxBytes: 2 << 20 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QomWalkError);
    expect((error as Error).message).toMatch(
      /^QOM tree too bulky: more than 2097152 bytes .*\(at \/objects\/n{100}.*… \(\d+ characters\)\)$/,
    );
    // It stopped when the budget ran out, long before the chain's end.
    expect(s.server.received.filter((c) => c.command === 'qom-list').length).toBeLessThan(10);
  });

  it('counts the values qom-list-get sends with the lists', async () => {
    const big = 'v'.repeat(300_000);
    const names = Array.from({ length: 10 }, (_, i) => `o${i}`);
    await using s = await serve({
      list: objectsWith(
        () => [{ name: 'blob', type: 'str', value: big }],
        names.map((name) => ({ name, type: 'child<container>' })),
      ),
    });
    await expect(inspectIothreads(s.qmp, { features: BATCHED, maxBytes: 1 << 20 })).rejects.toThrow(
      /^QOM tree too bulky/,
    );
    // Within the budget the same tree is fine.
    expect((await inspectIothreads(s.qmp, { features: BATCHED, maxBytes: 4 << 20 })).holders).toBe('derived');
  });

  it('counts the values of IOThread properties read with qom-get', async () => {
    const mapping = Array.from({ length: 20_000 }, (_, i) => ({ iothread: `io${i}` }));
    await using s = await serve({
      list: objectsWith(
        () => [{ name: 'm', type: 'IOThreadVirtQueueMappingList' }],
        [{ name: 'dev', type: 'child<container>' }],
      ),
      get: () => mapping,
    });
    await expect(inspectIothreads(s.qmp, { features: DERIVED, maxBytes: 200_000 })).rejects.toThrow(
      /^QOM tree too bulky: .*\(at \/objects\/dev\)$/,
    );
  });
});

describe('the walk takes linear time, and --timeout bounds all of it', () => {
  it('reads an iothread-vq-mapping of 200,000 ids in linear time', { timeout: 15_000 }, async () => {
    // Quadratic (an includes() per id), this took about 25 s.
    const mapping = Array.from({ length: 200_000 }, (_, i) => ({ iothread: i % 2 ? 'io0' : `id${i}` }));
    await using s = await serve({
      iothreads: [thread('io0', 7), thread('io1', 8)],
      list: objectsWith(
        () => [{ name: 'iothread-vq-mapping', type: 'IOThreadVirtQueueMappingList' }],
        [{ name: 'dev', type: 'child<container>' }],
      ),
      get: () => mapping,
    });
    const report = await inspectIothreads(s.qmp, { features: DERIVED, timeout: 10_000 });
    expect(report.iothreads.map((t) => [t.id, t.holders])).toEqual([
      ['io0', [{ type: 'qom', path: '/objects/dev' }]],
      ['io1', []],
    ]);
  });

  it('times out when the whole walk takes longer than the timeout, though no single command does', async () => {
    // A chain 40 levels deep, 50 ms a level: each command is quick, the walk is not.
    const list = objectsWith(
      (path) => (path.split('/').length < 42 ? [{ name: 'c', type: 'child<container>' }] : []),
      [{ name: 'c', type: 'child<container>' }],
    );
    await using s = await serve({ list, slow: 50 });
    const error = await inspectIothreads(s.qmp, { features: DERIVED, timeout: 400 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'QMP_ERR_TIMEOUT' });
    expect((error as Error).message).toBe(
      'inspecting IOThreads: not done within 400 ms (the timeout bounds all of its commands together)',
    );
    expect(s.server.received.filter((c) => c.command === 'qom-list').length).toBeLessThan(40);
    // The session is still usable: the given-up commands' replies are dropped.
    await expect(s.qmp.execute('query-iothreads')).resolves.toEqual([]);
  });

  it("the caller's signal ends the walk with QMP_ERR_ABORTED, and the timer goes with it", async () => {
    const list = objectsWith(
      () => [{ name: 'c', type: 'child<container>' }],
      [{ name: 'c', type: 'child<container>' }],
    );
    await using s = await serve({ list, slow: 30 });
    const error = await inspectIothreads(s.qmp, {
      features: DERIVED,
      timeout: 60_000,
      signal: AbortSignal.timeout(200),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'QMP_ERR_ABORTED' });
  });

  it('keeps its own requests in bounds: more IOThread properties than the client queues at once', async () => {
    // Scaled down: 2,000 link properties against a queue of 40 (the default
    // queue is 100,000; the walk keeps 32 in flight).
    const links = Array.from({ length: 2000 }, (_, i): ObjectPropertyValue => ({
      name: `l${i}`,
      type: 'link<iothread>',
    }));
    await using s = await serve(
      {
        iothreads: [thread('io0', 7)],
        list: (path) =>
          path === '/machine'
            ? []
            : path === '/objects'
              ? [{ name: 'io0', type: 'child<iothread>' }, { name: 'dev', type: 'child<container>' }, ...links]
              : [],
        get: (_path, property) => (property === 'l1999' ? '/objects/io0' : ''),
      },
      { maxQueuedRequests: 40 },
    );
    const report = await inspectIothreads(s.qmp, { features: DERIVED });
    expect(report.iothreads[0]?.holders).toEqual([{ type: 'qom', path: '/objects' }]);
    expect(report.commands).toBe(1 + 4 + 2000);
  });
});

describe('a reply that contradicts its own schema', () => {
  it("is refused when the schema has 'holders' and the reply lacks them", async () => {
    await using s = await serve({ iothreads: [thread('io0', 7)], list: () => [] });
    // Our schema (the server's) has IOThreadInfo.holders: the probe says so.
    const error = await inspectIothreads(s.qmp).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QapiValidationError);
    expect((error as Error).message).toMatch(
      /^invalid reply to 'query-iothreads': \[0\]\.holders: missing, though the server's schema has 'holders'/,
    );
    // Deriving is still possible on request.
    expect((await inspectIothreads(s.qmp, { source: 'derived' })).holders).toBe('derived');
  });
});
