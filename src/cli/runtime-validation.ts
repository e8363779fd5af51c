/**
 * Argument checking for `qapi-ts exec`, from the generated code for our
 * own schema (generated/index.ts). Commands the schema does not know are
 * passed through untouched; so is everything when the generated code is
 * not there (a checkout before `npm run generate`).
 */

interface SafeParser {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

interface GeneratedIndex {
  commands: Readonly<Record<string, { args: SafeParser | null } | undefined>>;
}

/** Returns why `args` are invalid for `command`, or undefined when fine or unknown. */
export type ArgumentChecker = (command: string, args: Record<string, unknown> | undefined) => string | undefined;

// A variable specifier: the generated index may not exist at build time.
const GENERATED_INDEX = '../../generated/index.js';

export async function loadArgumentChecker(): Promise<ArgumentChecker | undefined> {
  let index: GeneratedIndex;
  try {
    index = (await import(GENERATED_INDEX)) as GeneratedIndex;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
  if (typeof index.commands !== 'object' || index.commands === null) return undefined;
  return (command, args) => checkArguments(index, command, args);
}

function checkArguments(index: GeneratedIndex, command: string, args: Record<string, unknown> | undefined): string | undefined {
  if (!Object.hasOwn(index.commands, command)) return undefined;
  const schema = index.commands[command]?.args ?? null;
  if (schema === null) {
    const keys = Object.keys(args ?? {});
    return keys.length === 0 ? undefined : `takes no arguments, got ${keys.map((k) => `'${k}'`).join(', ')}`;
  }
  const result = schema.safeParse(args ?? {});
  if (result.success) return undefined;
  return result.error.issues
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
