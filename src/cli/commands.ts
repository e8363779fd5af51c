/**
 * Every command's table: name, summary, usage, description, options and
 * exit statuses, as plain data. The commands parse their arguments with
 * these tables (kit.ts), `qapi-ts help COMMAND` prints them, and
 * `qapi-ts completion` writes shell completion from them, so help,
 * parsing and completion cannot drift apart.
 */
import { DEFAULT_QEMU_VERSION, OLDEST_QEMU_VERSION } from '../frontend/release.js';
import type { CommandSpec, OptionSpec } from './kit.js';

/** --socket, --tcp and --timeout, for every command that talks to one QEMU (parsed by target.ts). */
export const TARGET_OPTIONS = {
  socket: { type: 'string', short: 's', value: 'PATH', help: 'QMP unix socket', complete: 'file' },
  tcp: { type: 'string', short: 't', value: 'HOST:PORT', help: 'QMP TCP endpoint' },
  timeout: {
    type: 'string',
    value: 'MS',
    help: "connect and reply timeout in milliseconds (default 10000; 'infinity' for none)",
  },
} as const satisfies Record<string, OptionSpec>;

/** Doc-comment warnings `generate` shows without --warnings. */
export const SHOWN_WARNINGS = 5;

const QEMU_VERSION = {
  type: 'string',
  value: 'V',
  help:
    `read the schema with the rules of QEMU release V (MAJOR.MINOR, ${OLDEST_QEMU_VERSION} or later; ` +
    `default ${DEFAULT_QEMU_VERSION}, the newest known): its doc-comment rules, its model (up to 9.1 the ` +
    'built-in QType enum has the prefix QTYPE) and its dump format',
} as const satisfies OptionSpec;

const JSON_OPTION = {
  type: 'boolean',
  help: 'print one JSON document on stdout (shape: README, "--json output"); errors are part of it',
} as const satisfies OptionSpec;

/** Where `generate` and `verify` get a QEMU's own schema (introspection-source.ts). */
export const SOURCE_OPTIONS = {
  introspection: {
    type: 'string',
    value: 'FILE',
    help: "a saved query-qmp-schema reply ('-': stdin)",
    complete: 'file',
  },
  'from-socket': {
    type: 'string',
    value: 'PATH',
    help: 'ask the QEMU listening on this QMP unix socket',
    complete: 'file',
  },
  'from-tcp': { type: 'string', value: 'HOST:PORT', help: 'ask the QEMU listening on this QMP TCP endpoint' },
  'from-qemu': {
    type: 'string',
    value: 'BINARY',
    help: 'start BINARY (-machine none -nodefaults -display none -S, QMP on stdio), ask it, stop it',
    complete: 'file',
  },
  timeout: { type: 'string', value: 'MS', help: 'connect and reply timeout (default 10000)' },
} as const satisfies Record<string, OptionSpec>;

const INT64 = {
  type: 'string',
  value: 'MODE',
  help: "int/int64/uint64/size as 'mixed' (number | bigint, default), 'bigint' or 'number'",
  complete: ['mixed', 'bigint', 'number'],
} as const satisfies OptionSpec;

const RECORD = {
  type: 'string',
  value: 'FILE',
  help: "write the session to FILE as a transcript (what 'qapi-ts verify' reads)",
  complete: 'file',
} as const satisfies OptionSpec;

const LENIENT_DOCS = {
  type: 'boolean',
  help: 'report doc-comment problems as warnings and keep going',
} as const satisfies OptionSpec;

export const CHECK = {
  name: 'check',
  summary: 'check a QAPI schema; exit 0 if valid, 1 with a located error',
  usage: ['[--lenient-docs] [--qemu-version V] [--json] SCHEMA'],
  description:
    'Check a QAPI schema as QEMU does; exit 0 if it is valid. Errors go to stderr\n' +
    "in QEMU's format (with --json, into the document).",
  options: { 'lenient-docs': LENIENT_DOCS, 'qemu-version': QEMU_VERSION, json: JSON_OPTION },
  exit: '0 valid, 1 invalid schema (a located error), 2 usage error.',
} as const satisfies CommandSpec;

export const DUMP = {
  name: 'dump',
  summary: 'print the checked schema model (QEMU test-qapi format)',
  usage: ['[--lenient-docs] [--qemu-version V] SCHEMA'],
  description:
    "Print the checked schema model in the format of QEMU's QAPI test suite.\nErrors go to stderr in QEMU's format.",
  options: { 'lenient-docs': LENIENT_DOCS, 'qemu-version': QEMU_VERSION },
  exit: '0 ok, 1 invalid schema (a located error), 2 usage error.',
} as const satisfies CommandSpec;

