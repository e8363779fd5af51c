/**
 * Starting Debian's QEMU guest agent (qemu-ga) on the host for integration
 * tests: `qemu-ga -m unix-listen -p SOCK -t STATEDIR -f PIDFILE -d` in a
 * fresh temp dir, stopped by the pid from its pidfile (never by name), the
 * dir removed. Tests call only harmless commands on it (guest-ping,
 * guest-info, guest-get-time, guest-get-osinfo, guest-get-host-name):
 * never shutdown, suspend or fsfreeze, which would act on this machine.
 *
 * qemu-ga serves one connection at a time (a second one waits until the
 * first closes) and keeps its parser's state from one connection to the
 * next.
 *
 * When qemu-ga is missing the tests skip with a message, except under CI,
 * where that is a failure (.ci/run installs qemu-guest-agent).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, cleanUpOnExit, killAndWait } from './processes.js';

export const GUEST_AGENT_BINARY = 'qemu-ga';

let available: boolean | undefined;

/** Whether qemu-ga can run here; throws under CI when it cannot. */
export function guestAgentAvailable(): boolean {
  if (available === undefined) {
    let why: string | null = null;
    try {
      execFileSync(GUEST_AGENT_BINARY, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      why = `${GUEST_AGENT_BINARY} cannot run: ${(e as Error).message}`;
    }
    available = why === null;
    if (why !== null) {
      if (process.env.CI) throw new Error(`CI: qemu-ga is required for the guest agent integration tests: ${why}`);
      process.stderr.write(`SKIPPING guest agent integration tests: ${why}\n`);
    }
  }
  return available;
}

export interface GuestAgentInstance {
  pid: number;
  dir: string;
  socket: string;
  /** Kills the agent (SIGTERM, then SIGKILL) and removes its dir. */
  stop(): Promise<void>;
}

const running = new Set<GuestAgentInstance>();

export async function startGuestAgent(): Promise<GuestAgentInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-qga-'));
  const socket = join(dir, 'qga.sock');
  const pidfile = join(dir, 'qga.pid');
  const state = join(dir, 'state');
  mkdirSync(state);
  try {
    // With -d the parent exits once the daemon runs and listens.
    await new Promise<void>((resolve, reject) => {
      execFile(
        GUEST_AGENT_BINARY,
        ['-m', 'unix-listen', '-p', socket, '-t', state, '-f', pidfile, '-d'],
        { timeout: 30_000 },
        (err, _out, stderr) => {
          if (err) reject(new Error(`qemu-ga failed to start: ${stderr || err.message}`));
          else resolve();
        },
      );
    });
    for (let i = 0; i < 200 && !(existsSync(pidfile) && existsSync(socket)); i++)
      await new Promise((r) => setTimeout(r, 10));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pidfile ${pidfile}`);
  const instance: GuestAgentInstance = {
    pid,
    dir,
    socket,
    async stop() {
      running.delete(instance);
      if (alive(pid)) process.kill(pid, 'SIGCONT'); // a test may have stopped it
      await killAndWait(pid, 'SIGTERM', 5000);
      await killAndWait(pid, 'SIGKILL', 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(instance);
  return instance;
}

export async function stopAllGuestAgents(): Promise<void> {
  await Promise.all([...running].map((a) => a.stop()));
}

cleanUpOnExit(running);
