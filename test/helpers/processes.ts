/**
 * Daemons the tests start (QEMU, qemu-ga): stopped by the pid they wrote,
 * never by name, and their temp dirs removed, also when the test process
 * exits without stopping them.
 */
import { rmSync } from 'node:fs';

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid` (if it runs) and waits up to `ms` until it is gone. */
export async function killAndWait(pid: number, signal: NodeJS.Signals, ms = 10_000): Promise<void> {
  if (alive(pid)) process.kill(pid, signal);
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** On process exit, SIGKILLs every daemon still in `running` and removes its dir. */
export function cleanUpOnExit(running: Iterable<{ readonly pid: number; readonly dir: string }>): void {
  process.on('exit', () => {
    for (const d of running) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
}
