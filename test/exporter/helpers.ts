/**
 * What the exporter's integration tests start: the exporter (the built
 * CLI), a fleet of simulated QEMUs in this process, a dead socket, and
 * Debian's Prometheus and Chromium. Every process is stopped by its pid,
 * every temp dir removed. Without Prometheus or Chromium the tests skip
 * with a message, except under CI, where that is a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_MACHINE, holderTrackingQemu, QmpTestServer } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../helpers/cli.js';
import { killAndWait } from '../helpers/processes.js';

/** A QOM path no real QEMU makes: quotes, backslashes, newlines, markup, a line separator. */
export const HOSTILE_PATH = '/machine/peripheral/x"} 1\n# TYPE evil counter\\n<img src=x onerror="alert(1)">\u2028end';

/**
 * A server whose one IOThread is held by HOSTILE_PATH and by a kind of
 * holder no schema knows (as the monitor is, before the series' V9): shown
 * by its `type` and its first text member.
 */
export async function hostileServer(path: string): Promise<QmpTestServer> {
  const server = await QmpTestServer.create({ recordReceived: false });
  server.on('query-iothreads').raw((id) =>
    JSON.stringify({
      return: [
        {
          id: 'io<b>"0"</b>',
          'thread-id': 4242,
          'poll-max-ns': 0,
          'poll-grow': 0,
          'poll-shrink': 0,
          'aio-max-batch': 0,
          holders: [
            { type: 'qom', path: HOSTILE_PATH },
            { type: 'kind-from-the-future', id: 'thing0' },
          ],
        },
      ],
      ...(id === undefined ? {} : { id }),
    }),
  );
  await server.listen({ path });
  return server;
}

export const PROMETHEUS = '/usr/bin/prometheus';
export const CHROMIUM = '/usr/bin/chromium';

/** Whether `binary` is installed (Debian package `pkg`); under CI its absence is an error. */
export function installed(binary: string, pkg: string): boolean {
  if (existsSync(binary)) return true;
  if (process.env.CI) throw new Error(`CI: ${binary} is required (apt-get install ${pkg}; .ci/run installs it)`);
  process.stderr.write(
    `SKIPPING exporter tests with ${pkg}: ${binary} not installed (apt-get install --no-install-recommends ${pkg})\n`,
  );
  return false;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `qapi-ts-${prefix}-`));
}

/** `count` simulated holder-tracking QEMUs (DEMO_MACHINE) listening on `dir/vmNNN.sock`. */
export async function simulatedFleet(dir: string, count: number): Promise<Map<string, QmpTestServer>> {
  const servers = new Map<string, QmpTestServer>();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `vm${String(i).padStart(3, '0')}`;
      const server = await QmpTestServer.create({ recordReceived: false });
      server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
      await server.listen({ path: join(dir, `${name}.sock`) });
      servers.set(name, server);
    }),
  );
  return servers;
}

/** A unix socket file nobody listens on (what a killed QEMU leaves): connecting is refused. */
export async function deadSocket(path: string): Promise<void> {
  const server = createServer();
  const live = `${path}.live`;
  await new Promise<void>((r) => server.listen(live, r));
  linkSync(live, path); // closing unlinks the name it listened on only
  await new Promise<void>((r) => server.close(() => r()));
}

/** A free TCP port on loopback (for programs that cannot report the one they got). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface Exporter {
  run: CliProcess;
  url: string;
  stop(): Promise<void>;
}

/** `qapi-ts exporter --listen 127.0.0.1:0 ARGS…`; resolves once it serves. */
export async function startExporter(args: readonly string[]): Promise<Exporter> {
  const run = spawnCli(['exporter', '--listen', '127.0.0.1:0', ...args]);
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null;
  while ((m = /serving (http:\/\/[^/]+)\//.exec(run.stderr)) === null) {
    if (run.child.exitCode !== null || Date.now() > deadline) {
      run.child.kill('SIGKILL');
      throw new Error(`exporter did not start: ${run.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    run,
    url: m[1] as string,
    async stop() {
      if (run.child.pid !== undefined) await killAndWait(run.child.pid, 'SIGTERM', 5000);
      if (run.child.exitCode === null && run.child.pid !== undefined) await killAndWait(run.child.pid, 'SIGKILL');
    },
  };
}

export interface Prometheus {
  url: string;
  child: ChildProcess;
  /** Output so far (its log). */
  readonly log: string;
  /** An instant PromQL query through the HTTP API. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** Debian's Prometheus scraping `target` (HOST:PORT) every 2 s, in a temp dir of its own. */
export async function startPrometheus(target: string): Promise<Prometheus> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 2s',
      '  scrape_timeout: 2s',
      'scrape_configs:',
      '  - job_name: qemu',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined) await killAndWait(child.pid, 'SIGTERM', 10_000);
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      await killAndWait(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    get log() {
      return log;
    },
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
      return body.data.result;
    },
    stop,
  };
}

/** `chromium --version`, for the log. */
export function chromiumVersion(): string {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
