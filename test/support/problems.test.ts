/**
 * One wording for validation problems: the typed client's
 * QapiValidationError and `verify` describe the same fault in the same
 * words, and point at --oldest-schema when what a QEMU sent looks older
 * than the schema.
 */
import { describe, expect, it } from 'vitest';
import { schemaValidators } from '../../generated/index.js';
import { check } from '../../src/support/client.js';
import { QapiValidationError } from '../../src/support/errors.js';
import { OLDER_QEMU_HINT } from '../../src/support/problems.js';
import { formatReport, validate, verifyTranscript } from '../../src/transcripts/index.js';

const compatible = schemaValidators.validatorSet(false);
const strict = schemaValidators.validatorSet(true);
const iothreads = compatible.commands['query-iothreads']!.returns!;

function thrown(fn: () => unknown): QapiValidationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof QapiValidationError) return e;
    throw e;
  }
  throw new Error('expected a QapiValidationError');
}

const thread = { id: 'io0', 'thread-id': 7, 'poll-max-ns': 0, 'poll-grow': 0, 'poll-shrink': 0, 'aio-max-batch': 0 };

describe('validation problems in one set of words', () => {
  const cases: [string, unknown][] = [
    ['a missing member (an older QEMU)', [{ id: 'io0', 'thread-id': 7 }]],
    ['a wrong type', [{ ...thread, id: 3 }]],
    ['not an array', 'x'],
    ['an unknown member', [{ ...thread, extra: 1 }]],
  ];
  for (const [what, value] of cases) {
    it(`${what}: the client and verify agree`, () => {
      const schema = what.includes('unknown member') ? strict.commands['query-iothreads']!.returns! : iothreads;
      const findings = validate(schema, value, '');
      expect(findings.length).toBeGreaterThan(0);
      const error = thrown(() => check(schema, value, 'reply', 'query-iothreads'));
      expect(error.problems).toEqual(findings);
      // No zod default wording reaches users.
      expect(error.message).not.toMatch(/Invalid input|Unrecognized key|received/);
    });
  }

  it('words a missing member, a wrong type and an enum value the same way everywhere', () => {
    const missing = thrown(() => check(iothreads, [{ id: 'a' }], 'reply', 'query-iothreads'));
    expect(missing.problems[0]).toEqual({
      path: '[0].thread-id',
      message: 'missing mandatory member',
      kind: 'missing-member',
    });
    const type = thrown(() => check(iothreads, [{ ...thread, id: 3 }], 'reply', 'query-iothreads'));
    expect(type.message).toBe("invalid reply to 'query-iothreads': [0].id: expected string, got number 3");
  });
});

describe('a QEMU older than the schema', () => {
  const older = [{ id: 'io0', 'thread-id': 7 }];

  it('a reply lacking members suggests --oldest-schema', () => {
    const error = thrown(() => check(iothreads, older, 'reply', 'query-iothreads'));
    expect(error.message).toContain(`[0].poll-max-ns: missing mandatory member`);
    expect(error.message.endsWith(`(${OLDER_QEMU_HINT})`)).toBe(true);
    expect(OLDER_QEMU_HINT).toContain('--oldest-schema');
    expect(OLDER_QEMU_HINT).toContain('oldestSchema');
  });

  it('an enum value the schema does not have suggests it too', () => {
    const status = strict.commands['query-status']!.returns!;
    const error = thrown(() => check(status, { running: true, status: 'gone-state' }, 'reply', 'query-status'));
    expect(error.message).toContain('status: unexpected string "gone-state"; expected one of');
    expect(error.message).toContain(OLDER_QEMU_HINT);
  });

  it('a wrong type does not, nor do bad arguments (the caller wrote those)', () => {
    const wrong = thrown(() => check(iothreads, [{ ...thread, id: 3 }], 'reply', 'query-iothreads'));
    expect(wrong.message).not.toContain('--oldest-schema');
    const args = compatible.commands['object-del']!.args!;
    const missing = thrown(() => check(args, {}, 'arguments', 'object-del'));
    expect(missing.message).toContain('id: missing mandatory member');
    expect(missing.message).not.toContain('--oldest-schema');
  });

  it('verify adds the hint to its report for server messages only', () => {
    const line = (dir: string, msg: unknown) => JSON.stringify({ dir, msg });
    const reply = [
      line('client', { execute: 'query-iothreads', id: 1 }),
      line('server', { return: older, id: 1 }),
    ].join('\n');
    const report = formatReport(verifyTranscript(reply, compatible), 't');
    expect(report).toContain(`hint: ${OLDER_QEMU_HINT}`);
    const command = [
      line('client', { execute: 'object-del', arguments: {}, id: 1 }),
      line('server', { return: {}, id: 1 }),
    ].join('\n');
    const commandReport = formatReport(verifyTranscript(command, compatible), 't');
    expect(commandReport[0]).toContain('arguments.id: missing mandatory member');
    expect(commandReport.join('\n')).not.toContain('hint:');
  });
});
