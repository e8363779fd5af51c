/**
 * One client for several QEMU releases: code generated from the newest
 * schema with `oldestSchema` types and validates what the oldest release
 * lacks as possibly absent, and accepts what it sends differently, while
 * what both releases define stays exactly as strict.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseSchemaString } from '../../src/frontend/index.js';
import { compareSchemas } from '../../src/backends/compat.js';
import { loadValidators, type LoadedSchema } from '../../src/backends/load.js';
import { isOldestSchemaError } from '../../src/backends/generate.js';
import { parseTranscript } from '../../src/transcripts/index.js';
import { readFileSync } from 'node:fs';
import { builtCli, runCli, type CliRun } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';
import { fakeExecutor, loadSnippet, outcome, type LoadedSnippet } from './helpers.js';

const corpus = sharedDir('corpus');
const transcripts = sharedDir('transcripts/qemu-7.2');

/** The oldest release: type names differ from the newest on purpose. */
const OLD = `
{ 'struct': 'OldStats', 'data': { 'reads': 'int', 'gone': 'int', 'state': 'str' } }
{ 'enum': 'Color', 'data': [ 'red', 'blue', 'mauve' ] }
{ 'struct': 'Node', 'data': { 'name': 'str', '*next': 'Node', 'color': 'Color' } }
{ 'struct': 'Sev', 'data': { 'enabled': 'bool', 'policy': 'int' } }
{ 'alternate': 'Ref', 'data': { 'name': 'str' } }
{ 'enum': 'Shape', 'data': [ 'circle' ] }
{ 'struct': 'Circle', 'data': { 'r': 'int' } }
{ 'union': 'Fig', 'base': { 'shape': 'Shape' }, 'discriminator': 'shape', 'data': { 'circle': 'Circle' } }
{ 'command': 'query-stats', 'returns': [ 'OldStats' ] }
{ 'command': 'query-node', 'data': { 'ref': 'Ref' }, 'returns': 'Node' }
{ 'command': 'query-sev', 'returns': 'Sev' }
{ 'command': 'draw', 'data': 'Fig', 'boxed': true, 'returns': 'Fig' }
{ 'event': 'SAME', 'data': { 'a': 'int' } }
{ 'command': 'gone-cmd', 'data': { 'x': 'int' }, 'returns': 'Sev' }
{ 'event': 'GONE_EVENT', 'data': { 'b': 'int' } }
`;

const NEW = `
{ 'enum': 'State', 'data': [ 'running', 'paused' ] }
{ 'struct': 'Stats', 'data': { 'reads': 'int', 'writes': 'int', 'state': 'State' } }
{ 'enum': 'Color', 'data': [ 'red', 'blue', 'green' ] }
{ 'struct': 'Node2', 'data': { 'name': 'str', '*next': 'Node2', 'color': 'Color', 'weight': 'int' } }
{ 'enum': 'SevType', 'data': [ 'sev', 'snp' ] }
{ 'struct': 'SevBranch', 'data': { 'policy': 'int' } }
{ 'struct': 'SnpBranch', 'data': { 'snp-policy': 'int' } }
{ 'union': 'SevInfo', 'base': { 'enabled': 'bool', 'type': 'SevType' }, 'discriminator': 'type',
  'data': { 'sev': 'SevBranch', 'snp': 'SnpBranch' } }
{ 'struct': 'Inline', 'data': { 'node': 'str' } }
{ 'alternate': 'Ref', 'data': { 'name': 'str', 'inline': 'Inline' } }
{ 'enum': 'Shape', 'data': [ 'circle', 'square' ] }
{ 'struct': 'Circle', 'data': { 'r': 'int' } }
{ 'struct': 'Square', 'data': { 'side': 'int' } }
{ 'union': 'Fig', 'base': { 'shape': 'Shape' }, 'discriminator': 'shape',
  'data': { 'circle': 'Circle', 'square': 'Square' } }
{ 'command': 'query-stats', 'returns': [ 'Stats' ] }
{ 'command': 'query-node', 'data': { 'ref': 'Ref', 'deep': 'bool' }, 'returns': 'Node2' }
{ 'command': 'query-sev', 'returns': 'SevInfo' }
{ 'command': 'draw', 'data': 'Fig', 'boxed': true, 'returns': 'Fig' }
{ 'command': 'query-new', 'returns': 'Stats' }
{ 'event': 'SAME', 'data': { 'a': 'int' } }
{ 'event': 'NEW_EVENT' }
`;

