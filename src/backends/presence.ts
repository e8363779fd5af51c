/**
 * Presence: whether a member, enum value, branch, command or event is
 * always there, computed once per generation run for every backend.
 *
 * Something may be absent for two reasons:
 *  - its `if` condition is not known to hold: without `defines`, code is
 *    generated for every build of QEMU, and a build where the condition
 *    fails lacks it (its own query-qmp-schema does not list it either);
 *  - it is newer than the oldest supported release (`oldestSchema`).
 * A member that may be absent is optional in types and validators alike;
 * enum values, branches, commands and events that may be absent stay (some
 * QEMU has them) and their docs say where they are missing.
 */
import type {
  CheckedSchema,
  IfCondition,
  SchemaAlternateType,
  SchemaCommand,
  SchemaEnumMember,
  SchemaEnumType,
  SchemaEvent,
  SchemaIfCond,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaVariant,
} from '../frontend/model.js';
import { memberKey, type RemovedCommand, type SchemaDiff, type UntaggedMember } from './compat.js';

/** Why something may be absent (null from the queries: always present). */
export interface Absence {
  /** The condition it depends on, when that is not known to hold. */
  readonly ifcond: IfCondition | null;
  /** The oldest supported release lacks it. */
  readonly newer: boolean;
}

function same(a: IfCondition, b: IfCondition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether `a` surely implies `b` (false when unsure). */
function implies(a: IfCondition | null, b: IfCondition): boolean {
  if (a === null) return false;
  if (same(a, b)) return true;
  if (typeof b !== 'string' && 'all' in b) return b.all.every((x) => implies(a, x));
  if (typeof a !== 'string' && 'any' in a) return a.any.every((x) => implies(x, b));
  if (typeof b !== 'string' && 'any' in b && b.any.some((x) => implies(a, x))) return true;
  return typeof a !== 'string' && 'all' in a && a.all.some((x) => implies(x, b));
}

/** The conjunction of `conds`, leaving out what `context` already implies. */
function conjunction(conds: readonly (IfCondition | null)[], context: IfCondition | null): IfCondition | null {
  const parts: IfCondition[] = [];
  for (const c of conds) {
    if (c !== null && !implies(context, c) && !parts.some((p) => same(p, c))) parts.push(c);
  }
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0]! : { all: parts };
}

export class Presence {
  constructor(
    private readonly schema: CheckedSchema,
    /** Conditions are evaluated exactly (defines given): nothing is conditional. */
    private readonly exact: boolean,
    private readonly diff: SchemaDiff | null,
    /** How docs name the oldest supported release. */
    readonly oldestLabel: string,
  ) {}

  private absence(ifcond: IfCondition | null, newer: boolean): Absence | null {
    const open = this.exact ? null : ifcond;
    return open === null && !newer ? null : { ifcond: open, newer };
  }

  private ownerCond(name: string): IfCondition | null {
    return this.schema.lookupEntity(name)?.ifcond.ifcond ?? null;
  }

  /**
   * The member's condition: its own and its type's (an array type's is its
   * element type's), beyond its owner's.
   */
  memberCondition(m: SchemaObjectMember): IfCondition | null {
    return conjunction([m.ifcond.ifcond, m.type.ifcond.ifcond], this.ownerCond(m.definedIn));
  }

  member(m: SchemaObjectMember): Absence | null {
    return this.absence(this.memberCondition(m), this.diff?.newerMembers.has(memberKey(m)) ?? false);
  }

  /** Whether the member is optional here: declared so, or maybe absent. */
  optional(m: SchemaObjectMember): boolean {
    return m.optional || this.member(m) !== null;
  }

  enumValue(t: SchemaEnumType, v: SchemaEnumMember): Absence | null {
    return this.absence(v.ifcond.ifcond, this.diff?.newerValues.get(t.name)?.has(v.name) ?? false);
  }

  /** A branch's condition: its own, its tag value's and its type's, beyond the union's. */
  branchCondition(t: SchemaObjectType | SchemaAlternateType, v: SchemaVariant): IfCondition | null {
    let tagCond: SchemaIfCond | undefined;
    if (t.meta !== 'alternate') {
      const tagType = t.branches?.tagMember.type;
      if (tagType?.meta === 'enum') tagCond = tagType.members.find((m) => m.name === v.name)?.ifcond;
    }
    return conjunction([v.ifcond.ifcond, tagCond?.ifcond ?? null, v.type.ifcond.ifcond], t.ifcond.ifcond);
  }

  branch(t: SchemaObjectType | SchemaAlternateType, v: SchemaVariant): Absence | null {
    return this.absence(this.branchCondition(t, v), this.diff?.newerBranches.get(t.name)?.has(v.name) ?? false);
  }

  command(c: SchemaCommand): Absence | null {
    return this.absence(c.ifcond.ifcond, this.diff?.newerCommands.has(c.name) ?? false);
  }

  event(e: SchemaEvent): Absence | null {
    return this.absence(e.ifcond.ifcond, this.diff?.newerEvents.has(e.name) ?? false);
  }

  /** Members only the oldest release sends, which validators of `t` let through. */
  removedMembers(t: SchemaObjectType): readonly string[] {
    return [...(this.diff?.removedMembers.get(t.name) ?? [])];
  }

  /** Enum values only the oldest release knows, which validators accept. */
  removedValues(t: SchemaEnumType): readonly string[] {
    return [...(this.diff?.removedValues.get(t.name) ?? [])];
  }

  /** The oldest release sends any string here, where the newest has an enum. */
  widened(m: SchemaObjectMember): boolean {
    return this.diff?.widenedMembers.has(memberKey(m)) ?? false;
  }

  /** Commands only the oldest release has, in its schema's order. */
  removedCommands(): ReadonlyMap<string, RemovedCommand> {
    return this.diff?.removedCommands ?? new Map();
  }

  /** Events only the oldest release has → whether they carry data. */
  removedEvents(): ReadonlyMap<string, boolean> {
    return this.diff?.removedEvents ?? new Map();
  }

  /** The members the oldest release sends, without a tag, for union `t`. */
  untagged(t: SchemaObjectType): readonly UntaggedMember[] | null {
    return this.diff?.untagged.get(t.name) ?? null;
  }
}
