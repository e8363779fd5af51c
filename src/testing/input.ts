/**
 * Reading requests from a client that may be hostile.
 *
 * Requests are framed one per line, as every QMP client we know sends them
 * (QEMU itself splits a byte stream into JSON values: it also takes two
 * requests on one line or one across lines; we do not). Each line is
 * decoded exactly (integers beyond 2^53 as bigint) and every problem is
 * answered with the error QEMU gives, never a crash:
 *
 *  - a line longer than the limit: "JSON token size limit exceeded" (QEMU's
 *    limit is 64 MiB of tokens; ours is `maxRequestBytes`), and reading
 *    resumes after the line's end, so memory stays bounded;
 *  - nesting deeper than QEMU's 1024 levels (the decoder's own limit,
 *    MAX_JSON_DEPTH): "JSON nesting depth limit exceeded";
 *  - a key twice in one object: "JSON parse error, duplicate key";
 *  - bytes that are not UTF-8, and characters QEMU does not take, as QEMU
 *    7.2 answers them (measured; see `unicodeProblem`): a 0xFE or 0xFF
 *    byte in a string, or any byte over 0x7F outside one, is "JSON parse
 *    error, stray '…'"; a string that is not UTF-8 (or encodes a surrogate
 *    or a noncharacter) "JSON parse error, invalid UTF-8 sequence in
 *    string"; an escape of a lone surrogate or a noncharacter "JSON parse
 *    error, \ud800 is not a valid Unicode character";
 *  - anything else that is not JSON: one "JSON parse error, …" per line
 *    (QEMU reports each bad token of it separately).
 */
import { isAscii } from 'node:buffer';
import { LineDecoder } from '../runtime/framing.js';
import { parseJson, stringEnd } from '../runtime/json.js';

export type Request = { readonly ok: true; readonly message: unknown } | { readonly ok: false; readonly desc: string };

const BACKSLASH_U = Buffer.from('\\u');

export class RequestReader {
  private decoder: LineDecoder;
  /** The current line overflowed: drop bytes until its newline. */
  private skipping = false;
  private overflowed = false;
  /** The bytes of the current line so far (views of the chunks, not copies). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** QEMU's error for the line being handed out, when its bytes are not what QEMU takes. */
  private problem: string | null = null;

  constructor(
    private readonly onRequest: (request: Request) => void,
    readonly maxRequestBytes: number,
  ) {
    this.decoder = this.newDecoder();
  }

  private newDecoder(): LineDecoder {
    return new LineDecoder(
      {
        line: (text) => this.onRequest(this.problem === null ? decodeRequest(text) : { ok: false, desc: this.problem }),
        fail: () => (this.overflowed = true),
      },
      this.maxRequestBytes,
    );
  }

  /** Bytes held for an incomplete line. */
  get bufferedBytes(): number {
    return this.skipping ? 0 : this.decoder.bufferedBytes;
  }

  /** Drops the partial request held so far (a guest agent's 0xFF). */
  reset(): void {
    this.skipping = false;
    this.decoder.reset();
    this.forgetLine();
  }

  push(chunk: Buffer): void {
    // One line at a time, so that each line's bytes can be checked before
    // the decoder turns them into text (which hides bytes that are not UTF-8).
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl + 1;
      const piece = chunk.subarray(start, end);
      this.problem = null;
      if (!this.skipping && this.partBytes <= this.maxRequestBytes) {
        this.parts.push(piece);
        this.partBytes += piece.length;
      }
      if (nl !== -1) {
        if (this.parts.length > 0 && this.partBytes <= this.maxRequestBytes + 1) {
          const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
          if (!isAscii(line) || line.includes(BACKSLASH_U)) this.problem = unicodeProblem(line);
        }
        this.forgetLine();
      }
      this.pushPiece(piece);
      this.problem = null;
      start = end;
    }
  }

  private forgetLine(): void {
    this.parts = [];
    this.partBytes = 0;
  }

  private pushPiece(chunk: Buffer): void {
    if (this.skipping) {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) return;
      this.skipping = false;
      this.decoder = this.newDecoder();
      chunk = chunk.subarray(nl + 1);
    }
    const held = this.decoder.bufferedBytes;
    this.overflowed = false;
    this.decoder.push(chunk);
    if (!this.overflowed) return;
    // The decoder stopped at the first line over the limit, having handed
    // out the lines before it. Find that line's end and go on after it.
    this.onRequest({ ok: false, desc: 'JSON token size limit exceeded' });
    let start = 0;
    let carried = held;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.skipping = true;
        return;
      }
      if (carried + (nl - start) > this.maxRequestBytes) {
        this.decoder = this.newDecoder();
        this.pushPiece(chunk.subarray(nl + 1));
        return;
      }
      carried = 0;
      start = nl + 1;
    }
  }
}

