/**
 * Exact JSON for QMP.
 *
 * QEMU speaks 64-bit integers (`uint64`, `size`…) which `JSON.parse` rounds
 * to the nearest double. `parseJson` keeps them exact:
 *   - an integer literal within ±(2^53−1) becomes a `number`;
 *   - an integer literal beyond that becomes a `bigint`;
 *   - any literal with a fraction or exponent becomes a `number`.
 *
 * Objects never get a prototype from the data: a `__proto__` key is dropped
 * (QMP has no member of that name), so later copies (`Object.assign`,
 * `obj[key] = value` in validators) cannot change a prototype.
 *
 * Depth: arrays and objects may nest at most 1024 levels (`MAX_JSON_DEPTH`),
 * QEMU's own limit (MAX_NESTING in its JSON streamer); deeper text is a
 * `JsonParseError`. Neither parsing nor writing recurses on the data, so
 * no input can overflow the stack.
 *
 * Fast path: when the text has no `__proto__` and no `\u` escape (which
 * could spell it), it goes to `JSON.parse`, and the depth is checked on
 * the result (a walk of its containers, a fraction of the cost of scanning
 * the text's characters), unless the text is too short to nest too deep
 * (under 2 × 1025 characters). Text longer than `PARSE_FIRST_LIMIT` has
 * its brackets scanned before `JSON.parse` instead: V8 parses deeply
 * nested text several times slower than flat text, so a hostile peer's
 * deep message is refused before it is parsed. Where the text has a run
 * of 16+ digits (an integer that may be beyond 2^53), such integer
 * literals are rewritten as marked strings for `JSON.parse` and turned
 * into bigints in the same walk (parseWithBigInts). Whatever that path
 * cannot take, or JSON.parse refuses, a small exact parser reads.
 *
 * Bad input throws `JsonParseError` (code `QMP_ERR_JSON`), never anything
 * else.
 */
import { JsonParseError } from './errors.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

// 16 digits can exceed 2^53−1 (9007199254740991); 15 never do.
const LONG_DIGIT_RUN = /\d{16}/;
/** Deepest nesting of arrays and objects QEMU's JSON parser accepts, and so do we. */
export const MAX_JSON_DEPTH = 1024;

export interface ParseJsonOptions {
  /**
   * Deepest nesting accepted (default MAX_JSON_DEPTH). Only for text that
   * wraps QMP messages, such as a transcript line, which adds its own
   * levels; the parser never recurses, so depth costs only memory.
   */
  maxDepth?: number;
}

/**
 * Longest text whose depth is checked after `JSON.parse` rather than
 * before it (see the file comment): at most a fraction of a second of
 * parsing for a message that is then refused for its depth.
 */
export const PARSE_FIRST_LIMIT = 512 * 1024;

export function parseJson(text: string, options: ParseJsonOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  if (!text.includes('__proto__') && !text.includes('\\u')) {
    const canNest = text.length >= 2 * (maxDepth + 1);
    const scanFirst = canNest && text.length > PARSE_FIRST_LIMIT;
    if (!scanFirst || !nestsDeeperThan(text, maxDepth)) {
      const longDigits = LONG_DIGIT_RUN.test(text);
      const value = longDigits ? parseWithBigInts(text) : parseOrFail(text);
      if (value !== FAILED) {
        const checkDepth = canNest && !scanFirst;
        if (
          longDigits
            ? reviveBigInts(value, checkDepth ? maxDepth : Infinity)
            : !checkDepth || !valueNestsDeeperThan(value, maxDepth)
        ) {
          return longDigits ? (value as { root: unknown }).root : value;
        }
      }
    }
  }
  return new ExactParser(text, maxDepth).parseDocument();
}

/** The exact parser, whatever the text (for tests that compare the paths). */
export function parseJsonExact(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  return new ExactParser(text, maxDepth).parseDocument();
}

const FAILED = Symbol('not parsed');

function parseOrFail(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // The exact parser reports a located error.
    return FAILED;
  }
}

/**
 * Marks a string that stands for an integer beyond 2^53 in the text given
 * to JSON.parse: written as the escape `\u0000`, so no string of the data
 * can start with it (the text has no `\u`, and raw control characters are
 * not allowed in JSON strings).
 */
const BIGINT_MARK = '\\u0000';
const DIGIT_RUN = /\d{16,}/g;

