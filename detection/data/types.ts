/** What the detection data path hands to the detector (the contract between data, modeling, ops). */
import type * as tf from '@tensorflow/tfjs-core';
import type { RleObject } from '../coco/mask';

/**
 * One instance's mask: polygons (flat [x0, y0, x1, y1, ...] lists, several parts allowed) or a
 * COCO RLE object ({size: [h, w], counts: compressed string or raw run list}) over the whole image.
 */
export type InstanceMask = { polygons: number[][] } | { rle: RleObject };

export interface DetectionTarget {
  /** [n*4] xyxy in resized-image pixels. */
  boxes: Float32Array;
  /** [n] contiguous 1..K (0 is background). */
  classes: Int32Array;
  /** [n], in resized-image pixels. */
  masks: InstanceMask[];
}

export interface DetectionBatch {
  /** [B, Hpad, Wpad, 3] normalised, padded (zeros) to a multiple of the size divisibility (32). */
  images: tf.Tensor4D;
  /** (h, w) after resize, before padding. */
  imageSizes: Array<[number, number]>;
  targets: DetectionTarget[];
  /** COCO image ids. */
  imageIds: number[];
  /** resized / original, to map predictions back. */
  scales: number[];
  batchSize: number;
  stats: Record<string, number>;
  dispose(): void;
}