/** One line → a request, or QEMU's error for it. */
export function decodeRequest(text: string): Request {
  let message: unknown;
  try {
    message = parseJson(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    // parseJson refuses nesting past QEMU's 1024 levels (MAX_JSON_DEPTH).
    if (/^nesting deeper/.test(reason)) return { ok: false, desc: 'JSON nesting depth limit exceeded' };
    return { ok: false, desc: `JSON parse error, ${reason}` };
  }
  if (typeof message !== 'object' || message === null) return { ok: true, message };
  // The decoder keeps the last of duplicate keys, so the text has more `:`
  // (outside strings) than the value has members exactly when a key was
  // repeated (or a `__proto__` member dropped, which QEMU would refuse as
  // unexpected anyway).
  if (colons(text) !== countMembers(message)) return { ok: false, desc: 'JSON parse error, duplicate key' };
  return { ok: true, message };
}

/** `:` outside strings in valid JSON text. */
function colons(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) count++;
    else if (c === 0x22) i = stringEnd(text, i);
  }
  return count;
}

/** Object members in a decoded value (no recursion). */
function countMembers(value: object): number {
  let members = 0;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const items = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) members += items.length;
    for (const item of items) if (typeof item === 'object' && item !== null) stack.push(item);
  }
  return members;
}

// ---------------------------------------------------------------------------
// Bytes QEMU's JSON lexer and parser refuse (qobject/json-lexer.c,
// json-parser.c, util/unicode.c; the texts measured from QEMU 7.2)

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function hexDigit(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** The code point of four hex digits at `at`, or -1. */
function hex4(bytes: Buffer, at: number): number {
  let cp = 0;
  for (let i = 0; i < 4; i++) {
    const d = hexDigit(bytes[at + i]);
    if (d < 0) return -1;
    cp = cp * 16 + d;
  }
  return cp;
}

/** QEMU's is_valid_codepoint(): not a surrogate, not a noncharacter, at most U+10FFFF. */
function validCodePoint(cp: number): boolean {
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  return !((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe);
}

const MIN_CODE_POINT = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];

/**
 * Bytes of the UTF-8 sequence at `at` (QEMU's mod_utf8_codepoint()), or 0
 * when it is not one QEMU takes. QEMU also takes the overlong 0xC0 0x80
 * for U+0000 (modified UTF-8); we refuse it (our decoder cannot keep it).
 */
function sequenceLength(bytes: Buffer, at: number): number {
  const first = bytes[at]!;
  if (first < 0xc0) return 0;
  let more = 1;
  while (more < 5 && first & (0x40 >> more)) more++;
  if (more >= 6 || first >= 0xfe) return 0;
  let cp = first & (0x3f >> more);
  for (let i = 1; i <= more; i++) {
    const b = bytes[at + i];
    if (b === undefined || (b & 0xc0) !== 0x80) return 0;
    cp = cp * 64 + (b & 0x3f);
  }
  if (cp < MIN_CODE_POINT[more - 1]! || !validCodePoint(cp)) return 0;
  return more + 1;
}

/**
 * QEMU's error for a request line whose bytes it refuses, or null. QEMU's
 * lexer sees the whole value before its parser reads a string, so a stray
 * byte (0xFE/0xFF in a string, anything over 0x7F outside one) is reported
 * first, wherever it is; otherwise the first string, in order, that is not
 * UTF-8 or has an escape of a surrogate or noncharacter (a surrogate pair
 * is fine). QEMU goes on with one error per leftover token; we answer one.
 */
export function unicodeProblem(bytes: Buffer): string | null {
  let inString = false;
  let stringStart = 0;
  let first: string | null = null;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (!inString) {
      if (b === QUOTE) {
        inString = true;
        stringStart = i;
      } else if (b > 0x7f) {
        return "JSON parse error, stray '\uFFFD'";
      }
      continue;
    }
    if (b === QUOTE) {
      inString = false;
    } else if (b === BACKSLASH) {
      const cp = bytes[i + 1] === 0x75 ? hex4(bytes, i + 2) : -1;
      if (cp < 0) {
        i++; // the escaped character
        continue;
      }
      let end = i + 6;
      let valid: boolean;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        const low = bytes[end] === BACKSLASH && bytes[end + 1] === 0x75 ? hex4(bytes, end + 2) : -1;
        valid = low >= 0xdc00 && low <= 0xdfff && validCodePoint(0x10000 + (cp - 0xd800) * 0x400 + (low - 0xdc00));
        if (valid) end += 6;
      } else {
        valid = validCodePoint(cp);
      }
      if (!valid && first === null)
        first = `JSON parse error, ${bytes.toString('latin1', i, i + 6)} is not a valid Unicode character`;
      i = end - 1;
    } else if (b === 0xfe || b === 0xff) {
      return `JSON parse error, stray '${bytes.toString('utf8', stringStart, i + 1)}'`;
    } else if (b > 0x7f) {
      const length = sequenceLength(bytes, i);
      if (length === 0) first ??= 'JSON parse error, invalid UTF-8 sequence in string';
      else i += length - 1;
    }
  }
  return first;
}
