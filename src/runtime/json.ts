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
 * Fast path: when the text has no run of 16+ digits (every integer is then
 * safe), no `__proto__` and no `\u` escape (which could spell it), it goes
 * straight to `JSON.parse`. Otherwise a small exact parser runs.
 *
 * Bad input throws `JsonParseError` (code `QMP_ERR_JSON`), never anything
 * else.
 */
import { JsonParseError } from './errors.js';

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

// 16 digits can exceed 2^53−1 (9007199254740991); 15 never do.
const LONG_DIGIT_RUN = /\d{16}/;
const MAX_DEPTH = 1000;

export function parseJson(text: string): unknown {
  if (!LONG_DIGIT_RUN.test(text) && !text.includes('__proto__') && !text.includes('\\u')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      // Fall through: the exact parser reports a located error.
      void e;
    }
  }
  return new ExactParser(text).parseDocument();
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

class ExactParser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    this.skipSpace();
    const value = this.parseValue();
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

  private parseValue(): unknown {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b /* { */:
        return this.parseObject();
      case 0x5b /* [ */:
        return this.parseArray();
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

  /** `[ item, item… ]` or `{ item, item… }`, delimiters and commas checked here. */
  private parseList(close: number, item: () => void): void {
    if (++this.depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.pos++;
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === close) {
      this.pos++;
      this.depth--;
      return;
    }
    for (;;) {
      item();
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos);
      if (c === close) break;
      if (c !== 0x2c) this.fail(`expected ',' or '${String.fromCharCode(close)}'`);
      this.pos++;
      this.skipSpace();
    }
    this.pos++;
    this.depth--;
  }

  private parseArray(): unknown[] {
    const out: unknown[] = [];
    this.parseList(0x5d, () => out.push(this.parseValue()));
    return out;
  }

  private parseObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.parseList(0x7d, () => {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
      const key = this.parseString();
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
      this.pos++;
      this.skipSpace();
      const value = this.parseValue();
      // Never let data set a prototype (see the file comment).
      if (key !== '__proto__') out[key] = value;
    });
    return out;
  }
}

/**
 * `JSON.stringify`, except that bigints are written as bare integers
 * (`18446744073709551552`, not an error). Like `JSON.stringify`, `undefined`
 * and functions are skipped in objects and become `null` in arrays.
 */
export function stringifyJson(value: unknown): string {
  try {
    const out = JSON.stringify(value);
    // JSON.stringify(undefined) is undefined; QMP has no such value.
    return out === undefined ? 'null' : out;
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    // Either a bigint somewhere (we handle it) or a cycle (rethrown below).
  }
  const parts: string[] = [];
  writeValue(value, parts, new Set());
  return parts.join('');
}

function writeValue(value: unknown, out: string[], seen: Set<object>): boolean {
  switch (typeof value) {
    case 'bigint':
      out.push(value.toString());
      return true;
    case 'string':
    case 'number':
    case 'boolean':
      out.push(JSON.stringify(value));
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) {
    out.push('null');
    return true;
  }
  const maybe = value as { toJSON?: unknown };
  if (typeof maybe.toJSON === 'function') {
    return writeValue((maybe.toJSON as (key: string) => unknown)(''), out, seen);
  }
  if (seen.has(value)) throw new TypeError('stringifyJson: cyclic structure');
  seen.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      if (!writeValue(value[i], out, seen)) out.push('null');
    }
    out.push(']');
  } else {
    out.push('{');
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      const mark = out.length;
      out.push(first ? '' : ',', JSON.stringify(k), ':');
      if (writeValue(v, out, seen)) first = false;
      else out.length = mark;
    }
    out.push('}');
  }
  seen.delete(value);
  return true;
}
