/**
 * Everything the generators share for one run: resolved options, what is
 * selected, the TypeScript name of every QAPI type, and which file each
 * definition goes to.
 */
import type {
  CheckedSchema,
  SchemaCommand,
  SchemaDoc,
  SchemaEnumMember,
  SchemaEntity,
  SchemaEvent,
  SchemaObjectMember,
  SchemaObjectType,
  SchemaType,
} from '../frontend/model.js';
import type { Int64Mode } from '../support/ints.js';
import { SUPPORT_SYMBOLS } from '../support/symbols.js';
import { DocBuilder } from './docs.js';
import { GeneratedFile } from './emitter.js';
import { NameTable, RESERVED_METHODS, camelCase, moduleFileName, pascalCase, safeIdentifier } from './names.js';
import { compareSchemas } from './compat.js';
import { Presence } from './presence.js';
import { Selection, type SelectionOptions } from './selection.js';

export interface GenerateOptions extends SelectionOptions {
  /** Module specifier generated code imports the support library from. */
  supportImport?: string;
  /** Representation of int, int64, uint64 and size (default 'mixed'). */
  int64?: Int64Mode;
  /** Name of the generated client class (default 'QapiClient'). */
  clientName?: string;
  /** Emit JSDoc (default true; off for code that is only run, never read). */
  docs?: boolean;
  /**
   * 'ts' (default): TypeScript with types and docs. 'js': plain ES modules
   * (validators, client and docs), which run without a TypeScript compiler,
   * each with a `.d.ts` beside it declaring the types the TypeScript output
   * has.
   */
  language?: 'ts' | 'js';
  /**
   * JavaScript output: write the `.d.ts` files (default true; off for code
   * that is only run, as loadValidators does).
   */
  declarations?: boolean;
  /**
   * The schema of the oldest QEMU release the code must work with. What
   * it lacks is typed and validated as possibly absent (see presence.ts).
   */
  oldestSchema?: CheckedSchema;
  /** How docs name that release, e.g. `QEMU 7.2` (default: its file name as given). */
  oldestLabel?: string;
}

export interface ResolvedOptions {
  readonly supportImport: string;
  readonly int64: Int64Mode;
  readonly clientName: string;
  readonly docs: boolean;
  readonly language: 'ts' | 'js';
  /** JavaScript output only: `.d.ts` files are written. */
  readonly declarations: boolean;
}

/** Names the generated files declare or import themselves; types yield. */
const GENERATED_NAMES = [
  'TypeMap',
  'Validators',
  'CommandMap',
  'EventMap',
  'validators',
  'strictValidators',
  'commands',
  'events',
  'schemaValidators',
  'validatorSet',
  'QapiEvent',
  // imported from the support library
  ...Object.keys(SUPPORT_SYMBOLS),
];

/** Members of the client base class that commands must not shadow (plus RESERVED_METHODS). */
export const CLIENT_MEMBERS = [
  'execute',
  'events',
  'supports',
  'waitForEvent',
  'call',
  'executor',
  'validate',
  'strict',
  'validators',
  'checkedEvents',
];

export class GenContext {
  readonly options: ResolvedOptions;
  readonly selection: Selection;
  /** Where members, values, branches, commands and events may be absent. */
  readonly presence: Presence;
  /** QAPI type name → TypeScript type name (types that get a declaration). */
  readonly typeNames = new Map<string, string>();
  /** Enum QAPI name → name of its `const` array of values. */
  readonly valueArrayNames = new Map<string, string>();
  /** Command name → client method name. */
  readonly methodNames = new Map<string, string>();
  /** Output file name → name of its exported validator define function. */
  readonly defineNames = new Map<string, string>();
  /** QAPI module → output file name (without `.ts`). */
  readonly moduleFiles = new Map<string, string>();
  /** Implicit type → the definition that documents its members. */
  readonly implicitOwners = new Map<string, { doc: SchemaDoc | null; what: string }>();
  readonly commands: SchemaCommand[] = [];
  readonly events: SchemaEvent[] = [];
  /** Member lists → their members the selection keeps (see kept). */
  private readonly keptLists = new WeakMap<readonly object[], readonly object[]>();
  /** Implicit argument types of `'gen': false` commands. */
  private readonly openCommands = new Set<string>();

  constructor(
    readonly schema: CheckedSchema,
    options: GenerateOptions = {},
  ) {
    this.options = {
      supportImport: options.supportImport ?? 'qapi-ts/support',
      int64: options.int64 ?? 'mixed',
      clientName: options.clientName ?? 'QapiClient',
      docs: options.docs ?? true,
      language: options.language ?? 'ts',
      declarations: options.language === 'js' && (options.declarations ?? true),
    };
    this.selection = new Selection(options);
    const oldest = options.oldestSchema;
    this.presence = new Presence(
      schema,
      this.selection.exact,
      oldest ? compareSchemas(schema, oldest, options.defines) : null,
      options.oldestLabel ?? oldest?.fname ?? '',
    );
    const files = new NameTable(['index']);
    for (const module of schema.modules) this.moduleFiles.set(module, files.claim(moduleFileName(module)));
    for (const e of schema.entities) {
      if (!this.selection.entity(e)) continue;
      if (e.meta === 'command') {
        this.commands.push(e);
        if (!e.gen && e.argType?.isImplicit()) this.openCommands.add(e.argType.name);
      } else if (e.meta === 'event') this.events.push(e);
    }
    this.assignNames();
  }

