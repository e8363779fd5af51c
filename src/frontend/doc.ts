/**
 * Doc comments: the model of one `## ... ##` block.
 *
 * A definition doc (first line `@NAME:`) has a body, member descriptions
 * (`@member: text`), feature descriptions (after `Features:`), and tagged
 * sections (`Returns:`, `Errors:`, `Since:`, `TODO:`) plus further untagged
 * paragraphs. A free-form doc has only its body. The parser (parser.ts)
 * fills a QapiDoc; the schema checker then connects members and features to
 * their descriptions and reports what is missing or left over.
 */
import type { DocArgSection, DocSection, DocSectionKind, SchemaDoc } from './model.js';
import { DocDiagnostics, QapiSemError } from './errors.js';
import type { SourceInfo } from './source.js';
import type { JsonObject } from './parser.js';

/**
 * What the doc checker needs from a schema member (object member, enum
 * value, branch, argument) or feature.
 */
export interface DocMember {
  readonly name: string;
  /** Its role as error messages name it: 'member', 'value', 'feature'… */
  readonly role: string;
  readonly info: SourceInfo | null;
}

export class QapiDocSection implements DocSection {
  text = '';
  /** QEMU 7.2's section name (see DocSection.tag). */
  tag?: string | null;

  constructor(
    /** Where the section starts. */
    public info: SourceInfo,
    readonly kind: DocSectionKind,
  ) {}

  appendLine(line: string): void {
    this.text += line + '\n';
  }
}

export class QapiDocArgSection extends QapiDocSection implements DocArgSection {
  /** The schema member this describes, once connected. */
  member: DocMember | null = null;

  constructor(
    info: SourceInfo,
    override readonly kind: 'Member' | 'Feature',
    readonly name: string,
  ) {
    super(info, kind);
  }

  connect(member: DocMember): void {
    this.member = member;
  }
}

/** Section tags as written in a comment (`TODO:`) → section kind. */
export const TAGGED_SECTION_KINDS: Readonly<Record<string, DocSectionKind>> = {
  Returns: 'Returns',
  Errors: 'Errors',
  Since: 'Since',
  TODO: 'Todo',
};

export class QapiDoc implements SchemaDoc {
  /** All sections in text order; the first is always the body. */
  readonly allSections: QapiDocSection[];
  /** The untagged text at the top (free-form docs: all the text). */
  readonly body: QapiDocSection;
  readonly args = new Map<string, QapiDocArgSection>();
  readonly features = new Map<string, QapiDocArgSection>();
  /** A command's `Returns:` section. */
  returns: QapiDocSection | null = null;
  /** A command's `Errors:` section. */
  errors: QapiDocSection | null = null;
  since: QapiDocSection | null = null;
  /** Sections other than body, member and feature descriptions. */
  readonly sections: QapiDocSection[] = [];
  /** Where the next stub member description goes (see connectMember); -1 until the first. */
  private stubIndex = -1;

  constructor(
    /** The block's first line ('##'). */
    readonly info: SourceInfo,
    /** The documented definition, or null for a free-form block (QEMU 7.2's parser sets it after the fact). */
    public symbol: string | null = null,
    /** Where problems go (strict: thrown; lenient: warnings). */
    readonly diag: DocDiagnostics = new DocDiagnostics(false),
  ) {
    // From QEMU 11.1 a definition doc's body is its 'Intro' (the overview
    // indented under `@NAME:`); untagged paragraphs after it are 'Plain'
    // sections of their own.
    this.body = new QapiDocSection(info, symbol !== null && diag.rules.indentedIntro ? 'Intro' : 'Plain');
    this.allSections = [this.body];
  }

  /** Finishes parsing: trims blank lines, rejects empty tagged sections. */
  end(): void {
    for (const section of this.allSections) {
      section.text = trimNewlines(section.text);
      if (section.kind !== 'Plain' && section.kind !== 'Intro' && section.text === '') {
        this.diag.report(new QapiSemError(section.info, `text required after '${section.kind}:'`));
      }
    }
  }

  /** Continues the current untagged paragraph run, or starts a new one. */
  ensureUntaggedSection(info: SourceInfo): void {
    const last = this.allSections[this.allSections.length - 1];
    if (last && last.kind === 'Plain') {
      if (!last.text) last.info = info; // empty so far: start it here
      last.text += '\n';
      return;
    }
    const section = new QapiDocSection(info, 'Plain');
    this.sections.push(section);
    this.allSections.push(section);
  }

  newTaggedSection(info: SourceInfo, kind: DocSectionKind): void {
    const section = new QapiDocSection(info, kind);
    const slot = kind === 'Returns' ? 'returns' : kind === 'Errors' ? 'errors' : kind === 'Since' ? 'since' : null;
    if (slot) {
      if (this[slot]) {
        this.diag.report(new QapiSemError(info, `duplicated '${kind}' section`));
      } else {
        this[slot] = section;
      }
    }
    this.sections.push(section);
    this.allSections.push(section);
  }

  newArgument(info: SourceInfo, name: string): void {
    this.newDescription(info, name, 'Member', this.args);
  }

  newFeature(info: SourceInfo, name: string): void {
    this.newDescription(info, name, 'Feature', this.features);
  }

