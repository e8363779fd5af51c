/**
 * `verify`: pairing and judging logic against a small hand-made validator
 * set built from the support kit (the blocks generated code is made of).
 */
import { describe, expect, it } from 'vitest';
import { SchemaValidators, type DefineModule, type ValidatorSet } from '../../src/support/index.js';
import {
  formatReport,
  parseTranscript,
  verifyTranscript,
  type VerifyOptions,
  type VerifyResult,
} from '../../src/transcripts/index.js';

const defineTypes: DefineModule = (r, v) => {
  r.def('VersionTriple', () => v.object({ major: r.ref('int'), minor: r.ref('int'), micro: r.ref('int') }));
  r.def('VersionInfo', () => v.object({ qemu: r.ref('VersionTriple'), package: r.ref('str') }));
  r.def('IOThreadInfo', () => v.object({ id: r.ref('str'), 'thread-id': r.ref('int'), 'poll-max-ns': r.ref('int') }));
  r.def('[IOThreadInfo]', () => v.array(r.ref('IOThreadInfo')));
  r.def('CpuModelInfo', () => v.object({ name: r.ref('str'), props: v.optional(r.ref('any')) }));
  r.def('CpuModelExpansionType', () => v.enum(['static', 'full']));
  r.def('q_obj_query-cpu-model-expansion-arg', () =>
    v.object({ type: r.ref('CpuModelExpansionType'), model: r.ref('CpuModelInfo') }),
  );
  r.def('CpuModelExpansionInfo', () => v.object({ model: r.ref('CpuModelInfo') }));
  r.def('SizeInfo', () => v.object({ size: r.ref('size'), small: v.optional(r.ref('uint8')) }));
  r.def('q_obj_object-del-arg', () => v.object({ id: r.ref('str') }));
  r.def('q_empty', () => v.object({}));
  r.def('QMPCapability', () => v.enum(['oob']));
  r.def('[QMPCapability]', () => v.array(r.ref('QMPCapability')));
  r.def('q_obj_qmp_capabilities-arg', () => v.object({ enable: v.optional(r.ref('[QMPCapability]')) }));
  r.def('q_obj_BLOCK_EXPORT_DELETED-arg', () => v.object({ id: r.ref('str') }));
};

const description = {
  int64: 'mixed',
  modules: [defineTypes],
  commands: {
    qmp_capabilities: ['q_obj_qmp_capabilities-arg', 'q_empty'],
    'query-version': [null, 'VersionInfo'],
    'query-iothreads': [null, '[IOThreadInfo]'],
    'query-cpu-model-expansion': ['q_obj_query-cpu-model-expansion-arg', 'CpuModelExpansionInfo'],
    'query-size': [null, 'SizeInfo'],
    'object-del': ['q_obj_object-del-arg', 'q_empty'],
    stop: [null, 'q_empty'],
    'x-oob-ping': [null, 'q_empty'],
  },
  events: { RESUME: null, BLOCK_EXPORT_DELETED: 'q_obj_BLOCK_EXPORT_DELETED-arg' },
} as const;

const validators = new SchemaValidators(description);

/** One transcript line per [dir, msg]; strings are taken as raw lines. */
function transcript(lines: readonly (readonly ['client' | 'server', unknown] | string)[]): string {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify({ dir: l[0], msg: l[1] }))).join('\n') + '\n';
}

function verify(lines: Parameters<typeof transcript>[0], options: VerifyOptions = {}): VerifyResult {
  const set: ValidatorSet = validators.validatorSet(options.strict ?? false);
  return verifyTranscript(transcript(lines), set, options);
}

/** `line: path: message` for every finding. */
function findings(result: VerifyResult): string[] {
  return result.verdicts.flatMap((v) => v.findings.map((f) => `${v.line}: ${f.path}: ${f.message}`));
}

const greeting = [
  'server',
  { QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'x' }, capabilities: ['oob'] } },
] as const;
const ts = { seconds: 1700000000, microseconds: 5 };
const thread = { id: 'io0', 'thread-id': 42, 'poll-max-ns': 32768 };

