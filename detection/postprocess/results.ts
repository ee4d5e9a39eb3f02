/**
 * From a detector's per-image output (boxes in resized-image pixels, M x M mask probabilities) to
 * detections in the original image (Detectron2's detector_postprocess) and on to COCO result
 * records (instances_to_coco_json: xywh boxes, compressed-RLE masks, dataset category ids).
 */
import { toCompressed } from '../coco/mask';
import type { Rle } from '../coco/rle';
import type { CocoResult } from '../coco/types';
import { pasteMaskRle } from './paste_masks';

/** One image's raw detections as the detector returns them. */
export interface Detections {
  /** [n*4] xyxy in resized-image pixels. */
  boxes: Float32Array;
  /** [n] */
  scores: Float32Array;
  /** [n] contiguous 1..K. */
  classes: Int32Array;
  /** [n*M*M] row-major mask probabilities (absent for a box-only detector). */
  maskProbs?: Float32Array;
  /** M (else inferred from maskProbs' length). */
  maskSize?: number;
}

/** Detections in original-image pixels, masks pasted and RLE-encoded. */
export interface ImageResults {
  /** [n*4] xyxy in original-image pixels. */
  boxes: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  /** [n] masks over the original image (when the detector gave mask probabilities). */
  masks?: Rle[];
}

/**
 * Scales boxes from the resized (h, w) to the original (h, w) per axis, clips them to the
 * original image, drops empty ones and pastes the masks at `maskThreshold` (0.5).
 */
export function toOriginalImage(
  d: Detections,
  resizedSize: readonly [number, number],
  originalSize: readonly [number, number],
  maskThreshold = 0.5,
): ImageResults {
  const n = d.scores.length;
  if (d.boxes.length !== 4 * n || d.classes.length !== n) {
    throw new RangeError(`detections: ${n} scores but ${d.boxes.length / 4} boxes and ${d.classes.length} classes`);
  }
  const [oh, ow] = originalSize;
  const sx = ow / resizedSize[1];
  const sy = oh / resizedSize[0];
  const M = d.maskSize ?? (n > 0 && d.maskProbs ? Math.round(Math.sqrt(d.maskProbs.length / n)) : 0);
  if (d.maskProbs && n > 0 && M * M * n !== d.maskProbs.length) throw new RangeError(`maskProbs has ${d.maskProbs.length} values, not ${n} square masks`);
  const keep: number[] = [];
  const boxes: number[] = [];
  for (let i = 0; i < n; i++) {
    const x1 = clamp(d.boxes[4 * i] * sx, ow);
    const y1 = clamp(d.boxes[4 * i + 1] * sy, oh);
    const x2 = clamp(d.boxes[4 * i + 2] * sx, ow);
    const y2 = clamp(d.boxes[4 * i + 3] * sy, oh);
    if (!(x2 > x1 && y2 > y1)) continue;
    keep.push(i);
    boxes.push(x1, y1, x2, y2);
  }
  const res: ImageResults = {
    boxes: Float32Array.from(boxes),
    scores: Float32Array.from(keep, (i) => d.scores[i]),
    classes: Int32Array.from(keep, (i) => d.classes[i]),
  };
  if (d.maskProbs) {
    const probs = d.maskProbs;
    res.masks = keep.map((i, j) => pasteMaskRle(probs.subarray(i * M * M, (i + 1) * M * M), M, res.boxes.subarray(4 * j, 4 * j + 4), oh, ow, maskThreshold));
  }
  return res;
}

/** COCO result records of one image; `catIdOf(k)` maps class k to the dataset's category id. */
export function toCocoResults(imageId: number, r: ImageResults, catIdOf: (k: number) => number): CocoResult[] {
  const out: CocoResult[] = [];
  for (let i = 0; i < r.scores.length; i++) {
    const [x1, y1, x2, y2] = r.boxes.subarray(4 * i, 4 * i + 4);
    const rec: CocoResult = { image_id: imageId, category_id: catIdOf(r.classes[i]), bbox: [x1, y1, x2 - x1, y2 - y1], score: r.scores[i] };
    if (r.masks) rec.segmentation = toCompressed(r.masks[i]);
    out.push(rec);
  }
  return out;
}

function clamp(v: number, hi: number): number {
  return v < 0 ? 0 : v > hi ? hi : v;
}
