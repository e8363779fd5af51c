/**
 * `qapi-ts iothreads` (the built CLI) against a hostile server (the test
 * server on a unix socket, scripted): a tree that never ends, replies that
 * do not fit the schema, a tree too bulky to hold, a walk slower than
 * --timeout, and text meant to take over the terminal. Each is a protocol
 * failure (exit 3 with the walk's or the validator's message) or is shown
 * escaped; never `internal error`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IOThreadInfo, ObjectPropertyValue } from '../../generated/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import { listeningServer, type ListeningServer } from '../helpers/socket-server.js';

const thread = (id: string, tid: number): IOThreadInfo => ({
  id,
  'thread-id': tid,
  'poll-max-ns': 0,
  'poll-grow': 0,
  'poll-shrink': 0,
  'aio-max-batch': 0,
});

let open: ListeningServer | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

/** A server whose QOM tree is `list(path)` (both qom-list and qom-list-get). */
async function hostile(
  list: (path: string) => ObjectPropertyValue[],
  options: { slow?: number } = {},
): Promise<ListeningServer> {
  open = await listeningServer();
  const { server } = open;
  server.on('query-iothreads', () => [{ ...thread('io0', 7), holders: [] }]);
  server.on('qom-list-get', async ({ paths }) => {
    if (options.slow) await new Promise((r) => setTimeout(r, options.slow));
    return paths.map((path) => ({ properties: list(path) }));
  });
  server.on('qom-list', ({ path }) => list(path).map(({ name, type }) => ({ name, type })));
  return open;
}

