/**
 * Reading requests from a client that may be hostile.
 *
 * Requests are framed one per line, as every QMP client we know sends them
 * (QEMU itself splits a byte stream into JSON values: it also takes two
 * requests on one line or one across lines; we do not). Each line is
 * decoded exactly (integers beyond 2^53 as bigint) and every problem is
 * answered with the error QEMU gives, never a crash:
 *
 *  - a line longer than the limit: "JSON token size limit exceeded" (QEMU's
 *    limit is 64 MiB of tokens; ours is `maxRequestBytes`), and reading
 *    resumes after the line's end, so memory stays bounded;
 *  - nesting deeper than QEMU's 1024 levels (the decoder's own limit,
 *    MAX_JSON_DEPTH): "JSON nesting depth limit exceeded";
 *  - a key twice in one object: "JSON parse error, duplicate key";
 *  - anything else that is not JSON: one "JSON parse error, …" per line
 *    (QEMU reports each bad token of it separately).
 */
import { LineDecoder } from '../runtime/framing.js';
import { parseJson, stringEnd } from '../runtime/json.js';

export type Request = { readonly ok: true; readonly message: unknown } | { readonly ok: false; readonly desc: string };

export class RequestReader {
  private decoder: LineDecoder;
  /** The current line overflowed: drop bytes until its newline. */
  private skipping = false;
  private overflowed = false;

  constructor(
    private readonly onRequest: (request: Request) => void,
    readonly maxRequestBytes: number,
  ) {
    this.decoder = this.newDecoder();
  }

  private newDecoder(): LineDecoder {
    return new LineDecoder(
      { line: (text) => this.onRequest(decodeRequest(text)), fail: () => (this.overflowed = true) },
      this.maxRequestBytes,
    );
  }

  /** Bytes held for an incomplete line. */
  get bufferedBytes(): number {
    return this.skipping ? 0 : this.decoder.bufferedBytes;
  }

  /** Drops the partial request held so far (a guest agent's 0xFF). */
  reset(): void {
    this.skipping = false;
    this.decoder.reset();
  }

  push(chunk: Buffer): void {
    if (this.skipping) {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) return;
      this.skipping = false;
      this.decoder = this.newDecoder();
      chunk = chunk.subarray(nl + 1);
    }
    const held = this.decoder.bufferedBytes;
    this.overflowed = false;
    this.decoder.push(chunk);
    if (!this.overflowed) return;
    // The decoder stopped at the first line over the limit, having handed
    // out the lines before it. Find that line's end and go on after it.
    this.onRequest({ ok: false, desc: 'JSON token size limit exceeded' });
    let start = 0;
    let carried = held;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.skipping = true;
        return;
      }
      if (carried + (nl - start) > this.maxRequestBytes) {
        this.decoder = this.newDecoder();
        this.push(chunk.subarray(nl + 1));
        return;
      }
      carried = 0;
      start = nl + 1;
    }
  }
}

/** One line → a request, or QEMU's error for it. */
export function decodeRequest(text: string): Request {
  let message: unknown;
  try {
    message = parseJson(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    // parseJson refuses nesting past QEMU's 1024 levels (MAX_JSON_DEPTH).
    if (/^nesting deeper/.test(reason)) return { ok: false, desc: 'JSON nesting depth limit exceeded' };
    return { ok: false, desc: `JSON parse error, ${reason}` };
  }
  if (typeof message !== 'object' || message === null) return { ok: true, message };
  // The decoder keeps the last of duplicate keys, so the text has more `:`
  // (outside strings) than the value has members exactly when a key was
  // repeated (or a `__proto__` member dropped, which QEMU would refuse as
  // unexpected anyway).
  if (colons(text) !== countMembers(message)) return { ok: false, desc: 'JSON parse error, duplicate key' };
  return { ok: true, message };
}

/** `:` outside strings in valid JSON text. */
function colons(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) count++;
    else if (c === 0x22) i = stringEnd(text, i);
  }
  return count;
}

/** Object members in a decoded value (no recursion). */
function countMembers(value: object): number {
  let members = 0;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const items = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) members += items.length;
    for (const item of items) if (typeof item === 'object' && item !== null) stack.push(item);
  }
  return members;
}
