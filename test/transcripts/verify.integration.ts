/**
 * `verify` on a session recorded here from a real QEMU, made to stress
 * the pairing: a burst of pipelined commands with ids of every JSON type
 * and none, an `exec-oob` command, refusals with and without a readable
 * id, and events between the replies. Server lines are recorded as QEMU
 * sent them (never re-encoded), so the numbers stay exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { parseTranscript, verifyTranscript } from '../../src/transcripts/index.js';
import {
  QEMU_BINARY,
  RELEASES,
  qemuAvailable,
  releaseSchemas,
  startQemu,
  stopAllQemu,
  type QemuInstance,
} from '../helpers/qemu.js';

/** Raw command lines, sent in one write after negotiation. */
const BURST = [
  '{"execute": "query-iothreads", "id": {"n": 1, "tag": ["a"]}}',
  '{"execute": "query-status"}',
  '{"exec-oob": "query-yank", "id": [2]}',
  '{"execute": "no-such-command", "id": null}',
  '{"execute": "query-iothreads", "arguments": {"bogus": 1}, "id": 3.5}',
  '{"execute": "cont", "id": true}',
  '{"execute": "query-name", "id": 12345678901234567890}',
  '{"execute": "query-kvm", "id": 123456789012345678901}',
  '{"execute": "query-kvm", "id": "extra", "bogus": 1}',
  '{"execute": 5, "id": "bad-name"}',
  '{"execute": "stop"}',
  '{"execute": "query-status", "id": "last"}',
];

interface Recording {
  lines: string[];
  replies: number;
}

/** Runs the session on a QMP socket, recording it in transcript form. */
function record(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rec: Recording = { lines: [], replies: 0 };
    const socket: Socket = connect(path);
    let buffered = '';
    let stage = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`QMP session timed out at stage ${stage}:\n${rec.lines.join('\n')}`));
    }, 20_000);
    const send = (line: string): void => {
      rec.lines.push(`{"dir": "client", "msg": ${line}}`);
      socket.write(`${line}\n`);
    };
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        rec.lines.push(`{"dir": "server", "msg": ${line}}`);
        const kind = JSON.parse(line) as Record<string, unknown>;
        if ('return' in kind || 'error' in kind) rec.replies++;
        if (stage === 0 && 'QMP' in kind) {
          stage = 1;
          send('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": "neg"}');
        } else if (stage === 1 && rec.replies === 1) {
          stage = 2;
          for (const l of BURST) rec.lines.push(`{"dir": "client", "msg": ${l}}`);
          socket.write(BURST.map((l) => `${l}\n`).join(''));
        } else if (stage === 2 && rec.replies === 1 + BURST.length) {
          stage = 3;
          clearTimeout(timer);
          socket.end();
          resolve(`${rec.lines.join('\n')}\n`);
        }
      }
    });
  });
}

describe.each(RELEASES)('verify: a session recorded from real QEMU %s, against its own schema', (release) => {
  const schemas = releaseSchemas(release);
  const available = schemas !== null && qemuAvailable(QEMU_BINARY, release);
  let qemu: QemuInstance;
  let loaded: LoadedSchema;
  let transcript: string;
  beforeAll(async () => {
    if (!available) return;
    qemu = await startQemu({ release, args: ['-object', 'iothread,id=io0'] });
    [loaded, transcript] = await Promise.all([loadValidators(schemas.system), record(qemu.socket)]);
  });
  afterAll(stopAllQemu);

  it.runIf(available)('pairs every reply and finds the session consistent', () => {
    const r = verifyTranscript(transcript, loaded.validatorSet(false));
    expect(r.badLines).toEqual([]);
    expect(r.verdicts.filter((v) => v.findings.length > 0)).toEqual([]);
    // Greeting, 13 commands, 13 replies, and the RESUME and STOP events.
    const kinds = r.verdicts.map((v) => v.kind);
    expect(kinds.filter((k) => k === 'command')).toHaveLength(13);
    expect(kinds.filter((k) => k === 'return').length + kinds.filter((k) => k === 'error').length).toBe(13);
    expect(
      r.verdicts
        .filter((v) => v.kind === 'event')
        .map((v) => v.label)
        .sort(),
    ).toEqual([`event 'RESUME'`, `event 'STOP'`]);
    const labels = r.verdicts.filter((v) => v.dir === 'server').map((v) => v.label);
    expect(labels).toEqual(
      expect.arrayContaining([
        `reply to 'query-iothreads' (id {"n":1,"tag":["a"]})`,
        `reply to 'query-status'`,
        `reply to 'query-yank' (id [2])`,
        `error reply to 'no-such-command' (id null)`,
        `error reply to 'query-iothreads' (id 3.5)`,
        `reply to 'cont' (id true)`,
        `reply to 'query-name' (id 12345678901234567890)`,
        `reply to 'query-kvm' (id 123456789012345678901)`,
        `error reply to 'query-kvm' (id "extra")`,
        `error reply to a malformed command (id "bad-name")`,
        `reply to 'stop'`,
        `reply to 'query-status' (id "last")`,
      ]),
    );
    expect(r.invalid).toBe(0);
  });

  it.runIf(available)('keeps strict mode clean too, and decodes the big id exactly', () => {
    const r = verifyTranscript(transcript, loaded.validatorSet(true), { strict: true });
    expect(r.verdicts.flatMap((v) => v.findings)).toEqual([]);
    const big = parseTranscript(transcript).entries.find(
      (e) => e.dir === 'server' && typeof (e.msg as { id?: unknown }).id === 'bigint',
    );
    expect((big?.msg as { id: unknown }).id).toBe(12345678901234567890n);
  });

  it.runIf(available)('reports the accepted commands once the replies are swapped for successes', () => {
    // Turn every refusal into an acceptance: the commands are now findings.
    const accepted = transcript
      .split('\n')
      .map((l) => (l.includes('"error"') ? l.replace(/"error": \{[^}]*\}/, '"return": {}') : l))
      .join('\n');
    const r = verifyTranscript(accepted, loaded.validatorSet(false));
    const found = r.verdicts.flatMap((v) => v.findings.map((f) => `${v.label}: ${f.path}: ${f.message}`));
    expect(found).toEqual(
      expect.arrayContaining([
        `command 'no-such-command' (id null): execute: command 'no-such-command' is not in the schema`,
        `command 'query-iothreads' (id 3.5): arguments.bogus: unknown member (the command takes no arguments)`,
        `command 'query-kvm' (id "extra"): bogus: unknown member of a command`,
      ]),
    );
  });
});
