/**
 * The table of validators of one generated schema, built lazily.
 *
 * Each generated module contributes a `define…(registry, kit)` function
 * that registers a builder per type; a type's schema is built the first
 * time it is used, and references between types go through `ref`, so
 * neither recursion nor the order in which modules are loaded matters.
 */
import { ValidatorKit, type Schema, type Thunk } from './kit.js';
import type { Int64Mode } from './ints.js';
import type { CommandValidators, ValidatorSet } from './client.js';

export type DefineModule = (registry: ValidatorRegistry, kit: ValidatorKit) => void;

export class ValidatorRegistry {
  /** Built schemas by QAPI type name (getters; built on first access). */
  readonly schemas: Record<string, Schema> = Object.create(null) as Record<string, Schema>;
  private readonly builders = new Map<string, () => Schema>();

  constructor(readonly kit: ValidatorKit) {
    // Built-in scalar types, so that any type name can be looked up.
    const scalars: Record<string, Schema> = {
      str: kit.str,
      bool: kit.bool,
      null: kit.null,
      any: kit.any,
      number: kit.number,
      int: kit.int('int64'),
      int8: kit.int('int8'),
      int16: kit.int('int16'),
      int32: kit.int('int32'),
      int64: kit.int('int64'),
      uint8: kit.int('uint8'),
      uint16: kit.int('uint16'),
      uint32: kit.int('uint32'),
      uint64: kit.int('uint64'),
      size: kit.int('uint64'),
    };
    for (const [name, schema] of Object.entries(scalars)) this.def(name, () => schema);
  }

  def(name: string, build: () => Schema): void {
    this.builders.set(name, build);
    let built: Schema | undefined;
    Object.defineProperty(this.schemas, name, {
      enumerable: true,
      get: () => (built ??= build()),
    });
  }

  get(name: string): Schema {
    const schema = this.schemas[name];
    if (schema === undefined) throw new Error(`qapi-ts: no validator for QAPI type '${name}'`);
    return schema;
  }

  /** A thunk resolving `name` when first needed. */
  thunk(name: string): Thunk {
    return () => this.get(name);
  }

  /** A lazy schema standing for `name` (for member types). */
  ref(name: string): Schema {
    return this.kit.lazy(this.thunk(name));
  }

  has(name: string): boolean {
    return this.builders.has(name);
  }
}

/** Builds a registry from the generated modules' define functions. */
export function buildRegistry(kit: ValidatorKit, modules: readonly DefineModule[]): ValidatorRegistry {
  const registry = new ValidatorRegistry(kit);
  for (const define of modules) define(registry, kit);
  return registry;
}

/**
 * Command name → [argument type, reply type] (QAPI type names). Typed as
 * an array rather than a pair: TypeScript gives a literal entry keyed
 * `constructor` no contextual type, so a pair type would refuse it.
 */
export type CommandSpec = Readonly<Record<string, readonly (string | null)[]>>;
/** Event name → data type name (null: no data). */
export type EventSpec = Readonly<Record<string, string | null>>;

export interface SchemaDescription {
  readonly int64: Int64Mode;
  readonly modules: readonly DefineModule[];
  readonly commands: CommandSpec;
  readonly events: EventSpec;
}

/** Lazily built validators of one generated schema, both strictnesses. */
export class SchemaValidators {
  private readonly registries = new Map<boolean, ValidatorRegistry>();
  private readonly sets = new Map<boolean, ValidatorSet>();

  constructor(readonly description: SchemaDescription) {}

  /** Type validators by QAPI type name. */
  registry(strict: boolean): ValidatorRegistry {
    let registry = this.registries.get(strict);
    if (!registry) {
      registry = buildRegistry(new ValidatorKit({ strict, int64: this.description.int64 }), this.description.modules);
      this.registries.set(strict, registry);
    }
    return registry;
  }

  /** Command and event validators; arguments are strict either way. */
  validatorSet(strict: boolean): ValidatorSet {
    let set = this.sets.get(strict);
    if (!set) {
      set = makeValidatorSet(this.description, this.registry(true), this.registry(strict));
      this.sets.set(strict, set);
    }
    return set;
  }
}

function lazyEntry<T extends object>(target: Record<string, T>, key: string, make: () => T): void {
  let value: T | undefined;
  Object.defineProperty(target, key, { enumerable: true, get: () => (value ??= make()) });
}

function makeValidatorSet(
  description: SchemaDescription,
  args: ValidatorRegistry,
  replies: ValidatorRegistry,
): ValidatorSet {
  const commands: Record<string, CommandValidators> = Object.create(null) as Record<string, CommandValidators>;
  const noReply = new Set<string>();
  for (const [name, [argType = null, retType = null]] of Object.entries(description.commands)) {
    lazyEntry(commands, name, () => ({
      args: argType === null ? null : args.get(argType),
      returns: retType === null ? null : replies.get(retType),
    }));
    if (retType === null) noReply.add(name);
  }
  const events: Record<string, Schema | null> = Object.create(null) as Record<string, Schema | null>;
  for (const [name, dataType] of Object.entries(description.events)) {
    if (dataType === null) events[name] = null;
    else lazyEntry(events as Record<string, Schema>, name, () => replies.get(dataType));
  }
  return { commands, events, noReply };
}