describe('verify: a consistent session', () => {
  it('accepts greeting, negotiation, replies, errors and events', () => {
    const r = verify([
      greeting,
      ['client', { execute: 'qmp_capabilities', arguments: { enable: ['oob'] }, id: 0 }],
      ['server', { return: {}, id: 0 }],
      ['client', { execute: 'query-iothreads', id: 1 }],
      ['server', { event: 'RESUME', timestamp: ts }],
      ['server', { return: [thread], id: 1 }],
      ['client', { execute: 'object-del', arguments: { id: 'io9' }, id: 2 }],
      ['server', { error: { class: 'GenericError', desc: 'not found' }, id: 2 }],
      ['server', { event: 'BLOCK_EXPORT_DELETED', data: { id: 'e' }, timestamp: ts }],
    ]);
    expect(findings(r)).toEqual([]);
    expect([r.messages, r.valid, r.invalid]).toEqual([9, 9, 0]);
    expect(r.verdicts.map((v) => v.kind)).toEqual([
      'greeting',
      'command',
      'return',
      'command',
      'event',
      'return',
      'command',
      'error',
      'event',
    ]);
    expect(formatReport(r, 't.jsonl')).toEqual(['9 messages, 9 valid, 0 invalid']);
  });
});

describe('verify: findings name the message line and member path', () => {
  it('reports a wrong type in a reply', () => {
    const r = verify([
      ['client', { execute: 'query-iothreads', id: 'a' }],
      ['server', { return: [thread, { ...thread, 'thread-id': 'seven' }], id: 'a' }],
    ]);
    expect(findings(r)).toEqual(['2: return[1].thread-id: expected int64 (an integer), got string']);
    expect(r.invalid).toBe(1);
    expect(formatReport(r, 'f.jsonl')).toEqual([
      'f.jsonl:2: reply to \'query-iothreads\' (id "a"): return[1].thread-id: expected int64 (an integer), got string',
      '2 messages, 1 valid, 1 invalid',
    ]);
  });

  it('reports a missing mandatory member', () => {
    const { 'poll-max-ns': _dropped, ...partial } = thread;
    const r = verify([
      ['client', { execute: 'query-iothreads', id: 1 }],
      ['server', { return: [partial], id: 1 }],
    ]);
    expect(findings(r)).toEqual([expect.stringMatching(/^2: return\[0\]\.poll-max-ns: missing mandatory member/)]);
  });

  it('reports a bad enum value and a wrong nested type in arguments the server accepted', () => {
    const r = verify([
      ['client', { execute: 'query-cpu-model-expansion', arguments: { type: 'fuller', model: { name: 5 } }, id: 3 }],
      ['server', { return: { model: { name: 'qemu64' } }, id: 3 }],
    ]);
    expect(findings(r)).toEqual([
      `1: arguments.type: unexpected string "fuller"; expected one of "static", "full"`,
      '1: arguments.model.name: expected string, got number 5',
    ]);
    expect(r.verdicts[0]!.label).toBe("command 'query-cpu-model-expansion' (id 3)");
  });

  it('reports out-of-range integers, with 64-bit values decoded exactly', () => {
    const text = [
      '{"dir": "client", "msg": {"execute": "query-size", "id": 1}}',
      '{"dir": "server", "msg": {"return": {"size": 18446744073709551615, "small": 255}, "id": 1}}',
      '{"dir": "client", "msg": {"execute": "query-size", "id": 2}}',
      '{"dir": "server", "msg": {"return": {"size": 18446744073709551616, "small": 256}, "id": 2}}',
      '{"dir": "client", "msg": {"execute": "query-size", "id": 3}}',
      '{"dir": "server", "msg": {"return": {"size": -1}, "id": 3}}',
    ].join('\n');
    const r = verifyTranscript(text, validators.validatorSet(false));
    expect(findings(r)).toEqual([
      '4: return.size: uint64 out of range [0, 18446744073709551615]: 18446744073709551616',
      '4: return.small: uint8 out of range (maximum 255)',
      '6: return.size: uint64 out of range [0, 18446744073709551615]: -1',
    ]);
    const parsed = parseTranscript(text).entries[1]!.msg as { return: { size: unknown } };
    expect(parsed.return.size).toBe(18446744073709551615n);
  });

  it('reports event data problems and malformed timestamps', () => {
    const r = verify([
      ['server', { event: 'BLOCK_EXPORT_DELETED', data: { id: 1 }, timestamp: ts }],
      ['server', { event: 'BLOCK_EXPORT_DELETED', timestamp: ts }],
      ['server', { event: 'RESUME', timestamp: { seconds: 1.5 } }],
    ]);
    expect(findings(r)).toEqual([
      '1: data.id: expected string, got number 1',
      '2: data: missing mandatory member',
      '3: timestamp.seconds: expected an integer, got number 1.5',
      '3: timestamp.microseconds: missing mandatory member',
    ]);
  });

  it('reports malformed error replies and greetings', () => {
    const r = verify([
      ['server', { QMP: { version: { qemu: { major: '7' }, package: 'x' } } }],
      ['client', { execute: 'stop', id: 1 }],
      ['server', { error: { class: 'GenericError' }, id: 1 }],
      ['server', { hello: true }],
    ]);
    expect(findings(r)).toEqual([
      '1: QMP.version.qemu.major: expected int64 (an integer), got string',
      '1: QMP.version.qemu.minor: missing mandatory member',
      '1: QMP.version.qemu.micro: missing mandatory member',
      '1: QMP.capabilities: missing mandatory member',
      '3: error.desc: missing mandatory member',
      "4: : not a greeting, reply or event (no 'QMP', 'return', 'error' or 'event' member)",
    ]);
  });
});

