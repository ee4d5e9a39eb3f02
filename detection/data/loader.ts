/**
 * Batches for detection training and evaluation: DetectionBatch (types.ts) with images resized,
 * flipped, normalised and zero-padded to a common size divisible by 32.
 *
 * Determinism follows data/loader.ts: one base state (from `rng.fork()` or an integer seed);
 * epoch e's order is deriveRng(base, 0, e).permutation(n) and slot s of batch k draws its short
 * edge and flip from deriveRng(base, 1, e, k, s). Batch (e, k) is a pure function of the seed, e
 * and k, so `batchesForEpoch(e, k)` after a resume yields what an uninterrupted run saw.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset, RawImage } from '../../src/core/interfaces';
import type { Rng, RngState } from '../../src/core/rng';
import { ConfigError } from '../../src/core/errors';
import { deriveRng, seedState } from '../../data/seed';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/transforms/normalize';
import { forEachLimited, ReadableItems, type SkipHandler } from '../../data/readable';
import type { DetectionRecord } from './coco_dataset';
import { prepareImage, type PreparedImage } from './prepare';
import { paddedBatchSize, padInto } from './transforms/pad';
import type { DetectionBatch } from './types';

/** What the loader needs from a dataset (CocoDetectionDataset has it). */
export interface DetectionSource {
  readonly name: string;
  readonly length: number;
  record(i: number): DetectionRecord;
  loadImage(i: number): Promise<RawImage>;
}

export interface DetectionLoaderOptions {
  /**
   * 'train': shuffled per epoch, a short edge drawn from `minSizes` and a flip per image, last
   * partial batch dropped. 'test': dataset order, one short edge, no flip, every image.
   */
  mode: 'train' | 'test';
  batchSize: number;
  /** Short-edge choices (train) or the one test size. */
  minSizes: number | readonly number[];
  /** Longest edge after resize (0 = no limit). */
  maxSize: number;
  /** Probability of a horizontal flip in training (default 0.5). */
  flipP?: number;
  /** Padded height and width are multiples of this (default 32). */
  sizeDivisibility?: number;
  mean?: readonly number[];
  std?: readonly number[];
  /** Batches prepared ahead (default 2). */
  prefetch?: number;
  /** Decodes in flight per batch (default 4). */
  concurrency?: number;
  onSkip?: SkipHandler;
}

/** A batch still in host memory. */
export interface HostDetectionBatch {
  epoch: number;
  index: number;
  /** Dataset indices used (after replacing unreadable items). */
  indices: Int32Array;
  prepared: PreparedImage[];
  imageIds: number[];
  paddedH: number;
  paddedW: number;
  stats: Record<string, number>;
}

const PERMUTATION = 0;
const SLOT = 1;

export class DetectionLoader {
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  private readonly o: Required<Omit<DetectionLoaderOptions, 'onSkip' | 'minSizes'>> & { minSizes: number[] };
  private readonly base: RngState;
  private readonly items: ReadableItems;
  private permCache: { epoch: number; order: Int32Array } | null = null;
  private closed = false;

  constructor(readonly dataset: DetectionSource, options: DetectionLoaderOptions, rng: Rng | number = 0) {
    const minSizes = typeof options.minSizes === 'number' ? [options.minSizes] : [...options.minSizes];
    this.o = { flipP: 0.5, sizeDivisibility: 32, mean: IMAGENET_MEAN, std: IMAGENET_STD, prefetch: 2, concurrency: 4, ...options, minSizes };
    const bs = options.batchSize;
    if (!Number.isInteger(bs) || bs < 1) throw new ConfigError('batch_size', `must be a positive integer, got ${bs}`);
    if (minSizes.length === 0 || minSizes.some((s) => !(Number.isInteger(s) && s > 0))) {
      throw new ConfigError('min_size', `needs positive integer sizes, got [${minSizes.join(', ')}]`);
    }
    if (options.mode === 'test' && minSizes.length !== 1) throw new ConfigError('min_size_test', `takes one size, got [${minSizes.join(', ')}]`);
    if (!(options.maxSize >= 0)) throw new ConfigError('max_size', `must be >= 0, got ${options.maxSize}`);
    this.batchSize = bs;
    this.base = typeof rng === 'number' ? seedState(rng) : rng.fork().getState();
    const ds = dataset;
    const asDataset: Dataset = {
      name: ds.name,
      length: ds.length,
      classNames: [],
      labelOf: () => 0,
      get: async (i) => ({ image: await ds.loadImage(i), label: 0, source: ds.record(i).file }),
    };
    this.items = new ReadableItems(asDataset, options.onSkip);
    const n = ds.length;
    this.stepsPerEpoch = options.mode === 'train' ? Math.floor(n / bs) : Math.ceil(n / bs);
    if (this.stepsPerEpoch === 0) {
      throw new ConfigError('batch_size', `${bs} is more than the ${n} images of dataset '${ds.name}'`);
    }
  }

