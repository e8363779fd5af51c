/**
 * `qapi-ts iothreads`: every IOThread of a running QEMU and who uses it,
 * as a table, as JSON, or watched until interrupted.
 */
import type { IoThreadHolder } from '../../generated/index.js';
import { inspectIothreads, type IothreadReport, type ServerIOThreadInfo } from '../iothreads/holders.js';
import { QomWalkError } from '../iothreads/qom.js';
import { QmpClient } from '../runtime/client.js';
import { stringifyJson } from '../runtime/json.js';
import { interruption } from './interrupt.js';
import { printable, printableJson } from './printable.js';
import { IOTHREADS } from './commands.js';
import { exitStatusFor, guardStdout, parseCommand, processIO, UsageError, usageLine, type CommandIO } from './kit.js';
import { parseTarget } from './target.js';

/** Events after which the picture may have changed (nothing announces a plug-in). */
const CHANGE_EVENTS = ['DEVICE_DELETED', 'BLOCK_EXPORT_DELETED'];

/** `--watch` takes an optional number: pull it out before parseArgs sees it. */
function splitWatch(argv: readonly string[]): { argv: string[]; interval: number | null } {
  const out: string[] = [];
  let interval: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const inline = /^--watch=(.*)$/.exec(arg);
    if (arg !== '--watch' && inline === null) {
      out.push(arg);
      continue;
    }
    let text = inline?.[1];
    if (text === undefined && /^\d+(\.\d+)?$/.test(argv[i + 1] ?? '')) text = argv[++i];
    interval = text === undefined ? 1 : Number(text);
    if (!Number.isFinite(interval) || interval <= 0 || interval > 86_400) {
      throw new UsageError(`--watch: expected seconds (more than 0, at most 86400), got '${text}'`);
    }
    out.push('--watch');
  }
  return { argv: out, interval };
}

/** A name or value from the server as one line of text: plain when it is printable ASCII, else as escaped JSON. */
function plainText(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string' && /^[\x21-\x7e]+$/.test(value)) return value;
  return printableJson(stringifyJson(value));
}

/** A holder as shown in the table (server text: escaped, see printable.ts). */
function holderText(h: IoThreadHolder): string {
  if (h.type === 'qom' && 'path' in h) return printable(String(h.path));
  if (h.type === 'block-node' && 'node-name' in h) return `block node ${printable(String(h['node-name']))}`;
  // A kind we do not know (the series' V9 adds the monitor): its type, then what else it says.
  const { type, ...rest } = h as { type: unknown; [member: string]: unknown };
  const kind = clip(plainText(type), MAX_CELL);
  return Object.keys(rest).length === 0 ? kind : `${kind} ${clip(printableJson(stringifyJson(rest)), MAX_HOLDER)}`;
}

/** `text`, cut to `max` characters (the last one an ellipsis) when longer. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The columns of IOThreadInfo members, in order: those every release sends
 * always, `poll-weight` (QEMU 11.1) when sent, and any member a newer QEMU
 * sends beyond ours (by its name, upper-cased), before HOLDERS.
 */
const COLUMNS: readonly { member: string; title: string; always: boolean }[] = [
  { member: 'thread-id', title: 'THREAD-ID', always: true },
  { member: 'poll-max-ns', title: 'POLL-MAX-NS', always: true },
  { member: 'poll-grow', title: 'GROW', always: true },
  { member: 'poll-shrink', title: 'SHRINK', always: true },
  { member: 'poll-weight', title: 'WEIGHT', always: false },
  { member: 'aio-max-batch', title: 'MAX-BATCH', always: true },
];
const OWN_MEMBERS = new Set(['id', 'holders', ...COLUMNS.map((c) => c.member)]);
/** A cell (or title) of a member beyond ours is cut to this many characters. */
const MAX_CELL = 60;
/** What an unknown kind of holder says beyond its type is cut to this many characters. */
const MAX_HOLDER = 200;
/** At most this many columns of members beyond ours; the footer counts the rest (all are in --json). */
const MAX_EXTRA_COLUMNS = 8;

interface Columns {
  readonly shown: { member: string; title: string }[];
  /** Members beyond ours without a column. */
  readonly hidden: number;
}

function memberColumns(threads: readonly ServerIOThreadInfo[]): Columns {
  const sent = new Set(threads.flatMap((t) => Object.keys(t)));
  const extra = [...sent].filter((m) => !OWN_MEMBERS.has(m));
  return {
    shown: [
      ...COLUMNS.filter((c) => c.always || sent.has(c.member)),
      ...extra
        .slice(0, MAX_EXTRA_COLUMNS)
        .map((member) => ({ member, title: clip(plainText(member).toUpperCase(), MAX_CELL) })),
    ],
    hidden: Math.max(0, extra.length - MAX_EXTRA_COLUMNS),
  };
}

