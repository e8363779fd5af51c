/**
 * The words for validation problems: one wording shared by
 * `QapiValidationError` (the typed client) and `verify` (recorded
 * sessions), so the same fault reads the same wherever it is found.
 */
import type { z } from 'zod';
import { previewJson } from '../runtime/json.js';

/** What kind of fault a problem is (for tools that act on it, like the older-QEMU hint). */
export type ProblemKind = 'missing-member' | 'unknown-member' | 'wrong-type' | 'unexpected-value' | 'other';

export interface ValidationProblem {
  /** Member path inside the validated value (`holders[0].type`), '' for the value itself. */
  readonly path: string;
  readonly message: string;
  readonly kind?: ProblemKind;
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

/** `prefix` and a member path below it: `return` + `[0].id` → `return[0].id`. */
export function joinPath(prefix: string, path: string): string {
  if (prefix === '') return path;
  if (path === '') return prefix;
  return path.startsWith('[') ? prefix + path : `${prefix}.${path}`;
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SHOWN_CHARS = 40;

/**
 * JSON text of `value`, cut to `SHOWN_CHARS` characters (the runtime's
 * preview writer stops once it has that many, whatever the depth).
 */
export function shortJson(value: unknown): string {
  const out = previewJson(value, SHOWN_CHARS);
  return out.length > SHOWN_CHARS ? `${out.slice(0, SHOWN_CHARS - 3)}...` : out;
}

/** A short description of a JSON value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (isObject(value)) return 'an object';
  const shown = shortJson(value);
  switch (typeof value) {
    case 'string':
      return `string ${shown}`;
    case 'number':
    case 'bigint':
      return `number ${shown}`;
    default:
      return shown;
  }
}

const MAX_LISTED_VALUES = 10;

function listValues(values: readonly unknown[]): string {
  const shown = values.slice(0, MAX_LISTED_VALUES).map((v) => shortJson(v));
  const more = values.length > MAX_LISTED_VALUES ? `, … (${values.length - MAX_LISTED_VALUES} more)` : '';
  return shown.join(', ') + more;
}

/** The value at `path` inside `root`, or `present: false` when a member is absent. */
function valueAt(root: unknown, path: readonly PropertyKey[]): { present: boolean; value: unknown } {
  let value = root;
  for (const key of path) {
    if (Array.isArray(value) && typeof key === 'number') {
      if (key >= value.length) return { present: false, value: undefined };
      value = value[key];
    } else if (isObject(value) && typeof key === 'string') {
      if (!Object.hasOwn(value, key)) return { present: false, value: undefined };
      value = value[key];
    } else {
      return { present: false, value: undefined };
    }
  }
  return { present: true, value };
}

type Issue = z.core.$ZodIssue;

/** One validator issue in our words; `root` is the value that was validated. */
function issueProblems(issue: Issue, root: unknown): ValidationProblem[] {
  const path = issue.path as readonly PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      path: formatPath([...path, key]),
      message: 'unknown member',
      kind: 'unknown-member' as const,
    }));
  }
  const at = valueAt(root, path);
  const where = formatPath(path);
  if (!at.present && path.length > 0)
    return [{ path: where, message: 'missing mandatory member', kind: 'missing-member' }];
  switch (issue.code) {
    case 'invalid_type':
      return [
        { path: where, message: `expected ${issue.expected}, got ${describeValue(at.value)}`, kind: 'wrong-type' },
      ];
    case 'invalid_value':
      return [
        {
          path: where,
          message: `unexpected ${describeValue(at.value)}; expected one of ${listValues(issue.values)}`,
          kind: 'unexpected-value',
        },
      ];
    default:
      return [{ path: where, message: issue.message, kind: 'other' }];
  }
}

/** The problems of a failed validation of `value`, in the words both the client and `verify` use. */
export function problemsOf(error: z.ZodError, value: unknown): ValidationProblem[] {
  return error.issues.flatMap((issue) => issueProblems(issue, value));
}

/** A value too deep for the stack left to validate (see safeParseOnStack). */
export function tooDeepToValidate(limit: number): ValidationProblem {
  return {
    path: '',
    message: `nested too deeply to validate with the stack left (limit: ${limit} levels)`,
    kind: 'other',
  };
}

/**
 * Whether problems in what a QEMU sent look like a QEMU older than the
 * schema: a member it does not send yet, or an enum value later dropped.
 */
export function suggestsOlderQemu(problems: readonly ValidationProblem[]): boolean {
  return problems.some((p) => p.kind === 'missing-member' || p.kind === 'unexpected-value');
}

/** What to do about it (see suggestsOlderQemu). */
export const OLDER_QEMU_HINT =
  'if the QEMU is older than the schema, generate with --oldest-schema FILE (library: oldestSchema) ' +
  'so its messages are accepted';
