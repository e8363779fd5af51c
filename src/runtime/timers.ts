/**
 * Timeouts of any length.
 *
 * Node fires a timer of 2^31 ms (about 24.8 days) or more at once (it
 * clamps the delay to 1 ms), so a longer wait is a chain of shorter timers.
 * `Infinity` means no timer at all.
 */

/** The longest delay Node's setTimeout honours (longer ones fire at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadline {
  private handle: NodeJS.Timeout;

  /** Calls `fire` once, `ms` milliseconds from now (`ms` finite, not negative). */
  constructor(
    ms: number,
    private readonly fire: () => void,
  ) {
    this.handle = this.arm(ms);
  }

  private arm(ms: number): NodeJS.Timeout {
    if (ms <= MAX_TIMER_MS) return setTimeout(this.fire, ms);
    return setTimeout(() => {
      this.handle = this.arm(ms - MAX_TIMER_MS);
    }, MAX_TIMER_MS);
  }

  cancel(): void {
    clearTimeout(this.handle);
  }
}

/** A Deadline, or none when there is no timeout (`undefined` or `Infinity`). */
export function deadline(ms: number | undefined, fire: () => void): Deadline | undefined {
  return ms === undefined || ms === Infinity ? undefined : new Deadline(ms, fire);
}
