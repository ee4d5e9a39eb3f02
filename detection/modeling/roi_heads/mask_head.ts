import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import { Conv2d } from '../../../src/nn/conv2d';
import { ConvTranspose2d } from '../../../src/nn/conv_transpose2d';
import { c2MsraFill, normalFill } from '../init';
import { registerDetectionPart, type MaskHeadPart } from '../registry';

/**
 * Mask R-CNN's mask head (torchvision's MaskRCNNHeads, Detectron2's MaskRCNNConvUpsampleHead
 * convs): numConv x (3x3 conv + ReLU), named mask_fcn1.. . Init c2_msra_fill.
 */
export class MaskHead extends Module implements MaskHeadPart {
  readonly convs: Conv2d[] = [];

  constructor(inChannels: number, readonly convDim: number, numConv: number, rng: Rng) {
    super();
    let c = inChannels;
    for (let i = 0; i < numConv; i++) {
      const conv = this.addModule(`mask_fcn${i + 1}`, new Conv2d(c, convDim, 3, rng, { padding: 1, bias: true }));
      c2MsraFill(conv, rng);
      this.convs.push(conv);
      c = convDim;
    }
  }

  get outChannels(): number {
    return this.convDim;
  }

  forward(pooled: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.convs.reduce((x, conv) => tf.relu(conv.forward(x)), pooled));
  }
}

/**
 * torchvision's MaskRCNNPredictor: `conv5_mask` 2x2 stride-2 transposed conv + ReLU, then
 * `mask_fcn_logits` 1x1 conv to K + 1 per-class mask logits at twice the pooled resolution
 * (channel 0, background, is never trained or used). Init: deconv c2_msra_fill, logits
 * N(0, 0.001^2) (Detectron2).
 */
export class MaskPredictor extends Module {
  readonly deconv: ConvTranspose2d;
  readonly logits: Conv2d;

  constructor(inChannels: number, convDim: number, readonly numClasses: number, rng: Rng) {
    super();
    this.deconv = this.addModule('conv5_mask', new ConvTranspose2d(inChannels, convDim, 2, rng, { stride: 2 }));
    this.logits = this.addModule('mask_fcn_logits', new Conv2d(convDim, numClasses + 1, 1, rng, { bias: true }));
    c2MsraFill(this.deconv, rng);
    normalFill(this.logits, 0.001, rng);
  }

  /** [R, r, r, C] -> [R, 2r, 2r, K + 1] logits. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.logits.forward(tf.relu(this.deconv.forward(x))));
  }
}

registerDetectionPart({
  kind: 'mask_head',
  name: 'conv',
  description: 'num_conv x (3x3 conv + ReLU), mask_fcn1.. (Detectron2 MaskRCNNConvUpsampleHead convs, torchvision MaskRCNNHeads)',
  schema: z.object({ num_conv: z.number().int().positive().default(4), conv_dim: z.number().int().positive().default(256) }).strict(),
  create: (o, { rng, channels }) => new MaskHead(channels, o.conv_dim, o.num_conv, rng),
});
