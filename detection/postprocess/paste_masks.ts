/**
 * Pasting M x M mask probabilities into a full image (Detectron2's paste_masks_in_image on CPU):
 * each image pixel centre is mapped into the box's M x M grid and sampled bilinearly with zero
 * padding (grid_sample, align_corners=False), then thresholded. As Detectron2 does on CPU, only
 * the box grown by one pixel (floor(x0) - 1 .. ceil(x1) + 1, clipped) is sampled; the rest is 0.
 */
import type { Rle } from '../coco/rle';

/**
 * Calls `visit(x, y, value)` for every pixel of the sampled region (the box grown by one pixel,
 * clipped to h x w) with the bilinear value of the row-major M x M `probs` at that pixel centre.
 */
export function samplePasted(
  probs: ArrayLike<number>,
  maskSize: number,
  box: ArrayLike<number>,
  h: number,
  w: number,
  visit: (x: number, y: number, v: number) => void,
): void {
  const M = maskSize;
  if (probs.length !== M * M) throw new RangeError(`pasteMask: ${probs.length} probabilities, expected ${M}x${M}`);
  const x0 = box[0], y0 = box[1], x1 = box[2], y1 = box[3];
  const xa = Math.max(Math.floor(x0) - 1, 0);
  const ya = Math.max(Math.floor(y0) - 1, 0);
  const xb = Math.min(Math.ceil(x1) + 1, w);
  const yb = Math.min(Math.ceil(y1) + 1, h);
  if (xb <= xa || yb <= ya) return;
  // grid_sample's input coordinate ((g + 1) * M - 1) / 2 of g = (c - x0) / (x1 - x0) * 2 - 1.
  const colIx = new Float64Array(xb - xa);
  for (let x = xa; x < xb; x++) colIx[x - xa] = (((x + 0.5 - x0) / (x1 - x0)) * 2 - 1 + 1) * M / 2 - 0.5;
  const get = (yy: number, xx: number) => (yy >= 0 && yy < M && xx >= 0 && xx < M ? probs[yy * M + xx] : 0);
  for (let y = ya; y < yb; y++) {
    const iy = (((y + 0.5 - y0) / (y1 - y0)) * 2 - 1 + 1) * M / 2 - 0.5;
    const yn = Math.floor(iy);
    const ty = iy - yn;
    for (let x = xa; x < xb; x++) {
      const ix = colIx[x - xa];
      const xn = Math.floor(ix);
      const tx = ix - xn;
      const v =
        get(yn, xn) * (1 - tx) * (1 - ty) + get(yn, xn + 1) * tx * (1 - ty) + get(yn + 1, xn) * (1 - tx) * ty + get(yn + 1, xn + 1) * tx * ty;
      visit(x, y, v);
    }
  }
}

/**
 * One mask: `probs` row-major M x M, `box` xyxy in the target image's pixels. Returns a
 * column-major h x w 0/1 mask (COCO's RLE layout), pixel = (sampled >= threshold).
 */
export function pasteMask(probs: ArrayLike<number>, maskSize: number, box: ArrayLike<number>, h: number, w: number, threshold = 0.5): Uint8Array {
  const out = new Uint8Array(h * w);
  samplePasted(probs, maskSize, box, h, w, (x, y, v) => {
    if (v >= threshold) out[x * h + y] = 1;
  });
  return out;
}

/**
 * pasteMask encoded as COCO RLE runs, built from the sampled region alone (the rest of the image
 * is one long zero run per column), so pasting 100 detections into a large image stays cheap.
 */
export function pasteMaskRle(probs: ArrayLike<number>, maskSize: number, box: ArrayLike<number>, h: number, w: number, threshold = 0.5): Rle {
  const xa = Math.max(Math.floor(box[0]) - 1, 0);
  const ya = Math.max(Math.floor(box[1]) - 1, 0);
  const rw = Math.max(Math.min(Math.ceil(box[2]) + 1, w) - xa, 0);
  const rh = Math.max(Math.min(Math.ceil(box[3]) + 1, h) - ya, 0);
  const region = new Uint8Array(rw * rh); // column-major over the region
  samplePasted(probs, maskSize, box, h, w, (x, y, v) => {
    if (v >= threshold) region[(x - xa) * rh + (y - ya)] = 1;
  });
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  const zeros = (n: number) => {
    if (n === 0) return;
    if (cur === 0) run += n;
    else {
      counts.push(run);
      cur = 0;
      run = n;
    }
  };
  for (let x = 0; x < w; x++) {
    if (x < xa || x >= xa + rw) {
      zeros(h);
      continue;
    }
    zeros(ya);
    const col = (x - xa) * rh;
    for (let y = 0; y < rh; y++) {
      const v = region[col + y];
      if (v === cur) run++;
      else {
        counts.push(run);
        cur = v;
        run = 1;
      }
    }
    zeros(h - ya - rh);
  }
  counts.push(run);
  return { h, w, counts: Uint32Array.from(counts) };
}
