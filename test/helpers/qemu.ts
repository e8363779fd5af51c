/**
 * Starting a real QEMU for integration tests.
 *
 * Each instance runs daemonized with a QMP unix socket (a chardev monitor,
 * so `oob` is offered) in its own temp dir; it is stopped by the pid from
 * its pidfile (never by name) and its dir removed. `stopAllQemu()` in an
 * `afterAll` (and a process 'exit' hook as a last resort) makes sure nothing
 * is left behind when a test fails.
 *
 * Three releases: `'7.2'` is the host's QEMU (Debian 12's 7.2 in CI);
 * `'10.0'` runs from the Debian trixie chroot made by `.ci/qemu-10.0`,
 * `'11.1'` from the Debian sid chroot made by `.ci/qemu-11.1`
 * (`chroot ROOT qemu-system-x86_64 …`). For a chroot the temp dir is made
 * inside ROOT, QEMU is given its paths as seen from inside, and the test
 * gets the host's paths (`dir`, `socket`); `innerDir` is the inside view.
 *
 * When a release cannot run here the tests skip with a message, except
 * under CI, where that is a failure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { alive, cleanUpOnExit, killAndWait } from './processes.js';
import { sharedDir } from './shared.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const STORAGE_DAEMON_BINARY = 'qemu-storage-daemon';

/** `'7.2'`: the host's QEMU; `'10.0'`: the trixie chroot; `'11.1'`: the sid chroot. */
export type QemuRelease = '7.2' | '10.0' | '11.1';

/** Every release the live tests run on, oldest first. */
export const RELEASES: readonly QemuRelease[] = ['7.2', '10.0', '11.1'];

/**
 * The oldest and the newest release: for suites that test our side more
 * than QEMU's, where 10.0 would add run time and little else (the typed
 * suites cover it).
 */
export const OLDEST_AND_NEWEST: readonly QemuRelease[] = ['7.2', '11.1'];

/** Root of the QEMU 10.0 chroot (`.ci/qemu-10.0` builds it). */
export const TRIXIE_ROOT = process.env.QAPI_TS_TRIXIE_ROOT || '/var/lib/qapi-ts/trixie';
/** Root of the QEMU 11.1 chroot (`.ci/qemu-11.1` builds it). */
export const SID_ROOT = process.env.QAPI_TS_SID_ROOT || '/var/lib/qapi-ts/sid';

/** The chroot a release runs in (null: the host's QEMU), and the script that builds it. */
export function chrootOf(release: QemuRelease): { root: string; script: string } | null {
  if (release === '10.0') return { root: TRIXIE_ROOT, script: '.ci/qemu-10.0' };
  if (release === '11.1') return { root: SID_ROOT, script: '.ci/qemu-11.1' };
  return null;
}

/** The release's MAJOR and MINOR as numbers. */
export function releaseNumbers(release: QemuRelease): { major: number; minor: number } {
  const [major, minor] = release.split('.').map(Number) as [number, number];
  return { major, minor };
}

/** How to run a release's programs, and where its temp dirs go. */
interface Runner {
  /** The command line that runs `binary args` for this release. */
  command(binary: string, args: string[]): [string, string[]];
  /** Parent of temp dirs, as the host sees it. */
  hostTmp: string;
  /** A host path below `hostTmp` as the process sees it. */
  inner(hostPath: string): string;
}

function runner(release: QemuRelease): Runner {
  const chroot = chrootOf(release);
  if (chroot === null) {
    return { command: (binary, args) => [binary, args], hostTmp: tmpdir(), inner: (p) => p };
  }
  return {
    command: (binary, args) => ['chroot', [chroot.root, binary, ...args]],
    hostTmp: join(chroot.root, 'tmp'),
    inner: (p) => `/tmp/${basename(p)}`,
  };
}

/**
 * QEMU's schemas of a release in ../shared (null, with a message, when
 * ../shared is missing; an error under CI): the system emulator's
 * `qapi-schema.json` and the storage daemon's.
 */
export function releaseSchemas(release: QemuRelease): { system: string; storageDaemon: string } | null {
  const corpus = sharedDir(`corpus/qemu-${release}`);
  if (corpus === null) return null;
  return {
    system: join(corpus, 'qapi/qapi-schema.json'),
    storageDaemon: join(corpus, 'storage-daemon/qapi/qapi-schema.json'),
  };
}

