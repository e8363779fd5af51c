/**
 * The exporter in the test's process, against simulated holder-tracking
 * QEMUs and scripted hostile servers (qapi-ts/testing) on unix sockets:
 * a fleet of 100, socket directories that change, dead and hung VMs,
 * --hold with events and reconnects, limits, and the text format's
 * escaping. The same, scraped by a real Prometheus and shown in a real
 * browser: prometheus.integration.ts, page.integration.ts.
 */
import { linkSync, mkdtempSync, symlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ExporterServer, Fleet, renderMetrics, escapeLabel, type VmSnapshot } from '../../src/exporter/index.js';
import { parseSocketSpec } from '../../src/cli/exporter-command.js';
import { QmpClient } from '../../src/runtime/index.js';
import { DEMO_MACHINE, faults, holderTrackingQemu, QmpTestServer } from '../../src/testing/index.js';
import { builtCli, runCli } from '../helpers/cli.js';
import { startExporter } from './helpers.js';

const dirs: string[] = [];
const servers: { close(): Promise<void> }[] = [];
const fleets: Fleet[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-exporter-'));
  dirs.push(dir);
  return dir;
}

async function simulated(path: string): Promise<QmpTestServer> {
  const server = await QmpTestServer.create({ recordReceived: false });
  server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
  await server.listen({ path });
  servers.push(server);
  return server;
}

function fleet(options: ConstructorParameters<typeof Fleet>[0]): Fleet {
  const f = new Fleet(options);
  fleets.push(f);
  return f;
}

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const byVm = (snapshots: VmSnapshot[]): Map<string, VmSnapshot> => new Map(snapshots.map((s) => [s.vm, s]));
const holdersOf = (s: VmSnapshot | undefined, io: string): string[] =>
  s?.iothreads.find((t) => t.id === io)?.holders.map((h) => `${h.type}:${h.holder}`) ?? [];

