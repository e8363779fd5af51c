/**
 * `verify` on QEMU 7.2's recorded session against QEMU 7.2's schema, as a
 * library call and as the built CLI (`node bin/qapi-ts verify`). The
 * broken copies are made here, in a temporary folder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { OLDER_QEMU_HINT } from '../../src/support/problems.js';
import { parseTranscript, verifyTranscript, type VerifyResult } from '../../src/transcripts/index.js';
import { parseJson, stringifyJson } from '../../src/runtime/json.js';
import { builtCli, runCli, type CliRun } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus/qemu-7.2/qapi');
const transcripts = sharedDir('transcripts/qemu-7.2');
const SCHEMA = corpus && join(corpus, 'qapi-schema.json');
const TRANSCRIPT = transcripts && join(transcripts, 'system-x86_64.jsonl');
const haveData = SCHEMA !== null && TRANSCRIPT !== null;

type Msg = Record<string, unknown>;

/**
 * Rewrites the message of direction `dir` with id `id` (exactly one must
 * exist); returns the new text and the 1-based line changed.
 */
function edit(
  text: string,
  dir: 'client' | 'server',
  id: string,
  change: (msg: Msg) => Msg,
): { text: string; line: number } {
  const lines = text.split('\n');
  const hits = lines.flatMap((raw, i) => {
    if (raw.trim() === '') return [];
    const entry = parseJson(raw) as { dir: string; msg: Msg };
    return entry.dir === dir && entry.msg.id === id ? [i] : [];
  });
  expect(hits, `one ${dir} message with id ${id}`).toHaveLength(1);
  const i = hits[0]!;
  const entry = parseJson(lines[i]!) as { dir: string; msg: Msg };
  lines[i] = stringifyJson({ dir, msg: change(entry.msg) });
  return { text: lines.join('\n'), line: i + 1 };
}

/** `line: path: message` of every finding. */
function findings(result: VerifyResult): string[] {
  return result.verdicts.flatMap((v) => v.findings.map((f) => `${v.line}: ${f.path}: ${f.message}`));
}

function ret(msg: Msg): Msg {
  return msg.return as Msg;
}

/** The broken copies, each with what must be reported (line filled in later). */
interface Case {
  readonly name: string;
  readonly dir: 'client' | 'server';
  readonly id: string;
  readonly change: (msg: Msg) => Msg;
  /** Findings as `path: message` prefixes (the message may go on). */
  readonly expected: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'wrong type in a reply',
    dir: 'server',
    id: 'rec-7',
    change: (m) => {
      (ret(m) as unknown as Msg[])[1]!['thread-id'] = '6711';
      return m;
    },
    expected: ['return[1].thread-id: expected int64 (an integer)'],
  },
  {
    name: 'missing mandatory member in a reply',
    dir: 'server',
    id: 'rec-2',
    change: (m) => {
      delete ret(m).running;
      return m;
    },
    expected: ['return.running: missing mandatory member'],
  },
  {
    name: 'bad enum value in arguments the server accepted',
    dir: 'client',
    id: 'rec-47',
    change: (m) => {
      (m.arguments as Msg).type = 'fuller';
      return m;
    },
    expected: ['arguments.type: unexpected string "fuller"; expected one of "static", "full"'],
  },
  {
    name: 'wrong type deep in arguments the server accepted',
    dir: 'client',
    id: 'rec-47',
    change: (m) => {
      ((m.arguments as Msg).model as Msg).name = 64;
      return m;
    },
    expected: ['arguments.model.name: expected string, got number 64'],
  },
  {
    name: 'missing mandatory argument the server accepted',
    dir: 'client',
    id: 'rec-50',
    change: (m) => ({ ...m, arguments: {} }),
    expected: ['arguments.id: missing mandatory member'],
  },
  {
    name: 'out-of-range integer (size beyond uint64)',
    dir: 'server',
    id: 'rec-20',
    change: (m) => {
      (ret(m) as unknown as Msg[])[0]!.size = 2n ** 64n;
      return m;
    },
    expected: ['return[0].size: uint64 out of range [0, 18446744073709551615]: 18446744073709551616'],
  },
];

