/**
 * probe()/probeAll() on a session: one query-qmp-schema per session,
 * cached by the executor object, malformed queries refused before
 * anything is sent, failures not cached.
 */
import { describe, expect, it } from 'vitest';
import {
  IntrospectedSchema,
  ProbeQueryError,
  QmpCommandError,
  forgetIntrospection,
  introspect,
  probe,
  probeAll,
  useIntrospection,
  type ExecuteOptions,
  type QmpEventMessage,
  type QmpExecutor,
} from '../../src/runtime/index.js';
import { TINY_INTROSPECTION as DATA } from '../helpers/probe-cases.js';

/** An executor that answers query-qmp-schema with `reply` (or fails) and counts calls. */
class FakeExecutor implements QmpExecutor {
  calls: { command: string; options?: ExecuteOptions }[] = [];
  constructor(private reply: () => Promise<unknown>) {}
  execute(command: string, _args?: Record<string, unknown>, options?: ExecuteOptions): Promise<unknown> {
    this.calls.push({ command, options });
    return this.reply();
  }
  async *events(): AsyncIterable<QmpEventMessage> {}
}

describe('probe on a session', () => {
  it('fetches query-qmp-schema once per session and answers from the cache', async () => {
    const session = new FakeExecutor(async () => DATA);
    expect(await probe(session, 'query-iothreads/ret-type/poll-max-ns')).toBe(true);
    expect(await probe(session, 'query-iothreads/ret-type/holders')).toBe(false);
    expect(
      await probeAll(session, ['query-iothreads', 'query-nothing', 'query-iothreads/ret-type/poll-max-ns/!int']),
    ).toEqual([true, false, true]);
    expect(session.calls.map((c) => c.command)).toEqual(['query-qmp-schema']);
    // Concurrent first probes share one fetch.
    const other = new FakeExecutor(async () => DATA);
    await Promise.all([probe(other, 'query-iothreads'), probe(other, 'query-iothreads/arg-type')]);
    expect(other.calls).toHaveLength(1);
  });

  it('keeps sessions apart', async () => {
    const a = new FakeExecutor(async () => DATA);
    const b = new FakeExecutor(async () => [
      { name: 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' },
      DATA[1],
    ]);
    expect(await probe(a, 'query-iothreads')).toBe(true);
    expect(await probe(b, 'query-iothreads')).toBe(false);
    expect(await probe(b, 'query-status')).toBe(true);
  });

  it('refuses malformed queries before sending anything', async () => {
    const session = new FakeExecutor(async () => DATA);
    await expect(probe(session, 'query-iothreads//x')).rejects.toBeInstanceOf(ProbeQueryError);
    await expect(probeAll(session, ['query-iothreads', '$x'])).rejects.toBeInstanceOf(ProbeQueryError);
    expect(session.calls).toHaveLength(0);
  });

  it('does not cache a failed fetch; refresh fetches again; options reach execute', async () => {
    let fail = true;
    const session = new FakeExecutor(async () => {
      if (fail)
        throw new QmpCommandError(
          'query-qmp-schema',
          'CommandNotFound',
          'The command query-qmp-schema has not been found',
        );
      return DATA;
    });
    await expect(probe(session, 'query-iothreads')).rejects.toBeInstanceOf(QmpCommandError);
    fail = false;
    expect(await probe(session, 'query-iothreads', { timeout: 1234 })).toBe(true);
    expect(session.calls[1]?.options).toEqual({ timeout: 1234 });
    await introspect(session);
    expect(session.calls).toHaveLength(2);
    await introspect(session, { refresh: true });
    expect(session.calls).toHaveLength(3);
    forgetIntrospection(session);
    await probe(session, 'query-iothreads');
    expect(session.calls).toHaveLength(4);
  });

  it('rejects with IntrospectionError when the reply is not introspection data', async () => {
    const session = new FakeExecutor(async () => ({ not: 'a list' }));
    await expect(probe(session, 'query-iothreads')).rejects.toMatchObject({ code: 'QMP_ERR_INTROSPECTION' });
  });

  it('reuses a fetched schema: on a new session, or without one', async () => {
    const first = new FakeExecutor(async () => DATA);
    const schema = await introspect(first);
    expect(schema).toBeInstanceOf(IntrospectedSchema);
    const second = new FakeExecutor(async () => {
      throw new Error('must not fetch');
    });
    expect(useIntrospection(second, schema)).toBe(schema);
    expect(await probe(second, 'query-iothreads/ret-type/poll-max-ns')).toBe(true);
    // Saved JSON works as well, and so does probing the data directly.
    const third = new FakeExecutor(async () => {
      throw new Error('must not fetch');
    });
    useIntrospection(third, JSON.parse(JSON.stringify(schema.entries)));
    expect(await probe(third, 'query-iothreads/ret-type/poll-max-ns')).toBe(true);
    expect(await probeAll(schema, ['query-iothreads', 'query-iothreads/ret-type/holders'])).toEqual([true, false]);
    expect(second.calls).toHaveLength(0);
  });
});
