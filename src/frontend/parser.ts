/**
 * The QAPI schema parser: schema text → a list of JSON-like expressions,
 * each with its source location and doc comment, plus the list of all doc
 * comments. It follows `include` directives (each file once, loops are
 * errors) and applies `pragma` directives. What the expressions mean is
 * checked later (expr-check.ts, then the schema).
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import * as path from 'node:path';
import type { FrontendOptions } from './model.js';
import { DocDiagnostics, QapiError, QapiSemError } from './errors.js';
import { Lexer, leadingSpace, rstrip, type Token } from './lexer.js';
import { QapiDoc, TAGGED_SECTION_KINDS } from './doc.js';
import { rulesFor } from './release.js';
import { LegacyDocReader } from './doc-legacy.js';
import { SourceInfo, type QapiPragma } from './source.js';
import { fileKind, strerror } from '../read-file.js';

/** A schema value: QAPI's JSON dialect has no numbers and no null. */
export type JsonValue = string | boolean | JsonValue[] | JsonObject;
/** An object as parsed: prototype-free, keys in source order. */
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface ParsedExpr {
  readonly expr: JsonObject;
  readonly info: SourceInfo;
  /** Its doc comment; lenient checking may detach a doc that does not fit. */
  doc: QapiDoc | null;
}

export interface ParseResult {
  exprs: ParsedExpr[];
  docs: QapiDoc[];
}

/** A fresh object without prototype, safe for any key. */
export function jsonObject(): JsonObject {
  return Object.create(null) as JsonObject;
}

/** Is `key` an array index ('0', '17'…), which JavaScript lists before other keys? */
function isArrayIndex(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57 && /^(?:0|[1-9][0-9]{0,9})$/.test(key) && Number(key) < 4294967295;
}

/**
 * An object whose keys list in `order` (then in order of addition), even
 * array-index keys, which plain objects would list first in numeric order.
 * QAPI member and branch names may be such keys (enum values like '1'),
 * and their order is meaningful.
 */
function keepKeyOrder(target: JsonObject, order: string[]): JsonObject {
  return new Proxy(target, {
    ownKeys: () => [...order],
    set(t, key, value: JsonValue) {
      if (typeof key !== 'string') return false;
      if (!(key in t)) order.push(key);
      t[key] = value;
      return true;
    },
    defineProperty(t, key, desc) {
      if (typeof key !== 'string') return false;
      if (!(key in t)) order.push(key);
      return Reflect.defineProperty(t, key, desc);
    },
    deleteProperty(t, key) {
      if (typeof key === 'string' && key in t) order.splice(order.indexOf(key), 1);
      return Reflect.deleteProperty(t, key);
    },
  });
}

/** Deeper nesting is refused rather than risking the call stack. */
export const MAX_NESTING = 1000;

/**
 * How deep includes may nest: the main file is level 0, a file it includes
 * level 1. QEMU's own schemas go 3 deep; anything near this limit is a
 * mistake or an attack, and each level costs a few stack frames.
 */
export const MAX_INCLUDE_DEPTH = 100;

/**
 * How many bytes a schema may read from disk, its main file and every
 * included file together. QEMU's largest schema is under 1 MiB.
 */
export const MAX_SCHEMA_BYTES = 16 * 1024 * 1024;

/** Pragmas whose value is a list of names, and where they are kept. */
const LIST_PRAGMAS = {
  'command-name-exceptions': 'commandNameExceptions',
  'command-returns-exceptions': 'commandReturnsExceptions',
  'documentation-exceptions': 'documentationExceptions',
  'member-name-exceptions': 'memberNameExceptions',
} as const satisfies Record<string, keyof QapiPragma>;

/** Tokens that can start a value. */
const VALUE_START: ReadonlySet<Token> = new Set<Token>(['{', '[', "'", 't', 'f']);

const NAME_COLON = /^@([^:]*): */;
const TAGGED_SECTION = /^(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): */;
/** A line that opens a literal block (QEMU 10.2's doc line rules). */
const LITERAL_BLOCK_START = /^(\.\. +qmp-example)? *::$/;
/** A doc line that is only a URL (exempt from the 70-column rule). */
const URL_LINE = /^ *(https?|ftp):\/\/[^ ]*$/;
/**
 * One space after a sentence: group 2 is the sentence's end; 'e.g.' and
 * list numbers ('1.') match without it and are not errors.
 */
