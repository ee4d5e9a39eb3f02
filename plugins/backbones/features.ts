import type * as tf from '@tensorflow/tfjs-core';

/** One intermediate output of a backbone, for FPN-style consumers (detection). */
export interface FeatureMap {
  /** 'c2'..'c5': the stage whose output stride is 2^n at the standard (non small-input) stem. */
  name: string;
  /** Output stride relative to the input image. */
  stride: number;
  channels: number;
  /** NHWC [B, H / stride, W / stride, channels]. */
  tensor: tf.Tensor4D;
}

export type FeatureInfo = Omit<FeatureMap, 'tensor'>;

/** A backbone that can also hand out its stage outputs. */
export interface MultiScaleBackbone {
  /** Names, strides and channels of what featureMaps returns, without running it. */
  featureInfo(): FeatureInfo[];
  /** Stage outputs ordered by stride; the caller owns (disposes) the tensors. */
  featureMaps(imagesNHWC: tf.Tensor4D): FeatureMap[];
}
