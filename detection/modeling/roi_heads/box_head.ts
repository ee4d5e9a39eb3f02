import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';
import { Linear } from '../../../src/nn/linear';
import { c2XavierFill } from '../init';
import { registerDetectionPart, type BoxHeadPart } from '../registry';

/**
 * torchvision's TwoMLPHead / Detectron2's FastRCNNConvFCHead without convs: flatten the pooled
 * RoI features in torch's (C, H, W) order (so torchvision weights apply unchanged), then numFc x
 * (Linear + ReLU), named fc6, fc7, ... Init c2_xavier_fill (Detectron2).
 */
export class BoxHead extends Module implements BoxHeadPart {
  readonly fcs: Linear[] = [];

  constructor(readonly inChannels: number, readonly resolution: number, readonly fcDim: number, numFc: number, rng: Rng) {
    super();
    let dim = inChannels * resolution * resolution;
    for (let i = 0; i < numFc; i++) {
      const fc = this.addModule(`fc${6 + i}`, new Linear(dim, fcDim, rng));
      c2XavierFill(fc, rng);
      this.fcs.push(fc);
      dim = fcDim;
    }
  }

  get outDim(): number {
    return this.fcDim;
  }

  /** Pooled [R, r, r, C] -> [R, fcDim]. */
  forward(pooled: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const r = pooled.shape[0];
      let x = tf.reshape(tf.transpose(pooled, [0, 3, 1, 2]), [r, -1]) as tf.Tensor2D;
      for (const fc of this.fcs) x = tf.relu(fc.forward(x));
      return x;
    });
  }
}

registerDetectionPart({
  kind: 'box_head',
  name: 'fc',
  description: 'num_fc fully connected layers (fc6, fc7, ...) with ReLU on the flattened pooled RoI',
  schema: z.object({ num_fc: z.number().int().positive().default(2), fc_dim: z.number().int().positive().default(1024) }).strict(),
  create: (o, { rng, channels, resolution }) => new BoxHead(channels, resolution, o.fc_dim, o.num_fc, rng),
});
