/**
 * The test server facing a hostile client (issue 15): requests nested as
 * deep as QEMU allows, a client that never reads its replies, bytes that
 * are not UTF-8 (in qemu-replies.ts, checked against QEMU), ids QEMU reads
 * as doubles. Each case is bounded in
 * time and size; the server must answer as QEMU does and live on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { OUTPUT_HIGH_WATER, QmpTestServer } from '../../src/testing/index.js';
import { checkArguments } from '../../src/testing/arguments.js';
import type { SchemaCommand } from '../../src/frontend/model.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { DOUBLE_IDS, echoedIds } from './qemu-replies.js';
import { sharedDir } from '../helpers/shared.js';

const corpus72 = sharedDir('corpus/qemu-7.2/qapi');
const corpus10 = sharedDir('corpus/qemu-10.0/qapi');

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function negotiated(server: QmpTestServer): Promise<RawQmp> {
  const raw = new RawQmp(server.connect());
  open.push(raw);
  await raw.negotiate();
  return raw;
}

/** `blockdev-add` of a qcow2 node whose `file` is a qcow2 node… `levels` deep, the last one a `file` node. */
function deepBlockdev(
  levels: number,
  leaf: Record<string, unknown> = { driver: 'file', filename: '/nonexistent' },
): string {
  let node = JSON.stringify(leaf);
  for (let i = 1; i < levels; i++) node = `{"driver": "qcow2", "file": ${node}}`;
  return `{"execute": "blockdev-add", "arguments": ${node}, "id": "deep"}`;
}

describe.each([
  ['7.2', corpus72],
  ['10.0', corpus10],
] as const)('requests nested as deep as QEMU %s takes', (_release, corpus) => {
  it.skipIf(corpus === null)('checks a blockdev-add 1022 levels deep, and lives on', async () => {
    const server = await QmpTestServer.create({ schema: join(corpus!, 'qapi-schema.json') });
    open.push(server);
    server.on('blockdev-add', () => ({}));
    const raw = await negotiated(server);
    // 1022 nodes plus the envelope: 1023 levels of JSON, within QEMU's 1024.
    raw.send(deepBlockdev(1022));
    expect(await raw.reply()).toEqual({ return: {}, id: 'deep' });
    // A problem at the bottom is found and named with its full path.
    raw.send(deepBlockdev(1022, { driver: 'file' }));
    const reply = await raw.reply();
    expect(reply.id).toBe('deep');
    expect((reply.error as { desc: string }).desc).toMatch(/^Parameter '(file\.){1021}filename' is missing$/);
    raw.send(deepBlockdev(1022, { driver: 'file', filename: 'x', bogus: 1 }));
    expect(((await raw.reply()).error as { desc: string }).desc).toMatch(
      /^Parameter '(file\.){1021}bogus' is unexpected$/,
    );
    raw.send('{"execute": "query-version", "id": 2}');
    expect((await raw.reply()).id).toBe(2);
    expect(server.failures).toEqual([]);
  });
});

describe('the argument checker', () => {
  it('visits any depth without recursion (a transcript line may nest far deeper than QEMU accepts)', async () => {
    const { parseSchemaString } = await import('../../src/frontend/index.js');
    const model = parseSchemaString(
      `{ 'struct': 'Node', 'data': { '*next': 'Node', '*list': ['Node'], '*alt': 'Alt' } }
       { 'alternate': 'Alt', 'data': { 'n': 'Node', 's': 'str' } }
       { 'command': 'c', 'data': { 'n': 'Node' } }`,
      'deep.json',
    );
    const command = model.entities.find((e) => e.meta === 'command' && e.name === 'c') as unknown as SchemaCommand;
    let value: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++)
      value = i % 3 === 0 ? { next: value } : i % 3 === 1 ? { list: [{}, value] } : { alt: value };
    expect(checkArguments(command.argType, { n: value })).toMatchObject({ ok: true });
    let bad: Record<string, unknown> = { oops: true };
    for (let i = 0; i < 20_000; i++) bad = { next: bad };
    const check = checkArguments(command.argType, { n: bad });
    expect(check.ok).toBe(false);
    expect((check as { desc: string }).desc).toMatch(/^Parameter 'n(\.next){20000}\.oops' is unexpected$/);
  });
});

