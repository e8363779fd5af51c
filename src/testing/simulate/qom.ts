/**
 * The simulated QOM composition tree, and `qom-list`, `qom-get` and
 * `qom-list-get` over it, answered as QEMU answers them.
 *
 * Every object has a QOM type and properties; a child object is a
 * property of type `child<TYPE>` named like the child, and reads as the
 * child's canonical path. Paths resolve as in QEMU: an absolute path
 * (`/machine/peripheral/vblk0`) walks children from the root; any other
 * path is partial and names the one object whose path ends with it
 * (`vblk0`, `peripheral/vblk0`), "ambiguous" when several do.
 */
import { QmpErrorResponse } from '../errors.js';

/** A property other than a child. */
export interface QomProperty {
  readonly name: string;
  /** QOM's type name: `bool`, `str`, `link<iothread>`, `IOThreadVirtQueueMappingList`… */
  readonly type: string;
  /** Its value as qom-get reads it. */
  readonly get: () => unknown;
}

export class QomObject {
  private parentObject: QomObject | null = null;
  private ownName = '';
  private readonly childObjects = new Map<string, QomObject>();

  constructor(
    readonly type: string,
    readonly properties: readonly QomProperty[] = [],
  ) {}

  get parent(): QomObject | null {
    return this.parentObject;
  }

  get name(): string {
    return this.ownName;
  }

  get children(): ReadonlyMap<string, QomObject> {
    return this.childObjects;
  }

  /** The canonical path (`/` for the root). */
  get path(): string {
    if (this.parentObject === null) return '/';
    const up = this.parentObject.path;
    return up === '/' ? `/${this.ownName}` : `${up}/${this.ownName}`;
  }

  /** Adds `child` as `name`; returns the child. */
  add(name: string, child: QomObject): QomObject {
    if (this.childObjects.has(name)) {
      throw new QmpErrorResponse(
        'GenericError',
        `attempt to add duplicate property '${name}' to object (type '${this.type}')`,
      );
    }
    child.parentObject = this;
    child.ownName = name;
    this.childObjects.set(name, child);
    return child;
  }

  /** Takes this object (and everything below it) out of the tree. */
  detach(): void {
    this.parentObject?.childObjects.delete(this.ownName);
    this.parentObject = null;
  }

  /** Every property with its value: `type` first, then the others, then the children. */
  listValues(): { name: string; type: string; value: unknown }[] {
    return [
      { name: 'type', type: 'string', value: this.type },
      ...this.properties.map((p) => ({ name: p.name, type: p.type, value: p.get() })),
      ...[...this.childObjects].map(([name, child]) => ({ name, type: `child<${child.type}>`, value: child.path })),
    ];
  }

  /** One property's value, or QEMU's error for a property the object lacks. */
  read(name: string): unknown {
    if (name === 'type') return this.type;
    const child = this.childObjects.get(name);
    if (child !== undefined) return child.path;
    const property = this.properties.find((p) => p.name === name);
    if (property === undefined) throw new QmpErrorResponse('GenericError', `Property '${this.type}.${name}' not found`);
    return property.get();
  }

  /** This object and everything below it, parents first. */
  *walk(): Generator<QomObject> {
    yield this;
    for (const child of this.childObjects.values()) yield* child.walk();
  }
}

/** A container object (`/machine/peripheral`, `/objects`…). */
export function container(): QomObject {
  return new QomObject('container');
}

/** The object at `path` (absolute or partial), or QEMU's error. */
export function resolvePath(root: QomObject, path: string): QomObject {
  const found = findPath(root, path);
  if (found === 'ambiguous') throw new QmpErrorResponse('GenericError', `Path '${path}' is ambiguous`);
  if (found === null) throw new QmpErrorResponse('DeviceNotFound', `Device '${path}' not found`);
  return found;
}

/** The object at `path`, null when none is, 'ambiguous' when a partial path names several. */
export function findPath(root: QomObject, path: string): QomObject | null | 'ambiguous' {
  const parts = path.split('/').filter((p) => p !== '');
  if (path.startsWith('/')) {
    let at: QomObject | undefined = root;
    for (const part of parts) at = at?.children.get(part);
    return at ?? null;
  }
  let match: QomObject | null = null;
  for (const object of root.walk()) {
    if (!endsWith(object, parts)) continue;
    if (match !== null) return 'ambiguous';
    match = object;
  }
  return match;
}

/** Whether the last components of `object`'s path are `parts`. */
function endsWith(object: QomObject, parts: readonly string[]): boolean {
  let at: QomObject | null = object;
  for (let i = parts.length - 1; i >= 0; i--) {
    if (at === null || at.parent === null || at.name !== parts[i]) return false;
    at = at.parent;
  }
  return true;
}

/** `qom-list`. */
export function qomList(root: QomObject, path: string): { name: string; type: string }[] {
  return resolvePath(root, path)
    .listValues()
    .map(({ name, type }) => ({ name, type }));
}

/** `qom-get`. */
export function qomGet(root: QomObject, path: string, property: string): unknown {
  return resolvePath(root, path).read(property);
}

/** `qom-list-get`: every path must resolve, or the whole command fails. */
export function qomListGet(
  root: QomObject,
  paths: readonly string[],
): { properties: { name: string; type: string; value: unknown }[] }[] {
  return paths.map((path) => resolvePath(root, path)).map((object) => ({ properties: object.listValues() }));
}
