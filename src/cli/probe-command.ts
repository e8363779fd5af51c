/**
 * `qapi-ts probe`: ask a QEMU (or saved introspection data, or a QAPI
 * schema) what it supports, with libvirt-style queries.
 */
import { QmpClient } from '../runtime/client.js';
import { isIntrospectionError, isProbeQueryError, isQmpCommandError, isQmpError } from '../runtime/errors.js';
import { IntrospectedSchema } from '../runtime/introspection.js';
import { parseJson } from '../runtime/json.js';
import { parseProbeQuery } from '../runtime/probe-query.js';
import { probeAll } from '../runtime/probe.js';
import { printableError } from './printable.js';
import { INTROSPECTION_FILE, isInputFileError, readInputText } from '../read-file.js';
import { common, parse, TARGET_OPTIONS, UsageError } from './runtime-commands.js';

const PROBE_USAGE = `usage: qapi-ts probe (--socket PATH | --tcp HOST:PORT) [--timeout MS] QUERY...
       qapi-ts probe --introspection FILE QUERY...
       qapi-ts probe --schema SCHEMA.json [--define SYMBOL]... QUERY...

Answers each QUERY from query-qmp-schema and prints 'QUERY: yes' or
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
Example: query-iothreads/ret-type/poll-max-ns

options:
  -s, --socket PATH         QMP unix socket
  -t, --tcp HOST:PORT       QMP TCP endpoint
      --timeout MS          connect and reply timeout (default 10000)
      --introspection FILE  query-qmp-schema's return value saved as JSON
      --schema SCHEMA.json  a QAPI schema, introspected as QEMU would
      --define SYMBOL       with --schema: a defined 'if' symbol (repeatable;
                            without any, every condition holds)
  -h, --help                this text

exit status: 0 every answer yes, 1 some answer no, 2 bad usage, a
malformed query or a bad --introspection FILE (unreadable, not a regular
file, over 16 MiB, or not introspection data), 3 connection failure (or
unreadable introspection data from QEMU), 4 QEMU refused query-qmp-schema.
`;

type Values = {
  socket?: string;
  tcp?: string;
  timeout?: string;
  introspection?: string;
  schema?: string;
  define?: string[];
  help?: boolean;
};

/** Introspection data from a file: the array itself or a `{"return": [...]}` reply. */
function readIntrospection(file: string): IntrospectedSchema {
  let data: unknown;
  try {
    // Only a regular file of at most 16 MiB is read.
    const text = readInputText(file, INTROSPECTION_FILE);
    data = parseJson(text);
  } catch (e) {
    throw new UsageError(`--introspection ${file}: ${isInputFileError(e) ? e.reason : (e as Error).message}`);
  }
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && 'return' in data) {
    data = (data as { return: unknown }).return;
  }
  try {
    return new IntrospectedSchema(data);
  } catch (e) {
    throw new UsageError(`--introspection ${file}: ${(e as Error).message}`);
  }
}

async function introspectSchemaFile(file: string, defines: string[] | undefined): Promise<IntrospectedSchema> {
  const [{ parseSchema, isQapiError }, { generateIntrospection }] = await Promise.all([
    import('../frontend/index.js'),
    import('../backends/introspect.js'),
  ]);
  try {
    const schema = parseSchema(file, { lenientDocs: true, onWarning: () => {} });
    return new IntrospectedSchema(generateIntrospection(schema, { defines }));
  } catch (e) {
    if (isQapiError(e)) throw new UsageError(`--schema ${file}:\n${e.message}`);
    throw e;
  }
}

export async function runProbe(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(
      argv,
      {
        ...TARGET_OPTIONS,
        introspection: { type: 'string' },
        schema: { type: 'string' },
        define: { type: 'string', multiple: true },
      },
      PROBE_USAGE,
    ) as { values: Values; positionals: string[] };
    if (values.help) {
      process.stdout.write(PROBE_USAGE);
      return 0;
    }
    const sources = [values.socket, values.tcp, values.introspection, values.schema].filter((v) => v !== undefined);
    if (sources.length !== 1) {
      throw new UsageError(`give exactly one of --socket, --tcp, --introspection or --schema\n${PROBE_USAGE}`);
    }
    if (values.define && values.schema === undefined) throw new UsageError('--define needs --schema');
    if (positionals.length === 0) throw new UsageError(`expected at least one QUERY\n${PROBE_USAGE}`);
    for (const q of positionals) parseProbeQuery(q);

    let answers: boolean[];
    if (values.introspection !== undefined) {
      const file = values.introspection;
      try {
        answers = await probeAll(readIntrospection(file), positionals);
      } catch (e) {
        // Found while probing (a dangling type, say) or at load: either way
        // the file is bad input, exit 2 (3 is for data from a live QEMU).
        if (isIntrospectionError(e)) throw new UsageError(`--introspection ${file}: ${e.message}`);
        throw e;
      }
    } else if (values.schema !== undefined) {
      answers = await probeAll(await introspectSchemaFile(values.schema, values.define), positionals);
    } else {
      const { target, timeout } = common(values);
      await using qmp = await QmpClient.connect(target, { timeout });
      answers = await probeAll(qmp, positionals, { timeout });
    }
    positionals.forEach((q, i) => process.stdout.write(`${q}: ${answers[i] ? 'yes' : 'no'}\n`));
    return answers.every(Boolean) ? 0 : 1;
  } catch (e) {
    // Our own usage text as it is; anything else may quote the server: escaped, see printable.ts.
    process.stderr.write(`qapi-ts probe: ${e instanceof UsageError ? e.message : printableError(e)}\n`);
    if (e instanceof UsageError || isProbeQueryError(e)) return 2;
    if (isQmpCommandError(e)) return 4;
    if (isIntrospectionError(e) || isQmpError(e)) return 3;
    throw e;
  }
}