describe('a client that never reads its replies', () => {
  /**
   * Sends `count` copies of `request` (after negotiating) without reading
   * anything, waits until the server stops taking them, and returns what
   * the server holds for the client then; then reads everything.
   */
  async function flood(server: QmpTestServer, request: string, count: number) {
    const stream = server.connect();
    open.push({ close: () => stream.destroy() });
    // Nothing reads `stream`: the replies pile up on the server's side.
    const batch = `${request}\n`.repeat(1000);
    stream.write('{"execute": "qmp_capabilities"}\n');
    for (let i = 0; i < count / 1000; i++) stream.write(batch);
    // Wait until the server has stopped taking requests (our writes stop draining).
    let last = -1;
    for (let still = 0; still < 5;) {
      await new Promise((r) => setTimeout(r, 20));
      const now = stream.writableLength;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const session = [...server.sessions][0]!;
    const held = { unsent: session.unsentBytes, queued: session.queued };
    // Now read: every reply comes, nothing is lost.
    let replies = 0;
    let carry = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${replies} of ${count + 1} replies`)), 20_000);
      stream.on('data', (chunk: Buffer) => {
        const text = carry + chunk.toString('latin1');
        let at = text.indexOf('\n');
        let start = 0;
        for (; at !== -1; at = text.indexOf('\n', start)) {
          if (text.startsWith('{"return"', start)) replies++;
          start = at + 1;
        }
        carry = text.slice(start);
        if (replies === count + 1) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return held;
  }

  it('stops reading once 1 MiB of replies waits, and answers the rest when the client reads', async () => {
    const server = await QmpTestServer.create();
    open.push(server);
    // 50,000 requests (1.4 MB) would take 4.3 MB of replies.
    const held = await flood(server, '{"execute": "query-version"}', 50_000);
    expect(held.unsent).toBeLessThan(OUTPUT_HIGH_WATER + 1000);
    expect(held.queued).toBeLessThanOrEqual(1);
  });

  it('stops reading too when replies may overtake each other (serial: false)', async () => {
    const server = await QmpTestServer.create({ serial: false });
    open.push(server);
    const held = await flood(server, '{"execute": "query-version"}', 50_000);
    expect(held.unsent).toBeLessThan(OUTPUT_HIGH_WATER + 1000);
    expect(held.queued).toBeLessThanOrEqual(1);
  });

  it('is not made to amplify: query-qmp-schema replies stop at the mark too', async () => {
    const server = await QmpTestServer.create();
    open.push(server);
    const size = JSON.stringify(server.schema.introspection()).length;
    expect(size).toBeGreaterThan(10_000);
    // 2,000 requests (64 KB) would take 2,000 replies of `size` bytes (27 MB).
    const held = await flood(server, '{"execute": "query-qmp-schema"}', 2000);
    expect(held.unsent).toBeLessThan(OUTPUT_HIGH_WATER + size + 100);
    expect(held.queued).toBeLessThanOrEqual(1);
  });
});

describe('ids QEMU reads as doubles', () => {
  it('are echoed as QEMU writes them (1e400 as inf, 2^64 as 1.8446744073709552e+19)', async () => {
    const server = await QmpTestServer.create();
    open.push(server);
    const stream = server.connect();
    open.push({ close: () => stream.destroy() });
    expect(
      await echoedIds(
        stream,
        DOUBLE_IDS.map(([id]) => id),
      ),
    ).toEqual(DOUBLE_IDS.map(([, echoed]) => echoed));
  });
});

describe('input held while reading is stopped', () => {
  it('is answered in order, whatever the chunks, once reading resumes', async () => {
    const { parseSchemaString } = await import('../../src/frontend/index.js');
    const { ServerSchema } = await import('../../src/testing/index.js');
    const model = parseSchemaString(
      "{ 'command': 'slow' }\n{ 'struct': 'Num', 'data': { 'n': 'int' } }\n" +
        "{ 'command': 'quick', 'data': 'Num', 'returns': 'Num' }",
      'held.json',
    );
    const server = await QmpTestServer.create({ schema: await ServerSchema.of(model) });
    open.push(server);
    server.on('slow').reply({}).delay(30);
    server.on('quick', ({ n }: { n: number }) => ({ n }));
    const raw = await negotiated(server);
    // A slow command, then requests in pieces across many chunks, some splitting a line.
    let text = '{"execute": "slow", "id": "s"}\n';
    for (let n = 0; n < 200; n++) text += `{"execute": "quick", "arguments": {"n": ${n}}, "id": ${n}}\n`;
    for (let at = 0; at < text.length; at += 37) {
      raw.stream.write(text.slice(at, at + 37));
      if (at % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    expect((await raw.reply()).id).toBe('s');
    for (let n = 0; n < 200; n++) expect(await raw.reply()).toEqual({ return: { n }, id: n });
  });
});
