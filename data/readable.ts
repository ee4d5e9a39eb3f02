import type { Dataset, Sample } from '../src/core/interfaces';
import { DataError } from '../src/core/errors';

/** Called once per unreadable item: its source, why, and how many are known bad so far. */
export type SkipHandler = (source: string, reason: string, total: number) => void;

/**
 * Reads dataset items, stepping over unreadable ones (the dataset rejected with a DataError) to
 * the next readable index in dataset order. Which index replaces which depends only on the
 * dataset, so it is the same in a fresh and a resumed run. Each bad item is reported once.
 * Errors of other types are bugs and propagate.
 */
export class ReadableItems {
  private readonly bad = new Map<number, string>();

  constructor(readonly dataset: Dataset, private readonly onSkip?: SkipHandler) {}

  /** Items found unreadable so far. */
  get skippedCount(): number {
    return this.bad.size;
  }

  /** Item `start`, or the next readable one after it (wrapping around). */
  async get(start: number): Promise<{ sample: Sample; index: number }> {
    const n = this.dataset.length;
    for (let probe = 0; probe < n; probe++) {
      const index = (start + probe) % n;
      if (this.bad.has(index)) continue;
      try {
        return { sample: await this.dataset.get(index), index };
      } catch (err) {
        if (!(err instanceof DataError)) throw err;
        if (!this.bad.has(index)) {
          this.bad.set(index, err.reason);
          this.onSkip?.(err.source, err.reason, this.bad.size);
        }
      }
    }
    throw new DataError(this.dataset.name, `none of its ${n} items could be read`);
  }
}

/** Run `task(i)` for i in [0, n) with at most `limit` in flight. */
export async function forEachLimited(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), n) }, worker));
}
