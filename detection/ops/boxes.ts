/**
 * Host-side box helpers over flat `Float32Array`s of `x1,y1,x2,y2` rows (length 4N), in pixels.
 * Widths and heights are `x2 - x1` and `y2 - y1` (no +1), as in torchvision and detectron2.
 */

function checkBoxes(b: Float32Array, what: string): number {
  if (b.length % 4 !== 0) throw new Error(`${what}: expected 4N values (x1,y1,x2,y2 rows), got ${b.length}`);
  return b.length / 4;
}

/** Area of every box, `(x2 - x1) * (y2 - y1)`; degenerate boxes give 0 or negative values as they are. */
export function boxArea(b: Float32Array): Float32Array {
  const n = checkBoxes(b, 'boxArea');
  const out = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += 4) out[i] = (b[o + 2] - b[o]) * (b[o + 3] - b[o + 1]);
  return out;
}

/**
 * IoU of every box of `a` (N) with every box of `b` (M), row-major [N, M]. A pair that does not
 * intersect gets 0 (also when both boxes are empty, where torchvision's box_iou gives 0/0 = NaN;
 * detectron2's pairwise_iou gives 0 too). One flat pass per row: ~100k anchors x 20 boxes is
 * 2M pairs, a few milliseconds.
 */
export function pairwiseIou(a: Float32Array, b: Float32Array): Float32Array {
  const n = checkBoxes(a, 'pairwiseIou a');
  const m = checkBoxes(b, 'pairwiseIou b');
  const out = new Float32Array(n * m);
  const areaB = boxArea(b);
  for (let i = 0; i < n; i++) {
    const ax1 = a[4 * i];
    const ay1 = a[4 * i + 1];
    const ax2 = a[4 * i + 2];
    const ay2 = a[4 * i + 3];
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    const row = i * m;
    for (let j = 0, o = 0; j < m; j++, o += 4) {
      const w = Math.min(ax2, b[o + 2]) - Math.max(ax1, b[o]);
      if (w <= 0) continue;
      const h = Math.min(ay2, b[o + 3]) - Math.max(ay1, b[o + 1]);
      if (h <= 0) continue;
      const inter = w * h;
      out[row + j] = inter / (areaA + areaB[j] - inter);
    }
  }
  return out;
}

/**
 * Clamps x to [0, w] and y to [0, h] IN PLACE (as torchvision's clip_boxes_to_image and
 * detectron2's Boxes.clip) and returns the same array.
 */
export function clipBoxes(b: Float32Array, h: number, w: number): Float32Array {
  checkBoxes(b, 'clipBoxes');
  for (let o = 0; o < b.length; o += 4) {
    b[o] = Math.min(Math.max(b[o], 0), w);
    b[o + 1] = Math.min(Math.max(b[o + 1], 0), h);
    b[o + 2] = Math.min(Math.max(b[o + 2], 0), w);
    b[o + 3] = Math.min(Math.max(b[o + 3], 0), h);
  }
  return b;
}

/**
 * Indices (ascending) of the boxes whose width AND height are strictly greater than `minSize`
 * (detectron2's Boxes.nonempty(threshold); torchvision's remove_small_boxes keeps `>=`).
 */
export function nonEmpty(b: Float32Array, minSize = 0): Int32Array {
  const n = checkBoxes(b, 'nonEmpty');
  const keep = new Int32Array(n);
  let k = 0;
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    if (b[o + 2] - b[o] > minSize && b[o + 3] - b[o + 1] > minSize) keep[k++] = i;
  }
  return keep.slice(0, k);
}