export const GENERATE = {
  name: 'generate',
  summary: 'generate TypeScript types, zod validators and a typed client',
  usage: [
    'SCHEMA -o DIR [options]',
    '(--introspection FILE | --from-socket PATH | --from-tcp HOST:PORT | --from-qemu BINARY) [SCHEMA] -o DIR [options]',
  ],
  description: `Generate TypeScript types, zod validators and a typed QMP client, one file
per QAPI module plus index.ts.

From a QEMU's own schema (its query-qmp-schema reply) alone: exactly what
that build has, in one module 'qemu'; types are named after where they are
first used (the reply numbers them), every integer is 'int' and there are
no doc comments; device_add takes more arguments than it declares. With
SCHEMA too: SCHEMA's names, docs and integer widths, and of its
conditional parts what the QEMU has; where the two disagree (a schema of
another release) you are told.`,
  options: {
    out: { type: 'string', short: 'o', value: 'DIR', help: 'output directory (required)', complete: 'directory' },
    ...SOURCE_OPTIONS,
    'strict-docs': { type: 'boolean', help: 'doc-comment problems are errors (default: warnings)' },
    'support-import': {
      type: 'string',
      value: 'SPEC',
      help: 'module the generated code imports its support library from (default: qapi-ts/support)',
    },
    'qemu-version': QEMU_VERSION,
    int64: INT64,
    define: {
      type: 'string',
      multiple: true,
      value: 'SYMBOL',
      help:
        "a defined 'if' symbol (repeatable); when given, only what these conditions select is generated, " +
        'exactly; without, what depends on a condition is optional',
    },
    'oldest-schema': {
      type: 'string',
      value: 'FILE',
      help:
        'the schema of the oldest QEMU release the code must work with: what it lacks is typed and ' +
        'validated as possibly absent',
      complete: 'file',
    },
    'oldest-label': {
      type: 'string',
      value: 'TEXT',
      help: "how docs name that release (default: FILE as given), e.g. 'QEMU 7.2'",
    },
    'no-unstable': { type: 'boolean', help: "leave out definitions marked 'unstable'" },
    'no-deprecated': { type: 'boolean', help: "leave out definitions marked 'deprecated'" },
    'client-name': { type: 'string', value: 'NAME', help: 'name of the client class (default: QapiClient)' },
    language: {
      type: 'string',
      value: 'ts|js',
      help:
        'TypeScript with types and docs (default), or JavaScript modules with docs, each with a .d.ts ' +
        'beside it holding the same types',
      complete: ['ts', 'js'],
    },
    warnings: {
      type: 'boolean',
      help: `list every doc-comment warning (default: the first ${SHOWN_WARNINGS} and a count)`,
    },
    quiet: {
      type: 'boolean',
      short: 'q',
      help: "leave out the closing summary line ('N files in DIR, ...'); warnings and errors still show",
    },
  },
  exit:
    '0 ok, 1 invalid schema (or --oldest-schema, or an unwritable DIR), 2 usage error, 3 the QEMU to ask ' +
    'cannot be reached, 4 it refused query-qmp-schema.',
} as const satisfies CommandSpec;

export const VERIFY = {
  name: 'verify',
  summary: 'check a recorded QMP transcript against a schema',
  usage: [
    '--schema SCHEMA [options] TRANSCRIPT.jsonl',
    '(--introspection FILE | --from-socket PATH | --from-tcp HOST:PORT | --from-qemu BINARY) ' +
      '[--schema SCHEMA] [options] TRANSCRIPT.jsonl',
  ],
  description: `Check a recorded QMP session, one {"dir": "client"|"server", "msg": ...} per
line ('-' reads stdin), against SCHEMA with its generated validators. Each
invalid message is printed with its line, member path and reason, then a
line 'N messages, N valid, N invalid'. With a QEMU to ask: its own schema,
as generate makes it from one; with --schema too, that schema's conditions
as the QEMU has them.`,
  options: {
    schema: {
      type: 'string',
      short: 's',
      value: 'SCHEMA',
      help: 'the QAPI schema (required unless a QEMU is asked)',
      complete: 'file',
    },
    ...SOURCE_OPTIONS,
    strict: {
      type: 'boolean',
      help: 'what the schema does not know in server messages (members, enum values, events) is a finding too',
    },
    int64: INT64,
    define: {
      type: 'string',
      multiple: true,
      value: 'SYMBOL',
      help: "a defined 'if' symbol (repeatable), as for generate",
    },
    'oldest-schema': {
      type: 'string',
      value: 'FILE',
      help: 'the oldest QEMU release to accept messages of, as for generate (what it lacks may be absent)',
      complete: 'file',
    },
    'strict-docs': { type: 'boolean', help: 'doc-comment problems are schema errors' },
    'qemu-version': QEMU_VERSION,
    warnings: { type: 'boolean', help: 'list doc-comment warnings (default: a count)' },
    json: JSON_OPTION,
  },
  exit:
    '0 all messages valid, 1 some invalid, 2 usage error, unreadable file, invalid schema or a line that ' +
    'is not a transcript entry; with a QEMU to ask, 3 when it cannot be reached, 4 when it refuses query-qmp-schema.',
} as const satisfies CommandSpec;

