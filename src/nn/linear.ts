import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../core/rng';
import { Module } from './module';
import { kaimingUniform, torchDefaultBias, truncNormal, zeros } from './init';
import { recordMacs } from './macs';

export interface LinearOptions {
  /** Add a bias (torch default true). */
  bias?: boolean;
  /**
   * 'torch': PyTorch's default (weight and bias U(±1/sqrt(in))).
   * 'trunc_normal': ViT/DINO's _init_weights (weight trunc normal std 0.02, bias 0).
   */
  init?: 'torch' | 'trunc_normal';
}

/**
 * y = x W + b. The weight is stored [in, out] so the forward is one plain matMul (the fast,
 * non-transposed path on wasm); the state dict transposes it to torch's [out, in].
 */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: LinearOptions = {},
  ) {
    super();
    const { bias = true, init = 'torch' } = opts;
    if (!(Number.isInteger(inFeatures) && inFeatures > 0 && Number.isInteger(outFeatures) && outFeatures > 0)) {
      throw new Error(`Linear: feature sizes must be positive integers, got ${inFeatures} -> ${outFeatures}`);
    }
    const shape = [inFeatures, outFeatures];
    const w = init === 'trunc_normal' ? truncNormal(shape, rng, { std: 0.02 }) : kaimingUniform(shape, inFeatures, rng);
    this.weight = this.addParam('weight', w, 'weight', 'linear');
    if (bias) {
      const b = init === 'trunc_normal' ? zeros([outFeatures]) : torchDefaultBias([outFeatures], inFeatures, rng);
      this.bias = this.addParam('bias', b, 'bias', 'same');
    } else {
      this.bias = null;
    }
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} -> ${this.outFeatures}): expected input [B, ${this.inFeatures}], got [${x.shape}]`);
    }
    return tf.tidy((): tf.Tensor2D => {
      const y = tf.matMul(x, this.weight) as tf.Tensor2D;
      recordMacs(y.size * this.inFeatures);
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
    });
  }
}
