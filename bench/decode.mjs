#!/usr/bin/env node
// Decoding and validating a big QMP reply, beside a bare `JSON.parse` of
// the same text: QEMU 11.1's `query-qmp-schema` reply line (~220 KB),
//   JSON.parse            the floor (rounds integers beyond 2^53)
//   parseJson             our exact-integer decoder alone
//   decode + validate     parseJson, then the generated reply validator of
//                         query-qmp-schema (compatible kit), what the typed
//                         client does with the reply
//   decode + strict       the same with the strict validators
// timed in interleaved rounds (each round runs every row the same number
// of times, in a rotating order); ratios are medians of per-round ratios.
//
//   npm run build && npm run bench:decode [-- --rounds 21] [--reply FILE]
//
// The reply comes from a live QEMU 11.1 (the Debian sid chroot that
// `.ci/qemu-11.1` builds, $QAPI_TS_SID_ROOT or /var/lib/qapi-ts/sid), asked
// at bench time and never stored; `--reply FILE` reads a reply line (or a
// bare array) from a file instead. Without the chroot, it falls back to
// what our generateIntrospection makes of ../shared's QEMU 11.1 schema
// (every `if` taken, so a little larger than a real build's reply).
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, repoRoot, requireFile, sharedRoot, sorted, startQemu } from './common.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '21' },
    reply: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const dist = join(repoRoot, 'dist');
requireFile(join(dist, 'generated/index.js'), 'build output (run npm run build)');
const { parseJson } = await import(join(dist, 'src/runtime/json.js'));
const generated = await import(join(dist, 'generated/index.js'));
const { check } = await import(join(dist, 'src/support/index.js'));

/** One QMP reply line from QEMU 11.1 in the sid chroot, or undefined when there is none. */
async function liveReply() {
  const root = process.env.QAPI_TS_SID_ROOT ?? '/var/lib/qapi-ts/sid';
  if (!existsSync(join(root, '.qapi-ts-ready')) || process.getuid?.() !== 0) return undefined;
  let qemu;
  try {
    qemu = await startQemu({ root });
  } catch (e) {
    console.error(`QEMU 11.1 did not start: ${e.message}`);
    return undefined;
  }
  try {
    const lines = await qmpLines(qemu.socket, [
      '{"execute":"qmp_capabilities"}',
      '{"execute":"query-version"}',
      '{"execute":"query-qmp-schema"}',
    ]);
    const version = JSON.parse(lines[2]).return.qemu;
    console.log(`reply: live QEMU ${version.major}.${version.minor}.${version.micro}`);
    return lines[3];
  } finally {
    qemu.stop();
  }
}

/** Sends `commands` one after another; resolves with the greeting and each reply line. */
function qmpLines(path, commands) {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const lines = [];
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', reject);
    sock.setTimeout(10_000, () => {
      sock.destroy();
      reject(new Error('QEMU 11.1 did not answer within 10 s'));
    });
    sock.on('data', (chunk) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '' || line.startsWith('{"event"')) continue;
        lines.push(line);
        if (lines.length > commands.length) {
          sock.destroy();
          resolve(lines);
          return;
        }
        sock.write(`${commands[lines.length - 1]}\n`);
      }
    });
  });
}

/** Our introspection of ../shared's QEMU 11.1 schema, as a reply line. */
async function offlineReply() {
  const { parseSchema, generateIntrospection } = await import(join(dist, 'src/index.js'));
  const schema = requireFile(join(sharedRoot, 'corpus/qemu-11.1/qapi/qapi-schema.json'), 'QEMU 11.1 schema');
  console.log('reply: generateIntrospection of ../shared/corpus/qemu-11.1 (no QEMU 11.1 chroot)');
  return JSON.stringify({
    return: generateIntrospection(parseSchema(schema, { lenientDocs: true, onWarning: () => {} })),
  });
}

let text;
if (values.reply !== undefined) {
  text = readFileSync(values.reply, 'utf8').trim();
  if (text.startsWith('[')) text = `{"return":${text}}`;
  console.log(`reply: ${values.reply}`);
} else {
  text = (await liveReply()) ?? (await offlineReply());
}
const compatible = generated.commands['query-qmp-schema'].returns;
const strict = generated.strictValidators.SchemaInfo;
const strictList = generated.schemaValidators.validatorSet(true).commands['query-qmp-schema'].returns;
void strict;

const rows = [
  ['JSON.parse', () => JSON.parse(text)],
  ['parseJson', () => parseJson(text)],
  ['decode + validate', () => check(compatible, parseJson(text).return, 'reply', 'query-qmp-schema')],
  ['decode + strict', () => check(strictList, parseJson(text).return, 'reply', 'query-qmp-schema')],
];
const elements = JSON.parse(text).return.length;
console.log(`${(text.length / 1024).toFixed(0)} KiB, ${elements} SchemaInfo elements; ${rounds} rounds\n`);

// Every row must work before it is timed (and warms up).
for (const [, run] of rows) for (let i = 0; i < 20; i++) run();

const reps = 10;
const times = rows.map(() => []);
for (let round = 0; round < rounds; round++) {
  for (let k = 0; k < rows.length; k++) {
    const i = (round + k) % rows.length;
    const run = rows[i][1];
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) run();
    times[i].push((performance.now() - t0) / reps);
  }
}
const base = times[0];
for (let i = 0; i < rows.length; i++) {
  const t = sorted(times[i]);
  const ratio = median(sorted(times[i].map((ms, r) => ms / base[r])));
  const ratios = sorted(times[i].map((ms, r) => ms / base[r]));
  console.log(
    `${rows[i][0].padEnd(20)} median ${median(t).toFixed(2).padStart(7)} ms` +
      `  min ${t[0].toFixed(2).padStart(7)}  max ${t[t.length - 1].toFixed(2).padStart(7)}` +
      `   ×JSON.parse ${ratio.toFixed(2)} (${ratios[0].toFixed(2)}–${ratios[ratios.length - 1].toFixed(2)})`,
  );
}
