/**
 * `qapi-ts completion bash|zsh|fish`: a shell completion script written
 * from the commands' tables (commands.ts), the same tables the commands
 * parse their options with, so completion cannot drift from the CLI.
 */
import { COMMAND_SPECS, COMPLETION, SHELLS } from './commands.js';
import {
  EXIT_OK,
  EXIT_USAGE,
  HELP_OPTION,
  parseCommand,
  processIO,
  usageLine,
  type CommandIO,
  type CommandSpec,
  type OptionSpec,
} from './kit.js';

type Shell = (typeof SHELLS)[number];

/** Every command's options, -h/--help included. */
function optionsOf(spec: CommandSpec): [string, OptionSpec][] {
  return [...Object.entries(spec.options), ['help', HELP_OPTION]];
}

/** Commands that take files as positional arguments. */
const FILE_ARGUMENTS = new Set(['check', 'dump', 'generate', 'verify']);

/** The first clause of an option's help, for the shells that show one. */
function brief(text: string): string {
  const first = text.split(/[;(]|: /)[0]!.trim();
  return first.length <= 70 ? first : `${first.slice(0, 69)}…`;
}

const COMMAND_NAMES = COMMAND_SPECS.map((c) => c.name);

function names(): string[] {
  return [...COMMAND_SPECS.map((c) => c.name), 'help'];
}

function bashWords(words: readonly string[]): string {
  return words.join(' ');
}

export function bashScript(): string {
  const out: string[] = [
    '# bash completion for qapi-ts (written by `qapi-ts completion bash`)',
    '_qapi_ts() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="${COMP_WORDS[1]}"',
    '  COMPREPLY=()',
    '  if [[ $COMP_CWORD -eq 1 ]]; then',
    `    COMPREPLY=($(compgen -W "${bashWords(names())} --help --version" -- "$cur"))`,
    '    return',
    '  fi',
    '  case "$cmd" in',
    `    help) [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W "${bashWords(COMMAND_NAMES)}" -- "$cur")); return ;;`,
    `    completion) [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W "${bashWords(SHELLS)}" -- "$cur")); return ;;`,
    '  esac',
    '  case "$cmd $prev" in',
  ];
  for (const spec of COMMAND_SPECS) {
    for (const [name, o] of optionsOf(spec)) {
      if (o.type !== 'string') continue;
      const flags = [`--${name}`, ...(o.short !== undefined ? [`-${o.short}`] : [])];
      const pattern = flags.map((f) => `"${spec.name} ${f}"`).join('|');
      const what =
        o.complete === 'file'
          ? 'COMPREPLY=($(compgen -f -- "$cur"))'
          : o.complete === 'directory'
            ? 'COMPREPLY=($(compgen -d -- "$cur"))'
            : Array.isArray(o.complete)
              ? `COMPREPLY=($(compgen -W "${bashWords(o.complete)}" -- "$cur"))`
              : ':';
      out.push(`    ${pattern}) ${what}; return ;;`);
    }
  }
  out.push('  esac', '  case "$cmd" in');
  for (const spec of COMMAND_SPECS) {
    const flags = optionsOf(spec).flatMap(([name, o]) => [
      `--${name}`,
      ...(o.short !== undefined ? [`-${o.short}`] : []),
    ]);
    const files = FILE_ARGUMENTS.has(spec.name) ? ' -f' : '';
    out.push(
      `    ${spec.name}) if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${bashWords(flags)}" -- "$cur"));` +
        ` else COMPREPLY=($(compgen${files} -- "$cur")); fi ;;`,
    );
  }
  out.push('  esac', '}', 'complete -o filenames -F _qapi_ts qapi-ts', '');
  return out.join('\n');
}

/** Text inside a zsh single-quoted string. */
function zshQuote(text: string): string {
  return text.replace(/'/g, `'\\''`);
}

/** An _arguments description (inside `[...]`) or message (between colons). */
function zshEscape(text: string): string {
  return text.replace(/[[\]:\\]/g, (c) => `\\${c}`);
}

function zshAction(o: OptionSpec): string {
  if (o.complete === 'file') return '_files';
  if (o.complete === 'directory') return '_files -/';
  if (Array.isArray(o.complete)) return `(${o.complete.join(' ')})`;
  return ' ';
}

export function zshScript(): string {
  const out: string[] = [
    '#compdef qapi-ts',
    '# zsh completion for qapi-ts (written by `qapi-ts completion zsh`)',
    '_qapi_ts() {',
    '  local -a commands',
    '  commands=(',
    ...COMMAND_SPECS.map((c) => `    '${zshQuote(`${c.name}:${zshEscape(c.summary)}`)}'`),
    "    'help:show the help of qapi-ts or of a command'",
    '  )',
    '  if (( CURRENT == 2 )); then',
    "    _describe -t commands 'qapi-ts command' commands",
    '    return',
    '  fi',
    '  local cmd=${words[2]}',
    '  shift words',
    '  (( CURRENT-- ))',
    '  case $cmd in',
    `    help) _values 'command' ${COMMAND_SPECS.map((c) => c.name).join(' ')} ;;`,
    `    completion) _values 'shell' ${SHELLS.join(' ')} ;;`,
  ];
  for (const spec of COMMAND_SPECS) {
    if (spec.name === 'completion') continue;
    const args = optionsOf(spec).map(([name, o]) => {
      const repeat = o.multiple ? '*' : '';
      const desc = `[${zshEscape(brief(o.help))}]`;
      const value = o.type === 'string' ? `:${zshEscape(o.value ?? 'VALUE')}:${zshAction(o)}` : '';
      const spec1 = `${desc}${value}`;
      return o.short !== undefined
        ? `'${repeat}-${o.short}${zshQuote(spec1)}' '${repeat}--${name}${zshQuote(spec1)}'`
        : `'${repeat}--${name}${zshQuote(spec1)}'`;
    });
    if (FILE_ARGUMENTS.has(spec.name)) args.push("'*:file:_files'");
    out.push(
      `    ${spec.name}) _arguments -s \\`,
      ...args.map((a, i) => `      ${a}${i < args.length - 1 ? ' \\' : ''}`),
      '      ;;',
    );
  }
  out.push(
    '  esac',
    '}',
    'if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then',
    '  _qapi_ts "$@"',
    'else',
    '  compdef _qapi_ts qapi-ts',
    'fi',
    '',
  );
  return out.join('\n');
}

/** Text inside a fish single-quoted string. */
function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export function fishScript(): string {
  const out: string[] = [
    '# fish completion for qapi-ts (written by `qapi-ts completion fish`)',
    'complete -c qapi-ts -f',
    `complete -c qapi-ts -n __fish_use_subcommand -l help -s h -d ${fishQuote('show the help')}`,
    `complete -c qapi-ts -n __fish_use_subcommand -l version -s V -d ${fishQuote('show the version')}`,
  ];
  for (const c of COMMAND_SPECS) {
    out.push(`complete -c qapi-ts -n __fish_use_subcommand -a ${c.name} -d ${fishQuote(c.summary)}`);
  }
  out.push(
    `complete -c qapi-ts -n __fish_use_subcommand -a help -d ${fishQuote('show the help of qapi-ts or of a command')}`,
  );
  out.push(
    `complete -c qapi-ts -n '__fish_seen_subcommand_from help' -a ${fishQuote(COMMAND_NAMES.join(' '))}`,
    `complete -c qapi-ts -n '__fish_seen_subcommand_from completion' -a ${fishQuote(SHELLS.join(' '))}`,
  );
  for (const spec of COMMAND_SPECS) {
    const when = `-n '__fish_seen_subcommand_from ${spec.name}'`;
    for (const [name, o] of optionsOf(spec)) {
      const parts = [`complete -c qapi-ts ${when}`];
      if (o.short !== undefined) parts.push(`-s ${o.short}`);
      parts.push(`-l ${name}`);
      if (o.type === 'string') {
        parts.push('-r');
        if (o.complete === 'file') parts.push('-F');
        else if (o.complete === 'directory') parts.push(`-a ${fishQuote('(__fish_complete_directories)')}`);
        else if (Array.isArray(o.complete)) parts.push(`-a ${fishQuote(o.complete.join(' '))}`);
      }
      parts.push(`-d ${fishQuote(brief(o.help))}`);
      out.push(parts.join(' '));
    }
    if (FILE_ARGUMENTS.has(spec.name)) out.push(`complete -c qapi-ts ${when} -F`);
  }
  out.push('');
  return out.join('\n');
}

const SCRIPTS: Record<Shell, () => string> = { bash: bashScript, zsh: zshScript, fish: fishScript };

export async function runCompletion(argv: string[], io: CommandIO = processIO): Promise<number> {
  const parsed = parseCommand(COMPLETION, argv, io);
  if (typeof parsed === 'number') return parsed;
  const [shell, ...extra] = parsed.positionals;
  if (shell === undefined || !(SHELLS as readonly string[]).includes(shell) || extra.length > 0) {
    const problem =
      shell === undefined
        ? `expected a shell: ${SHELLS.join(', ')}`
        : extra.length > 0
          ? `unexpected argument '${extra[0]}'`
          : `unknown shell '${shell}' (${SHELLS.join(', ')})`;
    io.stderr(usageLine('completion', problem));
    return EXIT_USAGE;
  }
  io.stdout(SCRIPTS[shell as Shell]());
  return EXIT_OK;
}
