/**
 * `qapi-ts exporter`: the IOThreads and holders of many VMs, for
 * Prometheus (`/metrics`) and people (`/`, a live page), until Ctrl-C.
 *
 * Options and help: commands.ts (EXPORTER). Exit status: 0 stopped by SIGINT/SIGTERM, 2 usage error, 3 cannot listen.
 */
import { resolve } from 'node:path';
import { Fleet, socketName, type NamedTarget } from '../exporter/fleet.js';
import { ExporterServer } from '../exporter/server.js';
import { parseTcpTarget } from '../runtime/transport.js';
import { EXPORTER } from './commands.js';
import { EXIT_USAGE, parseCommandArgs, formatHelp, processIO, UsageError, usageLine, type CommandIO } from './kit.js';
import { interruption } from './interrupt.js';

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

export async function runExporter(argv: string[], io: CommandIO = processIO): Promise<number> {
  let fleet: Fleet;
  let server: ExporterServer;
  let listen: { host: string; port: number };
  try {
    const { values, positionals } = parseCommandArgs(EXPORTER.options, argv);
    if (values.help) {
      io.stdout(formatHelp(EXPORTER));
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
      warn: (m) => io.stderr(`qapi-ts exporter: ${m}\n`),
    });
    server = new ExporterServer(fleet, {
      interval: positiveNumber(values.interval, '--interval', 2, 86_400, false) * 1000,
      deadline: positiveNumber(values.deadline, '--deadline', 500, 3_600_000),
    });
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(usageLine('exporter', e.message));
      return EXIT_USAGE;
    }
    throw e;
  }

  using stop = interruption();
  try {
    let address;
    try {
      address = await server.listen(listen.host, listen.port);
    } catch (e) {
      io.stderr(`qapi-ts exporter: cannot listen on ${listen.host}:${listen.port}: ${(e as Error).message}\n`);
      return 3;
    }
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    io.stderr(`qapi-ts exporter: serving http://${host}:${address.port}/ (metrics at /metrics); Ctrl-C stops\n`);
    // The first look, so the page has something before the first scrape.
    void fleet.refreshAll();
    await new Promise<void>((done) => stop.signal.addEventListener('abort', () => done(), { once: true }));
    return 0;
  } finally {
    await server.close();
    await fleet.close();
  }
}