describe.runIf(haveData)('verify: QEMU 7.2 session against the 7.2 schema (library)', () => {
  let loaded: LoadedSchema;
  let original: string;
  let warnings = 0;
  beforeAll(async () => {
    loaded = await loadValidators(SCHEMA!, { onWarning: () => void warnings++ });
    original = readFileSync(TRANSCRIPT!, 'utf8');
  });

  const run = (text: string, strict = false): VerifyResult =>
    verifyTranscript(text, loaded.validatorSet(strict), { strict });

  it('accepts the real session, compatibly and strictly', () => {
    for (const strict of [false, true]) {
      const r = run(original, strict);
      expect(findings(r)).toEqual([]);
      expect(r.badLines).toEqual([]);
      expect([r.messages, r.valid, r.invalid]).toEqual([127, 127, 0]);
    }
    // The 7.2 schema's doc comments do not follow 10.0's rules: warnings, not errors.
    expect(warnings).toBeGreaterThan(0);
  });

  it('decodes 18446744073709551552 exactly', () => {
    const entry = parseTranscript(original).entries.find((e) => e.dir === 'server' && (e.msg as Msg).id === 'rec-47')!;
    const props = (ret(entry.msg as Msg).model as Msg).props as Msg;
    expect(props['lbr-fmt']).toBe(18446744073709551552n);
    expect(typeof props['lbr-fmt']).toBe('bigint');
    expect(props['lbr-fmt']).not.toBe(BigInt(Number(18446744073709551552n)));
  });

  it('pairs the refusals in the session (unknown command, unexpected member) as valid', () => {
    const r = run(original);
    const labels = r.verdicts.filter((v) => v.kind === 'error').map((v) => v.label);
    expect(labels).toEqual([
      `error reply to 'query-sgx-capabilities' (id "rec-34")`,
      `error reply to 'device-list-properties' (id "rec-46")`,
      `error reply to 'no-such-command' (id "rec-56")`,
      `error reply to 'query-iothreads' (id "rec-57")`,
    ]);
    const events = r.verdicts.filter((v) => v.kind === 'event').map((v) => v.label);
    expect(events).toEqual([`event 'BLOCK_EXPORT_DELETED'`, `event 'RESUME'`]);
  });

  for (const c of CASES) {
    it(`reports ${c.name}`, () => {
      const { text, line } = edit(original, c.dir, c.id, c.change);
      const r = run(text);
      const got = findings(r);
      expect(got).toHaveLength(c.expected.length);
      c.expected.forEach((want, i) => expect(got[i]!.startsWith(`${line}: ${want}`), got[i]).toBe(true));
      expect([r.messages, r.invalid]).toEqual([127, 1]);
    });
  }

  it('reports what the server accepted but QEMU would refuse, and not once refused', () => {
    const accepted = edit(original, 'server', 'rec-56', () => ({ return: {}, id: 'rec-56' }));
    const both = edit(accepted.text, 'server', 'rec-57', () => ({ return: [], id: 'rec-57' }));
    const r = run(both.text);
    expect(findings(r)).toEqual([
      `${accepted.line - 1}: execute: command 'no-such-command' is not in the schema`,
      `${both.line - 1}: arguments.bogus: unknown member (the command takes no arguments)`,
    ]);
    // The same bad enum, refused by the server, is consistent.
    const badEnum = edit(original, 'client', 'rec-47', (m) => ({
      ...m,
      arguments: { type: 'fuller', model: { name: 'x' } },
    }));
    const refused = edit(badEnum.text, 'server', 'rec-47', () => ({
      id: 'rec-47',
      error: { class: 'GenericError', desc: "Parameter 'type' does not accept value 'fuller'" },
    }));
    expect(findings(run(refused.text))).toEqual([]);
  });

  it('reports garbage lines by number and judges the rest', () => {
    const lines = original.split('\n');
    lines.splice(5, 0, 'not json at all');
    lines.splice(9, 0, '{"dir": "server", "msg": {"return": {}, "id": "rec-3"');
    const r = run(lines.join('\n'));
    expect(r.badLines.map((b) => b.line)).toEqual([6, 10]);
    expect(r.messages).toBe(127);
  });

  it('takes 64-bit values beyond 2^53 as exact bigints (int64 mixed)', () => {
    const huge = edit(original, 'server', 'rec-20', (m) => {
      (ret(m) as unknown as Msg[])[0]!.size = 2n ** 60n;
      return m;
    });
    expect(huge.text).toContain('"size":1152921504606846976');
    expect(findings(run(huge.text))).toEqual([]);
  });
});

// --- the CLI, as users run it --------------------------------------------

