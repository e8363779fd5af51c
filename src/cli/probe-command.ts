/**
 * `qapi-ts probe`: ask a QEMU (or saved introspection data, or a QAPI
 * schema) what it supports, with libvirt-style queries.
 */
import { QmpClient } from '../runtime/client.js';
import { isIntrospectionError } from '../runtime/errors.js';
import { IntrospectedSchema } from '../runtime/introspection.js';
import { parseJson } from '../runtime/json.js';
import { parseProbeQuery } from '../runtime/probe-query.js';
import { probeAll } from '../runtime/probe.js';
import { printableJson } from './printable.js';
import { INTROSPECTION_FILE, isInputFileError, readInputText } from '../read-file.js';
import { PROBE } from './commands.js';
import { exitStatusFor, parseCommand, processIO, UsageError, type CommandIO } from './kit.js';
import { parseTarget } from './target.js';

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

/**
 * `probe` with --json prints one document: `{"status", "answers":
 * [{"query", "supported"}...] | null, "error": "..." | null}`.
 */
export async function runProbe(argv: string[], io: CommandIO = processIO): Promise<number> {
  const parsed = parseCommand(PROBE, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const json = values.json === true;
  const errors: string[] = [];
  const out: CommandIO = json ? { stdout: () => {}, stderr: (t) => void errors.push(t.replace(/\n$/, '')) } : io;
  let answers: boolean[] | undefined;
  let status: number;
  try {
    answers = await probe(values, positionals);
    if (!json) positionals.forEach((q, i) => io.stdout(`${q}: ${answers![i] ? 'yes' : 'no'}\n`));
    status = answers.every(Boolean) ? 0 : 1;
  } catch (e) {
    // Our own usage text as it is; anything else may quote the server: escaped, see printable.ts.
    status = exitStatusFor('probe', e, out);
  }
  if (json) {
    const doc = {
      status,
      answers: answers?.map((supported, i) => ({ query: positionals[i], supported })) ?? null,
      error: errors.length > 0 ? errors.join('\n') : null,
    };
    io.stdout(`${printableJson(JSON.stringify(doc))}\n`);
  }
  return status;
}

type Values = {
  socket?: string;
  tcp?: string;
  timeout?: string;
  introspection?: string;
  schema?: string;
  define?: string[];
};

async function probe(values: Values, positionals: string[]): Promise<boolean[]> {
  const sources = [values.socket, values.tcp, values.introspection, values.schema].filter((v) => v !== undefined);
  if (sources.length !== 1) {
    throw new UsageError(
      "give exactly one of --socket, --tcp, --introspection or --schema (see 'qapi-ts probe --help')",
    );
  }
  if (values.define && values.schema === undefined) throw new UsageError('--define needs --schema');
  if (positionals.length === 0) throw new UsageError("expected at least one QUERY (see 'qapi-ts probe --help')");
  for (const q of positionals) parseProbeQuery(q);

  if (values.introspection !== undefined) {
    const file = values.introspection;
    try {
      return await probeAll(readIntrospection(file), positionals);
    } catch (e) {
      // Found while probing (a dangling type, say) or at load: either way
      // the file is bad input, exit 2 (3 is for data from a live QEMU).
      if (isIntrospectionError(e)) throw new UsageError(`--introspection ${file}: ${e.message}`);
      throw e;
    }
  }
  if (values.schema !== undefined) {
    return probeAll(await introspectSchemaFile(values.schema, values.define), positionals);
  }
  const { target, timeout } = parseTarget(values);
  await using qmp = await QmpClient.connect(target, { timeout });
  return await probeAll(qmp, positionals, { timeout });
}
