/**
 * The transcript format: one `{"dir": "client"|"server", "msg": …}` per
 * line, written by the runtime's recorder, read by `verify` and by the
 * test server's replay.
 */
import { parseJson } from '../runtime/json.js';
import type { Direction } from '../runtime/recorder.js';

// The writer lives with the recorder (the runtime stands alone); this room reads what it writes.
export { transcriptLine, type Direction } from '../runtime/recorder.js';

/** One message of a transcript, with its 1-based line number. */
export interface TranscriptEntry {
  readonly line: number;
  readonly dir: Direction;
  readonly msg: unknown;
}

/** A line that is not a transcript entry (bad JSON, wrong shape). */
export interface BadLine {
  readonly line: number;
  readonly reason: string;
}

export interface ParsedTranscript {
  readonly entries: TranscriptEntry[];
  readonly badLines: BadLine[];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Nesting a transcript line may have: far beyond what QEMU accepts, so that
 * verify can judge over-deep messages by line; the parser is iterative and
 * a line's length bounds its cost anyway.
 */
const TRANSCRIPT_MAX_DEPTH = 100_000;

/** Splits a transcript into entries; blank lines are skipped. */
export function parseTranscript(text: string): ParsedTranscript {
  const entries: TranscriptEntry[] = [];
  const badLines: BadLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const line = i + 1;
    let value: unknown;
    try {
      // Messages deeper than QEMU accepts are judged below, not refused here.
      value = parseJson(raw, { maxDepth: TRANSCRIPT_MAX_DEPTH });
    } catch (e) {
      badLines.push({ line, reason: `bad JSON: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    if (!isObject(value) || (value.dir !== 'client' && value.dir !== 'server') || !Object.hasOwn(value, 'msg')) {
      badLines.push({ line, reason: 'expected {"dir": "client"|"server", "msg": …}' });
      continue;
    }
    entries.push({ line, dir: value.dir, msg: value.msg });
  }
  return { entries, badLines };
}