function cell(t: ServerIOThreadInfo, member: string): string {
  return Object.hasOwn(t, member) ? clip(plainText(t[member]), MAX_CELL) : '-';
}

/** The report as a table a person reads at a glance: a column for every member QEMU sent. */
export function renderTable(report: IothreadReport): string {
  const { shown: columns, hidden } = memberColumns(report.iothreads);
  const header = ['IOTHREAD', ...columns.map((c) => c.title), 'HOLDERS'];
  const rows: string[][] = [];
  for (const t of report.iothreads) {
    const holders = (t.holders ?? []).map(holderText);
    rows.push([printable(t.id), ...columns.map((c) => cell(t, c.member)), holders[0] ?? '-']);
    for (const more of holders.slice(1)) rows.push([...header.slice(1).map(() => ''), more]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  const source =
    report.holders === 'reported'
      ? 'holders reported by QEMU'
      : 'holders derived from QOM (block exports and the monitor cannot be seen)';
  const body = report.iothreads.length === 0 ? ['(no IOThreads)'] : rows.map(line);
  const more = hidden === 0 ? [] : [`${hidden} more member${hidden === 1 ? '' : 's'} not shown (see --json)`];
  return [line(header), ...body, ...more, source].join('\n') + '\n';
}

function renderJson(report: IothreadReport, time?: string): string {
  const iothreads: ServerIOThreadInfo[] = report.iothreads;
  const doc =
    time === undefined ? { holders: report.holders, iothreads } : { time, holders: report.holders, iothreads };
  return `${printableJson(stringifyJson(doc))}\n`;
}

export async function runIothreads(argv: string[], io: CommandIO = processIO): Promise<number> {
  using stop = interruption();
  try {
    let watch: ReturnType<typeof splitWatch>;
    try {
      watch = splitWatch(argv);
    } catch (e) {
      io.stderr(usageLine('iothreads', (e as Error).message));
      return 2;
    }
    const parsed = parseCommand(IOTHREADS, watch.argv, io);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const { target, timeout } = parseTarget(values);
    const json = values.json === true;
    const source = values.derived ? 'derived' : 'auto';
    await using qmp = await QmpClient.connect(target, { timeout, signal: stop.signal });
    // Ctrl-C closes the session, which ends any inspection under way.
    stop.signal.addEventListener('abort', () => void qmp.close(), { once: true });
    const inspect = (): Promise<IothreadReport> => inspectIothreads(qmp, { source, timeout });
    if (watch.interval === null) {
      io.stdout(json ? renderJson(await inspect()) : renderTable(await inspect()));
      return 0;
    }
    if (io === processIO) guardStdout(stop.abort);
    await watchLoop(qmp, inspect, json, watch.interval * 1000, stop.signal, io);
    return 0;
  } catch (e) {
    if (stop.signal.aborted) return 0;
    // A broken connection, a reply that does not fit the schema, a tree beyond the limits: the peer's fault.
    return exitStatusFor('iothreads', e, io, (x): x is QomWalkError => x instanceof QomWalkError);
  }
}

/**
 * Prints the picture whenever it changes. On a terminal each frame
 * overwrites the last in one write (cursor home, each line cleared to its
 * end, the rest of the screen cleared after), so nothing blinks; into a
 * pipe or file frames follow each other, a blank line apart.
 */
async function watchLoop(
  qmp: QmpClient,
  inspect: () => Promise<IothreadReport>,
  json: boolean,
  intervalMs: number,
  signal: AbortSignal,
  io: CommandIO,
  now: () => Date = () => new Date(),
): Promise<void> {
  const tty = io === processIO && process.stdout.isTTY === true && !json;
  let last: string | null = null;
  let wake: (() => void) | null = null;
  const poke = (): void => {
    wake?.();
    wake = null;
  };
  const off = qmp.onEvent(poke, CHANGE_EVENTS);
  signal.addEventListener('abort', poke, { once: true });
  // A lost connection: the next inspect() fails with it at once.
  void qmp.closed.then(poke);
  try {
    if (tty) io.stdout('\x1b[H\x1b[2J');
    while (!signal.aborted) {
      const report = await inspect();
      const time = now().toISOString();
      const frame = json ? renderJson(report) : renderTable(report);
      // On a terminal the time of every refresh shows (it overwrites in
      // place); into a pipe, a frame with its time only when it changed.
      if (frame !== last || tty) {
        const shown = json ? renderJson(report, time) : `${time}\n${frame}`;
        if (tty) io.stdout(`\x1b[H${shown.replace(/\n/g, '\x1b[K\n')}\x1b[J`);
        else io.stdout(last === null || json ? shown : `\n${shown}`);
        last = frame;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    off();
  }
}
