import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module';
import { batchNormTrain } from '../kernels/batchnorm_train';

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
 * Training mode is `batchNormTrain` (src/kernels/batchnorm_train.ts): batch statistics with the
 * backward written out, fused native forward/backward on wasm when the addon is built (5 passes
 * over the activation), otherwise plain ops whose reductions are avgPools (tf.moments /
 * tf.batchNorm reduce with Sum/Mean over leading axes, slow on wasm, and autodiff of the plain
 * forward takes ~3x the full-size ops). Eval mode is one scale-and-shift from running stats.
 */
export abstract class BatchNormBase extends Module {
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;
  readonly eps: number;
  /** Mutable so `src/eval/precise_bn` can average batch statistics exactly (momentum 1 per batch). */
  momentum: number;

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
        const gamma = (this.weight ?? tf.ones([c])) as tf.Tensor1D;
        const beta = (this.bias ?? tf.zeros([c])) as tf.Tensor1D;
        return batchNormTrain(x, gamma, beta, this.eps, (mean, variance) => this.updateRunningStats(mean, variance, m)) as T;
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
   * torch's update: running_var uses the unbiased variance (x m / (m - 1)). batchNormTrain calls
   * it with the batch mean and biased variance inside the forward (and so inside tf.variableGrads): `assign` swaps the buffers' data without adding
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

/**
 * BatchNorm1d whose training-mode statistics are taken over consecutive groups of rows separately
 * (`rowGroups`, row counts summing to the batch; null = one group). A multi-crop head sets the
 * groups to its resolution groups, so each group of embeddings is centred on its own, as when
 * every crop goes through the network alone (MoCo v3's `last_bn`). Running statistics are updated
 * once per group; eval mode is BatchNorm1d's. Torch names are BatchNorm1d's.
 */
export class RowGroupBatchNorm1d extends BatchNorm1d {
  rowGroups: number[] | null = null;

  override forward(x: tf.Tensor2D): tf.Tensor2D {
    const g = this.rowGroups;
    if (!this.training || !g || g.length < 2) return super.forward(x);
    const total = g.reduce((a, b) => a + b, 0);
    if (total !== x.shape[0] || g.some((n) => !(Number.isInteger(n) && n > 0))) {
      throw new Error(`RowGroupBatchNorm1d: row groups [${g}] do not split a batch of ${x.shape[0]} rows`);
    }
    return tf.tidy(() => tf.concat(tf.split(x, g, 0).map((part) => super.forward(part as tf.Tensor2D)), 0) as tf.Tensor2D);
  }
}