describe('the fleet', () => {
  it('refreshes 100 simulated QEMUs in a socket directory, a dead socket and a missing one', async () => {
    const dir = tempDir();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => simulated(join(dir, `vm${String(i).padStart(3, '0')}.sock`))),
    );
    // A socket file nobody listens on any more: what a killed QEMU leaves behind.
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(join(dir, 'live.tmp'), r));
    linkSync(join(dir, 'live.tmp'), join(dir, 'dead.qmp')); // closing unlinks live.tmp only
    await new Promise<void>((r) => dead.close(() => r()));
    writeFileSync(join(dir, 'notes.txt'), 'not a socket');
    const f = fleet({ socketDirs: [dir], targets: [{ name: 'missing', target: { path: join(dir, 'missing.sock') } }] });
    const started = performance.now();
    const all = byVm(await f.refreshAll());
    const ms = performance.now() - started;
    process.stderr.write(`exporter: first refresh of 100 simulated VMs + 2 dead: ${ms.toFixed(0)} ms\n`);
    expect(all.size).toBe(102);
    expect(all.has('notes')).toBe(false);
    expect(all.get('dead')).toMatchObject({
      up: false,
      error: expect.stringMatching(/^QMP_ERR_CONNECT: .*ECONNREFUSED/),
    });
    expect(all.get('missing')).toMatchObject({ up: false, error: expect.stringMatching(/ENOENT/) });
    const up = [...all.values()].filter((s) => s.up);
    expect(up).toHaveLength(100);
    for (const s of up) {
      expect(s.source).toBe('reported');
      expect(holdersOf(s, 'io0')).toEqual(['qom:/machine/peripheral/vblk1', 'qom:/machine/peripheral/vblk0']);
      expect(holdersOf(s, 'io1')[0]).toBe('block-node:disk2');
    }
    // Later refreshes ask the schema no more: one query-iothreads each.
    const second = performance.now();
    const again = await f.refreshAll();
    process.stderr.write(`exporter: next refresh: ${(performance.now() - second).toFixed(0)} ms\n`);
    expect(again.filter((s) => s.up).every((s) => s.commands === 1)).toBe(true);
    const text = renderMetrics(again);
    expect(text).toContain('qemu_up{vm="dead"} 0\n');
    expect(text).toContain(
      'qemu_iothread_holder{vm="vm042",iothread="io0",type="qom",holder="/machine/peripheral/vblk0"} 1\n',
    );
    expect(text).toContain('qemu_iothread_holders{vm="vm042",iothread="io1"} 4\n');
    expect(text).toContain('qemu_iothread_holders_source{vm="vm042",source="reported"} 1\n');
    expect(text).toContain('qemu_iothread_info{vm="vm042",iothread="io1",thread_id="10002"} 1\n');
  });

  it('picks up sockets as they come and drops them as they go, and shows a hot-plug at the next refresh', async () => {
    const dir = tempDir();
    const a = await simulated(join(dir, 'a.sock'));
    const f = fleet({ socketDirs: [dir] });
    expect([...byVm(await f.refreshAll()).keys()]).toEqual(['a']);
    await simulated(join(dir, 'b.sock'));
    expect([...byVm(await f.refreshAll()).keys()]).toEqual(['a', 'b']);
    await using qmp = await QmpClient.connect({ path: join(dir, 'a.sock') });
    await qmp.execute('device_add', {
      driver: 'virtio-blk-pci',
      id: 'vblk2',
      bus: 'rp4',
      drive: 'disk3',
      iothread: 'io0',
    });
    expect(holdersOf(byVm(await f.refreshAll()).get('a'), 'io0')[0]).toBe('qom:/machine/peripheral/vblk2');
    await qmp.close();
    await a.close(); // removes its socket file
    expect([...byVm(await f.refreshAll()).keys()]).toEqual(['b']);
  });

  it('--tcp targets: a VM on a TCP port, named as given', async () => {
    const server = await QmpTestServer.create({ recordReceived: false });
    server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
    const where = (await server.listen({ host: '127.0.0.1', port: 0 })) as { host: string; port: number };
    servers.push(server);
    const { parseTcpSpec } = await import('../../src/cli/exporter-command.js');
    const f = fleet({ targets: [parseTcpSpec(`lab=127.0.0.1:${where.port}`)] });
    const [s] = await f.refreshAll();
    expect(s).toMatchObject({ vm: 'lab', target: `tcp:127.0.0.1:${where.port}`, up: true, source: 'reported' });
  });

  it('names by file name without extension; two files with the same stem go by their whole names', async () => {
    const dir = tempDir();
    await simulated(join(dir, 'x.sock'));
    await simulated(join(dir, 'x.qmp'));
    await simulated(join(dir, 'y.monitor.sock'));
    // A link to a socket in a VM's own directory (libvirt's layout) is a VM under the link's name.
    const elsewhere = tempDir();
    await simulated(join(elsewhere, 'monitor.sock'));
    symlinkSync(join(elsewhere, 'monitor.sock'), join(dir, 'web1'));
    symlinkSync(join(elsewhere, 'missing.sock'), join(dir, 'dangling'));
    const f = fleet({ socketDirs: [dir] });
    const all = await f.refreshAll();
    expect(all.map((s) => s.vm)).toEqual(['web1', 'x.qmp', 'x.sock', 'y.monitor']);
    expect(all.every((s) => s.up)).toBe(true);
    expect(parseSocketSpec('/run/vm/web1.qmp')).toEqual({ name: 'web1', target: { path: '/run/vm/web1.qmp' } });
    expect(parseSocketSpec('db=/run/vm/qmp.sock')).toEqual({ name: 'db', target: { path: '/run/vm/qmp.sock' } });
    expect(parseSocketSpec('/run/a=b/qmp.sock')).toEqual({ name: 'qmp', target: { path: '/run/a=b/qmp.sock' } });
  });

  it('a VM that never greets is down after the timeout and does not hold up the others', async () => {
    const dir = tempDir();
    await simulated(join(dir, 'ok.sock'));
    const held: Socket[] = [];
    const silent: Server = createServer((socket) => void held.push(socket)); // accepts, says nothing
    await new Promise<void>((r) => silent.listen(join(dir, 'hung.sock'), r));
    servers.push({ close: () => new Promise<void>((r) => silent.close(() => r())) });
    const f = fleet({ socketDirs: [dir], timeout: 300 });
    const all = byVm(await f.refreshAll());
    expect(all.get('ok')?.up).toBe(true);
    expect(all.get('ok')!.seconds).toBeLessThan(all.get('hung')!.seconds);
    expect(all.get('hung')).toMatchObject({ up: false, error: expect.stringMatching(/timed out|QMP_ERR_GREETING/) });
    for (const socket of held) socket.destroy();
  });

  it('a scrape waits for the refresh only until its deadline: a VM still being refreshed is left out, then reported', async () => {
    const dir = tempDir();
    await simulated(join(dir, 'ok.sock'));
    const held: Socket[] = [];
    const silent: Server = createServer((socket) => void held.push(socket));
    await new Promise<void>((r) => silent.listen(join(dir, 'hung.sock'), r));
    servers.push({ close: () => new Promise<void>((r) => silent.close(() => r())) });
    const f = fleet({ socketDirs: [dir], timeout: 3000 });
    const http = new ExporterServer(f, { deadline: 300 });
    servers.push(http);
    const { port } = await http.listen('127.0.0.1', 0);
    const first = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(first).toContain('qemu_up{vm="ok"} 1\n');
    expect(first).not.toContain('vm="hung"');
    expect(first).toMatch(/^qemu_exporter_snapshot_age_seconds\{vm="ok"\} [\d.e-]+$/m);
    // Its refresh ends with the timeout; a later scrape reports it.
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), { timeout: 10_000, interval: 200 })
      .toContain('qemu_up{vm="hung"} 0\n');
    for (const socket of held) socket.destroy();
  });

  it('a VM that answers too much is down with a limit error; at most maxVms VMs are kept', async () => {
    const dir = tempDir();
    const big = await QmpTestServer.create({ recordReceived: false });
    big.on('query-iothreads', () =>
      Array.from({ length: 50 }, (_, i) => ({
        id: `io${i}`,
        'thread-id': i,
        'poll-max-ns': 0,
        'poll-grow': 0,
        'poll-shrink': 0,
        'aio-max-batch': 0,
        holders: [{ type: 'qom' as const, path: 'p'.repeat(1000) }],
      })),
    );
    await big.listen({ path: join(dir, 'big.sock') });
    servers.push(big);
    const huge = await QmpTestServer.create({ recordReceived: false });
    huge.on('query-iothreads').fault(faults.oversize(100_000));
    await huge.listen({ path: join(dir, 'huge.sock') });
    servers.push(huge);
    await simulated(join(dir, 'small.sock'));
    await simulated(join(dir, 'zzz.sock'));
    const f = fleet({
      socketDirs: [dir],
      limits: { maxIothreads: 100, maxBytes: 10_000 },
      maxMessageBytes: 64 * 1024,
      maxVms: 3,
    });
    const all = byVm(await f.refreshAll());
    expect([...all.keys()]).toEqual(['big', 'huge', 'small']);
    expect(f.ignored).toBe(1);
    expect(all.get('big')).toMatchObject({
      up: false,
      error: expect.stringMatching(/^QAPI_ERR_EXPORTER_LIMIT: .*10000 characters/),
    });
    expect(all.get('huge')).toMatchObject({ up: false, error: expect.stringMatching(/^QMP_ERR_MESSAGE_TOO_LARGE: /) });
    expect(all.get('small')?.up).toBe(true);
    expect(renderMetrics([...all.values()], { ignored: f.ignored })).toContain('qemu_exporter_ignored_sockets 1\n');
  });

  it('--hold keeps one session, refreshes on DEVICE_DELETED, and reconnects after the VM comes back', async () => {
    const dir = tempDir();
    const path = join(dir, 'vm.sock');
    const server = await simulated(path);
    const changes: string[] = [];
    const f = fleet({ socketDirs: [dir], hold: true, timeout: 2000 });
    f.onChange((vm) => vm && changes.push(vm.name));
    expect((await f.refreshAll())[0]?.up).toBe(true);
    await f.refreshAll();
    expect(server.sessions.size).toBe(1); // the same session, kept
    await using qmp = await QmpClient.connect({ path });
    await qmp.execute('device_del', { id: 'vblk0' });
    await expect.poll(() => changes.length).toBeGreaterThan(0);
    expect(holdersOf((await f.refreshAll())[0], 'io0')).toEqual(['qom:/machine/peripheral/vblk1']);
    await qmp.close();
    // The VM goes away and comes back: down, then up again on a new session.
    await server.close();
    await expect.poll(async () => (await f.refreshAll()).length).toBe(0);
    await simulated(path); // a new server on the same path, closed after the test with the others
    await expect.poll(async () => (await f.refreshAll())[0]?.up, { timeout: 10_000 }).toBe(true);
  });

  it('a named VM under --hold: down while gone, back by itself', async () => {
    const dir = tempDir();
    const path = join(dir, 'vm.sock');
    let server = await simulated(path);
    const f = fleet({ targets: [{ name: 'vm', target: { path } }], hold: true, timeout: 2000 });
    expect((await f.refreshAll())[0]?.up).toBe(true);
    await server.close();
    await expect.poll(async () => (await f.refreshAll())[0]?.up).toBe(false);
    server = await simulated(path);
    // Reconnected in the background (no refresh needed to start it).
    await expect.poll(() => server.sessions.size, { timeout: 10_000 }).toBe(1);
    expect((await f.refreshAll())[0]?.up).toBe(true);
  });
});

