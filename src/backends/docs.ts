/**
 * QAPI doc comments → JSDoc.
 *
 * `@name` references in QAPI text become code spans, so that they are not
 * read as JSDoc tags; `*\/` is broken up so that text cannot end the comment.
 */
import type { DocSectionKind, IfCondition, SchemaDoc, SchemaFeature } from '../frontend/model.js';
import type { Absence } from './presence.js';
import { formatIfCondition } from './selection.js';

/** What a presence note is about: it decides the wording. */
export type PresenceSubject = 'member' | 'value' | 'command' | 'event';

const indentPatterns = new Map<number, RegExp>();

/** Matches a line break and up to `indent` spaces after it. */
function indentPattern(indent: number): RegExp {
  let re = indentPatterns.get(indent);
  if (!re) indentPatterns.set(indent, (re = new RegExp(`\n {0,${indent}}`, 'g')));
  return re;
}

/** Removes the indentation QAPI doc text keeps on continuation lines. */
function dedent(text: string): string {
  if (!text.includes('\n')) return text.trim();
  let indent = Infinity;
  for (const m of text.matchAll(/\n( *)(?=\S)/g)) indent = Math.min(indent, m[1]!.length);
  const body = indent > 0 && indent !== Infinity ? text.replace(indentPattern(indent), '\n') : text;
  return (body.includes(' \n') || body.includes('\t\n') ? body.replace(/[ \t]+\n/g, '\n') : body).trim();
}

function clean(text: string): string {
  let out = dedent(text);
  if (out.includes('*/')) out = out.replace(/\*\//g, '*\\/');
  if (out.includes('@')) out = out.replace(/(^|[^\w`{])@([A-Za-z_][\w-]*)/g, '$1`$2`');
  return out;
}

/** JSDoc tag for each tagged QAPI doc section; others become paragraphs. */
const SECTION_TAGS: Partial<Record<DocSectionKind, string>> = {
  Since: 'since',
  Returns: 'returns',
  Errors: 'throws',
  Todo: 'todo',
};

/** Collects the lines of one doc comment. */
export class DocBuilder {
  private readonly paragraphs: string[] = [];
  private readonly tags: string[] = [];

  /** A disabled builder renders nothing (code generated without docs). */
  constructor(private readonly enabled = true) {}

  text(text: string | null | undefined): this {
    if (text) {
      const cleaned = clean(text);
      if (cleaned.trim() !== '') this.paragraphs.push(cleaned);
    }
    return this;
  }

  tag(name: string, text = ''): this {
    const cleaned = clean(text);
    const sep = cleaned.includes('\n') && /^[-*] /.test(cleaned) ? '\n' : ' ';
    this.tags.push(cleaned ? `@${name}${sep}${cleaned}` : `@${name}`);
    return this;
  }

  /** Notes the `deprecated` / `unstable` features and the `if` condition. */
  meta(features: readonly SchemaFeature[], ifcond: IfCondition | null, doc: SchemaDoc | null): this {
    for (const f of features) {
      const described = doc?.features.get(f.name)?.text ?? '';
      if (f.name === 'deprecated') this.tag('deprecated', described);
      else if (f.name === 'unstable') this.tag('experimental', described || 'unstable (QAPI feature `unstable`)');
      else this.text(`Feature \`${f.name}\`${described ? `: ${described}` : '.'}`);
    }
    if (ifcond !== null) this.tag('ifcond', formatIfCondition(ifcond));
    return this;
  }

  /**
   * Says where something may be missing (see presence.ts): a build of QEMU
   * where its condition fails, or the oldest supported release `oldest`.
   */
  presence(absence: Absence | null, subject: PresenceSubject, oldest: string): this {
    if (absence === null) return this;
    if (absence.ifcond !== null) {
      switch (subject) {
        case 'member':
          this.text('Optional here: only QEMU builds where its condition holds have it.');
          break;
        case 'command':
          this.text('Only in QEMU builds where its condition holds; elsewhere the call fails with CommandNotFound.');
          break;
        case 'event':
          this.text('Only QEMU builds where its condition holds emit it.');
          break;
        default:
      }
    }
    if (absence.newer) {
      switch (subject) {
        case 'member':
          this.text(
            `Optional here: not in ${oldest}, the oldest supported release, which neither sends nor accepts it.`,
          );
          break;
        case 'value':
          this.text(`Not in ${oldest}, the oldest supported release, which neither sends nor accepts it.`);
          break;
        case 'command':
          this.text(`Not in ${oldest}, the oldest supported release: the call fails with CommandNotFound there.`);
          break;
        case 'event':
          this.text(`Not in ${oldest}, the oldest supported release, which never emits it.`);
          break;
      }
    }
    return this;
  }

  /** The body and the tagged sections of an entity's doc. */
  entityDoc(doc: SchemaDoc | null): this {
    if (!doc) return this;
    this.text(doc.body?.text);
    for (const section of doc.sections) {
      const tag = SECTION_TAGS[section.kind];
      if (tag) this.tag(tag, section.text);
      else this.text(section.text);
    }
    return this;
  }

  /**
   * Only the first paragraph of the entity's overview: its doc body, or
   * (QEMU 11.1 docs, whose body is the intro indented under `@NAME:`) the
   * first untagged paragraph before the member descriptions.
   */
  summary(doc: SchemaDoc | null): this {
    let body = doc?.body?.text.trim() ?? '';
    if (body === '' && doc && doc.body?.kind === 'Intro') {
      body = doc.allSections[1]?.kind === 'Plain' ? doc.allSections[1].text.trim() : '';
    }
    return this.text(body.split(/\n\s*\n/, 1)[0]);
  }

  isEmpty(): boolean {
    return this.paragraphs.length === 0 && this.tags.length === 0;
  }

  /** The comment, each line prefixed by `indent`, or '' when empty. */
  render(indent = ''): string {
    const { paragraphs, tags } = this;
    if (!this.enabled || (paragraphs.length === 0 && tags.length === 0)) {
      return '';
    }
    if (paragraphs.length + tags.length === 1) {
      const only = paragraphs[0] ?? tags[0]!;
      if (!only.includes('\n')) return `${indent}/** ${only} */\n`;
    }
    // Paragraphs are separated by blank lines; tags follow the last one.
    let text = paragraphs.join('\n\n');
    if (tags.length > 0) text += (text === '' ? '' : '\n\n') + tags.join('\n');
    const body = `${indent} * ${text.replace(/\n/g, `\n${indent} * `)}`.replace(/ \* (?=\n)/g, ' *');
    return `${indent}/**\n${body}\n${indent} */\n`;
  }
}
