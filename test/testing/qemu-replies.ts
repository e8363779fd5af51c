/**
 * How QEMU answers bad requests, case by case: what the test server must
 * reproduce. Every reply here was observed from qemu-system-x86_64 7.2
 * (Debian 12, `-machine none`) and, identically, from 10.0 (Debian 13)
 * and 11.1 (Debian sid), except the compress-level cases (7.2 only: the
 * parameter is gone later) and 11.1's LINE:COLUMN before a duplicate-key
 * parse error; qemu-parity.integration.ts checks the table against each
 * of those QEMUs, and server-replies.test.ts checks our server against
 * the table (with QEMU 7.2's schema, whose commands these are).
 *
 * `reply: 'accepted'` marks requests QEMU's argument checks let through
 * (the command itself then decides); `args` is what the command receives.
 */
import { stringifyJson } from '../../src/runtime/json.js';
import type { RawQmp } from '../helpers/raw-qmp.js';

export interface ReplyCase {
  readonly name: string;
  /** Sent before negotiation, after it, or after negotiating `oob`. */
  readonly mode: 'negotiation' | 'command' | 'oob';
  /** The request line (without its newline); a Buffer for bytes that are not UTF-8. */
  readonly request: string | Buffer;
  readonly reply: { readonly class: string; readonly desc: string; readonly id?: unknown } | 'accepted';
  /** For accepted requests: the arguments as the command sees them. */
  readonly args?: Record<string, unknown>;
}

const ERR = (desc: string, id?: unknown) => ({ class: 'GenericError', desc, ...(id === undefined ? {} : { id }) });
const NOT_FOUND = (desc: string, id?: unknown) => ({
  class: 'CommandNotFound',
  desc,
  ...(id === undefined ? {} : { id }),
});
const INVALID = (path: string, expected: string) => ERR(`Invalid parameter type for '${path}', expected: ${expected}`);

const cmd = (execute: string, args?: unknown): string =>
  stringifyJson(args === undefined ? { execute } : { execute, arguments: args });

/** A request line with `bytes` (hex) between `before` and `after`: bytes that are not UTF-8. */
const bytes = (before: string, hex: string, after: string): Buffer =>
  Buffer.concat([Buffer.from(before), Buffer.from(hex, 'hex'), Buffer.from(after)]);
const PATH = '{"execute": "qom-list", "arguments": {"path": "';
const END = '"}, "id": 1}';
const INVALID_UTF8 = ERR('JSON parse error, invalid UTF-8 sequence in string');
const NOT_UNICODE = (escape: string) => ERR(`JSON parse error, ${escape} is not a valid Unicode character`);

const iothread = (extra: Record<string, unknown>) => cmd('object-add', { 'qom-type': 'iothread', id: 'x', ...extra });
const nullCo = (extra: Record<string, unknown>) =>
  cmd('blockdev-add', { driver: 'null-co', 'node-name': 'x', ...extra });
const caps = (list: unknown) => cmd('migrate-set-capabilities', { capabilities: list });
const params = (p: Record<string, unknown>) => cmd('migrate-set-parameters', p);
const inputEvent = (event: unknown) => cmd('input-send-event', { events: [event] });

