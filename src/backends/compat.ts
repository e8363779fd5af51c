/**
 * Comparing the newest schema with the oldest supported release's, along
 * the wire.
 *
 * Type names change between releases, so nothing is matched by type name.
 * The walk starts at each command's arguments and reply and at each
 * event's data in the newest schema, pairs them with the same-named
 * command or event of the oldest schema, and goes down both sides in
 * step: object members by name, union branches by tag value, alternate
 * branches by JSON kind, enum values by name, array elements. What the
 * newest side reaches without a counterpart is *newer* than the oldest
 * release. A type reached from several places is judged on all of them
 * (newer if newer on any), and each pair of types is walked once, which
 * also ends recursion.
 *
 * The other direction matters for soundness too: what the oldest release
 * sends that the newest schema dropped (members, enum values), or where it
 * sends a plain string the newest schema types as an enum, or a union's
 * members without the tag the newest schema added. These are recorded so
 * that validators accept real replies of the oldest release.
 */
import type { AlternateKind } from '../support/kit.js';
import type {
  CheckedSchema,
  SchemaIfCond,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaType,
} from '../frontend/model.js';
import { evalIfCondition } from './selection.js';

/** A member of the layout the oldest release sends for a union it had no tag for. */
export interface UntaggedMember {
  /** The newest schema's member of that name (in one of the union's branches). */
  readonly member: SchemaObjectMember;
  readonly optional: boolean;
}

/** A command only the oldest release has: what its schema said, shape only. */
export interface RemovedCommand {
  readonly takesArguments: boolean;
  /** `value`: some reply; `empty`: `{}`; `none`: no reply at all (success-response false). */
  readonly returns: 'value' | 'empty' | 'none';
}

/** What the oldest release lacks or has differently, seen from the newest schema. */
export interface SchemaDiff {
  /** Members the oldest release lacks, by {@link memberKey}. */
  readonly newerMembers: ReadonlySet<string>;
  /** Enum type → values the oldest release lacks. */
  readonly newerValues: ReadonlyMap<string, ReadonlySet<string>>;
  /** Union or alternate type → branches (tag values, alternative names) it lacks. */
  readonly newerBranches: ReadonlyMap<string, ReadonlySet<string>>;
  readonly newerCommands: ReadonlySet<string>;
  readonly newerEvents: ReadonlySet<string>;
  /** Object type → members only the oldest release has (removed since). */
  readonly removedMembers: ReadonlyMap<string, ReadonlySet<string>>;
  /** Enum type → values only the oldest release has (removed since). */
  readonly removedValues: ReadonlyMap<string, ReadonlySet<string>>;
  /** Members (by {@link memberKey}) the oldest release types as a plain string, the newest as an enum. */
  readonly widenedMembers: ReadonlySet<string>;
  /** Union whose tag the oldest release lacks → the members it sends instead. */
  readonly untagged: ReadonlyMap<string, readonly UntaggedMember[]>;
  /** Commands only the oldest release has (removed since). */
  readonly removedCommands: ReadonlyMap<string, RemovedCommand>;
  /** Events only the oldest release has → whether they carry data. */
  readonly removedEvents: ReadonlyMap<string, boolean>;
}

/** Key of an object member: the type that declares it and its name. */
export function memberKey(m: SchemaObjectMember): string {
  return `${m.definedIn}\0${m.name}`;
}

/** The JSON kind an alternate dispatches a branch of type `t` on. */
export function alternateKind(t: SchemaType): AlternateKind {
  switch (t.meta) {
    case 'built-in': {
      const json = t.jsonType();
      // 'value' (any) cannot be an alternative.
      return json === 'int' ? 'number' : (json as AlternateKind);
    }
    case 'enum':
      return 'string';
    case 'array':
      return 'array';
    default:
      return 'object';
  }
}

/** Whether the oldest release has something: surely, in some builds, or not. */
type Had = 'yes' | 'maybe' | 'no';

const isObject = (t: SchemaType): t is SchemaObjectType => t.meta === 'struct' || t.meta === 'union';

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

class Walker {
  readonly newerMembers = new Set<string>();
  readonly newerValues = new Map<string, Set<string>>();
  readonly newerBranches = new Map<string, Set<string>>();
  readonly newerCommands = new Set<string>();
  readonly newerEvents = new Set<string>();
  readonly removedMembers = new Map<string, Set<string>>();
  readonly removedValues = new Map<string, Set<string>>();
  readonly widenedMembers = new Set<string>();
  readonly untagged = new Map<string, UntaggedMember[]>();
  readonly removedCommands = new Map<string, RemovedCommand>();
  readonly removedEvents = new Map<string, boolean>();
  /** Pairs of (newest, oldest) type names already walked. */
  private readonly visited = new Set<string>();

