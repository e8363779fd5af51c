/**
 * The model dump of `qapi-ts dump`: the format of QEMU's QAPI test suite
 * (see ../shared/reference/DUMP-FORMAT.md), so that our frontend can be
 * compared with QEMU's line by line.
 */
import type {
  CheckedSchema,
  DocArgSection,
  IfCondition,
  SchemaAlternateType,
  SchemaArrayType,
  SchemaBranches,
  SchemaAlternatives,
  SchemaCommand,
  SchemaDoc,
  SchemaEnumType,
  SchemaEvent,
  SchemaFeature,
  SchemaIfCond,
  SchemaInclude,
  SchemaObjectType,
  SchemaVisitor,
} from './model.js';

/** Python's repr() of a string. */
function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\' || ch === quote) out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a parsed condition (dicts and lists of strings). */
function pyRepr(cond: IfCondition | readonly IfCondition[]): string {
  if (typeof cond === 'string') return pyStr(cond);
  if (Array.isArray(cond)) return `[${cond.map((c) => pyRepr(c)).join(', ')}]`;
  const entries = Object.entries(cond as Record<string, IfCondition | IfCondition[]>);
  return `{${entries.map(([k, v]) => `${pyStr(k)}: ${pyRepr(v)}`).join(', ')}}`;
}

/** A condition as the dump prints it: a bare string as is, else its repr. */
export function formatIfCond(cond: IfCondition): string {
  return typeof cond === 'string' ? cond : pyRepr(cond);
}

const py = (b: boolean): string => (b ? 'True' : 'False');

class DumpVisitor implements SchemaVisitor {
  readonly lines: string[] = [];

  private out(line: string): void {
    this.lines.push(line);
  }

  private ifLine(ifcond: SchemaIfCond, indent = 4): void {
    if (ifcond.isPresent() && ifcond.ifcond !== null) {
      this.out(`${' '.repeat(indent)}if ${formatIfCond(ifcond.ifcond)}`);
    }
  }

  private featureLines(features: readonly SchemaFeature[], indent = 4): void {
    for (const f of features) {
      this.out(`${' '.repeat(indent)}feature ${f.name}`);
      this.ifLine(f.ifcond, indent + 4);
    }
  }

  private variantLines(variants: SchemaBranches | SchemaAlternatives | null): void {
    if (!variants) return;
    this.out(`    tag ${variants.tagMember.name}`);
    for (const v of variants.variants) {
      this.out(`    case ${v.name}: ${v.type.name}`);
      this.ifLine(v.ifcond, 8);
    }
  }

  visitModule(name: string): void {
    this.out(`module ${name}`);
  }

  visitInclude(e: SchemaInclude): void {
    this.out(`include ${e.name}`);
  }

  visitEnumType(e: SchemaEnumType): void {
    this.out(`enum ${e.name}`);
    if (e.prefix) this.out(`    prefix ${e.prefix}`);
    for (const m of e.members) {
      this.out(`    member ${m.name}`);
      this.ifLine(m.ifcond, 8);
      this.featureLines(m.features, 8);
    }
    this.ifLine(e.ifcond);
    this.featureLines(e.features);
  }

  visitArrayType(e: SchemaArrayType): void {
    if (!e.info) return; // built-in arrays are not printed
    this.out(`array ${e.name} ${e.elementType.name}`);
    this.ifLine(e.ifcond);
  }

  visitObjectType(e: SchemaObjectType): void {
    this.out(`object ${e.name}`);
    if (e.base) this.out(`    base ${e.base.name}`);
    for (const m of e.localMembers) {
      this.out(`    member ${m.name}: ${m.type.name} optional=${py(m.optional)}`);
      this.ifLine(m.ifcond, 8);
      this.featureLines(m.features, 8);
    }
    this.variantLines(e.branches);
    this.ifLine(e.ifcond);
    this.featureLines(e.features);
  }

  visitAlternateType(e: SchemaAlternateType): void {
    this.out(`alternate ${e.name}`);
    this.variantLines(e.alternatives);
    this.ifLine(e.ifcond);
    this.featureLines(e.features);
  }

  visitCommand(e: SchemaCommand): void {
    this.out(`command ${e.name} ${e.argType?.name ?? 'None'} -> ${e.retType?.name ?? 'None'}`);
    this.out(
      `    gen=${py(e.gen)} success_response=${py(e.successResponse)} boxed=${py(e.boxed)}` +
        ` oob=${py(e.allowOob)} preconfig=${py(e.allowPreconfig)}` +
        (e.coroutine ? ' coroutine=True' : ''),
    );
    this.ifLine(e.ifcond);
    this.featureLines(e.features);
  }

  visitEvent(e: SchemaEvent): void {
    this.out(`event ${e.name} ${e.argType?.name ?? 'None'}`);
    this.out(`    boxed=${py(e.boxed)}`);
    this.ifLine(e.ifcond);
    this.featureLines(e.features);
  }
}

/**
 * The doc-comment part of the dump, one block per doc comment, in the
 * format of release `format`: up to 11.0 the body, the member and feature
 * descriptions, then the other sections (7.2 names them as written, with
 * `None` for untagged ones); from 11.1 every section in text order, by kind.
 */
function docLines(docs: readonly SchemaDoc[], format: DumpFormat): string[] {
  const lines: string[] = [];
  for (const doc of docs) {
    lines.push(doc.symbol !== null ? `doc symbol=${doc.symbol}` : 'doc freeform');
    if (format === '11.1') {
      for (const section of doc.allSections) {
        const name =
          section.kind === 'Member' || section.kind === 'Feature' ? `=${(section as DocArgSection).name}` : '';
        lines.push(`    ${section.kind}${name}\n${section.text}`);
      }
      continue;
    }
    lines.push(`    body=\n${doc.body?.text ?? ''}`);
    for (const [name, section] of doc.args) lines.push(`    arg=${name}\n${section.text}`);
    for (const [name, section] of doc.features) lines.push(`    feature=${name}\n${section.text}`);
    for (const section of doc.sections) {
      const name = format === '7.2' ? (section.tag ?? 'None') : section.kind;
      lines.push(`    section=${name}\n${section.text}`);
    }
  }
  return lines;
}

/** Which release's test dump to print (see ReleaseRules.dumpFormat). */
export type DumpFormat = '7.2' | '10.0' | '11.1';

/** The entity lines of the dump (everything before the doc blocks). */
export function dumpEntities(schema: CheckedSchema): string {
  const visitor = new DumpVisitor();
  schema.visit(visitor);
  return visitor.lines.map((l) => l + '\n').join('');
}

/**
 * The complete dump, as the test-qapi.py of the release whose rules the
 * schema was read with prints it (`format` overrides; default 10.0's for a
 * schema that does not say).
 */
export function dumpSchema(schema: CheckedSchema, format?: DumpFormat): string {
  const f = format ?? (schema as { rules?: { dumpFormat: DumpFormat } }).rules?.dumpFormat ?? '10.0';
  return (
    dumpEntities(schema) +
    docLines(schema.docs, f)
      .map((l) => l + '\n')
      .join('')
  );
}