const oldest = (): ReturnType<typeof parseSchemaString> => parseSchemaString(OLD, 'old.json');

describe('comparing along the wire', () => {
  test('finds what the oldest release lacks and what it sends differently', () => {
    const diff = compareSchemas(parseSchemaString(NEW, 'test.json'), oldest());
    expect([...diff.newerMembers].map((k) => k.replace('\0', '.')).sort()).toEqual([
      'Node2.weight',
      'Stats.writes',
      'q_obj_SevInfo-base.type',
      'q_obj_query-node-arg.deep',
    ]);
    expect(Object.fromEntries([...diff.newerValues].map(([k, v]) => [k, [...v]]))).toEqual({
      Color: ['green'],
      Shape: ['square'],
    });
    expect(Object.fromEntries([...diff.newerBranches].map(([k, v]) => [k, [...v]]))).toEqual({
      Ref: ['inline'],
      Fig: ['square'],
    });
    expect([...diff.newerCommands]).toEqual(['query-new']);
    expect([...diff.newerEvents]).toEqual(['NEW_EVENT']);
    expect(Object.fromEntries([...diff.removedMembers].map(([k, v]) => [k, [...v]]))).toEqual({ Stats: ['gone'] });
    expect(Object.fromEntries([...diff.removedValues].map(([k, v]) => [k, [...v]]))).toEqual({ Color: ['mauve'] });
    expect([...diff.widenedMembers].map((k) => k.replace('\0', '.'))).toEqual(['Stats.state']);
    expect([...diff.untagged.keys()]).toEqual(['SevInfo']);
    expect(diff.untagged.get('SevInfo')!.map((u) => `${u.member.name}${u.optional ? '?' : ''}`)).toEqual(['policy']);
    expect([...diff.removedCommands]).toEqual([['gone-cmd', { takesArguments: true, returns: 'value' }]]);
    expect([...diff.removedEvents]).toEqual([['GONE_EVENT', true]]);
  });

  test('with defines, what the oldest release only has under a failing condition is newer', () => {
    const old = parseSchemaString(
      "{ 'struct': 'Thing', 'data': { 'a': 'int', 'b': { 'type': 'int', 'if': 'X' } } }\n" +
        "{ 'command': 'q', 'returns': 'Thing' }\n{ 'command': 'r', 'if': 'X' }",
      'old.json',
    );
    const now = parseSchemaString(
      "{ 'struct': 'Thing', 'data': { 'a': 'int', 'b': 'int' } }\n" +
        "{ 'command': 'q', 'returns': 'Thing' }\n{ 'command': 'r' }",
      'new.json',
    );
    expect([...compareSchemas(now, old, ['X']).newerMembers]).toEqual([]);
    expect([...compareSchemas(now, old, []).newerMembers]).toEqual(['Thing\0b']);
    expect([...compareSchemas(now, old, []).newerCommands]).toEqual(['r']);
    // Without defines: some builds of the oldest release lack it.
    expect([...compareSchemas(now, old).newerMembers]).toEqual(['Thing\0b']);
    expect([...compareSchemas(now, old).newerCommands]).toEqual([]);
  });
});