export const EXEC = {
  name: 'exec',
  summary: 'run one QMP command against a live QEMU',
  usage: ['[--guest-agent] (--socket PATH | --tcp HOST:PORT) [options] COMMAND [JSON_ARGS]'],
  description: `Runs one QMP command and prints its return value as JSON (integers exact).

Arguments are checked strictly before the command is sent, against the
connected QEMU's own schema (query-qmp-schema, asked once per connection;
device_add takes more than it declares) or the --schema file; commands the
schema lacks are passed through untouched, and so is every guest agent
command unless --schema is given. Arguments QEMU could not parse as one
request (nested deeper than 1023 levels, say) are refused before
connecting. A guest agent command that never replies on success
(guest-shutdown, guest-suspend-*) prints nothing and exits 0 once sent.`,
  options: {
    ...TARGET_OPTIONS,
    'guest-agent': {
      type: 'boolean',
      help:
        'talk to the QEMU guest agent (qemu-ga; --socket is its socket): no greeting, synchronised with ' +
        'guest-sync-delimited first',
    },
    oob: { type: 'boolean', help: 'send as exec-oob (negotiates the oob capability)' },
    schema: {
      type: 'string',
      value: 'FILE',
      help: "check arguments against this QAPI schema file instead of the connected QEMU's own schema",
      complete: 'file',
    },
    'no-validate': { type: 'boolean', help: 'send the arguments unchecked' },
    record: RECORD,
  },
  exit:
    "0 ok, 1 invalid arguments, 2 usage error, 3 connection failure or protocol error ('CODE: message'), " +
    "4 QMP error reply ('CLASS: desc').",
} as const satisfies CommandSpec;

export const EVENTS = {
  name: 'events',
  summary: 'print QMP events from a live QEMU as JSON lines',
  usage: ['(--socket PATH | --tcp HOST:PORT) [--event NAME]...'],
  description: 'Prints QMP events as JSON lines until interrupted (Ctrl-C exits 0).',
  options: {
    ...TARGET_OPTIONS,
    event: {
      type: 'string',
      short: 'e',
      multiple: true,
      value: 'NAME',
      help: "only this event (repeatable); a name the server's schema lacks gets a warning",
    },
    record: RECORD,
  },
  exit: "0 interrupted, 2 usage error, 3 connection failure or loss ('CODE: message').",
} as const satisfies CommandSpec;

export const IOTHREADS = {
  name: 'iothreads',
  summary: 'show every IOThread and who uses it (holders), once or watched',
  usage: ['(--socket PATH | --tcp HOST:PORT) [--json] [--watch [SECONDS]]'],
  description: `Shows every IOThread of a running QEMU and who uses it: devices and
objects by QOM path, block exports by node name. Where QEMU reports
holders itself (query-iothreads has 'holders') its list is shown as it
is; otherwise the holders are derived from the QOM tree, which cannot
show block exports or the monitor.`,
  options: {
    ...TARGET_OPTIONS,
    timeout: {
      type: 'string',
      value: 'MS',
      help: 'connect timeout, and the most one inspection may take, all its commands together (default 10000)',
    },
    json: {
      type: 'boolean',
      help:
        'one JSON object {"holders": "reported"|"derived", "iothreads": [IOThreadInfo...]} (with --watch, ' +
        'a line per change, with "time": the refresh\'s ISO 8601 UTC time)',
    },
    watch: {
      type: 'boolean',
      value: 'SECONDS',
      help:
        'print again whenever the picture changes, each picture headed by the time of its refresh: checks ' +
        'every SECONDS (optional, default 1) and at once on DEVICE_DELETED / BLOCK_EXPORT_DELETED; Ctrl-C stops',
    },
    derived: { type: 'boolean', help: 'derive holders from QOM even where QEMU reports them' },
  },
  exit:
    '0 ok (with --watch: interrupted), 2 usage error, 3 connection failure or loss, a reply that does ' +
    'not fit the schema, a QOM tree beyond the limits (objects, levels, bytes), or --timeout passed (it ' +
    'bounds the whole inspection), 4 QEMU refused a command (CLASS: desc).',
} as const satisfies CommandSpec;