/**
 * Runs a release's program (`qemu-io`, `qemu-img`, a daemonizing QEMU…)
 * until it exits and returns its stdout. Paths in `args` are as the program
 * sees them (see `QemuInstance.innerDir`).
 */
export async function runQemuTool(release: QemuRelease, tool: string, args: string[]): Promise<string> {
  const [file, argv] = runner(release).command(tool, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err)
        reject(
          new Error(
            `${tool} (QEMU ${release}) failed: ${stderr || err.message}\n  command: ${[file, ...argv].join(' ')}`,
          ),
        );
      else resolve(stdout);
    });
  });
}

export interface QemuInstance {
  pid: number;
  release: QemuRelease;
  /** The temp dir, as the host (the test) sees it. */
  dir: string;
  /** The same dir as the QEMU process sees it (differs under the chroot). */
  innerDir: string;
  /** The QMP unix socket. */
  socket: string;
  /** All QMP sockets (`monitors` of them; the first is `socket`). */
  sockets: string[];
  /** Kills the process (SIGKILL by default) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the same command line again in the same dir (same sockets) once
   * the process is gone (call kill() first, or let it quit); `pid` is the
   * new process's.
   */
  relaunch(): Promise<void>;
  /** kill() + remove the temp dir. */
  stop(): Promise<void>;
}

const running = new Set<QemuInstance>();

const availability = new Map<string, boolean>();

/** Why `binary` of `release` cannot run here, or null when it can. */
function unavailability(binary: string, release: QemuRelease): string | null {
  const chroot = chrootOf(release);
  // .ci/qemu-chroot writes this marker last.
  if (chroot !== null && !existsSync(join(chroot.root, '.qapi-ts-ready'))) {
    return `no QEMU ${release} chroot at ${chroot.root} (build it with ${chroot.script}, as root)`;
  }
  const [file, args] = runner(release).command(binary, ['--version']);
  let out: string;
  try {
    out = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const why = (e as { stderr?: string }).stderr?.trim() || (e as Error).message;
    if (chroot === null) return `${binary} not found`;
    const root = process.getuid?.() === 0 ? '' : ' (chroot needs root)';
    return `cannot run ${file} ${args.join(' ')}${root}: ${why}`;
  }
  // The chroot must hold the release it claims; the host's QEMU is whatever is installed.
  if (chroot !== null && !new RegExp(` version ${release.replace('.', '\\.')}\\.`).test(out)) {
    return `${chroot.root} holds ${out.split('\n')[0]}, not QEMU ${release}`;
  }
  return null;
}

/**
 * Whether `binary` (QEMU by default) of `release` (the host's by default)
 * can run here; throws under CI when it cannot.
 */
export function qemuAvailable(binary = QEMU_BINARY, release: QemuRelease = '7.2'): boolean {
  const key = `${release}:${binary}`;
  let available = availability.get(key);
  if (available === undefined) {
    const why = unavailability(binary, release);
    available = why === null;
    availability.set(key, available);
    if (why !== null) {
      if (process.env.CI)
        throw new Error(`CI: ${binary} (QEMU ${release}) is required for the integration tests: ${why}`);
      process.stderr.write(`SKIPPING QEMU ${release} integration tests: ${why}\n`);
    }
  }
  return available;
}

export interface QemuOptions {
  /** `-machine` value; default `none`. */
  machine?: string;
  /** Extra command-line arguments (e.g. `-object iothread,id=io0`). */
  args?: string[];
  /** More arguments, given the instance's dir as QEMU sees it (for files in it). */
  makeArgs?: (dir: string) => string[];
  /** Runs before QEMU starts, given the host's path of the dir (to create images in it). */
  setup?: (dir: string) => void;
  binary?: string;
  /** Default `'7.2'` (the host's QEMU). */
  release?: QemuRelease;
  /**
   * QMP monitors to create (default 1). A QEMU monitor serves one client
   * at a time, so a test that needs a second session needs a second one.
   */
  monitors?: number;
}

/** What a hot-plug test machine starts with (see hotplugMachine). */
export interface HotplugMachine {
  /** IOThread ids, each an `-object iothread`. */
  iothreads: readonly string[];
  /** How many pcie-root-ports: rp0 (chassis 1), rp1 (chassis 2), … */
  rootPorts: number;
  /** null-co block node names. */
  nullNodes: readonly string[];
}

