/**
 * Argument checking for `qapi-ts exec --schema FILE`, from the validators
 * generated for that schema. Arguments of commands the schema knows are
 * checked strictly; commands it does not know are passed through untouched.
 * Loaded only when `exec --schema` runs, so other runs never pay for zod.
 * (Without --schema, exec checks against the server's own schema:
 * introspection/arguments.ts.)
 */
import { problemsOf } from '../support/problems.js';

/** Returns why `args` are invalid for `command`, or undefined when fine or unknown. */
export type ArgumentChecker = (command: string, args: Record<string, unknown> | undefined) => string | undefined;

export async function loadArgumentChecker(schemaFile: string): Promise<ArgumentChecker> {
  const { loadValidators } = await import('../backends/load.js');
  const { isQapiError } = await import('../frontend/errors.js');
  let commands;
  try {
    commands = (await loadValidators(schemaFile, { lenientDocs: true })).validatorSet(true).commands;
  } catch (e) {
    if (isQapiError(e)) throw new SchemaFileError(`--schema: cannot use ${schemaFile}:\n${e.format()}`);
    const err = e as NodeJS.ErrnoException;
    if (typeof err?.code === 'string' && !err.code.startsWith('QMP_'))
      throw new SchemaFileError(`--schema: cannot read ${schemaFile}: ${err.message}`);
    throw e;
  }
  return (command, args) => {
    if (!Object.hasOwn(commands, command)) return undefined;
    const schema = commands[command]?.args ?? null;
    if (schema === null) {
      const keys = Object.keys(args ?? {});
      return keys.length === 0 ? undefined : `takes no arguments, got ${keys.map((k) => `'${k}'`).join(', ')}`;
    }
    const result = schema.safeParse(args ?? {});
    if (result.success) return undefined;
    // The words QapiValidationError and verify use for the same problems.
    return problemsOf(result.error, args ?? {})
      .map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`))
      .join('; ');
  };
}

/** The --schema file cannot be read or is not a valid schema (a usage error). */
export class SchemaFileError extends Error {}
