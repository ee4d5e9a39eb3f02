import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../src/core/rng';
import type { Backbone } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import { Module } from '../../src/nn/module';
import { ModuleList } from '../../src/nn/container';
import { Conv2d } from '../../src/nn/conv2d';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { globalAvgPool } from '../../src/nn/pool';
import { ConvBNAct } from './conv_bn_act';
import type { FeatureInfo, FeatureMap, MultiScaleBackbone } from './features';
import { initFromWeights, weightsOptionShape } from './weights_option';

/**
 * torchvision's _make_divisible (from the TF slim code): round to the nearest multiple of
 * `divisor`, at least `divisor`, never more than 10% below v.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let out = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

/** (t expansion, c channels, n repeats, s first stride), as in the paper and torchvision. */
const SETTING: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * torchvision's InvertedResidual: [1x1 expand ConvBNReLU6 if t != 1] -> 3x3 depth-wise
 * ConvBNReLU6 (stride) -> 1x1 linear projection conv -> BN; residual when stride 1 and
 * in == out. Children live in `conv` ('0', '1', ...) as in torchvision.
 */
export class InvertedResidual extends Module {
  readonly useResidual: boolean;
  readonly conv: ModuleList;
  private readonly blocks: ConvBNAct[] = [];
  private readonly project: Conv2d;
  private readonly projectBn: BatchNorm2d;

  constructor(inC: number, outC: number, stride: number, expandRatio: number, rng: Rng) {
    super();
    const hidden = Math.round(inC * expandRatio);
    this.useResidual = stride === 1 && inC === outC;
    this.conv = this.addModule('conv', new ModuleList());
    if (expandRatio !== 1) this.blocks.push(this.conv.push(new ConvBNAct(inC, hidden, 1, rng)));
    this.blocks.push(this.conv.push(new ConvBNAct(hidden, hidden, 3, rng, { stride, groups: hidden })));
    this.project = this.conv.push(new Conv2d(hidden, outC, 1, rng, { init: 'kaiming_normal' }));
    this.projectBn = this.conv.push(new BatchNorm2d(outC));
  }

  /** BN weight of the projection to 0: with the residual, the block starts as the identity. */
  zeroInitLastBn(): void {
    const w = this.projectBn.weight;
    if (w) tf.tidy(() => w.assign(tf.zerosLike(w)));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y = x;
      for (const b of this.blocks) y = b.forward(y);
      y = this.projectBn.forward(this.project.forward(y));
      return this.useResidual ? tf.add(x, y) : y;
    });
  }
}

export interface MobileNetV2Options {
  /** torchvision width_mult; channels rounded with makeDivisible(c * width, round_nearest). */
  width?: number;
  round_nearest?: number;
  /**
   * For 32x32 images (CIFAR): stem and the first 24-channel block at stride 1 instead of 2, so
   * the total stride is 8 rather than 32. Parameter count is unchanged.
   */
  small_input?: boolean;
  /**
   * Start every residual block's last BN at weight 0 (torchvision ResNet's `zero_init_residual`,
   * Goyal et al. 2017), so at initialisation those blocks are the identity and the network is 7
   * blocks deep instead of 17: a normalised random MobileNetV2 otherwise maps every image to nearly
   * the same features, which leaves a self-supervised loss little to start from.
   */
  zero_init_residual?: boolean;
}

/** features index whose output each FPN level takes (standard strides 4, 8, 16, 32). */
const STAGE_ENDS: ReadonlyArray<readonly [string, number]> = [
  ['c2', 3],
  ['c3', 6],
  ['c4', 13],
  ['c5', 18],
];

/**
 * torchvision MobileNetV2 without the classifier: features -> global average pool ->
 * [B, 1280 * max(1, width)] (rounded). Parameter names match torchvision's state dict.
 */
export class MobileNetV2 extends Module implements Backbone, MultiScaleBackbone {
  readonly featureDim: number;
  readonly features: ModuleList<ConvBNAct | InvertedResidual>;
  private readonly info: FeatureInfo[];

  constructor(opts: MobileNetV2Options, rng: Rng) {
    super();
    const { width = 1.0, round_nearest: rn = 8, small_input: small = false, zero_init_residual: zeroRes = false } = opts;
    if (!(width > 0)) throw new Error(`MobileNetV2: width must be positive, got ${width}`);
    let inC = makeDivisible(32 * width, rn);
    const lastC = makeDivisible(1280 * Math.max(1.0, width), rn);
    this.features = this.addModule('features', new ModuleList<ConvBNAct | InvertedResidual>());
    const strides: number[] = [];
    const channels: number[] = [];
    let total = small ? 1 : 2;
    this.features.push(new ConvBNAct(3, inC, 3, rng, { stride: small ? 1 : 2 }));
    strides.push(total);
    channels.push(inC);
    SETTING.forEach(([t, c, n, s], stage) => {
      const outC = makeDivisible(c * width, rn);
      for (let i = 0; i < n; i++) {
        const stride = i > 0 || (small && stage === 1) ? 1 : s;
        const block = this.features.push(new InvertedResidual(inC, outC, stride, t, rng));
        if (zeroRes && block.useResidual) block.zeroInitLastBn();
        total *= stride;
        strides.push(total);
        channels.push(outC);
        inC = outC;
      }
    });
    this.features.push(new ConvBNAct(inC, lastC, 1, rng));
    strides.push(total);
    channels.push(lastC);
    this.featureDim = lastC;
    this.info = STAGE_ENDS.map(([name, idx]) => ({ name, stride: strides[idx], channels: channels[idx] }));
  }

  forward(imagesNHWC: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let y = imagesNHWC;
      for (const f of this.features) y = f.forward(y);
      return globalAvgPool(y);
    });
  }

  featureInfo(): FeatureInfo[] {
    return this.info.map((i) => ({ ...i }));
  }

  featureMaps(imagesNHWC: tf.Tensor4D): FeatureMap[] {
    return tf.tidy(() => {
      const outs: tf.Tensor4D[] = [];
      let y = imagesNHWC;
      let idx = 0;
      for (const f of this.features) {
        y = f.forward(y);
        if (STAGE_ENDS.some(([, end]) => end === idx)) outs.push(y);
        idx++;
      }
      return outs;
    }).map((tensor, i) => ({ ...this.info[i], tensor }));
  }
}

export const mobileNetV2Schema = z
  .object({
    width: z.number().positive().default(1.0),
    round_nearest: z.number().int().positive().default(8),
    small_input: z.boolean().default(false),
    zero_init_residual: z.boolean().default(false),
    ...weightsOptionShape,
  })
  .strict();

registerPlugin({
  kind: 'backbone',
  name: 'mobilenetv2',
  description: 'torchvision MobileNetV2 (no classifier), width multiplier, optional small-input stem',
  schema: mobileNetV2Schema,
  create: (o, { rng }) => initFromWeights(new MobileNetV2(o, rng), o),
});