  get skippedCount(): number {
    return this.items.skippedCount;
  }

  /** Dataset indices of batch k of epoch e, before any replacement. */
  batchIndices(epoch: number, k: number): Int32Array {
    const n = this.dataset.length;
    const start = k * this.batchSize;
    const end = Math.min(start + this.batchSize, n);
    if (this.o.mode === 'test') return Int32Array.from({ length: end - start }, (_, i) => start + i);
    if (this.permCache?.epoch !== epoch) {
      this.permCache = { epoch, order: deriveRng(this.base, PERMUTATION, epoch).permutation(n) };
    }
    return this.permCache.order.slice(start, end);
  }

  /** Batch k of epoch e in host memory (no tensors). */
  async loadHostBatch(epoch: number, k: number): Promise<HostDetectionBatch> {
    if (!Number.isInteger(k) || k < 0 || k >= this.stepsPerEpoch) {
      throw new RangeError(`batch ${k} out of range [0, ${this.stepsPerEpoch}) for epoch ${epoch}`);
    }
    const wanted = this.batchIndices(epoch, k);
    const b = wanted.length;
    const prepared: PreparedImage[] = new Array(b);
    const indices = new Int32Array(b);
    const train = this.o.mode === 'train';
    let replaced = 0;
    await forEachLimited(b, this.o.concurrency, async (slot) => {
      const { sample, index } = await this.items.get(wanted[slot]);
      if (index !== wanted[slot]) replaced++;
      let shortEdge = this.o.minSizes[0];
      let flip = false;
      if (train) {
        const rng = deriveRng(this.base, SLOT, epoch, k, slot);
        shortEdge = this.o.minSizes[Math.floor(rng.uniform() * this.o.minSizes.length)];
        flip = rng.uniform() < this.o.flipP;
      }
      prepared[slot] = prepareImage(sample.image, this.dataset.record(index), {
        shortEdge,
        maxSize: this.o.maxSize,
        flip,
        mean: this.o.mean,
        std: this.o.std,
      });
      indices[slot] = index;
    });
    const [paddedH, paddedW] = paddedBatchSize(prepared.map((p) => [p.h, p.w] as const), this.o.sizeDivisibility);
    const nInst = prepared.reduce((s, p) => s + p.target.classes.length, 0);
    return {
      epoch,
      index: k,
      indices,
      prepared,
      imageIds: Array.from(indices, (i) => this.dataset.record(i).imageId),
      paddedH,
      paddedW,
      stats: { instances_per_image: nInst / b, skipped: replaced },
    };
  }

  /** Batch k of epoch e with its image tensor (owned by the caller: call dispose()). */
  async loadBatch(epoch: number, k: number): Promise<DetectionBatch> {
    return toDetectionBatch(await this.loadHostBatch(epoch, k));
  }

  /**
   * The batches of epoch e from `startBatch` on, preparing up to `prefetch` batches ahead. The
   * image tensor is made only when a batch is handed out, so stopping early leaks nothing.
   * In 'test' mode epoch 0 from batch 0 is every image once, in dataset order.
   */
  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncGenerator<DetectionBatch, void, undefined> {
    const pending: Promise<HostDetectionBatch>[] = [];
    let next = startBatch;
    try {
      while (!this.closed && (next < this.stepsPerEpoch || pending.length > 0)) {
        while (next < this.stepsPerEpoch && pending.length < this.o.prefetch + 1) {
          const p = this.loadHostBatch(epoch, next++);
          p.catch(() => undefined); // awaited below; only silences "unhandled" if the consumer stops early
          pending.push(p);
        }
        const host = await pending.shift()!;
        if (this.closed) break;
        yield toDetectionBatch(host);
      }
    } finally {
      pending.length = 0;
    }
  }

  /** Every image once, in dataset order (for evaluation; any mode's sizes apply, no flip in 'test'). */
  images(): AsyncGenerator<DetectionBatch, void, undefined> {
    return this.batchesForEpoch(0, 0);
  }

  /** Stop every epoch iterator at its next batch; buffered host batches are dropped. */
  close(): void {
    this.closed = true;
    this.permCache = null;
  }

  dispose(): void {
    this.close();
  }
}

/** Host batch -> DetectionBatch with a [B, H, W, 3] tensor; dispose() frees it (idempotent). */
export function toDetectionBatch(h: HostDetectionBatch): DetectionBatch {
  const b = h.prepared.length;
  const images = tf.tensor4d(padInto(h.prepared, h.paddedH, h.paddedW), [b, h.paddedH, h.paddedW, 3], 'float32');
  return {
    images,
    imageSizes: h.prepared.map((p) => [p.h, p.w] as [number, number]),
    targets: h.prepared.map((p) => p.target),
    imageIds: h.imageIds,
    scales: h.prepared.map((p) => p.scale),
    batchSize: b,
    stats: { ...h.stats },
    dispose: () => {
      if (!images.isDisposed) images.dispose();
    },
  };
}
