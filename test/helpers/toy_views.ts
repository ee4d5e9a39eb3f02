import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, ViewBatch } from '../../src/core/interfaces';
import { Rng } from '../../src/core/rng';
import { makeViewBatch } from '../../data/host_batch';

/**
 * Views of `b` random 8x8 images: each global view is the image plus noise, each local view its
 * 2x2-pooled 4x4 version plus noise, so the views of one image are related as crops would be.
 * Per-image colour offsets make the images tell apart after global pooling.
 */
export function makeViews(seed: number, b: number, nLocal = 2): ViewBatch {
  const rng = new Rng(seed);
  const draw = (s: number) => tf.tensor4d(Float32Array.from({ length: b * s * s * 3 }, () => rng.normal()), [b, s, s, 3]);
  const offsets = tf.tensor4d(Float32Array.from({ length: b * 3 }, () => 1.5 * rng.normal()), [b, 1, 1, 3]);
  const noise = draw(8);
  const base = tf.add(noise, offsets) as tf.Tensor4D;
  const small = tf.avgPool(base, 2, 2, 'valid');
  const view = (x: tf.Tensor4D) => tf.tidy(() => tf.add(x, tf.mul(draw(x.shape[1]), 0.3)) as tf.Tensor4D);
  const batch = makeViewBatch({
    globals: [view(base), view(base)],
    locals: Array.from({ length: nLocal }, () => view(small)),
    labels: new Int32Array(b),
  });
  tf.dispose([noise, offsets, base, small]);
  return batch;
}

export function disposeViews(batch: ViewBatch): void {
  tf.dispose([...batch.globals, ...batch.locals]);
}

/** A BatchSource of `makeViews` batches; batch (epoch, k) depends only on (seed, epoch, k). */
export class ToyViewBatches implements BatchSource {
  constructor(
    readonly stepsPerEpoch: number,
    private readonly batchSize: number,
    private readonly seed: number,
  ) {}

  async *batchesForEpoch(epoch: number, startBatch = 0): AsyncIterable<ViewBatch> {
    for (let k = startBatch; k < this.stepsPerEpoch; k++) yield makeViews(this.seed * 1000003 + epoch * 1009 + k, this.batchSize);
  }
}
