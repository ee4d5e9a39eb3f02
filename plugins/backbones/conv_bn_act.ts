import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../src/core/rng';
import { Module } from '../../src/nn/module';
import { Conv2d } from '../../src/nn/conv2d';
import { BatchNorm2d } from '../../src/nn/batchnorm';

export type Activation = 'relu' | 'relu6' | 'none';

export interface ConvBNActOptions {
  stride?: number;
  groups?: number;
  activation?: Activation;
}

/**
 * torchvision's Conv2dNormActivation: conv (no bias, "same"-size torch padding (k-1)/2,
 * kaiming-normal fan_out init) -> BatchNorm2d -> activation. Children '0' (conv) and '1' (bn)
 * give torchvision's names; the activation has no parameters.
 */
export class ConvBNAct extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly activation: Activation;

  constructor(inC: number, outC: number, kernel: number, rng: Rng, opts: ConvBNActOptions = {}) {
    super();
    const { stride = 1, groups = 1, activation = 'relu6' } = opts;
    this.conv = this.addModule(
      '0',
      new Conv2d(inC, outC, kernel, rng, { stride, padding: (kernel - 1) >> 1, groups, init: 'kaiming_normal' }),
    );
    this.bn = this.addModule('1', new BatchNorm2d(outC));
    this.activation = activation;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.bn.forward(this.conv.forward(x));
      if (this.activation === 'relu6') return tf.relu6(y);
      if (this.activation === 'relu') return tf.relu(y);
      return y;
    });
  }
}