describe.runIf(builtCli('src/cli/main.js', 'qapi-ts iothreads against a hostile server'))(
  'qapi-ts iothreads against a hostile server',
  () => {
    it("a tree deeper than 64 levels (a cycle) is a protocol failure: exit 3 with the walk's message", async () => {
      const { path } = await hostile((p) => (p === '/machine' ? [] : [{ name: 'loop', type: 'child<container>' }]));
      const run = await runCli(['iothreads', '--socket', path, '--derived']);
      expect(run.stderr).toMatch(
        /^qapi-ts iothreads: QAPI_ERR_QOM_WALK: QOM tree deeper than 64 levels below \/machine, \/objects \(at \/objects(\/loop)+\/… \(333 characters\)\)\n$/,
      );
      expect(run.code).toBe(3);
    });

    it("a query-iothreads reply that is not a list, or has elements of the wrong type, is invalid: exit 3 with the validator's message", async () => {
      const { path, server } = await hostile(() => []);
      server.expect('query-iothreads').raw((id) => JSON.stringify({ return: { io0: 1 }, id }));
      let run = await runCli(['iothreads', '--socket', path]);
      expect(run.stderr).toMatch(
        /^qapi-ts iothreads: QAPI_VALIDATION_ERROR: invalid reply to 'query-iothreads': .*array/,
      );
      expect(run.code).toBe(3);
      server.expect('query-iothreads').raw((id) => JSON.stringify({ return: [{ id: 5, 'thread-id': 'x' }], id }));
      run = await runCli(['iothreads', '--socket', path, '--derived']);
      expect(run.stderr).toMatch(
        /^qapi-ts iothreads: QAPI_VALIDATION_ERROR: invalid reply to 'query-iothreads': \[0\]\.id: /,
      );
      expect(run.code).toBe(3);
    });

    it("a reply without the holders its schema has is invalid, not 'holders reported by QEMU' with none", async () => {
      const { path, server } = await hostile(() => []);
      server.on('query-iothreads', () => [thread('io0', 7)]);
      const run = await runCli(['iothreads', '--socket', path]);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(
        "qapi-ts iothreads: QAPI_VALIDATION_ERROR: invalid reply to 'query-iothreads': [0].holders: missing, " +
          "though the server's schema has 'holders' (use --derived / source: 'derived' to work them out from QOM)\n",
      );
      expect(run.code).toBe(3);
      const derived = await runCli(['iothreads', '--socket', path, '--derived']);
      expect(derived.code).toBe(0);
      expect(derived.stdout).toMatch(/holders derived from QOM/);
    });

    it('a schema that is not a list of entries says "got an object"', async () => {
      const { path, server } = await hostile(() => []);
      server.on('query-qmp-schema').raw((id) => JSON.stringify({ return: {}, id }));
      const run = await runCli(['iothreads', '--socket', path]);
      expect(run.stderr).toBe(
        'qapi-ts iothreads: QMP_ERR_INTROSPECTION: bad introspection data: ' +
          'expected an array of SchemaInfo objects, got an object\n',
      );
      expect(run.code).toBe(3);
    });

    it('a tree too bulky to hold (40 MB of values) stops at 32 MiB: exit 3', async () => {
      // A chain of 5 objects, each with an 8 MB value: one qom-list-get per level, each reply under the line limit.
      const big = 'v'.repeat(8_000_000);
      const { path } = await hostile((p) =>
        p === '/machine'
          ? []
          : p.split('/').length < 8
            ? [
                { name: 'c', type: 'child<container>' },
                { name: 'blob', type: 'str', value: big },
              ]
            : [],
      );
      const run = await runCli(['iothreads', '--socket', path, '--derived']);
      expect(run.stderr).toMatch(
        /^qapi-ts iothreads: QAPI_ERR_QOM_WALK: QOM tree too bulky: more than 33554432 bytes of paths, property names, types and values \(at \/objects\/c\/c\/c\/c\)\n$/,
      );
      expect(run.code).toBe(3);
    });

    it('--timeout bounds the whole walk, though each command answers in time: exit 3', async () => {
      const { path } = await hostile((p) => (p === '/machine' ? [] : [{ name: 'c', type: 'child<container>' }]), {
        slow: 60,
      });
      const run = await runCli(['iothreads', '--socket', path, '--derived', '--timeout', '600']);
      expect(run.stderr).toBe(
        'qapi-ts iothreads: QMP_ERR_TIMEOUT: inspecting IOThreads: not done within 600 ms ' +
          '(the timeout bounds all of its commands together)\n',
      );
      expect(run.code).toBe(3);
    });

    it('shows ids and holders from the server escaped: no forged rows, no terminal control', async () => {
      const { path, server } = await hostile(() => []);
      server.on('query-iothreads', () => [
        {
          ...thread('io\x1b]0;owned\x07', 7),
          holders: [
            {
              type: 'qom',
              path: '/machine/peripheral/a\nio9       99         0            0     0       0          /forged',
            },
            { type: 'block-node', 'node-name': 'n\u202eabc\x9b2J' },
          ],
        },
      ]);
      const run = await runCli(['iothreads', '--socket', path]);
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[1]).toMatch(/^io\\x1b\]0;owned\\x07 +7 .* \/machine\/peripheral\/a\\x0aio9 {7}99 .*\/forged$/);
      expect(lines[2]).toMatch(/^ +block node n\\u202eabc\\x9b2J$/);
      // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
      expect(run.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      // --json: the same data, C1 and bidi characters as JSON escapes (C0 ones JSON escapes itself).
      const json = await runCli(['iothreads', '--socket', path, '--json']);
      // eslint-disable-next-line no-control-regex -- nor the JSON output
      expect(json.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
      expect((JSON.parse(json.stdout) as { iothreads: IOThreadInfo[] }).iothreads[0]?.holders?.[1]).toEqual({
        type: 'block-node',
        'node-name': 'n\u202eabc\x9b2J',
      });
    });

    it('an error description from the server is escaped too: exit 4', async () => {
      const { path, server } = await hostile(() => []);
      server.on('qom-list-get').error('GenericError', 'bad\x1b[2J\x1b]0;x\x07 thing');
      server.on('qom-list').error('GenericError', 'bad\x1b[2J\x1b]0;x\x07 thing');
      const run = await runCli(['iothreads', '--socket', path, '--derived']);
      expect(run.stderr).toBe('GenericError: bad\\x1b[2J\\x1b]0;x\\x07 thing\n');
      expect(run.code).toBe(4);
    });
  },
);
