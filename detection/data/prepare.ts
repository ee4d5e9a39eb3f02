/**
 * One image through the detection transforms: shortest-edge resize (with a max size), optional
 * horizontal flip, ImageNet normalisation; its instances follow the same geometry.
 */
import type { RawImage } from '../../src/core/interfaces';
import { normalize, IMAGENET_MEAN, IMAGENET_STD } from '../../data/transforms/normalize';
import type { DetectionRecord } from './coco_dataset';
import type { DetectionTarget } from './types';
import { clipAndFilter, transformTarget } from './transforms/geometry';
import { resizeRgb, shortestEdgeSize } from './transforms/resize';

export interface PreparedImage {
  /** HWC float, normalised, h x w x 3 (not padded). */
  data: Float32Array;
  h: number;
  w: number;
  target: DetectionTarget;
  /** resized / original. */
  scale: number;
  flipped: boolean;
}

export interface PrepareOptions {
  shortEdge: number;
  maxSize: number;
  flip: boolean;
  mean?: readonly number[];
  std?: readonly number[];
}

export function prepareImage(image: RawImage, record: DetectionRecord, o: PrepareOptions): PreparedImage {
  const { height: h0, width: w0 } = image;
  const { h, w, scale } = shortestEdgeSize(h0, w0, o.shortEdge, o.maxSize);
  const data = resizeRgb(image.data, h0, w0, h, w, o.flip);
  normalize(data, o.mean ?? IMAGENET_MEAN, o.std ?? IMAGENET_STD);
  const moved = transformTarget(record.target, { h: h0, w: w0, newH: h, newW: w, flip: o.flip });
  return { data, h, w, target: clipAndFilter(moved, h, w), scale, flipped: o.flip };
}
