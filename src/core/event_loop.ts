/**
 * One turn of the event loop, through its timers phase. A loop over prefetched batches that are
 * already decoded resolves as microtasks only, which never let timers, signal handlers or I/O
 * run: without a turn per batch, a 10k-image evaluation held the loop for minutes (no Ctrl-C,
 * no queue-lock renewal, so a grid worker's cell was declared stalled while it ran).
 */
export function nextTimerTick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
