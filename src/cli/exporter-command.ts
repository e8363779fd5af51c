/**
 * `qapi-ts exporter`: the IOThreads and holders of many VMs, for
 * Prometheus (`/metrics`) and people (`/`, a live page), until Ctrl-C.
 *
 * Exit status: 0 stopped by SIGINT/SIGTERM, 2 usage error, 3 cannot listen.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Fleet, socketName, type NamedTarget } from '../exporter/fleet.js';
import { ExporterServer } from '../exporter/server.js';
import { parseTcpTarget } from '../runtime/transport.js';
import { interruption } from './interrupt.js';

const USAGE = `usage: qapi-ts exporter --listen HOST:PORT [--socket [NAME=]PATH]... [--tcp NAME=HOST:PORT]... [--socket-dir DIR]... [options]

Serves the IOThreads of many QEMUs and who uses them (holders): for
Prometheus at /metrics, and as a live page at /. Each scrape refreshes
every VM, concurrently, each within --timeout, and answers within
--deadline; a VM that cannot be reached is qemu_up 0 and never delays the
others.

targets (at least one; repeatable):
  -s, --socket [NAME=]PATH   a QMP unix socket; the VM is named NAME, or
                             by the file name without its extension
  -t, --tcp NAME=HOST:PORT   a QMP TCP endpoint
  -d, --socket-dir DIR       every unix socket in DIR is a VM (named by
                             its file name without extension), picked up
                             and dropped as sockets come and go

options:
  -l, --listen HOST:PORT     where to serve HTTP (port 0: any free port)
      --hold                 keep the QMP connections (reconnecting), and
                             refresh at once on DEVICE_DELETED,
                             BLOCK_EXPORT_DELETED and ACPI_DEVICE_OST; by
                             default each refresh connects and lets go, so
                             other tools can use the monitor in between
      --timeout MS           most time one VM's refresh may take,
                             connecting included (default 5000)
      --deadline MS          most time a scrape waits for the refresh (default
                             500); VMs not refreshed by then are reported
                             from their previous refresh (see
                             qemu_exporter_snapshot_age_seconds)
      --interval SECONDS     refresh period while a page is open (default 2)
      --concurrency N        most VMs refreshed at once (default 32)
      --max-vms N            most VMs; further sockets in --socket-dir are
                             ignored (default 1000)
  -h, --help                 this text

exit status: 0 stopped by SIGINT or SIGTERM, 2 usage error, 3 cannot listen.
`;

const OPTIONS = {
  listen: { type: 'string', short: 'l' },
  socket: { type: 'string', short: 's', multiple: true },
  tcp: { type: 'string', short: 't', multiple: true },
  'socket-dir': { type: 'string', short: 'd', multiple: true },
  hold: { type: 'boolean' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  deadline: { type: 'string' },
  concurrency: { type: 'string' },
  'max-vms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

/** `NAME=PATH` when the part before the first `=` has no `/`; otherwise all of it is the path. */
export function parseSocketSpec(spec: string): NamedTarget {
  const eq = spec.indexOf('=');
  const named = eq > 0 && !spec.slice(0, eq).includes('/');
  const path = named ? spec.slice(eq + 1) : spec;
  if (path === '') throw new UsageError(`--socket: expected [NAME=]PATH, got '${spec}'`);
  const name = named ? spec.slice(0, eq) : socketName(path.slice(path.lastIndexOf('/') + 1));
  if (name === '') throw new UsageError(`--socket: no VM name in '${spec}' (give NAME=PATH)`);
  return { name, target: { path } };
}

export function parseTcpSpec(spec: string): NamedTarget {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--tcp: expected NAME=HOST:PORT, got '${spec}'`);
  try {
    return { name: spec.slice(0, eq), target: parseTcpTarget(spec.slice(eq + 1)) };
  } catch {
    throw new UsageError(`--tcp: expected NAME=HOST:PORT with a port from 1 to 65535, got '${spec}'`);
  }
}

function parseListen(spec: string | undefined): { host: string; port: number } {
  if (spec === undefined) throw new UsageError('--listen HOST:PORT is required');
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new UsageError(`--listen: expected HOST:PORT with a port from 0 to 65535, got '${spec}'`);
  return { host: (m[1] ?? m[2]) as string, port };
}

function positiveNumber(text: string | undefined, flag: string, fallback: number, max: number, integer = true): number {
  if (text === undefined) return fallback;
  const value = (integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) ? Number(text) : NaN;
  if (!(value > 0 && value <= max)) {
    throw new UsageError(
      `${flag}: expected a ${integer ? 'whole ' : ''}number more than 0 and at most ${max}, got '${text}'`,
    );
  }
  return value;
}

export async function runExporter(argv: string[]): Promise<number> {
  let fleet: Fleet;
  let server: ExporterServer;
  let listen: { host: string; port: number };
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    listen = parseListen(values.listen);
    const targets = [...(values.socket ?? []).map(parseSocketSpec), ...(values.tcp ?? []).map(parseTcpSpec)];
    const socketDirs = (values['socket-dir'] ?? []).map((d) => resolve(d));
    if (targets.length === 0 && socketDirs.length === 0)
      throw new UsageError('give at least one --socket, --tcp or --socket-dir');
    const names = new Set<string>();
    for (const t of targets) {
      if (names.has(t.name)) throw new UsageError(`two VMs are named '${t.name}' (give NAME=PATH)`);
      names.add(t.name);
    }
    const maxVms = positiveNumber(values['max-vms'], '--max-vms', 1000, 1_000_000);
    if (targets.length > maxVms) throw new UsageError(`${targets.length} VMs named, more than --max-vms ${maxVms}`);
    fleet = new Fleet({
      targets,
      socketDirs,
      hold: values.hold === true,
      timeout: positiveNumber(values.timeout, '--timeout', 5000, 3_600_000),
      concurrency: positiveNumber(values.concurrency, '--concurrency', 32, 10_000),
      maxVms,
      warn: (m) => process.stderr.write(`qapi-ts exporter: ${m}\n`),
    });
    server = new ExporterServer(fleet, {
      interval: positiveNumber(values.interval, '--interval', 2, 86_400, false) * 1000,
      deadline: positiveNumber(values.deadline, '--deadline', 500, 3_600_000),
    });
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`qapi-ts exporter: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }

  using stop = interruption();
  try {
    let address;
    try {
      address = await server.listen(listen.host, listen.port);
    } catch (e) {
      process.stderr.write(
        `qapi-ts exporter: cannot listen on ${listen.host}:${listen.port}: ${(e as Error).message}\n`,
      );
      return 3;
    }
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    process.stderr.write(
      `qapi-ts exporter: serving http://${host}:${address.port}/ (metrics at /metrics); Ctrl-C stops\n`,
    );
    // The first look, so the page has something before the first scrape.
    void fleet.refreshAll();
    await new Promise<void>((done) => stop.signal.addEventListener('abort', () => done(), { once: true }));
    return 0;
  } finally {
    await server.close();
    await fleet.close();
  }
}
