/**
 * Doc comments as QEMU 7.2 (and every release before 9.0) reads them: a
 * line-by-line state machine (body, then member descriptions, features,
 * then further sections) with its own sections (`Note:`, `Example:`…),
 * indentation rule and messages. It fills the same QapiDoc model as the
 * newer parser in parser.ts; sections keep their tag as written (`tag`)
 * because QEMU 7.2's test dump prints it.
 *
 * Errors point where QEMU 7.2's do: at the comment line being read (or at
 * the closing '##' for a section left empty). In lenient mode each problem
 * is a warning and the line is kept as text.
 */
import { QapiDoc, QapiDocArgSection, QapiDocSection } from './doc.js';
import type { DocDiagnostics } from './errors.js';
import type { DocSectionKind } from './model.js';
import type { SourceInfo } from './source.js';

/** Tags that start a section (QEMU 7.2's _is_section_tag). */
const SECTION_TAGS = new Set(['Returns:', 'Since:', 'Note:', 'Notes:', 'Example:', 'Examples:', 'TODO:']);

const KIND_OF_TAG: Readonly<Record<string, DocSectionKind>> = {
  Returns: 'Returns',
  Since: 'Since',
  Note: 'Note',
  Notes: 'Note',
  Example: 'Example',
  Examples: 'Example',
  TODO: 'Todo',
};

type State = 'body' | 'args' | 'features' | 'various';

/** Python's str.isspace() for one character (enough for doc text). */
function isSpace(ch: string | undefined): boolean {
  return ch !== undefined && /^\s$/u.test(ch);
}

/** Length of the leading whitespace (Python's `\s*`). */
function leadingWhitespace(line: string): number {
  return /^\s*/u.exec(line)![0].length;
}

/** Python's str.rstrip(). */
function rstripPy(text: string): string {
  return text.replace(/\s+$/u, '');
}

/** The first space-separated word (Python's `line.split(' ', 1)[0]`). */
function firstWord(line: string): string {
  const i = line.indexOf(' ');
  return i < 0 ? line : line.slice(0, i);
}

export class LegacyDocReader {
  readonly doc: QapiDoc;
  /** The section lines go to; null once the comment has ended. */
  private section: QapiDocSection | null;
  private state: State = 'body';
  /** Each section's expected indentation. */
  private readonly indents = new Map<QapiDocSection, number>();

  constructor(
    info: SourceInfo,
    private readonly diag: DocDiagnostics,
    /** Reports a problem at the line being read (strict: throws). */
    private readonly problem: (msg: string) => void,
    /** Where the line being read is. */
    private readonly lineInfo: () => SourceInfo,
  ) {
    this.doc = new QapiDoc(info, null, diag);
    this.section = this.doc.body;
  }

  get symbol(): string | null {
    return this.doc.symbol;
  }

  /** Has the body any text yet? */
  get hasBodyText(): boolean {
    return this.doc.body.text !== '';
  }

  /** One comment line, `#` included. */
  append(raw: string): void {
    let line = raw.slice(1);
    if (!line) {
      this.appendFreeform(line);
      return;
    }
    if (line[0] !== ' ') {
      this.problem('missing space after #');
    } else {
      line = line.slice(1);
    }
    switch (this.state) {
      case 'body':
        return this.appendBodyLine(line);
      case 'args':
        return this.appendArgsLine(line);
      case 'features':
        return this.appendFeaturesLine(line);
      case 'various':
        return this.appendVariousLine(line);
    }
  }

  /** At the closing '##' (or where the comment was cut short). */
  endComment(): void {
    this.switchSection(null);
  }

  private appendBodyLine(line: string): void {
    const name = firstWord(line);
    const doc = this.doc;
    if (!doc.symbol && doc.body.text === '' && line.startsWith('@')) {
      if (!line.endsWith(':')) {
        this.problem("line should end with ':'");
        this.appendFreeform(line);
        return;
      }
      const symbol = line.slice(1, -1);
      if (!symbol) {
        this.problem("name required after '@'");
        return;
      }
      doc.symbol = symbol;
    } else if (doc.symbol) {
      if (name.startsWith('@') && name.endsWith(':')) {
        this.state = 'args';
        this.appendArgsLine(line);
      } else if (line === 'Features:') {
        this.state = 'features';
      } else if (SECTION_TAGS.has(name)) {
        this.state = 'various';
        this.appendVariousLine(line);
      } else {
        this.appendFreeform(line);
      }
    } else {
      this.appendFreeform(line);
    }
  }