describe('generated with oldestSchema', () => {
  let s: LoadedSnippet;
  let plain: LoadedSnippet;
  beforeAll(async () => {
    [s, plain] = await Promise.all([
      loadSnippet(NEW, { oldestSchema: oldest(), oldestLabel: 'QEMU 1.0' }),
      loadSnippet(NEW),
    ]);
  });

  test('members the oldest release lacks are optional in the types, documented', () => {
    expect(s.text).toContain(
      '  /** Optional here: not in QEMU 1.0, the oldest supported release, which neither sends nor accepts it. */\n' +
        '  writes?: number | bigint;\n',
    );
    expect(s.text).toContain('  reads: number | bigint;\n');
    expect(s.text).toContain('  state: State;\n');
    expect(s.text).toMatch(/\n {2}weight\?: number \| bigint;/);
    expect(s.text).toMatch(/\n {2}deep\?: boolean;/);
    expect(plain.text).toContain('  writes: number | bigint;\n');
  });

  test('values, branches, commands and events it lacks stay, documented', () => {
    const note = 'Not in QEMU 1.0, the oldest supported release, which neither sends nor accepts it.';
    expect(s.text).toContain(`  /** ${note} */\n  | 'green'\n`);
    expect(s.text).toContain(`  /** ${note} */\n  | (Omit<FigBase, 'shape'> & { shape: 'square' } & Square)\n`);
    expect(s.text).toContain(`  /** ${note} */\n  | Inline;\n`);
    const index = s.files.get('index.ts')!;
    expect(index).toContain(
      '  /** Not in QEMU 1.0, the oldest supported release: the call fails with CommandNotFound there. */\n  queryNew(',
    );
    expect(index).toContain(
      "  /** Not in QEMU 1.0, the oldest supported release, which never emits it. */\n  'NEW_EVENT': undefined;",
    );
    expect(index).toContain(
      '  /** Not in QEMU 1.0, the oldest supported release: the call fails with CommandNotFound there. */\n' +
        "  'query-new': {",
    );
  });

  test("the oldest release's replies validate strictly", async () => {
    const set = s.validators.validatorSet(true);
    const oldStats = [{ reads: 1, gone: 2, state: 'stopped-in-an-old-way' }];
    expect(outcome(set.commands['query-stats']!.returns!, oldStats)).toBe('ok');
    expect(outcome(plain.validators.validatorSet(true).commands['query-stats']!.returns!, oldStats)).not.toBe('ok');
    const oldNode = { name: 'a', color: 'mauve', next: { name: 'b', color: 'red' } };
    expect(outcome(set.commands['query-node']!.returns!, oldNode)).toBe('ok');
    expect(outcome(set.commands['query-sev']!.returns!, { enabled: true, policy: 1 })).toBe('ok');
    expect(
      outcome(plain.validators.validatorSet(false).commands['query-sev']!.returns!, { enabled: true, policy: 1 }),
    ).not.toBe('ok');
    expect(outcome(set.commands['query-node']!.args!, { ref: 'x' })).toBe('ok');
  });

  test('commands and events only the oldest release has are known, unchecked', async () => {
    const index = s.files.get('index.ts')!;
    const note =
      '  /** Only in older QEMU releases such as QEMU 1.0, the oldest supported release; gone from this schema.' +
      " Not checked: its shape is that release's. */\n";
    expect(index).toContain(`${note}  'gone-cmd': { args: Record<string, unknown> | undefined; returns: unknown };\n`);
    expect(index).toContain(`${note}  'GONE_EVENT': Record<string, unknown>;\n`);
    expect(index).not.toContain('goneCmd(');
    const set = s.validators.validatorSet(true);
    expect(outcome(set.commands['gone-cmd']!.returns!, { anything: 1 })).toBe('ok');
    expect(outcome(set.events.GONE_EVENT!, { b: 1 })).toBe('ok');
    // A strict client passes the event on instead of failing.
    const client = s.client(fakeExecutor({}, [{ event: 'GONE_EVENT', data: { b: 1 } }]), { strict: true });
    const seen: unknown[] = [];
    for await (const e of client.events()) seen.push(e);
    expect(seen).toEqual([{ event: 'GONE_EVENT', data: { b: 1 }, timestamp: { seconds: 1, microseconds: 2 } }]);
    const unaware = plain.client(fakeExecutor({}, [{ event: 'GONE_EVENT', data: { b: 1 } }]), { strict: true });
    await expect(
      (async () => {
        for await (const _ of unaware.events()) void _;
      })(),
    ).rejects.toThrow(/event not in the schema/);
  });

  test('what both releases define stays exactly as strict', () => {
    const set = s.validators.validatorSet(true);
    const stats = set.commands['query-stats']!.returns!;
    expect(outcome(stats, [{ reads: 1, writes: 2, state: 'running' }])).toBe('ok');
    expect(outcome(stats, [{ reads: 1, state: 'running' }])).toBe('ok');
    expect(outcome(stats, [{ writes: 1, state: 'running' }])).toMatch(/^0\.reads: /);
    expect(outcome(stats, [{ reads: 1 }])).toMatch(/^0\.state: /);
    expect(outcome(stats, [{ reads: 1, writes: 'many', state: 'running' }])).toMatch(/^0\.writes: /);
    expect(outcome(stats, [{ reads: 1, state: 'running', bogus: 1 }])).toMatch(/Unrecognized key: "bogus"/);
    expect(outcome(set.commands['query-node']!.returns!, { name: 'a' })).toMatch(/^color: /);
    expect(outcome(set.commands['query-node']!.returns!, { name: 'a', color: 'purple' })).toMatch(/^color: /);
    const sev = set.commands['query-sev']!.returns!;
    expect(outcome(sev, { enabled: true })).toMatch(/^policy: /); // the untagged layout is exact too
    expect(outcome(sev, { enabled: true, policy: 1, extra: 1 })).toMatch(/Unrecognized key: "extra"/);
    expect(outcome(sev, { enabled: true, type: 'sev', policy: 1 })).toBe('ok');
    expect(outcome(sev, { enabled: true, type: 'snp', 'snp-policy': 1 })).toBe('ok');
    expect(outcome(sev, { enabled: true, type: 'sev' })).toMatch(/^policy: /);
    expect(outcome(set.commands['query-node']!.args!, { ref: 'x', deep: 'yes' })).toMatch(/^deep: /);
    expect(outcome(set.commands['query-node']!.args!, { deep: true })).toMatch(/^ref: /);
  });
});

