/**
 * Text from the server reaches a person's terminal escaped (src/cli/printable.ts):
 * the helper itself, then `exec` and `probe` (built CLI) against a test
 * server that sends escape sequences in error descriptions, values and
 * schema names, `verify` on a transcript that quotes them, and `serve`
 * reporting what a hostile client sent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { printable, printableError, printableJson } from '../../src/cli/printable.js';
import { QmpClient } from '../../src/runtime/index.js';
import { builtCli, runCli, spawnCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';
import { listeningServer, type ListeningServer } from '../helpers/socket-server.js';

/** Any character a terminal would act on, except the newline that ends a line. */
// eslint-disable-next-line no-control-regex -- the characters no output for a person may carry raw
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('printable()', () => {
  it('escapes C0 (newline and tab too), DEL, C1, line separators and bidi controls; nothing else', () => {
    expect(printable('a\x1b]0;title\x07b')).toBe('a\\x1b]0;title\\x07b');
    expect(printable('row\nforged\trow\r')).toBe('row\\x0aforged\\x09row\\x0d');
    expect(printable('\x00\x7f\x80\x9b\x9f')).toBe('\\x00\\x7f\\x80\\x9b\\x9f');
    expect(printable('\u202eevil\u202c \u2066\u2069 \u200e\u200f\u061c \u2028\u2029')).toBe(
      '\\u202eevil\\u202c \\u2066\\u2069 \\u200e\\u200f\\u061c \\u2028\\u2029',
    );
    const plain = 'C:\\path é 日本 🎉 \u00a0 /machine/peripheral-anon/device[0]';
    expect(printable(plain)).toBe(plain);
    const unsafe: string[] = [];
    for (let c = 0; c < 0x3000; c++)
      if (CONTROL.test(printable(String.fromCharCode(c))) || printable('\n').includes('\n'))
        unsafe.push(c.toString(16));
    expect(unsafe).toEqual([]);
  });

  it('printableJson keeps the JSON value; printableError cuts long messages', () => {
    const value = { s: 'a\u009b2J\u202e\x1b\u2028', n: 1 };
    const text = printableJson(JSON.stringify(value));
    expect(text).not.toMatch(CONTROL);
    expect(JSON.parse(text)).toEqual(value);
    const long = printableError(new Error('x'.repeat(100_000) + '\x1b'));
    expect(long).toBe(`${'x'.repeat(4096)}… (95905 more characters)`);
  });
});

let open: ListeningServer | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

describe.runIf(builtCli('src/cli/main.js', 'escaped CLI output'))('exec and probe show server text escaped', () => {
  it('exec: an error description, and C1/bidi characters in a result', async () => {
    open = await listeningServer();
    open.server
      .on('qom-get')
      .error('GenericError', "Property 'x\x1b[2J\x1b]0;pwned\x07' not found\nGenericError: forged");
    let run = await runCli(['exec', '--socket', open.path, 'qom-get', '{"path": "/machine", "property": "x"}']);
    expect(run.stderr).toBe(
      "GenericError: Property 'x\\x1b[2J\\x1b]0;pwned\\x07' not found\\x0aGenericError: forged\n",
    );
    expect(run.code).toBe(4);
    open.server.on('qom-get', () => 'a\u009b2J\u202eb');
    run = await runCli(['exec', '--socket', open.path, 'qom-get', '{"path": "/machine", "property": "x"}']);
    expect(run.stdout).toBe('"a\\u009b2J\\u202eb"\n');
    expect(JSON.parse(run.stdout)).toBe('a\u009b2J\u202eb');
    expect(run.code).toBe(0);
  });

  it('probe: an invalid schema whose message quotes a hostile name', async () => {
    open = await listeningServer();
    const entry = { name: 'x\x1b]0;pwned\x07', 'meta-type': 'builtin', 'json-type': 'int' };
    open.server.on('query-qmp-schema').raw((id) => JSON.stringify({ return: [entry, entry], id }));
    const run = await runCli(['probe', '--socket', open.path, 'query-status']);
    expect(run.stderr).toBe(
      'qapi-ts probe: QMP_ERR_INTROSPECTION: ' +
        "bad introspection data: element 1: name 'x\\x1b]0;pwned\\x07' is used twice\n",
    );
    expect(run.code).toBe(3);
  });

  it('verify: findings quoting the transcript', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-printable-'));
    try {
      const file = join(dir, 'session.jsonl');
      writeFileSync(
        file,
        `${JSON.stringify({
          dir: 'client',
          msg: { execute: 'query-status', arguments: { 'x\x1b]0;t\x07\u009b': 1 } },
        })}\n`,
      );
      const run = await runCli(['verify', '--schema', join(repoRoot, 'qapi/qapi-schema.json'), file]);
      expect(run.stdout).toContain('arguments.x\\x1b]0;t\\x07\\x9b: unknown member');
      expect(run.stdout).not.toMatch(CONTROL);
      expect(run.code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve: a failure quoting what a client sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-printable-'));
    const path = join(dir, 'qmp.sock');
    const served = spawnCli(['serve', '--socket', path]);
    try {
      for (let i = 0; i < 500 && !served.stderr.includes('Ctrl-C stops'); i++)
        await new Promise((r) => setTimeout(r, 20));
      await using qmp = await QmpClient.connect({ path });
      await qmp.execute('device_del', { id: 'x\u009b2J\u202e' }).catch(() => {});
      for (let i = 0; i < 200 && !served.stderr.includes('unexpected command'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(served.stderr).toContain(`unexpected command 'device_del' with arguments {"id":"x\\x9b2J\\u202e"}`);
      expect(served.stderr).not.toMatch(CONTROL);
    } finally {
      served.child.kill('SIGINT');
      await served.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