  /** After a blank line, an unindented line starts a new section. */
  private startsParagraph(line: string): boolean {
    return this.section !== null && this.section.text.endsWith('\n\n') && line !== '' && !isSpace(line[0]);
  }

  private appendArgsLine(line: string): void {
    this.appendSymbolLine('args', line);
  }

  private appendFeaturesLine(line: string): void {
    this.appendSymbolLine('features', line);
  }

  /**
   * A line among `@name:` descriptions of members (`args`) or features:
   * a new description, a tagged section, or after a blank line a new
   * section (`Features:` among the members turns to the features).
   */
  private appendSymbolLine(kind: 'args' | 'features', line: string): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      this.startSymbolSection(kind, name.slice(1, -1), this.describedLine(line, /^@\S*:\s*/u));
      return;
    }
    if (SECTION_TAGS.has(name)) {
      this.state = 'various';
      this.appendVariousLine(line);
      return;
    }
    if (this.startsParagraph(line)) {
      if (kind === 'args' && line === 'Features:') {
        this.state = 'features';
      } else {
        this.startSection(null, 0);
        this.state = 'various';
        this.appendVariousLine(line);
      }
      return;
    }
    this.appendFreeform(line);
  }

  private appendVariousLine(line: string): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      const first = this.doc.sections[0];
      this.problem(`'${name}' can't follow '${first?.tag ?? 'None'}' section`);
      this.section?.appendLine(rstripPy(line));
      return;
    }
    if (SECTION_TAGS.has(name)) {
      const { indent, text } = this.describedLine(line, /^\S*:\s*/u);
      this.startSection(name.slice(0, -1), indent);
      this.appendFreeform(text);
      return;
    }
    this.appendFreeform(line);
  }

  /**
   * A tag line ('@arg: text', 'Since: text'): the text after the tag, put
   * back at its column, and that column as the section's indentation (0
   * when the text starts on the next line).
   */
  private describedLine(line: string, tag: RegExp): { indent: number; text: string } {
    const indent = tag.exec(line)![0].length;
    const rest = line.slice(indent);
    return rest ? { indent, text: ' '.repeat(indent) + rest } : { indent: 0, text: rest };
  }

  private startSymbolSection(
    which: 'args' | 'features',
    name: string,
    described: { indent: number; text: string },
  ): void {
    const dict = which === 'args' ? this.doc.args : this.doc.features;
    if (!name) this.problem('invalid parameter name');
    else if (dict.has(name)) this.problem(`'${name}' parameter name duplicated`);
    const section = new QapiDocArgSection(this.lineInfo(), which === 'args' ? 'Member' : 'Feature', name);
    this.indents.set(section, described.indent);
    this.switchSection(section);
    this.doc.allSections.push(section);
    if (name && !dict.has(name)) dict.set(name, section);
    this.appendFreeform(described.text);
  }

  private startSection(tag: string | null, indent: number): void {
    const doc = this.doc;
    if ((tag === 'Returns' || tag === 'Since') && doc.sections.some((s) => s.tag === tag)) {
      this.problem(`duplicated '${tag}' section`);
    }
    const section = new QapiDocSection(this.lineInfo(), tag === null ? 'Plain' : KIND_OF_TAG[tag]!);
    section.tag = tag;
    this.indents.set(section, indent);
    this.switchSection(section);
    doc.sections.push(section);
    doc.allSections.push(section);
    if (tag === 'Returns') doc.returns ??= section;
    if (tag === 'Since') doc.since ??= section;
  }

  private switchSection(next: QapiDocSection | null): void {
    const current = this.section;
    if (current) {
      current.text = current.text.trim();
      if (current !== this.doc.body && current.text === '') {
        const name = current instanceof QapiDocArgSection ? current.name : (current.tag ?? 'None');
        this.problem(`empty doc section '${name}'`);
      }
    }
    this.section = next;
  }

  private appendFreeform(line: string): void {
    const m = /^(@\S+:)/u.exec(line);
    if (m) this.problem(`'${m[1]}' not allowed in free-form documentation`);
    const section = this.section;
    if (!section) return;
    if (line) {
      const want = this.indents.get(section) ?? 0;
      if (leadingWhitespace(line) < want) {
        this.problem(`unexpected de-indent (expected at least ${want} spaces)`);
        line = line.trimStart();
      } else {
        line = line.slice(want);
      }
    }
    section.text += rstripPy(line) + '\n';
  }
}
