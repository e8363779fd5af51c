/**
 * Text from a peer (IOThread ids, QOM paths, error descriptions, anything
 * a server or a file chose), made safe to show to a person on a terminal.
 *
 * A terminal obeys control characters: a server could move the cursor and
 * overwrite rows of a table, retitle the window, or (with bidi overrides)
 * make text read in another order than it is. So every character of these
 * kinds is shown as an escape instead: `\x1b`, `\x9b`, `\u202e`:
 *
 *  - C0 controls U+0000–U+001F (newline and tab included: one value must
 *    not become two lines or cells) and DEL U+007F;
 *  - C1 controls U+0080–U+009F (U+009B is a CSI on many terminals);
 *  - the line and paragraph separators U+2028, U+2029;
 *  - bidi marks and overrides: U+061C, U+200E, U+200F, U+202A–U+202E,
 *    U+2066–U+2069.
 *
 * Everything else is left as it is, backslashes included. JSON output needs
 * `printableJson` only: JSON already escapes C0 controls.
 */

// Matching control characters is the point: they are what gets escaped.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function hex(c: string, width: number): string {
  return c.charCodeAt(0).toString(16).padStart(width, '0');
}

/** `text` with every control, separator and bidi character written as an escape (`\x1b`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/**
 * JSON text (from stringifyJson or JSON.stringify) with DEL, C1, separator
 * and bidi characters written as `\uXXXX`: the same JSON value, safe on a
 * terminal. (Those characters can only occur inside strings.)
 */
export function printableJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/** Longest error message shown (a hostile reply can make one of megabytes). */
const MAX_MESSAGE = 4096;

/** An error's message (or the value as text), made printable, cut after 4096 characters. */
export function printableError(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const cut =
    text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE)}… (${text.length - MAX_MESSAGE} more characters)`;
  return printable(cut);
}
