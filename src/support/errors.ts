/** The error generated validators report through the typed client. */
import type { z } from 'zod';

export type ValidationTarget = 'arguments' | 'reply' | 'event';

export interface ValidationProblem {
  /** Member path inside the validated value (`holders[0].type`), '' for the value itself. */
  readonly path: string;
  readonly message: string;
}

/** Formats a zod issue path as a member path: `a.b[0]['odd key']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const LONG_PATH = 160;

/**
 * A member path for messages: a path longer than 160 characters (a value
 * nested hundreds of levels deep) is shown by its start and end.
 */
export function shortPath(path: string): string {
  if (path.length <= LONG_PATH) return path;
  const keep = LONG_PATH / 2 - 10;
  return `${path.slice(0, keep)}…(${path.length - 2 * keep} characters)…${path.slice(-keep)}`;
}

export function problemsOf(error: z.ZodError): ValidationProblem[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

export class QapiValidationError extends Error {
  override readonly name = 'QapiValidationError';
  readonly code = 'QAPI_VALIDATION_ERROR';
  constructor(
    /** What was being checked. */
    readonly target: ValidationTarget,
    /** The command or event name. */
    readonly subject: string,
    readonly problems: readonly ValidationProblem[],
  ) {
    const what =
      target === 'event' ? `event '${subject}'` : `${target === 'reply' ? 'reply to' : 'arguments of'} '${subject}'`;
    const list = problems.map((p) => (p.path ? `${shortPath(p.path)}: ${p.message}` : p.message)).join('; ');
    super(`invalid ${what}: ${list}`);
  }
}

export function isQapiValidationError(value: unknown): value is QapiValidationError {
  return value instanceof QapiValidationError;
}