export const REPLY_CASES: readonly ReplyCase[] = [
  // --- negotiation ---------------------------------------------------------------
  {
    name: 'a command before negotiation',
    mode: 'negotiation',
    request: cmd('query-status'),
    reply: NOT_FOUND("Expecting capabilities negotiation with 'qmp_capabilities'"),
  },
  {
    name: 'an unknown command before negotiation',
    mode: 'negotiation',
    request: '{"execute": "nope", "id": 1}',
    reply: NOT_FOUND("Expecting capabilities negotiation with 'qmp_capabilities'", 1),
  },
  {
    name: 'exec-oob before negotiation',
    mode: 'negotiation',
    request: '{"exec-oob": "query-status"}',
    reply: ERR("QMP input member 'exec-oob' is unexpected"),
  },
  {
    name: 'an unknown capability',
    mode: 'negotiation',
    request: cmd('qmp_capabilities', { enable: ['foo'] }),
    reply: ERR("Parameter 'null' does not accept value 'foo'"),
  },
  {
    name: 'capabilities not a list',
    mode: 'negotiation',
    request: cmd('qmp_capabilities', { enable: 'oob' }),
    reply: INVALID('enable', 'array'),
  },
  {
    name: 'a capability not a string',
    mode: 'negotiation',
    request: cmd('qmp_capabilities', { enable: [5] }),
    reply: INVALID('enable[0]', 'string'),
  },
  {
    name: 'an unknown negotiation argument',
    mode: 'negotiation',
    request: cmd('qmp_capabilities', { bogus: 1 }),
    reply: ERR("Parameter 'bogus' is unexpected"),
  },

  // --- the envelope --------------------------------------------------------------
  {
    name: 'negotiating twice',
    mode: 'command',
    request: '{"execute": "qmp_capabilities", "id": 2}',
    reply: NOT_FOUND('Capabilities negotiation is already complete, command ignored', 2),
  },
  {
    name: 'an unknown command',
    mode: 'command',
    request: '{"execute": "nope", "id": "x"}',
    reply: NOT_FOUND('The command nope has not been found', 'x'),
  },
  {
    name: 'exec-oob without the oob capability',
    mode: 'command',
    request: '{"exec-oob": "query-status", "id": 1}',
    reply: ERR("QMP input member 'exec-oob' is unexpected", 1),
  },
  {
    name: 'exec-oob of a command without allow-oob',
    mode: 'oob',
    request: '{"exec-oob": "query-status", "id": 1}',
    reply: ERR('The command query-status does not support OOB', 1),
  },
  {
    name: 'an unknown envelope member',
    mode: 'command',
    request: '{"execute": "query-status", "control": {"run-oob": true}}',
    reply: ERR("QMP input member 'control' is unexpected"),
  },
  {
    name: 'a request that is an array',
    mode: 'command',
    request: '[1, 2]',
    reply: ERR('QMP input must be a JSON object'),
  },
  {
    name: 'a request that is a string',
    mode: 'command',
    request: '"str"',
    reply: ERR('QMP input must be a JSON object'),
  },
  {
    name: 'a request without execute',
    mode: 'command',
    request: '{"id": 5}',
    reply: ERR("QMP input lacks member 'execute'", 5),
  },
  {
    name: 'a command name that is a number',
    mode: 'command',
    request: '{"execute": 5}',
    reply: ERR("QMP input member 'execute' must be a string"),
  },
  {
    name: 'both execute and exec-oob',
    mode: 'command',
    request: '{"execute": "query-status", "exec-oob": "query-status"}',
    reply: ERR("QMP input member 'exec-oob' is unexpected"),
  },
  {
    name: 'arguments that are an array',
    mode: 'command',
    request: '{"execute": "query-status", "arguments": []}',
    reply: ERR("QMP input member 'arguments' must be an object"),
  },
  {
    name: 'arguments that are null',
    mode: 'command',
    request: '{"execute": "qom-list", "arguments": null}',
    reply: ERR("QMP input member 'arguments' must be an object"),
  },
  {
    name: 'a key twice',
    mode: 'command',
    request: '{"execute": "query-status", "id": 1, "id": 2}',
    reply: ERR('JSON parse error, duplicate key'),
  },

  // --- arguments: members --------------------------------------------------------------
  {
    name: 'an argument to a command that takes none',
    mode: 'command',
    request: cmd('query-status', { a: 1 }),
    reply: ERR("Parameter 'a' is unexpected"),
  },
  {
    name: 'a missing argument',
    mode: 'command',
    request: cmd('qom-list', {}),
    reply: ERR("Parameter 'path' is missing"),
  },
  { name: 'no arguments at all', mode: 'command', request: cmd('qom-list'), reply: ERR("Parameter 'path' is missing") },
  {
    name: 'a union member missing',
    mode: 'command',
    request: cmd('object-add', { 'qom-type': 'iothread', 'poll-max-ns': 1 }),
    reply: ERR("Parameter 'id' is missing"),
  },
  {
    name: 'a union discriminator missing',
    mode: 'command',
    request: cmd('object-add', { id: 'x' }),
    reply: ERR("Parameter 'qom-type' is missing"),
  },
  {
    name: 'an unknown union member',
    mode: 'command',
    request: iothread({ zzz: 1 }),
    reply: ERR("Parameter 'zzz' is unexpected"),
  },
  {
    name: 'the first of two unknown members',
    mode: 'command',
    request: iothread({ 'poll-max-ns': 1, bogus: 2, zz: 3 }),
    reply: ERR("Parameter 'bogus' is unexpected"),
  },
  {
    name: 'an unknown nested member',
    mode: 'command',
    request: nullCo({ cache: { bogus: 1 } }),
    reply: ERR("Parameter 'cache.bogus' is unexpected"),
  },
  {
    name: 'a missing member in a list element',
    mode: 'command',
    request: caps([{}]),
    reply: ERR("Parameter 'capabilities[0].capability' is missing"),
  },
  {
    name: 'an unknown member in a list element',
    mode: 'command',
    request: caps([{ capability: 'xbzrle', state: true, q: 1 }]),
    reply: ERR("Parameter 'capabilities[0].q' is unexpected"),
  },
  {
    name: 'a union tag missing in a list element',
    mode: 'command',
    request: inputEvent({ data: {} }),
    reply: ERR("Parameter 'events[0].type' is missing"),
  },
  {
    name: 'a union branch member missing',
    mode: 'command',
    request: inputEvent({ type: 'key' }),
    reply: ERR("Parameter 'events[0].data' is missing"),
  },
  {
    name: 'an unknown member deep down',
    mode: 'command',
    request: inputEvent({ type: 'key', data: { down: true, key: { type: 'qcode', data: 'a' }, extra: 1 } }),
    reply: ERR("Parameter 'events[0].data.extra' is unexpected"),
  },
  {
    name: 'a simple union branch missing',
    mode: 'command',
    request: cmd('send-key', { keys: [{ type: 'qcode' }] }),
    reply: ERR("Parameter 'keys[0].data' is missing"),
  },

  // --- arguments: types ---------------------------------------------------------------------
  {
    name: 'a string that is a number',
    mode: 'command',
    request: cmd('qom-list', { path: 5 }),
    reply: INVALID('path', 'string'),
  },
  {
    name: 'a string that is null',
    mode: 'command',
    request: cmd('qom-list', { path: null }),
    reply: INVALID('path', 'string'),
  },
  {
    name: 'an optional string that is null',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'null-co', 'node-name': null }),
    reply: INVALID('node-name', 'string'),
  },
  {
    name: 'an enum that is a number',
    mode: 'command',
    request: cmd('object-add', { 'qom-type': 5, id: 'x' }),
    reply: INVALID('qom-type', 'string'),
  },
  {
    name: 'an enum in a list element that is a number',
    mode: 'command',
    request: caps([{ capability: 5, state: true }]),
    reply: INVALID('capabilities[0].capability', 'string'),
  },
  {
    name: 'an int that is a string',
    mode: 'command',
    request: iothread({ 'poll-max-ns': 'a' }),
    reply: INVALID('poll-max-ns', 'integer'),
  },
  {
    name: 'an int with a fraction',
    mode: 'command',
    request: iothread({ 'poll-max-ns': 1.5 }),
    reply: INVALID('poll-max-ns', 'integer'),
  },
  {
    name: 'an int of 2^63',
    mode: 'command',
    request: iothread({ 'poll-max-ns': 9223372036854775808n }),
    reply: INVALID('poll-max-ns', 'integer'),
  },
  {
    name: 'an int below -2^63',
    mode: 'command',
    request: iothread({ 'poll-max-ns': -9223372036854775809n }),
    reply: INVALID('poll-max-ns', 'integer'),
  },
  {
    name: 'an int32 that is a string',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'blkdebug', 'node-name': 'a', image: 'x', 'max-transfer': 'x' }),
    reply: INVALID('max-transfer', 'integer'),
  },
  {
    name: 'an int32 out of range',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'blkdebug', 'node-name': 'a', image: 'x', 'max-transfer': 3000000000 }),
    reply: ERR("Parameter 'max-transfer' expects int32_t"),
  },
  {
    name: 'a uint8 out of range',
    mode: 'command',
    request: params({ 'compress-level': 300 }),
    reply: ERR("Parameter 'compress-level' expects uint8_t"),
  },
  {
    name: 'a negative uint8',
    mode: 'command',
    request: params({ 'compress-level': -1 }),
    reply: ERR("Parameter 'compress-level' expects uint8_t"),
  },
  {
    name: 'a uint8 that is a string',
    mode: 'command',
    request: params({ 'compress-level': 'x' }),
    reply: ERR("Parameter 'compress-level' expects uint64"),
  },
  {
    name: 'a uint32 out of range',
    mode: 'command',
    request: params({ 'x-checkpoint-delay': 4294967296 }),
    reply: ERR("Parameter 'x-checkpoint-delay' expects uint32_t"),
  },
  {
    name: 'a uint64 that is a string',
    mode: 'command',
    request: params({ 'downtime-limit': 'x' }),
    reply: ERR("Parameter 'downtime-limit' expects uint64"),
  },
  {
    name: 'a uint64 with a fraction',
    mode: 'command',
    request: params({ 'downtime-limit': 1.5 }),
    reply: ERR("Parameter 'downtime-limit' expects uint64"),
  },
  {
    name: 'a uint64 of 2^64',
    mode: 'command',
    request: params({ 'downtime-limit': 18446744073709551616n }),
    reply: ERR("Parameter 'downtime-limit' expects uint64"),
  },
  {
    name: 'a uint64 in a list that is a string',
    mode: 'command',
    request: cmd('block-latency-histogram-set', { id: 'x', boundaries: ['x'] }),
    reply: ERR("Parameter 'boundaries[0]' expects uint64"),
  },
  {
    name: 'a size that is a string',
    mode: 'command',
    request: params({ 'max-bandwidth': 'x' }),
    reply: ERR("Parameter 'max-bandwidth' expects uint64"),
  },
  {
    name: 'a bool that is a string',
    mode: 'command',
    request: params({ 'cpu-throttle-tailslow': 'x' }),
    reply: INVALID('cpu-throttle-tailslow', 'boolean'),
  },
  {
    name: 'a bool that is a number',
    mode: 'command',
    request: params({ 'cpu-throttle-tailslow': 1 }),
    reply: INVALID('cpu-throttle-tailslow', 'boolean'),
  },
  {
    name: 'a nested bool that is a string',
    mode: 'command',
    request: nullCo({ cache: { direct: 'yes' } }),
    reply: INVALID('cache.direct', 'boolean'),
  },
  {
    name: 'a struct that is a number',
    mode: 'command',
    request: nullCo({ cache: 5 }),
    reply: INVALID('cache', 'object'),
  },
  {
    name: 'a struct that is an array',
    mode: 'command',
    request: nullCo({ cache: [] }),
    reply: INVALID('cache', 'object'),
  },
  {
    name: 'a struct that is null',
    mode: 'command',
    request: nullCo({ cache: null }),
    reply: INVALID('cache', 'object'),
  },
  {
    name: 'a list that is a string',
    mode: 'command',
    request: cmd('block-dirty-bitmap-merge', { node: 'x', target: 'y', bitmaps: 'x' }),
    reply: INVALID('bitmaps', 'array'),
  },
  {
    name: 'a list element that is a number',
    mode: 'command',
    request: caps([5]),
    reply: INVALID('capabilities[0]', 'object'),
  },
  {
    name: 'a bool in the second list element',
    mode: 'command',
    request: caps([
      { capability: 'xbzrle', state: true },
      { capability: 'xbzrle', state: 1 },
    ]),
    reply: INVALID('capabilities[1].state', 'boolean'),
  },
  {
    name: 'a bool deep in a union branch',
    mode: 'command',
    request: inputEvent({ type: 'key', data: { down: 'x', key: { type: 'qcode', data: 'a' } } }),
    reply: INVALID('events[0].data.down', 'boolean'),
  },
  {
    name: 'a string deep in a union branch',
    mode: 'command',
    request: cmd('nbd-server-start', { addr: { type: 'unix', data: { path: 5 } } }),
    reply: INVALID('addr.data.path', 'string'),
  },
  {
    name: 'an int in a simple union branch that is a string',
    mode: 'command',
    request: cmd('send-key', { keys: [{ type: 'number', data: 'x' }] }),
    reply: INVALID('keys[0].data', 'integer'),
  },

  // --- arguments: enums and alternates ---------------------------------------------------------
  {
    name: 'an unknown enum value',
    mode: 'command',
    request: nullCo({ 'detect-zeroes': 'bogus' }),
    reply: ERR("Parameter 'detect-zeroes' does not accept value 'bogus'"),
  },
  {
    name: 'an unknown union discriminator',
    mode: 'command',
    request: cmd('object-add', { 'qom-type': 'bogus', id: 'x' }),
    reply: ERR("Parameter 'qom-type' does not accept value 'bogus'"),
  },
  {
    name: 'an unknown enum value in a list element',
    mode: 'command',
    request: caps([{ capability: 'bogus', state: true }]),
    reply: ERR("Parameter 'capability' does not accept value 'bogus'"),
  },
  {
    name: 'an unknown union tag in a list element',
    mode: 'command',
    request: inputEvent({ type: 'bogus', data: {} }),
    reply: ERR("Parameter 'type' does not accept value 'bogus'"),
  },
  {
    name: 'an unknown enum value deep down',
    mode: 'command',
    request: inputEvent({ type: 'key', data: { down: true, key: { type: 'qcode', data: 'bogus' } } }),
    reply: ERR("Parameter 'data' does not accept value 'bogus'"),
  },
  {
    name: 'an unknown nested union tag',
    mode: 'command',
    request: cmd('nbd-server-start', { addr: { type: 'bogus', data: {} } }),
    reply: ERR("Parameter 'type' does not accept value 'bogus'"),
  },
  {
    name: 'an alternate that is a number',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: 5 }),
    reply: INVALID('file', 'BlockdevRef'),
  },
  {
    name: 'an alternate that is a bool',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: true }),
    reply: INVALID('file', 'BlockdevRef'),
  },
  {
    name: 'an alternate that is null',
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: null }),
    reply: INVALID('file', 'BlockdevRef'),
  },
  {
    name: 'an alternate in a list that is a number',
    mode: 'command',
    request: cmd('block-dirty-bitmap-merge', { node: 'x', target: 'y', bitmaps: [5] }),
    reply: INVALID('null', 'BlockDirtyBitmapOrStr'),
  },
  {
    name: 'an alternate with a null branch that is a number',
    mode: 'command',
    request: params({ 'tls-creds': 5 }),
    reply: INVALID('tls-creds', 'StrOrNull'),
  },
  {
    name: "an alternate's object branch, member wrong",
    mode: 'command',
    request: cmd('block-dirty-bitmap-merge', { node: 'x', target: 'y', bitmaps: [{ node: 5 }] }),
    reply: INVALID('bitmaps[0].node', 'string'),
  },
  {
    name: "an alternate's object branch, enum wrong",
    mode: 'command',
    request: cmd('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: { driver: 'bogus' } }),
    reply: ERR("Parameter 'driver' does not accept value 'bogus'"),
  },

  // --- bytes that are not UTF-8, characters QEMU does not take ---------------------------------------
  {
    name: 'a 0xFF byte in a string',
    mode: 'command',
    request: bytes(PATH, 'ff', END),
    reply: ERR("JSON parse error, stray '\"\uFFFD'"),
  },
  {
    name: 'a 0xFE byte after other text in a string',
    mode: 'command',
    request: bytes(PATH, '6162fe6364', END),
    reply: ERR("JSON parse error, stray '\"ab\uFFFD'"),
  },
  {
    name: 'a 0xFF byte after an escape and a character',
    mode: 'command',
    request: bytes(`${PATH}a\\u00e9`, 'c3a9ff', END),
    reply: ERR("JSON parse error, stray '\"a\\u00e9\u00e9\uFFFD'"),
  },
  {
    name: 'a 0xFF byte outside strings',
    mode: 'command',
    request: bytes('{"execute": "qom-list", "id": ', 'ff', '}'),
    reply: ERR("JSON parse error, stray '\uFFFD'"),
  },
  {
    name: 'UTF-8 outside strings',
    mode: 'command',
    request: bytes('{"execute": "qom-list", "id": ', 'c3a9', '}'),
    reply: ERR("JSON parse error, stray '\uFFFD'"),
  },
  { name: 'a truncated UTF-8 sequence', mode: 'command', request: bytes(PATH, 'c3', END), reply: INVALID_UTF8 },
  {
    name: 'a truncated sequence after a good one',
    mode: 'command',
    request: bytes(PATH, 'c3a9c3', END),
    reply: INVALID_UTF8,
  },
  { name: 'a surrogate in UTF-8', mode: 'command', request: bytes(PATH, 'eda080', END), reply: INVALID_UTF8 },
  { name: 'a noncharacter in UTF-8', mode: 'command', request: bytes(PATH, 'efbfbf', END), reply: INVALID_UTF8 },
  { name: 'a code point over U+10FFFF', mode: 'command', request: bytes(PATH, 'f4908080', END), reply: INVALID_UTF8 },
  { name: 'an overlong sequence', mode: 'command', request: bytes(PATH, 'e080af', END), reply: INVALID_UTF8 },
  {
    name: 'a member name that is not UTF-8',
    mode: 'command',
    request: bytes('{"execute": "qom-list", "arguments": {"', 'c3', '": "x"}, "id": 1}'),
    reply: INVALID_UTF8,
  },
  {
    name: 'a lone high surrogate escape',
    mode: 'command',
    request: `${PATH}\\ud800${END}`,
    reply: NOT_UNICODE('\\ud800'),
  },
  {
    name: 'a lone high surrogate escape, upper case',
    mode: 'command',
    request: `${PATH}\\uD800${END}`,
    reply: NOT_UNICODE('\\uD800'),
  },
  {
    name: 'a lone low surrogate escape',
    mode: 'command',
    request: `${PATH}\\udc00x${END}`,
    reply: NOT_UNICODE('\\udc00'),
  },
  {
    name: 'a high surrogate escape before another escape',
    mode: 'command',
    request: `${PATH}\\ud800\\u0041${END}`,
    reply: NOT_UNICODE('\\ud800'),
  },
  { name: 'a noncharacter escape', mode: 'command', request: `${PATH}\\uffff${END}`, reply: NOT_UNICODE('\\uffff') },
  {
    name: 'a noncharacter escape from the FDD0 block',
    mode: 'command',
    request: `${PATH}\\ufdd0${END}`,
    reply: NOT_UNICODE('\\ufdd0'),
  },
  {
    name: 'a bad escape before bad UTF-8: the first string wins',
    mode: 'command',
    request: bytes(`{"execute": "qom-list", "arguments": {"path": "\\ud800"}, "id": 1, "x": "`, 'c3', '"}'),
    reply: NOT_UNICODE('\\ud800'),
  },
  {
    name: 'bad UTF-8 before a bad escape: the first string wins',
    mode: 'command',
    request: bytes(PATH, 'c3', '"}, "id": 1, "x": "\\ud800"}'),
    reply: INVALID_UTF8,
  },

  // --- accepted by the argument checks -------------------------------------------------------------
  {
    name: 'a negative uint64 (wrapped)',
    mode: 'command',
    request: params({ 'downtime-limit': -1 }),
    reply: 'accepted',
    args: { 'downtime-limit': 18446744073709551615n },
  },
  {
    name: 'the largest uint64',
    mode: 'command',
    request: params({ 'downtime-limit': 18446744073709551615n }),
    reply: 'accepted',
    args: { 'downtime-limit': 18446744073709551615n },
  },
  {
    name: 'a negative size (wrapped)',
    mode: 'command',
    request: params({ 'max-bandwidth': -5 }),
    reply: 'accepted',
    args: { 'max-bandwidth': 18446744073709551611n },
  },
  {
    name: 'an alternate null branch',
    mode: 'command',
    request: params({ 'tls-creds': null }),
    reply: 'accepted',
    args: { 'tls-creds': null },
  },
  {
    name: 'an empty list',
    mode: 'command',
    request: cmd('send-key', { keys: [] }),
    reply: 'accepted',
    args: { keys: [] },
  },
  {
    name: 'any value for an any member',
    mode: 'command',
    request: cmd('qom-set', { path: '/machine', property: 'x', value: { a: [1] } }),
    reply: 'accepted',
    args: { path: '/machine', property: 'x', value: { a: [1] } },
  },
  {
    name: 'a surrogate pair escape',
    mode: 'command',
    request: '{"execute": "qom-set", "arguments": {"path": "\\ud83d\\ude00", "property": "x", "value": 1}}',
    reply: 'accepted',
    args: { path: '\u{1F600}', property: 'x', value: 1 },
  },
  {
    name: 'U+FFFD in UTF-8',
    mode: 'command',
    request: bytes('{"execute": "qom-set", "arguments": {"path": "', 'efbfbd', '", "property": "x", "value": 1}}'),
    reply: 'accepted',
    args: { path: '\uFFFD', property: 'x', value: 1 },
  },
  {
    name: 'a NUL escape',
    mode: 'command',
    request: '{"execute": "qom-set", "arguments": {"path": "\\u0000", "property": "x", "value": 1}}',
    reply: 'accepted',
    args: { path: '\u0000', property: 'x', value: 1 },
  },
];

