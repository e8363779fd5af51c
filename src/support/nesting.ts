/**
 * Validators for values that nest deeply, without running out of stack.
 *
 * Recursive QAPI types (`ImageInfo.backing-image`, `BlockdevRef` chains)
 * make zod recurse once per level of the value, and each level costs one
 * to three kilobytes of stack: on Node's default stack a plain recursive
 * parse failed at about 300 (blockdev-add) to 800 (ImageInfo) levels.
 * QEMU accepts and sends values nested up to 1024 levels deep, so every
 * reference between types (`kit.lazy`, which `registry.ref` uses) counts
 * how many of them are being parsed on the stack. Beyond `STACK_LEVELS` it does not recurse: it returns an empty
 * container that stands for the value and queues the value; the outermost
 * reference then validates the queue one entry at a time (each again at
 * most `STACK_LEVELS` deep) and fills the containers in. So the stack a
 * validation needs is bounded whatever the data, and the result is the
 * same as a plain recursive parse.
 *
 * References nested more than `MAX_NESTING` deep (a value only a cycle or
 * a hostile peer makes) are refused with an issue naming the limit.
 *
 * This module is the one place that uses zod's parse internals (`_zod.run`
 * with the parse context): that is what keeps each level to a few stack
 * frames and lets a validator hand a value to another one directly.
 */
import { z } from 'zod';
import { MAX_JSON_DEPTH } from '../runtime/json.js';
import type { Schema } from './kit.js';

/**
 * The most typed values (struct, union or alternate values that are
 * members or array elements of one another) a validated value may nest.
 * QEMU's JSON parser refuses input nested deeper than 1024 levels, and
 * each of these levels is at least one level of JSON, so anything QEMU
 * accepts or sends is within the limit.
 */
export const MAX_NESTING = MAX_JSON_DEPTH;

/**
 * References validated on the stack before the rest is deferred. With the
 * code not yet optimized by V8 (the costliest case), 64 levels of
 * blockdev-add nodes took about 70 KiB of stack, a few percent of Node's
 * default (~1 MiB), which leaves the caller the rest.
 */
export const STACK_LEVELS = 64;

export type Payload = z.core.ParsePayload;
export type ParseContext = z.core.ParseContextInternal;
export type ParseResult = Payload | Promise<Payload>;
type ParseFn = (payload: Payload, ctx: ParseContext) => ParseResult;

interface CustomDef extends z.core.$ZodTypeDef {
  type: 'custom';
  parse: ParseFn;
}

type Internals = { _zod: { run: ParseFn; parse: ParseFn } };

const QapiSchema = z.core.$constructor('QapiSchema', (inst: z.ZodType, def: CustomDef) => {
  z.ZodType.init(inst, def as never);
  (inst as unknown as Internals)._zod.parse = def.parse;
}) as unknown as new (def: CustomDef) => Schema;

/** A schema whose parse step is `parse` (it may hand the value on with `runSchema`). */
export function customSchema(parse: ParseFn): Schema {
  return new QapiSchema({ type: 'custom', parse });
}

/** Runs `schema` on `value` within the current parse; issues are relative to `value`. */
export function runSchema(schema: Schema, value: unknown, ctx: ParseContext): ParseResult {
  return (schema as unknown as Internals)._zod.run({ value, issues: [] }, ctx);
}

/** Runs `schema` on the payload's value, adding to its issues. */
export function runInPlace(schema: Schema, payload: Payload, ctx: ParseContext): ParseResult {
  return (schema as unknown as Internals)._zod.run(payload, ctx);
}

/** `then` for results that are promises only in async parses. */
export function afterResult<T>(result: ParseResult, next: (payload: Payload) => T): T | Promise<T> {
  return result instanceof Promise ? result.then(next) : next(result);
}

// ---------------------------------------------------------------------------
// Deferred references

interface Deferred {
  readonly schema: Schema;
  readonly input: object;
  /** The container standing for the value in the output, filled in later. */
  readonly output: object;
  /** Nesting level of the reference. */
  readonly level: number;
  /** The deferred value this one was found in (null: the outermost value). */
  readonly parent: Deferred | null;
}

/** State of the validation in progress (validation is synchronous up to promises). */
let onStack = 0;
let baseLevel = 0;
let queue: Deferred[] | null = null;
let draining: Deferred | null = null;

