import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../../../src/core/interfaces';
import { Module } from '../../../src/nn/module';
import type { MocoHead } from './head';
import { multiCropFeatures } from '../common/multicrop';

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
    return multiCropFeatures(this.backbone, viewsNHWC);
  }

  /** Head outputs (not normalised) of all views, view-major rows, [nViews * B, outDim]. */
  forward(viewsNHWC: tf.Tensor4D[]): tf.Tensor2D {
    return tf.tidy(() => this.head.forward(this.features(viewsNHWC)));
  }
}