export const EXPORTER = {
  name: 'exporter',
  summary: 'serve the IOThreads of many VMs to Prometheus (/metrics) and as a live page',
  usage: ['--listen HOST:PORT [--socket [NAME=]PATH]... [--tcp NAME=HOST:PORT]... [--socket-dir DIR]... [options]'],
  description: `Serves the IOThreads of many QEMUs and who uses them (holders): for
Prometheus at /metrics, and as a live page at /. Each scrape refreshes
every VM, concurrently, each within --timeout, and answers within
--deadline; a VM that cannot be reached is qemu_up 0 and never delays the
others. Targets: at least one --socket, --tcp or --socket-dir (each
repeatable).`,
  options: {
    listen: {
      type: 'string',
      short: 'l',
      value: 'HOST:PORT',
      help: 'where to serve HTTP (port 0: any free port)',
    },
    socket: {
      type: 'string',
      short: 's',
      multiple: true,
      value: '[NAME=]PATH',
      help: 'a QMP unix socket; the VM is named NAME, or by the file name without its extension',
      complete: 'file',
    },
    tcp: { type: 'string', short: 't', multiple: true, value: 'NAME=HOST:PORT', help: 'a QMP TCP endpoint' },
    'socket-dir': {
      type: 'string',
      short: 'd',
      multiple: true,
      value: 'DIR',
      help:
        'every unix socket in DIR is a VM (named by its file name without extension), picked up and ' +
        'dropped as sockets come and go',
      complete: 'directory',
    },
    hold: {
      type: 'boolean',
      help:
        'keep the QMP connections (reconnecting), and refresh at once on DEVICE_DELETED, ' +
        'BLOCK_EXPORT_DELETED and ACPI_DEVICE_OST; by default each refresh connects and lets go, so ' +
        'other tools can use the monitor in between',
    },
    timeout: {
      type: 'string',
      value: 'MS',
      help: "most time one VM's refresh may take, connecting included (default 5000)",
    },
    deadline: {
      type: 'string',
      value: 'MS',
      help:
        'most time a scrape waits for the refresh (default 500); VMs not refreshed by then are reported ' +
        'from their previous refresh (see qemu_exporter_snapshot_age_seconds)',
    },
    interval: { type: 'string', value: 'SECONDS', help: 'refresh period while a page is open (default 2)' },
    concurrency: { type: 'string', value: 'N', help: 'most VMs refreshed at once (default 32)' },
    'max-vms': {
      type: 'string',
      value: 'N',
      help: 'most VMs; further sockets in --socket-dir are ignored (default 1000)',
    },
  },
  exit: '0 stopped by SIGINT or SIGTERM, 2 usage error, 3 cannot listen.',
} as const satisfies CommandSpec;

