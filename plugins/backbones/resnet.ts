import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../src/core/rng';
import type { Backbone } from '../../src/core/interfaces';
import { registerPlugin } from '../../src/core/registry';
import { Module } from '../../src/nn/module';
import { ModuleList } from '../../src/nn/container';
import { Conv2d } from '../../src/nn/conv2d';
import { BatchNorm2d } from '../../src/nn/batchnorm';
import { globalAvgPool, maxPool2d } from '../../src/nn/pool';
import type { FeatureInfo, FeatureMap, MultiScaleBackbone } from './features';
import { initFromWeights, weightsOptionShape } from './weights_option';

function conv(inC: number, outC: number, k: number, stride: number, rng: Rng): Conv2d {
  return new Conv2d(inC, outC, k, rng, { stride, padding: (k - 1) >> 1, init: 'kaiming_normal' });
}

/** torchvision's shortcut: `downsample.0` 1x1 conv (stride) and `downsample.1` BN. */
class Downsample extends Module {
  private readonly conv: Conv2d;
  private readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number, stride: number, rng: Rng) {
    super();
    this.conv = this.addModule('0', conv(inC, outC, 1, stride, rng));
    this.bn = this.addModule('1', new BatchNorm2d(outC));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.bn.forward(this.conv.forward(x)));
  }
}

abstract class Block extends Module {
  abstract forward(x: tf.Tensor4D): tf.Tensor4D;
  /** The BN closing the residual branch (zeroed by zero_init_residual). */
  abstract lastBn(): BatchNorm2d;
}

/** Two 3x3 convs (stride on the first), expansion 1. */
export class BasicBlock extends Block {
  static readonly expansion = 1;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly downsample: Downsample | null;

  constructor(inC: number, planes: number, stride: number, rng: Rng) {
    super();
    this.conv1 = this.addModule('conv1', conv(inC, planes, 3, stride, rng));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, 1, rng));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(planes));
    this.downsample = stride !== 1 || inC !== planes ? this.addModule('downsample', new Downsample(inC, planes, stride, rng)) : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.bn2.forward(this.conv2.forward(tf.relu(this.bn1.forward(this.conv1.forward(x)))));
      return tf.relu(tf.add<tf.Tensor4D>(y, this.downsample ? this.downsample.forward(x) : x));
    });
  }

  lastBn(): BatchNorm2d {
    return this.bn2;
  }
}

/** 1x1 reduce, 3x3 (stride here: torchvision's "ResNet v1.5"), 1x1 expand x4. */
export class Bottleneck extends Block {
  static readonly expansion = 4;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly conv3: Conv2d;
  private readonly bn3: BatchNorm2d;
  private readonly downsample: Downsample | null;

  constructor(inC: number, planes: number, stride: number, rng: Rng) {
    super();
    const outC = planes * Bottleneck.expansion;
    this.conv1 = this.addModule('conv1', conv(inC, planes, 1, 1, rng));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, stride, rng));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.addModule('conv3', conv(planes, outC, 1, 1, rng));
    this.bn3 = this.addModule('bn3', new BatchNorm2d(outC));
    this.downsample = stride !== 1 || inC !== outC ? this.addModule('downsample', new Downsample(inC, outC, stride, rng)) : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y = tf.relu(this.bn1.forward(this.conv1.forward(x)));
      y = tf.relu(this.bn2.forward(this.conv2.forward(y)));
      y = this.bn3.forward(this.conv3.forward(y));
      return tf.relu(tf.add<tf.Tensor4D>(y, this.downsample ? this.downsample.forward(x) : x));
    });
  }

  lastBn(): BatchNorm2d {
    return this.bn3;
  }
}

export type ResNetDepth = 18 | 34 | 50;

const LAYOUT: Record<ResNetDepth, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
};

export interface ResNetOptions {
  depth: ResNetDepth;
  /** CIFAR-style stem for 32x32 images: conv1 3x3 stride 1 and no max-pool (total stride 8). */
  small_input?: boolean;
  /** torchvision's zero_init_residual: the last BN of each block starts at weight 0. */
  zero_init_residual?: boolean;
  /** Channel multiplier (stem 64 x width, stages 64/128/256/512 x width, rounded to a multiple of 8); 1.0 is torchvision's. */
  width?: number;
}

