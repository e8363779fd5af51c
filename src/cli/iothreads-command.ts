/**
 * `qapi-ts iothreads`: every IOThread of a running QEMU and who uses it,
 * as a table, as JSON, or watched until interrupted.
 */
import type { IoThreadHolder } from '../../generated/index.js';
import { inspectIothreads, type IothreadReport, type ServerIOThreadInfo } from '../iothreads/holders.js';
import { QomWalkError } from '../iothreads/qom.js';
import { QmpClient } from '../runtime/client.js';
import { isQmpCommandError, isQmpError } from '../runtime/errors.js';
import { stringifyJson } from '../runtime/json.js';
import { isQapiValidationError } from '../support/errors.js';
import { interruption } from './interrupt.js';
import { printable, printableError, printableJson } from './printable.js';
import { common, parse, TARGET_OPTIONS, UsageError } from './runtime-commands.js';

const USAGE = `usage: qapi-ts iothreads (--socket PATH | --tcp HOST:PORT) [--json] [--watch [SECONDS]]

Shows every IOThread of a running QEMU and who uses it: devices and
objects by QOM path, block exports by node name. Where QEMU reports
holders itself (query-iothreads has 'holders') its list is shown as it
is; otherwise the holders are derived from the QOM tree, which cannot
show block exports or the monitor.

options:
  -s, --socket PATH      QMP unix socket
  -t, --tcp HOST:PORT    QMP TCP endpoint
      --json             one JSON object {"holders": "reported"|"derived",
                         "iothreads": [IOThreadInfo...]} (a line per change
                         with --watch)
      --watch [SECONDS]  print again whenever the picture changes: checks
                         every SECONDS (default 1) and at once on
                         DEVICE_DELETED / BLOCK_EXPORT_DELETED; Ctrl-C stops
      --derived          derive holders from QOM even where QEMU reports them
      --timeout MS       connect timeout, and the most one inspection may
                         take, all its commands together (default 10000)
  -h, --help             this text

exit status: 0 ok (with --watch: interrupted), 2 bad usage, 3 connection
failure or loss, a reply that does not fit the schema, a QOM tree beyond
the limits (objects, levels, bytes), or --timeout passed (it bounds the
whole inspection), 4 QEMU refused a command (CLASS: desc).
`;

/** Events after which the picture may have changed (nothing announces a plug-in). */
const CHANGE_EVENTS = ['DEVICE_DELETED', 'BLOCK_EXPORT_DELETED'];

type Values = {
  socket?: string;
  tcp?: string;
  timeout?: string;
  json?: boolean;
  derived?: boolean;
  help?: boolean;
  watch?: boolean;
};

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

function renderJson(report: IothreadReport): string {
  const iothreads: ServerIOThreadInfo[] = report.iothreads;
  return `${printableJson(stringifyJson({ holders: report.holders, iothreads }))}\n`;
}

export async function runIothreads(argv: string[]): Promise<number> {
  using stop = interruption();
  try {
    const watch = splitWatch(argv);
    const { values, positionals } = parse(
      watch.argv,
      { ...TARGET_OPTIONS, json: { type: 'boolean' }, derived: { type: 'boolean' }, watch: { type: 'boolean' } },
      USAGE,
    ) as { values: Values; positionals: string[] };
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n${USAGE}`);
    const { target, timeout } = common(values);
    const render = values.json ? renderJson : renderTable;
    const source = values.derived ? 'derived' : 'auto';
    await using qmp = await QmpClient.connect(target, { timeout, signal: stop.signal });
    // Ctrl-C closes the session, which ends any inspection under way.
    stop.signal.addEventListener('abort', () => void qmp.close(), { once: true });
    const inspect = (): Promise<IothreadReport> => inspectIothreads(qmp, { source, timeout });
    if (watch.interval === null) {
      process.stdout.write(render(await inspect()));
      return 0;
    }
    await watchLoop(qmp, inspect, render, watch.interval * 1000, stop.signal, values.json === true);
    return 0;
  } catch (e) {
    if (stop.signal.aborted) return 0;
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof UsageError) {
      process.stderr.write(`qapi-ts iothreads: ${message}\n`);
      return 2;
    }
    if (isQmpCommandError(e)) {
      process.stderr.write(`${printable(e.errorClass)}: ${printableError(e.desc)}\n`);
      return 4;
    }
    // A broken connection, a reply that does not fit the schema, a tree beyond the limits: the peer's fault.
    if (isQmpError(e) || isQapiValidationError(e) || e instanceof QomWalkError) {
      process.stderr.write(`qapi-ts iothreads: ${e.code}: ${printableError(e)}\n`);
      return 3;
    }
    throw e;
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
  render: (report: IothreadReport) => string,
  intervalMs: number,
  signal: AbortSignal,
  json: boolean,
): Promise<void> {
  const tty = process.stdout.isTTY === true && !json;
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
    if (tty) process.stdout.write('\x1b[H\x1b[2J');
    while (!signal.aborted) {
      const frame = render(await inspect());
      if (frame !== last) {
        if (tty) process.stdout.write(`\x1b[H${frame.replace(/\n/g, '\x1b[K\n')}\x1b[J`);
        else process.stdout.write(last === null || json ? frame : `\n${frame}`);
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
