/**
 * Schema files and a build's `query-qmp-schema` reply together: the files
 * give names, doc comments and integer widths, the reply says which of
 * the files' conditional parts this build has (its defined symbols).
 * When the two do not describe the same thing (files of another release,
 * say), the differences are listed for the user.
 */
import type { CheckedSchema } from '../frontend/model.js';
import { generateIntrospection, inferDefines } from '../backends/introspect.js';
import { IntrospectedSchema } from '../runtime/introspection.js';

export interface SchemaAgreement {
  /** The condition symbols the build had defined (for `defines`). */
  defines: string[];
  /** How the files and the reply disagree, one line each; empty when they agree. */
  disagreements: string[];
}

/** At most this many names are listed per kind of difference. */
const LISTED = 8;

function listed(names: readonly string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown} and ${names.length - LISTED} more` : shown;
}

/** Key-sorted JSON, so that member order within objects does not count. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * Which symbols the build behind `reply` had defined, judged against
 * `schema`, and where the two disagree. Throws IntrospectionError when
 * `reply` is not introspection data.
 */
export function compareSchemaWithIntrospection(schema: CheckedSchema, reply: unknown): SchemaAgreement {
  const live = new IntrospectedSchema(reply);
  const inferred = inferDefines(schema, reply);
  const expected = generateIntrospection(schema, { defines: inferred.defines });
  const disagreements: string[] = [];
  const names = (entries: readonly { name: string; 'meta-type': string }[], meta: string): Set<string> =>
    new Set(entries.filter((e) => e['meta-type'] === meta).map((e) => e.name));
  for (const meta of ['command', 'event']) {
    const inFiles = names(expected, meta);
    const inBuild = names(live.entries, meta);
    const onlyBuild = [...inBuild].filter((n) => !inFiles.has(n));
    const onlyFiles = [...inFiles].filter((n) => !inBuild.has(n));
    if (onlyBuild.length)
      disagreements.push(`the QEMU has ${meta}s the schema lacks (not generated): ${listed(onlyBuild)}`);
    if (onlyFiles.length) disagreements.push(`the schema has ${meta}s the QEMU lacks: ${listed(onlyFiles)}`);
  }
  if (inferred.contradictions.length) {
    disagreements.push(`conditions no set of symbols explains: ${listed(inferred.contradictions)}`);
  }
  if (disagreements.length === 0 && canonical(expected) !== canonical(live.entries)) {
    const differing = expected.filter((e, i) => canonical(e) !== canonical(live.entries[i])).length;
    disagreements.push(`${differing || 'some'} definitions differ (members, enum values or types)`);
  }
  return { defines: inferred.defines, disagreements };
}