/**
 * The arguments of a hot-plug test machine, to run as `q35,accel=tcg`:
 * native PCIe hot-plug (a device the guest never powered on is unplugged
 * at once; ACPI hot-plug would wait for a guest), then the IOThreads, root
 * ports and null-co nodes asked for, in that order. Devices go after.
 */
export function hotplugMachine({ iothreads, rootPorts, nullNodes }: HotplugMachine): string[] {
  return [
    '-global',
    'ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off',
    ...iothreads.flatMap((id) => ['-object', `iothread,id=${id}`]),
    ...Array.from({ length: rootPorts }, (_, i) => ['-device', `pcie-root-port,id=rp${i},chassis=${i + 1}`]).flat(),
    ...nullNodes.flatMap((name) => ['-blockdev', `driver=null-co,node-name=${name}`]),
  ];
}

/**
 * Starts QEMU. `args` may name files in the instance's dir only after it
 * exists; use `makeArgs` for that: it gets the dir as QEMU sees it.
 */
export async function startQemu(options: QemuOptions = {}): Promise<QemuInstance> {
  const binary = options.binary ?? QEMU_BINARY;
  return launch({ ...options, binary, dash: '-' }, (sockets, dir) => [
    '-machine',
    options.machine ?? 'none',
    '-display',
    'none',
    '-S',
    '-nodefaults',
    ...sockets.flatMap((path, i) => [
      '-chardev',
      `socket,id=qmp${i},path=${path},server=on,wait=off`,
      '-mon',
      `chardev=qmp${i},mode=control`,
    ]),
    ...(options.args ?? []),
    ...(options.makeArgs?.(dir) ?? []),
  ]);
}

/**
 * Starts `qemu-storage-daemon` the same way: a QMP monitor on a unix socket
 * in a fresh temp dir, daemonized, stopped by its pid. `args(dir)` gets
 * that dir (as the daemon sees it) for further sockets (an NBD server, say);
 * the instance's `dir` is the host's view of it.
 */
export async function startStorageDaemon(
  args: (dir: string) => string[] = () => [],
  options: Pick<QemuOptions, 'release' | 'setup'> = {},
): Promise<QemuInstance> {
  return launch({ ...options, binary: STORAGE_DAEMON_BINARY, dash: '--' }, (sockets, dir) => [
    '--chardev',
    `socket,id=qmp0,path=${sockets[0] as string},server=on,wait=off`,
    '--monitor',
    'chardev=qmp0,mode=control',
    ...args(dir),
  ]);
}

interface LaunchOptions extends Pick<QemuOptions, 'release' | 'monitors' | 'setup'> {
  binary: string;
  /** How the program spells its options: `-daemonize` or `--daemonize`. */
  dash: '-' | '--';
}

async function launch(
  { binary, release = '7.2', monitors = 1, setup, dash }: LaunchOptions,
  makeArgs: (sockets: string[], dir: string) => string[],
): Promise<QemuInstance> {
  const run = runner(release);
  const dir = mkdtempSync(join(run.hostTmp, 'qapi-ts-qemu-'));
  const innerDir = run.inner(dir);
  const names = Array.from({ length: monitors }, (_, i) => `qmp${i}.sock`);
  const sockets = names.map((name) => join(dir, name));
  const socket = sockets[0] as string;
  const pidfile = join(dir, 'qemu.pid');
  const args = [
    ...makeArgs(
      names.map((name) => join(innerDir, name)),
      innerDir,
    ),
    `${dash}daemonize`,
    `${dash}pidfile`,
    join(innerDir, 'qemu.pid'),
  ];
  try {
    setup?.(dir);
    // With daemonize the parent exits once the child is initialised and
    // the socket is listening.
    await runQemuTool(release, binary, args);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const readPid = (): number => {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pidfile ${pidfile}`);
    return pid;
  };
  const instance: QemuInstance = {
    pid: readPid(),
    release,
    dir,
    innerDir,
    socket,
    sockets,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      await killAndWait(instance.pid, signal);
    },
    async relaunch() {
      if (alive(instance.pid)) throw new Error(`QEMU ${instance.pid} is still running`);
      await runQemuTool(release, binary, args);
      instance.pid = readPid();
    },
    async stop() {
      running.delete(instance);
      await instance.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(instance);
  return instance;
}

export async function stopAllQemu(): Promise<void> {
  await Promise.all([...running].map((q) => q.stop()));
}

cleanUpOnExit(running);
