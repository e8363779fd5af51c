/**
 * One VM of the fleet: its QMP monitor and its latest snapshot.
 *
 * By default a refresh connects, inspects and lets go, so the monitor is
 * free for other tools between refreshes (a QEMU monitor serves one
 * client at a time). With `hold` the session is kept: it is made again
 * (with a growing delay) whenever it ends, and the events that change the
 * picture (DEVICE_DELETED, BLOCK_EXPORT_DELETED, ACPI_DEVICE_OST) call
 * `onChange`, so the fleet refreshes that VM at once.
 *
 * A refresh, connecting included, ends within `timeout` ms: past that it
 * is aborted (the session closed) and the VM is down with a timeout error.
 * Refreshes of one VM never overlap: a caller during a refresh gets that
 * refresh's result.
 *
 * What the server can do (`holders`, `qom-list-get`) is asked from its
 * schema once and kept while the greeting (QEMU version and package)
 * stays the same, so a refresh of a connect-per-refresh VM costs
 * `query-iothreads` (plus the QOM walk for derived holders), not a
 * `query-qmp-schema` each time.
 */
import { inspectIothreads, serverFeatures, type ServerFeatures } from '../iothreads/holders.js';
import { QmpClient } from '../runtime/client.js';
import { isQmpError } from '../runtime/errors.js';
import { describeTarget, type QmpTarget } from '../runtime/transport.js';
import { DEFAULT_SNAPSHOT_LIMITS, viewIothreads, type SnapshotLimits, type VmSnapshot } from './snapshot.js';

/** Events after which the holders may have changed (a hot-plug has no event of its own). */
export const CHANGE_EVENTS = ['DEVICE_DELETED', 'BLOCK_EXPORT_DELETED', 'ACPI_DEVICE_OST'] as const;

export interface VmOptions {
  /** Milliseconds a refresh may take, connecting included. */
  readonly timeout: number;
  /** Keep the session between refreshes (and reconnect). */
  readonly hold: boolean;
  /** Longest line accepted from the monitor. */
  readonly maxMessageBytes: number;
  readonly limits: SnapshotLimits;
  /** Called (hold only) when an event says the picture may have changed. */
  readonly onChange?: (vm: Vm) => void;
}

export const DEFAULT_VM_OPTIONS: VmOptions = {
  timeout: 5000,
  hold: false,
  maxMessageBytes: 4 << 20,
  limits: DEFAULT_SNAPSHOT_LIMITS,
};

const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5000;

function errorText(e: unknown): string {
  if (isQmpError(e)) return `${e.code}: ${e.message}`;
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}

export class Vm {
  readonly target: string;
  private latestSnapshot: VmSnapshot;
  private running: Promise<VmSnapshot> | null = null;
  private features: { key: string; value: ServerFeatures } | null = null;
  private session: QmpClient | null = null;
  private connecting: Promise<QmpClient> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = RECONNECT_FIRST_MS;
  private closed = false;

  constructor(
    readonly name: string,
    readonly where: QmpTarget,
    readonly options: VmOptions = DEFAULT_VM_OPTIONS,
  ) {
    this.target = describeTarget(where);
    this.latestSnapshot = {
      vm: name,
      target: this.target,
      up: false,
      error: 'not refreshed yet',
      iothreads: [],
      seconds: 0,
      commands: 0,
      at: 0,
    };
    if (options.hold) this.scheduleReconnect(0);
  }

  /** The last refresh's result. */
  get latest(): VmSnapshot {
    return this.latestSnapshot;
  }

  /** Refreshes now, or joins the refresh under way. */
  refresh(): Promise<VmSnapshot> {
    if (this.running === null) {
      this.running = this.doRefresh().finally(() => (this.running = null));
    }
    return this.running;
  }

