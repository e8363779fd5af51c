/**
 * The QAPI schema lexer: one pass over the source string, comparing char
 * codes. Tokens follow QEMU's scheme so the parser reads like QEMU's:
 *
 *   '{' '}' ':' ',' '[' ']'   structural characters (val null)
 *   "'"                       string (val: its text without quotes)
 *   't' 'f'                   true / false (val: the boolean)
 *   '#'                       comment line (val: the whole line, '#' included);
 *                             only returned when asked to, or for '##' lines
 *   null                      end of input
 */
import { QapiParseError } from './errors.js';
import type { SourceInfo } from './source.js';

export type Token = '{' | '}' | ':' | ',' | '[' | ']' | "'" | 't' | 'f' | '#' | null;

const NL = 10;
const TAB = 9;
const HASH = 35;
const QUOTE = 39;
const BACKSLASH = 92;

/**
 * Python's notion of whitespace (str.isspace and regex \s), which decides
 * what the lexer skips and how doc-comment lines are indented and trimmed.
 */
export function isPySpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13) || (c >= 28 && c <= 31);
  if (c < 133) return false;
  return (
    c === 133 ||
    c === 160 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Number of leading whitespace characters of `s`. */
export function leadingSpace(s: string): number {
  let i = 0;
  while (i < s.length && isPySpace(s.charCodeAt(i))) i++;
  return i;
}

/** `s` without trailing whitespace. */
export function rstrip(s: string): string {
  let end = s.length;
  while (end > 0 && isPySpace(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

function isStructural(c: number): boolean {
  // { } : , [ ]
  return c === 123 || c === 125 || c === 58 || c === 44 || c === 91 || c === 93;
}

export class Lexer {
  tok: Token = null;
  val: string | boolean | null = null;
  /** Index of the current token's first character. */
  pos = 0;
  /** Index of the next character to read. */
  private cursor = 0;
  /** Index of the current line's first character. */
  private linePos = 0;
  /** Current line number. */
  private line: number;
  /** The SourceInfo of the last line asked for. */
  private lineInfo: SourceInfo;

  /**
   * @param src the source; must end with a newline
   * @param info location of the first line
   */
  constructor(
    readonly src: string,
    info: SourceInfo,
  ) {
    this.lineInfo = info;
    this.line = info.line;
  }

  /**
   * Location of the current token. Each line has its own SourceInfo
   * (shared by all tokens on it), made when first asked for, so the many
   * lines without anything to locate cost nothing.
   */
  get info(): SourceInfo {
    if (this.lineInfo.line !== this.line) {
      this.lineInfo = this.lineInfo.nextLine(this.line - this.lineInfo.line);
    }
    return this.lineInfo;
  }

  /** Index of the current line's first character. */
  get linePosition(): number {
    return this.linePos;
  }

  /** A parse error at the current token (or at index `at` of its line), with QEMU's column rule. */
  error(msg: string, at: number = this.pos): QapiParseError {
    let col = 1;
    const { src } = this;
    for (let i = this.linePos; i < at; i++) {
      const c = src.charCodeAt(i);
      if (c === TAB) col = ((col + 7) % 8) + 1;
      else if (c < 0xdc00 || c > 0xdfff) col++; // a surrogate pair is one character
    }
    return new QapiParseError(this.info, msg, col);
  }

  /**
   * Moves to the next token. Ordinary comments are skipped unless
   * `skipComment` is false; '##' lines are always returned.
   */
  accept(skipComment = true): void {
    const { src } = this;
    for (;;) {
      const pos = this.cursor;
      const c = src.charCodeAt(pos);
      this.pos = pos;
      this.cursor = pos + 1;
      this.val = null;
      switch (c) {
        case NL:
          if (this.cursor === src.length) {
            this.tok = null;
            return;
          }
          this.line++;
          this.linePos = this.cursor;
          continue;
        case 32:
        case TAB:
          continue;
        case HASH: {
          const end = src.indexOf('\n', this.cursor);
          this.cursor = end;
          if (!skipComment || src.charCodeAt(pos + 1) === HASH) {
            this.tok = '#';
            this.val = src.slice(pos, end);
            return;
          }
          continue;
        }
        case 123:
          this.tok = '{';
          return;
        case 125:
          this.tok = '}';
          return;
        case 58:
          this.tok = ':';
          return;
        case 44:
          this.tok = ',';
          return;
        case 91:
          this.tok = '[';
          return;
        case 93:
          this.tok = ']';
          return;
        case QUOTE:
          this.tok = "'";
          this.val = this.lexString();
          return;
        default:
          if (src.startsWith('true', pos)) {
            this.tok = 't';
            this.val = true;
            this.cursor = pos + 4;
            return;
          }
          if (src.startsWith('false', pos)) {
            this.tok = 'f';
            this.val = false;
            this.cursor = pos + 5;
            return;
          }
          if (isPySpace(c)) continue;
          this.tok = null;
          throw this.error(`stray '${this.strayWord(pos)}'`);
      }
    }
  }

  /** Reads a string whose opening quote is at `this.pos`. */
  private lexString(): string {
    const { src } = this;
    let cursor = this.cursor;
    let text = '';
    let segStart = cursor;
    for (;;) {
      const c = src.charCodeAt(cursor++);
      if (c === NL) {
        this.cursor = cursor;
        throw this.error(`missing terminating "'"`);
      }
      if (c === BACKSLASH) {
        const e = src.charCodeAt(cursor++);
        if (e !== BACKSLASH) {
          this.cursor = cursor;
          if (e === NL) throw this.error(`missing terminating "'"`);
          throw this.error(`unknown escape \\${String.fromCodePoint(src.codePointAt(cursor - 1) ?? e)}`);
        }
        // keep one backslash: end the segment after the first
        text += src.slice(segStart, cursor - 1);
        segStart = cursor;
        continue;
      }
      if (c === QUOTE) {
        this.cursor = cursor;
        return text + src.slice(segStart, cursor - 1);
      }
      if (c < 32 || c >= 127) {
        this.cursor = cursor;
        throw this.error('funny character in string');
      }
    }
  }

  /** The offending word for a "stray" error: up to the next delimiter. */
  private strayWord(pos: number): string {
    const { src } = this;
    let end = pos + 1;
    for (;;) {
      const c = src.charCodeAt(end);
      if (isStructural(c) || c === QUOTE || isPySpace(c) || Number.isNaN(c)) break;
      end++;
    }
    return src.slice(pos, end);
  }
}
