import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module';

export interface LayerNormOptions {
  /** torch default 1e-5; ViTs use 1e-6. */
  eps?: number;
  affine?: boolean;
}

/** torch.nn.LayerNorm over the last axis (biased variance), params weight / bias (kind 'norm'). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;
  readonly eps: number;

  constructor(readonly normalizedShape: number, opts: LayerNormOptions = {}) {
    super();
    const { eps = 1e-5, affine = true } = opts;
    this.eps = eps;
    this.weight = affine ? this.addParam('weight', tf.ones([normalizedShape]), 'norm') : null;
    this.bias = affine ? this.addParam('bias', tf.zeros([normalizedShape]), 'norm') : null;
  }

  forward<T extends tf.Tensor>(x: T): T {
    if (x.shape[x.rank - 1] !== this.normalizedShape) {
      throw new Error(`LayerNorm(${this.normalizedShape}): last axis of input [${x.shape}] differs`);
    }
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), -1, true);
      let y = tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps)));
      if (this.weight) y = tf.mul(y, this.weight);
      if (this.bias) y = tf.add(y, this.bias);
      return y as T;
    });
  }
}
