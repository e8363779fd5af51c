/**
 * `verify` on deeply nested messages, as a library call and as the built
 * CLI: everything QEMU accepts (up to 1024 levels) is checked, anything
 * deeper is judged invalid with its line; the summary always comes, and
 * the exit status keeps its meaning.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { formatReport, jsonEqual, verifyTranscript } from '../../src/transcripts/index.js';
import { shortJson } from '../../src/support/problems.js';
import { builtCli, runCli, type CliRun } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';

const corpus = sharedDir('corpus');
const SCHEMA = corpus && join(corpus, 'qemu-10.0/qapi/qapi-schema.json');

/** JSON text of an array nested `depth` levels: `[[[…]]]`. */
function nestedArrayText(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** An array nested `depth` levels, built without recursion. */
function nestedArray(depth: number, inner: unknown = []): unknown {
  let v = inner;
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

function imageChainText(length: number): string {
  let image = `{"filename":"f${length - 1}","format":"qcow2","virtual-size":1}`;
  for (let i = length - 2; i >= 0; i--)
    image = `{"filename":"f${i}","format":"qcow2","virtual-size":1,"backing-image":${image}}`;
  return image;
}

/** query-block's reply value (text) with a backing chain of `length` images. */
function queryBlockText(length: number): string {
  const inserted =
    `{"file":"f0","ro":false,"drv":"qcow2","encrypted":false,"detect_zeroes":"off","active":true,` +
    `"bps":0,"bps_rd":0,"bps_wr":0,"iops":0,"iops_rd":0,"iops_wr":0,` +
    `"write_threshold":0,"backing_file_depth":${length - 1},` +
    `"cache":{"writeback":true,"direct":false,"no-flush":false},"image":${imageChainText(length)}}`;
  return `[{"device":"d0","locked":false,"removable":false,"qdev":"disk","type":"unknown","inserted":${inserted}}]`;
}

function blockdevChainText(length: number): string {
  let node = '{"driver":"file","filename":"/img"}';
  for (let i = 1; i < length; i++) node = `{"driver":"raw","file":${node}}`;
  return `{"node-name":"top",${node.slice(1)}`;
}

const client = (msg: string): string => `{"dir":"client","msg":${msg}}`;
const server = (msg: string): string => `{"dir":"server","msg":${msg}}`;

// The longest legal messages (1024 levels, QEMU's limit) and deeper ones.
const TRANSCRIPT =
  [
    client('{"execute":"query-block","id":1}'),
    server(`{"return":${queryBlockText(1020)},"id":1}`),
    client(`{"execute":"blockdev-add","arguments":${blockdevChainText(1000)},"id":2}`),
    server('{"return":{},"id":2}'),
    client(`{"execute":"stop","id":${nestedArrayText(1023)}}`),
    server(`{"return":{},"id":${nestedArrayText(1023)}}`),
    client(`{"execute":"stop","id":${nestedArrayText(5000)}}`),
    server(`{"return":{},"id":${nestedArrayText(5000)}}`),
    client('{"execute":"query-block","id":3}'),
    server(`{"return":${queryBlockText(1021)},"id":3}`),
  ].join('\n') + '\n';

const TOO_DEEP = "nested deeper than 1024 levels (QEMU's JSON parser refuses such a message); not checked further";

describe('jsonEqual and shortJson on deep values', () => {
  it('compares 100,000-deep values without recursion', () => {
    expect(jsonEqual(nestedArray(100_000), nestedArray(100_000))).toBe(true);
    expect(jsonEqual(nestedArray(100_000), nestedArray(100_000, [1]))).toBe(false);
    expect(jsonEqual({ a: [1, { b: 2n ** 60n }] }, { a: [1, { b: 2 ** 60 }] }, true)).toBe(true);
    expect(jsonEqual({ a: [1, { b: 2n ** 60n }] }, { a: [1, { b: 2 ** 60 }] })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('describes a 100,000-deep value in 40 characters', () => {
    expect(shortJson(nestedArray(100_000))).toBe(`${'['.repeat(37)}...`);
    expect(shortJson({ a: [1, 'x', null, 2n ** 64n] })).toBe('{"a":[1,"x",null,18446744073709551616]}');
  });
});

describe.skipIf(SCHEMA === null)('verify: deep messages against QEMU 10.0', () => {
  let qemu: LoadedSchema;
  beforeAll(async () => {
    qemu = await loadValidators(SCHEMA!);
  });

  it('checks messages up to 1024 levels, judges deeper ones invalid by line', () => {
    const result = verifyTranscript(TRANSCRIPT, qemu.validatorSet(false));
    expect(result.badLines).toEqual([]);
    expect(result.verdicts.map((v) => [v.line, v.findings.map((f) => f.message)])).toEqual([
      [1, []],
      [2, []],
      [3, []],
      [4, []],
      [5, []],
      [6, []],
      [7, [TOO_DEEP]],
      [8, [TOO_DEEP]],
      [9, []],
      [10, [TOO_DEEP]],
    ]);
    expect(result.verdicts[4]!.label).toBe(`command 'stop' (id ${'['.repeat(37)}...)`);
    expect(formatReport(result, 't.jsonl')).toEqual([
      `t.jsonl:7: a malformed command: ${TOO_DEEP}`,
      `t.jsonl:8: server message: ${TOO_DEEP}`,
      `t.jsonl:10: server message: ${TOO_DEEP}`,
      '10 messages, 7 valid, 3 invalid',
    ]);
  });

  it('finds a problem at the end of a long chain, with a shortened path in the report', () => {
    const broken = TRANSCRIPT.replace('"filename":"f1019"', '"filename":7');
    const result = verifyTranscript(broken, qemu.validatorSet(true));
    const line2 = result.verdicts.find((v) => v.line === 2)!;
    expect(line2.findings).toEqual([
      {
        path: `return[0].inserted.image${'.backing-image'.repeat(1019)}.filename`,
        message: 'expected string, got number 7',
        kind: 'wrong-type',
      },
    ]);
    const report = formatReport(result, 't.jsonl');
    expect(report[0]).toMatch(
      /^t\.jsonl:2: reply to 'query-block' \(id 1\): return\[0\]\.inserted\.image\.backing-image.*…\(\d+ characters\)….*\.backing-image\.filename: expected string, got number 7$/,
    );
    expect(report[0]!.length).toBeLessThan(300);
  });
});

describe.runIf(SCHEMA !== null && builtCli('src/transcripts/index.js', 'deep verify CLI tests'))(
  'qapi-ts verify on deep messages (built CLI)',
  () => {
    let dir: string;
    const runs = new Map<string, CliRun>();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'qapi-ts-verify-deep-'));
      const deep = join(dir, 'deep.jsonl');
      writeFileSync(deep, TRANSCRIPT);
      const legal = join(dir, 'legal.jsonl');
      writeFileSync(legal, TRANSCRIPT.split('\n').slice(0, 6).join('\n'));
      const garbage = join(dir, 'garbage.jsonl');
      writeFileSync(garbage, `${TRANSCRIPT}{"dir":"client","msg":${nestedArrayText(5000)}\n`);
      await Promise.all([
        runCli(['verify', '--schema', SCHEMA!, deep]).then((r) => runs.set('deep', r)),
        runCli(['verify', '--schema', SCHEMA!, legal]).then((r) => runs.set('legal', r)),
        runCli(['verify', '--schema', SCHEMA!, garbage]).then((r) => runs.set('garbage', r)),
      ]);
    }, 120_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('exits 0 when every deep message is legal and valid', () => {
      const r = runs.get('legal')!;
      expect(r.stdout).toBe('6 messages, 6 valid, 0 invalid\n');
      expect(r.code).toBe(0);
    });

    it('exits 1 naming the lines nested too deeply, with the summary', () => {
      const r = runs.get('deep')!;
      const file = join(dir, 'deep.jsonl');
      expect(r.stdout.trimEnd().split('\n')).toEqual([
        `${file}:7: a malformed command: ${TOO_DEEP}`,
        `${file}:8: server message: ${TOO_DEEP}`,
        `${file}:10: server message: ${TOO_DEEP}`,
        '10 messages, 7 valid, 3 invalid',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/RangeError|at .*\.js:\d+/);
    });

    it('exits 2 on a line that is not JSON, still judging the others', () => {
      const r = runs.get('garbage')!;
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${join(dir, 'garbage.jsonl')}:11: bad JSON`);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('10 messages, 7 valid, 3 invalid');
    });
  },
);
