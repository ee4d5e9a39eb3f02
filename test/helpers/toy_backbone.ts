import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../src/core/interfaces';
import type { Rng } from '../../src/core/rng';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { Conv2d, type Conv2dOptions } from '../../src/nn/conv2d';
import { Module } from '../../src/nn/module';
import { globalAvgPool } from '../../src/nn/pool';

export interface ToyBackboneOptions {
  /** Output channels of each conv 3x3 - BN - ReLU stage (default one stage of 6). */
  widths?: number[];
  /** Stride of each stage (default 1). */
  strides?: number[];
  init?: Conv2dOptions['init'];
}

/**
 * The tests' backbone: conv 3x3 -> BN -> ReLU stages, then global average pooling. Records the
 * shape of every input (so tests can check how a method batches its views). One stage registers
 * `conv.*`, `bn.*`; more register `c1.*`, `b1.*`, `c2.*`, ...
 */
export class ToyBackbone extends Module implements Backbone {
  readonly featureDim: number;
  calls: number[][] = [];
  private readonly stages: Array<[Conv2d, BatchNorm2d]> = [];

  constructor(rng: Rng, opts: ToyBackboneOptions = {}) {
    super();
    const widths = opts.widths ?? [6];
    let inC = 3;
    widths.forEach((w, i) => {
      const [cn, bn] = widths.length === 1 ? ['conv', 'bn'] : [`c${i + 1}`, `b${i + 1}`];
      const conv = this.addModule(cn, new Conv2d(inC, w, 3, rng, { padding: 1, stride: opts.strides?.[i] ?? 1, ...(opts.init ? { init: opts.init } : {}) }));
      this.stages.push([conv, this.addModule(bn, new BatchNorm2d(w))]);
      inC = w;
    });
    this.featureDim = inC;
  }

  forward(x: tf.Tensor4D): tf.Tensor2D {
    this.calls.push(x.shape);
    return tf.tidy(() => globalAvgPool(this.stages.reduce((h, [conv, bn]) => tf.relu(bn.forward(conv.forward(h))), x)));
  }
}
