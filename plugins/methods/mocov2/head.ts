import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { relu } from '../../../src/nn/activations';
import { Linear } from '../../../src/nn/linear';
import { Module } from '../../../src/nn/module';
import { buildMlp, type Layer2D } from '../../../src/nn/sequential';

export interface MocoHeadOptions {
  inDim: number;
  /** Output (embedding) dimension, MoCo's `dim` (128). */
  outDim: number;
  /** Hidden width of the MLP (2048). */
  hiddenDim?: number;
  /** Number of Linear layers (2 = MoCo-v2's Linear-ReLU-Linear; 1 = MoCo-v1's single fc). */
  nLayers?: number;
  /** BatchNorm1d after each hidden Linear (off in MoCo-v2 and SSLight's MoCo recipe). */
  useBn?: boolean;
  /** BatchNorm1d without affine after the output Linear (MoCo v3's `last_bn`; off in MoCo-v2). */
  lastBn?: boolean;
}

/**
 * The MoCo-v2 projection head as SSLight's MOCOHead: Linear(in, hidden) - [BN] - ReLU - ... -
 * Linear(hidden, out) [- BN without affine], no L2 normalisation (the loss does it). Default:
 * Linear(feat, 2048) - ReLU - Linear(2048, 128), torch names `mlp.0.{weight,bias}`, `mlp.2.{weight,bias}` (with one
 * layer: `mlp.{weight,bias}`). Init as SSLight's _init_weights: trunc normal std 0.02, bias 0.
 */
export class MocoHead extends Module {
  readonly mlp: Layer2D;
  readonly outDim: number;

  constructor(opts: MocoHeadOptions, rng: Rng) {
    super();
    const { inDim, outDim, hiddenDim = 2048, useBn = false, lastBn = false } = opts;
    const nLayers = Math.max(opts.nLayers ?? 2, 1);
    this.outDim = outDim;
    const lin = (i: number, o: number) => new Linear(i, o, rng, { init: 'trunc_normal' });
    this.mlp = this.addModule('mlp', buildMlp({ inDim, hiddenDim, outDim, nLayers, useBn, lastBn, activation: relu, linear: lin }));
  }

  /** [B, inDim] -> [B, outDim], not normalised. */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.mlp.forward(x);
  }
}
