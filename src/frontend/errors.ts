/**
 * Errors of the QAPI frontend. Every problem with a schema is reported as a
 * QapiError; its text (toString/format) is exactly what QEMU prints:
 * include chain, "In KIND 'NAME':" line, `file:line[:col]: message`.
 */
import type { SourceInfo } from './source.js';
import { rulesFor, type ReleaseRules } from './release.js';

export class QapiError extends Error {
  override name = 'QapiError';
  /** Set when the problem is with a doc comment's layout or content (the definitions may be fine). */
  docComment = false;

  constructor(
    /** Where; null only for problems with no file to point at. */
    readonly info: SourceInfo | null,
    /** The message proper, without the location. */
    readonly msg: string,
    /** 1-based column (tabs expanded to multiples of 8), parse errors only. */
    readonly col: number | null = null,
  ) {
    super(msg);
    // Freeze the location text now: the SourceInfo may be updated later
    // (setDefn), but the message must describe the moment of the error.
    this.message = this.format();
  }

  /** The complete error text, as QEMU's `str(err)`. */
  format(): string {
    if (!this.info) return this.msg;
    let loc = this.info.toString();
    if (this.col !== null) loc += `:${this.col}`;
    return `${loc}: ${this.msg}`;
  }

  override toString(): string {
    return this.format();
  }
}

/** A syntax error found while reading the schema text (carries a column). */
export class QapiParseError extends QapiError {
  override name = 'QapiParseError';
}

/** A semantic error: well-formed text that is not a valid schema. */
export class QapiSemError extends QapiError {
  override name = 'QapiSemError';
}

export function isQapiError(value: unknown): value is QapiError {
  return value instanceof QapiError;
}

/**
 * Where doc-comment problems go. In strict mode (QEMU's behaviour) they are
 * errors; in lenient mode they become warnings, formatted like the error
 * would be, and the caller recovers and carries on.
 */
export class DocDiagnostics {
  /** Warnings reported so far (lenient mode). */
  readonly warnings: string[] = [];

  constructor(
    readonly lenient: boolean,
    readonly onWarning?: (msg: string) => void,
    /** The release whose rules every stage applies (it travels with the diagnostics). */
    readonly rules: ReleaseRules = rulesFor(),
  ) {}

  /** Throws `err` in strict mode; records and forwards it in lenient mode. */
  report(err: QapiError): void {
    err.docComment = true;
    if (!this.lenient) throw err;
    const text = err.format();
    this.warnings.push(text);
    this.onWarning?.(text);
  }
}
