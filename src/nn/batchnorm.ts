import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module';
import { meanOverLeading } from './reduce';

export interface BatchNormOptions {
  eps?: number;
  /** Running-stat update factor (torch semantics: new = (1 - momentum) * old + momentum * batch). */
  momentum?: number;
  /** Learnable per-channel scale and shift (torch `affine`, default true). */
  affine?: boolean;
}

/**
 * Batch normalisation over every axis but the last (channels last), shared by the 1-d and 2-d
 * variants. Torch names: weight, bias, running_mean, running_var, num_batches_tracked.
 *
 * Written with plain ops (avgPool reductions, then one scale-and-shift; in training a
 * hand-written backward) rather than tf.moments / tf.batchNorm, whose forward and backward reduce
 * with Sum/Mean over leading axes, slow on wasm.
 */
abstract class BatchNormBase extends Module {
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;
  readonly eps: number;
  readonly momentum: number;

  constructor(readonly numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    const { eps = 1e-5, momentum = 0.1, affine = true } = opts;
    if (!(Number.isInteger(numFeatures) && numFeatures > 0)) {
      throw new Error(`${new.target.name}: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    if (!(momentum >= 0 && momentum <= 1)) throw new Error(`${new.target.name}: momentum must be in [0, 1], got ${momentum}`);
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? this.addParam('weight', tf.ones([numFeatures]), 'norm') : null;
    this.bias = affine ? this.addParam('bias', tf.zeros([numFeatures]), 'norm') : null;
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
    // int64 in torch; int32 here (tfjs has no int64), widened to I64 in the state dict.
    this.numBatchesTracked = this.addBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  protected normalize<T extends tf.Tensor>(x: T): T {
    const c = x.shape[x.rank - 1];
    if (c !== this.numFeatures) {
      throw new Error(`${this.constructor.name}(${this.numFeatures}): input has ${c} channels (last axis), shape [${x.shape}]`);
    }
    if (this.training) {
      const m = x.size / c;
      if (m < 2) {
        throw new Error(`${this.constructor.name}: training needs more than 1 value per channel, got input [${x.shape}]`);
      }
      return tf.tidy(() => {
        const gamma = this.weight ?? tf.ones([c]);
        const beta = this.bias ?? tf.zeros([c]);
        return this.trainingOp(m)(x, gamma, beta) as T;
      });
    }
    return tf.tidy(() => {
      let scale: tf.Tensor = tf.rsqrt(tf.add(this.runningVar, this.eps));
      if (this.weight) scale = tf.mul(scale, this.weight);
      let shift: tf.Tensor = tf.neg(tf.mul(this.runningMean, scale));
      if (this.bias) shift = tf.add(shift, this.bias);
      return tf.add(tf.mul(x, scale), shift) as T;
    });
  }

  /**
   * Training-mode BN (batch statistics) with its backward written out, so every reduction is an
   * avgPool: autodiff of the plain forward would reduce the broadcast gradients of the mean,
   * scale and shift with Sum over leading axes (slow on wasm) and take ~3x the full-size ops.
   * With c = x - mean, inv = 1/sqrt(var + eps), xhat = c * inv, y = gamma * xhat + beta:
   *   dbeta = sum(dy), dgamma = sum(dy * xhat),
   *   dx = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat))   (means over the batch axes).
   */
  private trainingOp(m: number): (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor {
    return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const mean = meanOverLeading(x);
      const centered = tf.sub(x, mean);
      // Biased variance normalises (as torch); two-pass for accuracy.
      const variance = meanOverLeading(tf.square(centered));
      this.updateRunningStats(mean, variance, m);
      const inv = tf.rsqrt(tf.add(variance, this.eps));
      const value = tf.add(tf.mul(centered, tf.mul(inv, gamma)), beta);
      save([centered, inv, gamma]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [cen, iv, g] = saved;
          const meanDy = meanOverLeading(dy);
          // mean(dy * xhat) = inv * mean(dy * centered)
          const meanDyXhat = tf.mul(meanOverLeading(tf.mul(dy, cen)), iv);
          const k = tf.mul(g, iv);
          // dx = k * (dy - meanDy) - centered * (k * inv * meanDyXhat)
          const dx = tf.sub(tf.mul(tf.sub(dy, meanDy), k), tf.mul(cen, tf.mul(k, tf.mul(iv, meanDyXhat))));
          return [dx, tf.mul(meanDyXhat, m), tf.mul(meanDy, m)];
        },
      };
    });
  }

  /**
   * torch's update: running_var uses the unbiased variance (x m / (m - 1)). Runs inside the
   * forward (and so inside tf.variableGrads): `assign` swaps the buffers' data without adding
   * to the gradient, and the intermediates are released by the surrounding tidy.
   */
  private updateRunningStats(mean: tf.Tensor1D, biasedVar: tf.Tensor1D, m: number): void {
    const mom = this.momentum;
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - mom), tf.mul(mean, mom)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - mom), tf.mul(biasedVar, (mom * m) / (m - 1))));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
    });
  }
}

/** torch.nn.BatchNorm2d on NHWC maps [N, H, W, C]; statistics over N, H, W. */
export class BatchNorm2d extends BatchNormBase {
  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4) throw new Error(`BatchNorm2d: expected NHWC [N, H, W, C], got [${x.shape}]`);
    return this.normalize(x);
  }
}

/** torch.nn.BatchNorm1d on [B, C]; statistics over B. */
export class BatchNorm1d extends BatchNormBase {
  forward(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2) throw new Error(`BatchNorm1d: expected [B, C], got [${x.shape}]`);
    return this.normalize(x);
  }
}