describe.skipIf(corpus === null || transcripts === null)('QEMU 10.0 with QEMU 7.2 as the oldest release', () => {
  let loaded: LoadedSchema;
  let replies: Map<string, unknown>;
  beforeAll(async () => {
    loaded = await loadValidators(join(corpus!, 'qemu-10.0/qapi/qapi-schema.json'), {
      oldestSchema: join(corpus!, 'qemu-7.2/qapi/qapi-schema.json'),
    });
    // The recorded 7.2 session's replies by command.
    const entries = parseTranscript(readFileSync(join(transcripts!, 'system-x86_64.jsonl'), 'utf8')).entries;
    const names = new Map<unknown, string>();
    replies = new Map();
    for (const e of entries) {
      const msg = e.msg as Record<string, unknown>;
      if (e.dir === 'client') names.set(msg.id, msg.execute as string);
      else if ('return' in msg && !replies.has(names.get(msg.id)!)) replies.set(names.get(msg.id)!, msg.return);
    }
  });

  test('the replies the issue names pass strictly', () => {
    for (const strict of [false, true]) {
      const set = loaded.validatorSet(strict);
      for (const name of [
        'query-block',
        'query-blockstats',
        'query-machines',
        'query-cpu-model-expansion',
        'query-sev',
        'query-status',
        'query-migrate-capabilities',
        'query-migrate-parameters',
      ]) {
        expect(outcome(set.commands[name]!.returns!, replies.get(name)), `${name} strict=${strict}`).toBe('ok');
      }
    }
  });

  test('a 7.2 query-version reply without package still fails', () => {
    const version = replies.get('query-version') as Record<string, unknown>;
    for (const strict of [false, true]) {
      const returns = loaded.validatorSet(strict).commands['query-version']!.returns!;
      expect(outcome(returns, version)).toBe('ok');
      const { package: _package, ...withoutPackage } = version;
      expect(outcome(returns, withoutPackage)).toBe('package: Invalid input: expected string, received undefined');
    }
  });

  test('members both releases define stay mandatory, and types are still checked', () => {
    const stats = replies.get('query-blockstats') as Record<string, Record<string, unknown>>[];
    const returns = loaded.validatorSet(true).commands['query-blockstats']!.returns!;
    const { rd_bytes: _rd, ...noReads } = stats[0]!.stats!;
    expect(outcome(returns, [{ ...stats[0], stats: noReads }])).toMatch(/^0\.stats\.rd_bytes: /);
    expect(outcome(returns, [{ ...stats[0], stats: { ...stats[0]!.stats, zone_append_operations: 'x' } }])).toMatch(
      /^0\.stats\.zone_append_operations: /,
    );
  });
});