describe('verify: a command is judged with its reply', () => {
  it('counts schema-breaking commands the server refused as valid', () => {
    const r = verify([
      ['client', { execute: 'no-such-command', id: 1 }],
      ['server', { error: { class: 'CommandNotFound', desc: 'nope' }, id: 1 }],
      ['client', { execute: 'query-iothreads', arguments: { bogus: 1 }, id: 2 }],
      ['server', { error: { class: 'GenericError', desc: "Parameter 'bogus' is unexpected" }, id: 2 }],
      ['client', { execute: 'object-del', arguments: {}, id: 3, extra: true }],
      ['server', { error: { class: 'GenericError', desc: 'unexpected member' }, id: 3 }],
    ]);
    expect(findings(r)).toEqual([]);
    expect(r.valid).toBe(6);
  });

  it('reports the same commands when the server accepted them', () => {
    const r = verify([
      ['client', { execute: 'no-such-command', id: 1 }],
      ['server', { return: {}, id: 1 }],
      ['client', { execute: 'query-iothreads', arguments: { bogus: 1 }, id: 2 }],
      ['server', { return: [], id: 2 }],
      ['client', { execute: 'object-del', arguments: {}, id: 3, extra: true }],
      ['server', { return: {}, id: 3 }],
    ]);
    expect(findings(r)).toEqual([
      "1: execute: command 'no-such-command' is not in the schema",
      '3: arguments.bogus: unknown member (the command takes no arguments)',
      '5: extra: unknown member of a command',
      expect.stringMatching(/^5: arguments\.id: missing mandatory member/),
    ]);
    expect([r.messages, r.valid, r.invalid]).toEqual([6, 3, 3]);
  });

  it('judges commands never answered on their own', () => {
    const r = verify([
      ['client', { execute: 'object-del', arguments: { id: 'x' }, id: 1 }],
      ['client', { execute: 'object-del', arguments: { id: 7 }, id: 2 }],
      ['client', { execute: 'object-del', arguments: { id: 'x', more: 1 } }],
    ]);
    expect(findings(r)).toEqual([
      '2: arguments.id: expected string, got number 7',
      '3: arguments.more: unknown member',
    ]);
  });

  it('reports replies that answer no command in flight', () => {
    const r = verify([
      ['client', { execute: 'stop', id: 1 }],
      ['server', { return: {}, id: 1 }],
      ['server', { return: {}, id: 1 }],
      ['server', { error: { class: 'GenericError', desc: 'x' }, id: 'zzz' }],
      ['server', { return: {} }],
    ]);
    expect(findings(r)).toEqual([
      '3: id: answers no command in flight (id 1)',
      '4: id: answers no command in flight (id "zzz")',
      '5: : answers no command in flight (no id)',
    ]);
  });

  it('accepts an id-less error refusing input too broken to have its id read', () => {
    const r = verify([
      ['client', { execute: 42, id: 5 }],
      ['server', { error: { class: 'GenericError', desc: "QMP input member 'execute' must be a string" } }],
      ['server', { error: { class: 'GenericError', desc: 'JSON parse error' } }],
    ]);
    expect(findings(r)).toEqual([]);
    expect(r.verdicts[1]!.label).toBe('error reply to a malformed command (id 5)');
  });
});

