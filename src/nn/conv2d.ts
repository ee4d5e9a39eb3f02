import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../core/rng';
import { Module } from './module';
import { kaimingNormal, kaimingUniform, torchDefaultBias, zeros } from './init';
import { recordMacs } from './macs';

export interface Conv2dOptions {
  stride?: number;
  /**
   * A number is torch's symmetric zero padding (output floor((H + 2p - d(k-1) - 1) / s) + 1);
   * 'same' / 'valid' are tfjs's (its 'same' pads the extra row at the bottom/right, which differs
   * from torch's padding=1 at stride 2 on even sizes, so backbones use numbers). Default 0.
   */
  padding?: number | 'same' | 'valid';
  /** 1 (dense) or inChannels (depth-wise, channel multiplier 1). */
  groups?: number;
  bias?: boolean;
  dilation?: number;
  /**
   * 'torch': PyTorch's default (kaiming uniform a=sqrt(5), bias U(±1/sqrt(fan_in))).
   * 'kaiming_normal': torchvision's conv init, N(0, 2/fan_out) and zero bias.
   */
  init?: 'torch' | 'kaiming_normal';
}

/**
 * 2-D convolution on NHWC. Dense weights are HWIO [kh, kw, in, out] (state dict: OIHW);
 * depth-wise weights are [kh, kw, C, 1] (state dict: [C, 1, kh, kw]).
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number | 'same' | 'valid';
  readonly dilation: number;
  readonly depthwise: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    rng: Rng,
    opts: Conv2dOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, groups = 1, bias = false, dilation = 1, init = 'torch' } = opts;
    for (const [k, v] of Object.entries({ inChannels, outChannels, kernelSize, stride, dilation })) {
      if (!(Number.isInteger(v) && v > 0)) throw new Error(`Conv2d: ${k} must be a positive integer, got ${v}`);
    }
    if (typeof padding === 'number' && !(Number.isInteger(padding) && padding >= 0)) {
      throw new Error(`Conv2d: padding must be a non-negative integer, 'same' or 'valid', got ${padding}`);
    }
    if (groups !== 1 && !(groups === inChannels && outChannels === inChannels)) {
      throw new Error(
        `Conv2d: groups must be 1 or inChannels with outChannels == inChannels (depth-wise), got groups=${groups}, ${inChannels} -> ${outChannels}`,
      );
    }
    this.stride = stride;
    this.padding = padding;
    this.dilation = dilation;
    this.depthwise = groups !== 1;

    const k2 = kernelSize * kernelSize;
    // torch fans from the [out, in/groups, kh, kw] weight
    const fanIn = (inChannels / groups) * k2;
    const fanOut = outChannels * k2;
    const shape = this.depthwise ? [kernelSize, kernelSize, inChannels, 1] : [kernelSize, kernelSize, inChannels, outChannels];
    const w = init === 'kaiming_normal' ? kaimingNormal(shape, fanOut, rng) : kaimingUniform(shape, fanIn, rng);
    this.weight = this.depthwise
      ? this.addParam('weight', w, 'depthwise', 'depthwise')
      : this.addParam('weight', w, 'weight', 'conv');
    if (bias) {
      const b = init === 'kaiming_normal' ? zeros([outChannels]) : torchDefaultBias([outChannels], fanIn, rng);
      this.bias = this.addParam('bias', b, 'bias', 'same');
    } else {
      this.bias = null;
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(`Conv2d(${this.inChannels} -> ${this.outChannels}): expected NHWC input with ${this.inChannels} channels, got [${x.shape}]`);
    }
    // tfjs takes a number as symmetric explicit padding (padInfo top=bottom=left=right=p), on
    // cpu and wasm alike: torch semantics without a separate Pad op.
    const pad = this.padding === 0 ? 'valid' : this.padding;
    return tf.tidy((): tf.Tensor4D => {
      const y = this.depthwise
        ? tf.depthwiseConv2d(x, this.weight as tf.Tensor4D, this.stride, pad, 'NHWC', this.dilation)
        : tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad, 'NHWC', this.dilation);
      const perOutput = (this.depthwise ? 1 : this.inChannels) * this.kernelSize * this.kernelSize;
      recordMacs(y.size * perOutput);
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor4D) : y;
    });
  }
}