  /** Lets go of the held session; no more reconnects. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const session = this.session;
    this.session = null;
    await session?.close();
  }

  private async doRefresh(): Promise<VmSnapshot> {
    const started = performance.now();
    const abort = new AbortController();
    const timeout = this.options.timeout;
    const timer = setTimeout(() => abort.abort(new Error(`timed out after ${timeout} ms`)), timeout);
    let snapshot: VmSnapshot;
    try {
      const { source, iothreads, commands } = await this.inspect(abort.signal);
      snapshot = { vm: this.name, target: this.target, up: true, source, iothreads, seconds: 0, commands, at: 0 };
    } catch (e) {
      const error = abort.signal.aborted ? `QMP_ERR_TIMEOUT: ${(abort.signal.reason as Error).message}` : errorText(e);
      snapshot = {
        vm: this.name,
        target: this.target,
        up: false,
        error,
        iothreads: [],
        seconds: 0,
        commands: 0,
        at: 0,
      };
    } finally {
      clearTimeout(timer);
    }
    const done = { ...snapshot, seconds: (performance.now() - started) / 1000, at: Date.now() };
    this.latestSnapshot = done;
    return done;
  }

  private async inspect(signal: AbortSignal): Promise<Pick<VmSnapshot, 'source' | 'iothreads' | 'commands'>> {
    const call = { signal, timeout: this.options.timeout };
    const held = this.options.hold;
    const qmp = held ? await this.heldSession(signal) : await this.connect(signal);
    const onAbort = (): void => void qmp.close();
    if (!held) signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { version } = qmp.greeting;
      const key = `${version.qemu.major}.${version.qemu.minor}.${version.qemu.micro} ${version.package}`;
      let commands = 0;
      if (this.features?.key !== key) {
        this.features = { key, value: await serverFeatures(qmp, call) };
        commands++;
      }
      const report = await inspectIothreads(qmp, { ...call, features: this.features.value });
      return {
        source: report.holders,
        iothreads: viewIothreads(report, this.options.limits),
        commands: commands + report.commands,
      };
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!held) await qmp.close();
    }
  }

  private connect(signal: AbortSignal): Promise<QmpClient> {
    return QmpClient.connect(this.where, {
      timeout: this.options.timeout,
      signal,
      maxMessageBytes: this.options.maxMessageBytes,
    });
  }

  /** The held session, connecting now if there is none (the refresh's signal bounds the wait). */
  private async heldSession(signal: AbortSignal): Promise<QmpClient> {
    if (this.session !== null && this.session.connectionState === 'ready') return this.session;
    if (this.connecting === null) {
      // Not bound to this refresh's signal: a slow connect goes on for the next refresh.
      const attempt = this.connect(new AbortController().signal).then(
        (qmp) => this.adopt(qmp),
        (e: unknown) => {
          this.scheduleReconnect(this.reconnectDelay);
          throw e;
        },
      );
      this.connecting = attempt.finally(() => (this.connecting = null));
      this.connecting.catch(() => undefined);
    }
    const connecting = this.connecting;
    return new Promise<QmpClient>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private adopt(qmp: QmpClient): QmpClient {
    if (this.closed) {
      void qmp.close();
      throw new Error('closed');
    }
    this.session = qmp;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    qmp.onError(() => undefined);
    qmp.onEvent(() => this.options.onChange?.(this), CHANGE_EVENTS);
    void qmp.closed.then(() => {
      if (this.session !== qmp) return;
      this.session = null;
      // The VM went away or restarted: say so at once, then try again.
      this.options.onChange?.(this);
      this.scheduleReconnect(RECONNECT_FIRST_MS);
    });
    return qmp;
  }

  /** Hold only: connects in the background after `delay` ms (so events are heard again). */
  private scheduleReconnect(delay: number): void {
    if (this.closed || this.reconnectTimer !== null) return;
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, Math.max(RECONNECT_FIRST_MS, delay * 2));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed || this.session !== null || this.connecting !== null) return;
      const before = this.latestSnapshot.up;
      void this.heldSession(new AbortController().signal).then(
        () => {
          // Back again: refresh so the picture is not stale until the next scrape.
          if (!before) this.options.onChange?.(this);
        },
        () => undefined,
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}