  constructor(private readonly defined: ReadonlySet<string> | null) {}

  /** With defines, conditions are evaluated; without, a conditional thing is there in some builds. */
  had(ifcond: SchemaIfCond): Had {
    if (ifcond.ifcond === null) return 'yes';
    if (this.defined === null) return 'maybe';
    return evalIfCondition(ifcond.ifcond, this.defined) ? 'yes' : 'no';
  }

  private find<T extends { name: string; ifcond: SchemaIfCond }>(list: readonly T[], name: string): T | undefined {
    return list.find((x) => x.name === name && this.had(x.ifcond) !== 'no');
  }

  run(newest: CheckedSchema, oldest: CheckedSchema): void {
    for (const n of newest.entities) {
      if (n.meta !== 'command' && n.meta !== 'event') continue;
      const o = oldest.lookupEntity(n.name);
      if (o?.meta !== n.meta || this.had(o.ifcond) === 'no') {
        (n.meta === 'command' ? this.newerCommands : this.newerEvents).add(n.name);
        continue;
      }
      if (n.argType && o.argType) this.type(n.argType, o.argType);
      else if (n.argType) for (const m of n.argType.members) this.newerMembers.add(memberKey(m));
      if (n.meta === 'command' && o.meta === 'command' && n.retType && o.retType) this.type(n.retType, o.retType);
    }
    for (const o of oldest.entities) {
      if ((o.meta !== 'command' && o.meta !== 'event') || this.had(o.ifcond) === 'no') continue;
      if (newest.lookupEntity(o.name)?.meta === o.meta) continue;
      if (o.meta === 'event') this.removedEvents.set(o.name, o.argType !== null);
      else
        this.removedCommands.set(o.name, {
          takesArguments: o.argType !== null,
          returns: !o.successResponse ? 'none' : o.retType ? 'value' : 'empty',
        });
    }
  }

  private type(n: SchemaType, o: SchemaType): void {
    const key = `${n.name}\0${o.name}`;
    if (this.visited.has(key)) return;
    this.visited.add(key);
    if (n.meta === 'alternate' || o.meta === 'alternate') {
      this.alternate(n, o);
    } else if (n.meta === 'array') {
      if (o.meta === 'array') this.type(n.elementType, o.elementType);
    } else if (n.meta === 'enum') {
      if (o.meta === 'enum') this.enum(n, o);
    } else if (isObject(n) && isObject(o)) {
      if (n.branches) this.union(n, o);
      else this.struct(n, o);
    }
  }

  private enum(n: SchemaType & { meta: 'enum' }, o: SchemaType & { meta: 'enum' }): void {
    for (const v of n.members) if (!this.find(o.members, v.name)) addTo(this.newerValues, n.name, v.name);
    for (const v of o.members) {
      if (this.had(v.ifcond) !== 'no' && !n.members.some((x) => x.name === v.name))
        addTo(this.removedValues, n.name, v.name);
    }
  }

  /** Alternates (on either side): branches are matched by JSON kind. */
  private alternate(n: SchemaType, o: SchemaType): void {
    const olds =
      o.meta === 'alternate'
        ? o.alternatives.variants.filter((v) => this.had(v.ifcond) !== 'no').map((v) => v.type)
        : [o];
    if (n.meta !== 'alternate') {
      const counterpart = olds.find((t) => alternateKind(t) === alternateKind(n));
      if (counterpart) this.type(n, counterpart);
      return;
    }
    for (const v of n.alternatives.variants) {
      const counterpart = olds.find((t) => alternateKind(t) === alternateKind(v.type));
      if (counterpart) this.type(v.type, counterpart);
      else addTo(this.newerBranches, n.name, v.name);
    }
  }

  /** The members of every branch of `o` (none for a struct). */
  private branchMembers(o: SchemaObjectType): SchemaObjectMember[] {
    if (!o.branches) return [];
    return o.branches.variants
      .filter((v) => this.had(v.ifcond) !== 'no')
      .flatMap((v) => (isObject(v.type) ? v.type.members : []));
  }

