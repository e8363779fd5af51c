/**
 * The shapes of QMP messages and the checks that tell them apart.
 *
 * Server → client: a greeting `{"QMP": {...}}` once, then replies
 * (`{"return": ...}` or `{"error": {...}}`, carrying the `id` we sent) and
 * events (`{"event": ..., "timestamp": ...}`) in any interleaving.
 * Client → server: `{"execute"|"exec-oob": NAME, "arguments": {...}, "id": N}`.
 */
import type { QmpEventMessage } from './executor.js';
import { QmpProtocolError } from './errors.js';
import { stringifyJson } from './json.js';

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
    !isRecord(version) || !isRecord(qemu) ||
    typeof qemu.major !== 'number' || typeof qemu.minor !== 'number' || typeof qemu.micro !== 'number' ||
    !Array.isArray(caps) || !caps.every((c) => typeof c === 'string')
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
      desc: typeof error.desc === 'string' ? error.desc : stringifyJson(error),
    };
  }
  if (typeof message.event === 'string') {
    const ts = message.timestamp;
    const event: QmpEventMessage = {
      event: message.event,
      timestamp: isRecord(ts) && typeof ts.seconds === 'number' && typeof ts.microseconds === 'number'
        ? { seconds: ts.seconds, microseconds: ts.microseconds }
        : { seconds: 0, microseconds: 0 },
    };
    if ('data' in message) event.data = message.data;
    return { kind: 'event', event };
  }
  return { kind: 'other', value: message };
}

/** One request line, newline included. `id` is a plain integer. */
export function encodeCommand(
  command: string,
  args: Record<string, unknown> | undefined,
  id: number,
  oob: boolean,
): string {
  const head = oob ? '{"exec-oob":' : '{"execute":';
  const name = JSON.stringify(command);
  return args === undefined
    ? `${head}${name},"id":${id}}\n`
    : `${head}${name},"arguments":${stringifyJson(args)},"id":${id}}\n`;
}

export function describe(value: unknown): string {
  let text: string;
  try {
    text = stringifyJson(value);
  } catch {
    text = String(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
