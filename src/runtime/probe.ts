/**
 * Asking a live QEMU what it supports: `probe(session, query)` fetches
 * `query-qmp-schema` once per session (any QmpExecutor) and answers
 * libvirt-style queries on it (grammar: probe-query.ts; reading:
 * introspection.ts).
 *
 * ```ts
 * if (await probe(qmp, 'query-iothreads/ret-type/holders')) …
 * const [a, b] = await probeAll(qmp, ['blockdev-add/arg-type/+file/aio/^io_uring', 'query-stats']);
 * ```
 *
 * The schema is cached in a WeakMap keyed by the session object, so it
 * lives as long as the session does. A failed fetch is not cached.
 * `introspect(session)` returns the cached IntrospectedSchema (its
 * `entries` can be saved, e.g. keyed by the greeting's version) and
 * `useIntrospection(session, data)` seeds a session with such saved data.
 */
import type { ExecuteOptions, QmpExecutor } from './executor.js';
import { IntrospectedSchema } from './introspection.js';
import { parseProbeQuery, type ProbeQuery } from './probe-query.js';

const cache = new WeakMap<QmpExecutor, Promise<IntrospectedSchema>>();

export interface IntrospectOptions extends Omit<ExecuteOptions, 'oob'> {
  /** Fetch again even when the session has a cached schema. */
  refresh?: boolean;
}

/** The session's introspection data, fetched on first use and cached. */
export function introspect(session: QmpExecutor, options: IntrospectOptions = {}): Promise<IntrospectedSchema> {
  let pending = options.refresh ? undefined : cache.get(session);
  if (pending === undefined) {
    const { refresh: _refresh, ...execute } = options;
    pending = session.execute('query-qmp-schema', undefined, execute).then((data) => new IntrospectedSchema(data));
    cache.set(session, pending);
    pending.catch(() => {
      if (cache.get(session) === pending) cache.delete(session);
    });
  }
  return pending;
}

/**
 * Gives `session` introspection data fetched before (an IntrospectedSchema,
 * or `query-qmp-schema`'s return value), so probes on it do not fetch.
 */
export function useIntrospection(session: QmpExecutor, data: IntrospectedSchema | unknown): IntrospectedSchema {
  const schema = data instanceof IntrospectedSchema ? data : new IntrospectedSchema(data);
  cache.set(session, Promise.resolve(schema));
  return schema;
}

/** Drops the session's cached schema (the next probe fetches again). */
export function forgetIntrospection(session: QmpExecutor): void {
  cache.delete(session);
}

/**
 * Answers `query` for the QEMU behind `session` (or on given data). A
 * malformed query rejects with ProbeQueryError before anything is sent;
 * unreadable data with IntrospectionError; a failed fetch with the
 * runtime's error (QmpCommandError, QmpDisconnectedError…).
 */
export async function probe(
  session: QmpExecutor | IntrospectedSchema,
  query: string,
  options?: IntrospectOptions,
): Promise<boolean> {
  const [answer] = await probeAll(session, [query], options);
  return answer as boolean;
}

/** Answers each query, in order; all are parsed before anything is fetched. */
export async function probeAll(
  session: QmpExecutor | IntrospectedSchema,
  queries: readonly string[],
  options?: IntrospectOptions,
): Promise<boolean[]> {
  const parsed: ProbeQuery[] = queries.map(parseProbeQuery);
  const schema = session instanceof IntrospectedSchema ? session : await introspect(session, options);
  return parsed.map((q) => schema.probe(q));
}
