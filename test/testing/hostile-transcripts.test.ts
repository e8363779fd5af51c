/**
 * Transcripts made to hurt (issue 15): tens of thousands of commands
 * answered in reverse order (reply matching in `verify` and `--replay`
 * must stay linear), and recorded values nested far deeper than QEMU
 * allows (an invalid transcript, with its line, never a crash).
 */
import { describe, expect, it } from 'vitest';
import { loadValidators } from '../../src/backends/load.js';
import { jsonEqual, jsonKey, PendingCommands, verifyTranscript } from '../../src/transcripts/index.js';
import { join } from 'node:path';
import { QmpTestServer, QmpTranscriptError, defaultSchemaPath } from '../../src/testing/index.js';
import { RawQmp } from '../helpers/raw-qmp.js';
import { rejection } from '../helpers/rejection.js';
import { sharedDir } from '../helpers/shared.js';

const corpus72 = sharedDir('corpus/qemu-7.2/qapi');

/** `count` qom-list commands with ids 0…count-1, then their replies, last first. */
function reversed(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(`{"dir": "client", "msg": {"execute": "qom-list", "arguments": {"path": "/p${i}"}, "id": ${i}}}`);
  }
  for (let i = count - 1; i >= 0; i--) {
    lines.push(`{"dir": "server", "msg": {"return": [{"name": "p${i}", "type": "str"}], "id": ${i}}}`);
  }
  return `${lines.join('\n')}\n`;
}

const COUNT = 30_000;

async function until(done: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!done()) throw new Error(`still waiting: ${what()}`);
}

describe('replies matched to commands in linear time', () => {
  // When each reply searched the commands in flight, 20,000 took 17 s
  // (verify) and 23 s (loading the replay), and it grew with the square;
  // now about a second each. The timeouts bound the attack, not a speed.
  it('verify: 30,000 commands answered in reverse order', { timeout: 15_000 }, async () => {
    const loaded = await loadValidators(defaultSchemaPath());
    const result = verifyTranscript(reversed(COUNT), loaded.validatorSet(false));
    expect(result.messages).toBe(2 * COUNT);
    expect(result.invalid).toBe(0);
    expect(result.verdicts[0]!.label).toBe("command 'qom-list' (id 0)");
    expect(result.verdicts.at(-1)!.label).toBe("reply to 'qom-list' (id 0)");
  });

  it(
    'replay: 30,000 recorded commands answered in reverse order, then replayed last first',
    { timeout: 20_000 },
    async () => {
      await using server = await QmpTestServer.create();
      const replay = server.replay(reversed(COUNT), { requireAll: true });
      expect(replay.commands).toHaveLength(COUNT);
      const stream = server.connect();
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
      // Asked for last first: each finds its own recording.
      let batch = '{"execute": "qmp_capabilities"}\n';
      for (let i = COUNT - 1; i >= 0; i--)
        batch += `{"execute": "qom-list", "arguments": {"path": "/p${i}"}, "id": ${i}}\n`;
      stream.write(batch);
      await until(
        () => text.endsWith(`"id": 0}\r\n`),
        () => `${text.split('\n').length - 3} of ${COUNT} replies`,
      );
      const lines = text.split('\r\n').slice(2, -1);
      expect(lines).toHaveLength(COUNT);
      const wrong = lines.filter(
        (line, n) => line !== `{"return": [{"name":"p${COUNT - 1 - n}","type":"str"}], "id": ${COUNT - 1 - n}}`,
      );
      expect(wrong).toEqual([]);
      stream.destroy();
      server.assertDone();
    },
  );
});

describe('PendingCommands', () => {
  it('takes by id: exactly equal first, then equal as doubles; id-less and flagged in order', () => {
    const pending = new PendingCommands<string>();
    pending.add('big-as-double', true, 2 ** 70);
    pending.add('big', true, 2n ** 70n);
    pending.add('obj', true, { b: [1, 'x'], a: null });
    pending.add('none1', false, undefined, true);
    pending.add('none2', false, undefined);
    pending.add('flagged', true, 'f', true);
    expect(pending.size).toBe(6);
    expect(pending.takeById(2n ** 70n)).toBe('big');
    expect(pending.takeById(2n ** 70n)).toBe('big-as-double'); // QEMU echoes it as a double
    expect(pending.takeById(2n ** 70n)).toBeUndefined();
    // Distinct bigints that share a double are not equal.
    pending.add('big+1', true, 2n ** 70n + 1n);
    expect(pending.takeById(2n ** 70n + 2n)).toBeUndefined();
    expect(pending.takeById([2n ** 70n + 2n])).toBeUndefined();
    expect(pending.takeById(2 ** 70)).toBe('big+1');
    expect(pending.takeById({ a: null, b: [1, 'x'] })).toBe('obj');
    expect(pending.firstFlagged()).toBe('none1');
    expect(pending.takeIdless()).toBe('none1');
    expect(pending.takeFlagged()).toBe('flagged');
    expect(pending.remaining()).toEqual(['none2']);
  });

  it('keys values as jsonEqual compares them', () => {
    const values: unknown[] = [
      1,
      1n,
      '1',
      [1],
      { a: 1 },
      { a: '1' },
      null,
      true,
      'true',
      0.5,
      -0,
      0,
      2 ** 60,
      2n ** 60n,
      [[]],
      [{}],
      { 'a,"b': 1 },
      { a: 1, b: 2 },
    ];
    for (const a of values) {
      for (const b of values) {
        expect(jsonKey(a) === jsonKey(b), `${jsonKey(a)} vs ${jsonKey(b)}`).toBe(jsonEqual(a, b));
        if (jsonEqual(a, b, true)) expect(jsonKey(a, true)).toBe(jsonKey(b, true));
      }
    }
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonKey(deep)).toHaveLength(200_001);
  });
});

