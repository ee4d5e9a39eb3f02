import * as tf from '@tensorflow/tfjs-core';
import { runRoiAlign } from './roi_align_kernels';

export interface MultiScaleRoIAlignOptions {
  outputSize: [number, number];
  /** Sample points per bin and axis; <= 0: adaptive (detectron2's default 0). */
  samplingRatio: number;
  /** true: ROIAlignV2 (detectron2); false: torchvision's MultiScaleRoIAlign. */
  aligned: boolean;
  /** 1 / stride of each feature level, finest first, consecutive powers of two (1/4, 1/8, ...). */
  scales: number[];
  /** Level a box of `canonicalScale` pixels (sqrt of area) goes to (4 for ImageNet-sized boxes). */
  canonicalLevel?: number;
  canonicalScale?: number;
}

/**
 * RoIAlign over an FPN: each RoI is pooled from the level that suits its size,
 * floor(canonicalLevel + log2(sqrt(area) / canonicalScale + 1e-8)) clamped to the given levels
 * (detectron2's assign_boxes_to_levels). One kernel call for all levels; outputs in the order
 * of the RoIs.
 */
export class MultiScaleRoIAlign {
  readonly outputSize: [number, number];
  readonly samplingRatio: number;
  readonly aligned: boolean;
  readonly scales: number[];
  readonly canonicalLevel: number;
  readonly canonicalScale: number;
  /** FPN level (log2 stride) of scales[0] and of the last scale. */
  readonly minLevel: number;
  readonly maxLevel: number;

  constructor(o: MultiScaleRoIAlignOptions) {
    if (o.scales.length === 0) throw new Error('MultiScaleRoIAlign: scales must name at least one level');
    const levels = o.scales.map((s) => -Math.log2(s));
    levels.forEach((lv, i) => {
      if (!(Math.abs(lv - Math.round(lv)) < 1e-6) || Math.round(lv) !== Math.round(levels[0]) + i) {
        throw new Error(`MultiScaleRoIAlign: scales must be 1/2^k for consecutive k, finest first; got [${o.scales}]`);
      }
    });
    this.outputSize = [o.outputSize[0], o.outputSize[1]];
    this.samplingRatio = o.samplingRatio;
    this.aligned = o.aligned;
    this.scales = o.scales.slice();
    this.canonicalLevel = o.canonicalLevel ?? 4;
    this.canonicalScale = o.canonicalScale ?? 224;
    this.minLevel = Math.round(levels[0]);
    this.maxLevel = Math.round(levels[levels.length - 1]);
  }

  /**
   * Index into `scales` of the level each RoI is pooled from. `rois` holds rows of `rowLength`
   * values: 5 = (batchIndex, x1, y1, x2, y2) as `apply` takes them, 4 = plain boxes.
   */
  levelOf(rois: Float32Array, rowLength: 4 | 5 = 5): Int32Array {
    if (rois.length % rowLength !== 0) {
      throw new Error(`MultiScaleRoIAlign.levelOf: ${rois.length} values are not rows of ${rowLength}`);
    }
    const n = rois.length / rowLength;
    const o = rowLength - 4;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = i * rowLength + o;
      const size = Math.sqrt((rois[r + 2] - rois[r]) * (rois[r + 3] - rois[r + 1]));
      const lv = Math.floor(this.canonicalLevel + Math.log2(size / this.canonicalScale + 1e-8));
      // Empty or inverted boxes (NaN size) go to the finest level.
      out[i] = Number.isFinite(lv) ? Math.min(Math.max(lv, this.minLevel), this.maxLevel) - this.minLevel : 0;
    }
    return out;
  }

  /**
   * features[l]: [N, H_l, W_l, C] at scales[l]; rois [K, 5] (batchIndex, x1, y1, x2, y2) in image
   * pixels -> [K, oh, ow, C], differentiable w.r.t. every level. Reads `rois` to the host.
   */
  apply(features: tf.Tensor4D[], rois: tf.Tensor2D): tf.Tensor4D {
    if (features.length !== this.scales.length) {
      throw new Error(`MultiScaleRoIAlign.apply: ${features.length} feature maps for ${this.scales.length} scales`);
    }
    if (rois.rank !== 2 || rois.shape[1] !== 5) {
      throw new Error(`MultiScaleRoIAlign.apply: rois must be [K, 5] (batchIndex, x1, y1, x2, y2), got [${rois.shape}]`);
    }
    const levels = this.levelOf(Float32Array.from(rois.dataSync()));
    return tf.tidy(() =>
      runRoiAlign(features, rois, tf.tensor1d(levels, 'int32'), {
        outputSize: this.outputSize,
        spatialScales: this.scales,
        samplingRatio: this.samplingRatio,
        aligned: this.aligned,
      }),
    );
  }
}
