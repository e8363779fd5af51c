/**
 * Which parts of a schema get generated: `if` conditions evaluated against
 * `defines`, and definitions carrying the `unstable` / `deprecated`
 * features optionally left out.
 */
import type {
  IfCondition,
  SchemaEntity,
  SchemaEnumMember,
  SchemaFeature,
  SchemaIfCond,
  SchemaObjectMember,
  SchemaVariant,
} from '../frontend/model.js';

export interface SelectionOptions {
  /** Configuration symbols that are defined; undefined: keep everything. */
  defines?: readonly string[];
  /** Leave out definitions, members and enum values marked `unstable`. */
  omitUnstable?: boolean;
  /** Leave out definitions, members and enum values marked `deprecated`. */
  omitDeprecated?: boolean;
}

export function evalIfCondition(cond: IfCondition, defined: ReadonlySet<string>): boolean {
  if (typeof cond === 'string') return defined.has(cond);
  if ('all' in cond) return cond.all.every((c) => evalIfCondition(c, defined));
  if ('any' in cond) return cond.any.some((c) => evalIfCondition(c, defined));
  return !evalIfCondition(cond.not, defined);
}

/** A condition as text: `CONFIG_A && !(CONFIG_B || CONFIG_C)`. */
export function formatIfCondition(cond: IfCondition, nested = false): string {
  if (typeof cond === 'string') return cond;
  if ('not' in cond) return `!${formatIfCondition(cond.not, true)}`;
  const [op, parts] = 'all' in cond ? [' && ', cond.all] : [' || ', cond.any];
  const text = parts.map((c) => formatIfCondition(c, true)).join(op);
  return nested && parts.length > 1 ? `(${text})` : text;
}

type Featured = { readonly ifcond: SchemaIfCond; readonly features: readonly SchemaFeature[] };

export class Selection {
  private readonly defined: ReadonlySet<string> | null;
  private readonly cache = new Map<SchemaEntity, boolean>();

  constructor(private readonly options: SelectionOptions = {}) {
    this.defined = options.defines ? new Set(options.defines) : null;
  }

  /** Whether conditions are evaluated (defines given) rather than all kept. */
  get exact(): boolean {
    return this.defined !== null;
  }

  cond(ifcond: SchemaIfCond): boolean {
    if (this.defined === null || ifcond.ifcond === null) return true;
    return evalIfCondition(ifcond.ifcond, this.defined);
  }

  /** Features whose own condition holds. */
  activeFeatures(features: readonly SchemaFeature[]): SchemaFeature[] {
    return features.filter((f) => this.cond(f.ifcond));
  }

  private featuresAllow(features: readonly SchemaFeature[]): boolean {
    for (const f of this.activeFeatures(features)) {
      if (f.name === 'unstable' && this.options.omitUnstable) return false;
      if (f.name === 'deprecated' && this.options.omitDeprecated) return false;
    }
    return true;
  }

  private keeps(thing: Featured): boolean {
    return this.cond(thing.ifcond) && this.featuresAllow(thing.features);
  }

  entity(entity: SchemaEntity): boolean {
    let kept = this.cache.get(entity);
    if (kept === undefined) {
      kept = this.keeps(entity);
      if (kept && entity.meta === 'array') kept = this.entity(entity.elementType);
      this.cache.set(entity, kept);
    }
    return kept;
  }

  /** An object member also needs its type (which may be conditional itself). */
  member(member: SchemaObjectMember | SchemaEnumMember): boolean {
    return this.keeps(member) && (!('type' in member) || this.entity(member.type));
  }

  variant(variant: SchemaVariant): boolean {
    return this.cond(variant.ifcond) && this.entity(variant.type);
  }
}
