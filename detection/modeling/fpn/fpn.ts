import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import { ModuleList } from '../../../src/nn/container';
import { Conv2d } from '../../../src/nn/conv2d';
import { c2XavierFill } from '../init';
import type { StageInfo } from '../backbone/body';

export interface FpnOptions {
  /** The stages it takes, by increasing stride. */
  inputs: StageInfo[];
  outChannels: number;
  /** 'maxpool': an extra level from the coarsest output by a 1x1 stride-2 max-pool (P6). */
  topBlock: 'maxpool' | 'none';
}

/**
 * Nearest-neighbour resize of x [N, h, w, C] to [N, H, W, C] with torch's `nearest` rule
 * (source index floor(dst * in / out)). The exact 2x case (every FPN step on inputs padded to the
 * coarsest stride) is a broadcast copy, which is cheap and differentiable on every backend.
 */
export function upsampleNearest(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, ih, iw, c] = x.shape;
  if (h === ih && w === iw) return x.clone();
  return tf.tidy(() => {
    if (h === 2 * ih && w === 2 * iw) {
      // two rank-4 tiles (tfjs differentiates tile up to rank 4): columns, then rows
      const cols = tf.reshape(tf.tile(tf.reshape(x, [n * ih, iw, 1, c]), [1, 1, 2, 1]), [n, ih, 1, w * c]);
      return tf.reshape(tf.tile(cols, [1, 1, 2, 1]), [n, h, w, c]);
    }
    return tf.image.resizeNearestNeighbor(x, [h, w], false, false);
  });
}

/**
 * Feature Pyramid Network (Lin et al.; torchvision's FeaturePyramidNetwork, Detectron2's FPN):
 * 1x1 lateral convs (`inner_blocks.i`), top-down nearest 2x upsampling and sum, 3x3 output convs
 * (`layer_blocks.i`), and optionally P6 = maxpool(P5, k=1, s=2). Outputs are named p<log2 stride>
 * (P2-P6 from C2-C5; P4-P6 from MobileNetV2's C4, C5 in the paper's layout).
 * Weights: Detectron2's c2_xavier_fill (= torchvision's kaiming_uniform a=1), zero bias.
 */
export class Fpn extends Module {
  readonly inner: ModuleList<Conv2d>;
  readonly layer: ModuleList<Conv2d>;
  private readonly outInfo: StageInfo[];

  constructor(readonly o: FpnOptions, rng: Rng) {
    super();
    if (o.inputs.length === 0) throw new Error('Fpn: needs at least one input stage');
    for (let i = 1; i < o.inputs.length; i++) {
      if (o.inputs[i].stride !== 2 * o.inputs[i - 1].stride) {
        throw new Error(`Fpn: input strides must double from one stage to the next, got [${o.inputs.map((s) => s.stride)}]`);
      }
    }
    this.inner = this.addModule('inner_blocks', new ModuleList<Conv2d>());
    this.layer = this.addModule('layer_blocks', new ModuleList<Conv2d>());
    for (const s of o.inputs) {
      c2XavierFill(this.inner.push(new Conv2d(s.channels, o.outChannels, 1, rng, { bias: true })), rng);
      c2XavierFill(this.layer.push(new Conv2d(o.outChannels, o.outChannels, 3, rng, { padding: 1, bias: true })), rng);
    }
    const strides = o.inputs.map((s) => s.stride);
    if (o.topBlock === 'maxpool') strides.push(2 * strides[strides.length - 1]);
    this.outInfo = strides.map((stride) => ({ name: `p${Math.round(Math.log2(stride))}`, stride, channels: o.outChannels }));
  }

  outputInfo(): StageInfo[] {
    return this.outInfo.map((i) => ({ ...i }));
  }

  /** Stage maps (one per input, by increasing stride) -> P maps by increasing stride. */
  forward(maps: tf.Tensor4D[]): tf.Tensor4D[] {
    if (maps.length !== this.inner.length) throw new Error(`Fpn: expected ${this.inner.length} maps, got ${maps.length}`);
    return tf.tidy(() => {
      const last = maps.length - 1;
      let prev = this.inner.at(last).forward(maps[last]);
      const outs: tf.Tensor4D[] = [this.layer.at(last).forward(prev)];
      for (let i = last - 1; i >= 0; i--) {
        const lateral = this.inner.at(i).forward(maps[i]);
        prev = tf.add(lateral, upsampleNearest(prev, lateral.shape[1], lateral.shape[2]));
        outs.unshift(this.layer.at(i).forward(prev));
      }
      if (this.o.topBlock === 'maxpool') outs.push(tf.maxPool(outs[outs.length - 1], 1, 2, 'valid'));
      return outs;
    });
  }
}