  private assignNames(): void {
    const table = new NameTable([...GENERATED_NAMES, this.options.clientName]);
    const implicitNames = new Map<string, string>();
    for (const c of this.commands) {
      if (c.argType?.isImplicit()) {
        implicitNames.set(c.argType.name, `${pascalCase(c.name)}Arguments`);
        this.implicitOwners.set(c.argType.name, { doc: c.doc, what: `Arguments of command \`${c.name}\`.` });
      }
    }
    for (const e of this.events) {
      if (e.argType?.isImplicit()) {
        implicitNames.set(e.argType.name, `${pascalCase(e.name)}Data`);
        this.implicitOwners.set(e.argType.name, { doc: e.doc, what: `Data of event \`${e.name}\`.` });
      }
    }
    for (const u of this.schema.entities) {
      if (u.meta === 'union' && u.base?.isImplicit()) {
        this.implicitOwners.set(u.base.name, { doc: u.doc, what: `Common members of union \`${u.name}\`.` });
      }
    }
    const declared = this.schema.entities.filter((e) => this.declaresType(e));
    // Named types first so that they keep their names; implicit ones yield.
    for (const e of declared) if (!e.isImplicit()) this.typeNames.set(e.name, table.claim(safeIdentifier(e.name)));
    for (const e of declared) {
      if (!e.isImplicit()) continue;
      const wanted = implicitNames.get(e.name) ?? pascalCase(e.name.replace(/^q_obj_/, ''));
      this.typeNames.set(e.name, table.claim(safeIdentifier(wanted)));
    }
    for (const e of declared) {
      if (e.meta === 'enum') this.valueArrayNames.set(e.name, table.claim(`${this.typeNames.get(e.name)}Values`));
    }
    for (const file of new Set(this.moduleFiles.values())) {
      this.defineNames.set(file, table.claim(`define${pascalCase(file)}Validators`));
    }
    const methods = new NameTable([...RESERVED_METHODS, ...CLIENT_MEMBERS]);
    for (const c of this.commands) this.methodNames.set(c.name, methods.claim(safeIdentifier(camelCase(c.name))));
  }

  /** Whether the entity gets a TypeScript declaration of its own. */
  declaresType(e: SchemaEntity): e is SchemaType {
    if (!this.selection.entity(e)) return false;
    switch (e.meta) {
      case 'enum':
      case 'alternate':
        return true;
      case 'struct':
      case 'union':
        return e.name !== 'q_empty';
      default:
        return false;
    }
  }

  fileOf(e: SchemaEntity): string {
    return this.moduleFiles.get(e.module) ?? moduleFileName(e.module);
  }

  typeName(e: SchemaType): string {
    const name = this.typeNames.get(e.name);
    if (name === undefined) throw new Error(`no TypeScript name for ${e.name}`);
    return name;
  }

  /** Whether types are left out (plain JavaScript output). */
  get js(): boolean {
    return this.options.language === 'js';
  }

  /**
   * A new output file. In JavaScript mode it ignores type imports, and
   * has its `.d.ts` (`declarations`) when those are written.
   */
  file(base: string): GeneratedFile {
    if (!this.js) return new GeneratedFile(`${base}.ts`);
    return new GeneratedFile(`${base}.js`, false, this.options.declarations ? new GeneratedFile(`${base}.d.ts`) : null);
  }

  /**
   * Where the types of `out` are declared: `out` itself (TypeScript), its
   * `.d.ts` (JavaScript), or nowhere (JavaScript without declarations).
   */
  declarations(out: GeneratedFile): GeneratedFile | null {
    return this.js ? out.declarations : out;
  }

  /** A doc comment builder (renders nothing when docs are off). */
  doc(): DocBuilder {
    return new DocBuilder(this.options.docs);
  }

  /** The doc that describes the members of `t` (its own, or its owner's). */
  memberDocs(t: SchemaType): SchemaDoc | null {
    return t.doc ?? this.implicitOwners.get(t.name)?.doc ?? null;
  }

  /**
   * The members (or enum values) of a list that the selection keeps: the
   * one place generators filter them, computed once per list.
   */
  kept<M extends SchemaObjectMember | SchemaEnumMember>(members: readonly M[]): readonly M[] {
    let kept = this.keptLists.get(members) as readonly M[] | undefined;
    if (kept === undefined) {
      kept = members.filter((m) => this.selection.member(m));
      this.keptLists.set(members, kept);
    }
    return kept;
  }

  /** Whether every member of the object (after selection) is optional. */
  allOptional(t: SchemaObjectType): boolean {
    return t.branches === null && this.kept(t.members).every((m) => this.presence.optional(m));
  }

  /**
   * Whether `t` is the implicit argument type of a `'gen': false` command:
   * QEMU takes further arguments there (device_add takes the device's
   * properties), so the type is open.
   */
  openArguments(t: SchemaObjectType): boolean {
    return t.isImplicit() && this.openCommands.has(t.name);
  }

  /**
   * The registry name of the open argument validator of a `'gen': false`
   * command whose arguments are a named struct (which may be used
   * elsewhere, closed), or null.
   */
  openArgumentsName(c: SchemaCommand): string | null {
    const t = c.argType;
    return !c.gen && t !== null && !t.isImplicit() && t.branches === null ? `${c.name}:arguments` : null;
  }
}
