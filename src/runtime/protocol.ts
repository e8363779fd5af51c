/**
 * The shapes of QMP messages and the checks that tell them apart.
 *
 * Server → client: a greeting `{"QMP": {...}}` once, then replies
 * (`{"return": ...}` or `{"error": {...}}`, carrying the `id` we sent) and
 * events (`{"event": ..., "timestamp": ...}`) in any interleaving.
 * Client → server: `{"execute"|"exec-oob": NAME, "arguments": {...}, "id": N}`
 * (the `id` only where the client needs it, see calls.ts).
 */
import type { QmpEventMessage } from './executor.js';
import { QmpArgumentError, QmpProtocolError } from './errors.js';
import { MAX_JSON_DEPTH, previewJson, stringEnd, stringifyJson } from './json.js';

export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface QmpGreeting {
  version: QmpVersion;
  /** Capabilities the server offers (e.g. `oob`). */
  capabilities: string[];
}

export type QmpMessage =
  | { kind: 'reply'; id: unknown; ok: true; value: unknown }
  | { kind: 'reply'; id: unknown; ok: false; errorClass: string; desc: string }
  | { kind: 'event'; event: QmpEventMessage }
  | { kind: 'other'; value: unknown };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseGreeting(message: unknown): QmpGreeting {
  const qmp = isRecord(message) ? message.QMP : undefined;
  if (!isRecord(qmp)) {
    throw new QmpProtocolError('QMP_ERR_GREETING', `expected a QMP greeting, got ${describe(message)}`);
  }
  const version = qmp.version;
  const caps = qmp.capabilities;
  const qemu = isRecord(version) ? version.qemu : undefined;
  if (
    !isRecord(version) ||
    !isRecord(qemu) ||
    typeof qemu.major !== 'number' ||
    typeof qemu.minor !== 'number' ||
    typeof qemu.micro !== 'number' ||
    !Array.isArray(caps) ||
    !caps.every((c) => typeof c === 'string')
  ) {
    throw new QmpProtocolError('QMP_ERR_GREETING', `malformed QMP greeting: ${describe(message)}`);
  }
  return {
    version: {
      qemu: { major: qemu.major, minor: qemu.minor, micro: qemu.micro },
      package: typeof version.package === 'string' ? version.package : '',
    },
    capabilities: caps as string[],
  };
}

/** Sorts a decoded server message; never throws. */
export function classify(message: unknown): QmpMessage {
  if (!isRecord(message)) return { kind: 'other', value: message };
  if ('return' in message) return { kind: 'reply', id: message.id, ok: true, value: message.return };
  const error = message.error;
  if (isRecord(error)) {
    return {
      kind: 'reply',
      id: message.id,
      ok: false,
      errorClass: typeof error.class === 'string' ? error.class : 'GenericError',
      desc: typeof error.desc === 'string' ? error.desc : describe(error),
    };
  }
  if (typeof message.event === 'string') {
    const ts = message.timestamp;
    const event: QmpEventMessage = {
      event: message.event,
      timestamp:
        isRecord(ts) && typeof ts.seconds === 'number' && typeof ts.microseconds === 'number'
          ? { seconds: ts.seconds, microseconds: ts.microseconds }
          : { seconds: 0, microseconds: 0 },
    };
    if ('data' in message) event.data = message.data;
    return { kind: 'event', event };
  }
  return { kind: 'other', value: message };
}

/*
 * What QEMU's JSON streamer (qobject/json-streamer.c) takes as one message.
 * Past any of these limits it gives up in the middle of the request and
 * answers with errors that carry no `id`, one for each token that follows
 * (a single over-deep request drew 1030 of them from QEMU 7.2), and it
 * parses what follows the failure point as new input: an object nested in
 * the tail of the arguments runs as a command of its own. So a request
 * past a limit is never sent.
 */

/**
 * Deepest `arguments` (the arguments object itself is level 1): the
 * request wraps them in one more object, and QEMU accepts 1024 levels in
 * all (measured against QEMU 7.2: 1023 is answered, 1024 is not).
 */