/** Where our server answers differently from QEMU, on purpose or by limitation. */
export const KNOWN_DIFFERENCES = [
  'text that is not JSON: QEMU answers one error per bad token ("JSON parse error, invalid keyword \'this\'", …), ' +
    "we answer one per line with our parser's reason",
  'nesting deeper than 1024: QEMU answers "JSON nesting depth limit exceeded", then one error per leftover bracket; ' +
    'we answer once',
  'framing: QEMU also takes several requests on one line, or one over several lines; we take one per line',
  '1e3 or 1.0 for an integer member: QEMU refuses (a double); we accept (the decoder gives an integer)',
  'single-quoted strings: QEMU accepts them (its JSON extension); we answer a parse error',
  'bytes QEMU refuses (not UTF-8, lone surrogates): QEMU answers the first error as we do, ' +
    'then one per leftover token; we answer once',
  'the overlong 0xC0 0x80 in a string: QEMU takes it for U+0000 (modified UTF-8); ' +
    'we answer "invalid UTF-8 sequence in string"',
];

/**
 * Runs one case on a fresh connection from `open` (a QEMU monitor serves
 * one client at a time, so each case connects anew) and returns the reply.
 */
export async function runCase(open: () => Promise<RawQmp>, c: ReplyCase): Promise<Record<string, unknown>> {
  const qmp = await open();
  try {
    if (c.mode === 'negotiation') await qmp.next();
    else await qmp.negotiate(c.mode === 'oob');
    if (typeof c.request === 'string') qmp.send(c.request);
    else qmp.stream.write(Buffer.concat([c.request, Buffer.from('\n')]));
    return await qmp.reply();
  } finally {
    qmp.close();
  }
}

