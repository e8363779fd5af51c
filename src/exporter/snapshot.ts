/**
 * What the exporter knows about one VM after a refresh: a plain,
 * JSON-ready snapshot (numbers as decimal strings, so 64-bit values stay
 * exact), made from an `IothreadReport` under size limits.
 *
 * The peer is not trusted: ids and holder names are data of any content
 * and length, an IOThread id may come twice, a holder may be of a kind we
 * do not know. A snapshot holds at most `maxIothreads` IOThreads and
 * `maxBytes` of text; a VM that reports more is shown as down with an
 * error saying so (bounded memory per VM).
 */
import type { IOThreadInfo } from '../../generated/index.js';
import type { HolderSource, IothreadReport } from '../iothreads/holders.js';
import { stringifyJson } from '../runtime/json.js';

/** One holder of an IOThread: its kind (`type`) and its name (QOM path, node name…). */
export interface HolderView {
  readonly type: string;
  readonly holder: string;
  /** How many times it is registered (normally 1; two exports of one node are 2). */
  readonly count: number;
}

export interface IothreadView {
  readonly id: string;
  readonly threadId: string;
  readonly pollMaxNs: string;
  readonly pollGrow: string;
  readonly pollShrink: string;
  readonly aioMaxBatch: string;
  /** QEMU 11.0 and later only. */
  readonly pollWeight?: string;
  /** Distinct holders, in QEMU's order (newest first) or by path (derived). */
  readonly holders: HolderView[];
  /** Registrations: the sum of the holders' counts. */
  readonly entries: number;
}

export interface VmSnapshot {
  readonly vm: string;
  /** Where the monitor is: `unix:PATH` or `tcp:HOST:PORT`. */
  readonly target: string;
  readonly up: boolean;
  /** Why the VM is down (`CODE: message`). */
  readonly error?: string;
  readonly source?: HolderSource;
  readonly iothreads: IothreadView[];
  /** How long the refresh took, in seconds. */
  readonly seconds: number;
  /** QMP commands the refresh sent (not counting the greeting). */
  readonly commands: number;
  /** When the refresh ended (ms since the epoch). */
  readonly at: number;
}

export interface SnapshotLimits {
  /** Most IOThreads of one VM (default 4096). */
  readonly maxIothreads: number;
  /** Most characters of ids and holder names of one VM (default 256 KiB). */
  readonly maxBytes: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = { maxIothreads: 4096, maxBytes: 256 * 1024 };

/** A VM reported more than the limits allow. */
export class SnapshotLimitError extends Error {
  override readonly name = 'SnapshotLimitError';
  readonly code = 'QAPI_ERR_EXPORTER_LIMIT';
}

/** The name of a holder whatever its kind: the path, the node name, or the first text member. */
export function holderName(holder: Record<string, unknown>): string {
  if (typeof holder.path === 'string') return holder.path;
  if (typeof holder['node-name'] === 'string') return holder['node-name'];
  for (const [key, value] of Object.entries(holder)) {
    if (key !== 'type' && typeof value === 'string') return value;
  }
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(holder)) if (key !== 'type') rest[key] = value;
  return stringifyJson(rest);
}

function num(value: unknown): string {
  return typeof value === 'number' || typeof value === 'bigint' ? String(value) : 'NaN';
}

/** The IOThreads of a report as views, within `limits` (SnapshotLimitError beyond). */
export function viewIothreads(
  report: IothreadReport,
  limits: SnapshotLimits = DEFAULT_SNAPSHOT_LIMITS,
): IothreadView[] {
  if (report.iothreads.length > limits.maxIothreads) {
    throw new SnapshotLimitError(`${report.iothreads.length} IOThreads, more than the limit of ${limits.maxIothreads}`);
  }
  let bytes = 0;
  const charge = (text: string): string => {
    bytes += text.length;
    if (bytes > limits.maxBytes)
      throw new SnapshotLimitError(`IOThread ids and holder names longer than ${limits.maxBytes} characters in all`);
    return text;
  };
  const seen = new Set<string>();
  const views: IothreadView[] = [];
  for (const t of report.iothreads as (IOThreadInfo & Record<string, unknown>)[]) {
    // QEMU's ids are unique; a duplicate would make two series with the same labels.
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    const byKey = new Map<string, { type: string; holder: string; count: number }>();
    let entries = 0;
    for (const h of (t.holders ?? []) as unknown as Record<string, unknown>[]) {
      const type = typeof h.type === 'string' ? h.type : String(h.type);
      const holder = holderName(h);
      const key = `${type}\u0000${holder}`;
      const known = byKey.get(key);
      entries++;
      if (known !== undefined) known.count++;
      else byKey.set(key, { type: charge(type), holder: charge(holder), count: 1 });
    }
    views.push({
      id: charge(t.id),
      threadId: num(t['thread-id']),
      pollMaxNs: num(t['poll-max-ns']),
      pollGrow: num(t['poll-grow']),
      pollShrink: num(t['poll-shrink']),
      aioMaxBatch: num(t['aio-max-batch']),
      ...('poll-weight' in t ? { pollWeight: num(t['poll-weight']) } : {}),
      holders: [...byKey.values()],
      entries,
    });
  }
  return views;
}