/**
 * JSON.parse of `text` with every integer literal beyond ±(2^53−1) written
 * as a marked string, wrapped as `{ root }` for reviveBigInts, or FAILED
 * (the exact parser then decides). Fractions and exponents stay numbers,
 * as on the exact path.
 *
 * Digit runs are found with a regular expression, without telling apart
 * those inside strings: rewriting one there always breaks the text (the
 * string ends before the mark, and a backslash outside a string is never
 * JSON), so JSON.parse fails and the exact parser reads it. Elsewhere a
 * string token stands wherever a number token may, except as an object
 * key (reviveBigInts refuses a marked key), so the rewrite never turns
 * text that is not JSON into JSON; a leading zero, which would, is left to
 * the exact parser.
 */
function parseWithBigInts(text: string): unknown {
  let out = '';
  let copied = 0;
  DIGIT_RUN.lastIndex = 0;
  for (let m = DIGIT_RUN.exec(text); m !== null; m = DIGIT_RUN.exec(text)) {
    const runStart = m.index;
    const runEnd = runStart + m[0].length;
    const before = text.charCodeAt(runStart - 1);
    const after = text.charCodeAt(runEnd);
    // A fraction or an exponent: the literal is a double either way.
    if (
      before === 0x2e /* . */ ||
      before === 0x2b /* + */ ||
      before === 0x65 /* e */ ||
      before === 0x45 /* E */ ||
      after === 0x2e ||
      after === 0x65 ||
      after === 0x45
    ) {
      continue;
    }
    let start = runStart;
    if (before === 0x2d /* - */) {
      const sign = text.charCodeAt(runStart - 2);
      if (sign === 0x65 || sign === 0x45) continue; // e-123…: an exponent
      start--;
    }
    if (text.charCodeAt(runStart) === 0x30 /* 0 */) return FAILED;
    const literal = text.slice(start, runEnd);
    const big = BigInt(literal);
    if (big <= MAX_SAFE && big >= MIN_SAFE) continue;
    out += `${text.slice(copied, start)}"${BIGINT_MARK}${literal}"`;
    copied = runEnd;
  }
  const parsed = parseOrFail(copied === 0 ? text : out + text.slice(copied));
  return parsed === FAILED ? FAILED : { root: parsed };
}

/**
 * Turns the marked strings of parseWithBigInts back into bigints, in place
 * (`holder.root` included). False when a key carries the mark (the text
 * had an integer as a key: not JSON) or containers nest deeper than `max`.
 * Iterative.
 */
function reviveBigInts(holder: unknown, max: number): boolean {
  const stack: Record<string, unknown>[] = [holder as Record<string, unknown>];
  const depths: number[] = [0];
  while (stack.length > 0) {
    const container = stack.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > max) return false;
    if (Array.isArray(container)) {
      for (let i = 0; i < container.length; i++) {
        const child: unknown = container[i];
        if (typeof child === 'object' && child !== null) {
          stack.push(child as Record<string, unknown>);
          depths.push(depth + 1);
        } else if (typeof child === 'string' && child.charCodeAt(0) === 0) {
          container[i] = BigInt(child.slice(1));
        }
      }
    } else {
      for (const key in container) {
        if (key.charCodeAt(0) === 0) return false;
        const child = container[key];
        if (typeof child === 'object' && child !== null) {
          stack.push(child as Record<string, unknown>);
          depths.push(depth + 1);
        } else if (typeof child === 'string' && child.charCodeAt(0) === 0) {
          container[key] = BigInt(child.slice(1));
        }
      }
    }
  }
  return true;
}

/**
 * Whether arrays and objects in a parsed value nest deeper than `max`
 * (the outermost counts as 1). Iterative, and stops at the first one too
 * deep.
 */
function valueNestsDeeperThan(root: unknown, max: number): boolean {
  if (typeof root !== 'object' || root === null) return false;
  const stack: object[] = [root];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const value = stack.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > max) return true;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child: unknown = value[i];
        if (typeof child === 'object' && child !== null) {
          stack.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in value) {
        const child = value[key];
        if (typeof child === 'object' && child !== null) {
          stack.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

/**
 * Whether brackets outside strings nest deeper than `max` in `text`, which
 * need not be valid JSON (invalid text is left to the parsers). Linear,
 * and strings are skipped with `indexOf`.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let p = 0; p < n; p++) {
    const c = text.charCodeAt(p);
    if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    } else if (c === 0x22 /* " */) {
      p = stringEnd(text, p);
    }
  }
  return false;
}

