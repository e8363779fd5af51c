/**
 * Running the built CLI (`node bin/qapi-ts …`) as users do. The build
 * output must exist: in CI (which builds first) a missing build is a hard
 * failure; elsewhere the caller skips and we say so on stderr.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandIO } from '../../src/cli/kit.js';
import { repoRoot } from './shared.js';

export const BIN = join(repoRoot, 'bin/qapi-ts');

/** True when `dist/REL` exists (the build that bin/qapi-ts runs). */
export function builtCli(rel: string, what: string): boolean {
  const built = join(repoRoot, 'dist', rel);
  if (existsSync(built)) return true;
  if (process.env.CI) throw new Error(`CI: ${built} is missing; run npm run build first`);
  process.stderr.write(`SKIPPING ${what}: ${built} not built (npm run build)\n`);
  return false;
}

/** Streams for a command run in-process (the CLI kit takes them as a parameter): it keeps what is written. */
export class CapturedIO implements CommandIO {
  out = '';
  err = '';
  readonly stdout = (text: string): void => void (this.out += text);
  readonly stderr = (text: string): void => void (this.err += text);
}

export interface CliRun {
  /** Exit status, or null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/qapi-ts ARGS…` and collects its output. */
export function runCli(args: readonly string[], options: { timeout?: number } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { timeout: options.timeout ?? 60_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface CliProcess {
  child: ChildProcess;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status, or null when killed by a signal. */
  exited: Promise<number | null>;
}

/** Starts `node bin/qapi-ts ARGS…` in the background (for commands that run until stopped). */
export function spawnCli(args: readonly string[]): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}
