import * as tf from '@tensorflow/tfjs-core';
import { BatchNormBase } from '../nn/batchnorm';
import type { Module } from '../nn/module';
import { throwIfStopRequested } from '../core/signals';
import type { LabelledImageBatch } from './features';

export interface PreciseBnResult {
  /** BatchNorm layers whose running statistics were replaced. */
  layers: number;
  /** Images the statistics average over. */
  images: number;
}

/**
 * Replace every BatchNorm's running mean and variance by their average over the given batches
 * (detectron2's PreciseBN, Wu & Johnson 2021): each batch is forwarded in training mode with the
 * momentum at 1, so the running buffers hold that batch's statistics, and the per-batch values
 * are averaged with equal weight. Why the evaluations need it: an untrained network's buffers are
 * the identity (mean 0, variance 1), which leaves a random-init MobileNetV2's pooled features at
 * ~1e-8 and a linear probe at chance; a pre-trained one's were accumulated on multi-crop views of
 * other sizes than the evaluation's. Both are then measured with statistics of the images they
 * are evaluated on. Parameters are not touched; the batches are disposed; the module's training
 * mode and momenta are restored.
 */
export async function recomputeBatchNormStats(
  module: Module & { forward(x: tf.Tensor4D): unknown },
  batches: AsyncIterable<LabelledImageBatch>,
): Promise<PreciseBnResult> {
  const bns = module.modules().filter((m): m is BatchNormBase => m instanceof BatchNormBase);
  if (bns.length === 0) {
    for await (const b of batches) b.images.dispose();
    return { layers: 0, images: 0 };
  }
  const wasTraining = module.training;
  const momenta = bns.map((b) => b.momentum);
  const sums: { mean: tf.Tensor; variance: tf.Tensor }[] = bns.map((b) => ({
    mean: tf.zerosLike(b.runningMean),
    variance: tf.zerosLike(b.runningVar),
  }));
  // Put back if anything fails half-way (the buffers then hold one batch's statistics).
  const saved = bns.map((b) => ({ mean: b.runningMean.clone(), variance: b.runningVar.clone() }));
  let count = 0;
  let images = 0;
  let done = false;
  module.train(true);
  for (const b of bns) b.momentum = 1;
  try {
    for await (const batch of batches) {
      try {
        throwIfStopRequested('BatchNorm statistics');
        if (batch.images.shape[0] < 2) continue; // a 1-image batch leaves BatchNorm1d no variance
        tf.tidy(() => {
          module.forward(batch.images);
        });
        bns.forEach((b, i) => {
          const s = sums[i];
          const mean = tf.add(s.mean, b.runningMean);
          const variance = tf.add(s.variance, b.runningVar);
          s.mean.dispose();
          s.variance.dispose();
          sums[i] = { mean, variance };
        });
        count++;
        images += batch.images.shape[0];
      } finally {
        batch.images.dispose();
      }
    }
    if (count === 0) throw new Error('recomputeBatchNormStats: no batch of at least 2 images');
    bns.forEach((b, i) => {
      tf.tidy(() => {
        b.runningMean.assign(tf.div(sums[i].mean, count));
        b.runningVar.assign(tf.div(sums[i].variance, count));
      });
    });
    done = true;
  } finally {
    bns.forEach((b, i) => {
      if (!done) {
        b.runningMean.assign(saved[i].mean);
        b.runningVar.assign(saved[i].variance);
      }
      saved[i].mean.dispose();
      saved[i].variance.dispose();
    });
    bns.forEach((b, i) => {
      b.momentum = momenta[i];
    });
    for (const s of sums) {
      s.mean.dispose();
      s.variance.dispose();
    }
    module.train(wasTraining);
  }
  return { layers: bns.length, images };
}