/** QEMU's argument-check errors (to tell them from a command's own). */
export const ARGUMENT_ERROR =
  /^(Invalid parameter type for '[^']*', expected: |Parameter '[^']*' (is missing|is unexpected|expects (u?int(8|16|32)_t|uint64)$|does not accept value))/;

/** The ids QEMU reads as doubles and how QEMU 7.2 writes them back (measured; `inf` is not JSON). */
export const DOUBLE_IDS: readonly (readonly [string, string])[] = [
  ['1e400', 'inf'],
  ['-1e400', '-inf'],
  ['18446744073709551616', '1.8446744073709552e+19'],
  ['1.5e300', '1.5000000000000001e+300'],
  ['[1e400, "a"]', '[inf, "a"]'],
];

/**
 * Sends `{"execute": "query-version", "id": ID}` for each id over `stream`
 * and returns the id text of each reply line.
 */
export async function echoedIds(stream: NodeJS.ReadWriteStream, ids: readonly string[]): Promise<string[]> {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  stream.write('{"execute": "qmp_capabilities"}\n');
  for (const id of ids) stream.write(`{"execute": "query-version", "id": ${id}}\n`);
  for (let i = 0; i < 250 && text.split('\r\n').length < ids.length + 3; i++)
    await new Promise((r) => setTimeout(r, 20));
  return text
    .split('\r\n')
    .slice(2, 2 + ids.length)
    .map((line) => /"id": (.*)\}$/.exec(line)?.[1] ?? line);
}