const SINGLE_SPACE = /(\be\.g\.|^ *\p{Nd}\.|([.!?])) [A-Z0-9(]/gu;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A Node-style error with a `code`, for what the C library has no errno for. */
function fileError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const READ_CHUNK = 64 * 1024;

/**
 * Reads a schema file as normalised text, at most `budget` bytes of it.
 * Only regular files are read: the file is opened without blocking (a
 * FIFO would otherwise wait for a writer forever) and checked before a
 * byte is read (a device like /dev/zero never ends). The size is enforced
 * while reading, not trusted from stat, so a file that grows or claims to
 * be empty (/proc) cannot get past it. Throws a Node error with a `code`.
 */
function readSource(file: string, budget: number): { text: string; bytes: number } {
  const fd = openSync(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw fileError('EISDIR', 'Is a directory');
    if (!st.isFile()) throw fileError('ENOTREG', `Not a regular file (${fileKind(st)})`);
    if (st.size > budget) throw tooLarge();
    bytes = readAtMost(fd, budget, st.size);
  } finally {
    closeSync(fd);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw fileError('EINVALUTF8', 'invalid UTF-8');
  }
  return { text: normalizeSource(text), bytes: bytes.length };
}

function tooLarge(): Error {
  return fileError('EFBIG', `File too large (a schema may read at most ${MAX_SCHEMA_BYTES / 1024 / 1024} MiB in all)`);
}

/** Reads `fd` to its end, failing once more than `budget` bytes came. */
function readAtMost(fd: number, budget: number, sizeHint: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  // One read for an ordinary file (its size plus one byte to see the end).
  let want = Math.min(sizeHint > 0 ? sizeHint + 1 : READ_CHUNK, budget + 1);
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.max(want, 1));
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    total += n;
    if (total > budget) throw tooLarge();
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    want = Math.min(READ_CHUNK, budget + 1 - total);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Universal newlines (CR LF and lone CR become LF), and a final newline. */
function normalizeSource(text: string): string {
  if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
  if (text === '' || text.charCodeAt(text.length - 1) !== 10) text += '\n';
  return text;
}

/** Python's os.path.dirname (no normalisation). */
function pyDirname(p: string): string {
  const head = p.slice(0, p.lastIndexOf('/') + 1);
  return /^\/+$/.test(head) ? head : head.replace(/\/+$/, '');
}

/** Python's os.path.join for two parts (no normalisation). */
function pyJoin(dir: string, file: string): string {
  if (file.startsWith('/') || dir === '') return file;
  return dir.endsWith('/') ? dir + file : `${dir}/${file}`;
}

/** Parse state shared by a main file and everything it includes. */
interface ParseContext {
  /** Absolute names of files already parsed. */
  readonly included: Set<string>;
  readonly diag: DocDiagnostics;
  /** Bytes read from disk so far (at most MAX_SCHEMA_BYTES). */
  bytesRead: number;
}

function newContext(options: FrontendOptions | DocDiagnostics): ParseContext {
  return { included: new Set(), diag: diagnosticsFor(options), bytesRead: 0 };
}

/** Reads `file` within what is left of the context's byte budget. */
function readFile(ctx: ParseContext, file: string): string {
  const { text, bytes } = readSource(file, MAX_SCHEMA_BYTES - ctx.bytesRead);
  ctx.bytesRead += bytes;
  return text;
}

export function diagnosticsFor(options: FrontendOptions | DocDiagnostics): DocDiagnostics {
  if (options instanceof DocDiagnostics) return options;
  return new DocDiagnostics(options.lenientDocs ?? false, options.onWarning, rulesFor(options.qemuVersion));
}

/**
 * Parses a schema file and everything it includes.
 *
 * As in QEMU, locations name the main file as given and each included
 * file as the including file's directory joined with the include's
 * argument (so run from the schema's folder, names are relative to it).
 * A main file that cannot be read is a QapiError without location.
 * Pass a DocDiagnostics to share one warning channel with later stages.
 */
export function parseSchemaFile(fname: string, options: FrontendOptions | DocDiagnostics = {}): ParseResult {
  const ctx = newContext(options);
  let src: string;
  try {
    src = readFile(ctx, fname);
  } catch (err) {
    throw new QapiError(null, `can't read schema file '${fname}': ${strerror(err)}`);
  }
  return new SchemaParser(ctx, fname, src, null, 0).parse();
}

/**
 * Parses schema text that is not in a file (tests, editors), as if it were
 * the content of `fname`; includes are read relative to `fname`'s folder.
 */
export function parseSchemaText(
  src: string,
  fname = 'schema.json',
  options: FrontendOptions | DocDiagnostics = {},
): ParseResult {
  return new SchemaParser(newContext(options), fname, normalizeSource(src), null, 0).parse();
}

class SchemaParser {
  private readonly lex: Lexer;
  private readonly exprs: ParsedExpr[] = [];
  private readonly docs: QapiDoc[] = [];
  /** Set when a lenient doc parse stopped at a token that is not a comment. */
  private docCutShort = false;

  constructor(
    private readonly ctx: ParseContext,
    /** This file's printed name. */
    private readonly fname: string,
    src: string,
    inclInfo: SourceInfo | null,
    /** How many includes deep this file is (the main file: 0). */
    private readonly depth: number,
  ) {
    ctx.included.add(this.absPath(fname));
    this.lex = new Lexer(src, new SourceInfo(fname, inclInfo));
  }

  private absPath(fname: string): string {
    return path.resolve(fname);
  }

  /** The current token (a call, so TypeScript does not narrow it across accept()). */
  private tok(): Token {
    return this.lex.tok;
  }

  private get diag(): DocDiagnostics {
    return this.ctx.diag;
  }

  parse(): ParseResult {
    const lex = this.lex;
    let curDoc: QapiDoc | null = null;
    lex.accept();
    while (this.tok() !== null) {
      const info = lex.info;
      if (this.tok() === '#') {
        this.rejectExprDoc(curDoc);
        if (this.diag.rules.legacyDocs) {
          const docs = this.getLegacyDocs();
          for (const d of docs) this.docs.push(d);
          curDoc = docs[docs.length - 1]!;
        } else {
          curDoc = this.getDoc();
          this.docs.push(curDoc);
        }
        continue;
      }
      const expr = this.getExpr(0);
      if (typeof expr !== 'object' || Array.isArray(expr)) {
        throw new QapiSemError(info, 'top-level expression must be an object');
      }
      if ('include' in expr) {
        this.rejectExprDoc(curDoc);
        this.include(expr, info);
      } else if ('pragma' in expr) {
        this.rejectExprDoc(curDoc);
        if (Object.keys(expr).length !== 1) throw new QapiSemError(info, "invalid 'pragma' directive");
        const pragma = expr['pragma']!;
        if (typeof pragma !== 'object' || Array.isArray(pragma)) {
          throw new QapiSemError(info, "value of 'pragma' must be an object");
        }
        for (const [name, value] of Object.entries(pragma)) this.pragma(name, value, info);
      } else {
        if (curDoc && !curDoc.symbol) {
          this.diag.report(new QapiSemError(curDoc.info, 'definition documentation required'));
          curDoc = null;
        }
        this.exprs.push({ expr, info, doc: curDoc });
      }
      curDoc = null;
    }
    this.rejectExprDoc(curDoc);
    return { exprs: this.exprs, docs: this.docs };
  }

  /** A definition doc must be followed by its definition; returns null. */
  private rejectExprDoc(doc: QapiDoc | null): null {
    if (doc && doc.symbol) {
      this.diag.report(
        new QapiSemError(doc.info, `documentation for '${doc.symbol}' is not followed by the definition`),
      );
    }
    return null;
  }

  private include(expr: JsonObject, info: SourceInfo): void {
    if (Object.keys(expr).length !== 1) throw new QapiSemError(info, "invalid 'include' directive");
    const include = expr['include'];
    if (typeof include !== 'string') throw new QapiSemError(info, "value of 'include' must be a string");
    const inclFname = pyJoin(pyDirname(this.fname), include);
    const directive = jsonObject();
    directive['include'] = inclFname;
    this.exprs.push({ expr: directive, info, doc: null });

    const inclAbs = this.absPath(inclFname);
    for (let inf: SourceInfo | null = info; inf; inf = inf.parent) {
      if (inclAbs === this.absPath(inf.fname)) {
        throw new QapiSemError(info, `inclusion loop for ${include}`);
      }
    }
    if (this.ctx.included.has(inclAbs)) return;
    if (this.depth >= MAX_INCLUDE_DEPTH) {
      throw new QapiSemError(info, `includes nested too deeply (the limit is ${MAX_INCLUDE_DEPTH} levels)`);
    }

    let src: string;
    try {
      src = readFile(this.ctx, inclAbs);
    } catch (err) {
      throw new QapiSemError(info, `can't read include file '${inclFname}': ${strerror(err)}`);
    }
    const sub = new SchemaParser(this.ctx, inclFname, src, info, this.depth + 1).parse();
    for (const e of sub.exprs) this.exprs.push(e);
    for (const d of sub.docs) this.docs.push(d);
  }

  private pragma(name: string, value: JsonValue, info: SourceInfo): void {
    const pragma = info.pragma;
    if (name === 'doc-required') {
      if (typeof value !== 'boolean') throw new QapiSemError(info, "pragma 'doc-required' must be boolean");
      pragma.docRequired = value;
      return;
    }
    const field = Object.hasOwn(LIST_PRAGMAS, name) ? LIST_PRAGMAS[name as keyof typeof LIST_PRAGMAS] : undefined;
    // QEMU 7.2 knows no 'documentation-exceptions' (undocumented members are fine there).
    if (!field || (field === 'documentationExceptions' && this.diag.rules.legacyExprs)) {
      throw new QapiSemError(info, `unknown pragma '${name}'`);
    }
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new QapiSemError(info, `pragma ${name} must be a list of strings`);
    }
    pragma[field] = new Set(value as string[]);
  }

  // -------------------------------------------------------------------------
  // JSON values

  private getExpr(depth: number): JsonValue {
    const lex = this.lex;
    switch (this.tok()) {
      case '{':
        if (depth >= MAX_NESTING) throw lex.error('nesting too deep');
        lex.accept();
        return this.getMembers(depth + 1);
      case '[':
        if (depth >= MAX_NESTING) throw lex.error('nesting too deep');
        lex.accept();
        return this.getValues(depth + 1);
      case "'":
      case 't':
      case 'f': {
        const val = lex.val as string | boolean;
        lex.accept();
        return val;
      }
      default:
        throw lex.error("expected '{', '[', string, or boolean");
    }
  }

  private getMembers(depth: number): JsonObject {
    const lex = this.lex;
    const obj = jsonObject();
    if (this.tok() === '}') {
      lex.accept();
      return obj;
    }
    if (this.tok() !== "'") throw lex.error("expected string or '}'");
    // Source order of the keys, kept only once an index-like key shows up
    let order: string[] | null = null;
    for (;;) {
      const key = lex.val as string;
      lex.accept();
      if (this.tok() !== ':') throw lex.error("expected ':'");
      lex.accept();
      if (key in obj) throw lex.error(`duplicate key '${key}'`);
      if (order) order.push(key);
      else if (isArrayIndex(key)) order = [...Object.keys(obj), key];
      obj[key] = this.getExpr(depth);
      if (this.tok() === '}') {
        lex.accept();
        return order ? keepKeyOrder(obj, order) : obj;
      }
      if (this.tok() !== ',') throw lex.error("expected ',' or '}'");
      lex.accept();
      if (this.tok() !== "'") throw lex.error('expected string');
    }
  }

  private getValues(depth: number): JsonValue[] {
    const lex = this.lex;
    const list: JsonValue[] = [];
    if (this.tok() === ']') {
      lex.accept();
      return list;
    }
    if (!VALUE_START.has(this.tok())) {
      throw lex.error("expected '{', '[', ']', string, or boolean");
    }
    for (;;) {
      list.push(this.getExpr(depth));
      if (this.tok() === ']') {
        lex.accept();
        return list;
      }
      if (this.tok() !== ',') throw lex.error("expected ',' or ']'");
      lex.accept();
    }
  }

  // -------------------------------------------------------------------------
  // Doc comments

  /** Reports a doc problem at the current token (lenient: a warning). */
  private docProblem(msg: string): void {
    this.diag.report(this.lex.error(msg));
  }

  /**
   * The next doc comment line without its '# ', or null at the closing
   * '##'. Lenient recovery: a missing '##' ends the block where it is.
   */
  private getDocLine(): string | null {
    const lex = this.lex;
    if (this.tok() !== '#') {
      this.docProblem("documentation comment must end with '##'");
      this.docCutShort = true;
      this.literalMode = false;
      return null;
    }
    const val = lex.val as string;
    if (val.startsWith('##')) {
      if (val !== '##') this.docProblem("junk after '##' at end of documentation comment");
      this.literalMode = false;
      return null;
    }
    if (val === '#') return '';
    let line: string;
    if (val[1] !== ' ') {
      this.docProblem('missing space after #');
      line = rstrip(val.slice(1));
    } else {
      line = rstrip(val.slice(2));
    }
    if (this.diag.rules.docLineFormat) this.checkDocLineFormat(line);
    return line;
  }

  /** True inside a literal block (`::`, `.. qmp-example::`), exempt from the line rules. */
  private literalMode = false;
  private literalIndent = 0;

  /**
   * QEMU 10.2 on: a doc line is at most 70 columns with its '# ' (unless it
   * is only a URL), and sentences are separated by two spaces. Literal
   * blocks are exempt, up to the first line indented less than their first.
   */
  private checkDocLineFormat(line: string): void {
    if (line.endsWith('::') && LITERAL_BLOCK_START.test(line)) {
      this.literalMode = true;
      this.literalIndent = 0;
    } else if (this.literalMode && line !== '') {
      const indent = leadingSpace(line);
      if (this.literalIndent === 0) this.literalIndent = indent;
      else if (indent < this.literalIndent) this.literalMode = false;
    }
    if (this.literalMode) return;
    // Python counts code points, not UTF-16 units.
    if (line.length + 2 > 70 && [...line].length + 2 > 70 && !URL_LINE.test(line)) {
      this.docProblem('documentation line longer than 70 characters');
    }
    // Most lines end no sentence inside them: skip the regular expression.
    if (!line.includes('. ') && !line.includes('! ') && !line.includes('? ')) return;
    SINGLE_SPACE.lastIndex = 0;
    for (let m = SINGLE_SPACE.exec(line); m !== null; m = SINGLE_SPACE.exec(line)) {
      if (m[2] === undefined) continue;
      // QEMU points at the space after the sentence's end.
      const at = this.lex.linePosition + 2 + m.index + m[1]!.length;
      this.diag.report(
        this.lex.error('Use two spaces between sentences\nIf this not the end of a sentence, please report a bug.', at),
      );
      break;
    }
  }

  private nextDocLine(): string | null {
    this.lex.accept(false);
    return this.getDocLine();
  }

  private getDoc(): QapiDoc {
    const lex = this.lex;
    if (lex.val !== '##') this.docProblem("junk after '##' at start of documentation comment");
    const info = lex.info;
    this.docCutShort = false;
    const line = this.nextDocLine();
    let doc: QapiDoc | null = null;
    if (line !== null && line.startsWith('@')) {
      doc = this.getDefinitionDoc(info, line);
    }
    if (!doc) doc = this.getFreeformDoc(info, line);
    if (!this.docCutShort) lex.accept();
    doc.end();
    return doc;
  }

  /**
   * QEMU 7.2's reading of one doc comment block: a free-form block is cut
   * into one doc per '= heading' line (see doc-legacy.ts).
   */
  private getLegacyDocs(): QapiDoc[] {
    const lex = this.lex;
    if (lex.val !== '##') this.docProblem("junk after '##' at start of documentation comment");
    const info = lex.info;
    const docs: QapiDoc[] = [];
    const reader = () =>
      new LegacyDocReader(
        info,
        this.diag,
        (msg) => this.docProblem(msg),
        () => this.lex.info,
      );
    let cur = reader();
    lex.accept(false);
    while (this.tok() === '#') {
      const val = lex.val as string;
      if (val.startsWith('##')) {
        if (val !== '##') this.docProblem("junk after '##' at end of documentation comment");
        cur.endComment();
        docs.push(cur.doc);
        lex.accept();
        return docs;
      }
      if (val.startsWith('# =')) {
        if (cur.symbol) this.docProblem("unexpected '=' markup in definition documentation");
        if (cur.hasBodyText) {
          cur.endComment();
          docs.push(cur.doc);
          cur = reader();
        }
      }
      cur.append(val);
      lex.accept(false);
    }
    this.docProblem("documentation comment must end with '##'");
    cur.endComment();
    docs.push(cur.doc);
    return docs;
  }

  /** A definition doc starting with `line` ('@NAME:'); null if lenient recovery turns it into free-form. */
  private getDefinitionDoc(info: SourceInfo, first: string): QapiDoc | null {
    if (!first.endsWith(':')) {
      this.docProblem("line should end with ':'");
      return null;
    }
    const symbol = first.slice(1, -1);
    if (!symbol) {
      this.docProblem("name required after '@'");
      return null;
    }
    const doc = new QapiDoc(info, symbol, this.diag);
    // QEMU 11.1: an overview may be indented under `@NAME:` (the intro).
    let line = this.diag.rules.indentedIntro ? this.getDocIndented(doc) : this.nextDocLine();
    let noMoreArgs = false;
    let m: RegExpExecArray | null;
    while (line !== null) {
      while (line === '') line = this.nextDocLine();
      if (line === null) break;
      if (line === 'Features:') {
        if (doc.features.size) this.docProblem("duplicated 'Features:' line");
        line = this.nextDocLine();
        while (line === '') line = this.nextDocLine();
        const before = doc.features.size;
        while (line !== null && (m = NAME_COLON.exec(line))) {
          doc.newFeature(this.lex.info, m[1]!);
          line = this.describe(doc, line, m);
        }
        if (doc.features.size === before) this.docProblem('feature descriptions expected');
        noMoreArgs = true;
      } else if ((m = NAME_COLON.exec(line))) {
        if (noMoreArgs) this.docProblem(`description of '@${m[1]}:' follows a section`);
        while (line !== null && (m = NAME_COLON.exec(line))) {
          doc.newArgument(this.lex.info, m[1]!);
          line = this.describe(doc, line, m);
        }
        noMoreArgs = true;
      } else if ((m = TAGGED_SECTION.exec(line)) && this.supportedTag(m[1]!)) {
        doc.newTaggedSection(this.lex.info, TAGGED_SECTION_KINDS[m[1]!]!);
        line = this.describe(doc, line, m);
        noMoreArgs = true;
      } else {
        if (line.startsWith('=') && m === null && !this.diag.rules.rstHeadings) {
          this.docProblem("unexpected '=' markup in definition documentation");
        }
        // plain paragraph (lenient: also unsupported tags and '=' lines)
        doc.ensureUntaggedSection(this.lex.info);
        doc.appendLine(line);
        line = this.getDocParagraph(doc);
      }
    }
    return doc;
  }

  /** Is a tag matched by TAGGED_SECTION still supported? Reports it if not. */
  private supportedTag(tag: string): boolean {
    if (tag.includes('Note')) {
      this.docProblem(
        `The '${tag}' section is no longer supported. Please use rST's '.. note::' or ` +
          "'.. admonition:: notes' directives, or another suitable admonition instead.",
      );
      return false;
    }
    if (tag.includes('Example')) {
      this.docProblem(
        `The '${tag}' section is no longer supported. Please use the '.. qmp-example::' ` +
          'directive, or other suitable markup instead.',
      );
      return false;
    }
    return true;
  }

  /** Adds the text after a tag (`@name:`, `Since:`…) and its indented continuation. */
  private describe(doc: QapiDoc, line: string, m: RegExpExecArray): string | null {
    const text = line.slice(m[0].length);
    if (text) doc.appendLine(text);
    return this.getDocIndented(doc);
  }

  /** Reads a section's indented continuation lines; returns the first line after it. */
  private getDocIndented(doc: QapiDoc): string | null {
    let line = this.nextDocLine();
    while (line === '') {
      doc.appendLine(line);
      line = this.nextDocLine();
    }
    if (line === null) return null;
    const indent = leadingSpace(line);
    if (!indent) return line;
    doc.appendLine(line);
    let prevLineBlank = false;
    for (;;) {
      line = this.nextDocLine();
      if (line === null || NAME_COLON.test(line)) return line;
      if (line !== '' && leadingSpace(line) < indent) {
        if (prevLineBlank) return line;
        this.docProblem(`unexpected de-indent (expected at least ${indent} spaces)`);
      }
      doc.appendLine(line);
      // QEMU 10.0 sets this after every line, blank or not: only the
      // line right after the first indented one can be a de-indent error.
      prevLineBlank = true;
    }
  }

  /** Reads the rest of a paragraph; returns '' at a blank line, null at the end. */
  private getDocParagraph(doc: QapiDoc): string | null {
    for (;;) {
      const line = this.nextDocLine();
      if (line === null || line === '') return line;
      doc.appendLine(line);
    }
  }

  private getFreeformDoc(info: SourceInfo, first: string | null): QapiDoc {
    const doc = new QapiDoc(info, null, this.diag);
    doc.ensureUntaggedSection(this.lex.info);
    let line = first;
    let isFirst = true;
    while (line !== null) {
      const m = NAME_COLON.exec(line);
      if (m) this.docProblem(`'@${m[1]}:' not allowed in free-form documentation`);
      if (line.startsWith('=') && !isFirst && !this.diag.rules.rstHeadings) {
        this.docProblem("'=' heading must come first in a comment block");
      }
      doc.appendLine(line);
      line = this.nextDocLine();
      isFirst = false;
    }
    return doc;
  }
}
