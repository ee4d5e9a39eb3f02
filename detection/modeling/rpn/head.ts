import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import { Conv2d } from '../../../src/nn/conv2d';
import { normalFill } from '../init';
import { registerDetectionPart, type RpnHeadPart } from '../registry';

/** Per level: objectness logits [N, H, W, A] and deltas [N, H, W, A*4] (anchor a's at 4a..4a+3). */
export interface RpnHeadOutput {
  logits: tf.Tensor4D[];
  deltas: tf.Tensor4D[];
}

/**
 * The RPN head shared by every level (torchvision's RPNHead, Detectron2's StandardRPNHead): 3x3
 * conv + ReLU, then 1x1 convs to A objectness logits and 4A box deltas. Names `conv`,
 * `cls_logits`, `bbox_pred`; init N(0, 0.01^2), zero bias (both libraries). NHWC channel order
 * equals torch's flattened (H, W, A) / (H, W, A, 4) order, so outputs line up with torchvision's.
 */
export class RpnHead extends Module implements RpnHeadPart {
  readonly conv: Conv2d;
  readonly clsLogits: Conv2d;
  readonly bboxPred: Conv2d;

  constructor(channels: number, readonly numAnchors: number, rng: Rng) {
    super();
    this.conv = this.addModule('conv', new Conv2d(channels, channels, 3, rng, { padding: 1, bias: true }));
    this.clsLogits = this.addModule('cls_logits', new Conv2d(channels, numAnchors, 1, rng, { bias: true }));
    this.bboxPred = this.addModule('bbox_pred', new Conv2d(channels, numAnchors * 4, 1, rng, { bias: true }));
    for (const l of [this.conv, this.clsLogits, this.bboxPred]) normalFill(l, 0.01, rng);
  }

  forward(levels: tf.Tensor4D[]): RpnHeadOutput {
    const logits: tf.Tensor4D[] = [];
    const deltas: tf.Tensor4D[] = [];
    for (const x of levels) {
      const [l, d] = tf.tidy(() => {
        const t = tf.relu(this.conv.forward(x));
        return [this.clsLogits.forward(t), this.bboxPred.forward(t)];
      });
      logits.push(l);
      deltas.push(d);
    }
    return { logits, deltas };
  }
}

registerDetectionPart({
  kind: 'rpn_head',
  name: 'standard',
  description: '3x3 conv + ReLU, 1x1 objectness and box-delta convs (Detectron2 StandardRPNHead, torchvision RPNHead)',
  schema: z.object({}).strict(),
  create: (_o, { rng, channels, numAnchors }) => new RpnHead(channels, numAnchors, rng),
});
