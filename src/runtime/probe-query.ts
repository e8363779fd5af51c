/**
 * The grammar of schema probe queries (libvirt's notation for asking
 * `query-qmp-schema` whether QEMU supports something), parsed before any
 * data is looked at, so a malformed query is an error and never a "no".
 *
 * ```
 * query   = entry *( "/" step )
 * entry   = plain-name                  ; a command or event, e.g. query-iothreads
 * step    = plain-name                  ; command/event: arg-type or ret-type; object: a member
 *         | " " name                    ; the same (libvirt's escape for odd first characters)
 *         | "*" name                    ; object: a member that must be optional
 *         | "+" name                    ; object: the union branch for this tag value
 *         | "^" name [ "/" "$" name ]   ; enum: this value [and this feature of it]; last
 *         | "!" json-type               ; built-in type: its JSON type; last
 *         | "$" name                    ; command, event or object: this feature; last
 * plain-name = ( ALPHA / "_" ) *namechar
 * name       = 1*namechar
 * namechar   = ALPHA / DIGIT / "_" / "-" / "."
 * json-type  = "string" / "number" / "int" / "boolean" / "null" / "object" / "array" / "value"
 * ```
 *
 * Only the six characters `* + ^ ! $` and space are modifiers. libvirt
 * drops *any* non-letter first character as a modifier, which turns a
 * downstream name such as `__com.redhat_foo` into `_com.redhat_foo`;
 * here a step starting with a letter or `_` is always a plain name, so
 * downstream (`__RFQDN_`) names work as written. Names are QAPI names
 * (letters, digits, `_`, `-`, `.`), so a typo such as a stray space or a
 * `#` is reported instead of silently answering "no".
 *
 * Malformed: an empty query or step, a modifier without a name, a
 * character outside the grammar, a first step with a modifier, an unknown
 * JSON type, anything after a `$` or `!` step or after `^value/$feature`,
 * and more than MAX_PROBE_STEPS steps. libvirt notices a terminal step
 * with followers only when the data leads there; this grammar always does.
 */
import { ProbeQueryError } from './errors.js';

/** What a step asks for (see the grammar above). */
export type ProbeStepKind = 'member' | 'optional' | 'branch' | 'value' | 'json-type' | 'feature';

export interface ProbeStep {
  readonly kind: ProbeStepKind;
  /** The name without its modifier. */
  readonly name: string;
}

export interface ProbeQuery {
  /** The query as written. */
  readonly text: string;
  /** First step: the command or event the query starts from. */
  readonly entry: string;
  readonly steps: readonly ProbeStep[];
}

/** The JSON types built-in types can have in introspection (SchemaInfoBuiltin). */
export const INTROSPECTION_JSON_TYPES: ReadonlySet<string> = new Set([
  'string',
  'number',
  'int',
  'boolean',
  'null',
  'object',
  'array',
  'value',
]);

/** No real schema nests anywhere near this deep; longer queries are typos or attacks. */
export const MAX_PROBE_STEPS = 100;

const MODIFIERS: Readonly<Record<string, ProbeStepKind>> = {
  ' ': 'member',
  '*': 'optional',
  '+': 'branch',
  '^': 'value',
  '!': 'json-type',
  $: 'feature',
};

const NAME = /^[A-Za-z0-9_.-]+$/;
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function describeChar(text: string): string {
  const bad = [...text].find((c) => !/[A-Za-z0-9_.-]/.test(c)) ?? text[0] ?? '';
  return JSON.stringify(bad);
}

/** Parses `text`; throws a ProbeQueryError naming the offending step. */
export function parseProbeQuery(text: string): ProbeQuery {
  const fail = (step: number | null, reason: string): never => {
    throw new ProbeQueryError(text, step, reason);
  };
  if (typeof text !== 'string') return fail(null, 'not a string');
  if (text === '') return fail(null, 'empty query');
  const parts = text.split('/');
  if (parts.length > MAX_PROBE_STEPS + 1) fail(null, `more than ${MAX_PROBE_STEPS} steps after the entry name`);
  const entry = parts[0] as string;
  if (entry === '') fail(0, 'empty command or event name');
  if (!PLAIN_NAME.test(entry)) {
    if (Object.hasOwn(MODIFIERS, entry.charAt(0)))
      fail(0, `the first step names a command or event; modifier '${entry[0]}' is not allowed here`);
    fail(0, `${describeChar(entry)} is not allowed in a command or event name`);
  }
  const steps: ProbeStep[] = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '') fail(i, 'empty step');
    const modifier = Object.hasOwn(MODIFIERS, part.charAt(0)) ? MODIFIERS[part.charAt(0)] : undefined;
    let step: ProbeStep;
    if (modifier === undefined) {
      if (!PLAIN_NAME.test(part))
        fail(
          i,
          `${describeChar(part)} is not allowed here` +
            " (names are letters, digits, '_', '-' and '.'; modifiers are * + ^ ! $)",
        );
      step = { kind: 'member', name: part };
    } else {
      const name = part.slice(1);
      if (name === '') fail(i, `'${part[0]}' without a name`);
      if (!NAME.test(name)) fail(i, `${describeChar(name)} is not allowed in a name`);
      if (modifier === 'json-type' && !INTROSPECTION_JSON_TYPES.has(name)) {
        fail(i, `unknown JSON type '${name}' (one of ${[...INTROSPECTION_JSON_TYPES].join(', ')})`);
      }
      step = { kind: modifier, name };
    }
    const previous = steps[steps.length - 1];
    if (previous?.kind === 'feature' || previous?.kind === 'json-type') {
      fail(i, `nothing may follow the terminal step '${parts[i - 1]}'`);
    }
    if (previous?.kind === 'value' && step.kind !== 'feature') {
      fail(i, `only a '$feature' step may follow the enum value step '${parts[i - 1]}'`);
    }
    steps.push(step);
  }
  return { text, entry, steps };
}