  private newDescription(
    info: SourceInfo,
    name: string,
    kind: 'Member' | 'Feature',
    desc: Map<string, QapiDocArgSection>,
  ): void {
    if (!name) {
      this.diag.report(new QapiSemError(info, 'invalid parameter name'));
    } else if (desc.has(name)) {
      this.diag.report(new QapiSemError(info, `'${name}' parameter name duplicated`));
    }
    const section = new QapiDocArgSection(info, kind, name);
    this.allSections.push(section);
    // Lenient recovery: a bad or repeated name keeps its text in
    // allSections but does not replace the first description.
    if (name && !desc.has(name)) desc.set(name, section);
  }

  appendLine(line: string): void {
    this.allSections[this.allSections.length - 1]!.appendLine(line);
  }

  /**
   * Connects a member (or argument, value, branch) to its description.
   * An undocumented member is an error unless the definition is listed in
   * the `documentation-exceptions` pragma; then a stub description is
   * made, placed after the existing member descriptions.
   */
  connectMember(member: DocMember): void {
    let section = this.args.get(member.name);
    if (!section && this.diag.rules.legacyDocs) {
      // QEMU 7.2: undocumented members are fine; the stub goes last.
      section = new QapiDocArgSection(this.info, 'Member', member.name);
      this.args.set(member.name, section);
      this.allSections.push(section);
    }
    if (!section) {
      const info = member.info;
      if (info && !(this.symbol !== null && info.pragma.documentationExceptions.has(this.symbol))) {
        this.diag.report(new QapiSemError(info, `${member.role} '${member.name}' lacks documentation`));
      }
      section = new QapiDocArgSection(this.info, 'Member', member.name);
      this.args.set(member.name, section);
      // Found once per doc: rescanning the growing run for every stub
      // would be quadratic in the number of members.
      if (this.stubIndex < 0) {
        this.stubIndex = 1;
        // QEMU 11.1: the overview's paragraphs (after the intro) come first.
        if (this.body.kind === 'Intro') {
          while (this.stubIndex < this.allSections.length && this.allSections[this.stubIndex]!.kind === 'Plain') {
            this.stubIndex++;
          }
        }
        while (this.stubIndex < this.allSections.length && this.allSections[this.stubIndex]!.kind === 'Member') {
          this.stubIndex++;
        }
      }
      this.allSections.splice(this.stubIndex++, 0, section);
    }
    section.connect(member);
  }

  /**
   * QEMU 10.2 on: a command with a return type gets an empty 'Returns'
   * section when its doc has none, placed after the member descriptions,
   * else before the last 'Errors' section, else before the last feature
   * description, else right after the body. Like QEMU's, it is in
   * allSections only.
   */
  ensureReturns(info: SourceInfo): void {
    if (this.allSections.some((s) => s.kind === 'Returns')) return;
    const stub = new QapiDocSection(info, 'Returns');
    const lastOf = (kind: DocSectionKind): number => {
      for (let i = this.allSections.length - 1; i >= 0; i--) if (this.allSections[i]!.kind === kind) return i;
      return -1;
    };
    let at = lastOf('Member');
    if (at >= 0) at++;
    else at = lastOf('Errors');
    if (at < 0) at = lastOf('Feature');
    if (at < 0) at = 1;
    this.allSections.splice(at, 0, stub);
    // Stubs of undocumented members go after the members: keep their place.
    if (this.stubIndex > at) this.stubIndex++;
  }

  connectFeature(feature: DocMember): void {
    const section = this.features.get(feature.name);
    if (!section) {
      this.diag.report(new QapiSemError(feature.info, `feature '${feature.name}' lacks documentation`));
      return;
    }
    section.connect(feature);
  }

  /** Checks the sections against the kind of definition documented. */
  checkExpr(expr: JsonObject): void {
    if (this.diag.rules.legacyDocs) {
      if (this.returns && !('command' in expr)) {
        this.diag.report(new QapiSemError(this.info, "'Returns:' is only valid for commands"));
      }
      return;
    }
    if ('command' in expr) {
      if (this.returns && !('returns' in expr)) {
        this.diag.report(new QapiSemError(this.returns.info, "'Returns' section, but command doesn't return anything"));
      }
      return;
    }
    if (this.returns) {
      this.diag.report(new QapiSemError(this.returns.info, "'Returns' section is only valid for commands"));
    }
    if (this.errors) {
      this.diag.report(new QapiSemError(this.errors.info, "'Errors' section is only valid for commands"));
    }
  }

  /** After connecting: every description must belong to something. */
  check(): void {
    this.checkDescribed(this.args, 'member');
    this.checkDescribed(this.features, 'feature');
  }

  private checkDescribed(desc: Map<string, QapiDocArgSection>, what: string): void {
    let bogus: QapiDocArgSection[] | null = null;
    for (const s of desc.values()) if (!s.member) (bogus ??= []).push(s);
    if (!bogus) return;
    const many = bogus.length > 1;
    const names = bogus.map((s) => s.name).join("', '");
    this.diag.report(
      new QapiSemError(
        this.diag.rules.legacyDocs ? this.info : bogus[0]!.info,
        `documented ${what}${many ? 's' : ''} '${names}' ${many ? 'do' : 'does'} not exist`,
      ),
    );
  }
}

function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 10) start++;
  while (end > start && text.charCodeAt(end - 1) === 10) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}