function depthIssue(input: unknown): z.core.$ZodRawIssue {
  return {
    code: 'custom',
    input,
    message:
      `nested deeper than ${MAX_NESTING} levels` +
      " (the validators' limit; QEMU refuses JSON nested deeper than 1024)",
  } as z.core.$ZodRawIssue;
}

/** A schema standing for `resolve()` that keeps the stack bounded (see the file comment). */
export function nestingRef(resolve: () => Schema): Schema {
  let target: Schema | undefined;
  const schemaOf = (): Schema => (target ??= resolve());
  return customSchema((payload, ctx) => {
    const input = payload.value;
    // Only containers nest further.
    if (typeof input !== 'object' || input === null) return runInPlace(schemaOf(), payload, ctx);
    const level = baseLevel + onStack + 1;
    if (level > MAX_NESTING) {
      payload.issues.push(depthIssue(input));
      return payload;
    }
    if (onStack === 0) return drain(schemaOf(), payload, ctx);
    if (onStack >= STACK_LEVELS && queue !== null) {
      const output = Array.isArray(input) ? [] : {};
      queue.push({ schema: schemaOf(), input, output, level, parent: draining });
      payload.value = output;
      return payload;
    }
    onStack++;
    try {
      return runInPlace(schemaOf(), payload, ctx);
    } finally {
      onStack--;
    }
  });
}

/** The outermost reference: validates its value, then everything deferred below it. */
function drain(schema: Schema, payload: Payload, ctx: ParseContext): ParseResult {
  const root = payload.value as object;
  const items: Deferred[] = [];
  const later: Promise<void>[] = [];
  const extra: z.core.$ZodRawIssue[] = [];
  queue = items;
  onStack = 1;
  try {
    const result = runInPlace(schema, payload, ctx);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      draining = item;
      baseLevel = item.level - 1;
      const r = runSchema(item.schema, item.input, ctx);
      if (r instanceof Promise) later.push(r.then((p) => settle(item, p, root, extra)));
      else settle(item, r, root, extra);
    }
    const finish = (p: Payload): Payload => {
      if (extra.length > 0) p.issues.push(...extra);
      return p;
    };
    if (later.length === 0 && !(result instanceof Promise)) return finish(result);
    return Promise.all([result, ...later]).then(([p]) => finish(p as Payload));
  } finally {
    queue = null;
    draining = null;
    onStack = 0;
    baseLevel = 0;
  }
}

/** Puts a deferred value's result in place, or its issues (with full paths) in `issues`. */
function settle(item: Deferred, result: Payload, root: object, issues: z.core.$ZodRawIssue[]): void {
  if (result.issues.length > 0) {
    const prefix = pathTo(item, root);
    for (const issue of result.issues) issues.push({ ...issue, path: [...prefix, ...(issue.path ?? [])] });
    return;
  }
  const out = result.value;
  if (Array.isArray(item.output) && Array.isArray(out)) {
    for (let i = 0; i < out.length; i++) item.output.push(out[i]);
  } else if (!Array.isArray(item.output) && isPlainObject(out)) {
    // defineProperty: a member named `__proto__` stays a member.
    for (const key of Object.keys(out)) {
      Object.defineProperty(item.output, key, {
        value: out[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  } else {
    issues.push({ ...depthIssue(item.input), path: pathTo(item, root) });
  }
}

/** A non-null, non-array object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Member path from `root` to a deferred value (only computed for issues). */
function pathTo(item: Deferred, root: object): PropertyKey[] {
  const from = item.parent === null ? root : item.parent.input;
  const prefix = item.parent === null ? [] : pathTo(item.parent, root);
  return [...prefix, ...findPath(from, item.input)];
}

/** Keys leading from `from` to the object `target` (breadth-first, iterative). */
function findPath(from: object, target: object): PropertyKey[] {
  const seen = new Set<object>([from]);
  let level: { value: object; path: PropertyKey[] }[] = [{ value: from, path: [] }];
  while (level.length > 0) {
    const next: typeof level = [];
    for (const { value, path } of level) {
      const keys: PropertyKey[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
      for (const key of keys) {
        const child = (value as Record<PropertyKey, unknown>)[key];
        if (child === target) return [...path, key];
        if (typeof child === 'object' && child !== null && !seen.has(child)) {
          seen.add(child);
          next.push({ value: child, path: [...path, key] });
        }
      }
    }
    level = next;
  }
  return [];
}

/** Whether `value` nests more than `limit` objects and arrays (iterative; stops early). */
export function nestingExceeds(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const v = stack.pop();
    const depth = depths.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
