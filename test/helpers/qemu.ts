/**
 * Starting a real QEMU for integration tests.
 *
 * Each instance runs daemonized with a QMP unix socket (a chardev monitor,
 * so `oob` is offered) in its own temp dir; it is stopped by the pid from
 * its pidfile (never by name) and its dir removed. `stopAllQemu()` in an
 * `afterAll` (and a process 'exit' hook as a last resort) makes sure nothing
 * is left behind when a test fails.
 *
 * When QEMU is not installed the tests skip with a message, except under
 * CI, where that is a failure.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface QemuInstance {
  pid: number;
  dir: string;
  /** The QMP unix socket. */
  socket: string;
  /** All QMP sockets (`monitors` of them; the first is `socket`). */
  sockets: string[];
  /** Kills the process (SIGKILL by default) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** kill() + remove the temp dir. */
  stop(): Promise<void>;
}

const running = new Set<QemuInstance>();

const availability = new Map<string, boolean>();
/** Whether `binary` (QEMU by default) can run here; throws under CI when it cannot. */
export function qemuAvailable(binary = QEMU_BINARY): boolean {
  let available = availability.get(binary);
  if (available === undefined) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
      available = true;
    } catch {
      available = false;
    }
    availability.set(binary, available);
    if (!available) {
      if (process.env.CI) throw new Error(`CI: ${binary} is required for the runtime integration tests`);
      process.stderr.write(`SKIPPING QEMU integration tests: ${binary} not found\n`);
    }
  }
  return available;
}

export interface QemuOptions {
  /** `-machine` value; default `none`. */
  machine?: string;
  /** Extra command-line arguments (e.g. `-object iothread,id=io0`). */
  args?: string[];
  binary?: string;
  /**
   * QMP monitors to create (default 1). A QEMU monitor serves one client
   * at a time, so a test that needs a second session needs a second one.
   */
  monitors?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startQemu(options: QemuOptions = {}): Promise<QemuInstance> {
  return launch(options.binary ?? QEMU_BINARY, options.monitors ?? 1, (sockets) => [
    '-machine', options.machine ?? 'none',
    '-display', 'none', '-S', '-nodefaults',
    ...sockets.flatMap((path, i) => [
      '-chardev', `socket,id=qmp${i},path=${path},server=on,wait=off`,
      '-mon', `chardev=qmp${i},mode=control`,
    ]),
    ...(options.args ?? []),
  ], '-');
}

export const STORAGE_DAEMON_BINARY = 'qemu-storage-daemon';

/**
 * Starts `qemu-storage-daemon` the same way: a QMP monitor on a unix socket
 * in a fresh temp dir, daemonized, stopped by its pid. `args(dir)` gets
 * that dir for further sockets (an NBD server, say).
 */
export async function startStorageDaemon(args: (dir: string) => string[] = () => []): Promise<QemuInstance> {
  return launch(STORAGE_DAEMON_BINARY, 1, (sockets, dir) => [
    '--chardev', `socket,id=qmp0,path=${sockets[0] as string},server=on,wait=off`,
    '--monitor', 'chardev=qmp0,mode=control',
    ...args(dir),
  ], '--');
}

async function launch(
  binary: string,
  monitors: number,
  makeArgs: (sockets: string[], dir: string) => string[],
  dash: '-' | '--',
): Promise<QemuInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-qemu-'));
  const sockets = Array.from({ length: monitors }, (_, i) => join(dir, `qmp${i}.sock`));
  const socket = sockets[0] as string;
  const pidfile = join(dir, 'qemu.pid');
  const args = [...makeArgs(sockets, dir), `${dash}daemonize`, `${dash}pidfile`, pidfile];
  try {
    // With daemonize the parent exits once the child is initialised and
    // the socket is listening.
    await new Promise<void>((resolve, reject) => {
      execFile(binary, args, { timeout: 30_000 }, (err, _out, stderr) => {
        if (err) reject(new Error(`${binary} failed to start: ${stderr || err.message}`));
        else resolve();
      });
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pidfile ${pidfile}`);
  const instance: QemuInstance = {
    pid,
    dir,
    socket,
    sockets,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (alive(pid)) process.kill(pid, signal);
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
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

process.on('exit', () => {
  for (const q of running) {
    try {
      process.kill(q.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(q.dir, { recursive: true, force: true });
  }
});
