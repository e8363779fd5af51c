/**
 * Argument checking for `qapi-ts exec`, from the generated code for our
 * own schema (generated/). Arguments of commands the schema knows are
 * checked strictly; commands it does not know are passed through untouched.
 * Loaded only when `exec` runs, so other subcommands never pay for zod.
 */
import { formatPath } from '../support/errors.js';

/** Returns why `args` are invalid for `command`, or undefined when fine or unknown. */
export type ArgumentChecker = (command: string, args: Record<string, unknown> | undefined) => string | undefined;

export async function loadArgumentChecker(): Promise<ArgumentChecker> {
  const { commands } = await import('../../generated/index.js');
  return (command, args) => {
    if (!Object.hasOwn(commands, command)) return undefined;
    const schema = commands[command]?.args ?? null;
    if (schema === null) {
      const keys = Object.keys(args ?? {});
      return keys.length === 0 ? undefined : `takes no arguments, got ${keys.map((k) => `'${k}'`).join(', ')}`;
    }
    const result = schema.safeParse(args ?? {});
    if (result.success) return undefined;
    return result.error.issues
      .map((issue) => (issue.path.length ? `${formatPath(issue.path)}: ${issue.message}` : issue.message))
      .join('; ');
  };
}