describe.runIf(haveData && builtCli('src/transcripts/index.js', 'verify CLI tests'))(
  'qapi-ts verify (built CLI)',
  () => {
    let dir: string;
    const runs = new Map<string, CliRun>();
    const lines = new Map<string, number>();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'qapi-ts-verify-'));
      const original = readFileSync(TRANSCRIPT!, 'utf8');
      const broken = (name: string, text: string): string => {
        const path = join(dir, `${name}.jsonl`);
        writeFileSync(path, text);
        return path;
      };
      // One copy with four problems, one per kind the issue names.
      let text = original;
      for (const c of CASES.filter((c) =>
        [
          'wrong type in a reply',
          'missing mandatory member in a reply',
          'bad enum value in arguments the server accepted',
          'out-of-range integer (size beyond uint64)',
        ].includes(c.name),
      )) {
        const e = edit(text, c.dir, c.id, c.change);
        text = e.text;
        lines.set(c.name, e.line);
      }
      const bad = broken('bad', text);
      const garbage = broken('garbage', original.replace('\n', '\n{"dir": "client", "msg": {"execute":\n'));
      // 2^60: exact as bigint, not as a JavaScript number.
      const huge = broken(
        'huge',
        edit(original, 'server', 'rec-20', (m) => {
          (ret(m) as unknown as Msg[])[0]!.size = 2n ** 60n;
          return m;
        }).text,
      );
      const jobs: [string, string[]][] = [
        ['ok', ['verify', '--schema', SCHEMA!, TRANSCRIPT!]],
        ['strict', ['verify', '--strict', '-s', SCHEMA!, TRANSCRIPT!]],
        ['bad', ['verify', '--schema', SCHEMA!, bad]],
        ['garbage', ['verify', '--schema', SCHEMA!, garbage]],
        ['huge-number', ['verify', '--int64', 'number', '--schema', SCHEMA!, huge]],
        ['no-schema', ['verify', TRANSCRIPT!]],
        ['missing-file', ['verify', '--schema', SCHEMA!, join(dir, 'nope.jsonl')]],
        ['bad-int64', ['verify', '--int64', 'huge', '--schema', SCHEMA!, TRANSCRIPT!]],
        ['strict-docs', ['verify', '--strict-docs', '--schema', SCHEMA!, TRANSCRIPT!]],
      ];
      await Promise.all(jobs.map(async ([name, args]) => runs.set(name, await runCli(args))));
    }, 120_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('exits 0 on the real session, with one summarised warning line', () => {
      for (const name of ['ok', 'strict']) {
        const r = runs.get(name)!;
        expect(r.stdout).toBe('127 messages, 127 valid, 0 invalid\n');
        expect(r.code).toBe(0);
        expect(r.stderr).toMatch(
          /^qapi-ts verify: \d+ doc-comment warnings in .*qapi-schema\.json \(--warnings lists them, --strict-docs makes them errors\)\n$/,
        );
      }
    });

    it('exits 1 naming line, member path and reason', () => {
      const r = runs.get('bad')!;
      const out = r.stdout.trimEnd().split('\n');
      const file = join(dir, 'bad.jsonl');
      expect(out).toEqual([
        `${file}:${lines.get('missing mandatory member in a reply')}: reply to 'query-status' (id "rec-2"): ` +
          'return.running: missing mandatory member',
        `${file}:${lines.get('wrong type in a reply')}: reply to 'query-iothreads' (id "rec-7"): ` +
          'return[1].thread-id: expected int64 (an integer), got string',
        `${file}:${lines.get('out-of-range integer (size beyond uint64)')}: reply to 'query-memdev' (id "rec-20"): ` +
          'return[0].size: uint64 out of range [0, 18446744073709551615]: 18446744073709551616',
        `${file}:${lines.get('bad enum value in arguments the server accepted')}: ` +
          `command 'query-cpu-model-expansion' (id "rec-47"): ` +
          'arguments.type: unexpected string "fuller"; expected one of "static", "full"',
        // A missing member in what the server sent: the QEMU may be older than the schema.
        `hint: ${OLDER_QEMU_HINT}`,
        '127 messages, 123 valid, 4 invalid',
      ]);
      expect(r.code).toBe(1);
    });

    it('exits 2 on a malformed line, reporting its number', () => {
      const r = runs.get('garbage')!;
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(dir, 'garbage.jsonl')}:2: bad JSON: `);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('127 messages, 127 valid, 0 invalid');
    });

    it('passes --int64 through to the validators', () => {
      const r = runs.get('huge-number')!;
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        'return[0].size: uint64 value 1152921504606846976 does not fit in a JavaScript number',
      );
    });

    it('exits 2 on usage errors, unreadable files and doc errors under --strict-docs', () => {
      for (const [name, message] of [
        ['no-schema', 'missing --schema SCHEMA'],
        ['missing-file', 'cannot read'],
        ['bad-int64', "--int64 must be one of mixed, bigint, number, not 'huge'"],
        ['strict-docs', 'cannot use the schema:\n'],
      ] as const) {
        const r = runs.get(name)!;
        expect(r.code, name).toBe(2);
        expect(r.stderr, name).toContain(`qapi-ts verify: ${message}`);
        expect(r.stdout, name).toBe('');
      }
    });
  },
);
