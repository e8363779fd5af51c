/**
 * Getting a `query-qmp-schema` reply: from a running QEMU's QMP socket
 * (unix or TCP), from a saved file, or by starting a QEMU binary
 * (`-machine none -nodefaults -display none -S`, QMP on its stdin and
 * stdout) just to ask it, then stopping it by its pid.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { QmpClient } from '../runtime/client.js';
import { IntrospectionError, QmpConnectError } from '../runtime/errors.js';
import { parseJson } from '../runtime/json.js';
import type { QmpTarget } from '../runtime/transport.js';

export type IntrospectionSource =
  | { kind: 'file'; path: string }
  | { kind: 'target'; target: QmpTarget }
  | { kind: 'qemu'; binary: string; args?: readonly string[] };

export interface FetchOptions {
  /** Milliseconds for connecting and for the reply (default 10000). */
  timeout?: number;
}

/** The arguments a QEMU binary is started with to ask it (QMP on stdio). */
export const QEMU_PROBE_ARGS: readonly string[] = [
  '-machine',
  'none',
  '-nodefaults',
  '-display',
  'none',
  '-S',
  '-qmp',
  'stdio',
];

/** At most this much of a saved reply is read (QEMU 11.1's is 0.25 MiB). */
export const MAX_INTROSPECTION_FILE = 64 * 1024 * 1024;

/**
 * `query-qmp-schema`'s return value from `source`. A saved file may hold
 * the return value itself, or a whole reply (`{"return": [...]}`).
 */
export async function fetchIntrospection(source: IntrospectionSource, options: FetchOptions = {}): Promise<unknown> {
  const timeout = options.timeout ?? 10_000;
  switch (source.kind) {
    case 'file':
      return readIntrospectionFile(source.path);
    case 'target': {
      await using qmp = await QmpClient.connect(source.target, { timeout });
      return await qmp.execute('query-qmp-schema', undefined, { timeout });
    }
    case 'qemu':
      return askQemuBinary(source.binary, source.args ?? [], timeout);
  }
}

export async function readIntrospectionFile(path: string): Promise<unknown> {
  const { open } = await import('node:fs/promises');
  const handle = await open(path === '-' ? '/dev/stdin' : path, 'r');
  let text: string;
  try {
    const stat = await handle.stat();
    if (stat.isFile() && stat.size > MAX_INTROSPECTION_FILE) {
      throw new IntrospectionError(`${path} is larger than ${MAX_INTROSPECTION_FILE / 1024 / 1024} MiB`);
    }
    // Read in bounded steps: stdin or a FIFO may go on for ever.
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = Buffer.alloc(1 << 20);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > MAX_INTROSPECTION_FILE)
        throw new IntrospectionError(`${path} is larger than ${MAX_INTROSPECTION_FILE / 1024 / 1024} MiB`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    text = Buffer.concat(chunks).toString('utf8');
  } finally {
    await handle.close();
  }
  let data: unknown;
  try {
    data = parseJson(text);
  } catch (e) {
    throw new IntrospectionError(`${path} is not JSON: ${(e as Error).message}`);
  }
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && Object.hasOwn(data, 'return')) {
    return (data as { return: unknown }).return;
  }
  return data;
}

/** Starts `binary` with QEMU_PROBE_ARGS (after `args`), asks, stops it by pid. */
async function askQemuBinary(binary: string, args: readonly string[], timeout: number): Promise<unknown> {
  const child = spawn(binary, [...args, ...QEMU_PROBE_ARGS], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new QmpConnectError(binary, e.message)));
  });
  try {
    await spawned;
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    let qmp: QmpClient;
    try {
      qmp = await QmpClient.overStream(stream, { timeout }, `${binary} (stdio)`);
    } catch (e) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
      const said = stderr.trim();
      if (said !== '') throw new QmpConnectError(binary, said.split('\n')[0]!);
      throw e;
    }
    try {
      return await qmp.execute('query-qmp-schema', undefined, { timeout });
    } finally {
      await qmp.close();
    }
  } finally {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
          process.kill(child.pid, 'SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(killer);
    }
  }
}
