/**
 * Greedy non-maximum suppression on the host, torchvision's rules: boxes visited by decreasing
 * score (equal scores: lower index first), box j is suppressed when IoU(kept i, j) > threshold
 * (strict), IoU = inter / (area_i + area_j - inter) without +1, and a pair with no intersection
 * (also two empty boxes, 0/0 in torchvision) never suppresses.
 */

/** Indices sorted by decreasing score, ties by increasing index. */
export function sortByScore(scores: Float32Array, indices?: Int32Array): Int32Array {
  const order = indices ? Int32Array.from(indices) : Int32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

function checkInputs(boxes: Float32Array, scores: Float32Array, what: string): void {
  if (boxes.length !== 4 * scores.length) {
    throw new Error(`${what}: boxes (${boxes.length} values) must be 4 x scores (${scores.length})`);
  }
}

/** Greedy NMS over the boxes listed in `order` (already sorted); marks survivors in `kept`. */
function suppress(boxes: Float32Array, order: Int32Array, iouThreshold: number, kept: Uint8Array): void {
  const n = order.length;
  // The boxes in visiting order, one contiguous array per coordinate: the inner loop streams them.
  const x1 = new Float64Array(n);
  const y1 = new Float64Array(n);
  const x2 = new Float64Array(n);
  const y2 = new Float64Array(n);
  const area = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const o = 4 * order[p];
    x1[p] = boxes[o];
    y1[p] = boxes[o + 1];
    x2[p] = boxes[o + 2];
    y2[p] = boxes[o + 3];
    area[p] = (x2[p] - x1[p]) * (y2[p] - y1[p]);
  }
  const dead = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    if (dead[p]) continue;
    kept[order[p]] = 1;
    const ax1 = x1[p];
    const ay1 = y1[p];
    const ax2 = x2[p];
    const ay2 = y2[p];
    const aa = area[p];
    for (let q = p + 1; q < n; q++) {
      if (dead[q]) continue;
      const w = Math.min(ax2, x2[q]) - Math.max(ax1, x1[q]);
      if (w <= 0) continue;
      const h = Math.min(ay2, y2[q]) - Math.max(ay1, y1[q]);
      if (h <= 0) continue;
      const inter = w * h;
      if (inter / (aa + area[q] - inter) > iouThreshold) dead[q] = 1;
    }
  }
}

/** Kept indices into `boxes` [N*4] / `scores` [N], by decreasing score. */
export function nms(boxes: Float32Array, scores: Float32Array, iouThreshold: number): Int32Array {
  checkInputs(boxes, scores, 'nms');
  const order = sortByScore(scores);
  const kept = new Uint8Array(scores.length);
  suppress(boxes, order, iouThreshold, kept);
  return order.filter((i) => kept[i] === 1);
}

/**
 * NMS within each group (class id): boxes of different groups never suppress each other. Kept
 * indices by decreasing score over all groups, as torchvision's batched_nms.
 */
export function batchedNms(boxes: Float32Array, scores: Float32Array, groups: Int32Array, iouThreshold: number): Int32Array {
  checkInputs(boxes, scores, 'batchedNms');
  if (groups.length !== scores.length) {
    throw new Error(`batchedNms: groups (${groups.length}) must have one id per score (${scores.length})`);
  }
  const order = sortByScore(scores);
  // Split the global order into per-group orders (each stays sorted).
  const byGroup = new Map<number, number[]>();
  for (const i of order) {
    const g = groups[i];
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(i);
  }
  const kept = new Uint8Array(scores.length);
  for (const list of byGroup.values()) suppress(boxes, Int32Array.from(list), iouThreshold, kept);
  return order.filter((i) => kept[i] === 1);
}
