/**
 * The resize + horizontal flip applied to an image's instances, so boxes, polygons and RLE masks
 * stay on the pixels they annotate. Coordinates are continuous pixel coordinates (the image spans
 * [0, w] x [0, h]): a resize multiplies x by newW / w and y by newH / h, a flip maps x to w - x
 * (Detectron2's ResizeTransform and HFlipTransform on coordinates). RLE masks are resized with
 * nearest neighbour and mirrored by pixel column.
 */
import { decode as rleDecodeObj, toCompressed } from '../../coco/mask';
import { rleEncode } from '../../coco/rle';
import type { DetectionTarget, InstanceMask } from '../types';
import { resizeMaskColMajor } from './resize';

export interface Geometry {
  /** Source size. */
  h: number;
  w: number;
  /** Output size. */
  newH: number;
  newW: number;
  /** Mirror left-right after resizing. */
  flip: boolean;
}

/** xyxy boxes resized and flipped (a new array). */
export function transformBoxes(boxes: Float32Array, g: Geometry): Float32Array {
  const sx = g.newW / g.w;
  const sy = g.newH / g.h;
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    let x1 = boxes[i] * sx;
    let x2 = boxes[i + 2] * sx;
    if (g.flip) {
      const t = g.newW - x2;
      x2 = g.newW - x1;
      x1 = t;
    }
    out[i] = x1;
    out[i + 1] = boxes[i + 1] * sy;
    out[i + 2] = x2;
    out[i + 3] = boxes[i + 3] * sy;
  }
  return out;
}

/** Flat [x0, y0, x1, y1, ...] polygons resized and flipped (new arrays). */
export function transformPolygons(polygons: number[][], g: Geometry): number[][] {
  const sx = g.newW / g.w;
  const sy = g.newH / g.h;
  return polygons.map((p) => {
    const q = new Array<number>(p.length);
    for (let j = 0; j + 1 < p.length; j += 2) {
      const x = p[j] * sx;
      q[j] = g.flip ? g.newW - x : x;
      q[j + 1] = p[j + 1] * sy;
    }
    return q;
  });
}

export function transformMask(m: InstanceMask, g: Geometry): InstanceMask {
  if ('polygons' in m) return { polygons: transformPolygons(m.polygons, g) };
  const [h, w] = m.rle.size;
  if (h !== g.h || w !== g.w) throw new RangeError(`RLE mask of size ${h}x${w} on an image of ${g.h}x${g.w}`);
  if (g.newH === h && g.newW === w && !g.flip) return m;
  const bits = resizeMaskColMajor(rleDecodeObj(m.rle), h, w, g.newH, g.newW, g.flip);
  return { rle: toCompressed(rleEncode(bits, g.newH, g.newW)) };
}

/** The whole target resized and flipped (classes shared, everything else new). */
export function transformTarget(t: DetectionTarget, g: Geometry): DetectionTarget {
  return { boxes: transformBoxes(t.boxes, g), classes: t.classes, masks: t.masks.map((m) => transformMask(m, g)) };
}

/**
 * Boxes clipped to [0, w] x [0, h], then instances whose box is thinner than `minSize` on either
 * side dropped (Detectron2's filter_empty_instances, threshold 1e-5). Returns a new target.
 */
export function clipAndFilter(t: DetectionTarget, h: number, w: number, minSize = 1e-5): DetectionTarget {
  const keep: number[] = [];
  const b = t.boxes;
  const clipped = new Float32Array(b.length);
  for (let i = 0; i < t.classes.length; i++) {
    const x1 = Math.min(Math.max(b[4 * i], 0), w);
    const y1 = Math.min(Math.max(b[4 * i + 1], 0), h);
    const x2 = Math.min(Math.max(b[4 * i + 2], 0), w);
    const y2 = Math.min(Math.max(b[4 * i + 3], 0), h);
    clipped.set([x1, y1, x2, y2], 4 * i);
    if (x2 - x1 > minSize && y2 - y1 > minSize) keep.push(i);
  }
  const boxes = new Float32Array(keep.length * 4);
  keep.forEach((i, j) => boxes.set(clipped.subarray(4 * i, 4 * i + 4), 4 * j));
  return { boxes, classes: Int32Array.from(keep, (i) => t.classes[i]), masks: keep.map((i) => t.masks[i]) };
}
