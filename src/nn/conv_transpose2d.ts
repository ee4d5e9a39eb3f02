import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../core/rng';
import { Module } from './module';
import { kaimingNormal, kaimingUniform, torchDefaultBias, zeros } from './init';
import { recordMacs } from './macs';

export interface ConvTranspose2dOptions {
  stride?: number;
  /** torch's `padding`: rows / columns cropped from each side of the full output. Default 0. */
  padding?: number;
  bias?: boolean;
  /**
   * 'torch': PyTorch's default (kaiming uniform a=sqrt(5) with torch's fan_in of the
   * [in, out, kh, kw] weight, i.e. out * kh * kw; bias likewise).
   * 'kaiming_normal': N(0, 2 / fan_out) with torch's fan_out (in * kh * kw), zero bias
   * (detectron2's c2_msra_fill / torchvision's mask head init).
   */
  init?: 'torch' | 'kaiming_normal';
}

/**
 * torch.nn.ConvTranspose2d on NHWC (groups 1, dilation 1, no output_padding): output
 * (H - 1) * stride - 2 * padding + kernel. The weight is held as tfjs's conv2dTranspose filter
 * [kh, kw, out, in]; torch's [in, out, kh, kw] is the same permutation as a conv's HWIO <-> OIHW,
 * so the state dict uses the 'conv' layout. When kernel == stride and padding == 0 (Mask R-CNN's
 * 2x2 / stride-2 upsampling) output windows do not overlap and the layer is one matMul plus a
 * reshape, which runs and differentiates on every backend without Conv2DBackpropInput.
 */
export class ConvTranspose2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    rng: Rng,
    opts: ConvTranspose2dOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, bias = true, init = 'torch' } = opts;
    for (const [k, v] of Object.entries({ inChannels, outChannels, kernelSize, stride })) {
      if (!(Number.isInteger(v) && v > 0)) throw new Error(`ConvTranspose2d: ${k} must be a positive integer, got ${v}`);
    }
    if (!(Number.isInteger(padding) && padding >= 0)) throw new Error(`ConvTranspose2d: padding must be a non-negative integer, got ${padding}`);
    this.stride = stride;
    this.padding = padding;
    const k2 = kernelSize * kernelSize;
    // torch computes fans from the [in, out, kh, kw] weight as if it were a conv's [out, in, ...]
    const fanIn = outChannels * k2;
    const fanOut = inChannels * k2;
    const shape = [kernelSize, kernelSize, outChannels, inChannels];
    const w = init === 'kaiming_normal' ? kaimingNormal(shape, fanOut, rng) : kaimingUniform(shape, fanIn, rng);
    this.weight = this.addParam('weight', w, 'weight', 'conv');
    if (bias) {
      const b = init === 'kaiming_normal' ? zeros([outChannels]) : torchDefaultBias([outChannels], fanIn, rng);
      this.bias = this.addParam('bias', b, 'bias', 'same');
    } else {
      this.bias = null;
    }
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(`ConvTranspose2d(${this.inChannels} -> ${this.outChannels}): expected NHWC input with ${this.inChannels} channels, got [${x.shape}]`);
    }
    const [n, h, w] = x.shape;
    const k = this.kernelSize;
    const s = this.stride;
    const oh = (h - 1) * s - 2 * this.padding + k;
    const ow = (w - 1) * s - 2 * this.padding + k;
    if (!(oh > 0 && ow > 0)) throw new Error(`ConvTranspose2d: input [${x.shape}] gives an empty output`);
    return tf.tidy((): tf.Tensor4D => {
      let y: tf.Tensor4D;
      recordMacs(n * h * w * this.inChannels * this.outChannels * k * k);
      if (k === s && this.padding === 0) {
        // [in, kh * kw * out]: each input pixel writes its own k x k output block
        const wm = tf.reshape(tf.transpose(this.weight, [3, 0, 1, 2]), [this.inChannels, k * k * this.outChannels]);
        const blocks = tf.matMul(tf.reshape(x, [n * h * w, this.inChannels]), wm);
        y = tf.reshape(tf.transpose(tf.reshape(blocks, [n, h, w, k, k, this.outChannels]), [0, 1, 3, 2, 4, 5]), [n, oh, ow, this.outChannels]);
      } else {
        // tfjs's explicit padding on the equivalent forward conv is torch's `padding`
        const pad = this.padding === 0 ? 'valid' : this.padding;
        y = tf.conv2dTranspose(x, this.weight as tf.Tensor4D, [n, oh, ow, this.outChannels], s, pad as 'valid');
      }
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor4D) : y;
    });
  }
}
