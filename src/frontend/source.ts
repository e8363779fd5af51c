/**
 * Source locations: which file and line something came from, through which
 * chain of `include` directives, and inside which definition.
 *
 * Error messages print a location exactly as QEMU's generator does, so the
 * formatting here is part of our observable behaviour.
 */
import type { SourceLocation } from './model.js';

/**
 * Schema-wide settings set by `{ 'pragma': ... }` directives. One object is
 * shared by the main file and everything it includes, so a pragma applies
 * to everything parsed after it, whichever file it sits in.
 */
export class QapiPragma {
  /** Must every definition have a doc comment? */
  docRequired = false;
  // The name lists are sets: a schema may list thousands of names, and
  // every definition looks itself up.
  /** Commands whose names may contain '_'. */
  commandNameExceptions: ReadonlySet<string> = new Set();
  /** Commands that may return something other than an object. */
  commandReturnsExceptions: ReadonlySet<string> = new Set();
  /** Definitions whose members may lack documentation. */
  documentationExceptions: ReadonlySet<string> = new Set();
  /** Types whose member names may break the case rules. */
  memberNameExceptions: ReadonlySet<string> = new Set();
}

export class SourceInfo implements SourceLocation {
  /** 1-based line number. */
  line = 1;
  defnMeta: string | null = null;
  defnName: string | null = null;
  readonly pragma: QapiPragma;

  constructor(
    /** File name as it is printed (relative to the main schema's folder). */
    readonly fname: string,
    /** Location of the `include` that brought this file in. */
    readonly parent: SourceInfo | null,
    pragma?: QapiPragma,
  ) {
    this.pragma = pragma ?? parent?.pragma ?? new QapiPragma();
  }

  /** Records the definition being checked, for the "In KIND 'NAME':" line. */
  setDefn(meta: string, name: string): void {
    this.defnMeta = meta;
    this.defnName = name;
  }

  /** A copy (sharing the pragma), `n` lines further down. */
  nextLine(n = 1): SourceInfo {
    const info = this.clone();
    info.line += n;
    return info;
  }

  /** A shallow copy: same file, parent and pragma; own line and definition. */
  clone(): SourceInfo {
    const info = new SourceInfo(this.fname, this.parent, this.pragma);
    info.line = this.line;
    info.defnMeta = this.defnMeta;
    info.defnName = this.defnName;
    return info;
  }

  /** `fname:line` */
  loc(): string {
    return `${this.fname}:${this.line}`;
  }

  /** The "FILE: In KIND 'NAME':" line (with its newline), or ''. */
  inDefn(): string {
    return this.defnName ? `${this.fname}: In ${this.defnMeta} '${this.defnName}':\n` : '';
  }

  /** One "In file included from FILE:LINE:" line per enclosing include. */
  includePath(): string {
    let ret = '';
    for (let parent = this.parent; parent; parent = parent.parent) {
      ret = `In file included from ${parent.loc()}:\n` + ret;
    }
    return ret;
  }

  toString(): string {
    return this.includePath() + this.inDefn() + this.loc();
  }
}