describe('verify: pairing', () => {
  it('pairs out-of-order replies and several commands in flight, with events between', () => {
    const r = verify([
      ['client', { execute: 'query-iothreads', id: 'a' }],
      ['client', { execute: 'query-version', id: 'b' }],
      ['client', { execute: 'query-size', id: 'c' }],
      ['server', { event: 'RESUME', timestamp: ts }],
      ['server', { return: { size: 1 }, id: 'c' }],
      ['server', { return: { qemu: { major: 1, minor: 2, micro: 3 }, package: '' }, id: 'b' }],
      ['server', { event: 'RESUME', timestamp: ts }],
      ['server', { return: [thread], id: 'a' }],
    ]);
    expect(findings(r)).toEqual([]);
    expect(r.verdicts.filter((v) => v.kind === 'return').map((v) => v.label)).toEqual([
      `reply to 'query-size' (id "c")`,
      `reply to 'query-version' (id "b")`,
      `reply to 'query-iothreads' (id "a")`,
    ]);
  });

  it('matches ids of any JSON type by value, including exact big integers', () => {
    const ids: unknown[] = [0, 'x', null, false, [1, { a: 2 }], { b: [3], a: 1 }, 2.5];
    const lines: (readonly ['client' | 'server', unknown] | string)[] = [];
    ids.forEach((id) => lines.push(['client', { execute: 'query-size', id }]));
    lines.push('{"dir": "client", "msg": {"execute": "query-version", "id": 12345678901234567890}}');
    lines.push(
      '{"dir": "server", "msg": {"return": {"qemu": {"major": 1, "minor": 0, "micro": 0}, "package": ""}, ' +
        '"id": 12345678901234567890}}',
    );
    // Replies in reverse order; object ids with members reordered.
    for (const id of [...ids].reverse()) {
      const same = typeof id === 'object' && id !== null && !Array.isArray(id) ? { a: 1, b: [3] } : id;
      lines.push(['server', { return: { size: 1 }, id: same }]);
    }
    const r = verify(lines);
    expect(findings(r)).toEqual([]);
    expect(r.messages).toBe(ids.length * 2 + 2);
    // 12345678901234567890 must not be confused with its double neighbour.
    const r2 = verify([
      '{"dir": "client", "msg": {"execute": "stop", "id": 12345678901234567890}}',
      '{"dir": "server", "msg": {"return": {}, "id": 12345678901234567891}}',
    ]);
    expect(findings(r2)).toEqual(['2: id: answers no command in flight (id 12345678901234567891)']);
  });

  it('matches an id beyond 64 bits that the server echoes as a double', () => {
    // QEMU keeps such an integer as a double and prints it with %.17g.
    const r = verify([
      '{"dir": "client", "msg": {"execute": "stop", "id": 123456789012345678901}}',
      '{"dir": "server", "msg": {"return": {}, "id": 1.2345678901234568e+20}}',
    ]);
    expect(findings(r)).toEqual([]);
    expect(r.verdicts[1]!.label).toBe("reply to 'stop' (id 123456789012345678901)");
  });

  it('gives replies to commands sharing an id in the order sent', () => {
    const r = verify([
      ['client', { execute: 'query-size', id: 7 }],
      ['client', { execute: 'query-iothreads', id: 7 }],
      ['server', { return: { size: 1 }, id: 7 }],
      ['server', { return: [thread], id: 7 }],
    ]);
    expect(findings(r)).toEqual([]);
    expect(r.verdicts.filter((v) => v.dir === 'server').map((v) => v.label)).toEqual([
      "reply to 'query-size' (id 7)",
      "reply to 'query-iothreads' (id 7)",
    ]);
  });

  it('gives id-less replies to id-less commands in order', () => {
    const r = verify([
      ['client', { execute: 'query-size' }],
      ['client', { execute: 'query-iothreads' }],
      ['server', { return: { size: 'big' } }],
      ['server', { return: [thread] }],
    ]);
    expect(findings(r)).toEqual(['3: return.size: expected uint64 (an integer), got string']);
    expect(r.verdicts[2]!.label).toBe("reply to 'query-size'");
  });

  it('lets an exec-oob reply overtake in-band commands', () => {
    const r = verify([
      ['client', { execute: 'query-iothreads', id: 1 }],
      ['client', { 'exec-oob': 'x-oob-ping', id: 'oob' }],
      ['server', { return: {}, id: 'oob' }],
      ['server', { return: [thread], id: 1 }],
      ['client', { 'exec-oob': 'x-oob-ping', execute: 'stop', id: 2 }],
      ['server', { return: {}, id: 2 }],
    ]);
    expect(findings(r)).toEqual(["5: : has both 'execute' and 'exec-oob'"]);
    expect(r.verdicts[1]!.label).toBe(`command (exec-oob) 'x-oob-ping' (id "oob")`);
    expect(r.verdicts[2]!.label).toBe(`reply to 'x-oob-ping' (id "oob")`);
  });
});

