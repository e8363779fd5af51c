/**
 * Command-line entry point. Each group of subcommands lives in its own
 * module and is loaded only when used, so `check` never pays for the
 * code generator or the QMP runtime.
 */

export type CommandRunner = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandRunner> }> = {
  check: {
    summary: 'check a QAPI schema; exit 0 if valid, 1 with a located error',
    load: async () => (await import('./frontend-commands.js')).runCheck,
  },
  dump: {
    summary: 'print the checked schema model (QEMU test-qapi format)',
    load: async () => (await import('./frontend-commands.js')).runDump,
  },
  generate: {
    summary: 'generate TypeScript types, zod validators and a typed client',
    load: async () => (await import('./backend-commands.js')).runGenerate,
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
  serve: {
    summary: 'serve QMP from a schema without QEMU (test server; --replay a recorded session)',
    load: async () => (await import('./serve-command.js')).runServe,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `usage: qapi-ts COMMAND [ARGS...]\n\ncommands:\n${lines.join('\n')}\n\nRun 'qapi-ts COMMAND --help' for a command's options.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`qapi-ts: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  const run = await command.load();
  return run(rest);
}