  /**
   * Pairs `members` of the newest side with `base` of the oldest (members
   * every value has) or else `extra` (members only some values have).
   */
  private members(
    members: readonly SchemaObjectMember[],
    base: readonly SchemaObjectMember[],
    extra: readonly SchemaObjectMember[],
  ): void {
    for (const m of members) {
      const inBase = this.find(base, m.name);
      const counterpart = inBase ?? this.find(extra, m.name);
      // Conditional on the oldest side only: some of its builds lack it.
      const sometimes = !inBase || (this.had(inBase.ifcond) === 'maybe' && m.ifcond.ifcond === null);
      if (sometimes) this.newerMembers.add(memberKey(m));
      if (counterpart) this.memberType(m, counterpart);
    }
  }

  private memberType(m: SchemaObjectMember, o: SchemaObjectMember): void {
    let nt = m.type;
    let ot = o.type;
    while (nt.meta === 'array' && ot.meta === 'array') [nt, ot] = [nt.elementType, ot.elementType];
    if (nt.meta === 'enum' && ot.meta === 'built-in' && ot.name === 'str') this.widenedMembers.add(memberKey(m));
    this.type(m.type, o.type);
  }

  /** Members of `old` (present there) missing from `names`: removed, tolerated on `owner`. */
  private removed(owner: string, old: readonly SchemaObjectMember[], names: ReadonlySet<string>): void {
    for (const m of old)
      if (this.had(m.ifcond) !== 'no' && !names.has(m.name)) addTo(this.removedMembers, owner, m.name);
  }

  private struct(n: SchemaObjectType, o: SchemaObjectType): void {
    const extra = this.branchMembers(o);
    this.members(n.members, o.members, extra);
    const names = new Set(n.members.map((m) => m.name));
    this.removed(n.name, [...o.members, ...extra], names);
  }

  private union(n: SchemaObjectType, o: SchemaObjectType): void {
    const branches = n.branches!;
    const tag = branches.tagMember.name;
    const sameTag = o.branches?.tagMember.name === tag ? o.branches : null;
    const oldBranchMembers = this.branchMembers(o);
    this.members(n.members, o.members, oldBranchMembers);
    const baseNames = new Set(n.members.map((m) => m.name));
    const variantMembers = branches.variants.map((v) => (isObject(v.type) ? v.type.members : []));
    const newBranchMembers = variantMembers.flat();
    if (!this.find(o.members, tag)) {
      this.untaggedLayout(n.name, o, baseNames, newBranchMembers);
      return;
    }
    for (const [i, v] of branches.variants.entries()) {
      const own = variantMembers[i]!;
      if (!sameTag) {
        // The oldest release had the tag as a plain member of a struct.
        this.members(own, o.members, oldBranchMembers);
        continue;
      }
      const ov = this.find(sameTag.variants, v.name);
      if (!ov) {
        addTo(this.newerBranches, n.name, v.name);
        continue;
      }
      const oldOwn = isObject(ov.type) ? ov.type.members : [];
      this.members(own, [...oldOwn, ...o.members], []);
      if (isObject(v.type) && v.type.name !== 'q_empty') {
        this.removed(v.type.name, oldOwn, new Set([...baseNames, ...own.map((m) => m.name)]));
      }
    }
    // Base members the oldest release sent that no branch has now.
    this.removed(n.name, o.members, new Set([...baseNames, ...newBranchMembers.map((m) => m.name)]));
  }

  /**
   * The oldest release sends `o`'s members and no tag for union `name`:
   * the layout is described with the newest union's branch members of the
   * same names.
   */
  private untaggedLayout(
    name: string,
    o: SchemaObjectType,
    baseNames: ReadonlySet<string>,
    branchMembers: readonly SchemaObjectMember[],
  ): void {
    const layout: UntaggedMember[] = [];
    for (const om of o.members) {
      if (baseNames.has(om.name) || this.had(om.ifcond) === 'no') continue;
      const member = branchMembers.find((m) => m.name === om.name);
      if (!member) {
        addTo(this.removedMembers, name, om.name);
        continue;
      }
      layout.push({ member, optional: member.optional || om.optional || this.had(om.ifcond) !== 'yes' });
      this.memberType(member, om);
    }
    this.untagged.set(name, layout);
  }
}

/**
 * Compares `newest` with `oldest` along the wire. `defines` are the
 * configuration symbols both are evaluated with (undefined: conditional
 * things exist in some builds).
 */
export function compareSchemas(newest: CheckedSchema, oldest: CheckedSchema, defines?: readonly string[]): SchemaDiff {
  const walker = new Walker(defines ? new Set(defines) : null);
  walker.run(newest, oldest);
  return walker;
}
