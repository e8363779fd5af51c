/** The error generated validators report through the typed client. */
import { OLDER_QEMU_HINT, shortPath, suggestsOlderQemu, type ValidationProblem } from './problems.js';

export { formatPath, problemsOf, shortPath, type ProblemKind, type ValidationProblem } from './problems.js';

export type ValidationTarget = 'arguments' | 'reply' | 'event';

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
    // What QEMU sent lacks what the schema has: the likely cause is its age.
    const hint = target !== 'arguments' && suggestsOlderQemu(problems) ? ` (${OLDER_QEMU_HINT})` : '';
    super(`invalid ${what}: ${list}${hint}`);
  }
}

export function isQapiValidationError(value: unknown): value is QapiValidationError {
  return value instanceof QapiValidationError;
}
