/**
 * One image outside any dataset as a DetectionBatch of 1 (test-time resize, no flip, padded), for
 * running a detector on a single file (`sslight detect show`).
 */
import type { RawImage } from '../../src/core/interfaces';
import { toDetectionBatch } from './loader';
import { prepareImage } from './prepare';
import { padTo } from './transforms/pad';
import type { DetectionBatch } from './types';

export interface SingleImageOptions {
  shortEdge: number;
  maxSize: number;
  sizeDivisibility?: number;
  mean?: readonly number[];
  std?: readonly number[];
  /** Reported as the batch's image id (default 0). */
  imageId?: number;
}

export function singleImageBatch(image: RawImage, o: SingleImageOptions): DetectionBatch {
  const record = {
    imageId: o.imageId ?? 0,
    file: '',
    height: image.height,
    width: image.width,
    target: { boxes: new Float32Array(0), classes: new Int32Array(0), masks: [] },
  };
  const p = prepareImage(image, record, { shortEdge: o.shortEdge, maxSize: o.maxSize, flip: false, mean: o.mean, std: o.std });
  const div = o.sizeDivisibility ?? 32;
  return toDetectionBatch({
    epoch: 0,
    index: 0,
    indices: Int32Array.from([0]),
    prepared: [p],
    imageIds: [record.imageId],
    paddedH: padTo(p.h, div),
    paddedW: padTo(p.w, div),
    stats: {},
  });
}
