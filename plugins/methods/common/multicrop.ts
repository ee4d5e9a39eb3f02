import * as tf from '@tensorflow/tfjs-core';
import type { Backbone, BackboneFactory } from '../../../src/core/interfaces';
import type { Rng } from '../../../src/core/rng';
import { Module } from '../../../src/nn/module';

/**
 * A maker of fresh backbone + head networks (a student, then its EMA copy): each call builds the
 * backbone on the next fork of `deps.rng`, then the head, on the backbone's feature width, on the
 * fork after it.
 */
export function networkMaker<H, N>(
  deps: { buildBackbone: BackboneFactory; rng: Rng },
  makeHead: (inDim: number, rng: Rng) => H,
  make: (backbone: Backbone, head: H) => N,
): () => N {
  return () => {
    const backbone = deps.buildBackbone(deps.rng.fork());
    return make(backbone, makeHead(backbone.featureDim, deps.rng.fork()));
  };
}

/**
 * DINO's MultiCropWrapper, backbone half: consecutive views of one resolution go through the
 * backbone as one batch (so BN statistics are per resolution group, as in DINO/SSLight), and the
 * features come back view-major, [nViews * B, featureDim], ready for one head pass over all views.
 */
export function multiCropFeatures(backbone: Backbone, viewsNHWC: tf.Tensor4D[]): tf.Tensor2D {
  if (viewsNHWC.length === 0) throw new Error('multi-crop forward: no views');
  return tf.tidy(() => {
    const feats = resolutionGroups(viewsNHWC).map(([start, end]) =>
      backbone.forward(end - start === 1 ? viewsNHWC[start] : tf.concat(viewsNHWC.slice(start, end), 0)),
    );
    return feats.length === 1 ? feats[0] : tf.concat(feats, 0);
  });
}

/** [start, end) view index ranges of consecutive views of one size (height x width), in order. */
function resolutionGroups(viewsNHWC: tf.Tensor4D[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < viewsNHWC.length; i++) {
    const [, h, w] = viewsNHWC[i].shape;
    const last = ranges[ranges.length - 1];
    if (last && viewsNHWC[last[0]].shape[1] === h && viewsNHWC[last[0]].shape[2] === w) last[1] = i + 1;
    else ranges.push([i, i + 1]);
  }
  return ranges;
}

/**
 * Row counts of the resolution groups of `views` (consecutive views of one size), in order: the
 * groups multiCropFeatures sends through the backbone together.
 */
export function resolutionRowGroups(viewsNHWC: tf.Tensor4D[]): number[] {
  return resolutionGroups(viewsNHWC).map(([start, end]) => viewsNHWC.slice(start, end).reduce((n, v) => n + v.shape[0], 0));
}

/** A projection head: pooled features in, whatever the method's loss needs out. */
export interface MultiCropHead<O extends tf.TensorContainer> extends Module {
  forward(features: tf.Tensor2D): O;
}

/**
 * DINO's MultiCropWrapper: backbone over resolution groups, then one head pass over every view's
 * features (so BN in the head sees all views together, as in DINO/SSLight). Torch names
 * `backbone.*`, `head.*`. DINO's student and teacher, SwAV's network and MoCo's encoders are this.
 */
export class MultiCropNetwork<O extends tf.TensorContainer, H extends MultiCropHead<O> = MultiCropHead<O>> extends Module {
  constructor(
    readonly backbone: Backbone,
    readonly head: H,
  ) {
    super();
    this.addModule('backbone', backbone);
    this.addModule('head', head);
  }

  /** Backbone features of all views, view-major rows, [nViews * B, featureDim]. */
  features(viewsNHWC: tf.Tensor4D[]): tf.Tensor2D {
    return multiCropFeatures(this.backbone, viewsNHWC);
  }

  /** Head outputs of all views, view-major rows. */
  forward(viewsNHWC: tf.Tensor4D[]): O {
    return tf.tidy(() => this.head.forward(this.features(viewsNHWC)));
  }
}