describe('verify: compatible and strict modes', () => {
  const session = [
    greeting,
    ['client', { execute: 'query-iothreads', id: 1 }],
    ['server', { return: [{ ...thread, 'new-member': 1 }], id: 1 }],
    ['client', { execute: 'query-cpu-model-expansion', arguments: { type: 'full', model: { name: 'm' } }, id: 2 }],
    ['server', { return: { model: { name: 'm' }, extra: [] }, id: 2, spare: true }],
    ['server', { event: 'NEW_EVENT', data: { x: 1 }, timestamp: ts }],
    ['server', { event: 'RESUME', data: { why: 'x' }, timestamp: ts }],
    [
      'server',
      {
        QMP: {
          version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' },
          capabilities: ['oob', 'new-cap'],
          extra: 1,
        },
      },
    ],
  ] as const;

  it('tolerates what a newer server adds, by default', () => {
    expect(findings(verify(session))).toEqual([]);
  });

  it('reports it with strict', () => {
    expect(findings(verify(session, { strict: true }))).toEqual([
      '3: return[0].new-member: unknown member',
      '5: spare: unknown member',
      '5: return.extra: unknown member',
      '6: event: event not in the schema',
      '7: data: the event carries no data',
      '8: QMP.extra: unknown member',
      `8: QMP.capabilities[1]: unexpected string "new-cap"; expected one of "oob"`,
    ]);
  });
});

describe('verify: transcript lines', () => {
  it('reports garbage lines with their numbers and judges the rest', () => {
    const text = [
      '{"dir": "client", "msg": {"execute": "stop", "id": 1}}',
      'this is not JSON',
      '',
      '{"dir": "sideways", "msg": {}}',
      '{"dir": "server"}',
      '{"dir": "server", "msg": {"return": {}, "id": 1}}',
      '{"dir": "server", "msg": {"return": {}, "id": 1',
      '[1, 2]\r',
    ].join('\n');
    const r = verifyTranscript(text, validators.validatorSet(false));
    expect(r.badLines.map((b) => b.line)).toEqual([2, 4, 5, 7, 8]);
    expect(r.badLines[0]!.reason).toMatch(/^bad JSON: /);
    expect(r.badLines[1]!.reason).toBe('expected {"dir": "client"|"server", "msg": …}');
    expect([r.messages, r.valid, r.invalid]).toEqual([2, 2, 0]);
  });

  it('never throws on arbitrary input', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pieces = [
      '{',
      '}',
      '[',
      ']',
      '"dir"',
      '"client"',
      '"server"',
      '"msg"',
      ':',
      ',',
      '"execute"',
      '"id"',
      '"return"',
      '"error"',
      '"event"',
      '"QMP"',
      '1',
      '1e999',
      '99999999999999999999',
      'null',
      '"query-size"',
      '\n',
      '"arguments"',
      '"data"',
    ];
    for (let i = 0; i < 300; i++) {
      let text = '';
      for (let j = rand(60); j > 0; j--) text += pieces[rand(pieces.length)];
      expect(() => verifyTranscript(text, validators.validatorSet(i % 2 === 0), { strict: i % 2 === 0 })).not.toThrow();
    }
  });
});

describe('verify: report', () => {
  it('shows findings differing only in array indices once, with a count', () => {
    const r = verify([
      ['client', { execute: 'query-iothreads', id: 1 }],
      ['server', { return: [{ id: 'a' }, { id: 'b' }, { id: 'c', 'thread-id': 1 }], id: 1 }],
    ]);
    expect(findings(r)).toHaveLength(5);
    expect(formatReport(r, 's')).toEqual([
      `s:2: reply to 'query-iothreads' (id 1): return[0].thread-id: missing mandatory member (and 1 more like it)`,
      `s:2: reply to 'query-iothreads' (id 1): return[0].poll-max-ns: missing mandatory member (and 2 more like it)`,
      'hint: if the QEMU is older than the schema, generate with --oldest-schema FILE (library: oldestSchema) so its ' +
        'messages are accepted',
      '2 messages, 1 valid, 1 invalid',
    ]);
  });
});
