import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../src/core/interfaces';
import type { Rng, RngState } from '../src/core/rng';
import { centerCropBox } from './transforms/center_crop';
import { sampleCropBox } from './transforms/random_resized_crop';
import { resizedCrop, type Interpolation } from './transforms/resize';
import { flipHorizontal } from './transforms/flip';
import { normalize, IMAGENET_MEAN, IMAGENET_STD } from './transforms/normalize';
import { forEachLimited, ReadableItems, type SkipHandler } from './readable';
import { deriveRng, seedState } from './seed';
import { nextTimerTick } from '../src/core/event_loop';

/** One view per image, for supervised evaluation (linear probe, k-NN, semi-supervised). */
export interface ImageBatch {
  /** [B, size, size, 3], normalised; owned by the caller. */
  images: tf.Tensor4D;
  labels: Int32Array;
  /** Dataset indices used (after replacing unreadable items). */
  indices: Int32Array;
  batchSize: number;
}

export interface ImageLoaderOptions {
  size: number;
  /**
   * 'eval': centre crop of `cropFraction` of the short side, dataset order, last partial batch
   * kept. 'train': random resized crop (scale, ratio) + flip, shuffled per epoch, partial batch
   * dropped.
   */
  mode: 'eval' | 'train';
  batchSize: number;
  cropFraction?: number;
  scale?: [number, number];
  ratio?: [number, number];
  flipP?: number;
  interpolation?: Interpolation;
  mean?: readonly number[];
  std?: readonly number[];
  /** Use only these dataset indices (labelled subsets, e.g. 1% / 10% for semi-supervised). */
  subset?: ArrayLike<number>;
  prefetch?: number;
  concurrency?: number;
  onSkip?: SkipHandler;
}

/**
 * Batches of single views. Randomness follows ViewLoader's scheme: epoch order from
 * deriveRng(base, 0, e), slot s of batch k from deriveRng(base, 1, e, k, s), so any batch is
 * reproducible on its own.
 */
export class ImageLoader {
  readonly stepsPerEpoch: number;
  private readonly o: Required<Omit<ImageLoaderOptions, 'subset' | 'onSkip'>>;
  private readonly items: ReadableItems;
  private readonly pool: Int32Array;
  private readonly base: RngState;
  private permCache: { epoch: number; order: Int32Array } | null = null;

  constructor(readonly dataset: Dataset, options: ImageLoaderOptions, rng: Rng | number = 0) {
    this.o = {
      cropFraction: 1,
      scale: [0.08, 1],
      ratio: [3 / 4, 4 / 3],
      flipP: 0.5,
      interpolation: 'bicubic',
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      prefetch: 2,
      concurrency: 16,
      ...options,
    };
    this.pool = options.subset ? Int32Array.from(options.subset) : Int32Array.from({ length: dataset.length }, (_, i) => i);
    this.items = new ReadableItems(dataset, options.onSkip);
    this.base = typeof rng === 'number' ? seedState(rng) : rng.fork().getState();
    const n = this.pool.length;
    this.stepsPerEpoch = this.o.mode === 'train' ? Math.floor(n / this.o.batchSize) : Math.ceil(n / this.o.batchSize);
    if (this.stepsPerEpoch === 0) throw new RangeError(`${n} images are fewer than one training batch of ${this.o.batchSize}`);
  }

  get skippedCount(): number {
    return this.items.skippedCount;
  }

  /** Dataset indices of batch k of epoch e, before replacement. */
  batchIndices(epoch: number, k: number): Int32Array {
    const bs = this.o.batchSize;
    const order = this.o.mode === 'train' ? this.epochOrder(epoch) : null;
    const out: number[] = [];
    for (let i = k * bs; i < Math.min((k + 1) * bs, this.pool.length); i++) out.push(this.pool[order ? order[i] : i]);
    return Int32Array.from(out);
  }

  private epochOrder(epoch: number): Int32Array {
    if (this.permCache?.epoch !== epoch) {
      this.permCache = { epoch, order: deriveRng(this.base, 0, epoch).permutation(this.pool.length) };
    }
    return this.permCache.order;
  }

  /** Batch k of epoch e as host data. */
  async loadHost(epoch: number, k: number): Promise<{ data: Float32Array; labels: Int32Array; indices: Int32Array }> {
    const wanted = this.batchIndices(epoch, k);
    const b = wanted.length;
    const { size, mode } = this.o;
    const len = size * size * 3;
    const data = new Float32Array(b * len);
    const labels = new Int32Array(b);
    const indices = new Int32Array(b);
    await forEachLimited(b, this.o.concurrency, async (slot) => {
      const { sample, index } = await this.items.get(wanted[slot]);
      const { image } = sample;
      const out = data.subarray(slot * len, (slot + 1) * len);
      if (mode === 'train') {
        const rng = deriveRng(this.base, 1, epoch, k, slot);
        const box = sampleCropBox(image.width, image.height, this.o.scale, this.o.ratio, rng);
        resizedCrop(image.data, image.width, box, size, this.o.interpolation, true, out);
        if (rng.uniform() < this.o.flipP) flipHorizontal(out, size, size);
      } else {
        const box = centerCropBox(image.width, image.height, this.o.cropFraction);
        resizedCrop(image.data, image.width, box, size, this.o.interpolation, true, out);
      }
      normalize(out, this.o.mean, this.o.std);
      labels[slot] = sample.label;
      indices[slot] = index;
    });
    return { data, labels, indices };
  }

  /** The batches of epoch e from `startBatch`, prefetching ahead; tensors are the caller's. */
  async *batches(epoch = 0, startBatch = 0): AsyncGenerator<ImageBatch, void, undefined> {
    const pending: ReturnType<ImageLoader['loadHost']>[] = [];
    let next = startBatch;
    while (next < this.stepsPerEpoch || pending.length > 0) {
      while (next < this.stepsPerEpoch && pending.length < this.o.prefetch + 1) {
        const p = this.loadHost(epoch, next++);
        p.catch(() => undefined); // awaited below; only silences "unhandled" if the consumer stops early
        pending.push(p);
      }
      const h = await pending.shift()!;
      // Decoded batches resolve as microtasks: give timers and signal handlers their turn.
      await nextTimerTick();
      const b = h.labels.length;
      yield {
        images: tf.tensor4d(h.data, [b, this.o.size, this.o.size, 3], 'float32'),
        labels: h.labels,
        indices: h.indices,
        batchSize: b,
      };
    }
  }
}