/** Channels of a ResNet stage at `width`, rounded to a multiple of 8 (at least 8). */
export function resNetChannels(base: number, width: number): number {
  return Math.max(8, Math.round((base * width) / 8) * 8);
}

/** torchvision ResNet without fc: stem -> layer1..4 -> global average pool. */
export class ResNet extends Module implements Backbone, MultiScaleBackbone {
  readonly featureDim: number;
  readonly smallInput: boolean;
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly layers: ModuleList<Block>[] = [];
  private readonly info: FeatureInfo[];

  constructor(opts: ResNetOptions, rng: Rng) {
    super();
    const { depth, small_input: small = false, zero_init_residual: zeroInit = false, width = 1.0 } = opts;
    const spec = LAYOUT[depth];
    if (!spec) throw new Error(`ResNet: depth must be 18, 34 or 50, got ${depth}`);
    if (!(width > 0)) throw new Error(`ResNet: width must be positive, got ${width}`);
    this.smallInput = small;
    const stemC = resNetChannels(64, width);
    this.conv1 = this.addModule('conv1', small ? conv(3, stemC, 3, 1, rng) : conv(3, stemC, 7, 2, rng));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(stemC));
    const expansion = spec.block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion;
    let inC = stemC;
    let stride = small ? 1 : 4;
    this.info = [];
    spec.layers.forEach((n, i) => {
      const planes = resNetChannels(64 * 2 ** i, width);
      const list = this.addModule(`layer${i + 1}`, new ModuleList<Block>());
      for (let j = 0; j < n; j++) {
        const s = j === 0 && i > 0 ? 2 : 1;
        list.push(spec.block === 'basic' ? new BasicBlock(inC, planes, s, rng) : new Bottleneck(inC, planes, s, rng));
        inC = planes * expansion;
      }
      if (i > 0) stride *= 2;
      this.layers.push(list);
      this.info.push({ name: `c${i + 2}`, stride, channels: inC });
    });
    this.featureDim = inC;
    if (zeroInit) for (const list of this.layers) for (const b of list) b.lastBn().weight!.assign(tf.zeros([b.lastBn().numFeatures]));
  }

  private stem(x: tf.Tensor4D): tf.Tensor4D {
    const y = tf.relu(this.bn1.forward(this.conv1.forward(x)));
    return this.smallInput ? y : maxPool2d(y, 3, 2, 1);
  }

  forward(imagesNHWC: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let y = this.stem(imagesNHWC);
      for (const list of this.layers) for (const b of list) y = b.forward(y);
      return globalAvgPool(y);
    });
  }

  featureInfo(): FeatureInfo[] {
    return this.info.map((i) => ({ ...i }));
  }

  featureMaps(imagesNHWC: tf.Tensor4D): FeatureMap[] {
    return tf
      .tidy(() => {
        const outs: tf.Tensor4D[] = [];
        let y = this.stem(imagesNHWC);
        for (const list of this.layers) {
          for (const b of list) y = b.forward(y);
          outs.push(y);
        }
        return outs;
      })
      .map((tensor, i) => ({ ...this.info[i], tensor }));
  }
}

export const resNetSchema = z
  .object({
    small_input: z.boolean().default(false),
    zero_init_residual: z.boolean().default(false),
    width: z.number().positive().default(1.0),
    ...weightsOptionShape,
  })
  .strict();

// One plugin per depth (`backbone: {name: resnet18}`), like the paper's and torchvision's names.
for (const depth of [18, 34, 50] as const) {
  registerPlugin({
    kind: 'backbone',
    name: `resnet${depth}`,
    description: `torchvision ResNet-${depth} (no fc), width multiplier, optional CIFAR-style small-input stem`,
    schema: resNetSchema,
    create: (o, { rng }) => initFromWeights(new ResNet({ depth, ...o }, rng), o),
  });
}
