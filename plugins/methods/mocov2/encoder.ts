import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../../src/core/interfaces';
import { Module } from '../../../src/nn/module';
import type { MocoHead } from './head';

/**
 * A MoCo encoder as SSLight's MultiCropWrapper around backbone + MOCOHead: consecutive views of
 * the same resolution go through the backbone as one batch (BN statistics per resolution group,
 * as in SSLight), then the head sees all rows at once. Torch names `backbone.*`, `head.*`.
 */
export class MocoEncoder extends Module {
  constructor(
    readonly backbone: Backbone,
    readonly head: MocoHead,
  ) {
    super();
    this.addModule('backbone', backbone);
    this.addModule('head', head);
  }

  /** Backbone features of all views, view-major rows, [nViews * B, featureDim]. */
  features(viewsNHWC: tf.Tensor4D[]): tf.Tensor2D {
    if (viewsNHWC.length === 0) throw new Error('MocoEncoder: no views');
    return tf.tidy(() => {
      const feats: tf.Tensor2D[] = [];
      let start = 0;
      while (start < viewsNHWC.length) {
        const [, h, w] = viewsNHWC[start].shape;
        let end = start + 1;
        while (end < viewsNHWC.length && viewsNHWC[end].shape[1] === h && viewsNHWC[end].shape[2] === w) end++;
        const group = end - start === 1 ? viewsNHWC[start] : tf.concat(viewsNHWC.slice(start, end), 0);
        feats.push(this.backbone.forward(group));
        start = end;
      }
      return feats.length === 1 ? feats[0] : tf.concat(feats, 0);
    });
  }

  /** Head outputs (not normalised) of all views, view-major rows, [nViews * B, outDim]. */
  forward(viewsNHWC: tf.Tensor4D[]): tf.Tensor2D {
    return tf.tidy(() => this.head.forward(this.features(viewsNHWC)));
  }
}
