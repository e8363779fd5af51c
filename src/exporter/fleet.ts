/**
 * The fleet: the VMs named on the command line plus every QMP socket in
 * the watched directories, refreshed together.
 *
 * `refreshAll()` first looks at the directories again (a socket that
 * appeared is a new VM, one that is gone is dropped, its held session
 * closed), then refreshes every VM concurrently, at most `concurrency` at
 * once, each bounded by its own timeout, so a dead or hung VM never delays
 * the others beyond that. Callers during a refresh share it.
 *
 * Memory is bounded in total: at most `maxVms` VMs (sockets beyond that
 * are ignored, with a warning), each snapshot within its limits.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { QmpTarget } from '../runtime/transport.js';
import type { VmSnapshot } from './snapshot.js';
import { DEFAULT_VM_OPTIONS, Vm, type VmOptions } from './vm.js';

/** A VM named on the command line. */
export interface NamedTarget {
  readonly name: string;
  readonly target: QmpTarget;
}

export interface FleetOptions extends Partial<VmOptions> {
  readonly targets?: readonly NamedTarget[];
  /** Directories whose unix sockets are VMs (named by file name without extension). */
  readonly socketDirs?: readonly string[];
  /** Most refreshes at once (default 32). */
  readonly concurrency?: number;
  /** Most VMs (default 1000). */
  readonly maxVms?: number;
  /** Warnings (a socket ignored, a directory unreadable). */
  readonly warn?: (message: string) => void;
}

/** `vm1.sock` → `vm1`; a name without extension stays as it is. */
export function socketName(file: string): string {
  const ext = extname(file);
  return ext === '' || ext === file ? file : file.slice(0, -ext.length);
}

export class Fleet {
  private readonly vms = new Map<string, Vm>();
  private readonly fixed = new Set<string>();
  private readonly vmOptions: VmOptions;
  private readonly concurrency: number;
  private readonly maxVms: number;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private readonly listeners = new Set<(vm: Vm | null) => void>();
  private running: Promise<VmSnapshot[]> | null = null;
  /** VMs ignored at the last look (over `maxVms`). */
  ignored = 0;

  constructor(private readonly options: FleetOptions = {}) {
    this.vmOptions = {
      ...DEFAULT_VM_OPTIONS,
      ...Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k in DEFAULT_VM_OPTIONS)),
      onChange: (vm) => this.changed(vm),
    };
    this.concurrency = options.concurrency ?? 32;
    this.maxVms = options.maxVms ?? 1000;
    this.warn = options.warn ?? (() => undefined);
    for (const { name, target } of options.targets ?? []) {
      if (this.vms.has(name)) throw new RangeError(`two VMs are named '${name}'`);
      if (this.vms.size >= this.maxVms) throw new RangeError(`more than ${this.maxVms} VMs`);
      this.vms.set(name, new Vm(name, target, this.vmOptions));
      this.fixed.add(name);
    }
  }

  /** The VMs by name, sorted. */
  get list(): Vm[] {
    return [...this.vms.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The latest snapshot of every VM, sorted by name. */
  latest(): VmSnapshot[] {
    return this.list.map((vm) => vm.latest);
  }

  /** `fn(vm)` when a held VM's events say it changed (null: the set of VMs changed). */
  onChange(fn: (vm: Vm | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(vm: Vm | null): void {
    for (const fn of this.listeners) fn(vm);
  }

  /** Looks at the socket directories again, then refreshes every VM (or joins the refresh under way). */
  refreshAll(): Promise<VmSnapshot[]> {
    if (this.running === null) {
      this.running = this.doRefreshAll().finally(() => (this.running = null));
    }
    return this.running;
  }

  private async doRefreshAll(): Promise<VmSnapshot[]> {
    await this.scan();
    const vms = this.list;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < vms.length) await (vms[next++] as Vm).refresh();
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, vms.length) }, worker));
    return vms.map((vm) => vm.latest);
  }

  /** Unix sockets (or symlinks to them) in the directories → VMs; gone ones dropped. */
  async scan(): Promise<void> {
    const dirs = this.options.socketDirs ?? [];
    if (dirs.length === 0) return;
    const found = new Map<string, string>();
    const files: string[] = [];
    for (const dir of dirs) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        this.warnOnce(`dir:${dir}`, `cannot read --socket-dir ${dir}: ${(e as Error).message}`);
        continue;
      }
      // stat, not lstat: a symlink to a socket elsewhere (a VM's own directory) counts, under the link's name.
      const stats = await Promise.all(names.map((n) => stat(join(dir, n)).catch(() => null)));
      names.forEach((n, i) => {
        if (stats[i]?.isSocket()) files.push(join(dir, n));
      });
    }
    files.sort();
    // By file name without extension; when two share it (vm1.sock, vm1.qmp), each goes by its whole file name.
    const stems = new Map<string, number>();
    for (const path of files) stems.set(socketName(basename(path)), (stems.get(socketName(basename(path))) ?? 0) + 1);
    for (const path of files) {
      const stem = socketName(basename(path));
      let name = stems.get(stem) === 1 && !this.fixed.has(stem) ? stem : basename(path);
      if (this.fixed.has(name) || found.has(name)) name = path;
      if (found.has(name)) continue;
      found.set(name, path);
    }
    let changed = false;
    for (const [name, vm] of this.vms) {
      if (this.fixed.has(name)) continue;
      const path = found.get(name);
      if (path === undefined || !('path' in vm.where) || vm.where.path !== path) {
        this.vms.delete(name);
        void vm.close();
        changed = true;
      }
    }
    let ignored = 0;
    for (const [name, path] of found) {
      if (this.vms.has(name)) continue;
      if (this.vms.size >= this.maxVms) {
        ignored++;
        continue;
      }
      this.vms.set(name, new Vm(name, { path }, this.vmOptions));
      changed = true;
    }
    if (ignored > 0 && this.ignored === 0)
      this.warn(`more than ${this.maxVms} VMs: ${ignored} sockets ignored (--max-vms)`);
    this.ignored = ignored;
    if (changed) this.changed(null);
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(message);
  }

  async close(): Promise<void> {
    await Promise.all([...this.vms.values()].map((vm) => vm.close()));
  }
}
