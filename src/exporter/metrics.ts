/**
 * The fleet's snapshots in the Prometheus text exposition format (0.0.4):
 * `# HELP` and `# TYPE` once per family, then one line per series,
 * `name{label="value",…} value`. Label values are escaped as the format
 * requires (`\` → `\\`, `"` → `\"`, newline → `\n`); every other
 * character, markup included, is data. No client library: the format is
 * these few lines, and runtime dependencies stay zod alone. Tested against
 * Prometheus's own parser (test/exporter/prometheus.integration.ts).
 */
import type { VmSnapshot } from './snapshot.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value as the text format writes it (between double quotes). */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** HELP text: only `\` and newline are escaped there. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

type Labels = readonly (readonly [string, string])[];

class Family {
  readonly lines: string[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  add(labels: Labels, value: string | number): void {
    const text = labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    this.lines.push(text === '' ? `${this.name} ${value}` : `${this.name}{${text}} ${value}`);
  }
}

/** A finite number as the format writes it; what is not a number is NaN. */
function sample(value: string): string {
  return /^-?\d+$/.test(value) ? value : 'NaN';
}

/** The metrics page for these snapshots (and the count of ignored sockets). */
export function renderMetrics(
  snapshots: readonly VmSnapshot[],
  extra: { ignored?: number; now?: number } = {},
): string {
  const up = new Family(
    'qemu_up',
    'Whether the last refresh of the VM over QMP succeeded (1) or failed to connect or talk QMP (0).',
  );
  const info = new Family(
    'qemu_iothread_info',
    'An IOThread of the VM; thread_id is the host thread (what taskset pins).',
  );
  const holder = new Family(
    'qemu_iothread_holder',
    'A holder of the IOThread (type qom: QOM path, block-node: node name, others as QEMU names them); ' +
      'the value counts its registrations.',
  );
  const holders = new Family('qemu_iothread_holders', 'Holders registered with the IOThread.');
  const pollMax = new Family(
    'qemu_iothread_poll_max_ns',
    'Longest busy polling of the IOThread, in nanoseconds (0: no polling).',
  );
  const pollGrow = new Family('qemu_iothread_poll_grow', 'Factor by which the IOThread grows its polling time.');
  const pollShrink = new Family('qemu_iothread_poll_shrink', 'Divisor by which the IOThread shrinks its polling time.');
  const pollWeight = new Family(
    'qemu_iothread_poll_weight',
    "Weight of the IOThread's adaptive polling (QEMU 11.0 and later).",
  );
  const maxBatch = new Family(
    'qemu_iothread_aio_max_batch',
    "Most requests the IOThread batches before submitting (0: the backend's default).",
  );
  const source = new Family(
    'qemu_iothread_holders_source',
    'Where the holders come from: reported by QEMU, or derived from the QOM tree.',
  );
  const seconds = new Family(
    'qemu_exporter_scrape_duration_seconds',
    "How long the exporter's last refresh of the VM took.",
  );
  const commands = new Family(
    'qemu_exporter_scrape_commands',
    "QMP commands the exporter's last refresh of the VM sent.",
  );
  const age = new Family(
    'qemu_exporter_snapshot_age_seconds',
    'How old the data of the VM is: since its last refresh ended.',
  );
  const now = extra.now ?? Date.now();

  for (const s of snapshots) {
    const vm = ['vm', s.vm] as const;
    up.add([vm], s.up ? 1 : 0);
    seconds.add([vm], s.seconds);
    commands.add([vm], s.commands);
    age.add([vm], Math.max(0, (now - s.at) / 1000));
    if (!s.up) continue;
    if (s.source !== undefined) source.add([vm, ['source', s.source]], 1);
    for (const t of s.iothreads) {
      const io = [vm, ['iothread', t.id]] as const;
      info.add([...io, ['thread_id', t.threadId]], 1);
      holders.add(io, t.entries);
      for (const h of t.holders) holder.add([...io, ['type', h.type], ['holder', h.holder]], h.count);
      pollMax.add(io, sample(t.pollMaxNs));
      pollGrow.add(io, sample(t.pollGrow));
      pollShrink.add(io, sample(t.pollShrink));
      if (t.pollWeight !== undefined) pollWeight.add(io, sample(t.pollWeight));
      maxBatch.add(io, sample(t.aioMaxBatch));
    }
  }
  const ignored = new Family('qemu_exporter_ignored_sockets', 'Sockets in --socket-dir ignored because of --max-vms.');
  ignored.add([], extra.ignored ?? 0);

  const out: string[] = [];
  for (const f of [
    up,
    info,
    holder,
    holders,
    pollMax,
    pollGrow,
    pollShrink,
    pollWeight,
    maxBatch,
    source,
    seconds,
    commands,
    age,
    ignored,
  ]) {
    if (f.lines.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`, ...f.lines);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
