/**
 * `qapi-ts exec` and `qapi-ts events` (the built CLI, `bin/qapi-ts`)
 * against hostile or scripted fake QMP servers and bad command lines:
 * exit codes, messages, no stack traces, bounded memory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { builtCli, runCli, spawnCli, type CliRun } from '../helpers/cli.js';
import { faults, type TestServerOptions } from '../../src/testing/index.js';
import { listeningServer, type ListeningServer } from '../helpers/socket-server.js';

const servers: ListeningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** The test server for our schema on a unix socket, set up by `script`. */
async function fake(
  script: (s: ListeningServer) => void = () => {},
  options: TestServerOptions = {},
): Promise<ListeningServer> {
  const s = await listeningServer(options);
  servers.push(s);
  script(s);
  return s;
}

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

function expectClean(r: CliRun): void {
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toMatch(/RangeError|TypeError|Maximum call stack/);
}

describe.runIf(builtCli('src/cli/runtime-commands.js', 'CLI tests against fake QMP servers'))(
  'qapi-ts exec / events against fake servers',
  () => {
    it('a line nested 10,000 deep is a protocol error: CODE: message, exit 3, no stack trace', async () => {
      const server = await fake((s) => s.server.on('query-status').fault(faults.deepNesting(10_000)));
      const r = await runCli(['exec', '--socket', server.path, 'query-status']);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^qapi-ts exec: QMP_ERR_PROTOCOL: malformed message from server: /);
      expectClean(r);
      const deepGreeting = await fake((s) => s.server.onConnect(faults.garbage(nested(10_000))), { greeting: false });
      const g = await runCli(['exec', '--socket', deepGreeting.path, 'query-status']);
      expect(g.code).toBe(3);
      expect(g.stderr).toMatch(
        /^qapi-ts exec: QMP_ERR_GREETING: unix:.*: waiting for the QMP greeting: malformed message/,
      );
      expectClean(g);
    });

    it('events: a too-deep event is a protocol error, exit 3', async () => {
      const server = await fake((s) =>
        s.server.onConnect((session) =>
          setTimeout(
            () =>
              session.sendRaw(
                `{"event": "X", "data": ${nested(10_000)}, "timestamp": {"seconds": 1, "microseconds": 0}}\r\n`,
              ),
            200,
          ),
        ),
      );
      const r = await runCli(['events', '--socket', server.path]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^qapi-ts events: QMP_ERR_PROTOCOL: /);
      expectClean(r);
    });

    it('exec memory stays bounded while a 2 MB line trickles in one byte at a time', async () => {
      const hasProc = existsSync('/proc/self/status');
      let peak = 0;
      const size = 2 * 1024 * 1024;
      let childPid = 0;
      const server = await fake((s) =>
        s.server.on('query-status', async (_args, ctx) => {
          ctx.session.sendRaw('{"return": "');
          const byte = Buffer.from('x');
          for (let i = 0; i < size; i++) {
            ctx.session.sendRaw(byte);
            // Let the client read (nearly) every byte as its own chunk.
            await new Promise((r) => setImmediate(r));
          }
          await new Promise((r) => setTimeout(r, 200));
          if (hasProc)
            peak = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${childPid}/status`, 'utf8'))?.[1]) / 1024;
          ctx.session.hangUp();
          return new Promise<never>(() => {});
        }),
      );
      const run = spawnCli(['exec', '--socket', server.path, '--timeout', '600000', 'query-status']);
      childPid = run.child.pid as number;
      const code = await run.exited;
      if (hasProc) {
        process.stderr.write(`exec peak RSS with a 2 MB line trickled byte by byte: ${peak.toFixed(0)} MB\n`);
        expect(peak).toBeGreaterThan(0);
        expect(peak).toBeLessThan(150);
      }
      expect(code).toBe(3);
      expect(run.stderr).toMatch(/^qapi-ts exec: QMP_ERR_DISCONNECTED: /);
    });

    it('exec --timeout takes values beyond 2^31 ms and infinity; rejects bad ones as usage errors', async () => {
      const server = await fake((s) =>
        s.server.on('query-status').reply({ running: true, status: 'running' }).delay(100),
      );
      for (const timeout of ['3000000000', 'infinity', 'Infinity']) {
        const r = await runCli(['exec', '--socket', server.path, '--timeout', timeout, 'query-status']);
        expect(r.stderr, timeout).toBe('');
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ running: true, status: 'running' });
      }
      for (const timeout of ['-5', '0', 'abc', '1.5', 'NaN', '']) {
        const r = await runCli(['exec', '--socket', server.path, `--timeout=${timeout}`, 'query-status']);
        expect(r.code, timeout).toBe(2);
        expect(r.stderr).toMatch(/^qapi-ts exec: --timeout: expected a positive number of milliseconds or 'infinity'/);
      }
    });

    it('exec refuses arguments QEMU could not parse before connecting, exit 1', async () => {
      const missing = '/nonexistent/qmp.sock';
      const deepJson = `{"a": ${nested(60_000)}}`;
      const r = await runCli(['exec', '--socket', missing, 'anything', deepJson]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'qapi-ts exec: JSON_ARGS is not usable JSON: nesting deeper than 1024 levels at position 1029\n',
      );
      // Parses (1024 levels), but the request would be 1025 deep: QEMU's limit.
      const tooDeep = await runCli(['exec', '--socket', missing, 'anything', `{"a": ${nested(1023)}}`]);
      expect(tooDeep.code).toBe(1);
      expect(tooDeep.stderr).toBe(
        "qapi-ts exec: QMP_ERR_ARGUMENT: anything: arguments nested deeper than 1023 levels (QEMU's limit)\n",
      );
      const surrogate = await runCli(['exec', '--socket', missing, 'anything', '{"s": "\\ud800"}']);
      expect(surrogate.code).toBe(1);
      expect(surrogate.stderr).toMatch(/^qapi-ts exec: QMP_ERR_ARGUMENT: anything: a string contains a lone surrogate/);
      for (const json of ['{"id": ', '[1]', '"s"']) {
        const bad = await runCli(['exec', '--socket', missing, 'anything', json]);
        expect(bad.code, json).toBe(1);
        expectClean(bad);
      }
    });

    it('exec: a QMP error reply is CLASS: desc, exit 4; quit answered by a hang-up succeeds', async () => {
      const server = await fake((s) => s.server.on('quit').fault(faults.hangUp()));
      const r = await runCli(['exec', '--socket', server.path, 'nope']);
      expect(r.code).toBe(4);
      expect(r.stderr).toBe('CommandNotFound: The command nope has not been found\n');
      const quit = await runCli(['exec', '--socket', server.path, 'quit']);
      expect(quit.stderr).toBe('');
      expect(quit.code).toBe(0);
      expect(quit.stdout).toBe('{}\n');
    });

    it('bad targets and flags are usage errors (exit 2) for exec and events alike', async () => {
      const usage: string[][] = [
        ['--socket', '', 'query-status'],
        ['--tcp', '127.0.0.1:99999', 'query-status'],
        ['--tcp', '127.0.0.1:0', 'query-status'],
        ['--tcp', 'no-port', 'query-status'],
        ['query-status'],
        ['--socket', 'a', '--tcp', 'b:1', 'query-status'],
        ['--bogus', '--socket', 'a', 'query-status'],
      ];
      for (const command of ['exec', 'events']) {
        for (const args of usage) {
          const r = await runCli([command, ...(command === 'events' ? args.slice(0, -1) : args)]);
          expect(r.code, `${command} ${args.join(' ')}`).toBe(2);
          expect(r.stderr).toMatch(new RegExp(`^qapi-ts ${command}: `));
          expectClean(r);
        }
      }
      const empty = await runCli(['exec', '--socket', '', 'query-status']);
      expect(empty.stderr).toBe('qapi-ts exec: --socket: expected a socket path, got an empty string\n');
      const port = await runCli(['exec', '--tcp', '127.0.0.1:99999', 'query-status']);
      expect(port.stderr).toBe(
        "qapi-ts exec: --tcp: expected HOST:PORT with a port from 1 to 65535, got '127.0.0.1:99999'\n",
      );
      expect((await runCli(['exec', '--socket', 'a'])).code).toBe(2);
    });

    it('events stops quietly (exit 0) when its reader goes away, as with `| head`', async () => {
      const server = await fake((s) =>
        s.server.onConnect((session) => {
          const timer = setInterval(() => session.emit('STOP'), 5);
          void session.closed.then(() => clearInterval(timer));
        }),
      );
      const run = spawnCli(['events', '--socket', server.path]);
      await new Promise<void>((resolve) => run.child.stdout?.once('data', () => resolve()));
      run.child.stdout?.destroy();
      expect(await run.exited).toBe(0);
      expect(run.stderr).toBe('');
    });

    it('events prints an event that comes in the same read as the qmp_capabilities reply (it was lost)', async () => {
      const stop = '{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}';
      const server = await fake((s) => s.server.expect('qmp_capabilities').raw(`{"return": {}}\r\n${stop}\r\n`));
      const run = spawnCli(['events', '--socket', server.path]);
      const deadline = Date.now() + 20_000;
      // Bounded: gives up after 20 s (the event never came before the fix).
      while (!run.stdout.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      expect(run.stdout).toBe('{"event":"STOP","timestamp":{"seconds":1,"microseconds":2}}\n');
    });

    it('events --event warns about names the server does not have, and keeps waiting', async () => {
      const schema = [
        { name: 'RESUME', 'meta-type': 'event', 'arg-type': '0' },
        { name: 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '1' },
      ];
      for (const hasSchema of [true, false]) {
        const server = await fake((s) => {
          if (hasSchema) s.server.on('query-qmp-schema').raw((id) => JSON.stringify({ return: schema, id }));
          else
            s.server.on('query-qmp-schema').error('CommandNotFound', 'The command query-qmp-schema has not been found');
          s.server.onConnect((session) => setTimeout(() => session.emit('RESUME'), 100));
        });
        const run = spawnCli(['events', '--socket', server.path, '-e', 'RESUME', '-e', 'RESUMED', '-e', 'RESUMED']);
        const deadline = Date.now() + 20_000;
        while (!run.stdout.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        run.child.kill('SIGINT');
        expect(await run.exited).toBe(0);
        expect(JSON.parse(run.stdout.trim())).toMatchObject({ event: 'RESUME' });
        expect(run.stderr).toBe(
          hasSchema ? "qapi-ts events: warning: the server has no event 'RESUMED' (waiting for it anyway)\n" : '',
        );
      }
    });
  },
);