/**
 * Index of the quote closing the JSON string that opens at `open` (escapes
 * skipped), or `text.length` when the string is not closed.
 */
export function stringEnd(text: string, open: number): number {
  let q = open;
  for (;;) {
    q = text.indexOf('"', q + 1);
    if (q === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

/** An array or object being filled; `key` is the member awaiting its value. */
interface OpenContainer {
  value: unknown[] | Record<string, unknown>;
  close: number;
  key: string;
}

/**
 * A strict JSON parser that keeps integers exact. It loops with an explicit
 * stack of open containers instead of recursing, so depth costs heap, not
 * call stack, and stops at `maxDepth` levels.
 */
class ExactParser {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  parseDocument(): unknown {
    const open: OpenContainer[] = [];
    let value: unknown;
    this.skipSpace();
    value: for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
        if (open.length >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`);
        const isArray = c === 0x5b;
        const close = isArray ? 0x5d : 0x7d;
        const container = isArray ? [] : {};
        this.pos++;
        this.skipSpace();
        if (this.text.charCodeAt(this.pos) === close) {
          this.pos++;
          value = container;
        } else {
          open.push({ value: container, close, key: isArray ? '' : this.parseKey() });
          continue value;
        }
      } else {
        value = this.parseScalar(c);
      }
      // Store the value in its container; close every container that ends here.
      for (;;) {
        const top = open[open.length - 1];
        if (top === undefined) break value;
        if (Array.isArray(top.value)) top.value.push(value);
        // Never let data set a prototype (see the file comment).
        else if (top.key !== '__proto__') top.value[top.key] = value;
        this.skipSpace();
        const d = this.text.charCodeAt(this.pos);
        if (d === 0x2c /* , */) {
          this.pos++;
          this.skipSpace();
          if (!Array.isArray(top.value)) top.key = this.parseKey();
          continue value;
        }
        if (d !== top.close) this.fail(`expected ',' or '${String.fromCharCode(top.close)}'`);
        this.pos++;
        open.pop();
        value = top.value;
      }
    }
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private fail(message: string): never {
    throw new JsonParseError(message, this.pos);
  }

  private skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  /** `"key" :` of an object member, leaving the position at its value. */
  private parseKey(): string {
    if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
    const key = this.parseString();
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
    this.pos++;
    this.skipSpace();
    return key;
  }

  private parseScalar(c: number): unknown {
    switch (c) {
      case 0x22 /* " */:
        return this.parseString();
      case 0x74 /* t */:
        return this.parseWord('true', true);
      case 0x66 /* f */:
        return this.parseWord('false', false);
      case 0x6e /* n */:
        return this.parseWord('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber();
        if (Number.isNaN(c)) this.fail('unexpected end of JSON input');
        return this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
    }
  }

  private parseWord<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return value;
  }

  private parseNumber(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) return this.fail('invalid number');
    const literal = m[0];
    this.pos += literal.length;
    if (m[1] !== undefined || m[2] !== undefined) return Number(literal);
    const digits = literal.charCodeAt(0) === 0x2d ? literal.length - 1 : literal.length;
    if (digits <= 15) return Number(literal);
    const big = BigInt(literal);
    return big > MAX_SAFE || big < MIN_SAFE ? big : Number(big);
  }

  private parseString(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    let escaped = false;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        p += 2;
        continue;
      }
      if (Number.isNaN(c)) {
        this.pos = t.length;
        this.fail('unterminated string');
      }
      if (c < 0x20) {
        this.pos = p;
        this.fail('control character in string');
      }
      p++;
    }
    this.pos = p + 1;
    if (!escaped) return t.slice(start + 1, p);
    try {
      return JSON.parse(t.slice(start, p + 1)) as string;
    } catch {
      this.pos = start;
      return this.fail('invalid escape in string');
    }
  }
}

export interface StringifyOptions {
  /**
   * Deepest nesting of arrays and objects to write (the outermost counts
   * as 1); deeper values throw a RangeError. Default: no limit.
   */
  maxDepth?: number;
}

/**
 * `JSON.stringify`, except that bigints are written as bare integers
 * (`18446744073709551552`, not an error). Like `JSON.stringify`, `toJSON`
 * is honoured, `undefined`, functions and symbols are skipped in objects
 * and become `null` in arrays. A cyclic value throws a TypeError; one
 * nested deeper than `maxDepth`, a RangeError.
 *
 * `JSON.stringify` runs first (V8 guards its recursion and throws a
 * RangeError long before the stack is at risk); a bigint, a cycle or a
 * value too deep for it falls back to an iterative writer, so any depth
 * is safe.
 */
export function stringifyJson(value: unknown, options: StringifyOptions = {}): string {
  const maxDepth = options.maxDepth ?? Infinity;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    return writeJson(value, maxDepth, Infinity);
  }
  // JSON.stringify(undefined) is undefined; QMP has no such value.
  if (text === undefined) return 'null';
  if (text.length >= 2 * (maxDepth + 1) && nestsDeeperThan(text, maxDepth)) throw tooDeep(maxDepth);
  return text;
}

function tooDeep(maxDepth: number): RangeError {
  return new RangeError(`nesting deeper than ${maxDepth} levels`);
}

/**
 * At most about `maxChars` characters of `value` as JSON, for messages:
 * stops writing once that many are out, so a huge value costs little.
 * Never throws.
 */
export function previewJson(value: unknown, maxChars: number): string {
  let text: string;
  try {
    text = writeJson(value, Infinity, maxChars);
  } catch {
    text = String(value);
  }
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}

/** An array or object being written: its keys (objects) and the next index. */
interface WriteFrame {
  value: object;
  keys: string[] | undefined;
  next: number;
  wroteMember: boolean;
}

/**
 * Cycles are looked for only below this depth: a cycle makes the value
 * infinitely deep, so it always gets here, and shallow values (nearly all)
 * never pay for the bookkeeping.
 */
const CYCLE_CHECK_DEPTH = 32;

const SKIP = Symbol('skip');

function writeJson(root: unknown, maxDepth: number, maxChars: number): string {
  let out = '';
  const open: WriteFrame[] = [];
  const deepAncestors = new Set<object>();
  let value = prepare(root, '');
  if (value === SKIP) return 'null';
  for (;;) {
    // Write `value`: a scalar at once, a container by opening a frame.
    if (typeof value === 'object' && value !== null) {
      if (open.length >= maxDepth) {
        const cyclic = open.some((f) => f.value === value);
        if (cyclic) throw new TypeError('stringifyJson: cyclic structure');
        throw tooDeep(maxDepth);
      }
      if (open.length >= CYCLE_CHECK_DEPTH) {
        if (deepAncestors.has(value)) throw new TypeError('stringifyJson: cyclic structure');
        deepAncestors.add(value);
      }
      const isArray = Array.isArray(value);
      open.push({ value, keys: isArray ? undefined : Object.keys(value), next: 0, wroteMember: false });
      out += isArray ? '[' : '{';
    } else {
      out += scalarJson(value);
    }
    if (out.length > maxChars) return out;
    // Find the next value to write, closing finished containers.
    for (;;) {
      const top = open[open.length - 1];
      if (top === undefined) return out;
      const next = nextMember(top);
      if (next === undefined) {
        out += top.keys === undefined ? ']' : '}';
        open.pop();
        if (open.length >= CYCLE_CHECK_DEPTH) deepAncestors.delete(top.value);
        continue;
      }
      value = next.value;
      if (top.keys === undefined) {
        out += top.next > 1 ? ',' : '';
        if (value === SKIP) {
          out += 'null';
          continue;
        }
      } else {
        out += `${top.wroteMember ? ',' : ''}${JSON.stringify(next.key)}:`;
        top.wroteMember = true;
      }
      break;
    }
  }
}

/** The next element or member worth writing (object members whose value is skipped are passed over). */
function nextMember(frame: WriteFrame): { key: string; value: unknown } | undefined {
  const container = frame.value as Record<string, unknown>;
  if (frame.keys === undefined) {
    const array = container as unknown as unknown[];
    if (frame.next >= array.length) return undefined;
    const index = frame.next++;
    return { key: '', value: prepare(array[index], String(index)) };
  }
  while (frame.next < frame.keys.length) {
    const key = frame.keys[frame.next++] as string;
    const value = prepare(container[key], key);
    if (value !== SKIP) return { key, value };
  }
  return undefined;
}

/** What JSON.stringify would write for `value`: after `toJSON`, unboxed; SKIP for nothing. */
function prepare(value: unknown, key: string): unknown {
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (key: string) => unknown).call(value, key);
    if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
      value = value.valueOf();
    }
  }
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return SKIP;
    default:
      return value;
  }
}

function scalarJson(value: unknown): string {
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      // string, number (non-finite become null), null
      return JSON.stringify(value);
  }
}
