/**
 * The exporter's HTTP side:
 *
 * | path | serves |
 * |---|---|
 * | `/metrics` | the Prometheus text format, from a refresh of every VM made for this scrape (or a concurrent one) |
 * | `/api/state` | `{"at": ms, "vms": [VmSnapshot…]}` after a refresh (the same way) |
 * | `/` (`/page.js`, `/page.css`) | the live page |
 * | `/events` | server-sent events for the page: a `state` event (the JSON of `/api/state`) after every refresh |
 *
 * A scrape waits for the refresh at most `deadline` ms: a VM whose
 * refresh is still under way then (a slow or hung one, or all of them on
 * a starved machine) is reported from its previous refresh, and its own
 * refresh goes on (the next scrape joins it), so a scrape answers within
 * the deadline whatever the VMs do. A VM whose first refresh has not
 * ended is left out. `qemu_exporter_snapshot_age_seconds` says how old
 * each VM's data is.
 *
 * While at least one page listens, the fleet is refreshed every
 * `interval` ms, and at once when a held VM's events say it changed.
 * Without viewers nothing runs between scrapes. A viewer that reads
 * slowly is sent only the newest state once it has caught up (bounded
 * memory per viewer); at most `maxViewers` listen at once (503 beyond).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringifyJson } from '../runtime/json.js';
import type { Fleet } from './fleet.js';
import { CONTENT_TYPE, renderMetrics } from './metrics.js';
import { PAGE_CSP, PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import type { VmSnapshot } from './snapshot.js';

export interface ExporterServerOptions {
  /** Milliseconds between refreshes while a page listens (default 2000). */
  readonly interval?: number;
  /** Most pages listening at once (default 32). */
  readonly maxViewers?: number;
  /** Most milliseconds a scrape waits for the refresh (default 500). */
  readonly deadline?: number;
}

interface Viewer {
  readonly res: ServerResponse;
  /** A state waiting for the socket to drain. */
  pending: string | null;
}

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

export class ExporterServer {
  readonly http: Server;
  private readonly viewers = new Set<Viewer>();
  private readonly interval: number;
  private readonly maxViewers: number;
  private readonly deadline: number;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private stopped = false;
  private readonly offChange: () => void;

  constructor(
    readonly fleet: Fleet,
    options: ExporterServerOptions = {},
  ) {
    this.interval = options.interval ?? 2000;
    this.maxViewers = options.maxViewers ?? 32;
    this.deadline = options.deadline ?? 500;
    this.http = createServer(
      { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 },
      (req, res) => {
        this.handle(req, res).catch((e: unknown) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`internal error: ${e instanceof Error ? e.message : String(e)}\n`);
        });
      },
    );
    // Bounded: scrapers and pages are few; Node closes connections beyond this at once.
    this.http.maxConnections = 256;
    this.offChange = fleet.onChange((vm) => {
      if (this.viewers.size === 0) return;
      if (vm === null) this.poke();
      else void vm.refresh().then(() => this.publish());
    });
  }

  /** Listens on host:port (port 0: any free one); resolves with the address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    return this.http.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.offChange();
    this.poke();
    for (const v of this.viewers) v.res.end();
    this.viewers.clear();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    await this.loop;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET and HEAD\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics': {
        await this.refreshWithin();
        const body = renderMetrics(
          this.fleet.latest().filter((s) => s.at > 0),
          { ignored: this.fleet.ignored, now: Date.now() },
        );
        this.publish();
        return send(res, 200, CONTENT_TYPE, body);
      }
      case '/api/state':
        await this.refreshWithin();
        this.publish();
        return send(res, 200, 'application/json; charset=utf-8', this.stateJson());
      case '/':
      case '/index.html':
        return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML, { 'content-security-policy': PAGE_CSP });
      case '/page.js':
        return send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS);
      case '/page.css':
        return send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
      case '/events':
        return this.addViewer(req, res);
      case '/favicon.ico':
        res.writeHead(204, SECURITY_HEADERS);
        res.end();
        return;
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics or /\n');
    }
  }

  /** The refresh of every VM, waited for at most `deadline` ms (it goes on after that). */
  private async refreshWithin(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.fleet.refreshAll(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.deadline))),
    ]);
    clearTimeout(timer);
  }

  private stateJson(): string {
    const vms: VmSnapshot[] = this.fleet.latest();
    return stringifyJson({ at: Date.now(), vms });
  }

  private addViewer(req: IncomingMessage, res: ServerResponse): void {
    if (this.viewers.size >= this.maxViewers || this.stopped) {
      send(res, 503, 'text/plain; charset=utf-8', `too many pages listening (at most ${this.maxViewers})\n`);
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const viewer: Viewer = { res, pending: null };
    this.viewers.add(viewer);
    res.on('drain', () => {
      const next = viewer.pending;
      viewer.pending = null;
      if (next !== null) this.write(viewer, next);
    });
    res.on('close', () => this.viewers.delete(viewer));
    // What is known now at once, then fresh data.
    this.write(viewer, this.frame());
    this.startLoop();
    this.poke();
  }

  private frame(): string {
    return `event: state\ndata: ${this.stateJson()}\n\n`;
  }

  private write(viewer: Viewer, frame: string): void {
    if (viewer.res.writableNeedDrain) {
      viewer.pending = frame;
      return;
    }
    viewer.res.write(frame);
  }

  /** Sends the current state to every page. */
  publish(): void {
    if (this.viewers.size === 0) return;
    const frame = this.frame();
    for (const v of this.viewers) this.write(v, frame);
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private startLoop(): void {
    if (this.loop !== null) return;
    this.loop = (async () => {
      while (!this.stopped && this.viewers.size > 0) {
        await this.fleet.refreshAll();
        this.publish();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.interval);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    })().finally(() => (this.loop = null));
  }
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
