/**
 * The schema-checked test server (qapi-ts/testing) listening on a unix
 * socket in a fresh temp dir, or on a TCP port, for tests that run the
 * built CLI against it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandMap, EventMap } from '../../generated/index.js';
import { QmpTestServer, type TestServerOptions } from '../../src/testing/index.js';

export interface ListeningServer {
  readonly server: QmpTestServer<CommandMap, EventMap>;
  /** The unix socket (unset with `tcp`). */
  readonly path: string;
  /** The TCP port (0 without `tcp`). */
  readonly port: number;
  close(): Promise<void>;
}

/** A test server for our schema (qapi/) on a unix socket, or on 127.0.0.1 with `tcp`. */
export async function listeningServer(options: TestServerOptions & { tcp?: boolean } = {}): Promise<ListeningServer> {
  const { tcp, ...serverOptions } = options;
  const server = await QmpTestServer.create<CommandMap, EventMap>(serverOptions);
  const dir = mkdtempSync(join(tmpdir(), 'qapi-ts-serve-'));
  const path = join(dir, 'qmp.sock');
  const target = await server.listen(tcp ? { host: '127.0.0.1', port: 0 } : { path });
  return {
    server,
    path,
    port: 'port' in target ? target.port : 0,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
