/**
 * The test server facing a hostile client (issue 15): requests nested as
 * deep as QEMU allows, a client that never reads its replies, bytes that
 * are not UTF-8, ids QEMU cannot echo exactly. Each case is bounded in
 * time and size; the server must answer as QEMU does and live on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { QmpTestServer } from '../../src/testing/index.js';
import { checkArguments } from '../../src/testing/arguments.js';
import type { SchemaCommand } from '../../src/frontend/model.js';
import { RawQmp } from '../helpers/raw-qmp.js';
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
function deepBlockdev(levels: number, leaf: Record<string, unknown> = { driver: 'file', filename: '/nonexistent' }): string {
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
    expect(((await raw.reply()).error as { desc: string }).desc).toMatch(/^Parameter '(file\.){1021}bogus' is unexpected$/);
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
    for (let i = 0; i < 20_000; i++) value = i % 3 === 0 ? { next: value } : i % 3 === 1 ? { list: [{}, value] } : { alt: value };
    expect(checkArguments(command.argType, { n: value })).toMatchObject({ ok: true });
    let bad: Record<string, unknown> = { oops: true };
    for (let i = 0; i < 20_000; i++) bad = { next: bad };
    const check = checkArguments(command.argType, { n: bad });
    expect(check.ok).toBe(false);
    expect((check as { desc: string }).desc).toMatch(/^Parameter 'n(\.next){20000}\.oops' is unexpected$/);
  });
});