describe('hostile data', () => {
  const HOSTILE = '/machine/peripheral/x"}\\n 1\n# TYPE evil gauge\n<img src=x onerror="alert(1)">\u2028\u0000';

  async function hostileServer(path: string): Promise<QmpTestServer> {
    const server = await QmpTestServer.create({ recordReceived: false });
    server.on('query-iothreads').raw((id) =>
      JSON.stringify({
        return: [
          {
            id: 'io"0\\',
            'thread-id': 7,
            'poll-max-ns': 0,
            'poll-grow': 0,
            'poll-shrink': 0,
            'aio-max-batch': 0,
            'poll-weight': 3,
            holders: [
              { type: 'qom', path: HOSTILE },
              { type: 'kind-from-the-future', id: 'thing0' },
              { type: 'block-node', 'node-name': 'n' },
              { type: 'block-node', 'node-name': 'n' },
            ],
          },
          {
            id: 'io"0\\',
            'thread-id': 8,
            'poll-max-ns': 0,
            'poll-grow': 0,
            'poll-shrink': 0,
            'aio-max-batch': 0,
            holders: [],
          },
        ],
        ...(id === undefined ? {} : { id }),
      }),
    );
    await server.listen({ path });
    servers.push(server);
    return server;
  }

  it('keeps ids and paths as data: escaped labels, an unknown holder kind by its type, duplicates merged', async () => {
    const dir = tempDir();
    await hostileServer(join(dir, 'evil.sock'));
    const f = fleet({ socketDirs: [dir] });
    const [s] = await f.refreshAll();
    expect(s?.up).toBe(true);
    expect(s?.iothreads).toHaveLength(1); // the second io"0\ is dropped: it would repeat the series
    const t = s!.iothreads[0]!;
    expect(t.holders).toEqual([
      { type: 'qom', holder: HOSTILE, count: 1 },
      { type: 'kind-from-the-future', holder: 'thing0', count: 1 },
      { type: 'block-node', holder: 'n', count: 2 },
    ]);
    expect(t.entries).toBe(4);
    expect(t.pollWeight).toBe('3');
    const text = renderMetrics([s!]);
    const lines = text.split('\n');
    // One line per sample: nothing in a label starts a line of its own.
    expect(lines.filter((l) => l.startsWith('# TYPE evil'))).toEqual([]);
    expect(text).toContain(`holder="${escapeLabel(HOSTILE)}"} 1\n`);
    expect(escapeLabel(HOSTILE)).toBe(
      '/machine/peripheral/x\\"}\\\\n 1\\n# TYPE evil gauge\\n<img src=x onerror=\\"alert(1)\\">\u2028\u0000',
    );
    expect(text).toContain(
      'qemu_iothread_holder{vm="evil",iothread="io\\"0\\\\",type="kind-from-the-future",holder="thing0"} 1\n',
    );
    expect(text).toContain('qemu_iothread_holder{vm="evil",iothread="io\\"0\\\\",type="block-node",holder="n"} 2\n');
    expect(text).toContain('qemu_iothread_poll_weight{vm="evil",iothread="io\\"0\\\\"} 3\n');
  });

  it('the HTTP side: /metrics, /api/state, the page with its CSP, 404, 405, and at most maxViewers event streams', async () => {
    const dir = tempDir();
    await simulated(join(dir, 'vm1.sock'));
    const f = fleet({ socketDirs: [dir] });
    const http = new ExporterServer(f, { interval: 100, maxViewers: 1 });
    servers.push(http);
    const { port } = await http.listen('127.0.0.1', 0);
    const base = `http://127.0.0.1:${port}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await metrics.text()).toContain('qemu_up{vm="vm1"} 1\n');
    const state = (await (await fetch(`${base}/api/state`)).json()) as { vms: VmSnapshot[] };
    expect(state.vms.map((v) => v.vm)).toEqual(['vm1']);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.text()).toContain('<script src="/page.js" defer></script>');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    const abort = new AbortController();
    const events = await fetch(`${base}/events`, { signal: abort.signal });
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = events.body!.getReader();
    let got = '';
    while (!got.includes('\n\n')) got += new TextDecoder().decode((await reader.read()).value);
    expect(got).toMatch(/^event: state\ndata: \{"at":\d+,"vms":\[/);
    expect((await fetch(`${base}/events`)).status).toBe(503);
    abort.abort();
  });
});

describe.runIf(builtCli('src/cli/main.js', 'qapi-ts exporter CLI tests'))('qapi-ts exporter (CLI)', () => {
  it('refuses bad usage with exit 2', async () => {
    for (const args of [
      ['--socket', '/tmp/x.sock'],
      ['--listen', '127.0.0.1:99999', '--socket', '/tmp/x.sock'],
      ['--listen', '127.0.0.1:0'],
      ['--listen', '127.0.0.1:0', '--tcp', 'localhost:4444'],
      ['--listen', '127.0.0.1:0', '--socket', 'a=/x.sock', '--socket', '/y/a.sock'],
      ['--listen', '127.0.0.1:0', '--socket', '/x.sock', '--timeout', '0'],
      ['--listen', '127.0.0.1:0', '--socket', '/x.sock', 'extra'],
    ]) {
      const run = await runCli(['exporter', ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^qapi-ts exporter: /);
    }
  });

  it('serves until SIGTERM, then exits 0; --help exits 0; a port in use exits 3', async () => {
    const dir = tempDir();
    await simulated(join(dir, 'vm1.sock'));
    const exporter = await startExporter(['--socket-dir', dir]);
    expect(await (await fetch(`${exporter.url}/metrics`)).text()).toContain('qemu_up{vm="vm1"} 1\n');
    const busy = await runCli(['exporter', '--listen', exporter.url.replace('http://', ''), '--socket-dir', dir]);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toMatch(/^qapi-ts exporter: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    exporter.run.child.kill('SIGTERM');
    expect(await exporter.run.exited).toBe(0);
    const help = await runCli(['exporter', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: qapi-ts exporter --listen HOST:PORT/);
  });
});