export const PROBE = {
  name: 'probe',
  summary: 'ask a live QEMU what it supports (libvirt-style schema queries)',
  usage: [
    '(--socket PATH | --tcp HOST:PORT) [--timeout MS] [--json] QUERY...',
    '--introspection FILE [--json] QUERY...',
    '--schema SCHEMA.json [--define SYMBOL]... [--json] QUERY...',
  ],
  description: `Answers each QUERY from query-qmp-schema and prints 'QUERY: yes' or
'QUERY: no', in order.

A query starts at a command or event and walks its types, one step per '/':
  arg-type, ret-type   a command's arguments / reply, an event's data
  NAME                 a member of an object
  *NAME                a member that must be optional
  +VALUE               a union's branch for that tag value
  ^VALUE               an enum value (may be followed by /$FEATURE); last
  !JSONTYPE            a built-in type's JSON type (string, int, boolean,
                       number, null, value); last
  $FEATURE             a feature of the command, event or object; last
Arrays are looked through; alternates are tried branch by branch.
Example: query-iothreads/ret-type/poll-max-ns`,
  options: {
    ...TARGET_OPTIONS,
    introspection: {
      type: 'string',
      value: 'FILE',
      help: "query-qmp-schema's return value saved as JSON",
      complete: 'file',
    },
    schema: {
      type: 'string',
      value: 'SCHEMA.json',
      help: 'a QAPI schema, introspected as QEMU would',
      complete: 'file',
    },
    define: {
      type: 'string',
      multiple: true,
      value: 'SYMBOL',
      help: "with --schema: a defined 'if' symbol (repeatable; without any, every condition holds)",
    },
    json: JSON_OPTION,
  },
  exit:
    '0 every answer yes, 1 some answer no, 2 usage error, a malformed query or a bad --introspection FILE ' +
    '(unreadable, not a regular file, over 16 MiB, or not introspection data), 3 connection failure (or ' +
    'unreadable introspection data from QEMU), 4 QEMU refused query-qmp-schema.',
} as const satisfies CommandSpec;

export const SERVE = {
  name: 'serve',
  summary: 'serve QMP from a schema without QEMU (test server; --replay a recorded session)',
  usage: ['[--schema SCHEMA] (--socket PATH | --tcp HOST:PORT) [--replay TRANSCRIPT.jsonl | --simulate]'],
  description: `Serve QMP from a QAPI schema, without QEMU: greeting, capabilities
negotiation and QEMU's own checks and error messages for every command.
With --replay, commands are answered with the replies of a recorded
session (the transcript format 'qapi-ts verify' reads). With --simulate,
it behaves like a QEMU 11.1 with IOThread holder tracking: IOThreads,
devices, block nodes, NBD exports and their holders, starting with
IOThreads io0 and io1, four devices and an export (free for hotplug: root
ports rp4 to rp7, block node disk3). Ctrl-C stops it.`,
  options: {
    schema: {
      type: 'string',
      value: 'SCHEMA',
      help: "the QAPI schema to serve (default: qapi-ts's own qapi/)",
      complete: 'file',
    },
    socket: {
      type: 'string',
      short: 's',
      value: 'PATH',
      help: 'listen on this unix socket (replaced if it is one)',
      complete: 'file',
    },
    tcp: { type: 'string', short: 't', value: 'HOST:PORT', help: 'listen on this TCP address (port 0: any free port)' },
    replay: { type: 'string', value: 'FILE', help: 'answer from this recorded session', complete: 'file' },
    simulate: { type: 'boolean', help: 'simulate a QEMU with IOThread holder tracking' },
    'greet-version': {
      type: 'string',
      value: 'X.Y.Z',
      help:
        'the QEMU version in the greeting and query-version (default: the recorded one with --replay, ' +
        "11.1.0 with --simulate over a schema with QEMU 11.1's IOThreadInfo, else 10.1.0)",
    },
    'qemu-version': {
      type: 'string',
      value: 'V',
      help:
        'refused: elsewhere it names the schema rules release; the greeting version is --greet-version ' +
        '(serve reads its schema leniently, whatever the release)',
    },
  },
  exit:
    '0 stopped by SIGINT or SIGTERM, 1 invalid schema or transcript (or a schema without the commands ' +
    '--simulate needs), 2 usage error, 3 cannot listen.',
} as const satisfies CommandSpec;

/** Writes shell completion (completion.ts). */
export const COMPLETION = {
  name: 'completion',
  summary: 'print a shell completion script (bash, zsh or fish)',
  usage: ['bash|zsh|fish'],
  description: `Print a completion script for the shell named, made from the same
tables the commands parse their options with. For example:
  bash: source <(qapi-ts completion bash)      (or into ~/.bashrc)
  zsh:  source <(qapi-ts completion zsh)       (after compinit)
  fish: qapi-ts completion fish > ~/.config/fish/completions/qapi-ts.fish`,
  options: {},
  exit: '0 ok, 2 usage error (no shell or an unknown one).',
} as const satisfies CommandSpec;

/** Every command, in the order the top-level help lists them. */
export const COMMAND_SPECS: readonly CommandSpec[] = [
  CHECK,
  DUMP,
  GENERATE,
  VERIFY,
  EXEC,
  EVENTS,
  IOTHREADS,
  EXPORTER,
  PROBE,
  SERVE,
  COMPLETION,
];

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
