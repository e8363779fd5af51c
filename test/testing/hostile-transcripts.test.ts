/**
 * Transcripts made to hurt (issue 15): tens of thousands of commands
 * answered in reverse order (reply matching in `verify` and `--replay`
 * must stay linear), and recorded values nested far deeper than QEMU
 * allows (an invalid transcript, with its line, never a crash).
 */
import { describe, expect, it } from 'vitest';
import { loadValidators } from '../../src/backends/load.js';
import { jsonEqual, jsonKey, PendingCommands, verifyTranscript } from '../../src/backends/verify.js';
import { QmpTestServer, defaultSchemaPath } from '../../src/testing/index.js';

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

  it('replay: 30,000 recorded commands answered in reverse order, then replayed last first', { timeout: 20_000 }, async () => {
    await using server = await QmpTestServer.create();
    const replay = server.replay(reversed(COUNT), { requireAll: true });
    expect(replay.commands).toHaveLength(COUNT);
    const stream = server.connect();
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    // Asked for last first: each finds its own recording.
    let batch = '{"execute": "qmp_capabilities"}\n';
    for (let i = COUNT - 1; i >= 0; i--) batch += `{"execute": "qom-list", "arguments": {"path": "/p${i}"}, "id": ${i}}\n`;
    stream.write(batch);
    await until(() => text.endsWith(`"id": 0}\r\n`), () => `${text.split('\n').length - 3} of ${COUNT} replies`);
    const lines = text.split('\r\n').slice(2, -1);
    expect(lines).toHaveLength(COUNT);
    const wrong = lines.filter((line, n) => line !== `{"return": [{"name":"p${COUNT - 1 - n}","type":"str"}], "id": ${COUNT - 1 - n}}`);
    expect(wrong).toEqual([]);
    stream.destroy();
    server.assertDone();
  });
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
    expect(pending.takeById({ a: null, b: [1, 'x'] })).toBe('obj');
    expect(pending.firstFlagged()).toBe('none1');
    expect(pending.takeIdless()).toBe('none1');
    expect(pending.takeFlagged()).toBe('flagged');
    expect(pending.remaining()).toEqual(['none2']);
  });

  it('keys values as jsonEqual compares them', () => {
    const values: unknown[] = [1, 1n, '1', [1], { a: 1 }, { a: '1' }, null, true, 'true', 0.5, -0, 0, 2 ** 60, 2n ** 60n, [[]], [{}], { 'a,"b': 1 }, { a: 1, b: 2 }];
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

