import type { BatchSource, Dataset, ImageViews, ViewBatch, ViewSampler } from '../src/core/interfaces';
import type { Rng, RngState } from '../src/core/rng';
import { ConfigError } from '../src/core/errors';
import { meanPixelScale, meanPsRatio } from './pixel_scale';
import { toViewBatch, type HostBatch } from './host_batch';
import { deriveRng, seedState } from './seed';
import { forEachLimited, ReadableItems, type SkipHandler } from './readable';

export type { SkipHandler } from './readable';

export interface ViewLoaderOptions {
  /** Drop the last partial batch (default true), so every step sees batchSize images. */
  dropLast?: boolean;
  /** Batches prepared ahead while the consumer works on the current one (default 2). */
  prefetch?: number;
  /** Decodes in flight per batch (default 16). */
  concurrency?: number;
  onSkip?: SkipHandler;
}

// Key-path tags, so the permutation stream and the batch streams never coincide.
const PERMUTATION = 0;
const BATCH = 1;

/**
 * Turns a dataset and a view sampler into batches of view tensors, epoch by epoch.
 *
 * Determinism: the loader keeps one base state (from `rng.fork()` at construction, or from an
 * integer seed). Epoch e's order is `deriveRng(base, 0, e).permutation(n)`; image slot s of batch
 * k draws its views from `deriveRng(base, 1, e, k, s)`. So batch (e, k) is a pure function of the
 * seed, e and k (and the dataset): starting at (e, k) after a resume, with any prefetch or decode
 * concurrency, yields exactly the batches a run from the start would have. No state needs saving.
 *
 * Unreadable items (the dataset rejects with a DataError) are replaced by the next readable index
 * in dataset order, keeping the slot's own random stream, so the batch size stays fixed; each bad
 * item is reported once through `onSkip`. Other errors propagate.
 */
export class ViewLoader implements BatchSource {
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  private readonly base: RngState;
  private readonly dropLast: boolean;
  private readonly prefetch: number;
  private readonly concurrency: number;
  private readonly items: ReadableItems;
  private permCache: { epoch: number; order: Int32Array } | null = null;
  private closed = false;

  constructor(
    readonly dataset: Dataset,
    readonly sampler: ViewSampler,
    batchSize: number,
    rng: Rng | number,
    options: ViewLoaderOptions = {},
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    this.batchSize = batchSize;
    this.base = typeof rng === 'number' ? seedState(rng) : rng.fork().getState();
    this.dropLast = options.dropLast ?? true;
    this.prefetch = Math.max(0, options.prefetch ?? 2);
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.items = new ReadableItems(dataset, options.onSkip);
    const n = dataset.length;
    this.stepsPerEpoch = this.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (this.stepsPerEpoch === 0) {
      throw new ConfigError('trainer.batch_size', `${batchSize} is more than the ${n} images of dataset '${dataset.name}'`);
    }
  }

  /** Items found unreadable so far. */
  get skippedCount(): number {
    return this.items.skippedCount;
  }

  /** The shuffled order of epoch e. */
  epochOrder(epoch: number): Int32Array {
    if (this.permCache?.epoch !== epoch) {
      this.permCache = { epoch, order: deriveRng(this.base, PERMUTATION, epoch).permutation(this.dataset.length) };
    }
    return this.permCache.order;
  }

  /** Dataset indices of batch k of epoch e, before any replacement. */
  batchIndices(epoch: number, k: number): Int32Array {
    const order = this.epochOrder(epoch);
    const start = k * this.batchSize;
    return order.slice(start, Math.min(start + this.batchSize, order.length));
  }

  /** Build batch k of epoch e in host memory (no tensors). */
  async loadHostBatch(epoch: number, k: number): Promise<HostBatch> {
    if (!Number.isInteger(k) || k < 0 || k >= this.stepsPerEpoch) {
      throw new RangeError(`batch ${k} out of range [0, ${this.stepsPerEpoch}) for epoch ${epoch}`);
    }
    const wanted = this.batchIndices(epoch, k);
    const b = wanted.length;
    const s = this.sampler;
    const gLen = s.globalSize * s.globalSize * 3;
    const lLen = s.localSize * s.localSize * 3;
    const host: HostBatch = {
      epoch,
      index: k,
      indices: new Int32Array(b),
      labels: new Int32Array(b),
      globalSize: s.globalSize,
      localSize: s.localSize,
      globals: Array.from({ length: s.nGlobal }, () => new Float32Array(b * gLen)),
      locals: Array.from({ length: s.nLocal }, () => new Float32Array(b * lLen)),
      stats: {},
    };
    const scales: Pick<ImageViews, 'globalPixelScales' | 'localPixelScales'>[] = new Array(b);
    let replaced = 0;

    const fillSlot = async (slot: number): Promise<void> => {
      const { sample, index } = await this.items.get(wanted[slot]);
      if (index !== wanted[slot]) replaced++;
      const views = s.sample(sample.image, deriveRng(this.base, BATCH, epoch, k, slot));
      if (views.globals.length !== s.nGlobal || views.locals.length !== s.nLocal) {
        throw new Error(`view sampler returned ${views.globals.length}+${views.locals.length} views, expected ${s.nGlobal}+${s.nLocal}`);
      }
      views.globals.forEach((v, g) => host.globals[g].set(v, slot * gLen));
      views.locals.forEach((v, l) => host.locals[l].set(v, slot * lLen));
      host.indices[slot] = index;
      host.labels[slot] = sample.label;
      scales[slot] = views;
    };

    await forEachLimited(b, this.concurrency, fillSlot);

    const ratio = meanPsRatio(scales);
    if (Number.isFinite(ratio)) host.stats.ps_ratio = ratio;
    host.stats.ps_global = meanPixelScale(scales, 'global');
    if (s.nLocal > 0) host.stats.ps_local = meanPixelScale(scales, 'local');
    host.stats.skipped = replaced;
    return host;
  }

  /** Batch k of epoch e as tensors (owned by the caller). */
  async loadBatch(epoch: number, k: number): Promise<ViewBatch> {
    return toViewBatch(await this.loadHostBatch(epoch, k));
  }

  /**
   * The batches of epoch e from `startBatch` on, preparing up to `prefetch` batches ahead while
   * the consumer holds the current one. Tensors are made only when a batch is handed out, so
   * stopping early leaks nothing.
   */
  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncGenerator<ViewBatch, void, undefined> {
    const pending: Promise<HostBatch>[] = [];
    let next = startBatch;
    try {
      while (!this.closed && (next < this.stepsPerEpoch || pending.length > 0)) {
        while (next < this.stepsPerEpoch && pending.length < this.prefetch + 1) {
          const p = this.loadHostBatch(epoch, next++);
          p.catch(() => undefined); // awaited below; this only silences "unhandled" if we stop early
          pending.push(p);
        }
        const host = await pending.shift()!;
        if (this.closed) break;
        yield toViewBatch(host);
      }
    } finally {
      pending.length = 0;
    }
  }

  /** Stop every epoch iterator at its next batch; buffered host batches are dropped. */
  close(): void {
    this.closed = true;
    this.permCache = null;
  }
}
