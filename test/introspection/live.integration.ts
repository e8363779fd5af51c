/**
 * A QEMU's own schema (its live query-qmp-schema reply) as the schema
 * source, on QEMU 7.2, 10.0 and 11.1:
 * - validators made from the live reply judge recorded sessions (the one in
 *   ../shared for 7.2, and one recorded here on each release) exactly as the
 *   validators from that release's schema files (with the conditions the
 *   build shows) do, and so do they for one-defect copies of the sessions;
 * - (11.1) a client generated from the live QEMU alone compiles under strict
 *   and exactOptionalPropertyTypes in a program calling queryIothreads,
 *   blockdevAdd (driver 'file') and deviceAdd, and a misspelt member is a
 *   type error; so does the README's library example;
 * - (11.1) `exec blockdev-add` with driver 'file' works, a misspelt member is
 *   refused before sending (exit 1, naming it); `generate --from-qemu`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../src/runtime/client.js';
import { parseSchema } from '../../src/frontend/index.js';
import { compareSchemaWithIntrospection } from '../../src/introspection/combine.js';
import { schemaFromIntrospection } from '../../src/introspection/schema.js';
import { loadSchemaValidators, type LoadedSchema } from '../../src/backends/load.js';
import { generateFiles, writeGenerated } from '../../src/backends/generate.js';
import { parseTranscript, verifyEntries, type TranscriptEntry } from '../../src/transcripts/index.js';
import {
  QEMU_BINARY,
  SID_ROOT,
  qemuAvailable,
  releaseSchemas,
  startQemu,
  stopAllQemu,
  type QemuInstance,
  type QemuRelease,
} from '../helpers/qemu.js';
import { sharedDir, repoRoot } from '../helpers/shared.js';
import { runCli } from '../helpers/cli.js';
import { strictDiagnostics } from '../helpers/tsc.js';
import { exampleAgainst, unusedResult } from './readme-example.js';

afterAll(stopAllQemu);

/** Commands recorded on every release (errors are fine: a refused command is valid with its reply). */
function session(release: QemuRelease): [string, Record<string, unknown>?][] {
  const objectAdd =
    release === '7.2'
      ? { 'qom-type': 'iothread', id: 'io1' }
      : { 'qom-type': 'iothread', id: 'io1', 'poll-max-ns': 1000 };
  return [
    ['query-status'],
    ['query-version'],
    ['query-name'],
    ['query-iothreads'],
    ['object-add', objectAdd],
    ['query-iothreads'],
    ['object-del', { id: 'io1' }],
    ['qom-list', { path: '/objects' }],
    ['qom-get', { path: '/objects/io0', property: 'poll-max-ns' }],
    ['blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1048576 }],
    ['query-named-block-nodes'],
    ['query-block'],
    ['blockdev-del', { 'node-name': 'n0' }],
    ['device_add', { driver: 'virtio-blk-pci', id: 'v0', drive: 'nothing', iothread: 'io0' }],
    ['query-migrate-parameters'],
    ['query-migrate-capabilities'],
    ['query-chardev'],
    ['query-cpus-fast'],
    ['query-target'],
    ['query-kvm'],
    ['query-machines'],
    ['query-memdev'],
    ['query-block-jobs'],
    ['query-jobs'],
    ['query-hotpluggable-cpus'],
    ['query-commands'],
    ['query-qmp-schema'],
  ];
}

/** One-defect copies: each message with something in it, changed in one place. */
function defectCopies(entries: readonly TranscriptEntry[]): TranscriptEntry[][] {
  const spoil = (v: unknown): unknown => (typeof v === 'string' ? 12345 : 'spoilt');
  const copies: TranscriptEntry[][] = [];
  entries.forEach((entry, i) => {
    const msg = structuredClone(entry.msg) as Record<string, unknown>;
    if (entry.dir === 'client' && typeof msg['execute'] === 'string') {
      msg['arguments'] = { ...((msg['arguments'] as object | undefined) ?? {}), 'misspelt-member': 1 };
      if (msg['execute'] === 'device_add') return; // takes more than it declares
    } else if (entry.dir === 'server') {
      const key = 'return' in msg ? 'return' : 'event' in msg && msg['data'] !== undefined ? 'data' : null;
      if (key === null) return;
      let holder = msg[key];
      if (Array.isArray(holder)) holder = holder[0];
      if (typeof holder !== 'object' || holder === null || Object.keys(holder).length === 0) return;
      const first = Object.keys(holder)[0]!;
      (holder as Record<string, unknown>)[first] = spoil((holder as Record<string, unknown>)[first]);
    } else return;
    copies.push(entries.map((e, j) => (j === i ? { ...e, msg } : e)));
  });
  return copies;
}

function verdicts(entries: readonly TranscriptEntry[], loaded: LoadedSchema, strict: boolean): string[] {
  return verifyEntries(entries, loaded.validatorSet(strict), { strict }).verdicts.map(
    (v) => `${v.line}: ${v.findings.map((f) => `${f.path} ${f.message}`).join('; ')}`,
  );
}

const RELEASES: QemuRelease[] = ['7.2', '10.0', '11.1'];

for (const release of RELEASES) {
  describe.runIf(qemuAvailable(QEMU_BINARY, release))(`QEMU ${release}: its own schema as the schema source`, () => {
    let qemu: QemuInstance;
    let reply: unknown;
    let live: LoadedSchema;
    let source: LoadedSchema;
    const transcripts: [string, TranscriptEntry[]][] = [];

    beforeAll(async () => {
      qemu = await startQemu({ release, args: ['-object', 'iothread,id=io0'] });
      const record = join(qemu.dir, 'session.jsonl');
      {
        await using qmp = await QmpClient.connect({ path: qemu.socket }, { timeout: 20_000, record });
        reply = await qmp.execute('query-qmp-schema');
        for (const [command, args] of session(release)) await qmp.execute(command, args).catch(() => undefined);
      }
      transcripts.push([`recorded on ${release}`, parseTranscript(readFileSync(record, 'utf8')).entries]);
      if (release === '7.2') {
        const shared = sharedDir('transcripts/qemu-7.2');
        if (shared)
          transcripts.push([
            '../shared 7.2 session',
            parseTranscript(readFileSync(join(shared, 'system-x86_64.jsonl'), 'utf8')).entries,
          ]);
      }
      live = await loadSchemaValidators(await schemaFromIntrospection(reply));
      const files = releaseSchemas(release);
      if (files === null) throw new Error('../shared is needed');
      const schema = parseSchema(files.system, { lenientDocs: true, onWarning: () => {} });
      const agreement = compareSchemaWithIntrospection(schema, reply);
      expect(agreement.disagreements).toEqual([]);
      source = await loadSchemaValidators(schema, { defines: agreement.defines });
    }, 180_000);

    it('judges recorded sessions as the validators of the schema files do', () => {
      for (const [, entries] of transcripts) {
        expect(entries.length).toBeGreaterThan(20);
        for (const strict of [false, true]) {
          const fromLive = verdicts(entries, live, strict);
          expect(fromLive).toEqual(verdicts(entries, source, strict));
          // Recorded from a real QEMU: all valid (compatible reading).
          if (!strict) expect(fromLive.filter((v) => !v.endsWith(': '))).toEqual([]);
        }
      }
    });

    it('catches the one-defect copies the schema files catch', () => {
      let copies = 0;
      let caught = 0;
      for (const [, entries] of transcripts) {
        for (const copy of defectCopies(entries)) {
          copies++;
          const fromLive = verifyEntries(copy, live.validatorSet(false)).invalid;
          expect(fromLive).toBe(verifyEntries(copy, source.validatorSet(false)).invalid);
          if (fromLive > 0) caught++;
        }
      }
      expect(copies).toBeGreaterThan(30);
      // What is not caught is an 'any' value (qom-get's reply, say).
      expect(caught).toBeGreaterThan(copies * 0.9);
    });

    it('differs only where integer width is all that is wrong: an out-of-range uint8 passes as int', () => {
      const [, entries] = transcripts[0]!;
      const i = entries.findIndex(
        (e) =>
          e.dir === 'server' &&
          typeof (e.msg as { return?: Record<string, unknown> }).return?.['cpu-throttle-initial'] === 'number',
      );
      expect(i).toBeGreaterThan(0);
      const msg = structuredClone(entries[i]!.msg) as { return: Record<string, unknown> };
      msg.return['cpu-throttle-initial'] = 300;
      const copy = entries.map((e, j) => (j === i ? { ...e, msg } : e));
      expect(verifyEntries(copy, source.validatorSet(false)).invalid).toBe(1);
      expect(verifyEntries(copy, live.validatorSet(false)).invalid).toBe(0);
    });

    if (release === '11.1') {
      let dir = '';
      afterAll(async () => {
        if (dir) await rm(dir, { recursive: true, force: true });
      });

      it(
        'a client generated from the live QEMU alone compiles strictly; a misspelt member is a type error',
        { timeout: 300_000 },
        async () => {
          dir = await mkdtemp(join(tmpdir(), 'qapi-ts-live-client-'));
          await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
          const schema = await schemaFromIntrospection(reply);
          await writeGenerated(dir, generateFiles(schema, { supportImport: join(repoRoot, 'src/support/index.js') }));
          const program = (misspelt: boolean): string => `
import { QapiClient } from './index.js';
import type { QmpExecutor } from '${join(repoRoot, 'src/runtime/executor.js')}';

export async function use(executor: QmpExecutor): Promise<string[]> {
  const client = new QapiClient(executor);
  const threads = await client.queryIothreads();
  await client.blockdevAdd({ ${misspelt ? 'aoi' : 'aio'}: 'threads', driver: 'file',
    'node-name': 'disk0', filename: '/tmp/disk.img' });
  await client.deviceAdd({ driver: 'virtio-blk-pci', id: 'vblk0', drive: 'disk0', iothread: threads[0]?.id ?? 'io0' });
  return threads.map((t) => \`\${t.id} \${t['thread-id']} \${t['poll-max-ns']}\`);
}
`;
          await writeFile(join(dir, 'usage.ts'), program(false));
          await writeFile(join(dir, 'misspelt.ts'), program(true));
          // The README's library example too (it reads holders only where there are any).
          await writeFile(join(dir, 'example.ts'), exampleAgainst('./index.js'));
          // One program for the client and both uses (the client is checked once);
          // the misspelt use's errors are its own.
          const misspeltFile = join(dir, 'misspelt.ts');
          const diagnostics = strictDiagnostics([join(dir, 'index.ts'), join(dir, 'usage.ts'), misspeltFile]);
          expect(diagnostics.filter((d) => !d.startsWith(`${misspeltFile}:`))).toEqual([]);
          const errors = diagnostics.filter((d) => d.startsWith(`${misspeltFile}:`));
          expect(errors.length).toBeGreaterThan(0);
          expect(errors.join('\n')).toMatch(/misspelt\.ts:8: .*'aoi'/);
          // (The example imports the package's sources, not built with these options: only its own diagnostics count.)
          const example = join(dir, 'example.ts');
          expect(strictDiagnostics([example], { only: [example] }).filter((d) => !unusedResult(d))).toEqual([]);
        },
      );

      it(
        'exec blockdev-add driver file works; a misspelt member is refused before sending',
        { timeout: 60_000 },
        async () => {
          const image = join(qemu.dir, 'disk.img');
          writeFileSync(image, Buffer.alloc(1 << 20));
          const inner = join(qemu.innerDir, 'disk.img');
          const ok = await runCli([
            'exec',
            '--socket',
            qemu.socket,
            'blockdev-add',
            JSON.stringify({ driver: 'file', 'node-name': 'f0', filename: inner, aio: 'threads' }),
          ]);
          expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, '{}\n', '']);
          const record = join(qemu.dir, 'refused.jsonl');
          const bad = await runCli([
            'exec',
            '--socket',
            qemu.socket,
            '--record',
            record,
            'blockdev-add',
            JSON.stringify({ driver: 'file', 'node-name': 'f1', filename: inner, aoi: 'threads' }),
          ]);
          expect(bad.code).toBe(1);
          expect(bad.stderr).toMatch(/'aoi'.*--no-validate/);
          // Never sent: the session holds the schema question only.
          const sent = parseTranscript(readFileSync(record, 'utf8'))
            .entries.filter((e) => e.dir === 'client')
            .map((e) => (e.msg as { execute: string }).execute);
          expect(sent).toEqual(['qmp_capabilities', 'query-qmp-schema']);
          // 11.1's new IOThread property, and a memory backend: this QEMU's schema has them (our qapi/ has neither).
          const weight = await runCli([
            'exec',
            '--socket',
            qemu.socket,
            'object-add',
            '{"qom-type": "iothread", "id": "io9", "poll-weight": 2}',
          ]);
          expect([weight.code, weight.stderr]).toEqual([0, '']);
          const ram = await runCli([
            'exec',
            '--socket',
            qemu.socket,
            'object-add',
            '{"qom-type": "memory-backend-ram", "id": "ram0", "size": 1048576}',
          ]);
          expect([ram.code, ram.stderr]).toEqual([0, '']);
          const nodes = await runCli(['exec', '--socket', qemu.socket, 'query-named-block-nodes']);
          expect(nodes.stdout).toContain('"f0"');
          expect(nodes.stdout).not.toContain('"f1"');
        },
      );

      it('generate --from-qemu starts the binary, asks it and stops it', { timeout: 120_000 }, async () => {
        const tmp = mkdtempSync(join(tmpdir(), 'qapi-ts-from-qemu-'));
        try {
          const wrapper = join(tmp, 'qemu-11.1');
          writeFileSync(wrapper, `#!/bin/sh\nexec chroot ${SID_ROOT} qemu-system-x86_64 "$@"\n`, { mode: 0o755 });
          const r = await runCli(['generate', '--from-qemu', wrapper, '-o', join(tmp, 'out'), '-q']);
          expect([r.code, r.stderr]).toEqual([0, '']);
          const fromSocket = await runCli(['generate', '--from-socket', qemu.socket, '-o', join(tmp, 'out2'), '-q']);
          expect(fromSocket.code).toBe(0);
          // Same build, same reply: the same files.
          expect(readFileSync(join(tmp, 'out2/qemu.ts'), 'utf8')).toBe(readFileSync(join(tmp, 'out/qemu.ts'), 'utf8'));
          expect(readFileSync(join(tmp, 'out/index.ts'), 'utf8')).toContain('queryIothreads(');
        } finally {
          rmSync(tmp, { recursive: true, force: true });
        }
      });
    }
  });
}
