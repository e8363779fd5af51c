/**
 * `qapi-ts serve`: the schema-checked QMP test server (qapi-ts/testing) on
 * a unix socket or TCP port, until Ctrl-C.
 *
 * Without behaviours of its own it negotiates, answers `query-version`
 * (and `query-commands` and `query-qmp-schema` where the schema has
 * them), refuses what QEMU would refuse with QEMU's words, and, with
 * --replay, answers from a recorded session; with --simulate it is a QEMU
 * with the IOThread holder-tracking series (testing/simulate), started
 * with DEMO_MACHINE. Everything else gets a GenericError, reported on
 * stderr.
 *
 * Options and help: commands.ts (SERVE). Exit status: 0 stopped by SIGINT/SIGTERM (the socket file is removed),
 * 1 invalid schema or transcript, 2 usage error, 3 cannot listen.
 */
import { isQapiError } from '../frontend/errors.js';
import { parseTcpTarget } from '../runtime/transport.js';
import { QmpTestServer } from '../testing/server.js';
import { ServerSchema, defaultSchemaPath } from '../testing/schema.js';
import { isQmpTestError } from '../testing/errors.js';
import { DEMO_MACHINE, holderTrackingQemu, simulatedVersion } from '../testing/simulate/index.js';
import type { ListenTarget } from '../testing/transport.js';
import { SERVE } from './commands.js';
import { EXIT_USAGE, parseCommand, processIO, usageLine, type CommandIO } from './kit.js';
import { interruption } from './interrupt.js';
import { printable } from './printable.js';
import { isInputFileError, readInputText, TRANSCRIPT_FILE } from '../read-file.js';

/** The greeting of `--simulate` over `schema`: QEMU 11.1's where the schema's IOThreadInfo is 11.1's. */
function simulatedGreeting(schema: ServerSchema): { version?: { major: number; minor: number; micro: number } } {
  const v = simulatedVersion(schema);
  return v === undefined ? {} : { version: { ...v } };
}

/** HOST:PORT as for connecting, except that port 0 (any free port) is fine. */
function listenTarget(spec: string): ListenTarget {
  if (!spec.endsWith(':0')) return parseTcpTarget(spec);
  const { host } = parseTcpTarget(`${spec.slice(0, -2)}:1`) as { host: string };
  return { host, port: 0 };
}

export async function runServe(argv: string[], io: CommandIO = processIO): Promise<number> {
  const usage = (message: string): number => {
    io.stderr(usageLine('serve', message));
    return EXIT_USAGE;
  };
  const parsed = parseCommand(SERVE, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  // Everywhere else --qemu-version names the release whose schema rules
  // apply; the greeting's version has a name of its own.
  if (values['qemu-version'] !== undefined) {
    return usage(
      '--qemu-version is the schema rules release in check, dump, generate and verify; ' +
        `for the version in the greeting, use --greet-version ${values['qemu-version']}`,
    );
  }
  if (positionals.length > 0) return usage(`unexpected argument '${positionals[0]}'`);
  if ((values.socket === undefined) === (values.tcp === undefined))
    return usage('give exactly one of --socket PATH or --tcp HOST:PORT');
  if (values.simulate && values.replay !== undefined) return usage('--simulate and --replay cannot be combined');
  let target: ListenTarget;
  try {
    target = values.socket !== undefined ? { path: values.socket } : listenTarget(values.tcp as string);
  } catch (e) {
    return usage((e as Error).message);
  }
  let version: { major: number; minor: number; micro: number } | undefined;
  if (values['greet-version'] !== undefined) {
    const m = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/.exec(values['greet-version']);
    if (!m) return usage(`--greet-version: expected X.Y.Z, got '${values['greet-version']}'`);
    version = { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]) };
  }

  const schemaPath = values.schema ?? defaultSchemaPath();
  let server: QmpTestServer;
  try {
    const schema = await ServerSchema.load(schemaPath);
    server = await QmpTestServer.create({
      schema,
      ...(version !== undefined ? { version } : values.simulate ? simulatedGreeting(schema) : {}),
      recordReceived: false,
      // A failure quotes what a client sent: escaped (printable.ts).
      onFailure: (f) => io.stderr(`qapi-ts serve: ${printable(f.message)}\n`),
    });
    if (values.replay !== undefined) {
      // A regular file of at most 256 MiB, or exit 1 naming it.
      const replay = server.replay(readInputText(values.replay, TRANSCRIPT_FILE));
      io.stderr(`qapi-ts serve: replaying ${replay.commands.length} recorded commands from ${values.replay}\n`);
    }
    if (values.simulate) {
      server.use(holderTrackingQemu({ boot: DEMO_MACHINE }));
      const { major, minor, micro } = server.greeting?.version.qemu ?? { major: 0, minor: 0, micro: 0 };
      io.stderr(
        `qapi-ts serve: simulating a QEMU with IOThread holder tracking (version ${major}.${minor}.${micro}; ` +
          'io0, io1; free: root ports rp4-rp7, node disk3)\n',
      );
    }
  } catch (e) {
    if (isQapiError(e)) {
      io.stderr(`${e.message}\n`);
      return 1;
    }
    if (isInputFileError(e)) {
      io.stderr(`qapi-ts serve: --replay ${e.message}\n`);
      return 1;
    }
    if (isQmpTestError(e)) {
      io.stderr(`qapi-ts serve: ${values.simulate ? '--simulate' : values.replay}: ${e.message}\n`);
      return 1;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      io.stderr(`qapi-ts serve: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }

  using stop = interruption();
  try {
    let where: ListenTarget;
    try {
      where = await server.listen(target);
    } catch (e) {
      io.stderr(`qapi-ts serve: cannot listen: ${(e as Error).message}\n`);
      return 3;
    }
    const address = 'path' in where ? `unix:${where.path}` : `tcp:${where.host}:${where.port}`;
    io.stderr(`qapi-ts serve: serving ${schemaPath} on ${address}; Ctrl-C stops\n`);
    await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    return 0;
  } finally {
    await server.close();
  }
}
