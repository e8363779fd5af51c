/**
 * Faults: what a real QEMU rarely (or never) does, on demand, one call each.
 * Every fault the runtime's error handling claims to survive is here, so
 * the runtime's tests and users' tests script them the same way:
 *
 *   server.expect('query-status').fault(faults.closeMidLine());   // instead of the reply
 *   server.on('qmp_capabilities').fault(faults.hangUp());         // hang up during negotiation
 *   server.onConnect(faults.garbage());                            // instead of the greeting
 *   session.inject(faults.reset());                                // right now
 *
 * Used in place of a reply, a fault acts on that reply (`closeMidLine`
 * sends its first half, `split` sends it in pieces); injected on its own
 * it acts on a made-up line. Faults are sent as they are: nothing checks
 * them against the schema, that being their point.
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from '../runtime/framing.js';
import type { Wire } from './transport.js';

export type Fault =
  | { readonly fault: 'garbage'; readonly line: string }
  | { readonly fault: 'oversize'; readonly bytes: number }
  | { readonly fault: 'deep-nesting'; readonly depth: number }
  | { readonly fault: 'close-mid-line' }
  | { readonly fault: 'hang-up' }
  | { readonly fault: 'reset' }
  | { readonly fault: 'no-reply' }
  | { readonly fault: 'split'; readonly pieces: number | readonly number[] }
  | { readonly fault: 'stop-reading' };

export type FaultName = Fault['fault'];

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${what}: expected a positive integer, got ${value}`);
  return value;
}

export const faults = {
  /** A line that is not JSON (default `this is not json`). */
  garbage: (line = 'this is not json'): Fault => {
    if (line.includes('\n')) throw new RangeError('faults.garbage: the line must not contain a newline');
    return { fault: 'garbage', line };
  },
  /** A reply line of `bytes` bytes (default one more than the client's default limit). */
  oversize: (bytes = DEFAULT_MAX_MESSAGE_BYTES + 1): Fault => ({
    fault: 'oversize',
    bytes: positiveInteger(bytes, 'faults.oversize'),
  }),
  /** A reply whose value nests `depth` arrays deep (default 100000). */
  deepNesting: (depth = 100_000): Fault => ({
    fault: 'deep-nesting',
    depth: positiveInteger(depth, 'faults.deepNesting'),
  }),
  /** The first half of the line, then hang up. */
  closeMidLine: (): Fault => ({ fault: 'close-mid-line' }),
  /** Hang up (FIN) without answering. */
  hangUp: (): Fault => ({ fault: 'hang-up' }),
  /** Drop the connection abruptly (RST on TCP, ECONNRESET in memory). */
  reset: (): Fault => ({ fault: 'reset' }),
  /** Swallow the command: never answer it (later commands are answered). */
  noReply: (): Fault => ({ fault: 'no-reply' }),
  /**
   * The line in pieces, one write per tick: `split(5, 9)` cuts at byte
   * offsets 5 and 9; `split()` sends one byte per write.
   */
  split: (...offsets: number[]): Fault => ({
    fault: 'split',
    pieces: offsets.length === 0 ? 1 : offsets.map((o) => positiveInteger(o, 'faults.split')),
  }),
  /** The line in pieces of `bytes` bytes, one write per tick. */
  trickle: (bytes = 1): Fault => ({ fault: 'split', pieces: positiveInteger(bytes, 'faults.trickle') }),
  /** Answer, then stop reading the connection (the client's writes pile up) until `resumeReading()`. */
  stopReading: (): Fault => ({ fault: 'stop-reading' }),
} as const;

/** A made-up line for a fault injected outside any reply. */
const INJECTED_LINE = '{"return": {}}';

/** Writes `line` (newline included) in pieces, one per macrotask; resolves after the last. */
function writeInPieces(
  wire: Wire,
  line: Buffer,
  pieces: number | readonly number[],
  timers: Set<NodeJS.Timeout | NodeJS.Immediate>,
): Promise<void> {
  const cuts: number[] = [];
  if (typeof pieces === 'number') for (let at = pieces; at < line.length; at += pieces) cuts.push(at);
  else cuts.push(...pieces.filter((at) => at < line.length).sort((a, b) => a - b));
  let from = 0;
  const parts: Buffer[] = [];
  for (const at of [...cuts, line.length]) {
    if (at > from) parts.push(line.subarray(from, at));
    from = at;
  }
  // Each piece in a macrotask of its own, so none is merged with other output.
  return new Promise((resolve) => {
    const next = (): void => {
      const t = setImmediate(() => {
        timers.delete(t);
        const part = parts.shift();
        if (part !== undefined && !wire.closed) wire.write(part);
        if (parts.length > 0 && !wire.closed) next();
        else resolve();
      });
      timers.add(t);
    };
    next();
  });
}

function oversizeLine(bytes: number, id: string): string {
  const head = '{"return": "';
  const tail = `"${id}}\r\n`;
  return head + 'z'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}

function deepLine(depth: number, id: string): string {
  return `{"return": ${'['.repeat(depth)}${']'.repeat(depth)}${id}}\r\n`;
}

/**
 * Acts out `fault` on `wire`. `reply` is the line that would have been
 * sent (newline included), `idMember` the `, "id": …` text of the command
 * being answered ('' when there is none). A fault that takes time (split)
 * returns a promise: output after it must wait.
 */
export function actOut(
  fault: Fault,
  wire: Wire,
  reply: string | undefined,
  idMember: string,
  timers: Set<NodeJS.Timeout | NodeJS.Immediate>,
): void | Promise<void> {
  const line = reply ?? `${INJECTED_LINE}\r\n`;
  switch (fault.fault) {
    case 'garbage':
      wire.write(`${fault.line}\r\n`);
      return;
    case 'oversize':
      wire.write(oversizeLine(fault.bytes, idMember));
      return;
    case 'deep-nesting':
      wire.write(deepLine(fault.depth, idMember));
      return;
    case 'close-mid-line': {
      const bytes = Buffer.from(line);
      wire.write(bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))));
      wire.end();
      return;
    }
    case 'hang-up':
      wire.end();
      return;
    case 'reset':
      wire.reset();
      return;
    case 'no-reply':
      return;
    case 'split':
      return writeInPieces(wire, Buffer.from(line), fault.pieces, timers);
    case 'stop-reading':
      if (reply !== undefined) wire.write(reply);
      wire.pause('fault');
      return;
  }
}