export const MAX_ARGUMENT_DEPTH = MAX_JSON_DEPTH - 1;
/** Most tokens (punctuation, strings, numbers, literals) in one request (2^21; measured). */
export const MAX_REQUEST_TOKENS = 2 ** 21;
/** Most bytes of tokens in one request: 64 MiB (from QEMU's source; we send no whitespace). */
export const MAX_REQUEST_BYTES = 64 * 1024 * 1024 - 1;

/**
 * One request line, newline included. `id` is a plain integer, or
 * undefined for a request without one. Throws
 * QmpArgumentError for a request QEMU would not read as one message (see
 * above): arguments that are not an object, nested deeper than
 * MAX_ARGUMENT_DEPTH, cyclic or otherwise not encodable, strings with a
 * lone surrogate (QEMU refuses `\ud800`), or past the token limits.
 */
export function encodeCommand(
  command: string,
  args: Record<string, unknown> | undefined,
  id: number | undefined,
  oob: boolean,
): string {
  const head = oob ? '{"exec-oob":' : '{"execute":';
  const name = JSON.stringify(command);
  const tail = id === undefined ? '}\n' : `,"id":${id}}\n`;
  if (args === undefined) return checkRequest(command, `${head}${name}${tail}`);
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new QmpArgumentError(
      command,
      `arguments must be an object, got ${args === null ? 'null' : Array.isArray(args) ? 'an array' : typeof args}`,
    );
  }
  let body: string;
  try {
    body = stringifyJson(args, { maxDepth: MAX_ARGUMENT_DEPTH });
  } catch (e) {
    const reason =
      e instanceof RangeError && /^nesting deeper/.test(e.message)
        ? `arguments nested deeper than ${MAX_ARGUMENT_DEPTH} levels (QEMU's limit)`
        : `arguments cannot be encoded as JSON: ${e instanceof Error ? e.message : String(e)}`;
    throw new QmpArgumentError(command, reason, { cause: e });
  }
  return checkRequest(command, `${head}${name},"arguments":${body}${tail}`);
}

/**
 * Strings QEMU's parser refuses (measured with QEMU 7.2): a lone surrogate,
 * which JSON.stringify writes as a `\udXXX` escape (after an even run of
 * backslashes), and the Unicode noncharacters U+FDD0–U+FDEF and U+xFFFE,
 * U+xFFFF of every plane, which it writes as they are.
 */
const UNSENDABLE_TEXT =
  /(?<!\\)(?:\\\\)*\\u(d[89a-f][0-9a-f]{2})|[\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

function checkRequest(command: string, line: string): string {
  const bad = UNSENDABLE_TEXT.exec(line);
  if (bad !== null) {
    const what =
      bad[1] !== undefined
        ? `a lone surrogate (\\u${bad[1]})`
        : `the Unicode noncharacter U+${(bad[0].codePointAt(0) as number).toString(16).toUpperCase()}`;
    throw new QmpArgumentError(command, `a string contains ${what}, which QEMU's JSON parser refuses`);
  }
  if (line.length > MAX_REQUEST_TOKENS) {
    const tokens = countTokens(line);
    if (tokens > MAX_REQUEST_TOKENS) {
      throw new QmpArgumentError(
        command,
        `request has ${tokens} JSON tokens; QEMU accepts at most ${MAX_REQUEST_TOKENS}`,
      );
    }
  }
  if (line.length * 3 > MAX_REQUEST_BYTES) {
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > MAX_REQUEST_BYTES) {
      throw new QmpArgumentError(command, `request is ${bytes} bytes; QEMU accepts at most ${MAX_REQUEST_BYTES}`);
    }
  }
  return line;
}

/** QEMU's tokens in a line we wrote (no whitespace): punctuation, strings, and the other scalars. */
function countTokens(line: string): number {
  let tokens = 0;
  let inScalar = false;
  for (let p = 0; p < line.length; p++) {
    const c = line.charCodeAt(p);
    if (c === 0x22 /* " */) {
      tokens++;
      inScalar = false;
      p = stringEnd(line, p);
    } else if (c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x2c || c === 0x3a) {
      tokens++;
      inScalar = false;
    } else if (c !== 0x0a && !inScalar) {
      tokens++;
      inScalar = true;
    }
  }
  return tokens;
}

/** A short JSON rendering of `value` for error messages (at most about 200 characters). */
export function describe(value: unknown): string {
  return previewJson(value, 200);
}
