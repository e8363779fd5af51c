/**
 * Ctrl-C for long-running commands (`events`, `iothreads --watch`,
 * `serve`): SIGINT or SIGTERM aborts the signal instead of killing the
 * process, so the command can stop cleanly and exit 0. Disposing (`using`)
 * gives the signals back.
 */
export interface Interruption extends Disposable {
  readonly signal: AbortSignal;
  /** Aborts as a SIGINT would (e.g. when stdout's reader went away). */
  abort(): void;
}

export function interruption(): Interruption {
  const stop = new AbortController();
  const abort = (): void => stop.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: stop.signal,
    abort,
    [Symbol.dispose]() {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}
