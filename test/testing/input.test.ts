/**
 * A hostile client cannot crash the server or grow its memory: oversized,
 * deep, duplicate-keyed and garbage lines each get QEMU's error, and the
 * session goes on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RequestReader, decodeRequest, type Request } from '../../src/testing/input.js';
import { QmpTestServer } from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';

function reader(max: number): { requests: Request[]; reader: RequestReader } {
  const requests: Request[] = [];
  return { requests, reader: new RequestReader((r) => requests.push(r), max) };
}

const summary = (rs: Request[]) => rs.map((r) => (r.ok ? r.message : r.desc));

describe('RequestReader', () => {
  it('answers a line over the limit once and carries on after its newline, wherever the chunks split', () => {
    const text = `{"a":1}\n${'x'.repeat(50)}\n{"b":2}\n${'y'.repeat(30)}\n{"c":3}\n`;
    const bytes = Buffer.from(text);
    const expected = [{ a: 1 }, 'JSON token size limit exceeded', { b: 2 }, 'JSON token size limit exceeded', { c: 3 }];
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 5) {
        const { requests, reader: r } = reader(20);
        r.push(bytes.subarray(0, i));
        r.push(bytes.subarray(i, j));
        r.push(bytes.subarray(j));
        expect(summary(requests), `split at ${i}, ${j}`).toEqual(expected);
        expect(r.bufferedBytes).toBe(0);
      }
    }
  });

  it('holds at most the limit while a huge line streams in', () => {
    const { requests, reader: r } = reader(1000);
    for (let i = 0; i < 10_000; i++) {
      r.push(Buffer.alloc(1000, 0x7a));
      expect(r.bufferedBytes).toBeLessThanOrEqual(1000);
    }
    r.push(Buffer.from('\n{"ok":true}\n'));
    expect(summary(requests)).toEqual(['JSON token size limit exceeded', { ok: true }]);
  });

  it("gives QEMU's errors for nesting, duplicate keys and other non-JSON", () => {
    expect(decodeRequest(`${'['.repeat(5000)}${']'.repeat(5000)}`)).toEqual({
      ok: false,
      desc: 'JSON nesting depth limit exceeded',
    });
    expect(decodeRequest(`{"a": ${'['.repeat(1024)}${']'.repeat(1024)}}`)).toEqual({
      ok: false,
      desc: 'JSON nesting depth limit exceeded',
    });
    expect(decodeRequest(`{"a": ${'['.repeat(1023)}${']'.repeat(1023)}}`).ok).toBe(true);
    expect(decodeRequest('{"a": {"b": 1, "b": 2}}')).toEqual({ ok: false, desc: 'JSON parse error, duplicate key' });
    expect(decodeRequest('{"a": "x:y", "b": [":", {"c": ":"}]}')).toEqual({
      ok: true,
      message: { a: 'x:y', b: [':', { c: ':' }] },
    });
    expect(decodeRequest('{"a\\":": 1}')).toEqual({ ok: true, message: { 'a":': 1 } });
    const garbage = decodeRequest('this is not json');
    expect(garbage.ok).toBe(false);
    expect(!garbage.ok && garbage.desc).toMatch(/^JSON parse error, /);
    expect(decodeRequest('{"n": 18446744073709551615}')).toEqual({ ok: true, message: { n: 18446744073709551615n } });
  });
});

describe('a hostile client', () => {
  const servers: QmpTestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('gets an error per bad line and a working session after them', async () => {
    const server = await QmpTestServer.create({ maxRequestBytes: 4096 });
    servers.push(server);
    server.on('query-status', () => ({ running: true, status: 'running' }));
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    raw.send('this is not json');
    raw.send(`{"execute": "query-status", "arguments": {"x": "${'z'.repeat(10_000)}"}}`);
    raw.send(`{"execute": "query-status", "id": ${'['.repeat(2000)}${']'.repeat(2000)}}`);
    raw.send('{"execute": "query-status", "id": 1, "id": 1}');
    raw.send('\u0000\u0001\u00ff');
    raw.send('{"execute": "query-status", "id": "still here"}');
    const descs: string[] = [];
    for (let i = 0; i < 5; i++) descs.push(((await raw.reply()).error as { desc: string }).desc);
    expect(descs[0]).toMatch(/^JSON parse error, /);
    expect(descs.slice(1, 4)).toEqual([
      'JSON token size limit exceeded',
      'JSON nesting depth limit exceeded',
      'JSON parse error, duplicate key',
    ]);
    expect(descs[4]).toMatch(/^JSON parse error, /);
    expect(await raw.reply()).toEqual({ return: { running: true, status: 'running' }, id: 'still here' });
    raw.close();
  });
});
