import * as tf from '@tensorflow/tfjs-core';
import { runRoiAlign } from './roi_align_kernels';

export interface RoiAlignOptions {
  /** (height, width) of each pooled output. */
  outputSize: [number, number];
  /** Feature-map pixels per input-image pixel (1 / stride). */
  spatialScale: number;
  /** Sample points per bin along each axis; <= 0: adaptive, ceil(roi size / output size). */
  samplingRatio: number;
  /** true: detectron2's ROIAlignV2 (half-pixel shift); false: torchvision's default (legacy). */
  aligned: boolean;
}

/**
 * RoIAlign on NHWC features: features [N, H, W, C] float32, rois [K, 5] rows (batchIndex, x1, y1,
 * x2, y2) in input-image pixels -> [K, oh, ow, C]. torchvision.ops.roi_align semantics (see
 * roi_align_compute.ts). Differentiable w.r.t. `features` (no gradient flows to `rois`); a
 * registered kernel pair on the cpu and wasm backends (roi_align_kernels.ts).
 */
export function roiAlign(features: tf.Tensor4D, rois: tf.Tensor2D, o: RoiAlignOptions): tf.Tensor4D {
  return tf.tidy(() => {
    const levels = tf.zeros([rois.shape[0]], 'int32') as tf.Tensor1D;
    return runRoiAlign([features], rois, levels, { ...o, spatialScales: [o.spatialScale] });
  });
}