describe('recordings nested deeply', () => {
  const nested = (depth: number): string => `${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}`;
  const qomGet = (id: number, value: string): string =>
    '{"dir": "client", "msg": {"execute": "qom-get", ' +
    `"arguments": {"path": "/", "property": "p${id}"}, "id": ${id}}}\n` +
    `{"dir": "server", "msg": {"return": ${value}, "id": ${id}}}\n`;

  it('a server message deeper than QEMU allows makes the transcript invalid, naming its line', async () => {
    await using server = await QmpTestServer.create();
    const e = await rejection(
      (async () => server.replay(qomGet(1, nested(1000)) + qomGet(2, nested(1025))))(),
      QmpTranscriptError,
    );
    expect(e.line).toBe(4);
    expect(e.message).toBe(
      "line 4: a server message nested deeper than 1024 levels (QEMU's JSON parser, and so every client, refuses it)",
    );
  });

  it('a client command deeper than QEMU allows is skipped (QEMU refused it), its id-less refusal too', async () => {
    await using server = await QmpTestServer.create();
    const tooDeep =
      '{"dir": "client", "msg": {"execute": "qom-set", ' +
      `"arguments": {"path": "/", "property": "p", "value": ${nested(3000)}}, "id": 7}}\n` +
      '{"dir": "server", "msg": {"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}}\n';
    const replay = server.replay(tooDeep + qomGet(1, nested(1000)), { requireAll: true });
    expect(replay.commands.map((c) => c.command)).toEqual(['qom-get']);
    const raw = new RawQmp(server.connect());
    await raw.negotiate();
    raw.send('{"execute": "qom-get", "arguments": {"path": "/", "property": "p1"}, "id": 1}');
    const reply = await raw.reply();
    expect(reply.id).toBe(1);
    expect(JSON.stringify(reply.return)).toBe(nested(1000));
    raw.close();
    server.assertDone();
  });

  it.skipIf(corpus72 === null)(
    'a legal recorded argument 1000 levels deep is replayed; a reply problem deep down is named by a shortened path',
    async () => {
      await using server = await QmpTestServer.create({ schema: join(corpus72!, 'qapi-schema.json') });
      let node = '{"driver": "file", "filename": "x"}';
      for (let i = 1; i < 1000; i++) node = `{"driver": "qcow2", "file": ${node}}`;
      const add = `{"execute": "blockdev-add", "arguments": ${node}, "id": 1}`;
      const replay = server.replay(
        `{"dir": "client", "msg": ${add}}\n{"dir": "server", "msg": {"return": {}, "id": 1}}\n`,
        { requireAll: true },
      );
      expect(replay.commands).toHaveLength(1);
      const raw = new RawQmp(server.connect());
      await raw.negotiate();
      raw.send(add);
      expect(await raw.reply()).toEqual({ return: {}, id: 1 });
      raw.close();
      server.assertDone();

      let image = '{"filename": "x", "format": "raw", "virtual-size": "big"}';
      for (let i = 0; i < 1000; i++)
        image = `{"filename": "x", "format": "qcow2", "virtual-size": 1, "backing-image": ${image}}`;
      const bad =
        '{"dir": "client", "msg": {"execute": "query-named-block-nodes", "id": 2}}\n' +
        '{"dir": "server", "msg": {"return": [{"file": "x", "ro": false, "drv": "qcow2", "encrypted": false, ' +
        '"bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0, ' +
        '"bps_max": 0, "bps_rd_max": 0, "bps_wr_max": 0, "iops_max": 0, "iops_rd_max": 0, "iops_wr_max": 0, ' +
        '"detect_zeroes": "off", "write_threshold": 0, "backing_file_depth": 0, ' +
        `"cache": {"writeback": true, "direct": false, "no-flush": false}, "image": ${image}}], "id": 2}}\n`;
      const e = await rejection((async () => server.replay(bad))(), QmpTranscriptError);
      expect(e.line).toBe(2);
      expect(e.message.length).toBeLessThan(400);
      expect(e.message).toMatch(
        /^line 2: reply to 'query-named-block-nodes': \[0\]\.image\.backing-image\.backing-image.*…\(\d+ characters\)….*\.backing-image\.virtual-size: expected int64/,
      );
    },
  );
});
