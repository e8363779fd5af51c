/**
 * With the generated CommandMap and EventMap, scripts are typed: handlers
 * get typed arguments and must return the reply type, fixed replies and
 * events must have the schema's shape. A small file using the server is
 * compiled with the strictest settings; every line marked
 * `@ts-expect-error` must fail to compile (or the directive itself is an
 * error), every other line must compile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { strictDiagnostics } from '../helpers/tsc.js';
import { repoRoot } from '../helpers/shared.js';

const USAGE = `
import { QmpTestServer, faults, QmpErrorResponse } from '${join(repoRoot, 'src/testing/index.js')}';
import type { CommandMap, EventMap, StatusInfo, DeviceDelArguments } from '${join(repoRoot, 'generated/index.js')}';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(): T | undefined { return undefined; }

export async function script(): Promise<void> {
  const server = await QmpTestServer.create<CommandMap, EventMap>();
  server.on('query-status', () => ({ running: true, status: 'running' }));
  server.on('query-status', async () => ({ running: false, status: 'paused' }));
  server.on('device_del', (args, ctx) => {
    assertType<Equal<typeof args, DeviceDelArguments>>();
    ctx.emit('DEVICE_DELETED', { path: '/machine/peripheral/' + args.id });
    if (args.id === '') throw new QmpErrorResponse('DeviceNotFound', 'no id');
  });
  server.on('query-status').reply({ running: true, status: 'running' }).delay(5).thenEmit('STOP');
  server.expect('qom-get', { path: '/machine', property: 'type' }).reply('anything goes for any');
  server.expect('cont').fault(faults.closeMidLine());
  server.emit('STOP');
  server.emit('DEVICE_DELETED', { path: '/p' }, { delay: 10 });
  const reply: StatusInfo = { running: true, status: 'running' };
  server.on('query-status').reply(reply);

  // @ts-expect-error a reply missing a member
  server.on('query-status', () => ({ running: true }));
  // @ts-expect-error a reply member of the wrong type
  server.on('query-status').reply({ running: 'yes', status: 'running' });
  // @ts-expect-error an enum value the schema does not have
  server.on('query-status').reply({ running: true, status: 'dancing' });
  // @ts-expect-error a command the schema does not have
  server.on('no-such-command', () => ({}));
  // @ts-expect-error arguments of the wrong shape to match
  server.expect('device_del', { identifier: 'x' });
  // @ts-expect-error an event the schema does not have
  server.emit('NO_SUCH_EVENT');
  // @ts-expect-error an event's data missing
  server.emit('DEVICE_DELETED');
  // @ts-expect-error data the event does not carry
  server.expect('stop').thenEmit('STOP', { reason: 'x' });
  server.on('device_del', (args) => {
    // @ts-expect-error an argument the command does not have
    return args.nope;
  });
}

export async function untyped(): Promise<void> {
  const server = await QmpTestServer.create();
  server.on('anything', (args) => ({ echo: args.whatever }));
  server.emit('ANY_EVENT', { any: 'data' });
}
`;

it('types scripts with the generated command and event maps', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-testing-types-'));
  try {
    const file = join(dir, 'usage.ts');
    writeFileSync(file, USAGE);
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
    const diagnostics = strictDiagnostics([file], { only: [file] });
    expect(diagnostics).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
