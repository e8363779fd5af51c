/**
 * Command-line entry point. Each group of subcommands lives in its own
 * module and is loaded only when used, so `check` never pays for the
 * code generator or the QMP runtime.
 *
 * Exit status, every subcommand: 0 success, 1 a negative answer (invalid
 * schema, messages or arguments), 2 usage error (also an unknown command),
 * 3 connection failure or loss, 4 `exec` got a QMP error reply.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';

export type CommandRunner = (argv: string[]) => Promise<number>;

interface Command {
  summary: string;
  load: () => Promise<CommandRunner>;
  /**
   * One pass over a schema, then exit: V8's optimizing compiler is asked
   * to wait longer before it compiles a function (see BATCH_V8_FLAGS).
   */
  batch?: true;
}

/**
 * For `batch` commands. With V8's default budget, TurboFan compiles
 * about 90 of the frontend's functions (and throws some away again) during
 * a `check` of QEMU 10.0's schema that lasts a fraction of a second: with
 * 15 times the budget it compiles 2, and `check` and `generate` take about
 * a third less CPU time (bench:frontend, bench:generate). Functions still
 * get optimized, only later, so a huge schema does not run unoptimized.
 */
export const BATCH_V8_FLAGS = '--interrupt-budget=2000000';

const COMMANDS: Record<string, Command> = {
  check: {
    summary: 'check a QAPI schema; exit 0 if valid, 1 with a located error',
    load: async () => (await import('./frontend-commands.js')).runCheck,
    batch: true,
  },
  dump: {
    summary: 'print the checked schema model (QEMU test-qapi format)',
    load: async () => (await import('./frontend-commands.js')).runDump,
    batch: true,
  },
  generate: {
    summary: 'generate TypeScript types, zod validators and a typed client',
    load: async () => (await import('./backend-commands.js')).runGenerate,
    batch: true,
  },
  verify: {
    summary: 'check a recorded QMP transcript against a schema',
    load: async () => (await import('./backend-commands.js')).runVerify,
  },
  exec: {
    summary: 'run one QMP command against a live QEMU',
    load: async () => (await import('./runtime-commands.js')).runExec,
  },
  events: {
    summary: 'print QMP events from a live QEMU as JSON lines',
    load: async () => (await import('./runtime-commands.js')).runEvents,
  },
  iothreads: {
    summary: 'show every IOThread and who uses it (holders), once or watched',
    load: async () => (await import('./iothreads-command.js')).runIothreads,
  },
  exporter: {
    summary: 'serve the IOThreads of many VMs to Prometheus (/metrics) and as a live page',
    load: async () => (await import('./exporter-command.js')).runExporter,
  },
  probe: {
    summary: 'ask a live QEMU what it supports (libvirt-style schema queries)',
    load: async () => (await import('./probe-command.js')).runProbe,
  },
  serve: {
    summary: 'serve QMP from a schema without QEMU (test server; --replay a recorded session)',
    load: async () => (await import('./serve-command.js')).runServe,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: qapi-ts COMMAND [ARGS...]\n\ncommands:\n${lines.join('\n')}\n\nRun 'qapi-ts COMMAND --help' for a command's options, 'qapi-ts --version' for the version.\n`;
}

/** The version in our package.json (found by the package's own name, from src/ or dist/). */
function version(): string {
  const pkg = createRequire(import.meta.url)('qapi-ts/package.json') as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  // Own properties only: 'constructor' or '__proto__' are not commands.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`qapi-ts: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  // Before the command's code is loaded, so that all of it gets the budget.
  if (command.batch) setFlagsFromString(BATCH_V8_FLAGS);
  const run = await command.load();
  try {
    return await run(rest);
  } catch (e) {
    // A bug of ours, not the user's input: say so in one line, no stack trace.
    const { printableError } = await import('./printable.js');
    process.stderr.write(`qapi-ts ${name}: internal error: ${printableError(e)}\n`);
    return 2;
  }
}
