/**
 * The probe query grammar: what parses into which steps, and every kind
 * of malformed query as a located ProbeQueryError.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PROBE_STEPS, parseProbeQuery, ProbeQueryError, isProbeQueryError } from '../../src/runtime/index.js';

describe('parseProbeQuery', () => {
  it('splits a query into the entry and typed steps', () => {
    expect(parseProbeQuery('blockdev-add/arg-type/+file/*aio/^io_uring/$unstable')).toEqual({
      text: 'blockdev-add/arg-type/+file/*aio/^io_uring/$unstable',
      entry: 'blockdev-add',
      steps: [
        { kind: 'member', name: 'arg-type' },
        { kind: 'branch', name: 'file' },
        { kind: 'optional', name: 'aio' },
        { kind: 'value', name: 'io_uring' },
        { kind: 'feature', name: 'unstable' },
      ],
    });
    expect(parseProbeQuery('query-status')).toEqual({ text: 'query-status', entry: 'query-status', steps: [] });
    expect(parseProbeQuery('x/ret-type/m/!int').steps.at(-1)).toEqual({ kind: 'json-type', name: 'int' });
    expect(parseProbeQuery('device_add/$json-cli').steps).toEqual([{ kind: 'feature', name: 'json-cli' }]);
  });

  it('takes downstream names (__RFQDN_name) as plain names, where libvirt would eat an underscore', () => {
    expect(parseProbeQuery('__com.redhat_drive-add/arg-type/__com.redhat_foo').steps).toEqual([
      { kind: 'member', name: 'arg-type' },
      { kind: 'member', name: '__com.redhat_foo' },
    ]);
    expect(parseProbeQuery('x/arg-type/+__org.qemu_case').steps[1]).toEqual({
      kind: 'branch',
      name: '__org.qemu_case',
    });
  });

  it("accepts libvirt's escape: a leading space makes the rest a plain name", () => {
    expect(parseProbeQuery('x/arg-type/ 9lives').steps[1]).toEqual({ kind: 'member', name: '9lives' });
    expect(parseProbeQuery('x/arg-type/ __com.redhat_foo').steps[1]).toEqual({
      kind: 'member',
      name: '__com.redhat_foo',
    });
  });

  it('lets enum values and branch names start with a digit after their modifier', () => {
    expect(parseProbeQuery('x/arg-type/m/^1080p').steps[2]).toEqual({ kind: 'value', name: '1080p' });
  });

  const malformed: [string, number | null, RegExp][] = [
    ['', null, /empty query/],
    ['/arg-type', 0, /empty command or event name/],
    ['query-status//running', 1, /empty step/],
    ['query-status/ret-type/', 2, /empty step/],
    ['query-status/ret-type/*', 2, /'\*' without a name/],
    ['query-status/ret-type/+', 2, /'\+' without a name/],
    ['query-status/ret-type/m/^', 3, /'\^' without a name/],
    ['query-status/ret-type/m/!', 3, /'!' without a name/],
    ['query-status/$', 1, /'\$' without a name/],
    ['query-status/ ', 1, /' ' without a name/],
    ['*query-status', 0, /modifier '\*' is not allowed here/],
    ['$query-status', 0, /modifier/],
    ['query status', 0, /" " is not allowed in a command or event name/],
    ['query-status/ret-type/#running', 2, /"#" is not allowed here/],
    ['query-status/ret-type/-running', 2, /"-" is not allowed here/],
    ['query-status/ret-type/9running', 2, /"9" is not allowed here/],
    ['query-status/ret-type/run ning', 2, /" " is not allowed here/],
    ['query-status/ret-type/*run*ning', 2, /"\*" is not allowed in a name/],
    ['query-status/ret-type/running/!bool', 3, /unknown JSON type 'bool'/],
    ['query-status/$feat/ret-type', 2, /nothing may follow the terminal step '\$feat'/],
    ['query-status/ret-type/running/!boolean/x', 4, /nothing may follow the terminal step '!boolean'/],
    ['x/arg-type/m/^v/m', 4, /only a '\$feature' step may follow the enum value step '\^v'/],
    ['x/arg-type/m/^v/^w', 4, /only a '\$feature' step/],
    ['x/arg-type/m/^v/$f/$g', 5, /nothing may follow the terminal step '\$f'/],
  ];
  it.each(malformed)('%j is malformed (step %s)', (query, step, reason) => {
    let error: unknown;
    try {
      parseProbeQuery(query);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProbeQueryError);
    expect(isProbeQueryError(error)).toBe(true);
    const e = error as ProbeQueryError;
    expect(e.code).toBe('QMP_ERR_PROBE_QUERY');
    expect(e.query).toBe(query);
    expect(e.step).toBe(step);
    expect(e.reason).toMatch(reason);
    expect(e.message).toContain(`'${query}'`);
  });

  it(`refuses more than ${MAX_PROBE_STEPS} steps`, () => {
    const deep = ['x', ...Array.from({ length: MAX_PROBE_STEPS }, () => 'm')].join('/');
    expect(parseProbeQuery(deep).steps).toHaveLength(MAX_PROBE_STEPS);
    expect(() => parseProbeQuery(`${deep}/m`)).toThrow(/more than 100 steps/);
  });

  it('refuses a non-string (JavaScript callers without types)', () => {
    expect(() => parseProbeQuery(42 as unknown as string)).toThrow(ProbeQueryError);
  });
});
