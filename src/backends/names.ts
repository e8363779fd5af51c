/**
 * QAPI names → TypeScript names. All escaping happens here.
 *
 * QAPI names may contain '-' and '.', start with '__' (downstream
 * extensions), be TypeScript keywords, or differ only in punctuation
 * (`query-foo` / `query_foo`). Identifiers are made unique through a
 * `NameTable`: whoever asks first gets the plain name, later clashing
 * requests get `_2`, `_3`… in request order, which is schema order, so
 * the result is deterministic.
 */

/** Words that cannot name a type, a binding or (for `class`) a member. */
const RESERVED = new Set([
  // JavaScript reserved words and strict-mode restrictions
  'break',
  'case',
  'catch',
  'class',
  'const',
  'continue',
  'debugger',
  'default',
  'delete',
  'do',
  'else',
  'enum',
  'export',
  'extends',
  'false',
  'finally',
  'for',
  'function',
  'if',
  'import',
  'in',
  'instanceof',
  'new',
  'null',
  'return',
  'super',
  'switch',
  'this',
  'throw',
  'true',
  'try',
  'typeof',
  'var',
  'void',
  'while',
  'with',
  'implements',
  'interface',
  'let',
  'package',
  'private',
  'protected',
  'public',
  'static',
  'yield',
  'await',
  'arguments',
  'eval',
  // TypeScript built-in type names
  'any',
  'unknown',
  'never',
  'object',
  'string',
  'number',
  'boolean',
  'bigint',
  'symbol',
  'undefined',
  'type',
  'Array',
  'Record',
  'Omit',
  'Partial',
  'Readonly',
  'Promise',
  'Object',
  'String',
  'Number',
  'Boolean',
  'Function',
  'Error',
  'Map',
  'Set',
  'Date',
  'JSON',
]);

/**
 * Method names a generated client must never have, whatever the commands
 * are called: what every object inherits (`constructor`, `toString`,
 * `valueOf`… a command `to-string` would otherwise break `String(client)`),
 * `then` (a client with a `then` method is a thenable: `await` would call
 * it instead of yielding the client) and `toJSON` (called by
 * `JSON.stringify`). A command wanting one of these gets the next free
 * suffix like any other clash: `then_2`, `toString_2`…
 */
export const RESERVED_METHODS: readonly string[] = [
  'constructor',
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  'toString',
  'valueOf',
  'then',
  'toJSON',
];

/** Turns any QAPI name into a valid identifier (not yet unique). */
export function safeIdentifier(name: string): string {
  let id = name.replace(/[^A-Za-z0-9_$]/g, '_');
  if (id === '' || /^[0-9]/.test(id)) id = `_${id}`;
  if (RESERVED.has(id)) id = `${id}_`;
  return id;
}

function words(name: string): { lead: string; parts: string[] } {
  const lead = /^_*/.exec(name)?.[0] ?? '';
  const parts = name
    .slice(lead.length)
    .split(/[-_.]+/)
    .filter((p) => p !== '');
  return { lead, parts };
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** `query-iothreads` → `QueryIothreads`, `BLOCK_JOB_READY` → `BlockJobReady`. */
export function pascalCase(name: string): string {
  const { parts } = words(name);
  const allCaps = name === name.toUpperCase();
  return parts.map((p) => capitalize(allCaps ? p.toLowerCase() : p)).join('');
}

/**
 * `query-iothreads` → `queryIothreads`, `qmp_capabilities` →
 * `qmpCapabilities`; leading underscores (downstream names) are kept.
 */
export function camelCase(name: string): string {
  const { lead, parts } = words(name);
  const [first = '', ...rest] = parts;
  return lead + first + rest.map(capitalize).join('');
}

/**
 * A property key: bare when it is an identifier, else single-quoted.
 * `__proto__` is computed (`['__proto__']`): in an object literal the
 * plain key would set the prototype instead of making a member.
 */
export function propertyKey(name: string): string {
  if (name === '__proto__') return `[${quote(name)}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : quote(name);
}

/** A single-quoted TypeScript string literal. */
export function quote(text: string): string {
  if (!/['\\\n]/.test(text)) return `'${text}'`;
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** Hands out unique identifiers in request order. */
export class NameTable {
  private readonly taken = new Set<string>();

  constructor(reserved: Iterable<string> = []) {
    for (const name of reserved) this.taken.add(name);
  }

  /** `wanted` if free, else `wanted_2`, `wanted_3`… */
  claim(wanted: string): string {
    let name = wanted;
    for (let n = 2; this.taken.has(name); n++) name = `${wanted}_${n}`;
    this.taken.add(name);
    return name;
  }
}

/** Output file (without `.ts`) for a QAPI module name. */
export function moduleFileName(module: string): string {
  if (module === './builtin') return 'builtin';
  const base = module
    .replace(/\.json$/, '')
    .split('/')
    .filter((part) => part !== '..' && part !== '.' && part !== '')
    .join('-');
  return base.replace(/[^A-Za-z0-9_-]/g, '_') || 'module';
}
