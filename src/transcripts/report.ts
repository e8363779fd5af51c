/** The report `verify` prints: one line per fault, then the totals. */
import { OLDER_QEMU_HINT, shortPath, suggestsOlderQemu } from '../support/problems.js';
import type { Finding, VerifyResult } from './verify.js';

/**
 * The report's lines: one per finding of each invalid message, then the
 * totals. Findings of one message that differ only in array indices
 * (`return[0].acpi`, `return[1].acpi`…) are shown once, with a count.
 */
export function formatReport(result: VerifyResult, source: string): string[] {
  const out: string[] = [];
  for (const verdict of result.verdicts) {
    const groups = new Map<string, { first: Finding; more: number }>();
    for (const f of verdict.findings) {
      const key = `${f.path.replace(/\[\d+\]/g, '[]')}\0${f.message}`;
      const group = groups.get(key);
      if (group) group.more++;
      else groups.set(key, { first: f, more: 0 });
    }
    for (const { first, more } of groups.values()) {
      const where = first.path === '' ? '' : `${shortPath(first.path)}: `;
      const also = more === 0 ? '' : ` (and ${more} more like it)`;
      out.push(`${source}:${verdict.line}: ${verdict.label}: ${where}${first.message}${also}`);
    }
  }
  // What a QEMU sent lacks what the schema has: the likely cause is its age.
  if (suggestsOlderQemu(result.verdicts.flatMap((v) => (v.dir === 'server' ? v.findings : [])))) {
    out.push(`hint: ${OLDER_QEMU_HINT}`);
  }
  out.push(formatSummary(result));
  return out;
}

export function formatSummary(result: Pick<VerifyResult, 'messages' | 'valid' | 'invalid'>): string {
  return `${result.messages} messages, ${result.valid} valid, ${result.invalid} invalid`;
}
