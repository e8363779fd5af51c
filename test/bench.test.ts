/**
 * The benchmark helpers (bench/common.mjs): commands measured side by side
 * in rotating rounds, and differences taken per round, so that load which
 * comes and goes during a run cannot make "generate minus check" negative.
 * Only the arithmetic and the order are tested, never timings.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
// @ts-expect-error: plain JavaScript without declarations
import { reportDifference, reportRatio, timeRounds } from '../bench/common.mjs';

describe('bench/common.mjs', () => {
  afterEach(() => vi.restoreAllMocks());

  it('runs every command once per round, rotating which goes first, after a warm-up round', () => {
    const order: string[] = [];
    const command = (name: string) => ({ argv: [process.execPath, '-e', ''], before: () => order.push(name) });
    const times = timeRounds([command('a'), command('b'), command('c')], { runs: 3 }) as number[][];
    expect(order.join(' ')).toBe('a b c a b c b c a c a b');
    expect(times.map((t) => t.length)).toEqual([3, 3, 3]);
    expect(times.flat().every((t) => t > 0)).toBe(true);
  });

  it('reports the median of the per-round differences and ratios', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    // Round 1 ran under load; medians taken apart would give 20 - 12 = 8.
    const generate = [10, 20, 30];
    const check = [12, 5, 8];
    expect(reportDifference('generate minus check', generate, check)).toBe(15);
    expect(log.mock.calls[0]![0]).toMatch(/^generate minus check +median +15\.0 ms +min +-2\.0 ms +max +22\.0 ms$/);
    expect(reportRatio('ratio', [10, 20, 30], [5, 5, 30])).toBe(2);
  });

  it('clamps a negative median difference at 0 and says so', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(reportDifference('a minus b', [10, 10, 10], [11, 12, 9])).toBe(0);
    expect(log.mock.calls[0]![0]).toContain('median     0.0 ms');
    expect(log.mock.calls[0]![0]).toContain('(clamped: median was -1.0 ms, equal within noise)');
  });
});