describe.skipIf(corpus === null || transcripts === null || !builtCli('src/cli/main.js', 'verify --oldest-schema'))(
  'the CLI',
  () => {
    const schema = (v: string): string => join(corpus!, `qemu-${v}/qapi/qapi-schema.json`);
    const transcript = (): string => join(transcripts!, 'system-x86_64.jsonl');
    const X86 = ['TARGET_I386', 'CONFIG_KVM', 'CONFIG_LINUX', 'CONFIG_POSIX', 'CONFIG_VNC', 'CONFIG_TPM'].flatMap(
      (d) => ['--define', d],
    );
    const runs = new Map<string, CliRun>();
    let dir = '';
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'qapi-ts-oldest-'));
      const bad = join(dir, 'bad-old.json');
      writeFileSync(bad, "{ 'struct': 'Thing', 'data': { 'a': 'Missing' } }\n");
      const jobs: [string, string[]][] = [
        ['with', ['verify', '--schema', schema('10.0'), '--oldest-schema', schema('7.2'), transcript()]],
        [
          'with-strict',
          ['verify', '--strict', '--schema', schema('10.0'), '--oldest-schema', schema('7.2'), transcript()],
        ],
        ['without', ['verify', '--schema', schema('10.0'), transcript()]],
        ['without-strict', ['verify', '--strict', '--schema', schema('10.0'), transcript()]],
        [
          'x86',
          ['verify', '--strict', '--schema', schema('10.0'), '--oldest-schema', schema('7.2'), ...X86, transcript()],
        ],
        [
          'x86-no-tpm',
          ['verify', '--schema', schema('10.0'), '--oldest-schema', schema('7.2'), ...X86.slice(0, -2), transcript()],
        ],
        ['bad-verify', ['verify', '--schema', schema('10.0'), '--oldest-schema', bad, transcript()]],
        ['bad-generate', ['generate', schema('10.0'), '-o', join(dir, 'out'), '--oldest-schema', bad]],
      ];
      await Promise.all(jobs.map(async ([name, args]) => runs.set(name, await runCli(args))));
    }, 180_000);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('verify --schema 10.0 --oldest-schema 7.2 on the 7.2 session: 0 invalid, compatible and strict', () => {
      for (const name of ['with', 'with-strict', 'x86']) {
        expect(runs.get(name)!.stdout, name).toBe('127 messages, 127 valid, 0 invalid\n');
        expect(runs.get(name)!.code, name).toBe(0);
      }
    });

    test('without --oldest-schema the newer members are reported', () => {
      const without = runs.get('without')!;
      expect(without.code).toBe(1);
      expect(without.stdout.trimEnd().split('\n').at(-1)).toBe('127 messages, 122 valid, 5 invalid');
      expect(without.stdout).toContain(
        'reply to \'query-blockstats\' (id "rec-15"): return[0].stats.zone_append_operations: missing mandatory member',
      );
      expect(without.stdout).toContain(
        'reply to \'query-sev\' (id "rec-33"): return.sev-type: missing mandatory member',
      );
      const strict = runs.get('without-strict')!;
      expect(strict.stdout).toContain('reply to \'query-status\' (id "rec-2"): return.singlestep: unknown member');
      expect(strict.stdout.trimEnd().split('\n').at(-1)).toBe('127 messages, 118 valid, 9 invalid');
    });

    test('verify --define evaluates conditions exactly', () => {
      const r = runs.get('x86-no-tpm')!;
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        "command 'query-tpm' (id \"rec-31\"): execute: command 'query-tpm' is not in the schema",
      );
    });

    test('errors in the oldest schema name its file', () => {
      const bad = join(dir, 'bad-old.json');
      const v = runs.get('bad-verify')!;
      expect(v.code).toBe(2);
      expect(v.stderr).toContain(`qapi-ts verify: cannot use the schema in the oldest schema ${bad}:\n`);
      expect(v.stderr).toMatch(/bad-old\.json:1: .*'Missing'/);
      const g = runs.get('bad-generate')!;
      expect(g.code).toBe(1);
      expect(g.stderr).toContain(`qapi-ts generate: in the oldest schema ${bad}:\n`);
    });

    test('loadValidators throws OldestSchemaError', async () => {
      const err = await loadValidators(schema('10.0'), { oldestSchema: join(dir, 'bad-old.json') }).catch(
        (e: unknown) => e,
      );
      expect(isOldestSchemaError(err)).toBe(true);
    });
  },
);
