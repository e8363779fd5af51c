/**
 * Command-line entry point. Each group of subcommands lives in its own
 * module and is loaded only when used, so `check` never pays for the
 * code generator or the QMP runtime. Every command's options and help are
 * in commands.ts; what the commands share is in kit.ts.
 *
 * Exit status, every subcommand: 0 success, 1 a negative answer (invalid
 * schema, messages or arguments), 2 usage error (also an unknown command),
 * 3 connection failure or loss, 4 a QMP error reply.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { COMMAND_SPECS } from './commands.js';
import { EXIT_OK, EXIT_USAGE, formatHelp, processIO, type CommandIO } from './kit.js';

export type CommandRunner = (argv: string[], io: CommandIO) => Promise<number>;

interface Command {
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

/** How each command of COMMAND_SPECS is loaded. */
const COMMANDS: Record<string, Command> = {
  check: { load: async () => (await import('./frontend-commands.js')).runCheck, batch: true },
  dump: { load: async () => (await import('./frontend-commands.js')).runDump, batch: true },
  generate: { load: async () => (await import('./backend-commands.js')).runGenerate, batch: true },
  verify: { load: async () => (await import('./backend-commands.js')).runVerify },
  exec: { load: async () => (await import('./runtime-commands.js')).runExec },
  events: { load: async () => (await import('./runtime-commands.js')).runEvents },
  iothreads: { load: async () => (await import('./iothreads-command.js')).runIothreads },
  exporter: { load: async () => (await import('./exporter-command.js')).runExporter },
  probe: { load: async () => (await import('./probe-command.js')).runProbe },
  serve: { load: async () => (await import('./serve-command.js')).runServe },
  completion: { load: async () => (await import('./completion.js')).runCompletion },
};

/** The top-level help. */
export function usage(): string {
  const width = Math.max(...COMMAND_SPECS.map((c) => c.name.length), 'help'.length);
  const lines = COMMAND_SPECS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  lines.push(`  ${'help'.padEnd(width)}  show this help, or with a COMMAND that command's help`);
  return (
    `usage: qapi-ts COMMAND [ARGS...]\n\ncommands:\n${lines.join('\n')}\n\n` +
    "Run 'qapi-ts help COMMAND' (or 'qapi-ts COMMAND --help') for a command's options,\n" +
    "'qapi-ts --version' for the version.\n\n" +
    'exit status: 0 ok, 1 a negative answer (invalid schema, messages or arguments),\n' +
    '2 usage error, 3 connection or protocol failure, 4 a QMP error reply.\n'
  );
}

/** The version in our package.json (found by the package's own name, from src/ or dist/). */
function version(): string {
  const pkg = createRequire(import.meta.url)('qapi-ts/package.json') as { version: string };
  return pkg.version;
}

function specOf(name: string) {
  return COMMAND_SPECS.find((c) => c.name === name);
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.stderr : io.stdout)(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === 'help') {
    const [topic, ...extra] = rest;
    if (topic === undefined || topic === '--help' || topic === '-h') {
      io.stdout(usage());
      return EXIT_OK;
    }
    const spec = Object.hasOwn(COMMANDS, topic) ? specOf(topic) : undefined;
    if (spec === undefined || extra.length > 0) {
      const problem = spec === undefined ? `unknown command '${topic}'` : `unexpected argument '${extra[0]}'`;
      io.stderr(`qapi-ts help: ${problem} (see 'qapi-ts help')\n`);
      return EXIT_USAGE;
    }
    io.stdout(formatHelp(spec));
    return EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`${version()}\n`);
    return EXIT_OK;
  }
  // Own properties only: 'constructor' or '__proto__' are not commands.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(`qapi-ts: unknown command '${name}' (see 'qapi-ts help')\n`);
    return EXIT_USAGE;
  }
  // Before the command's code is loaded, so that all of it gets the budget.
  if (command.batch) setFlagsFromString(BATCH_V8_FLAGS);
  const run = await command.load();
  try {
    return await run(rest, io);
  } catch (e) {
    // A bug of ours, not the user's input: say so in one line, no stack trace.
    const { printableError } = await import('./printable.js');
    io.stderr(`qapi-ts ${name}: internal error: ${printableError(e)}\n`);
    return EXIT_USAGE;
  }
}
